"""Ctrl-C stops a long numba kernel within about a second and leaves no output (issue 10)."""

import os
import signal
import subprocess
import sys
import time

import pytest

LONG = ["surface", "--w", "5", "--b=-3:-2:21", "--path-steps", "10", "--steps", "1000000000",
        "--quiet"]


@pytest.mark.slow
def test_sigint_stops_a_long_kernel_quickly(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", "from rnndyn.cli.main import cli; cli()",
                             *LONG, "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)   # not the checkout: its rnndyn/ has no cli/
    time.sleep(6.0)           # compile (or load) the kernels and enter the long loop
    assert proc.poll() is None, proc.communicate()
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    waited = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert waited < 2.0, f"took {waited:.2f} s to stop"
    assert "Interrupted" in err
    assert not out.exists() or not any(os.scandir(out))


def test_keyboard_interrupt_in_the_main_thread_discards_writes_in_flight(tmp_path):
    from rnndyn import io
    started = []

    def write(f):
        started.append(1)
        f.write(b"x")
        io.discard_pending_writes()      # what Ctrl-C does while this write is in flight
        assert not list(tmp_path.glob(".tmp-*"))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.atomic_write(tmp_path / "a.bin", write)
    assert started and not list(tmp_path.iterdir())
