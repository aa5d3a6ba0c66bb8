import json

import numpy as np
import pytest

from rnndyn._validate import InputError
from rnndyn.io import dumps
from rnndyn.results import Result, load_result, make_meta, result_type


@result_type
class DemoResult(Result):
    x: np.ndarray
    rate: float
    label: str
    items: list
    meta: dict


def _demo():
    return DemoResult(x=np.array([1.0, -np.inf, 3.0]), rate=float("-inf"), label="a",
                      items=[{"type": "fold", "b": -2.6556}],
                      meta=make_meta({"n": 3}, seed=7))


def test_roundtrip(tmp_path):
    r = _demo()
    npz, js = r.save(tmp_path / "demo")
    back = load_result(tmp_path / "demo.json")
    assert isinstance(back, DemoResult)
    np.testing.assert_array_equal(back.x, r.x)
    assert back.rate == float("-inf") and back.items == r.items
    assert back.meta["seed"] == 7 and back.meta["params"] == {"n": 3}
    assert "rnndyn_version" in back.meta
    with open(js) as f:
        doc = json.load(f)  # strict JSON: no Infinity tokens
    assert doc["fields"]["rate"] == "-inf"


def test_no_overwrite_without_flag(tmp_path):
    r = _demo()
    r.save(tmp_path / "demo")
    with pytest.raises(FileExistsError, match="overwrite"):
        r.save(tmp_path / "demo")
    r.save(tmp_path / "demo", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.json", "demo.npz"]


def test_results_are_frozen():
    r = _demo()
    with pytest.raises(Exception):
        r.rate = 1.0


def test_dumps_is_strict_json():
    text = dumps({"a": np.float64("nan"), "b": np.arange(3), "c": np.bool_(True)})
    assert json.loads(text) == {"a": None, "b": [0, 1, 2], "c": True}


def test_load_missing(tmp_path):
    with pytest.raises(ValueError, match="result metadata .*nothing.json: no such file"):
        load_result(tmp_path / "nothing")


# ---------------------------------------------------- a result is one unit (issue 10)

def _pair(tmp_path, value):
    return DemoResult(x=np.full(3, float(value)), rate=float(value), label=str(value),
                      items=[], meta={"value": value})


def test_json_records_the_sha256_of_its_npz(tmp_path):
    from rnndyn.io import SHA256_KEY, file_sha256
    npz, js = _pair(tmp_path, 1).save(tmp_path / "r")
    with open(js) as f:
        assert json.load(f)[SHA256_KEY] == file_sha256(npz)


def test_mixed_pair_is_refused(tmp_path):
    import shutil
    stem = tmp_path / "r"
    npz, _ = _pair(tmp_path, 1).save(stem)
    shutil.copyfile(npz, tmp_path / "old.npz")
    _pair(tmp_path, 2).save(stem, overwrite=True)
    assert load_result(stem).rate == 2.0
    shutil.copyfile(tmp_path / "old.npz", npz)          # old data beside new metadata
    want = r"r\.npz: it does not belong to .*r\.json.*mixed or partial"
    with pytest.raises(InputError, match=want):
        load_result(stem)


def test_crash_between_the_two_files_of_an_overwrite_is_refused(tmp_path, monkeypatch):
    import rnndyn.results as results
    stem = tmp_path / "r"
    _pair(tmp_path, 1).save(stem)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt   # the process dies after the new .npz, before the .json
    monkeypatch.setattr(results, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        _pair(tmp_path, 2).save(stem, overwrite=True)
    with pytest.raises(InputError, match="mixed or partial"):
        load_result(stem)


def test_a_json_without_the_hash_still_loads(tmp_path):
    from rnndyn.io import SHA256_KEY
    _, js = _pair(tmp_path, 3).save(tmp_path / "r")
    with open(js) as f:
        doc = json.load(f)
    del doc[SHA256_KEY]
    with open(js, "w") as f:
        json.dump(doc, f)
    assert load_result(tmp_path / "r").rate == 3.0


_WRITER = r"""
import sys
import numpy as np
from rnndyn.results import Result, result_type

@result_type
class KillProbe(Result):
    x: np.ndarray
    meta: dict

stem, i = sys.argv[1], 0
print("ready", flush=True)
while True:
    i += 1
    # a long .json widens the window between the new .npz and its .json
    KillProbe(np.full(1000, float(i)), {"value": i, "pad": [i] * 300_000}).save(
        stem, overwrite=True)
"""


def test_kill_during_overwrite_never_gives_a_mixed_pair(tmp_path):
    """SIGKILL a process that overwrites one result in a loop: what remains loads as a
    consistent pair, or is refused; never new data with old metadata."""
    import signal
    import subprocess
    import sys
    import time
    import rnndyn.results as results

    @result_type
    class KillProbe(Result):
        x: np.ndarray
        meta: dict
    stem = str(tmp_path / "k")
    rng = np.random.default_rng(5)
    outcomes = {"pair": 0, "refused": 0}
    try:
        for _ in range(8):
            proc = subprocess.Popen([sys.executable, "-c", _WRITER, stem],
                                    stdout=subprocess.PIPE, text=True)
            try:
                assert proc.stdout.readline().strip() == "ready"
                time.sleep(float(rng.uniform(0.05, 0.4)))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc.stdout.close()
            try:
                r = load_result(stem)
            except InputError as exc:
                assert "mixed or partial" in str(exc) or "no such file" in str(exc), exc
                outcomes["refused"] += 1
            else:
                assert np.all(r.x == r.meta["value"])
                outcomes["pair"] += 1
    finally:
        results._REGISTRY.pop("KillProbe", None)
    assert sum(outcomes.values()) == 8, outcomes
