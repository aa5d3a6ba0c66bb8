"""Sweeps on a real dask.distributed LocalCluster (127.0.0.1): the same Dataset and the
same --json as the local runs, explicit task keys, checkpoints written by the client."""

import json
import os

import pytest
from click.testing import CliRunner

from rnndyn import sweep as sw
from rnndyn.cli.main import cli

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

# N = 20: at N = 4 and 8 gradient_flow's log norms were seen to differ in the last bit
# between processes (its kernel's small BLAS products depend on memory alignment; see
# the rnndyn.sweep docstring); at N = 20 a 10^4-point sweep was identical everywhere
SMALL = dict(fixed={"n": 20}, steps=40, transient=10)
GRID = [("gain", "0.5,1.5,3"), ("input_scale", "0,1")]
MEASURES = ["lyapunov-top", "gradflow-rate", "spectral-radius", "lyapunov-spectrum"]


def _without_provenance(ds):
    """The Dataset minus the provenance (its command line names the executor)."""
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if k != sw.ATTR_PROVENANCE}
    return out


@pytest.fixture(scope="module")
def client():
    # two worker processes, as on a real cluster (the CLI test below starts its own)
    with sw.dask_client(dask_workers=2) as c:
        yield c


def test_cluster_gives_the_local_dataset_bit_for_bit(client, tmp_path):
    plan = sw.plan_sweep(GRID, seeds=2, measures=MEASURES, batch=2, **SMALL)
    local = sw.run_sweep(plan)
    stats = {}
    on_dask = sw.run_sweep(plan, client=client, stats=stats)
    assert stats["n_computed"] == plan["n_tasks"]
    assert _without_provenance(on_dask).identical(_without_provenance(local))
    # the client writes the checkpoints: a second run on the folder computes nothing
    sw.run_sweep(plan, tmp_path, client=client, stats=stats)
    assert stats["n_computed"] == plan["n_tasks"]
    again = sw.run_sweep(plan, tmp_path, client=client, stats=stats)
    assert stats["n_computed"] == 0
    xr = pytest.importorskip("xarray")
    xr.testing.assert_identical(again, local)


def test_cheap_tasks_go_in_chunks_and_each_is_saved(client, tmp_path):
    # 40 one-point tasks of about a millisecond: after the first one-task chunks, the
    # runner sends several tasks per Dask task, and still writes every task's file
    from distributed import get_task_stream
    plan = sw.plan_sweep([("gain", "0.5:3:20")], seeds=2, measures=["spectral-radius"],
                         batch=1, **SMALL)
    local = sw.run_sweep(plan)
    with get_task_stream(client) as stream:
        on_dask = sw.run_sweep(plan, tmp_path, client=client)
    chunks = {t["key"] for t in stream.data if "run_task" in str(t["key"])}
    assert len(chunks) < plan["n_tasks"]
    assert _without_provenance(on_dask).identical(_without_provenance(local))
    saved = [n for n in os.listdir(tmp_path / sw.TASKS_FOLDER) if n.endswith(".npz")]
    assert len(saved) == plan["n_tasks"]


def test_identical_points_in_two_sweeps_are_not_collapsed(client):
    # the same plan twice at once on one client: explicit, unique keys keep both
    plan = sw.plan_sweep([("gain", "1,2")], measures=["spectral-radius"], **SMALL)
    a = sw.run_sweep(plan, client=client)
    b = sw.run_sweep(plan, client=client)
    assert a.identical(b)


def test_workers_run_with_one_numba_and_blas_thread(client):
    def threads():
        import numba
        from rnndyn._runner import limit_numba_threads
        limit_numba_threads()
        return numba.get_num_threads(), os.environ.get("OPENBLAS_NUM_THREADS")
    for n_numba, blas in client.run(threads).values():
        assert n_numba == 1 and blas == "1"


def test_a_local_cluster_made_here_runs_its_workers_without_the_profiler(client):
    import dask
    from rnndyn._runner import LOCAL_CLUSTER_CONFIG

    def config():
        return {k: dask.config.get(k) for k in LOCAL_CLUSTER_CONFIG}
    assert all(c == LOCAL_CLUSTER_CONFIG for c in client.run(config).values())


def test_a_local_cluster_made_here_leaves_this_process_environment_as_it_was():
    # its nannies set OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_, ... in this process's
    # environment to spawn their workers; the processes started afterwards would inherit
    before = dict(os.environ)
    with sw.dask_client(dask_workers=1) as c:
        assert c.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
        assert dict(os.environ) == before
    assert dict(os.environ) == before


def test_chunks_are_sized_by_the_workers_cpu_time(client):
    # the chunk's time is its thread's CPU time: a task that sleeps costs ~nothing
    import time
    from rnndyn._runner import _run_chunk
    results, seconds = client.submit(_run_chunk, time.sleep, [(0.2,), (0.2,)],
                                     pure=False).result()
    assert results == [None, None] and seconds < 0.1


def test_cli_json_is_identical_locally_and_on_a_local_cluster(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "--param", "gain=0.5,2", "--param", "activation=tanh,relu", "--seeds",
            "2", "--measure", "lyapunov-top", "--measure", "gradflow-rate", "--n", "20",
            "--steps", "40", "--transient", "10", "--json", "--quiet"]
    local = CliRunner().invoke(cli, [*args, "--workers", "0"])
    assert local.exit_code == 0, local.output
    on_dask = CliRunner().invoke(cli, [*args, "--dask-workers", "2"])
    assert on_dask.exit_code == 0, on_dask.output
    assert on_dask.stdout == local.stdout
    assert json.loads(local.stdout)["dims"] == ["gain", "activation", "seed"]


def test_unreachable_scheduler_is_one_line_exit_2(monkeypatch):
    from rnndyn import _runner
    monkeypatch.setattr(_runner, "CONNECT_TIMEOUT", 1)
    res = CliRunner().invoke(cli, ["sweep", "--measure", "spectral-radius", "--n", "3",
                                   "--scheduler", "tcp://127.0.0.1:9", "--quiet"])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("Error: --scheduler tcp://127.0.0.1:9: cannot connect")


def test_cli_on_an_existing_scheduler(client, tmp_path):
    args = ["sweep", "--param", "gain=0.5,2", "--measure", "spectral-radius", "--measure",
            "lyapunov-top", "--n", "8", "--steps", "40", "--transient", "10", "--json",
            "--quiet"]
    local = CliRunner().invoke(cli, [*args, "--workers", "0"])
    out = tmp_path / "o"
    remote = CliRunner().invoke(cli, [*args, "--scheduler", client.scheduler.address,
                                      "--out", str(out)])
    assert remote.exit_code == 0, remote.output
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert a["data"] == b["data"] and a["coords"] == b["coords"]
    saved = [n for n in os.listdir(out / sw.TASKS_FOLDER) if n.endswith(".npz")]
    assert len(saved) == b["n_tasks"]
    # the caller's cluster is left running
    assert client.run(os.getpid)
