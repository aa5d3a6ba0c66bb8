"""Atomic file output: write to a temporary file in the target folder, then
rename. An existing file is never replaced unless ``overwrite`` is true, and a
crash leaves either the old file or the new one, never half of either."""

import json
import os
import tempfile

import numpy as np


def check_target(path, overwrite):
    """Raise FileExistsError if ``path`` exists and ``overwrite`` is false."""
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")


def atomic_write(path, write, *, overwrite=False, mode="wb"):
    """Call ``write(fileobj)`` on a temp file next to ``path``, then rename it.

    Parameters
    ----------
    path : str or os.PathLike
    write : callable
        Receives an open file object.
    overwrite : bool
        Replace an existing ``path``.
    mode : {'wb', 'w'}
    """
    path = os.fspath(path)
    check_target(path, overwrite)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"{path} appeared while writing; not replaced")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_savez(path, arrays, *, overwrite=False):
    """``np.savez_compressed`` of ``arrays`` (a dict) to ``path``, atomically."""
    return atomic_write(path, lambda f: np.savez_compressed(f, **arrays), overwrite=overwrite)


def to_jsonable(obj):
    """Convert NumPy scalars/arrays (recursively) to JSON types.

    Non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"``:
    strict JSON has no such numbers, and hiding them as null would hide them.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return v
    return obj


def dumps(obj, **kwargs):
    """``json.dumps`` after :func:`to_jsonable` (strict JSON)."""
    return json.dumps(to_jsonable(obj), allow_nan=False, **kwargs)


def atomic_write_json(path, obj, *, overwrite=False):
    """Write ``obj`` as indented JSON to ``path``, atomically."""
    text = dumps(obj, indent=2) + "\n"
    return atomic_write(path, lambda f: f.write(text), overwrite=overwrite, mode="w")
