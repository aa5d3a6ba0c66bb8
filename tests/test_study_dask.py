"""`rnndyn study clipping` on a real dask.distributed LocalCluster (127.0.0.1): the runner
of the sweeps, so the same runs as the local pool, saved by the client, resumable."""

import json
import os

import pytest
from click.testing import CliRunner

from rnndyn import _runner
from rnndyn import study as st
from rnndyn.cli.main import cli

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

# tiny training: the tests check the orchestration, not learning
TINY = dict(budget=3, eval_every=3, eval_size=40, n_hidden=6, batch_size=4)
CLI_TINY = ["--lengths", "10,12", "--methods", "sgd,sgd-cr", "--inits", "smart-tanh",
            "--seeds", "2", "--updates", "3", "--eval-every", "3", "--eval-size", "40",
            "--n", "6", "--batch-size", "4", "--json", "--quiet"]


def _plan():
    return st.plan_clipping_study("temporal-order", [10, 12], ["sgd", "sgd-c"], ["smart-tanh"],
                                  2, seed=3, **{k: v for k, v in TINY.items()})


def _outcomes(runs):
    return [(r.key, r.success, r.updates, r.final_error_rate) for r in runs]


@pytest.fixture(scope="module")
def client():
    with _runner.dask_client(dask_workers=2) as c:
        yield c


def test_cluster_gives_the_local_runs(client, tmp_path):
    specs = _plan()
    local, _ = st.run_study(specs, None, workers=0)
    runs_dir = str(tmp_path / "runs")
    on_dask, n_computed = st.run_study(specs, runs_dir, client=client)
    assert n_computed == len(specs)
    assert _outcomes(on_dask) == _outcomes(local)
    assert all(r.meta["pid"] != os.getpid() for r in on_dask)  # trained on the workers
    # the client saved every run (and its trainer's result); a second call reuses them
    assert len(st.load_runs(runs_dir)) == len(specs)
    assert all(os.path.exists(os.path.join(runs_dir, r.key + ".train.json")) for r in on_dask)
    again, n_computed = st.run_study(specs, runs_dir, client=client)
    assert n_computed == 0 and _outcomes(again) == _outcomes(local)


def test_cli_json_is_identical_locally_and_on_a_local_cluster(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = CliRunner().invoke(cli, ["study", "clipping", *CLI_TINY, "--workers", "0"])
    assert local.exit_code == 0, local.output
    on_dask = CliRunner().invoke(cli, ["study", "clipping", *CLI_TINY, "--dask-workers", "2",
                                       "--out", str(tmp_path / "o")])
    assert on_dask.exit_code == 0, on_dask.output
    a, b = json.loads(local.stdout), json.loads(on_dask.stdout)
    assert a["rows"] == b["rows"] and b["n_computed"] == b["n_runs"] == 8
    runs = tmp_path / "o" / "runs"
    assert not [n for n in os.listdir(runs) if n.endswith(".ckpt.npz")]
    assert len(st.load_runs(str(runs))) == 8


def test_cli_on_an_existing_scheduler_resumes(client, tmp_path):
    out = tmp_path / "o"
    args = ["study", "clipping", *CLI_TINY, "--scheduler", client.scheduler.address,
            "--out", str(out)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    # two runs lost (as a killed study loses its runs in progress): only they are redone
    os.unlink(out / "clipping-study.json")
    gone = sorted(r.key for r in st.load_runs(str(out / "runs")))[:2]
    for key in gone:
        os.unlink(out / "runs" / f"{key}.json")
    second = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert second.exit_code == 0, second.output
    doc = json.loads(second.stdout)
    assert doc["n_computed"] == 2 and doc["n_reused"] == 6
    assert doc["rows"] == json.loads(first.stdout)["rows"]
    assert client.run(os.getpid)  # the caller's cluster is left running


def test_bad_executor_options_are_one_line_exit_2(tmp_path):
    for extra, message in ((["--scheduler", "tcp://127.0.0.1:1", "--dask-workers", "1"],
                            "not both"),
                           (["--dask-workers", "0"], "--dask-workers must be >= 1")):
        res = CliRunner().invoke(cli, ["study", "clipping", *CLI_TINY, *extra,
                                       "--out", str(tmp_path / "o")])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("Error: ") and message in res.output
        assert not (tmp_path / "o").exists()
