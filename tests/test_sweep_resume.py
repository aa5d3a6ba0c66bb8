"""A sweep killed with SIGKILL mid-way resumes with the same command, recomputes nothing
that finished, and ends with the Dataset of an uninterrupted run, bit for bit."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rnndyn import sweep as sw

sys.path.insert(0, os.path.dirname(__file__))
import procs  # noqa: E402

CLI = [sys.executable, "-c", "from rnndyn.cli.main import cli; cli()", "sweep"]
# 24 tasks of a few tenths of a second each on one worker: killed long before the end
ARGS = ["--param", "gain=0.5:3:12", "--seeds", "2", "--measure", "lyapunov-spectrum",
        "--measure", "spectral-radius", "--n", "30", "--steps", "3000", "--transient", "50",
        "--workers", "1"]


def _tasks(out):
    folder = os.path.join(out, sw.TASKS_FOLDER)
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if n.startswith("t") and n.endswith(".npz"))


_children = procs.children


def _alive(pid):
    return bool(procs.alive([pid]))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_killed_sweep_resumes_to_the_uninterrupted_dataset(tmp_path):
    out = str(tmp_path / "o")
    proc = subprocess.Popen(CLI + ARGS + ["--quiet", "--out", out], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(_tasks(out)) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no task finished in time"
            time.sleep(0.02)
        kids = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    done = _tasks(out)
    assert 3 <= len(done) < 24, done
    assert not os.path.exists(os.path.join(out, "sweep.nc"))
    # the worker dies with the sweep (PR_SET_PDEATHSIG), so the folder is free again
    deadline = time.monotonic() + 10
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(k) for k in kids)
    res = subprocess.run(CLI + ARGS + ["--json", "--out", out], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["n_reused"] >= len(done) and doc["n_computed"] == 24 - doc["n_reused"]
    resumed = sw.load(out)
    # the uninterrupted run, in this process, from the same plan
    plan = sw.plan_of(resumed)
    fresh = sw.run_sweep(plan, provenance=json.loads(resumed.attrs[sw.ATTR_PROVENANCE]))
    import xarray as xr
    xr.testing.assert_identical(resumed, fresh)
