"""One home for BLAS thread control.

Why: OpenBLAS splits even small products over its threads, and a different
split sums in a different order, so a seeded training run ended at error 0.5
on two BLAS threads and 0.736 on one, and ran 10-40x slower (two threads fight
over 50x50 products in a hot loop). rnndyn therefore runs its hot loops with
BLAS pinned to one thread, whatever the environment says; only the Lyapunov
runs, whose products are large, ask for more explicitly.

threadpoolctl reaches every BLAS in the process (NumPy's and SciPy's bundled
OpenBLAS, MKL, BLIS). Its controller scans the loaded libraries, which costs
tens of milliseconds, so one controller is built on first use and kept.
"""

import contextlib
import ctypes
import glob
import os

#: BLAS threads used by rnndyn's loops unless a call asks for more.
DEFAULT = 1

_CONTROLLER = []


def _controller():
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def refresh():
    """Forget the cached controller (after a BLAS library was loaded later)."""
    _CONTROLLER.clear()


@contextlib.contextmanager
def blas_threads(n=DEFAULT):
    """Run a block with every BLAS library limited to ``n`` threads (restored after).

    ``n=None`` leaves the thread counts alone.
    """
    if n is None:
        yield
        return
    # numpy and scipy load their BLAS on import; make sure both are there before the
    # first scan, so the cached controller sees them. SciPy's OpenBLAS is loaded as a
    # shared library (ctypes, a few ms) rather than by importing scipy.linalg (0.14 s of
    # a one-shot command that may never use SciPy): scipy.linalg, imported later, gets
    # the same, already limited, library.
    import numpy  # noqa: F401
    if not _OPENBLAS:
        _OPENBLAS.append(_scipy_openblas())
    with _controller().limit(limits=int(n), user_api="blas"):
        yield


def pinned(f):
    """Decorator: run ``f`` with BLAS on :data:`DEFAULT` threads (reproducible, fast)."""
    import functools

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        with blas_threads(DEFAULT):
            return f(*args, **kwargs)
    return wrapper


def current():
    """{library internal_api: num_threads} of the BLAS libraries now loaded."""
    return {f"{m['internal_api']}:{m['prefix']}": m["num_threads"]
            for m in _controller().info() if m["user_api"] == "blas"}


# ---------------------------------------------------------------- SciPy's OpenBLAS

def _scipy_openblas():
    """ctypes handle of SciPy's bundled OpenBLAS, or None (e.g. a system BLAS build)."""
    try:
        import scipy
        libdir = os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs")
        for path in sorted(glob.glob(os.path.join(libdir, "libscipy_openblas*"))):
            lib = ctypes.CDLL(path)
            if hasattr(lib, "scipy_openblas_set_num_threads"):
                return lib
    except (ImportError, OSError):
        pass
    return None


_OPENBLAS = []


@contextlib.contextmanager
def scipy_openblas_threads(n):
    """Run a block with SciPy's OpenBLAS limited to ``n`` threads (restored after).

    Without a bundled OpenBLAS (other SciPy builds) this does nothing.
    """
    if not _OPENBLAS:
        _OPENBLAS.append(_scipy_openblas())
    lib = _OPENBLAS[0]
    if lib is None or n is None:
        yield
        return
    old = lib.scipy_openblas_get_num_threads()
    lib.scipy_openblas_set_num_threads(int(n))
    try:
        yield
    finally:
        lib.scipy_openblas_set_num_threads(old)
