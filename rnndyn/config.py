"""Numerical settings shared by the whole library.

Numba flags are read once at import. Environment overrides exist for
debugging, not tuning: ``RNNDYN_NUMBA_CACHE=0`` turns the on-disk cache off,
``RNNDYN_FASTMATH=0`` turns fast-math off.
"""

import os

# fast-math without 'nnan' and 'ninf': those two let LLVM assume no NaN/inf,
# which would silently break the non-finite reporting the toolkit promises.
# Without 'reassoc' too: it lets LLVM vectorise a sum in another order, and the
# vectorised loop runs or not depending on a run-time check of where the arrays lie
# in memory (may they overlap?). The same seeded call then gave results differing in
# the last bit from one call to the next, with the heap's state (gradient_flow at
# N = 8: 32 of 200 repeated calls; 0 of 200 without 'reassoc'). That was the "cold and
# warm numba caches give different numbers" bug of issue 9. Reproducible first: it
# costs up to 40% on the Lanczos loops of gradient_flow, nothing measurable on the
# BLAS-bound kernels (Lyapunov spectra, BPTT).
FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract"})


def _env_flag(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off", "")


NUMBA_CACHE = _env_flag("RNNDYN_NUMBA_CACHE", True)
FASTMATH = set(FASTMATH_FLAGS) if _env_flag("RNNDYN_FASTMATH", True) else False

DTYPE = "float64"

# Named tolerances used by the library itself (tests keep their own in conftest).
SINGULAR_VALUE_RTOL = 1e-10   # power-iteration stopping rule, relative
FIXED_POINT_TOL = 1e-12        # Newton polish, in the residual norm
