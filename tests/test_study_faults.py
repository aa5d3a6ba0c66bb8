"""Faults of `rnndyn study`: killed studies, two studies on one folder, stale temporary
files, and the output policy (no --out: nothing written)."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from rnndyn import study as st
from rnndyn._validate import InputError
from rnndyn.cli.main import cli

sys.path.insert(0, os.path.dirname(__file__))
import procs  # noqa: E402

TINY = ["--lengths", "10,12", "--methods", "sgd,sgd-cr", "--inits", "smart-tanh",
        "--seeds", "2", "--updates", "3", "--eval-every", "3", "--eval-size", "40",
        "--n", "6", "--batch-size", "4", "--workers", "0"]
TINY_API = dict(budget=3, eval_every=3, eval_size=40, n_hidden=6, batch_size=4)
# a study that keeps two workers busy for a while (killed long before it ends)
BUSY = ["--lengths", "30,40", "--methods", "sgd,sgd-c", "--inits", "smart-tanh",
        "--seeds", "4", "--updates", "1500", "--eval-every", "100", "--eval-size", "50",
        "--n", "8", "--workers", "2", "--quiet"]
CLI = [sys.executable, "-c", "from rnndyn.cli.main import cli; cli()", "study", "clipping"]
linux_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")


def _invoke(*args):
    return CliRunner().invoke(cli, ["study", *args])


def _finished_runs(runs_dir):
    return sorted(n for n in os.listdir(runs_dir) if n.endswith(".json") and "." not in n[:-5]) \
        if os.path.isdir(runs_dir) else []


_state, _children, _alive = procs.state, procs.children, procs.alive


def _wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _hold_lock(runs_dir, pid):
    """Take runs_dir's study lock as another study would (another open file)."""
    os.makedirs(runs_dir, exist_ok=True)
    f = open(os.path.join(runs_dir, st.LOCK_FILE), "a+")
    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    f.seek(0)
    f.truncate()
    f.write(f"{pid}\n")
    f.flush()
    return f


# ---------------------------------------------------------------- the folder lock

def test_second_study_on_a_locked_folder_is_refused_and_its_files_untouched(tmp_path):
    out = tmp_path / "o"
    runs = out / "runs"
    holder = _hold_lock(runs, 4242)
    inflight = runs / ".tmp-abcd1234temporal-order_L10_sgd_smart-tanh_s0.json"
    inflight.write_text("another study's write in flight")
    try:
        res = _invoke("clipping", *TINY, "--out", str(out))
        assert res.exit_code == 2, res.output
        lines = res.output.strip().splitlines()
        assert lines == [f"Error: --out {out} is in use by another rnndyn study (pid 4242)"]
        with pytest.raises(InputError, match=r"^out \S+ is in use by another rnndyn study "
                                             r"\(pid 4242\)$"):
            st.clipping_study("temporal-order", [10], ["sgd"], ["smart-tanh"], 1, out=out,
                              workers=0, **TINY_API)
        assert inflight.exists() and not _finished_runs(runs)
        assert not (out / "clipping-study.json").exists()
    finally:
        holder.close()
    # released: the study runs, and cleans the now stale temporary file
    res = _invoke("clipping", *TINY, "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    assert not inflight.exists() and len(_finished_runs(runs)) == 8
    assert (runs / st.LOCK_FILE).read_text().strip() == str(os.getpid())


def test_lock_is_reentrant_and_released(tmp_path):
    runs = tmp_path / "runs"
    with st.study_lock(runs):
        with st.study_lock(runs):  # the same process: clipping_study inside the CLI
            pass
        with open(runs / st.LOCK_FILE, "a+") as f:  # still held after the inner block
            with pytest.raises(BlockingIOError):
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(runs / st.LOCK_FILE, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # released


def test_workers_of_a_killed_study_still_alive_block_the_folder(tmp_path):
    runs = tmp_path / "runs"
    os.makedirs(runs)
    (runs / st.LOCK_FILE).write_text("777\n")  # the pid of the killed study
    worker = open(runs / st.WORKERS_LOCK_FILE, "a")
    fcntl.flock(worker.fileno(), fcntl.LOCK_SH)  # as a live worker holds it
    stale = runs / ".tmp-zzzz9999x.json"
    stale.write_text("")
    try:
        with pytest.raises(InputError, match=r"worker processes of an earlier rnndyn study "
                                             r"\(pid 777\) that have not exited"):
            with st.study_lock(runs, wait_for_workers=0.2):
                pass
        assert stale.exists()  # not cleaned while a writer may be alive
    finally:
        worker.close()
    with st.study_lock(runs, wait_for_workers=0.2):
        assert not stale.exists()


def test_stale_temporary_files_are_cleaned_on_start_only_ours(tmp_path):
    out = tmp_path / "o"
    (out / "runs").mkdir(parents=True)
    stale = [out / "runs" / ".tmp-k1k1k1k1temporal-order_L12_sgd_smart-tanh_s1.ab12cd34.ckpt.npz",
             out / ".tmp-q2q2q2q2clipping-study.npz"]
    foreign = out / ".tmp-r3r3r3r3notes.txt"  # not a study output: left alone
    for p in stale + [foreign]:
        p.write_bytes(b"partial")
    res = _invoke("clipping", *TINY, "--out", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    assert not any(p.exists() for p in stale) and foreign.exists()
    assert not [n for n in os.listdir(out / "runs") if n.startswith(".tmp-")]


def test_collect_is_refused_while_a_study_runs(tmp_path):
    out = tmp_path / "o"
    holder = _hold_lock(out / "runs", 4343)
    try:
        res = _invoke("clipping", "--collect", "--out", str(out))
        assert res.exit_code == 2
        assert "is in use by another rnndyn study (pid 4343)" in res.output
    finally:
        holder.close()


def test_interrupted_pool_terminates_its_workers(tmp_path):
    import multiprocessing
    specs = st.plan_clipping_study("temporal-order", [10, 12], ["sgd", "sgd-c"], ["smart-tanh"], 3,
                                   **TINY_API)

    def interrupt(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        st.run_study(specs, str(tmp_path / "runs"), workers=2, progress=interrupt)
    # terminated, not left running (the pool's own thread may be reaping them still)
    _wait_until(lambda: not multiprocessing.active_children(), 5, "the workers to exit")
    assert len(_finished_runs(tmp_path / "runs")) >= 1  # what finished is kept
    with st.study_lock(tmp_path / "runs", wait_for_workers=0.5):  # nothing holds the folder
        pass


@linux_proc
def test_two_real_studies_on_one_folder(tmp_path):
    out = tmp_path / "o"
    lock = out / "runs" / st.LOCK_FILE
    proc = subprocess.Popen(CLI + [*BUSY[:-3], "--workers", "0", "--quiet", "--out", str(out)],
                            cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        _wait_until(lambda: lock.exists() and lock.read_text().strip() == str(proc.pid), 60,
                    "the first study to take the lock")
        res = _invoke("clipping", *BUSY, "--out", str(out))
        assert res.exit_code == 2
        assert res.output.strip() == (f"Error: --out {out} is in use by another rnndyn study "
                                      f"(pid {proc.pid})")
        assert proc.poll() is None  # the first study was not disturbed
    finally:
        proc.kill()
        proc.communicate()


# ---------------------------------------------------------------- workers die with the study

def _start_busy_study(tmp_path, out, extra=("--quiet",)):
    proc = subprocess.Popen(CLI + [*BUSY[:-1], *extra, "--out", str(out)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # two workers (and multiprocessing's resource tracker) once a run has finished: the
    # workers are past their initializer and busy with the next runs
    _wait_until(lambda: proc.poll() is not None or (
        _finished_runs(out / "runs") and len(_alive(_children(proc.pid))) >= 3), 90,
        "the study's workers")
    assert proc.poll() is None, proc.communicate()[1]
    return proc, _alive(_children(proc.pid))


@linux_proc
@pytest.mark.slow
@pytest.mark.parametrize("sig, status", [(signal.SIGKILL, -9), (signal.SIGTERM, 143),
                                         (signal.SIGINT, 130)])
def test_workers_exit_when_the_study_process_is_killed(tmp_path, sig, status):
    out = tmp_path / "o"
    # --json: no progress bar, but the messages on stderr
    proc, kids = _start_busy_study(tmp_path, out, ["--quiet"] if sig == signal.SIGKILL
                                   else ["--json"])
    try:
        os.kill(proc.pid, sig)  # the main process only, not its process group
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == status, err
        _wait_until(lambda: not _alive(kids), 5, "the workers to exit")
        if sig != signal.SIGKILL:  # SIGTERM, Ctrl-C: the workers are stopped first
            assert b"Traceback" not in err
            assert err.decode().strip().splitlines()[-1] == (
                f"stopped: the finished runs are kept in {out / 'runs'}; the same command "
                "resumes")
    finally:
        for p in _alive(kids):
            os.kill(p, signal.SIGKILL)
    # the folder is free at once, and the finished runs are all kept (resume loses nothing)
    finished = _finished_runs(out / "runs")
    specs = [s for s in st.plan_clipping_study(
        "temporal-order", [30, 40], ["sgd", "sgd-c"], ["smart-tanh"], 4, budget=1500, n_hidden=8,
        eval_every=100, eval_size=50, lr=0.01, threshold=1.0, alpha=4.0, batch_size=20)
        if st.run_key(s) + ".json" in finished]
    assert specs
    runs, n_computed = st.run_study(specs, str(out / "runs"), workers=0)
    assert n_computed == 0 and len(runs) == len(specs)
    assert not [n for n in os.listdir(out / "runs") if n.startswith(".tmp-")]


@linux_proc
def test_watchdog_fallback_exits_when_the_parent_dies(tmp_path):
    """Without prctl (any other OS), the watchdog thread notices the new parent pid."""
    grandchild = ("import os, time; from rnndyn._runner import die_with_parent; "
                  "die_with_parent(os.getppid(), poll=0.1, use_prctl=False); "
                  "print(os.getpid(), flush=True); time.sleep(60)")
    child = ("import subprocess, sys, time; "
             f"subprocess.Popen([sys.executable, '-c', {grandchild!r}]); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE,
                            cwd=tmp_path)
    try:
        pid = int(proc.stdout.readline())
        assert _state(pid) not in (None, "Z")
        proc.kill()
        proc.wait()
        _wait_until(lambda: not _alive([pid]), 5, "the orphan to exit")
    finally:
        proc.kill()
        proc.stdout.close()


# ---------------------------------------------------------------- output policy

def test_without_out_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _invoke("clipping", *TINY)
    assert res.exit_code == 0, res.output
    assert "nothing is saved" in res.stderr and "--out DIR" in res.stderr
    assert "| smart-tanh | sgd-cr |" in res.stdout
    assert os.listdir(tmp_path) == []
    res = _invoke("clipping", *TINY, "--json")
    doc = json.loads(res.stdout)
    assert doc["folder"] is None and doc["runs_folder"] is None and doc["files"] == []
    assert doc["n_computed"] == doc["n_runs"] == 8
    res = _invoke("clipping", *TINY, "--quiet")
    assert res.exit_code == 0 and res.output == ""
    assert os.listdir(tmp_path) == []


def test_collect_without_out_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _invoke("clipping", "--collect")
    assert res.exit_code == 2
    assert res.output.strip() == ("Error: --collect needs --out DIR, the folder of the study "
                                  "to collect")
    assert os.listdir(tmp_path) == []
