"""Processes seen through /proc, for the tests that kill a study or sweep and check that
its workers are gone (Linux only)."""

import os


def state(pid):
    """The /proc state letter of ``pid``, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def children(pid):
    """The pids whose parent is ``pid``."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d))
    return kids


def alive(pids):
    """The pids of ``pids`` still running (a zombie has exited)."""
    return [p for p in pids if state(p) not in (None, "Z")]
