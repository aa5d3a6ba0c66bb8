"""Source stamps: a resumed sweep or study does not reuse task files computed by other code."""

import os

import numpy as np

from rnndyn import _sources
from rnndyn import study as st
from rnndyn import sweep as sw

SMALL = dict(fixed={"n": 6}, steps=30, transient=5)


def _other_code(monkeypatch, stamp="0123456789abcdef"):
    """Make the code look edited: every source stamp is ``stamp`` (the files' and the
    one this process computes with)."""
    monkeypatch.setattr(_sources, "source_stamp", lambda modules: stamp)
    monkeypatch.setattr(_sources, "process_stamp", lambda modules: stamp)


def test_the_stamps_cover_the_code_that_computes_and_nothing_else():
    points = _sources.closure(("rnndyn._sweep_points",))
    for m in ("rnndyn._sweep_points", "rnndyn.lyapunov", "rnndyn.gradflow", "rnndyn.training",
              "rnndyn._kernels.lyapunov", "rnndyn.models"):
        assert m in points, m
    runs = _sources.closure(("rnndyn._study_run",))
    assert "rnndyn.training" in runs and "rnndyn._kernels.bptt" in runs
    # the planning, the files, the plots and the runner do not change a task's numbers
    for m in ("rnndyn.sweep", "rnndyn.study", "rnndyn._runner", "rnndyn._folder_lock"):
        assert m not in points and m not in runs, m
    stamp = _sources.source_stamp(("rnndyn._sweep_points",))
    assert len(stamp) == 16 and stamp != _sources.source_stamp(("rnndyn._study_run",))


def test_a_sweep_recomputes_the_tasks_of_other_code(tmp_path, monkeypatch, capsys):
    plan = sw.plan_sweep([("gain", "0.5,1.5,2")], measures=["spectral-radius", "lyapunov-top"],
                         **SMALL)
    stats = {}
    first = sw.run_sweep(plan, tmp_path, stats=stats)
    assert stats["n_computed"] == 3 and capsys.readouterr().err == ""
    _other_code(monkeypatch)
    assert sw.count_finished(plan, tmp_path) == 0
    again = sw.run_sweep(plan, tmp_path, stats=stats)
    assert stats["n_computed"] == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3 saved task(s)" in err[0] and "computing them again" in err[0]
    assert again.identical(first)
    sw.run_sweep(plan, tmp_path, stats=stats)  # now stamped with the "new" code: reused
    assert stats["n_computed"] == 0 and capsys.readouterr().err == ""


def test_a_task_file_without_a_stamp_is_recomputed(tmp_path, capsys):
    plan = sw.plan_sweep([("gain", "0.5,1.5")], measures=["spectral-radius"], **SMALL)
    first = sw.run_sweep(plan, tmp_path)
    # a task file as rnndyn wrote them before the stamps
    path = os.path.join(tmp_path, sw.TASKS_FOLDER, "t00000000-00000001.npz")
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != "source_stamp"}
    np.savez(path, **arrays)
    stats = {}
    assert sw.run_sweep(plan, tmp_path, stats=stats).identical(first)
    assert stats["n_computed"] == 1 and "1 saved task(s)" in capsys.readouterr().err


def test_the_cli_says_it_in_one_line_and_quiet_silences_it(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from rnndyn.cli.main import cli
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "--param", "gain=0.5,2", "--measure", "spectral-radius", "--n", "4",
            "--workers", "0", "--out", "o"]
    assert CliRunner().invoke(cli, [*args, "--quiet"]).exit_code == 0
    for name in os.listdir("o"):  # keep the tasks, not the finished sweep
        if name.startswith("sweep."):
            os.unlink(os.path.join("o", name))
    _other_code(monkeypatch)
    res = CliRunner().invoke(cli, [*args, "--json"])
    assert res.exit_code == 0, res.output
    assert [line for line in res.stderr.splitlines() if "source stamp" in line] == [
        f"note: 2 saved task(s) in {os.path.join('o', sw.TASKS_FOLDER)} were computed by "
        "other rnndyn code (their source stamp differs); computing them again"]


def test_a_study_retrains_the_runs_of_other_code(tmp_path, monkeypatch, capsys):
    specs = st.plan_clipping_study("temporal-order", [10], ["sgd", "sgd-c"], ["smart-tanh"], 1,
                                   budget=3, eval_every=3, eval_size=40, n_hidden=6,
                                   batch_size=4)
    runs_dir = str(tmp_path / "runs")
    first, n = st.run_study(specs, runs_dir, workers=0)
    assert n == 2 and capsys.readouterr().err == ""
    _other_code(monkeypatch)
    assert st.count_finished(specs, runs_dir) == 0
    assert st.count_finished(specs, runs_dir, any_code=True) == 2
    again, n = st.run_study(specs, runs_dir, workers=0)
    assert n == 2 and "2 saved task(s)" in capsys.readouterr().err
    assert [r.meta["source_sha256"] for r in again] == ["0123456789abcdef"] * 2
    assert [(r.success, r.updates) for r in again] == [(r.success, r.updates) for r in first]
    assert st.run_study(specs, runs_dir, workers=0)[1] == 0
