"""`rnndyn bifurcation` on the command line: files, --json keys, messages, exit codes."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn.bifurcation import BifurcationDiagram, TwoParameterDiagram
from rnndyn.results import load_result

# small sizes: the CLI tests check plumbing, files and messages (science: test_bifurcation)
SMALL = ["--transient", "200", "--record", "8", "--quiet"]


def _invoke(*args):
    from rnndyn.cli.main import cli
    return CliRunner().invoke(cli, ["bifurcation", *args])


def test_help_documents_options_and_json_keys():
    res = _invoke("-h")
    assert res.exit_code == 0
    for word in ("--w", "--b", "--activation", "--transient", "--record", "--x0", "--seed",
                 "--out", "--format", "--json", "--quiet", "--overwrite", "bifurcations",
                 "fixed_points", "regions", "START:STOP:NUM"):
        assert word in res.output, word


def test_sweep_writes_files_and_json(tmp_path):
    out = str(tmp_path / "o")
    res = _invoke("--w", "5", "--b", "-3:-2:41", "--activation", "sigmoid", "--out", out,
                  "--json", *SMALL)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert {"mode", "activation", "parameter", "w", "b", "x0", "bifurcations", "fixed_points",
            "n_fixed_points", "boundary", "attractors", "files"} <= set(doc)
    assert doc["parameter"] == "b" and len(doc["b"]) == 41
    folds = doc["bifurcations"]
    assert [p["type"] for p in folds] == ["fold", "fold"]
    assert [round(p["b"], 4) for p in folds] == [-2.6556, -2.3444]
    assert all(set(p) >= {"type", "w", "b", "x"} for p in folds)
    assert len(doc["fixed_points"]) == 41
    assert all({"x", "multiplier", "stable"} == set(f) for fp in doc["fixed_points"] for f in fp)
    assert {len(fp) for fp in doc["fixed_points"]} == {1, 3}
    for name in ("bifurcation.npz", "bifurcation.json", "bifurcation.png"):
        assert os.path.exists(os.path.join(out, name))
    r = load_result(os.path.join(out, "bifurcation"))
    assert isinstance(r, BifurcationDiagram) and r.orbits.shape == (2, 41, 8)


def test_w_sweep_finds_the_tanh_flip(tmp_path):
    res = _invoke("--w=-2:0:21", "--b", "0", "--activation", "tanh", "--out",
                  str(tmp_path), "--json", "--format", "svg", *SMALL)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["parameter"] == "w"
    flips = [p for p in doc["bifurcations"] if p["type"] == "flip"]
    assert len(flips) == 1 and abs(flips[0]["w"] + 1.0) < 1e-10 and abs(flips[0]["b"]) < 1e-10
    assert os.path.exists(tmp_path / "bifurcation.svg")


def test_plane_mode(tmp_path):
    res = _invoke("--w=-4:6:11", "--b=-4:4:9", "--activation", "tanh", "--n-initial", "4",
                  "--out", str(tmp_path), "--json", *SMALL)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["mode"] == "plane" and doc["cusp"] == {"x": 0.0, "w": 1.0, "b": 0.0}
    assert "2 fixed points" in doc["regions"] and "1 period-2 cycle" in doc["regions"]
    assert sum(doc["regions"].values()) == 11 * 9
    # the w = 1 line meets the cusp (1, 0): a pitchfork there, folds and flips elsewhere
    assert {p["type"] for p in doc["bifurcations"]} == {"fold", "flip", "pitchfork"}
    assert [(p["w"], p["b"]) for p in doc["bifurcations"] if p["type"] == "pitchfork"] == [
        (1.0, 0.0)]
    assert np.array(doc["n_stable_fixed_points"]).shape == (11, 9)
    assert isinstance(load_result(tmp_path / "bifurcation"), TwoParameterDiagram)


def test_human_summary_and_overwrite(tmp_path):
    args = ["--w", "5", "--b", "-4:4:11", "--activation", "tanh", "--out", str(tmp_path),
            "--transient", "50", "--record", "4"]
    res = _invoke(*args)
    assert res.exit_code == 0, res.output
    assert "fold  at w = 5, b = -3.02850048" in res.output and "wrote" in res.output
    again = _invoke(*args)
    assert again.exit_code == 2 and "exists" in again.output
    assert _invoke(*args, "--overwrite").exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--b", "1:2"], "'--b': expected a value or START:STOP:NUM"),
    (["--b", "a:2:3"], "'--b': 'a' is not a number"),
    (["--w", "1:2:x"], "'--w': 'x' is not an integer"),
    (["--b", "3:1:5"], "'--b': START must be below STOP"),
    (["--b", "1:2:0"], "'--b': NUM must be >= 1"),
    (["--w", "nan"], "'--w': 'nan' is not finite"),
    (["--activation", "relu"], "unknown --activation 'relu'"),
    (["--activation", "softmax"], "unknown --activation 'softmax'"),
    (["--record", "1"], "--record must be >= 3"),
    (["--transient", "-5"], "--transient must be >= 0"),
    (["--x0", "0,zero"], "'--x0': 'zero' is not a number"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    res = _invoke(*args, "--out", str(tmp_path))
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert message in lines[0]
    assert "Traceback" not in res.output
    assert not os.path.exists(tmp_path / "bifurcation.npz")
