"""``rnndyn lyapunov`` through click's CliRunner: exit codes, messages, files."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn.cli.main import cli
from rnndyn.lyapunov import lyapunov_spectrum
from rnndyn.models import make_rnn, save_weights
from rnndyn.results import load_result
from rnndyn.simulate import initial_state

FAST = ["--n", "6", "--steps", "150", "--transient", "20", "--gain", "2.0", "--quiet"]


def _run(args):
    return CliRunner().invoke(cli, ["lyapunov", *args])


def test_json_keys_files_and_values(tmp_path):
    res = _run([*FAST, "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    for key in ("exponents", "sum", "kaplan_yorke_dimension", "n_steps", "n_positive",
                "rounding_error_estimate", "files"):
        assert key in doc
    lam = np.array(doc["exponents"])
    assert lam.shape == (6,) and np.all(np.diff(lam) <= 0)
    assert doc["n_steps"] == 150 and doc["sum"] == pytest.approx(lam.sum())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lyapunov.json", "lyapunov.npz", "lyapunov.png", "lyapunov.weights.npz"]
    # the same numbers as the library with the CLI's defaults (seeded random x0)
    rnn = make_rnn(6, gain=2.0, seed=0)
    lib = lyapunov_spectrum(rnn, initial_state(rnn, "random", seed=1), 150, transient=20)
    np.testing.assert_allclose(lam, lib.exponents, rtol=1e-12)
    saved = load_result(tmp_path / "lyapunov")
    np.testing.assert_array_equal(saved.exponents, lam)


def test_k_reortho_window_and_inputs(tmp_path):
    res = _run([*FAST, "--out", str(tmp_path), "--json", "--k", "2", "--reortho", "1",
                "--window", "25", "--n-inputs", "2", "--inputs", "gaussian", "--format", "svg"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert len(doc["exponents"]) == 2 and doc["reortho"] == 1 and doc["mean_interval"] == 1.0
    assert doc["finite_time"]["window"] == 25 and doc["finite_time"]["n_windows"] == 6
    assert (tmp_path / "lyapunov.svg").exists()
    assert (tmp_path / "lyapunov-finite-time.npz").exists()


def test_threads_and_split_in_json(tmp_path):
    # N = 24 is large enough for 'auto' to split; the result does not depend on --threads
    args = ["--n", "24", "--steps", "200", "--transient", "20", "--gain", "2.0", "--json"]
    docs = []
    for t in ("1", "2"):
        res = _run([*args, "--threads", t, "--out", str(tmp_path / t)])
        assert res.exit_code == 0, res.output
        docs.append(json.loads(res.output))
    assert [d["threads"] for d in docs] == [1, 2]
    assert all(d["split"] > 0 for d in docs)
    np.testing.assert_allclose(docs[0]["exponents"], docs[1]["exponents"], atol=1e-7)


def test_weights_file_and_human_output(tmp_path):
    rnn = make_rnn(4, gain=1.5, seed=3)
    path = tmp_path / "w.npz"
    save_weights(rnn, path)
    res = _run(["--weights", str(path), "--steps", "100", "--transient", "10",
                "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "Kaplan–Yorke" in res.output and "wrote" in res.output


@pytest.mark.parametrize("args, message", [
    (["--k", "9"], "--k must be between 1 and N = 6"),
    (["--reortho", "often"], "'--reortho': expected 'auto' or an integer >= 1, got 'often'"),
    (["--reortho", "0"], "'--reortho': expected 'auto' or an integer >= 1, got 0"),
    (["--window", "500"], "--window must be between 1 and --steps"),
    (["--transient", "-3"], "--transient must be >= 0"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--inputs", "gaussian"], "--inputs needs a model with inputs"),
    (["--x0", "missing.npy"], "--x0: cannot read"),
    (["--threads", "3"], "--threads"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    res = _run([*FAST, "--out", str(tmp_path), *args])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert "Traceback" not in res.output
    assert not any(tmp_path.iterdir())


def test_existing_output_is_not_overwritten(tmp_path):
    assert _run([*FAST, "--out", str(tmp_path)]).exit_code == 0
    res = _run([*FAST, "--out", str(tmp_path)])
    assert res.exit_code == 2 and "exists" in res.output
    assert _run([*FAST, "--out", str(tmp_path), "--overwrite"]).exit_code == 0


def test_help_documents_json_keys():
    res = _run(["-h"])
    assert res.exit_code == 0
    for word in ("--transient", "--k", "--reortho", "--window", "--threads",
                 "kaplan_yorke_dimension"):
        assert word in res.output
