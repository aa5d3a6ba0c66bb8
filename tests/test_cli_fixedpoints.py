"""CliRunner tests of `rnndyn fixedpoints`, `rnndyn continuation` and `rnndyn basins`."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn.cli.main import cli


def run(args):
    return CliRunner().invoke(cli, args)


def one_line_error(res, text):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1 and text in lines[0], res.output


@pytest.fixture
def rotation_file(tmp_path):
    th = 0.5
    W = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    path = tmp_path / "rot.npz"
    np.savez(path, W=W)
    return str(path)


def test_fixedpoints_json_and_files(tmp_path):
    out = str(tmp_path / "o")
    res = run(["fixedpoints", "--n", "6", "--gain", "1.8", "--starts", "16", "--out", out,
               "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["n_fixed_points"] == len(doc["fixed_points"]) >= 1
    for fp in doc["fixed_points"]:
        assert set(fp) == {"x", "kind", "n_unstable", "spectral_radius", "residual"}
        assert fp["kind"] in ("stable", "saddle", "unstable", "marginal") and len(fp["x"]) == 6
    assert doc["n_slow_points"] == len(doc["slow_points"])
    for name in ("fixedpoints.npz", "fixedpoints.json", "fixedpoints.png"):
        assert os.path.exists(os.path.join(out, name))
    res = run(["fixedpoints", "--n", "6", "--starts", "4", "--out", out, "--quiet"])
    one_line_error(res, "exists")


def test_fixedpoints_with_input_and_bad_input(tmp_path):
    out = str(tmp_path / "o")
    res = run(["fixedpoints", "--n", "4", "--n-inputs", "2", "--u", "0.5,-1", "--starts", "8",
               "--out", out, "--quiet"])
    assert res.exit_code == 0, res.output
    one_line_error(run(["fixedpoints", "--n", "4", "--u", "1", "--out", out, "--overwrite"]),
                   "--u needs a model with inputs")
    one_line_error(run(["fixedpoints", "--n", "4", "--n-inputs", "2", "--u", "1,2,3",
                        "--out", out, "--overwrite"]), "--u must have 1 or 2 values")
    one_line_error(run(["fixedpoints", "--n", "4", "--n-inputs", "1", "--u", "abc",
                        "--out", out, "--overwrite"]), "'--u': 'abc' is not a number")
    one_line_error(run(["fixedpoints", "--weights", str(tmp_path / "none.npz"), "--out", out,
                        "--overwrite"]), "cannot read weights file")
    res = run(["fixedpoints", "--starts", "0"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_continuation_json_locates_neimark_sacker(tmp_path, rotation_file):
    out = str(tmp_path / "o")
    res = run(["continuation", "--weights", rotation_file, "--start", "0.5", "--stop", "1.5",
               "--out", out, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["parameter"] == "gain"
    (b,) = doc["bifurcations"]
    assert b["type"] == "neimark-sacker" and b["parameter"] == "gain"
    assert b["value"] == pytest.approx(1.0, abs=1e-10) and b["gain"] == b["value"]
    assert b["x"] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert doc["range"] == pytest.approx([0.5, 1.5])
    for name in ("continuation.npz", "continuation.json", "continuation.png"):
        assert os.path.exists(os.path.join(out, name))


def test_continuation_bias_folds_and_bad_input(tmp_path):
    w = tmp_path / "neuron.npz"
    np.savez(w, W=[[5.0]], b=[-4.0])
    out = str(tmp_path / "o")
    res = run(["continuation", "--weights", str(w), "--param", "bias", "--index", "0",
               "--x0", "-4", "--stop", "4", "--points", "2000", "--max-step", "0.05",
               "--out", out, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert [b["type"] for b in doc["bifurcations"]] == ["fold", "fold"]
    assert sorted(b["b[0]"] for b in doc["bifurcations"]) == pytest.approx(
        [-3.0285, 3.0285], abs=1e-4)
    one_line_error(run(["continuation", "--weights", str(w), "--param", "bias", "--out", out,
                        "--overwrite"]), "--index is required")
    one_line_error(run(["continuation", "--weights", str(w), "--param", "weight",
                        "--index", "0", "--out", out, "--overwrite"]), "--index must have 2")
    one_line_error(run(["continuation", "--weights", str(w), "--param", "bias", "--index",
                        "3", "--out", out, "--overwrite"]), "index must be <= 0")
    one_line_error(run(["continuation", "--weights", str(w), "--stop", "1", "--out", out,
                        "--overwrite"]), "stop must differ")
    res = run(["continuation", "--param", "nonsense"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_basins_json_and_bad_input(tmp_path):
    w = tmp_path / "quad.npz"
    np.savez(w, W=3.0 * np.eye(2))
    out = str(tmp_path / "o")
    res = run(["basins", "--weights", str(w), "--grid", "20", "--xlim", "-2:2",
               "--ylim", "-2:2", "--out", out, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert len(doc["attractors"]) == 4
    assert all(a["kind"] == "fixed point" and a["period"] == 1 for a in doc["attractors"])
    assert doc["label_counts"] == {"0": 100, "1": 100, "2": 100, "3": 100,
                                   "divergence": 0, "unsettled": 0}
    assert doc["grid"] == [20, 20] and doc["boundary_cells"] > 0
    for name in ("basins.npz", "basins.json", "basins.png"):
        assert os.path.exists(os.path.join(out, name))
    res = run(["basins", "--n", "1", "--gain", "5", "--init", "identity", "--grid", "50",
               "--out", str(tmp_path / "one"), "--quiet"])
    assert res.exit_code == 0, res.output
    one_line_error(run(["basins", "--xlim", "3:1", "--out", out, "--overwrite"]), "xlim")
    one_line_error(run(["basins", "--xlim", "a", "--out", out, "--overwrite"]),
                   "'--xlim': 'a' is not a number (expected LOW:HIGH)")
    one_line_error(run(["basins", "--axes", "0,0", "--out", out, "--overwrite"]),
                   "axes must be two different units")
    one_line_error(run(["basins", "--axes", "x", "--out", out, "--overwrite"]), "--axes")
    res = run(["basins", "--grid", "1"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_help_documents_json_keys():
    for cmd, keys in (("fixedpoints", ("fixed_points", "slow_points", "kind")),
                      ("continuation", ("bifurcations", "type", "neimark-sacker", "value")),
                      ("basins", ("attractors", "label_counts", "period"))):
        res = run([cmd, "-h"])
        assert res.exit_code == 0
        text = " ".join(res.output.split())  # undo click's line wrapping
        for k in keys:
            assert k in text, (cmd, k)
