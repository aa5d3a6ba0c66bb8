"""The only place that imports ``numba.njit``: every kernel is compiled with
the flags from :mod:`rnndyn.config`.

``cache=True`` needs kernels whose arguments are arrays, scalars and integer
codes only: a jitted function passed as an argument never hits the cache.
"""

from numba import njit, prange  # noqa: F401  (prange re-exported for kernels)

from rnndyn import config


def jit(fn=None, *, parallel=False, inline="never"):
    """Compile ``fn`` with the project's numba flags.

    Use ``parallel=True`` only for a kernel whose outermost loop is a
    ``prange`` over independent items (grid points, initial states), each
    writing its own output row.
    """
    options = dict(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH,
                   nogil=True, error_model="numpy", inline=inline)
    if parallel:
        options["parallel"] = True

    def wrap(f):
        return njit(**options)(f)

    return wrap if fn is None else wrap(fn)
