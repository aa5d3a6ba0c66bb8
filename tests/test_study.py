"""The clipping study: planning, running and resuming, aggregating, tables, figure."""

import os

import numpy as np
import pytest

from rnndyn import study as st
from rnndyn.results import load_result, make_meta

# A tiny training budget: the tests check the orchestration, not learning.
TINY = dict(budget=3, eval_every=3, eval_size=40, n_hidden=6, batch_size=4)


def _run(spec, success, updates, err=0.0):
    """A StudyRun as a worker would return it (for the aggregation tests), stamped with
    the source stamp of the current code."""
    from rnndyn import _study_run
    from rnndyn._sources import source_stamp
    return st.StudyRun(key=st.run_key(spec), spec=spec, success=success, updates=updates,
                       final_error_rate=err, seconds=0.1,
                       meta=make_meta(spec, source_sha256=source_stamp(_study_run.SOURCES)))


def _tiny_plan(**kw):
    args = dict(task="temporal-order", lengths=[10, 12], methods=["sgd", "sgd-c"],
                inits=["smart-tanh"], n_seeds=2, seed=3)
    args.update(kw)
    opts = dict(TINY)
    budget = opts.pop("budget")
    return st.plan_clipping_study(args.pop("task"), args.pop("lengths"), args.pop("methods"),
                                  args.pop("inits"), args.pop("n_seeds"), budget=budget,
                                  **args, **opts)


def _mtimes(folder):
    """mtime of every finished run file (not .train, checkpoints or temporary files)."""
    return {n: os.stat(os.path.join(folder, n)).st_mtime_ns for n in os.listdir(folder)
            if n.endswith(".json") and "." not in n[:-5]}


# ---------------------------------------------------------------- planning

def test_check_lengths():
    assert st.check_lengths([50, 20, 100]) == [20, 50, 100]
    assert st.check_lengths((30, 10)) == [10, 30]
    for bad, match in (([], "must not be empty"), ([20, "x"], "must be an integer"),
                       ([1], ">= 2"), ([20, 20], "duplicates"), ([2.5], "must be an integer"),
                       ("20,50", "must be a list or tuple")):
        with pytest.raises(ValueError, match=match):
            st.check_lengths(bad)
    with pytest.raises(TypeError, match="lengths"):
        st.check_lengths(20)


def test_plan_is_the_full_grid_with_paired_seeds():
    specs = st.plan_clipping_study("temporal-order", [10, 20, 40], ["sgd", "sgd-c", "sgd-cr"], ["sigmoid", "smart-tanh"], 4, seed=7, budget=100, lr=0.05,
                                   eval_size=None)
    assert len(specs) == 3 * 3 * 2 * 4
    assert len({st.run_key(s) for s in specs}) == len(specs)
    for s in specs:
        assert s["budget"] == 100 and s["options"] == {"lr": 0.05}  # None = trainer default
    seeds = {(s["init"], s["method"], s["length"]): [] for s in specs}
    for s in specs:
        seeds[(s["init"], s["method"], s["length"])].append(s["seed"])
    assert all(v == [7, 8, 9, 10] for v in seeds.values())


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(task="parity"), ValueError, "unknown task"),
    (dict(lengths=[5, 10]), ValueError, "lengths must be >= 10"),
    (dict(methods=["sgd", "adam"]), ValueError, "unknown method"),
    (dict(methods=["sgd", "sgd"]), ValueError, "methods contains duplicates"),
    (dict(inits=["smart-tanh", "xavier"]), ValueError, "unknown init"),
    (dict(inits=[]), ValueError, "inits must not be empty"),
    (dict(inits="sigmoid"), ValueError, "inits must be a list or tuple"),
    (dict(n_seeds=0), ValueError, "n_seeds must be >= 1"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
    (dict(budget=0), ValueError, "budget must be >= 1"),
    (dict(momentum=0.9), TypeError, "unknown training option"),
])
def test_plan_rejects_bad_input(kwargs, exc, match):
    args = dict(task="temporal-order", lengths=[10], methods=["sgd"], inits=["sigmoid"],
                n_seeds=1)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        st.plan_clipping_study(args.pop("task"), args.pop("lengths"), args.pop("methods"),
                               args.pop("inits"), args.pop("n_seeds"), **args)


def test_environment_is_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    from rnndyn import _runner
    with _runner.environment(_runner.WORKER_ENV):
        assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["NUMBA_NUM_THREADS"] == "1"
    assert os.environ["OMP_NUM_THREADS"] == "7" and "NUMBA_NUM_THREADS" not in os.environ


# ---------------------------------------------------------------- aggregating

def _synthetic_runs():
    specs = st.plan_clipping_study("temporal-order", [10, 20], ["sgd", "sgd-cr"], ["sigmoid"], 3,
                                   budget=1000)
    outcome = {  # (method, length) -> per-seed (success, updates)
        ("sgd", 10): [(True, 100), (False, 1000), (True, 300)],
        ("sgd", 20): [(False, 1000)] * 3,
        ("sgd-cr", 10): [(True, 50)] * 3,
        ("sgd-cr", 20): [(True, 400), (True, 600), (False, 1000)],
    }
    runs = [_run(s, *outcome[(s["method"], s["length"])][s["seed"]],
                 err=0.0 if outcome[(s["method"], s["length"])][s["seed"]][0] else 0.5)
            for s in specs]
    return specs, runs


def test_aggregate_counts_rates_and_mean_updates_to_success():
    specs, runs = _synthetic_runs()
    stray = _run(dict(specs[0], length=999), True, 1)  # outside the grid: ignored
    res = st.aggregate(runs + [stray], task="temporal-order", lengths=[10, 20],
                       methods=["sgd", "sgd-cr"], inits=["sigmoid"], seeds=[0, 1, 2],
                       budget=1000)
    assert res.success_rate.shape == (1, 2, 2)
    np.testing.assert_array_equal(res.n_runs, np.full((1, 2, 2), 3.0))
    np.testing.assert_allclose(res.success_rate[0], [[2 / 3, 0.0], [1.0, 2 / 3]])
    assert res.mean_updates[0, 0, 0] == 200.0 and np.isnan(res.mean_updates[0, 0, 1])
    assert res.mean_updates[0, 1, 1] == 500.0
    row = {(r["method"], r["length"]): r for r in res.rows}
    assert row[("sgd", 20)]["mean_updates"] is None and row[("sgd", 20)]["success_rate"] == 0
    assert row[("sgd", 10)]["mean_final_error_rate"] == pytest.approx(0.5 / 3)
    # an unfinished cell has no rate (NaN), not a zero rate
    res = st.aggregate(runs[:3], task="temporal-order", lengths=[10, 20], methods=["sgd"],
                       inits=["sigmoid"], seeds=[0, 1, 2], budget=1000, n_missing=3)
    assert np.isnan(res.success_rate[0, 0, 1]) and res.rows[1]["success_rate"] is None


def test_tables_and_result_roundtrip(tmp_path):
    specs, runs = _synthetic_runs()
    res = st.aggregate(runs, task="temporal-order", lengths=[10, 20], methods=["sgd", "sgd-cr"],
                       inits=["sigmoid"], seeds=[0, 1, 2], budget=1000)
    md = st.table_markdown(res)
    assert "| init | method | L=10 | L=20 |" in md
    assert "| sigmoid | sgd | 2/3 (200) | 0/3 |" in md
    assert "| sigmoid | sgd-cr | 3/3 (50) | 2/3 (500) |" in md
    csv = st.table_csv(res).splitlines()
    assert csv[0] == ",".join(st.CSV_COLUMNS) and len(csv) == 5
    assert "20,sgd,sigmoid,3,0,0.0,,0.5" in csv
    paths = st.save_tables(res, tmp_path / "t")
    with pytest.raises(FileExistsError):
        st.save_tables(res, tmp_path / "t")
    assert all(os.path.exists(p) for p in paths)
    res.save(tmp_path / "study")
    back = load_result(tmp_path / "study")
    assert isinstance(back, st.ClippingStudyResult)
    np.testing.assert_array_equal(back.success_rate, res.success_rate)
    assert back.rows == res.rows and back.methods == ["sgd", "sgd-cr"]


def test_saved_runs_are_reused_only_with_the_same_settings(tmp_path):
    specs, runs = _synthetic_runs()
    for r in runs:
        r.save(tmp_path / r.key)
    assert st.count_finished(specs, str(tmp_path)) == len(specs)
    other = [dict(s, budget=2000) for s in specs]
    with pytest.raises(ValueError, match="other settings .*budget"):
        st.count_finished(other, str(tmp_path))
    assert st.count_finished(other, str(tmp_path), overwrite=True) == 0
    # a run whose .npz is gone is unreadable: an error, or recomputed with overwrite
    os.unlink(tmp_path / (runs[0].key + ".npz"))
    with pytest.raises(ValueError, match="unreadable"):
        st.count_finished(specs, str(tmp_path))
    assert st.count_finished(specs, str(tmp_path), overwrite=True) == len(specs) - 1


def test_collect_study_from_saved_runs(tmp_path):
    specs, runs = _synthetic_runs()
    with pytest.raises(ValueError, match="no study"):
        st.collect_study(tmp_path)
    os.makedirs(tmp_path / "runs")
    with pytest.raises(ValueError, match="no finished run"):
        st.collect_study(tmp_path)
    for r in runs[:-1]:
        r.save(tmp_path / "runs" / r.key)
    res = st.collect_study(tmp_path)
    assert res.lengths.tolist() == [10, 20] and res.methods == ["sgd", "sgd-cr"]
    assert res.n_runs.sum() == len(runs) - 1
    # the last planned run (sgd-cr, L=20, seed 2, a failure) is missing: 2 of 2
    assert res.success_rate[0, 1, 1] == 1.0 and res.n_runs[0, 1, 1] == 2


def test_plot_one_panel_per_init_one_line_per_method():
    from rnndyn.figures import clipping_study as fig_mod
    specs = st.plan_clipping_study("temporal-order", [10, 20], ["sgd", "sgd-cr"], ["sigmoid", "smart-tanh"], 2, budget=50)
    runs = [_run(s, s["method"] == "sgd-cr" or s["length"] == 10, 10) for s in specs]
    res = st.aggregate(runs, task="temporal-order", lengths=[10, 20], methods=["sgd", "sgd-cr"],
                       inits=["sigmoid", "smart-tanh"], seeds=[0, 1], budget=50)
    fig = fig_mod.plot(res)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["sigmoid", "smart-tanh"]
    for ax in axes:
        lines = _method_lines(ax)
        assert len(lines) == 2
        # the lines may be nudged sideways so that coinciding ones stay visible
        np.testing.assert_allclose(lines[0].get_xdata(), [10, 20], atol=1.0)
        np.testing.assert_array_equal(lines[0].get_ydata(), [100.0, 0.0])
        np.testing.assert_array_equal(lines[1].get_ydata(), [100.0, 100.0])
    labels = _legend_texts(fig)
    assert len(labels) == 2 and labels[0].startswith("SGD") and labels[1].startswith("SGD-CR")
    assert "budget 50 updates" in fig.get_suptitle()


def _method_lines(ax):
    """The data line of each method (the line of an errorbar, or a plain line)."""
    if ax.containers:
        return [c.lines[0] for c in ax.containers]
    return ax.get_lines()


def _legend_texts(fig):
    legend = fig.legends[0] if fig.legends else fig.get_axes()[-1].get_legend()
    return [t.get_text() for t in legend.get_texts()]


# ---------------------------------------------------------------- running (real trainer)

def test_in_memory_study_is_seeded():
    a = st.clipping_study("temporal-order", [10], ["sgd-c"], ["smart-tanh"], 2, workers=0, **TINY)
    b = st.clipping_study("temporal-order", [10], ["sgd-c"], ["smart-tanh"], 2, workers=0, **TINY)
    assert a.folder is None and a.meta["n_computed"] == 2
    assert a.n_runs.sum() == 2
    for ra, rb in zip(a.rows, b.rows):
        assert ra == rb


def test_interrupted_study_resumes_without_recomputing(tmp_path):
    specs = _tiny_plan()
    runs_dir = str(tmp_path / "runs")
    calls = []

    def interrupt_after_two(n):
        calls.append(n)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        st.run_study(specs, runs_dir, workers=0, progress=interrupt_after_two)
    first = _mtimes(runs_dir)
    assert len(first) == 2  # both finished runs were saved before the interrupt
    assert not [n for n in os.listdir(runs_dir) if n.endswith(".ckpt.npz")]  # cleaned up
    for stem in first:
        assert os.path.exists(os.path.join(runs_dir, stem[:-5] + ".train.json"))
    runs, n_computed = st.run_study(specs, runs_dir, workers=0)
    assert n_computed == len(specs) - 2 and len(runs) == len(specs)
    after = _mtimes(runs_dir)
    assert all(after[k] == v for k, v in first.items())  # untouched
    assert [r.spec for r in runs] == specs
    assert len({r.meta["source_sha256"] for r in runs}) == 1  # one process, one code version
    # delete two finished runs: exactly those two are computed again
    gone = sorted(after)[:2]
    for name in gone:
        os.unlink(os.path.join(runs_dir, name))
    runs2, n_computed = st.run_study(specs, runs_dir, workers=0)
    assert n_computed == 2
    again = _mtimes(runs_dir)
    assert {k for k in again if again[k] != after.get(k)} == set(gone)
    assert [(r.success, r.updates) for r in runs2] == [(r.success, r.updates) for r in runs]


@pytest.mark.slow
def test_worker_processes_one_thread_each_same_results(tmp_path):
    specs = _tiny_plan()
    out = tmp_path / "study"
    res = st.clipping_study("temporal-order", [10, 12], ["sgd", "sgd-c"], ["smart-tanh"], 2, seed=3,
                            out=out, workers=2, **TINY)
    runs_dir = str(out / "runs")
    runs = st.load_runs(runs_dir)
    assert len(runs) == len(specs) == res.meta["n_computed"]
    assert all(r.meta["pid"] != os.getpid() for r in runs)
    assert all(r.meta["threads"] == {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
               for r in runs)
    # the same runs in this process give the same outcomes (seeded, order-independent)
    local, _ = st.run_study(specs, None, workers=0)
    by_key = {r.key: r for r in runs}
    for r in local:
        assert (r.success, r.updates, r.final_error_rate) == (
            by_key[r.key].success, by_key[r.key].updates, by_key[r.key].final_error_rate)
    # resume through the pool: only the deleted run is computed
    os.unlink(os.path.join(runs_dir, runs[1].key + ".json"))
    before = _mtimes(runs_dir)
    res2 = st.clipping_study("temporal-order", [10, 12], ["sgd", "sgd-c"], ["smart-tanh"], 2, seed=3,
                             out=out, workers=2, **TINY)
    assert res2.meta["n_computed"] == 1 and res2.meta["n_reused"] == len(specs) - 1
    after = _mtimes(runs_dir)
    assert all(after[k] == v for k, v in before.items())
    np.testing.assert_array_equal(res2.success_rate, res.success_rate)


@pytest.mark.slow
def test_killed_cli_study_resumes(tmp_path):
    """SIGKILL the whole process group of a running study, then start it again."""
    import signal
    import subprocess
    import sys
    import time
    out = tmp_path / "o"
    runs_dir = out / "runs"
    args = [sys.executable, "-c", "from rnndyn.cli.main import cli; cli()", "study", "clipping",
            "--lengths", "10,20,30", "--methods", "sgd,sgd-c", "--inits", "smart-tanh",
            "--seeds", "4", "--updates", "200", "--eval-every", "100", "--eval-size", "50",
            "--n", "8", "--workers", "2", "--out", str(out), "--quiet"]
    # cwd outside the checkout: `python -c` puts cwd on sys.path, and the source folder
    # rnndyn/ (which has no cli subpackage) would shadow the installed package
    proc = subprocess.Popen(args, start_new_session=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if runs_dir.exists() and len(_mtimes(runs_dir)) >= 3:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = _mtimes(runs_dir)
    assert 3 <= len(before) < 24, "the study was not caught half-way"
    assert not (out / "clipping-study.json").exists()
    args[-1:] = ["--json"]
    done = subprocess.run(args, capture_output=True, text=True, check=True, cwd=tmp_path)
    import json
    doc = json.loads(done.stdout)
    assert doc["n_computed"] == 24 - len(before) and doc["n_reused"] == len(before)
    after = _mtimes(runs_dir)
    assert len(after) == 24 and all(after[k] == v for k, v in before.items())
    # no checkpoint left, nor a temporary file of a run that was being written at the kill
    assert not [n for n in os.listdir(runs_dir) if n.endswith(".ckpt.npz")]


def test_figure_recipe_collects_a_saved_study(tmp_path):
    from rnndyn.figures import clipping_study as recipe
    from rnndyn.figures import registry
    _, runs = _synthetic_runs()
    for r in runs:
        r.save(tmp_path / "runs" / r.key)
    assert registry.get("clipping-study") is recipe and "seed" in recipe.DEFAULTS
    res = recipe.compute(registry.merge_params(recipe, {"study": str(tmp_path)}))
    assert res.n_runs.sum() == len(runs) and res.budget == 1000
    fig = recipe.plot(res)
    assert len(fig.get_axes()) == 1 and len(_method_lines(fig.get_axes()[0])) == 2


def test_figure_recipe_renders_a_tiny_study(tmp_path):
    from rnndyn.figures import registry
    params = {"lengths": [10], "budget": 4, "eval_every": 2, "eval_size": 20, "n_seeds": 1,
              "workers": 0}
    info = registry.render("clipping-study", tmp_path, params=params)
    assert os.path.exists(info["figure"])
    res = load_result(info["json"])
    assert res.budget == 4 and res.n_runs.sum() == 3 and res.folder is None
    assert not (tmp_path / "runs").exists()  # the recipe's study runs in memory


def test_plan_of_and_plan_differences():
    specs = _tiny_plan()
    plan = st.plan_of(specs)
    assert plan == {"task": "temporal-order", "lengths": [10, 12], "methods": ["sgd", "sgd-c"],
                    "inits": ["smart-tanh"], "seeds": [3, 4], "budget": 3,
                    "options": {k: v for k, v in TINY.items() if k != "budget"}}
    assert st.plan_differences(plan, st.plan_of(_tiny_plan())) == []
    other = st.plan_of(_tiny_plan(lengths=[10, 12, 14], n_seeds=1, lr=0.5))
    assert st.plan_differences(plan, other) == [
        "lengths: 10,12 saved, 10,12,14 now", "seeds: 3,4 saved, 3 now",
        "options.lr: default saved, 0.5 now"]
    # a table saved before meta['plan'] existed: its plan comes from its fields
    _, runs = _synthetic_runs()
    res = st.aggregate(runs, task="temporal-order", lengths=[10, 20], methods=["sgd", "sgd-cr"],
                       inits=["sigmoid"], seeds=[0, 1, 2], budget=1000,
                       params={"options": {"lr": 0.01}})
    assert "plan" not in res.meta
    assert st.plan_of_result(res) == {"task": "temporal-order", "lengths": [10, 20],
                                      "methods": ["sgd", "sgd-cr"], "inits": ["sigmoid"],
                                      "seeds": [0, 1, 2], "budget": 1000,
                                      "options": {"lr": 0.01}}


def test_clipping_study_records_its_plan(tmp_path):
    res = st.clipping_study("temporal-order", [10], ["sgd-c"], ["smart-tanh"], 1, out=tmp_path,
                            workers=0, **TINY)
    assert res.meta["plan"] == st.plan_of(st.plan_clipping_study(
        "temporal-order", [10], ["sgd-c"], ["smart-tanh"], 1, **TINY))
    res.save(tmp_path / "t")
    assert load_result(tmp_path / "t").meta["plan"] == res.meta["plan"]
    assert st.collect_study(tmp_path).meta["plan"] == res.meta["plan"]


# ---------------------------------------------------------------- the depth axis

def test_depth_axis_plans_stacks_beside_one_layer():
    specs = _tiny_plan(methods=["sgd-c", "sgd-cr"], lengths=[10], n_seeds=1,
                       layers=[1, 3], skips=["none", "residual"])
    by = {(s["init"], s["method"]): s for s in specs}
    # one layer keeps its label and spec (no skip); a stack skips sgd-cr (Ω: one layer)
    assert sorted(by) == [("smart-tanh", "sgd-c"), ("smart-tanh", "sgd-cr"),
                          ("smart-tanh-3L", "sgd-c"), ("smart-tanh-3L-residual", "sgd-c")]
    assert "layers" not in by[("smart-tanh", "sgd-c")]
    deep = by[("smart-tanh-3L-residual", "sgd-c")]
    assert (deep["layers"], deep["skip"], deep["model_init"]) == (3, "residual", "smart-tanh")
    assert st.run_key(deep) == "temporal-order_L10_sgd-c_smart-tanh-3L-residual_s3"
    for bad, match in (({"layers": [1, 1]}, "duplicates"), ({"layers": [0]}, ">= 1"),
                       ({"skips": ["highway"]}, "unknown skip")):
        with pytest.raises(ValueError, match=match):
            _tiny_plan(**bad)
    with pytest.raises(ValueError, match="stacks do not train with sgd-cr"):
        _tiny_plan(methods=["sgd-cr"], layers=[2])


def test_a_stacks_run_trains_the_stack():
    from rnndyn._study_run import train_run
    from rnndyn.training import StackTrainResult
    spec = _tiny_plan(methods=["sgd-c"], lengths=[10], n_seeds=1, layers=[2],
                      skips=["dense"])[0]
    res, run = train_run(spec)
    assert isinstance(res, StackTrainResult) and run.updates == TINY["budget"]
    p = res.meta["params"]
    assert (p["layers"], p["hidden"], p["skip"]) == (2, [6, 6], "dense")


def test_depth_figure_draws_a_line_per_model():
    from rnndyn.figures import registry
    recipe = registry.get("depth-clipping-study")
    params = registry.merge_params(recipe, {"lengths": [10], "n_seeds": 1, "budget": 3,
                                            "eval_every": 3, "eval_size": 20,
                                            "workers": 0})
    res = recipe.compute(params)
    assert res.inits == ["smart-tanh", "smart-tanh-3L", "smart-tanh-3L-residual"]
    assert res.methods == ["sgd-c"] and res.n_runs.sum() == 3
    fig = recipe.plot(res)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["1 layer", "3 layers", "3 layers, residual"]
