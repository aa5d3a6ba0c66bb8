"""Atomic file output: write to a temporary file in the target folder, then
rename. An existing file is never replaced unless ``overwrite`` is true, and a
crash leaves either the old file or the new one, never half of either."""

import json
import math
import os
import tempfile

import numpy as np


def _umask():
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_target(path, overwrite):
    """Raise FileExistsError if ``path`` exists and ``overwrite`` is false."""
    # lexists: a dangling symlink at the name is an existing file too
    if os.path.lexists(path) and not overwrite:
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
        # mkstemp makes the file 0600; an output should be as readable as any other
        # file the user creates, so apply the umask like open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if not overwrite and os.path.lexists(path):
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


def to_jsonable(obj, nonfinite="null"):
    """Convert NumPy scalars/arrays (recursively) to JSON types.

    Strict JSON has no inf or NaN. With ``nonfinite='null'`` (the default, used for
    every ``--json`` payload) a non-finite float becomes ``null``: numeric arrays stay
    numeric for any JSON reader, and the payload's ``finite`` flags say what was lost.
    With ``nonfinite='string'`` (the ``.json`` beside a result's ``.npz``, which
    :func:`rnndyn.results.load_result` reads back) it becomes ``"inf"``, ``"-inf"``
    or ``"nan"``, so that a reloaded result is exactly the saved one.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, nonfinite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, nonfinite) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), nonfinite)
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if math.isfinite(v):
            return v
        if nonfinite == "null":
            return None
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return obj


def dumps(obj, **kwargs):
    """``json.dumps`` after :func:`to_jsonable` (strict JSON, non-finite as null)."""
    return json.dumps(to_jsonable(obj), allow_nan=False, **kwargs)


def atomic_write_json(path, obj, *, overwrite=False):
    """Write ``obj`` as indented JSON to ``path``, atomically (non-finite as strings)."""
    text = json.dumps(to_jsonable(obj, "string"), allow_nan=False, indent=2) + "\n"
    return atomic_write(path, lambda f: f.write(text), overwrite=overwrite, mode="w")
