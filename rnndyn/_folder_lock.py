"""The lock of a folder of task files: one run (sweep or study) at a time.

:func:`folder_lock` holds an exclusive ``flock`` on ``<folder>/.lock`` (which records
the holder's pid) for a run's duration, and the worker processes of the run hold a
shared lock on ``<folder>/.workers.lock`` for their lifetime (taken in their
initializer, :mod:`rnndyn._runner`), so a new run is also refused while workers of
a killed one are still alive. Once held, stale ``.tmp-*`` files are removed.
"""

import contextlib
import os
import threading
import time

from rnndyn._validate import InputError

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: no study lock
    _fcntl = None

LOCK_FILE = ".lock"
WORKERS_LOCK_FILE = ".workers.lock"
# locks this process holds: real path of the folder -> [open lock file, depth]
_HELD = {}
_HELD_GUARD = threading.Lock()


def _flock(f, shared=False, block=False):
    """flock ``f``; False if another open file holds a conflicting lock."""
    flags = _fcntl.LOCK_SH if shared else _fcntl.LOCK_EX
    if not block:
        flags |= _fcntl.LOCK_NB
    try:
        _fcntl.flock(f.fileno(), flags)
    except BlockingIOError:
        return False
    return True


def _lock_owner(f):
    f.seek(0)
    text = f.read().strip()
    return text if text.isdigit() else "unknown"


def clean_stale_temp(folder, endings=None):
    """Remove the ``.tmp-*`` files in ``folder`` (left by a process killed while writing).

    Call it only while holding the folder's :func:`folder_lock`: it cannot tell a
    stale temporary file from another writer's. ``endings`` limits it to temporary
    files of the named outputs (e.g. ``('clipping-study.json', …)``). Returns the
    names removed.
    """
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(folder):
            if name.startswith(".tmp-") and (endings is None or name.endswith(tuple(endings))):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))
                    removed.append(name)
    return removed


@contextlib.contextmanager
def folder_lock(runs_dir, label=None, *, wait_for_workers=5.0):
    """Hold the lock of the task folder ``runs_dir`` (created if missing).

    An exclusive ``flock`` on ``runs_dir/.lock`` (which records this process's
    pid), held until the block ends; re-entrant within a process. Refused with
    :class:`~rnndyn._validate.InputError` when another process holds it, or when
    worker processes of an earlier study still hold ``.workers.lock`` after
    ``wait_for_workers`` seconds (workers of a killed study are exiting). Once
    held, stale ``.tmp-*`` files in ``runs_dir`` are removed. The lock files are
    never deleted (deleting a lock file races with the next locker). Without
    ``fcntl`` (Windows) nothing is locked.

    ``label`` names the folder in the message (the CLI passes ``'--out DIR'``).
    """
    runs_dir = os.fspath(runs_dir)
    label = label or f"runs folder {runs_dir}"
    os.makedirs(runs_dir, exist_ok=True)
    if _fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    key = os.path.realpath(runs_dir)
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
    if held is None:
        f = open(os.path.join(runs_dir, LOCK_FILE), "a+")
        try:
            if not _flock(f):
                raise InputError(f"{label} is in use by another rnndyn study "
                                 f"(pid {_lock_owner(f)})")
            previous = _lock_owner(f)
            with open(os.path.join(runs_dir, WORKERS_LOCK_FILE), "a") as w:
                deadline = time.monotonic() + wait_for_workers
                while not _flock(w):
                    if time.monotonic() > deadline:
                        raise InputError(
                            f"{label} is in use by worker processes of an earlier rnndyn "
                            f"study (pid {previous}) that have not exited; try again "
                            "when they have")
                    time.sleep(0.1)
                # released at once: this study's workers take it shared
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            clean_stale_temp(runs_dir)
        except BaseException:
            f.close()
            raise
        with _HELD_GUARD:
            _HELD[key] = [f, 1]
    try:
        yield
    finally:
        with _HELD_GUARD:
            _HELD[key][1] -= 1
            done = _HELD[key][1] == 0
            if done:
                f = _HELD.pop(key)[0]
        if done:
            f.close()  # closing the last descriptor releases the flock

