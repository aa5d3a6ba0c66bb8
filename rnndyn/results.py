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
import functools
import datetime
import os
import platform

import numpy as np

from rnndyn.io import atomic_write_json, check_target, to_jsonable
from rnndyn._validate import InputError

_REGISTRY = {}
_NONFINITE = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}


# result type -> "module:function" in rnndyn.figures that draws it (imported on use,
# so the library itself never imports matplotlib)
PLOTS = {
    "SpectrumResult": "spectrum:plot_spectrum",
    "GradFlowResult": "gradnorm_lag:plot_single",
    "LyapunovResult": "lyap_convergence:plot",
    "BasinsResult": "basins:plot",
    "FixedPointsResult": "fixedpoints:plot",
    "ContinuationResult": "continuation:plot",
    "BifurcationDiagram": "neuron_bifurcation:plot",
    "TwoParameterDiagram": "neuron_wb_plane:plot",
    "BasinCrossing": "basin_crossing:plot",
    "SurfaceResult": "error_surface:plot",
    "ClippingStudyResult": "clipping_study:plot",
    "TrainResult": "training:plot",
}


def result_type(cls):
    """Class decorator: make ``cls`` a frozen dataclass and register it for loading."""
    # repr=False: the short summary of Result.__repr__, not every array in full
    cls = dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)
    _REGISTRY[cls.__name__] = cls
    return cls


@functools.lru_cache(maxsize=1)
def _numba_version():
    """numba's version from its metadata: importing numba for it cost 0.1 s of every
    one-shot command that runs no kernel."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("numba")
    except PackageNotFoundError:  # pragma: no cover - numba is a dependency
        import numba
        return numba.__version__


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
    meta = {
        "rnndyn_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "numpy_version": np.__version__,
        "numba_version": _numba_version(),
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

        ``path`` may end in ``.npz``, ``.json`` or nothing. The two are one unit: the
        ``.npz`` is written first, then the ``.json``, which records the sha256 of the
        ``.npz`` (key ``npz_sha256``), so :func:`load_result` refuses a pair mixed by an
        interrupted overwrite instead of returning new data with old metadata.
        """
        from rnndyn.io import SHA256_KEY, atomic_savez_sha256
        stem = _stem(path)
        npz, js = stem + ".npz", stem + ".json"
        check_target(npz, overwrite)
        check_target(js, overwrite)
        arrays, fields = self._split()
        _, digest = atomic_savez_sha256(npz, arrays, overwrite=overwrite)
        doc = {"type": type(self).__name__, "array_fields": sorted(arrays),
               SHA256_KEY: digest, "fields": fields}
        atomic_write_json(js, doc, overwrite=overwrite)
        return npz, js

    def __repr__(self):
        """One line: scalars in full, arrays as shape and dtype, containers as sizes."""
        parts = []
        for f in dataclasses.fields(self):
            parts.append(f"{f.name}={_short(getattr(self, f.name))}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def plot(self, **kwargs):
        """Draw this result in the house style; returns a matplotlib Figure.

        matplotlib is imported only here. Keyword arguments go to the figure
        function (``rnndyn.figures.<module>``, see :data:`PLOTS`).
        """
        import importlib
        target = PLOTS.get(type(self).__name__)
        if target is None:
            raise TypeError(f"{type(self).__name__} has no plot")
        module, name = target.split(":")
        draw = getattr(importlib.import_module(f"rnndyn.figures.{module}"), name)
        from rnndyn.figures.style import style_context
        with style_context():
            return draw(self, **kwargs)

    def to_dict(self, arrays=True, meta=True):
        """The fields as a JSON-able dict (non-finite numbers as ``None``): what a
        command's ``--json`` prints, before its own keys (files, provenance).

        Parameters
        ----------
        arrays : bool or collection of str
            Include every array field (as lists), none, or the named ones.
        meta : bool
            Include the ``meta`` field.
        """
        arrs, fields = self._split()
        out = {k: v for k, v in fields.items() if meta or k != "meta"}
        if arrays is True:
            out.update(arrs)
        elif arrays:
            out.update({k: arrs[k] for k in arrays})
        return to_jsonable(out)


def _short(value):
    if isinstance(value, np.ndarray):
        return f"<array {value.shape} {value.dtype}>" if value.size > 4 else \
            np.array2string(value, precision=6, separator=", ")
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, dict):
        return f"{{…{len(value)} keys}}"
    if isinstance(value, (list, tuple)):
        return f"[…{len(value)}]" if len(value) > 4 else repr(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def load_result(path):
    """Load a result saved by :meth:`Result.save` (give either file or the stem).

    Both files are read defensively (:func:`rnndyn.io.read_json`,
    :func:`rnndyn.io.read_npz`); an ``.npz`` whose sha256 differs from the one its
    ``.json`` records (a mixed or partial pair) is refused. Any problem is an InputError
    naming the file.
    """
    from rnndyn import io as _io
    stem = _stem(path)
    js, npz = stem + ".json", stem + ".npz"
    doc = _io.read_json(js, what="result metadata")
    if not (isinstance(doc, dict) and isinstance(doc.get("fields"), dict)
            and isinstance(doc.get("array_fields"), list)
            and all(isinstance(k, str) for k in doc["array_fields"])):
        raise InputError(f"result metadata {js}: not the .json of a saved rnndyn result")
    cls = _REGISTRY.get(doc.get("type"))
    if cls is None:
        _import_result_modules()
        cls = _REGISTRY.get(doc.get("type"))
    if cls is None:
        raise InputError(f"result metadata {js}: unknown result type {doc.get('type')!r}")
    _io.check_npz_sha256(npz, doc, js)
    kwargs = {k: _decode(v) for k, v in doc["fields"].items()}
    names = doc["array_fields"]
    kwargs.update(_io.read_npz(npz, what="result data", keys=names, required_keys=names))
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InputError(f"result {stem}: its files do not make a {cls.__name__} "
                         f"({exc})") from None


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
