"""Results print a short summary and plot themselves (issue 9 §6)."""

import importlib
import subprocess
import sys

import matplotlib
import numpy as np
import pytest

from rnndyn.models import make_rnn
from rnndyn.results import PLOTS, _import_result_modules, _REGISTRY

matplotlib.use("Agg")


def test_repr_is_short_for_a_large_result():
    from rnndyn.spectra import spectrum
    res = spectrum(make_rnn(300, seed=0), max_power=50)
    text = repr(res)
    assert text.startswith("SpectrumResult(") and "<array (300,) float64>" in text
    assert len(text) < 1500 and "\n" not in text


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_every_plot_target_exists(name):
    _import_result_modules()
    assert name in _REGISTRY
    module, func = PLOTS[name].split(":")
    assert callable(getattr(importlib.import_module(f"rnndyn.figures.{module}"), func))


def test_plot_returns_a_figure():
    from matplotlib.figure import Figure
    from rnndyn.lyapunov import lyapunov_spectrum
    from rnndyn.spectra import spectrum
    rnn = make_rnn(4, seed=1)
    for res in (spectrum(rnn), lyapunov_spectrum(rnn, np.ones(4), 50, transient=5)):
        assert isinstance(res.plot(), Figure)


def test_no_plot_is_a_clear_error():
    from rnndyn.lyapunov import largest_lyapunov
    res = largest_lyapunov(make_rnn(3, seed=0), np.ones(3), 20)
    with pytest.raises(TypeError, match="has no plot"):
        res.plot()


def test_the_library_does_not_import_matplotlib_until_plot():
    code = ("import sys, numpy as np; from rnndyn.spectra import spectrum; "
            "from rnndyn import make_rnn; r = spectrum(make_rnn(5)); repr(r); "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.strip() == "False"
