"""Result objects: frozen dataclasses of arrays + metadata that save to
``<stem>.npz`` (the arrays) and ``<stem>.json`` (everything else) atomically,
and load back as the same class.

Define one with::

    @result_type
    class GradFlowResult(Result):
        lag: np.ndarray
        rate_per_step: float
        meta: dict

Fields holding ``numpy.ndarray`` go to the ``.npz``; all other fields must be
JSON-able (numbers, strings, bools, None, lists, dicts) and go to the
``.json``. In that file non-finite floats are the strings ``"inf"``,
``"-inf"`` and ``"nan"``, so a reload is exact (``--json`` on stdout writes them
as ``null``: :func:`rnndyn.io.to_jsonable`). The ``.json`` is written last, so a result whose
``.json`` exists is complete.
"""

import dataclasses
import datetime
import json
import os
import platform

import numpy as np

from rnndyn.io import atomic_savez, atomic_write_json, check_target, to_jsonable

_REGISTRY = {}
_NONFINITE = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}


def result_type(cls):
    """Class decorator: make ``cls`` a frozen dataclass and register it for loading."""
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
    _REGISTRY[cls.__name__] = cls
    return cls


def make_meta(params=None, *, seed=None, model=None, **extra):
    """Metadata every result carries: rnndyn version, time, parameters, seed.

    Parameters
    ----------
    params : dict, optional
        The analysis parameters, JSON-able.
    seed : int, optional
    model : rnndyn.models.RNN, optional
        Summarised by :meth:`RNN.describe`.
    """
    from rnndyn import __version__
    import numba
    meta = {
        "rnndyn_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "numpy_version": np.__version__,
        "numba_version": numba.__version__,
        "python_version": platform.python_version(),
        "seed": seed,
        "params": to_jsonable(dict(params or {}), "string"),
    }
    if model is not None:
        meta["model"] = model.describe()
    meta.update(to_jsonable(extra, "string"))
    return meta


def _stem(path):
    path = os.fspath(path)
    for ext in (".npz", ".json"):
        if path.endswith(ext):
            return path[: -len(ext)]
    return path


def _decode(obj):
    if isinstance(obj, dict):
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if isinstance(obj, str) and obj in _NONFINITE:
        return _NONFINITE[obj]
    return obj


class Result:
    """Base class of all result objects (see the module docstring)."""

    def _split(self):
        arrays, fields = {}, {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            else:
                fields[f.name] = value
        return arrays, fields

    def save(self, path, *, overwrite=False):
        """Write ``<stem>.npz`` and ``<stem>.json``; return the two paths.

        ``path`` may end in ``.npz``, ``.json`` or nothing.
        """
        stem = _stem(path)
        npz, js = stem + ".npz", stem + ".json"
        check_target(npz, overwrite)
        check_target(js, overwrite)
        arrays, fields = self._split()
        atomic_savez(npz, arrays, overwrite=overwrite)
        doc = {"type": type(self).__name__, "array_fields": sorted(arrays),
               "fields": fields}
        atomic_write_json(js, doc, overwrite=overwrite)
        return npz, js

    def to_dict(self, arrays=True):
        """All fields as a JSON-able dict (arrays as lists unless ``arrays`` is false)."""
        arrs, fields = self._split()
        out = dict(fields)
        if arrays:
            out.update(arrs)
        return to_jsonable(out)


def load_result(path):
    """Load a result saved by :meth:`Result.save` (give either file or the stem)."""
    stem = _stem(path)
    try:
        with open(stem + ".json") as f:
            doc = json.load(f)
        cls = _REGISTRY.get(doc.get("type"))
        if cls is None:
            _import_result_modules()
            cls = _REGISTRY.get(doc.get("type"))
        if cls is None:
            raise ValueError(f"{stem}.json: unknown result type {doc.get('type')!r}")
        kwargs = {k: _decode(v) for k, v in doc["fields"].items()}
        with np.load(stem + ".npz", allow_pickle=False) as data:
            for name in doc["array_fields"]:
                kwargs[name] = data[name]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot load result {stem}: {exc}") from None
    return cls(**kwargs)


def _import_result_modules():
    """Import the analysis modules so their result types register themselves."""
    import importlib
    import pkgutil
    import rnndyn
    for info in pkgutil.iter_modules(rnndyn.__path__):
        if not info.name.startswith("_"):
            try:
                importlib.import_module(f"rnndyn.{info.name}")
            except ImportError:
                pass
