"""Memory budget: refuse a request the machine cannot hold, before allocating it.

A request that does not fit would otherwise end in a ``MemoryError`` traceback, or
worse, in the machine swapping or the kernel's OOM killer stopping the process.
:func:`check_request` compares the bytes a request needs with what is available and
raises :class:`~rnndyn._validate.InputError` with both numbers::

    --n 100000: needs 74.5 GiB, 23.1 GiB available (a request may use at most 50% of it)

What is available is ``MemAvailable`` from ``/proc/meminfo`` (Linux: free memory plus
what the kernel can reclaim, page cache included), or, elsewhere, free physical pages
from ``os.sysconf``. The environment variable ``RNNDYN_MEMORY_LIMIT`` (bytes, or with a
``K``/``M``/``G``/``T`` suffix, powers of 1024) caps it, e.g. on a shared machine or in
tests. A request may use at most :data:`SAFETY_FRACTION` of what is available: the
estimate counts the large arrays only, and the process, NumPy's temporaries and the
other programs on the machine need the rest.
"""

import os

from rnndyn._validate import InputError

#: Fraction of the available memory one request may use.
SAFETY_FRACTION = 0.5
#: Environment variable capping the available memory (bytes; K, M, G, T suffixes).
ENV_LIMIT = "RNNDYN_MEMORY_LIMIT"
# requests up to this many bytes are not checked (see check_request)
SMALL_REQUEST = 1 << 20

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def _parse_size(text):
    """Bytes from '123', '512M', '2G', '1.5GiB'; None if ``text`` is not a size."""
    s = str(text).strip().upper()
    for suffix in ("IB", "B"):
        if s.endswith(suffix) and len(s) > len(suffix) and s[-len(suffix) - 1] in "KMGT":
            s = s[: -len(suffix)]
            break
    unit = s[-1:] if s[-1:] in "KMGT" else ""
    try:
        value = float(s[: len(s) - len(unit)])
    except ValueError:
        return None
    if not value >= 0 or value == float("inf"):
        return None
    return int(value * _UNITS[unit])


def _meminfo_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf_available():
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def available_bytes():
    """Bytes of memory available to a new request (see the module docstring).

    ``MemAvailable`` from ``/proc/meminfo``, else ``os.sysconf`` free pages, capped by
    ``RNNDYN_MEMORY_LIMIT``. If nothing can be measured and no cap is set: ``None``
    (no check is possible; :func:`check_request` then accepts).
    """
    avail = _meminfo_available()
    if avail is None:
        avail = _sysconf_available()
    cap = os.environ.get(ENV_LIMIT)
    if cap:
        limit = _parse_size(cap)
        if limit is None:
            raise InputError(f"{ENV_LIMIT}={cap!r} is not a size (bytes, or 512M, 2G, ...)")
        avail = limit if avail is None else min(avail, limit)
    return avail


def budget():
    """The most bytes one request may use: :data:`SAFETY_FRACTION` × available (or None)."""
    avail = available_bytes()
    return None if avail is None else int(avail * SAFETY_FRACTION)


def format_bytes(n):
    """'74.5 GiB', '312 MiB', '800 B' (powers of 1024)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            break
        n /= 1024
    if unit == "B":
        return f"{int(n)} B"
    return f"{n:.1f} {unit}" if abs(n) < 100 else f"{n:.0f} {unit}"


def array_bytes(*shape, itemsize=8):
    """Bytes of an array of ``shape`` (Python ints: no overflow), float64 by default."""
    total = int(itemsize)
    for s in shape:
        total *= max(int(s), 0)
    return total


def check_request(nbytes, what):
    """Raise InputError unless ``nbytes`` fits the memory budget; return ``nbytes``.

    Parameters
    ----------
    nbytes : int
        The bytes the request will allocate (its large arrays, temporaries included).
    what : str
        The request as the user wrote it, e.g. ``'--n 100000'`` or ``'make_rnn(n=1000000)'``;
        it starts the message.

    Call it before allocating. The message reads
    ``"--n 100000: needs 74.5 GiB, 23.1 GiB available"``.
    """
    nbytes = int(nbytes)
    if nbytes <= SMALL_REQUEST:
        # not what exhausts a machine, and the check sits on per-call paths (a sweep point
        # made four calls, each reading /proc/meminfo)
        return nbytes
    avail = available_bytes()
    if avail is None:
        return nbytes
    if nbytes > avail * SAFETY_FRACTION:
        pct = f"{SAFETY_FRACTION:.0%}"
        raise InputError(f"{what}: needs {format_bytes(nbytes)}, {format_bytes(avail)} available "
                         f"(one request may use at most {pct} of it)")
    return nbytes
