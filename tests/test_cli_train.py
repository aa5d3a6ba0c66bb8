import json

import pytest
from click.testing import CliRunner

from rnndyn.cli.main import cli
from rnndyn.results import load_result

# tiny runs, small enough for the plain-Python pass of CI
TINY = ["--n", "6", "--batch-size", "4", "--updates", "40", "--eval-every", "20",
        "--eval-size", "40", "--quiet"]


def test_json_output_files_and_figure(tmp_path):
    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["train", "addition", "--length", "10:14", "--method",
                                   "sgd-cr", "--json", "--diag-every", "10",
                                   "--out", str(out)] + TINY)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    for key in ("success", "updates", "final_error_rate", "skipped", "stop_reason"):
        assert key in doc
    assert doc["updates"] == 40 and doc["length"] == [10, 14] and doc["method"] == "sgd-cr"
    assert 0.0 <= doc["final_error_rate"] <= 1.0
    for ext in ("npz", "json", "png"):
        assert (out / f"train.{ext}").exists()
    back = load_result(out / "train")
    assert back.updates == 40 and len(back.update) == 4
    # no overwrite without the flag: checked before any training
    again = CliRunner().invoke(cli, ["train", "addition", "--length", "10", "--out", str(out)]
                               + TINY)
    assert again.exit_code == 2 and "exists" in again.output


def test_checkpoint_and_resume(tmp_path):
    ck = tmp_path / "ck.npz"
    args = ["train", "temporal-order", "--length", "12", "--checkpoint", str(ck), "--json",
            "--method", "sgd"] + TINY
    first = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert ck.exists()
    refused = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "b")])
    assert refused.exit_code == 2 and "--resume" in refused.output
    resumed = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "b"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    a, b = json.loads(first.output), json.loads(resumed.output)
    assert a["final_error_rate"] == b["final_error_rate"] and a["updates"] == b["updates"]


@pytest.mark.parametrize("args, match", [
    (["temporal-order", "--length", "abc"], "'--length': 'abc' is not an integer"),
    (["temporal-order", "--length", "1:2:3"], "'--length': expected L|LO:HI"),
    (["temporal-order", "--length", "5"], "length must be >= 10"),
    (["temporal-order", "--length", "60:50"], "LO must be <= HI"),
    (["temporal-order", "--lr", "-1"], "lr must be > 0"),
    (["temporal-order", "--updates", "-5"], "--updates must be >= 0"),
    (["temporal-order", "--batch-size", "0"], "batch_size must be >= 1"),
    (["temporal-order", "--eval-size", "0"], "eval_size must be >= 1"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, match):
    res = CliRunner().invoke(cli, ["train"] + args + ["--out", str(tmp_path), "--quiet"])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and match in lines[0]
    assert "Traceback" not in res.output


def test_unknown_task_and_method_are_usage_errors(tmp_path):
    for args in (["parity"], ["temporal-order", "--method", "adam"]):
        res = CliRunner().invoke(cli, ["train"] + args + ["--out", str(tmp_path)])
        assert res.exit_code == 2 and "Traceback" not in res.output


def test_help_documents_json_keys():
    res = CliRunner().invoke(cli, ["train", "-h"])
    assert res.exit_code == 0
    for word in ("success", "updates", "final_error_rate", "--length", "LO:HI", "--resume"):
        assert word in res.output


def test_progress_bar_and_summary(tmp_path):
    args = [a for a in TINY if a != "--quiet"]
    res = CliRunner().invoke(cli, ["train", "temporal-order", "--length", "12", "--out",
                                   str(tmp_path)] + args)
    assert res.exit_code == 0, res.output
    assert "after 40 updates" in res.output and "wrote" in res.output


@pytest.mark.parametrize("model", [["--layers", "2", "--skip", "residual"],
                                   ["--cell", "gru", "--hidden", "6,5"]])
def test_a_stack_trains_and_its_saved_stack_feeds_gradflow(tmp_path, model):
    import numpy as np
    from rnndyn.stack import Stack, load_stack
    from rnndyn.training import StackTrainResult, trained_stack
    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["train", "temporal-order", "--length", "12", "--json",
                                   "--diag-every", "10", "--out", str(out)] + model + TINY)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["updates"] == 40 and doc["layers"] == 2
    assert doc["skip"] == ("residual" if "residual" in model else "none")
    assert doc["hidden"] == ([6, 6] if "--layers" in model else [6, 5])
    back = load_result(out / "train")
    assert isinstance(back, StackTrainResult) and back.rho.shape == (4, 2)
    stack = load_stack(out / "train.weights.npz")
    assert isinstance(stack, Stack) and stack.hidden == doc["hidden"]
    np.testing.assert_array_equal(stack.pack()[0], trained_stack(back)[0].pack()[0])
    flow = CliRunner().invoke(cli, ["gradflow", "--weights", str(out / "train.weights.npz"),
                                    "--steps", "15", "--json", "--quiet"])
    assert flow.exit_code == 0, flow.output
    depth = json.loads(flow.output)["depth_log10_norm"]
    assert len(depth) == 2 and len(depth[0]) == 16


def test_one_layer_json_names_its_depth(tmp_path):
    res = CliRunner().invoke(cli, ["train", "temporal-order", "--length", "12", "--json"]
                             + TINY)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert (doc["layers"], doc["hidden"], doc["skip"]) == (1, [6], "none")


@pytest.mark.parametrize("args, match", [
    (["--layers", "2", "--bidirectional"], "cannot solve an online task"),
    (["--layers", "2", "--method", "sgd-cr"], "defined for one vanilla layer"),
    (["--layers", "3", "--hidden", "4,4"], "--layers 3 and --hidden with 2 sizes disagree"),
    (["--hidden", "4,0"], "hidden must be >= 1"),
])
def test_bad_stack_is_one_line_exit_2(tmp_path, args, match):
    res = CliRunner().invoke(cli, ["train", "temporal-order", "--length", "12", "--out",
                                   str(tmp_path), "--quiet"] + args)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and match in lines[0]
