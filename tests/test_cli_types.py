"""The CLI's option types, and the rule that only bad input is a one-line error."""

import click
import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn import InputError
from rnndyn.cli import types
from rnndyn.cli.main import cli


@pytest.mark.parametrize("ptype, text, expect", [
    (types.NUMBERS, "1, 2.5,-3", (1.0, 2.5, -3.0)),
    (types.POINT, "5,-2.6", (5.0, -2.6)),
    (types.PAIR, "0,1", (0, 1)),
    (types.INDEX, "3", (3,)),
    (types.SPAN, "-3:3", (-3.0, 3.0)),
    (types.LENGTH, "50", 50),
    (types.LENGTH, "50:200", (50, 200)),
    (types.AutoOrInt(1), "auto", "auto"),
    (types.AutoOrInt(1), "8", 8),
])
def test_converts(ptype, text, expect):
    assert ptype.convert(text, None, None) == expect


def test_grid():
    np.testing.assert_array_equal(types.GRID.convert("1:2:3", None, None), [1.0, 1.5, 2.0])
    np.testing.assert_array_equal(types.GRID.convert("4", None, None), [4.0])


@pytest.mark.parametrize("ptype, text, fragment", [
    (types.NUMBERS, "1,x", "'x' is not a number"),
    (types.NUMBERS, "1,nan", "'nan' is not finite"),
    (types.POINT, "5", "expected 2 value(s)"),
    (types.PAIR, "0,1.5", "'1.5' is not an integer"),
    (types.SPAN, "3:-3", "LOW must be below HIGH"),
    (types.SPAN, "1:2:3", "expected LOW:HIGH"),
    (types.LENGTH, "60:50", "LO must be <= HI"),
    (types.GRID, "1:2", "START:STOP:NUM"),
    (types.GRID, "2:1:3", "START must be below STOP"),
    (types.GRID, "1:2:0", "NUM must be >= 1"),
    (types.AutoOrInt(1), "0", "an integer >= 1"),
])
def test_rejects_with_a_message(ptype, text, fragment):
    with pytest.raises(click.BadParameter, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        ptype.convert(text, None, None)


def test_input_error_is_one_line_exit_2(monkeypatch):
    import rnndyn.spectra
    def bad(*a, **k):
        raise InputError("W: something the user can fix")
    monkeypatch.setattr(rnndyn.spectra, "spectrum", bad)
    res = CliRunner().invoke(cli, ["spectrum", "--n", "3"])
    assert res.exit_code == 2
    assert res.output.strip() == "Error: W: something the user can fix"


def test_any_other_exception_is_a_bug_not_bad_input(monkeypatch):
    import rnndyn.spectra
    def broken(*a, **k):
        raise ValueError("internal: shapes disagree")   # a plain ValueError is a bug
    monkeypatch.setattr(rnndyn.spectra, "spectrum", broken)
    res = CliRunner().invoke(cli, ["spectrum", "--n", "3"])
    assert res.exit_code != 2 and isinstance(res.exception, ValueError)
    assert not isinstance(res.exception, InputError)
