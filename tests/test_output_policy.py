"""Output policy (issue 9 §2): no --out, no files; JSON nulls; the umask; symlinks."""

import json
import os

import numpy as np
from click.testing import CliRunner

from rnndyn.cli.main import cli
from rnndyn.io import atomic_write, dumps


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_a_loop_of_json_commands_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for g in (0.5, 1, 2):
        res = _run("spectrum", "--n", 8, "--gain", g, "--json")
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["files"] == []
    assert os.listdir(tmp_path) == []


def test_with_out_files_are_written_and_not_replaced(tmp_path):
    res = _run("spectrum", "--n", 8, "--out", tmp_path / "o", "--json")
    assert res.exit_code == 0
    assert sorted(os.path.basename(f) for f in json.loads(res.stdout)["files"]) == [
        "spectrum.json", "spectrum.npz", "spectrum.png", "spectrum.weights.npz"]
    again = _run("spectrum", "--n", 8, "--out", tmp_path / "o")
    assert again.exit_code == 2 and again.output.startswith("Error: ")
    assert "exists" in again.output and len(again.output.strip().splitlines()) == 1


def test_empty_out_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _run("spectrum", "--n", 4, "--out", "")
    assert res.exit_code == 2 and "--out" in res.output and os.listdir(tmp_path) == []


def test_non_finite_numbers_are_null_in_json():
    assert dumps({"a": [1.0, float("inf"), float("nan")], "b": np.float64("-inf")}) == \
        '{"a": [1.0, null, null], "b": null}'


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "f.txt", lambda f: f.write("x"), mode="w")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_a_dangling_symlink_counts_as_existing(tmp_path):
    link = tmp_path / "f.txt"
    os.symlink(tmp_path / "nowhere", link)
    try:
        atomic_write(link, lambda f: f.write("x"), mode="w")
    except FileExistsError:
        pass
    else:
        raise AssertionError("a dangling symlink was replaced without overwrite")
    assert os.path.islink(link)
