"""The memory budget: requests the machine cannot hold are refused before allocating."""

import pytest

from rnndyn import _memory
from rnndyn._validate import InputError


def test_available_bytes_reads_meminfo():
    avail = _memory.available_bytes()
    assert avail is not None and avail > 0
    with open("/proc/meminfo") as f:
        line = next(l for l in f if l.startswith("MemAvailable:"))
    # the same quantity, read a moment apart
    assert abs(avail - int(line.split()[1]) * 1024) < 0.5 * avail


def test_fallback_to_sysconf(monkeypatch):
    monkeypatch.setattr(_memory, "_meminfo_available", lambda: None)
    avail = _memory.available_bytes()
    assert avail is not None and avail > 0


def test_nothing_measurable_means_no_check(monkeypatch):
    monkeypatch.setattr(_memory, "_meminfo_available", lambda: None)
    monkeypatch.setattr(_memory, "_sysconf_available", lambda: None)
    monkeypatch.delenv(_memory.ENV_LIMIT, raising=False)
    assert _memory.available_bytes() is None
    assert _memory.check_request(10 ** 18, "x") == 10 ** 18


@pytest.mark.parametrize("text, value", [
    ("1024", 1024), ("2K", 2048), ("512M", 512 * 1024 ** 2), ("2G", 2 * 1024 ** 3),
    ("1.5GiB", int(1.5 * 1024 ** 3)), ("3 MB", 3 * 1024 ** 2), ("1T", 1024 ** 4)])
def test_env_limit_caps_what_is_available(monkeypatch, text, value):
    monkeypatch.setattr(_memory, "_meminfo_available", lambda: 10 ** 15)
    monkeypatch.setenv(_memory.ENV_LIMIT, text)
    assert _memory.available_bytes() == value
    assert _memory.budget() == int(value * _memory.SAFETY_FRACTION)


def test_bad_env_limit_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(_memory.ENV_LIMIT, "lots")
    with pytest.raises(InputError, match="RNNDYN_MEMORY_LIMIT='lots' is not a size"):
        _memory.available_bytes()


def test_check_request_message_has_the_numbers(monkeypatch):
    monkeypatch.setattr(_memory, "_meminfo_available", lambda: 10 ** 15)
    monkeypatch.setenv(_memory.ENV_LIMIT, str(int(23.1 * 1024 ** 3)))
    nbytes = 8 * 100_000 ** 2
    with pytest.raises(InputError) as info:
        _memory.check_request(nbytes, "--n 100000")
    assert str(info.value).startswith("--n 100000: needs 74.5 GiB, 23.1 GiB available")
    # within the budget: accepted, returned
    assert _memory.check_request(2 ** 20, "--n 10") == 2 ** 20
    # the safety fraction is what decides
    limit = 23.1 * 1024 ** 3
    assert _memory.check_request(int(limit * _memory.SAFETY_FRACTION) - 1, "x") > 0
    with pytest.raises(InputError):
        _memory.check_request(int(limit * _memory.SAFETY_FRACTION) + 1024, "x")


@pytest.mark.parametrize("n, text", [
    (0, "0 B"), (800, "800 B"), (2048, "2.0 KiB"), (74.5 * 1024 ** 3, "74.5 GiB"),
    (312 * 1024 ** 2, "312 MiB"), (16 * 1024 ** 4, "16.0 TiB")])
def test_format_bytes(n, text):
    assert _memory.format_bytes(n) == text


def test_array_bytes_does_not_overflow():
    assert _memory.array_bytes(10 ** 10, 10 ** 10) == 8 * 10 ** 20
    assert _memory.array_bytes(3, 4, itemsize=4) == 48
    assert _memory.array_bytes(5, 0) == 0


def test_make_rnn_and_the_cli_refuse_early(monkeypatch):
    from click.testing import CliRunner
    from rnndyn.cli.main import cli
    from rnndyn.models import make_rnn
    monkeypatch.setenv(_memory.ENV_LIMIT, "64M")
    make_rnn(500)                      # 2 × 2 MB: fits
    want = r"n=2000 units and n_inputs=10 inputs: needs 61\.4 MiB, 64\.0 MiB available"
    with pytest.raises(InputError, match=want):
        make_rnn(2000, n_inputs=10)
    res = CliRunner().invoke(cli, ["spectrum", "--n", "5000"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "5000" in lines[0]
