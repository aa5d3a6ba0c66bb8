"""`rnndyn study corpus` and rnndyn.study_corpus: Table 1 on tiny corpora cached here
(a piano roll with a pattern, a small text): the plan, a run equal to train_corpus, the
aggregation over seeds, resuming, the pool, and the CLI's files, JSON and errors."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn import _corpus_run, data
from rnndyn import study_corpus as sc
from rnndyn._validate import InputError
from rnndyn.cli.main import cli
from rnndyn.training_corpus import train_corpus
from test_data import tiny_roll_arrays
from test_data_training import tiny_text_arrays

TINY = dict(budget=20, n_hidden=6, batch_size=4, seq_length=12, eval_every=10)
CLI_TINY = ["--seeds", "2", "--updates", "20", "--n", "6", "--batch-size", "4",
            "--eval-every", "10", "--workers", "0"]


def _numbers(rows):
    """The rows without their wall times (which no two runs share)."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Tiny chorale and text caches in a data folder of their own ($RNNDYN_DATA)."""
    monkeypatch.setenv("RNNDYN_DATA", str(tmp_path / "data"))
    data.write_cache("bach-chorales", tiny_roll_arrays(), {})
    data.write_cache("shakespeare", tiny_text_arrays(), {})
    return tmp_path


def test_plan_is_rows_by_methods_by_seeds():
    specs = sc.plan_corpus_study(["music", "chars-5"], ["sgd", "sgd-cr"], 3, seed=4,
                                 budget=50, lr=0.1)
    assert len(specs) == 12
    assert {s["seed"] for s in specs} == {4, 5, 6}
    five = [s for s in specs if s["row"] == "chars-5"]
    assert all(s["task"] == "chars" and s["ahead"] == 5 for s in five)
    assert all(s["options"] == {"lr": 0.1} for s in specs)
    assert len({_corpus_run.run_key(s) for s in specs}) == 12


@pytest.mark.parametrize("kwargs, message", [
    (dict(rows=["music", "poems"]), "unknown row 'poems'"),
    (dict(rows=[]), "rows: give at least one"),
    (dict(methods=["sgd", "sgd"]), "'sgd' is given twice"),
    (dict(seeds=0), "seeds"),
    (dict(budget=0), "budget"),
    (dict(lr=-1.0), "lr"),
    (dict(momentum=1.5), "momentum"),
    (dict(adam=True), "unknown corpus-study option 'adam'"),
])
def test_bad_plan_is_an_input_error(kwargs, message):
    args = {"rows": ("music",), "methods": ("sgd",), "seeds": 1}
    args.update(kwargs)
    with pytest.raises(InputError, match=message):
        sc.plan_corpus_study(args.pop("rows"), args.pop("methods"), args.pop("seeds"),
                             **args)


def test_a_run_is_train_corpus_and_the_cells_are_its_seeds(caches):
    res = sc.corpus_study(["music", "chars-1"], ["sgd", "sgd-cr"], 2, **TINY)
    assert res.meta["n_computed"] == 8 and res.n_missing == 0
    by = {(r["row"], r["method"]): r for r in res.rows}
    runs = [train_corpus("chars", "sgd-cr", "smart-tanh", ahead=1, n_hidden=6,
                         max_updates=20, seed=s, batch_size=4, seq_length=12,
                         eval_every=10) for s in (0, 1)]
    cell = by[("chars-1", "sgd-cr")]
    tests = [r.test_nll for r in runs]
    assert cell["test_mean"] == pytest.approx(np.mean(tests), rel=1e-15)
    assert cell["test_std"] == pytest.approx(np.std(tests, ddof=1), rel=1e-12)
    assert cell["test_min"] == min(tests) and cell["test_max"] == max(tests)
    assert cell["baseline_nll"] == runs[0].baseline_nll
    assert cell["unit"] == "bits per character" and cell["label"] == "MSGD+CR"
    assert by[("music", "sgd")]["unit"] == "nats per step"
    text = sc.table_markdown(res)
    assert "Bach chorales" in text and "MSGD+CR" in text and "Penn Treebank" in text


def test_a_study_resumes_what_is_missing_and_reuses_the_rest(caches):
    out = caches / "study"
    first = sc.corpus_study(["chars-1"], ["sgd", "sgd-c"], 2, out=out, **TINY)
    runs_dir = out / sc.RUNS_FOLDER
    os.unlink(runs_dir / "chars-1_sgd-c_s1.json")        # as if killed before it finished
    again = sc.corpus_study(["chars-1"], ["sgd", "sgd-c"], 2, out=out, **TINY)
    assert again.meta["n_computed"] == 1 and again.meta["n_reused"] == 3
    assert _numbers(again.rows) == _numbers(first.rows)
    # a run of the same key with other settings is refused, not mixed in
    with pytest.raises(InputError, match="other settings"):
        sc.corpus_study(["chars-1"], ["sgd"], 1, out=out, **dict(TINY, n_hidden=7))


def test_the_pool_gives_the_numbers_of_this_process(caches):
    here = sc.corpus_study(["music"], ["sgd-c"], 2, workers=0, **TINY)
    pool = sc.corpus_study(["music"], ["sgd-c"], 2, workers=2, **TINY)
    assert _numbers(pool.rows) == _numbers(here.rows)


def _invoke(*args):
    return CliRunner().invoke(cli, ["study", "corpus", *map(str, args)])


def test_cli_writes_the_table_and_reports_a_finished_study(caches):
    out = caches / "o"
    res = _invoke(*CLI_TINY, "--rows", "music,chars-5", "--out", out, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["n_runs"] == 12 and doc["n_computed"] == 12 and doc["n_reused"] == 0
    assert doc["corpus_rows"] == ["music", "chars-5"] and doc["seeds"] == [0, 1]
    for name in ("corpus-study.npz", "corpus-study.json", "corpus-study.md",
                 "corpus-study.png"):
        assert (out / name).exists(), name
    assert "Table 1" in (out / "corpus-study.md").read_text()
    again = json.loads(_invoke(*CLI_TINY, "--rows", "music,chars-5", "--out", out,
                               "--json").output)
    assert again["n_computed"] == 0 and again["rows"] == doc["rows"]  # the saved table
    other = _invoke(*CLI_TINY, "--rows", "music", "--out", out)
    assert other.exit_code == 2 and "another plan" in other.output


@pytest.mark.parametrize("args, message", [
    (["--lengths", "10"], "--lengths: option(s) of `study clipping`"),
    (["--inits", "sigmoid,smart-tanh"], "trains one initialisation"),
    (["--rows", "music,poems"], "unknown row 'poems'"),
    (["--seeds", "0"], "seeds"),
])
def test_cli_bad_input_is_one_line_before_any_work(caches, args, message):
    out = caches / "o"
    res = _invoke(*args, "--out", out)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert not out.exists()
