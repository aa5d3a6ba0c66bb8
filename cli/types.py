"""The option types of the command line: one parser per kind of value.

Each turns the option's text into what the library takes (numbers, tuples, arrays)
or fails with click's usage error, which the ``rnndyn`` group prints as one line
``Error: Invalid value for '--opt': …`` with exit status 2. The library never sees
a CLI string.
"""

import math

import click


def _number(text, kind):
    text = text.strip()
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{text!r} is not {what}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{text!r} is not finite")
    return value


class Numbers(click.ParamType):
    """``A,B,...``: comma-separated numbers, as a tuple.

    Parameters
    ----------
    kind : {float, int}
    counts : tuple of int, optional
        The numbers of values allowed (``None``: any, at least one).
    """

    def __init__(self, kind=float, counts=None, metavar=None):
        self.kind, self.counts = kind, counts
        self.name = metavar or ("INTS" if kind is int else "NUMBERS")

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            vals = tuple(_number(v, self.kind) for v in str(value).split(","))
        except ValueError as exc:
            self.fail(f"{exc} (expected comma-separated {self.name.lower()})", param, ctx)
        if self.counts is not None and len(vals) not in self.counts:
            want = " or ".join(str(c) for c in self.counts)
            self.fail(f"expected {want} value(s), got {len(vals)} in {value!r}", param, ctx)
        return vals


class Names(click.ParamType):
    """``a,b,c``: comma-separated non-empty words, as a tuple (checked by the library)."""

    name = "A,B,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        items = tuple(s.strip() for s in str(value).split(","))
        if not items or any(not s for s in items):
            self.fail(f"expected comma-separated names, got {value!r}", param, ctx)
        return items


class Span(click.ParamType):
    """``LOW:HIGH`` with LOW < HIGH, as a tuple; with ``single=True`` one number alone
    is also accepted and returned as a number (``--length 50`` or ``50:200``)."""

    def __init__(self, kind=float, single=False):
        self.kind, self.single = kind, single
        self.name = ("L|LO:HI" if single else "LOW:HIGH")

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        parts = value.split(":")
        try:
            nums = [_number(p, self.kind) for p in parts]
        except ValueError as exc:
            self.fail(f"{exc} (expected {self.name})", param, ctx)
        if len(nums) == 1 and self.single:
            return nums[0]
        if len(nums) != 2:
            self.fail(f"expected {self.name}, got {value!r}", param, ctx)
        if self.single and not nums[0] <= nums[1]:
            self.fail(f"LO must be <= HI, got {value!r}", param, ctx)
        if not self.single and not nums[0] < nums[1]:
            self.fail(f"LOW must be below HIGH, got {value!r}", param, ctx)
        return tuple(nums)


class Grid(click.ParamType):
    """``VALUE`` or ``START:STOP:NUM`` (NUM >= 1; START < STOP when NUM > 1), as a
    float64 array."""

    name = "V|START:STOP:NUM"

    def convert(self, value, param, ctx):
        import numpy as np
        if not isinstance(value, str):
            return np.atleast_1d(np.asarray(value, dtype=float))
        parts = value.split(":")
        try:
            if len(parts) == 1:
                return np.array([_number(parts[0], float)])
            if len(parts) != 3:
                raise ValueError(f"expected a value or START:STOP:NUM, got {value!r}")
            start, stop = _number(parts[0], float), _number(parts[1], float)
            num = _number(parts[2], int)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if num < 1:
            self.fail(f"NUM must be >= 1, got {num}", param, ctx)
        if num > 1 and not start < stop:
            self.fail(f"START must be below STOP, got {value!r}", param, ctx)
        return np.linspace(start, stop, num)


class AutoOrInt(click.ParamType):
    """``auto`` or an integer >= ``minimum``."""

    def __init__(self, minimum=1):
        self.minimum = minimum
        self.name = f"auto|INT>={minimum}"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        try:
            number = int(text)
        except ValueError:
            self.fail(f"expected 'auto' or an integer >= {self.minimum}, got {value!r}",
                      param, ctx)
        if number < self.minimum:
            self.fail(f"expected 'auto' or an integer >= {self.minimum}, got {number}",
                      param, ctx)
        return number


class SweepAxis(click.ParamType):
    """``NAME=VALUES``: one axis of a sweep grid (``gain=0.5:3:26``, ``n=50,100``,
    ``activation=tanh,relu``), as ``(name, values)`` (see :func:`rnndyn.sweep.parse_axis`)."""

    name = "NAME=VALUES"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        from rnndyn._validate import InputError
        from rnndyn.sweep import parse_param
        try:
            return parse_param(str(value))
        except InputError as exc:
            self.fail(str(exc), param, ctx)


NUMBERS = Numbers(float)
NAMES = Names()
POINT = Numbers(float, counts=(2,), metavar="W,B")
PAIR = Numbers(int, counts=(2,), metavar="I,J")
INDEX = Numbers(int, counts=(1, 2), metavar="I|I,J")
SPAN = Span(float)
LENGTH = Span(int, single=True)
GRID = Grid()
SWEEP_AXIS = SweepAxis()
