"""The only place that imports ``numba.njit``: every kernel is compiled with
the flags from :mod:`rnndyn.config`.

``cache=True`` needs kernels whose arguments are arrays, scalars and integer
codes only: a jitted function passed as an argument never hits the cache.
"""

from numba import config as _numba_config
from numba import njit, prange  # noqa: F401  (prange re-exported for kernels)

from rnndyn import config

# True when NUMBA_DISABLE_JIT=1: kernels then run as plain Python
JIT_DISABLED = bool(_numba_config.DISABLE_JIT)


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
