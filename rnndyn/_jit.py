"""The only place that imports ``numba.njit``: every kernel is compiled with
the flags from :mod:`rnndyn.config`.

``cache=True`` needs kernels whose arguments are arrays, scalars and integer
codes only: a jitted function passed as an argument never hits the cache.
"""

import glob
import hashlib
import json
import os
import re

from numba import config as _numba_config
from numba import njit, prange  # noqa: F401  (prange re-exported for kernels)

from rnndyn import config

# True when NUMBA_DISABLE_JIT=1: kernels then run as plain Python
JIT_DISABLED = bool(_numba_config.DISABLE_JIT)

_KERNELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kernels")


_IMPORT_FROM = re.compile(r"^\s*from\s+rnndyn\._kernels\.(\w+)\s+import\b", re.M)
_IMPORT_PKG = re.compile(r"^\s*from\s+rnndyn\._kernels\s+import\s+\(?([\w\s,]+)", re.M)


def _build_key():
    """What every kernel is compiled with: the flags (read from the environment at
    import) and the sources of this module, rnndyn.config and rnndyn.codes (the integer
    codes every kernel dispatches on). numba's cache index
    knows none of them: without this, a fastmath change loaded code built with the old
    flags."""
    key = repr((sorted(config.FASTMATH or ()), config.NUMBA_CACHE)).encode()
    codes = os.path.join(os.path.dirname(config.__file__), "codes.py")
    for path in (__file__, config.__file__, codes):
        with open(path, "rb") as f:
            key += b"\0" + f.read()
    return key


def _kernel_stamps(folder):
    """{module: sha256 of its source and of every kernel module it imports, transitively}."""
    sources, deps = {}, {}
    for path in sorted(glob.glob(os.path.join(folder, "*.py"))):
        name = os.path.basename(path)[:-3]
        with open(path, "rb") as f:
            sources[name] = f.read()
        text = sources[name].decode("utf-8", "replace")
        found = set(_IMPORT_FROM.findall(text))
        for group in _IMPORT_PKG.findall(text):
            found.update(w.split()[0] for w in group.split(",") if w.strip())
        deps[name] = found
    stamps = {}
    for name in sources:
        seen, todo = set(), [name]
        while todo:
            m = todo.pop()
            if m in seen or m not in sources:
                continue
            seen.add(m)
            todo.extend(deps[m])
        digest = hashlib.sha256(_build_key())
        for m in sorted(seen):
            digest.update(m.encode() + b"\0" + sources[m] + b"\0")
        stamps[name] = digest.hexdigest()
    return stamps


def _purge_stale_cache(folder=_KERNELS):
    """Drop the numba cache of every kernel module whose source, or the source of a
    kernel module it imports, changed.

    Why: numba stamps a cached function with its own file only. A kernel that calls
    (or inlines) a jitted function from another file keeps its old machine code
    after that file changes, so a cached run computed with stale code and gave
    other numbers than a fresh compile. A stamp per module over its import closure
    fixes that, and an edit of one module (bptt.py) no longer recompiles the others
    (every command's kernels were purged by any kernel edit, 10-15 s of compiling
    for the next command). Best effort: an unwritable install (site-packages owned
    by root) keeps its cache, which cannot go stale there.
    """
    if JIT_DISABLED or not config.NUMBA_CACHE:
        return
    stamps = _kernel_stamps(folder)
    cache = (os.path.join(_numba_config.CACHE_DIR, _user_cache_subpath(folder))
             if _numba_config.CACHE_DIR else os.path.join(folder, "__pycache__"))
    stamp_file = os.path.join(cache, "rnndyn-kernels.stamps.json")
    try:
        with open(stamp_file) as f:
            old = json.load(f)
        if not isinstance(old, dict):
            old = {}
    except (OSError, ValueError):
        old = {}
    stale = [m for m in stamps if old.get(m) != stamps[m]]
    if not stale:
        return
    try:
        os.makedirs(cache, exist_ok=True)
        for m in stale:
            # numba names a module's cache files "<module>.<function>-<line>.py3xx(.n).nb[ic]"
            for ext in ("nbi", "nbc"):
                for path in glob.glob(os.path.join(cache, f"{glob.escape(m)}.*.{ext}")):
                    try:
                        os.unlink(path)
                    except FileNotFoundError:  # another process purged it first
                        pass
        tmp = f"{stamp_file}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(stamps, f, indent=0, sort_keys=True)
        os.replace(tmp, stamp_file)
    except OSError:
        pass


def _user_cache_subpath(folder):
    """The folder inside NUMBA_CACHE_DIR where numba caches the functions of
    ``folder`` (its name + sha1 of its path, as numba's UserProvidedCacheLocator)."""
    folder = os.path.abspath(folder)
    return "_".join([os.path.basename(folder), hashlib.sha1(folder.encode()).hexdigest()])


_purge_stale_cache()


def jit(fn=None, *, parallel=False, inline="never", strict_order=False):
    """Compile ``fn`` with the project's numba flags.

    Use ``parallel=True`` only for a kernel whose outermost loop is a
    ``prange`` over independent items (grid points, initial states), each
    writing its own output row. ``strict_order=True`` drops the reassociation
    and reciprocal flags, for kernels that scale numbers near the ends of the
    float64 range (reordering ``a * tiny * huge * huge`` can overflow).
    """
    fastmath = config.FASTMATH
    if strict_order and fastmath:
        fastmath = set(fastmath) - {"reassoc", "arcp"}
    options = dict(cache=config.NUMBA_CACHE, fastmath=fastmath,
                   nogil=True, error_model="numpy", inline=inline)
    if parallel:
        options["parallel"] = True

    def wrap(f):
        return njit(**options)(f)

    return wrap if fn is None else wrap(fn)
