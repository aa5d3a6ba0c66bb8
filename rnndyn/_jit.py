"""The only place that imports ``numba.njit``: every kernel is compiled with
the flags from :mod:`rnndyn.config`.

``cache=True`` needs kernels whose arguments are arrays, scalars and integer
codes only: a jitted function passed as an argument never hits the cache.
"""

import glob
import hashlib
import os

from numba import config as _numba_config
from numba import njit, prange  # noqa: F401  (prange re-exported for kernels)

from rnndyn import config

# True when NUMBA_DISABLE_JIT=1: kernels then run as plain Python
JIT_DISABLED = bool(_numba_config.DISABLE_JIT)

_KERNELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kernels")


def _purge_stale_cache(folder=_KERNELS):
    """Drop the kernels' numba cache when any kernel source changed.

    Why: numba stamps a cached function with its own file only. A kernel that calls
    (or inlines) a jitted function from another file keeps its old machine code
    after that file changes, so a cached run computed with stale code and gave
    other numbers than a fresh compile. One stamp over all kernel sources fixes
    that: on a change, every cached kernel is recompiled once. Best effort: an
    unwritable install (site-packages owned by root) keeps its cache, which cannot
    go stale there.
    """
    if JIT_DISABLED or not config.NUMBA_CACHE:
        return
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(folder, "*.py"))):
        with open(path, "rb") as f:
            digest.update(os.path.basename(path).encode() + b"\0" + f.read())
    stamp = digest.hexdigest()
    cache = (os.path.join(_numba_config.CACHE_DIR, _user_cache_subpath(folder))
             if _numba_config.CACHE_DIR else os.path.join(folder, "__pycache__"))
    stamp_file = os.path.join(cache, "rnndyn-kernels.stamp")
    try:
        with open(stamp_file) as f:
            if f.read().strip() == stamp:
                return
    except OSError:
        pass
    try:
        os.makedirs(cache, exist_ok=True)
        for old in glob.glob(os.path.join(cache, "*.nbi")) + glob.glob(os.path.join(cache, "*.nbc")):
            try:
                os.unlink(old)
            except FileNotFoundError:  # another process purged it first
                pass
        tmp = f"{stamp_file}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(stamp + "\n")
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
