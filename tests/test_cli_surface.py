"""``rnndyn surface`` through click's CliRunner: files, --json keys, slices, bad input."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn.cli.main import cli
from rnndyn.results import load_result

SMALL = ["--w", "4:6:5", "--b=-3.2:-2.2:6", "--path-steps", "4", "--tol", "1e-4"]


def _run(args, tmp_path, **kw):
    return CliRunner().invoke(cli, ["surface", "--out", str(tmp_path)] + args, **kw)


def test_writes_data_and_figure_and_prints_json(tmp_path):
    res = _run(SMALL + ["--json", "--start", "5.5,-2.9"], tmp_path)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    for key in ("w", "b", "loss", "grad_norm", "wall", "jumps", "refined", "paths",
                "step_stats", "files"):
        assert key in doc
    assert np.array(doc["loss"]).shape == np.array(doc["grad_norm"]).shape == (5, 6)
    assert doc["w"] == [4.0, 4.5, 5.0, 5.5, 6.0]
    assert doc["wall"]["w_min"] == pytest.approx(4.2552519, abs=1e-7)
    assert len(doc["step_stats"]["step"]) == 2 and doc["paths"]["methods"] == ["none", "norm"]
    assert np.array(doc["paths"]["w"]).shape == (2, 1, 5)
    # from w = 5 on the jump is a sharp wall and the refinement lands on it (tol 1e-4);
    # nearer the fold (w_min = 4.26) the loss changes over a wide smooth layer
    jw = np.array(doc["jumps"]["w"])
    offs = np.array(doc["jumps"]["wall_offset"], dtype=float)[jw >= 5.0]
    assert offs.size == 2 and np.all(np.abs(offs) < 1e-4)  # b*(6) = -3.23 is off the grid
    for name in ("surface.npz", "surface.json", "surface.png"):
        assert (tmp_path / name).exists()
    r = load_result(tmp_path / "surface")
    np.testing.assert_array_equal(r.loss, np.array(doc["loss"]))


def test_human_summary_and_progress_on_stderr(tmp_path):
    res = _run(SMALL, tmp_path)
    assert res.exit_code == 0, res.output
    assert "wall: b = 0.5 - 0.622459 w" in res.stdout
    assert "one step from w = 5" in res.stdout
    assert "wrote" in res.stdout


def test_slice_along_b_plots_a_line(tmp_path):
    res = _run(["--w", "5", "--b", "-2.7:-2.5:21", "--path-steps", "2", "--json",
                "--format", "svg"], tmp_path)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert np.array(doc["loss"]).shape == (1, 21)
    assert len(doc["jumps"]["b"]) == 1
    assert doc["jumps"]["b"][0] == pytest.approx(-2.6122967, abs=1e-4)
    assert (tmp_path / "surface.svg").exists()


def test_existing_files_need_overwrite(tmp_path):
    assert _run(SMALL + ["--quiet"], tmp_path).exit_code == 0
    res = _run(SMALL + ["--quiet"], tmp_path)
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert _run(SMALL + ["--quiet", "--overwrite"], tmp_path).exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--w", "4:6"], "'--w': expected a value or START:STOP:NUM"),
    (["--w", "4:6:0"], "'--w': NUM must be >= 1"),
    (["--b", "-3:-2:2.5"], "'--b': '2.5' is not an integer"),
    (["--b", "-3:nan:5"], "'--b': 'nan' is not finite"),
    (["--w", "inf"], "'--w': 'inf' is not finite"),
    (["--w", "a:6:3"], "'--w': 'a' is not a number"),
    (["--w", "6:4:3"], "'--w': START must be below STOP"),
    (["--w", "5", "--b", "-2"], "both single values"),
    (["--start", "5"], "'--start': expected 2 value(s)"),
    (["--stat-offsets", "1e-3,x"], "'--stat-offsets': 'x' is not a number"),
    (["--stat-w", "3"], "stat_w = 3.0 has no wall"),
    (["--tol", "0"], "tol must be > 0"),
    (["--lr", "nan"], "lr must be finite"),
    (["--steps", "0"], "n_steps must be >= 1"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    res = _run(["--w", "4:6:3", "--b=-3:-2:3"] + args, tmp_path)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert message in lines[0]
    assert "Traceback" not in res.output
    assert not (tmp_path / "surface.npz").exists()


def test_help_documents_the_json_keys():
    res = CliRunner().invoke(cli, ["surface", "-h"])
    assert res.exit_code == 0
    for key in ("grad_norm", "step_stats", "wall", "jumps", "START:STOP:NUM"):
        assert key in res.output
