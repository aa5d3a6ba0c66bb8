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
                 "overflow_step", "on_fixed_point", "warnings", "jacobian_stride",
                 "model", "files"}
SPECTRUM_KEYS = {"spectral_radius", "max_singular_value", "gamma", "vanishing_guaranteed",
                 "exploding_possible", "criterion", "linear_statement", "transient_growth",
                 "transient_peak", "transient_peak_k", "log_transient_peak", "model", "files"}


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _stdout(res):
    return getattr(res, "stdout", res.output)


def _stderr(res):
    return getattr(res, "stderr", "")


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


def test_gradflow_zero_state_is_a_fixed_point_with_a_warning(tmp_path):
    # tanh at x0 = 0 without inputs stays at 0: J_t = W, the products are W^lag
    res = _invoke("gradflow", "--n", 5, "--steps", 8, "--x0", "zero", "--out", tmp_path,
                  "--json", "--format", "svg")
    assert res.exit_code == 0, res.output
    doc = json.loads(_stdout(res))
    W = np.random.default_rng(0).standard_normal((5, 5)) / np.sqrt(5)
    want = [np.log10(np.linalg.norm(np.linalg.matrix_power(W, k), 2)) for k in range(9)]
    np.testing.assert_allclose(doc["log10_norm"], want, rtol=1e-9, atol=1e-12)
    assert (tmp_path / "gradflow.svg").exists()
    # flagged: a key in the JSON, one warning line on stderr, nothing of it on stdout
    assert doc["on_fixed_point"] is True and doc["overflow_step"] is None
    assert len(doc["warnings"]) == 1 and "fixed point" in doc["warnings"][0]
    warn = [ln for ln in _stderr(res).splitlines() if ln.startswith("Warning:")]
    assert len(warn) == 1 and "fixed point" in warn[0]
    assert "Warning" not in _stdout(res)
    saved = load_result(tmp_path / "gradflow")
    assert saved.on_fixed_point is True and saved.meta["params"]["x0"] == [0.0] * 5
    # the human summary says it too
    res = _invoke("gradflow", "--n", 5, "--steps", 8, "--x0", "zero")
    assert "x0 is a fixed point" in _stdout(res) and "Warning: x0" in _stderr(res)


def test_gradflow_default_start_is_random_and_seeded():
    from rnndyn.gradflow import gradient_flow
    from rnndyn.models import make_rnn
    from rnndyn.simulate import initial_state

    def run(*extra):
        res = _invoke("gradflow", "--n", 6, "--steps", 40, "--gain", 1.5, "--json", *extra)
        assert res.exit_code == 0, res.output
        return json.loads(_stdout(res))

    a, b = run("--seed", 4), run("--seed", 4)
    assert a["log10_norm"] == b["log10_norm"] and a["on_fixed_point"] is False
    assert a["warnings"] == [] and "Warning" not in _stderr(
        _invoke("gradflow", "--n", 6, "--steps", 40, "--seed", 4))
    assert run("--seed", 4, "--x0", "random")["log10_norm"] == a["log10_norm"]
    assert run("--seed", 5)["log10_norm"] != a["log10_norm"]
    # the start is drawn as for `rnndyn lyapunov`: initial_state('random', seed + 1)
    rnn = make_rnn(6, gain=1.5, seed=4)
    api = gradient_flow(rnn, initial_state(rnn, "random", seed=5), 40, seed=4)
    np.testing.assert_allclose(a["log10_norm"], api.log10_norm, rtol=1e-12, atol=1e-12)
    zero = run("--seed", 4, "--x0", "zero")
    assert zero["on_fixed_point"] is True and zero["log10_norm"] != a["log10_norm"]


def test_gradflow_state_overflow_is_reported(tmp_path):
    # an exploding relu network (issue 10): the states leave float64; this used to say
    # "the product is exactly zero from lag 1", rate -inf
    args = ["gradflow", "--n", 8, "--activation", "relu", "--gain", 4, "--x0", "random",
            "--steps", 2000, "--jacobian-stride", 0]
    res = _invoke(*args, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(_stdout(res))
    s = doc["overflow_step"]
    assert isinstance(s, int) and 1 < s < 2000
    assert doc["rate_per_step"] is None and doc["rate_log10_per_step"] is None
    assert doc["zero_product_lag"] == -1 and doc["states_finite"] is False
    assert all(v is not None for v in doc["log10_norm"][:s])
    assert doc["log10_norm"][s:] == [None] * (2001 - s)
    assert doc["log10_norm"][s - 1] > 300              # beyond float64, as a log
    assert any("overflowed float64 at step" in w for w in doc["warnings"])
    assert f"overflowed float64 at step {s}" in _stderr(res)
    human = _stdout(_invoke(*args))
    assert f"overflowed float64 at step {s}" in human and "no rate" in human
    assert "exactly zero" not in human and "rate per step (ln) = undefined" in human


def test_gradflow_jacobian_stride_auto_and_every_step():
    def run(*extra):
        res = _invoke("gradflow", "--n", 4, "--steps", 1000, "--json", *extra)
        assert res.exit_code == 0, res.output
        return json.loads(_stdout(res))
    auto = run()
    assert auto["jacobian_stride"] == 10 and auto["jac_t"] == list(range(1, 1001, 10))
    assert run("--jacobian-stride", "auto")["jac_t"] == auto["jac_t"]
    every = run("--jacobian-stride", 1)
    assert every["jacobian_stride"] == 1 and len(every["jac_t"]) == 1000
    assert run("--jacobian-stride", 0)["jac_t"] == []


def test_gradflow_relu_zero_product_is_reported(tmp_path):
    res = _invoke("gradflow", "--n", 4, "--steps", 5, "--activation", "relu", "--x0", "zero",
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
                  "--max-power", 0)
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


def test_spectrum_of_huge_weights(tmp_path):
    # 1e200·I: ‖W^k‖ = 1e200^k, the peak is at k = K (it was reported as 1.0 at k = 0)
    w = tmp_path / "big.npz"
    save_weights(RNN(1e200 * np.eye(3), None, None, "linear"), w)
    res = _invoke("spectrum", "--weights", w, "--max-power", 10, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(_stdout(res))
    assert doc["transient_peak_k"] == 10 and doc["transient_peak"] is None   # inf
    assert doc["log_transient_peak"] == pytest.approx(10 * np.log(1e200), rel=1e-12)
    assert doc["spectral_radius"] == pytest.approx(1e200, rel=1e-12)
    assert "RuntimeWarning" not in res.output
    human = _stdout(_invoke("spectrum", "--weights", w, "--max-power", 10))
    assert "10^2000" in human and "at k = 10" in human


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
    (["--k-singular", "a"], "'--k-singular': 'a' is not an integer"),
    (["--fit", "5"], "'--fit': expected LOW:HIGH"),
    (["--fit", "5:50"], "--fit must satisfy"),
    (["--jacobian-stride", "often"], "'--jacobian-stride': expected 'auto' or an integer >= 0"),
    (["--jacobian-stride", "-1"], "'--jacobian-stride': expected 'auto' or an integer >= 0, got -1"),
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
