"""Validation at the public boundary: coerce, check, and say what was wrong.

Every message names the argument, so the CLI can show it as one line.
"""

import numbers

import numpy as np


class InputError(ValueError, TypeError):
    """Bad input from the user: a wrong value, type, shape, file or output path.

    The one error type the library raises for input it cannot use; the message names
    the argument. The CLI turns it (and only it) into one line ``Error: …`` and exit
    status 2; any other exception is a bug in rnndyn and shows as one. It subclasses
    ValueError and TypeError so ``except ValueError`` in user code keeps working.
    """


class OutputExistsError(InputError, FileExistsError):
    """An output file exists and overwriting was not asked for."""


def as_array(value, name, *, ndim=None, shape=None, finite=True, allow_empty=True):
    """Return ``value`` as a C-contiguous float64 array, or raise.

    Parameters
    ----------
    value : array_like
        What the caller passed.
    name : str
        The argument's name, used in error messages.
    ndim : int, optional
        Required number of dimensions.
    shape : tuple, optional
        Required shape; ``None`` entries match any length.
    finite : bool
        Reject NaN and infinity.
    allow_empty : bool
        Accept arrays with zero elements.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise InputError(f"{name} must be an array of numbers, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"{name} must be an array of numbers ({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise InputError(f"{name} must be real, got complex values")
    # np.asarray with order='C' keeps 0-d arrays 0-d (ascontiguousarray makes them 1-d)
    arr = np.asarray(arr, dtype=np.float64, order="C")
    if ndim is not None and arr.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise InputError(f"{name} must have shape {want}, got {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise InputError(f"{name} must not be empty")
    if finite and arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return arr


def as_int(value, name, *, minimum=None, maximum=None):
    """Return ``value`` as a Python int within [minimum, maximum], or raise."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise InputError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be <= {maximum}, got {value}")
    return value


def as_float(value, name, *, minimum=None, maximum=None, finite=True,
             strict_minimum=False):
    """Return ``value`` as a Python float, or raise."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise InputError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if finite and not np.isfinite(value):
        raise InputError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict_minimum and not value > minimum:
            raise InputError(f"{name} must be > {minimum}, got {value}")
        if not strict_minimum and value < minimum:
            raise InputError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be <= {maximum}, got {value}")
    return value


def as_choice(value, name, choices):
    """Return ``value`` (a str, case-folded) if it is one of ``choices``, or raise."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, one of {', '.join(choices)}; got {value!r}")
    key = value.strip().lower()
    if key not in choices:
        raise InputError(f"unknown {name} {value!r}; expected one of: {', '.join(choices)}")
    return key


def as_rng(seed):
    """A ``numpy.random.Generator`` from a seed, a Generator, or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(as_int(seed, "seed", minimum=0))
