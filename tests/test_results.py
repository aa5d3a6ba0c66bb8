import json

import numpy as np
import pytest

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
    with pytest.raises(ValueError, match="cannot load result"):
        load_result(tmp_path / "nothing")
