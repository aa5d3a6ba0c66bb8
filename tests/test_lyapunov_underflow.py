"""Regression: strongly contracting maps must not underflow to a fake -inf."""

import matplotlib
import numpy as np
import pytest

from rnndyn.lyapunov import finite_time_exponents, largest_lyapunov, lyapunov_spectrum
from rnndyn.models import RNN, make_rnn

matplotlib.use("Agg")


def test_one_neuron_strong_contraction():
    rnn = RNN([[5.0]], None, [-2.5], "tanh")
    lam = lyapunov_spectrum(rnn, [0.5], 5000).exponents
    assert np.all(np.isfinite(lam)) and abs(lam[0] - (-12.004262)) < 1e-5
    ref = largest_lyapunov(rnn, [0.5], 5000).exponent
    assert abs(lam[0] - ref) < 1e-6


@pytest.mark.parametrize("N", [1, 2, 3, 4, 5])
def test_strongly_contracting_matches_qr_every_step(N):
    rng = np.random.default_rng(N)
    W = 5.0 * np.eye(N) + 0.3 * rng.standard_normal((N, N))
    rnn = RNN(W, None, -2.5 * np.ones(N), "tanh")
    x0 = 0.5 * np.ones(N)
    auto = lyapunov_spectrum(rnn, x0, 2000, transient=50).exponents
    ref = lyapunov_spectrum(rnn, x0, 2000, transient=50, reortho=1).exponents
    assert np.all(np.isfinite(ref)) and np.all(np.isfinite(auto))
    assert np.max(np.abs(auto - ref)) < 1e-6
    top = lyapunov_spectrum(rnn, x0, 2000, k=1, transient=50).exponents
    assert abs(top[0] - ref[0]) < 1e-6


def test_finite_time_strong_contraction():
    rnn = RNN([[5.0]], None, [-2.5], "tanh")
    ft = finite_time_exponents(rnn, [0.5], 500, 100)
    ref = finite_time_exponents(rnn, [0.5], 500, 100, reortho=1)
    assert np.all(np.isfinite(ft.exponents))
    assert np.max(np.abs(ft.exponents - ref.exponents)) < 1e-6


def test_fixed_long_interval_matches_qr_every_step():
    rnn = make_rnn(10, seed=0)
    x0 = np.random.default_rng(1).standard_normal(10)
    ref = lyapunov_spectrum(rnn, x0, 200, transient=20, reortho=1).exponents
    for K in (30, 64):
        lam = lyapunov_spectrum(rnn, x0, 200, transient=20, reortho=K).exponents
        assert np.all(np.isfinite(lam))
        assert np.max(np.abs(lam - ref)) < 1e-6


def test_dead_relu_still_minus_inf():
    rnn = RNN(-np.eye(3), None, -np.ones(3), "relu")
    for reortho in ("auto", 1, 30):
        lam = lyapunov_spectrum(rnn, np.ones(3), 200, transient=5, reortho=reortho).exponents
        assert np.all(lam == -np.inf)


def test_plot_all_minus_inf_does_not_raise(tmp_path):
    from rnndyn.figures import lyap_convergence
    rnn = RNN(-np.eye(3), None, -np.ones(3), "relu")
    res = lyapunov_spectrum(rnn, np.ones(3), 200, transient=5)
    ft = finite_time_exponents(rnn, np.ones(3), 200, 50, transient=5)
    fig = lyap_convergence.plot(res, finite_time=ft)
    fig.savefig(tmp_path / "f.png")


def test_cli_all_minus_inf_prints_json_and_writes_the_figure(tmp_path):
    import json
    from click.testing import CliRunner
    from rnndyn.cli.main import cli
    from rnndyn.models import save_weights
    wfile = save_weights(RNN(-np.eye(3), None, -np.ones(3), "relu"), tmp_path / "dead.npz")
    res = CliRunner().invoke(cli, ["lyapunov", "--weights", str(wfile), "--steps", "100",
                                   "--window", "20", "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["exponents"] == [None, None, None]     # -inf is null in --json
    assert (tmp_path / "o" / "lyapunov.png").exists()


@pytest.mark.parametrize("scale", [1e160, 1e250])
def test_huge_weights_give_the_exact_linear_exponents(scale):
    # squared column norms of W q would overflow: the tangent dynamics run with W
    # scaled by a power of two, and ln s per step is added back (exact)
    A = np.array([[0.3, 0.1], [0.2, 0.5]])
    rnn = RNN(scale * A, None, None, "linear")
    exact = np.sort(np.log(np.abs(np.linalg.eigvals(A))) + np.log(scale))[::-1]
    x0 = np.ones(2)
    lam = lyapunov_spectrum(rnn, x0, 2000, transient=10).exponents
    assert np.all(np.isfinite(lam)) and np.max(np.abs(lam - exact)) < 1e-3
    assert abs(largest_lyapunov(rnn, x0, 2000, transient=10).exponent - exact[0]) < 1e-3
    ft = finite_time_exponents(rnn, x0, 2000, 500, transient=10)
    assert np.all(np.abs(ft.exponents[:, 0] - exact[0]) < 1e-2)
    # the same network at a normal scale agrees after the shift
    small = lyapunov_spectrum(RNN(A, None, None, "linear"), x0, 2000, transient=10).exponents
    np.testing.assert_allclose(lam - np.log(scale), small, atol=1e-9)
