"""Every result says which network, x0 and inputs it came from, and its JSON is enough
to recompute it (issue 9 §3)."""

import json
import shlex

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn.cli.main import cli
from rnndyn.models import load_weights, make_rnn

COMMANDS = {
    "lyapunov": ["lyapunov", "--n", "6", "--steps", "60", "--transient", "10", "--seed", "3"],
    "basins": ["basins", "--n", "2", "--grid", "12", "--max-steps", "200", "--seed", "1"],
    "fixedpoints": ["fixedpoints", "--n", "3", "--gain", "2", "--seed", "2"],
    "spectrum": ["spectrum", "--n", "8", "--init", "orthogonal", "--gain", "0.9",
                 "--seed", "4"],
}


def _run(args):
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def _meta(folder, stem):
    with open(folder / f"{stem}.json") as f:
        return json.load(f)["fields"]["meta"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_result_records_network_and_command(tmp_path, name):
    args = COMMANDS[name] + ["--out", str(tmp_path), "--quiet"]
    _run(args)
    prov = _meta(tmp_path, name)["provenance"]
    net = prov["network"]
    assert prov["command"] == shlex.join(["rnndyn", *args])
    assert prov["rnndyn_version"]
    for key in ("init", "n", "gain", "seed", "N", "M", "activation", "form"):
        assert key in net
    # the network itself is saved beside the result and reads back as --weights
    saved = load_weights(tmp_path / net["saved"])
    expect = make_rnn(net["n"], init=net["init"], gain=net["gain"], seed=net["seed"])
    np.testing.assert_array_equal(saved.W, expect.W)


@pytest.mark.parametrize("name", ["lyapunov", "basins"])
def test_json_is_enough_to_recompute(tmp_path, name):
    first, second = tmp_path / "a", tmp_path / "b"
    _run(COMMANDS[name] + ["--out", str(first), "--quiet"])
    args = shlex.split(_meta(first, name)["provenance"]["command"])[1:]
    args[args.index("--out") + 1] = str(second)
    _run(args)
    with np.load(first / f"{name}.npz") as a, np.load(second / f"{name}.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_x0_and_inputs_are_recorded(tmp_path):
    _run(["lyapunov", "--n", "4", "--n-inputs", "2", "--inputs", "gaussian", "--steps", "30",
          "--transient", "5", "--x0", "random", "--out", str(tmp_path), "--quiet"])
    prov = _meta(tmp_path, "lyapunov")["provenance"]
    assert prov["x0"]["kind"] == "random" and len(prov["x0"]["values"]) == 4
    assert prov["inputs"]["kind"] == "gaussian" and prov["inputs"]["M"] == 2


def test_weights_file_is_recorded_with_its_hash(tmp_path):
    _run(["weights", "--init", "smart-tanh", "--n", "10", "--out", str(tmp_path / "w")])
    wfile = tmp_path / "w" / "weights.npz"
    _run(["spectrum", "--weights", str(wfile), "--out", str(tmp_path / "s"), "--quiet"])
    net = _meta(tmp_path / "s", "spectrum")["provenance"]["network"]
    from rnndyn.io import file_sha256
    assert net["weights"] == str(wfile) and net["sha256"] == file_sha256(wfile)


def test_weights_command_matches_make_rnn(tmp_path):
    res = _run(["weights", "--init", "gaussian", "--n", "7", "--gain", "1.5", "--seed", "9",
                "--out", str(tmp_path), "--json"])
    payload = json.loads(res.output)
    assert payload["N"] == 7 and payload["files"]
    rnn = load_weights(tmp_path / "weights.npz")
    np.testing.assert_array_equal(rnn.W, make_rnn(7, gain=1.5, seed=9).W)


def test_weights_without_out_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _run(["weights", "--n", "5", "--json"])
    assert json.loads(res.output)["files"] == []
    assert list(tmp_path.iterdir()) == []


def test_weights_out_file_as_in_the_issue(tmp_path, monkeypatch):
    # rnndyn weights --init smart-tanh --n 50 --out w.npz, then --weights w.npz
    monkeypatch.chdir(tmp_path)
    _run(["weights", "--init", "smart-tanh", "--n", "50", "--out", "w.npz"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json", "w.npz"]
    np.testing.assert_array_equal(load_weights("w.npz").W,
                                  make_rnn(50, init="smart-tanh").W)
    res = CliRunner().invoke(cli, ["weights", "--n", "5", "--out", "w.npz"])
    assert res.exit_code == 2 and "exists" in res.output
    _run(["gradflow", "--weights", "w.npz", "--steps", "50", "--quiet"])
