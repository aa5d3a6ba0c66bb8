"""`rnndyn gradflow` and `rnndyn spectrum` on the command line."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn.cli.main import cli
from rnndyn.models import RNN, save_weights
from rnndyn.results import load_result

GRADFLOW_KEYS = {"lag", "log10_norm", "log10_frob", "rate_per_step", "rate_log10_per_step",
                 "fit_window", "bound_rate_per_step", "finite", "zero_product_lag",
                 "nonfinite_lag", "states_finite", "unconverged_lags", "sv_k", "log10_sv",
                 "log10_delta", "jac_t", "jac_spectral_radius", "jac_max_sv", "jac_min_sv",
                 "model", "files"}
SPECTRUM_KEYS = {"spectral_radius", "max_singular_value", "gamma", "vanishing_guaranteed",
                 "exploding_possible", "criterion", "linear_statement", "transient_growth",
                 "model", "files"}


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _stdout(res):
    return getattr(res, "stdout", res.output)


def test_help_documents_json_keys():
    for cmd, keys in (("gradflow", ("lag", "log10_norm", "rate_per_step")),
                      ("spectrum", ("spectral_radius", "vanishing_guaranteed"))):
        res = _invoke(cmd, "-h")
        assert res.exit_code == 0
        for k in keys:
            assert k in res.output


def test_gradflow_json_and_files(tmp_path):
    out = tmp_path / "o"
    res = _invoke("gradflow", "--n", 6, "--steps", 30, "--x0", "random", "--gain", 1.5,
                  "--k-singular", "0,10", "--delta", "random", "--out", out, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(_stdout(res))
    assert GRADFLOW_KEYS <= set(doc)
    assert doc["lag"] == list(range(31)) and doc["log10_norm"][0] == 0.0
    assert len(doc["log10_norm"]) == 31 and isinstance(doc["rate_per_step"], float)
    assert doc["finite"] is True and len(doc["log10_delta"]) == 31
    assert np.shape(doc["log10_sv"]) == (2, 3)
    for name in ("gradflow.npz", "gradflow.json", "gradflow.png"):
        assert (out / name).exists()
    saved = load_result(out / "gradflow")
    np.testing.assert_allclose(saved.log10_norm, doc["log10_norm"])
    assert saved.meta["params"]["n_steps"] == 30


def test_gradflow_defaults_zero_state_no_inputs(tmp_path):
    # tanh at x0 = 0 without inputs stays at 0: J_t = W, the products are W^lag
    res = _invoke("gradflow", "--n", 5, "--steps", 8, "--out", tmp_path, "--json",
                  "--format", "svg")
    doc = json.loads(_stdout(res))
    W = np.random.default_rng(0).standard_normal((5, 5)) / np.sqrt(5)
    want = [np.log10(np.linalg.norm(np.linalg.matrix_power(W, k), 2)) for k in range(9)]
    np.testing.assert_allclose(doc["log10_norm"], want, rtol=1e-9, atol=1e-12)
    assert (tmp_path / "gradflow.svg").exists()


def test_gradflow_relu_zero_product_is_reported(tmp_path):
    res = _invoke("gradflow", "--n", 4, "--steps", 5, "--activation", "relu",
                  "--out", tmp_path, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(_stdout(res))
    # relu'(0) = 0: from x0 = 0 the first factor is zero
    assert doc["zero_product_lag"] == 1 and doc["finite"] is False
    assert doc["log10_norm"][1:] == [None] * 5 and doc["rate_per_step"] is None


def test_gradflow_human_output_and_quiet(tmp_path):
    res = _invoke("gradflow", "--n", 4, "--steps", 5, "--out", tmp_path / "a")
    assert res.exit_code == 0 and "rate per step" in res.output and "wrote" in res.output
    res = _invoke("gradflow", "--n", 4, "--steps", 5, "--out", tmp_path / "b", "--quiet")
    assert res.exit_code == 0 and _stdout(res) == ""


def test_spectrum_json_and_files(tmp_path):
    res = _invoke("spectrum", "--n", 8, "--init", "smart-tanh", "--out", tmp_path, "--json",
                  "--format", "pdf")
    assert res.exit_code == 0, res.output
    doc = json.loads(_stdout(res))
    assert SPECTRUM_KEYS <= set(doc)
    assert doc["spectral_radius"] == pytest.approx(0.95, rel=1e-12)
    assert doc["gamma"] == 1.0 and isinstance(doc["exploding_possible"], bool)
    for name in ("spectrum.npz", "spectrum.json", "spectrum.pdf"):
        assert (tmp_path / name).exists()


def test_spectrum_from_weights_file_sigmoid(tmp_path):
    w = tmp_path / "w.npz"
    save_weights(RNN(3.0 * np.eye(3), None, None, "sigmoid"), w)
    res = _invoke("spectrum", "--weights", w, "--out", tmp_path / "o", "--json",
                  "--transient-steps", 0)
    doc = json.loads(_stdout(res))
    # λ1 = 3 < 1/γ = 4: vanishing guaranteed for sigmoid, while ρ = 3 > 1 (linear case)
    assert doc["vanishing_guaranteed"] is True and doc["exploding_possible"] is False
    assert doc["linear_exploding_possible"] is True and doc["gamma"] == 0.25


@pytest.mark.parametrize("cmd", ("gradflow", "spectrum"))
def test_refuses_to_overwrite(tmp_path, cmd):
    args = [cmd, "--n", 3, "--out", tmp_path]
    if cmd == "gradflow":
        args += ["--steps", 3]
    assert _invoke(*args).exit_code == 0
    before = (tmp_path / f"{cmd}.json").read_text()
    res = _invoke(*args)
    assert res.exit_code == 2 and "exists" in res.output and "--overwrite" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert (tmp_path / f"{cmd}.json").read_text() == before
    assert _invoke(*args, "--overwrite").exit_code == 0


def _bad_files(tmp_path):
    files = {}
    files["shape"] = tmp_path / "shape.npz"
    np.savez(files["shape"], W=np.ones((2, 3)))
    files["nan"] = tmp_path / "nan.npz"
    np.savez(files["nan"], W=np.array([[np.nan, 0.0], [0.0, 1.0]]))
    files["act"] = tmp_path / "act.npz"
    np.savez(files["act"], W=np.eye(2), activation=np.array("softplus"))
    files["garbage"] = tmp_path / "garbage.npz"
    files["garbage"].write_bytes(b"not a zip file")
    files["x0"] = tmp_path / "x0.npy"
    np.save(files["x0"], np.ones(7))
    files["x0nan"] = tmp_path / "x0nan.npy"
    np.save(files["x0nan"], np.full(3, np.nan))
    files["x0garbage"] = tmp_path / "x0garbage.npy"
    files["x0garbage"].write_bytes(b"nonsense")
    return files


@pytest.mark.parametrize("cmd", ("gradflow", "spectrum"))
@pytest.mark.parametrize("case, message", [
    ("shape", "square"), ("nan", "non-finite"), ("act", "unknown activation"),
    ("garbage", "cannot read weights file"), ("missing", "cannot read weights file")])
def test_bad_weights_one_line_exit_2(tmp_path, cmd, case, message):
    files = _bad_files(tmp_path)
    path = files.get(case, tmp_path / "missing.npz")
    res = _invoke(cmd, "--weights", path, "--out", tmp_path / "o")
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--steps", "-3"], "--steps must be >= 1"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--x0", "sideways.npy"], "--x0: cannot read"),
    (["--x0", "{x0}"], "x0 must have shape"),
    (["--x0", "{x0nan}"], "x0 contains"),
    (["--x0", "{x0garbage}"], "--x0: cannot read"),
    (["--k-singular", "1,99"], "--k-singular values must be in 0..10"),
    (["--k-singular", "a"], "--k-singular must be comma-separated integers"),
    (["--fit", "5"], "--fit must be FIRST:LAST"),
    (["--fit", "5:50"], "--fit must satisfy"),
    (["--delta", "nope.npy"], "--delta: cannot read"),
    (["--inputs", "gaussian"], "--inputs needs a model with inputs"),
])
def test_gradflow_bad_input_one_line_exit_2(tmp_path, args, message):
    files = _bad_files(tmp_path)
    args = [a.format(**files) for a in args]
    res = _invoke("gradflow", "--n", 3, "--steps", 10, "--out", tmp_path / "o", *args)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert "Traceback" not in res.output


@pytest.mark.parametrize("cmd", ("gradflow", "spectrum"))
def test_unknown_activation_option_is_a_usage_error(tmp_path, cmd):
    # click's own check of a Choice: usage lines, then one 'Error:' line; exit 2
    res = _invoke(cmd, "--activation", "softplus", "--out", tmp_path)
    assert res.exit_code == 2
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "softplus" in errors[0]
    assert "Traceback" not in res.output


# ---------------------------------------------------------------- figures

SMALL = {"gradnorm-lag": {"n": 8, "steps": 30, "tanh_gains": [0.5, 2.0],
                          "sigmoid_gains": [2.0, 20.0]},
         "nonnormal-transient": {"n": 8, "steps": 40},
         "spectra-paper-inits": {"n": 16}}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_figure_recipes_compute_plot_and_replot(tmp_path, name):
    from rnndyn.figures import registry
    info = registry.render(name, tmp_path, params=SMALL[name])
    for key in ("figure", "data", "json"):
        assert (tmp_path / info[key].split("/")[-1]).exists()
    again = registry.render(name, tmp_path, fmt="svg", replot=True)
    assert again["figure"].endswith(".svg")
    recipe = registry.get(name)
    result = load_result(info["json"])
    fig = recipe.plot(result)
    lines = [ln for ax in fig.axes for ln in ax.get_lines()]
    assert lines and all(np.all(np.isfinite(ln.get_xdata())) for ln in lines)


@pytest.mark.slow
def test_gradnorm_lag_data_show_the_three_regimes(tmp_path):
    from rnndyn.figures import gradnorm_lag
    res = gradnorm_lag.compute(dict(gradnorm_lag.DEFAULTS))
    tanh = dict(zip(res.gain[:3], res.rate_per_step[:3]))
    assert tanh[0.5] < -0.3 and tanh[2.0] > 0.05 and abs(tanh[1.0]) < 0.05
    sig = dict(zip(res.gain[3:], res.rate_per_step[3:]))
    assert sig[2.0] < -0.3 and sig[20.0] > 0.0
    # the plotted curves are the data
    fig = gradnorm_lag.plot(res)
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata(), res.log10_norm[0])


def test_nonnormal_transient_data(tmp_path):
    from rnndyn.figures import nonnormal_transient as nt
    res = nt.compute(dict(nt.DEFAULTS))
    assert res.spectral_radius == pytest.approx(nt.DEFAULTS["rho"], rel=1e-9)
    assert res.max_singular_value > 1 and res.peak > 10 and res.peak_k > 5
    assert res.log10_power_norm[-1] < 0 and "non-normal" in res.linear_statement
    # the tanh network starts in its linear range and follows ‖W^k‖ through the transient
    k = res.peak_k
    assert res.log10_tanh_grad[k] == pytest.approx(res.log10_power_norm[k], abs=0.05)
