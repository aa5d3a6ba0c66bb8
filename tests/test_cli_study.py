"""`rnndyn study clipping` on the command line."""

import json
import os

import pytest
from click.testing import CliRunner

from rnndyn import study as st
from rnndyn.cli.main import cli
from rnndyn.results import load_result, make_meta

# tiny training: the CLI tests check plumbing, files and messages, not learning
TINY = ["--lengths", "10,12", "--methods", "sgd,sgd-cr", "--inits", "smart-tanh",
        "--seeds", "2", "--updates", "3", "--eval-every", "3", "--eval-size", "40",
        "--n", "6", "--batch-size", "4", "--workers", "0"]
JSON_KEYS = {"folder", "runs_folder", "task", "budget", "lengths", "methods", "inits", "seeds",
             "rows", "n_runs", "n_computed", "n_reused", "n_missing", "seconds", "files"}
FILES = ("clipping-study.npz", "clipping-study.json", "clipping-study.csv",
         "clipping-study.md", "clipping-study.png")


def _invoke(*args):
    return CliRunner().invoke(cli, ["study", *args])


def test_help_names_the_options_and_json_keys():
    res = _invoke("-h")
    assert res.exit_code == 0
    for word in ("--lengths", "--methods", "--inits", "--seeds", "--updates", "--workers",
                 "--collect", "--overwrite", "n_computed", "runs_folder", "rows"):
        assert word in res.output, word


@pytest.mark.parametrize("args, message", [
    (["clipping", "--methods", "sgd,adam"], "unknown method 'adam'"),
    (["clipping", "--inits", "xavier"], "unknown init 'xavier'"),
    (["clipping", "--task", "parity"], "unknown task 'parity'"),
    (["clipping", "--lengths", ""], "'--lengths': '' is not an integer"),
    (["clipping", "--lengths", "20,,50"], "'--lengths': '' is not an integer"),
    (["clipping", "--lengths", "20,fifty"], "'fifty' is not an integer"),
    (["clipping", "--lengths", "5"], "lengths must be >= 10"),
    (["clipping", "--seeds", "0"], "--seeds must be >= 1"),
    (["clipping", "--updates", "0"], "--updates must be >= 1"),
    (["clipping", "--workers", "-1"], "--workers must be >= 0"),
    (["lyapunov"], "unknown study 'lyapunov'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    res = _invoke(*args, "--out", str(tmp_path / "o"))
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert "Traceback" not in res.output
    assert not os.path.exists(tmp_path / "o" / "runs")  # failed before any work


def test_existing_outputs_are_kept_without_overwrite(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "clipping-study.md").write_text("keep me")
    res = _invoke("clipping", *TINY, "--out", str(out))
    assert res.exit_code == 2 and "exists" in res.output and "--overwrite" in res.output
    assert (out / "clipping-study.md").read_text() == "keep me"
    assert not (out / "runs").exists()


def _saved_study(folder):
    specs = st.plan_clipping_study("temporal-order", [10, 20], ["sgd", "sgd-c", "sgd-cr"], ["sigmoid"], 2,
                                   budget=100)
    for s in specs:
        ok = s["method"] == "sgd-cr" or s["length"] == 10
        st.StudyRun(key=st.run_key(s), spec=s, success=ok, updates=40 if ok else 100,
                    final_error_rate=0.0 if ok else 0.6, seconds=0.1,
                    meta=make_meta(s)).save(os.path.join(folder, "runs", st.run_key(s)))
    return specs


def test_collect_aggregates_saved_runs_without_training(tmp_path):
    specs = _saved_study(tmp_path)
    res = _invoke("clipping", "--collect", "--out", str(tmp_path), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) >= JSON_KEYS
    assert doc["n_computed"] == 0 and doc["n_runs"] == len(specs) and doc["budget"] == 100
    assert doc["methods"] == ["sgd", "sgd-c", "sgd-cr"] and doc["lengths"] == [10, 20]
    rate = {(r["method"], r["length"]): r["success_rate"] for r in doc["rows"]}
    assert rate == {("sgd", 10): 1.0, ("sgd", 20): 0.0, ("sgd-c", 10): 1.0,
                    ("sgd-c", 20): 0.0, ("sgd-cr", 10): 1.0, ("sgd-cr", 20): 1.0}
    for name in FILES:
        assert (tmp_path / name).exists(), name
    assert isinstance(load_result(tmp_path / "clipping-study"), st.ClippingStudyResult)
    # the human-readable summary is the markdown table
    res = _invoke("clipping", "--collect", "--out", str(tmp_path), "--overwrite")
    assert res.exit_code == 0
    assert "| sigmoid | sgd-cr | 2/2 (40) | 2/2 (40) |" in res.output


def test_the_figure_command_replots_a_saved_study(tmp_path):
    _saved_study(tmp_path)
    assert _invoke("clipping", "--collect", "--out", str(tmp_path), "--quiet").exit_code == 0
    res = CliRunner().invoke(cli, ["figure", "clipping-study", "--replot", "--out",
                                   str(tmp_path), "--overwrite", "--format", "svg", "--json"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "clipping-study.svg").exists()


def test_study_runs_saves_and_resumes(tmp_path):
    out = tmp_path / "o"
    res = _invoke("clipping", *TINY, "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) >= JSON_KEYS
    assert doc["n_runs"] == 8 and doc["n_computed"] == 8 and doc["n_reused"] == 0
    assert len(doc["rows"]) == 4 and doc["runs_folder"] == str(out / "runs")
    for name in FILES:
        assert (out / name).exists(), name
    runs = st.load_runs(out / "runs")
    assert len(runs) == 8
    # started again: nothing is recomputed; one deleted run is the only one recomputed
    os.unlink(out / "runs" / (runs[0].key + ".json"))
    res = _invoke("clipping", *TINY, "--out", str(out), "--json", "--overwrite")
    doc2 = json.loads(res.stdout)
    assert doc2["n_computed"] == 1 and doc2["n_reused"] == 7
    assert doc2["rows"] == doc["rows"]
    # a different budget in the same folder is refused (it would mix two studies)
    for name in FILES:
        os.unlink(out / name)
    args = [a if a != "3" else "6" for a in TINY]
    res = _invoke("clipping", *args, "--out", str(out))
    assert res.exit_code == 2 and "other settings (budget, options differ)" in res.output


OPTION_OF = {"n_hidden": "--n"}   # the plan's name -> the option that sets it


def _with(args, **changes):
    """TINY with some options replaced (``updates=4`` replaces the value of --updates)."""
    args = list(args)
    for name, value in changes.items():
        i = args.index(OPTION_OF.get(name, "--" + name.replace("_", "-")))
        args[i + 1] = str(value)
    return args


@pytest.mark.parametrize("changes, differs", [
    (dict(updates=4), "budget: 3 saved, 4 now"),
    (dict(lengths="10"), "lengths: 10,12 saved, 10 now"),
    (dict(methods="sgd-cr,sgd"), "methods: sgd,sgd-cr saved, sgd-cr,sgd now"),
    (dict(inits="sigmoid"), "inits: smart-tanh saved, sigmoid now"),
    (dict(seeds=3), "seeds: 0,1 saved, 0,1,2 now"),
    (dict(n_hidden=7), "options.n_hidden: 6 saved, 7 now"),
    (dict(eval_size=41), "options.eval_size: 40 saved, 41 now"),
])
def test_finished_study_with_another_plan_is_refused_naming_what_differs(tmp_path, changes,
                                                                         differs):
    out = tmp_path / "o"
    assert _invoke("clipping", *TINY, "--out", str(out), "--quiet").exit_code == 0
    before = {n: os.stat(out / n).st_mtime_ns for n in FILES}
    res = _invoke("clipping", *_with(TINY, **changes), "--out", str(out))
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: --out {out} holds a finished study with another plan (")
    assert differs in lines[0] and "--overwrite" in lines[0]
    assert lines[0].count(" saved, ") == 1  # only what differs is named
    assert {n: os.stat(out / n).st_mtime_ns for n in FILES} == before


def test_finished_study_rerun_reports_its_table(tmp_path):
    out = tmp_path / "o"
    first = json.loads(_invoke("clipping", *TINY, "--out", str(out), "--json").stdout)
    before = {n: os.stat(out / n).st_mtime_ns for n in FILES}
    res = _invoke("clipping", *TINY, "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["n_computed"] == 0 and doc["n_reused"] == 8 and doc["files"] == []
    assert doc["rows"] == first["rows"] and doc["seconds"] is None
    assert {n: os.stat(out / n).st_mtime_ns for n in FILES} == before
    plan = load_result(out / "clipping-study").meta["plan"]
    assert plan["budget"] == 3 and plan["seeds"] == [0, 1] and plan["options"]["n_hidden"] == 6
    # the table is there but a run is gone: refused (the table would not be this folder's)
    runs = st.load_runs(out / "runs")
    os.unlink(out / "runs" / (runs[0].key + ".json"))
    res = _invoke("clipping", *TINY, "--out", str(out))
    assert res.exit_code == 2 and "1 of its 8 runs are missing" in res.output
    # --overwrite runs this plan: only the missing run is computed, the table replaced
    doc = json.loads(_invoke("clipping", *TINY, "--out", str(out), "--json",
                             "--overwrite").stdout)
    assert doc["n_computed"] == 1 and len(doc["files"]) == len(FILES)


def test_depth_axis_from_the_command_line(tmp_path):
    args = [a if a != "sgd,sgd-cr" else "sgd-c,sgd-cr" for a in TINY]
    res = _invoke("clipping", *args, "--layers", "1,2", "--skip", "none,residual", "--json",
                  "--out", str(tmp_path / "o"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["inits"] == ["smart-tanh", "smart-tanh-2L", "smart-tanh-2L-residual"]
    # 2 lengths x 2 seeds: one layer with both methods, each stack with sgd-c only
    assert doc["n_runs"] == 4 * (2 + 1 + 1)
    rows = {(r["init"], r["method"]): r["n_runs"] for r in doc["rows"] if r["length"] == 10}
    assert rows[("smart-tanh-2L", "sgd-cr")] == 0 and rows[("smart-tanh-2L", "sgd-c")] == 2
    bad = _invoke("clipping", *args, "--skip", "highway")
    assert bad.exit_code == 2 and bad.output.strip().startswith("Error:")
