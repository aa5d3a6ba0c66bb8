"""The task runner of sweeps and studies: local processes or Dask, checkpointed, resumable.

A run is a list of independent tasks ``(key, args)``, each computed by
``compute(*args)`` (a module-level function, so that it pickles by name). The same
function runs in this process (``workers=0``), in a local pool of spawned worker
processes with one BLAS and one numba thread each, or on a ``dask.distributed``
cluster (``scheduler``, ``dask_workers`` or ``client``); only the orchestration
differs, so the results do not depend on where a task ran. On Dask, cheap tasks travel
several to a Dask task (:class:`_ChunkSizer`: a Dask task costs the cluster a few
milliseconds), each still saved on its own as its chunk comes back.

With a :class:`Store`, every finished task is written at once by the caller's
``write`` (atomically) in the store's folder, and a run started again reads the
tasks already there instead of computing them. A saved task carries the source
stamp of the code that computed it (:func:`rnndyn._sources.process_stamp`, set by
``compute``); one whose stamp is not that of the code that would compute it now
(:func:`stamp_now`: this process's with ``workers=0``, else the files' as new
workers import them) is computed again, with one line on stderr.
The folder is locked for the run (:func:`rnndyn._folder_lock.folder_lock`).

Worker processes die with the process that started them (Linux:
``PR_SET_PDEATHSIG``; elsewhere a watchdog thread that sees the parent pid
change) and hold the folder's workers lock while they live; SIGTERM to the main
thread raises ``SystemExit(143)`` after stopping them, and Ctrl-C stops them
before the KeyboardInterrupt propagates. On Dask the client cancels the run's
futures; the caller owns an existing cluster.
"""

import contextlib
import dataclasses
import os
import signal
import sys
import threading
import time

from rnndyn import _folder_lock
from rnndyn._validate import InputError, as_int

# Set in the environment of the workers before they import numpy/numba: one
# thread each, so `workers` processes use `workers` cores and no more.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1"}
#: seconds to wait for a --scheduler to answer
CONNECT_TIMEOUT = 10
#: CPU seconds of work a Dask task aims at (:class:`_ChunkSizer`)
DASK_CHUNK_SECONDS = 0.5
#: the dask config of a LocalCluster made here (:func:`dask_client`): its background
#: work, which runs beside the tasks on the same cores, cut to what a sweep uses
LOCAL_CLUSTER_CONFIG = {
    # the statistical profiler samples the task's thread every 10 ms (a few % of a
    # sweep's CPU); the event loops' "blocked loop" check every 1 s, not 20 ms
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    # every server (the scheduler, each nanny, each worker) reads psutil's CPU, memory,
    # network and disk counters every 0.5 s for the dashboard; every 10 s here
    "distributed.admin.system-monitor.interval": "10s",
    "distributed.admin.system-monitor.disk": False,
    # a worker keeps no data to spill (each chunk's small result is released as it comes
    # back), so no spill/pause checks; the nanny still restarts a worker past 95% of its
    # memory, checking every 1 s instead of 0.1 s
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
    "distributed.worker.memory.monitor-interval": "1s",
    # the runner keeps two equal chunks per thread in flight: nothing to steal
    "distributed.scheduler.work-stealing": False,
}


@dataclasses.dataclass(frozen=True)
class Store:
    """Where and how the finished tasks of a run are kept.

    Attributes
    ----------
    folder : str
        The task files' folder (locked during the run).
    read : callable
        ``read(key)`` -> ``(result, stamp)`` of a saved task, or None when there is
        none; ``stamp`` is the saved source stamp (None if the file has none).
    write : callable
        ``write(key, result)``: save a finished task atomically (its result carries
        the stamp of the code that computed it).
    sources : tuple of str
        The modules that compute a task (:func:`rnndyn._sources.source_stamp`).
    """
    folder: str
    read: object
    write: object
    sources: tuple


def stamp_now(store, in_process):
    """The stamp of the code that would compute a missing task now: this process's
    (``in_process``; its imported code) or that of the files (a new worker's)."""
    from rnndyn import _sources
    return (_sources.process_stamp if in_process else _sources.source_stamp)(store.sources)


def saved(store, keys, *, in_process=False):
    """``(results, n_stale)``: the saved tasks of ``keys`` computed by the code that
    would compute them now ({key: result}, see :func:`stamp_now`), and how many others
    were computed by other code."""
    stamp = stamp_now(store, in_process)
    results, stale = {}, 0
    for key in keys:
        found = store.read(key)
        if found is None:
            continue
        if found[1] != stamp:
            stale += 1
            continue
        results[key] = found[0]
    return results, stale


def run(compute, tasks, *, store=None, workers=0, scheduler=None, dask_workers=None,
        client=None, warm=None, progress=None, notice=None, describe=str,
        resume_hint="finished tasks are saved; start the run again to resume", label=None):
    """Run (or resume) ``tasks``; return ``(results, n_computed)``.

    Parameters
    ----------
    compute : callable
        Module-level function; ``compute(*args)`` gives a task's result.
    tasks : list of (str, tuple)
        ``(key, args)`` in the order to start them; keys are unique.
    store : Store, optional
        Saved tasks are reused, finished ones written at once. None: in memory.
    workers : int
        Local worker processes (1 thread each, even for one task: a saved task is
        reused when the code that would compute it now made it, and that is another
        process's or this one's); 0 runs in this process.
    scheduler, dask_workers, client
        Run on a Dask cluster instead: a scheduler address, a LocalCluster of
        this many workers made here, or the caller's ``distributed.Client``.
    warm : tuple, optional
        Arguments of a tiny task each Dask worker runs first (compiles the kernels).
    progress : callable, optional
        ``progress(1)`` after each newly finished task.
    notice : callable, optional
        Takes the one line about stale task files (default: printed on stderr).
    describe : callable
        ``describe(key)`` names a task in the message of a dead worker.
    resume_hint : str
        Said in that message, in parentheses (what is kept, how to resume).
    label : str, optional
        Names the folder in the lock's messages (the CLI passes ``'--out DIR'``).

    Returns
    -------
    results : dict
        {key: result} of every task.
    n_computed : int
        Tasks computed by this call.
    """
    workers = as_int(workers, "workers", minimum=0)
    if sum(x is not None for x in (scheduler, dask_workers, client)) > 1:
        raise InputError("give one of scheduler, dask_workers and client")
    lock = contextlib.nullcontext() if store is None else _folder_lock.folder_lock(
        store.folder, label)
    # in this process, or in new processes (a pool, Dask): it decides which code a
    # saved task must have been computed by to be reused
    in_process = scheduler is None and dask_workers is None and client is None \
        and workers == 0
    with lock:
        results, stale = ({}, 0) if store is None else saved(
            store, [k for k, _ in tasks], in_process=in_process)
        if stale:
            (notice or _stderr)(
                f"note: {stale} saved task(s) in {store.folder} were computed by other "
                "rnndyn code (their source stamp differs); computing them again")
        todo = [(k, a) for k, a in tasks if k not in results]
        advance = progress or (lambda n=1: None)

        def done(key, result):
            if store is not None:
                store.write(key, result)
            results[key] = result
            advance(1)

        if todo and in_process:
            # no SIGTERM handler here: it would wait for the kernel running now
            for key, args in todo:
                done(key, compute(*args))
        elif todo:
            # the main thread waits in Python here, so SIGTERM is handled at once
            with _sigterm_exits():
                if client is not None:
                    _run_dask(compute, todo, done, client, warm)
                elif scheduler is not None or dask_workers is not None:
                    with dask_client(scheduler, dask_workers) as c:
                        _run_dask(compute, todo, done, c, warm)
                else:
                    wl = None if store is None else os.path.join(
                        store.folder, _folder_lock.WORKERS_LOCK_FILE)
                    _run_pool(compute, todo, done, min(workers, len(todo)), wl, describe,
                              resume_hint)
    return results, len(todo)


def _stderr(line):
    print(line, file=sys.stderr, flush=True)


def free_cores():
    """Cores this process may use minus the 1-minute load average (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:  # pragma: no cover
        busy = 0
    return max(1, min(cores, cores - busy))


# ---------------------------------------------------------------- workers

_WORKER_FILES = []  # open files a worker keeps for its lifetime (its shared lock)


def limit_numba_threads():
    """One numba thread in this process (a worker: its numbers do not depend on where
    it ran, and N workers use N cores)."""
    with contextlib.suppress(Exception):
        import numba
        numba.set_num_threads(1)


def _numba_cache_dir():
    """A writable NUMBA_CACHE_DIR for workers, or None when numba's default is writable."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    here = os.path.dirname(os.path.abspath(__file__))
    if os.access(here, os.W_OK):
        return None
    path = os.path.join(os.path.expanduser("~"), ".cache", "rnndyn", "numba")
    os.makedirs(path, exist_ok=True)
    return path


def worker_env():
    """The environment of a worker: :data:`WORKER_ENV` and a writable numba cache."""
    env = dict(WORKER_ENV)
    cache = _numba_cache_dir()
    if cache:
        env["NUMBA_CACHE_DIR"] = cache
    return env


@contextlib.contextmanager
def environment(values=None):
    """Set environment variables (``values``) for the duration of the block; at its end
    the environment is this process's again, whatever the block changed in it."""
    old = dict(os.environ)
    os.environ.update(values or {})
    try:
        yield
    finally:
        for k in set(os.environ) - set(old):
            del os.environ[k]
        for k, v in old.items():
            if os.environ.get(k) != v:
                os.environ[k] = v


def die_with_parent(parent_pid, poll=0.5, use_prctl=True):
    """Make this process exit when ``parent_pid`` (its parent) dies.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, immediate. Everywhere: a daemon
    thread that exits the process once ``os.getppid()`` has changed (the parent
    died and the process was re-parented). Returns True if the prctl was set.
    ``use_prctl=False`` leaves only the watchdog (what other systems get).
    """
    armed = False
    if use_prctl and sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the prctl
        os._exit(1)

    def watch():
        while True:
            time.sleep(poll)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="rnndyn-parent-watch", daemon=True).start()
    return armed


def _worker_init(parent_pid, workers_lock=None):
    """Initializer of each pool worker: die with the parent, hold the workers' lock."""
    die_with_parent(parent_pid)
    if workers_lock is not None and _folder_lock._fcntl is not None:
        f = open(workers_lock, "a")
        _folder_lock._flock(f, shared=True, block=True)
        _WORKER_FILES.append(f)


@contextlib.contextmanager
def _sigterm_exits():
    """In the main thread, SIGTERM raises SystemExit(143) so that cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        # once: a second SIGTERM during the cleanup kills at once (the workers then die
        # with this process all the same)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


# ---------------------------------------------------------------- the local pool

def _run_pool(compute, todo, done, workers, workers_lock, describe, resume_hint):
    """The tasks on a pool of spawned processes; ``done(key, result)`` as each ends."""
    import concurrent.futures as cf
    import multiprocessing
    # spawn, not fork: a forked child would inherit the parent's numba/BLAS thread
    # pools; the worker environment must be set before the child imports numpy, so it
    # is set around the submits, which start the workers.
    ctx = multiprocessing.get_context("spawn")
    pool = None
    try:
        with environment(worker_env()):
            pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                          initializer=_worker_init,
                                          initargs=(os.getpid(), workers_lock))
            futures = {pool.submit(compute, *args): key for key, args in todo}
        for fut in cf.as_completed(futures):
            key = futures[fut]
            try:
                result = fut.result()
            except cf.process.BrokenProcessPool as exc:
                raise RuntimeError(f"a worker process died during {describe(key)} "
                                   f"({resume_hint})") from exc
            done(key, result)
    except BaseException:
        if pool is not None:
            _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _stop_pool(pool, timeout=5.0):
    """Cancel what is queued, terminate the running workers and wait for them.

    ``ProcessPoolExecutor.shutdown`` alone lets the running workers finish their
    tasks (Python 3.14 adds ``terminate_workers``); this reads the pool's private
    ``_processes`` to stop them now.
    """
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            if p.is_alive():
                p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1.0)
    # the pool's manager thread sees its workers gone and exits, releasing the queues
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None and manager is not threading.current_thread():
        manager.join(max(0.5, deadline - time.monotonic()))


# ---------------------------------------------------------------- Dask

@contextlib.contextmanager
def dask_client(scheduler=None, dask_workers=None, *, processes=True):
    """A ``distributed.Client`` on ``scheduler`` or on a new LocalCluster (127.0.0.1).

    The caller owns an existing cluster (its workers must be able to import rnndyn);
    a LocalCluster made here (``dask_workers`` workers, one thread each, one
    BLAS/numba thread each, no worker profiler; ``processes=False``: threads of this
    process, quick to start) is closed at the end.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("Dask is not installed: pip install 'rnndyn[dask]' (or "
                         "'dask[distributed]')") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    import dask
    n = as_int(dask_workers, "dask_workers", minimum=1)
    # the environment reaches worker processes only (threads share this process's)
    extra = {"env": worker_env()} if processes else {}
    # The nannies hand this config to their workers (measured, 2 workers: idle
    # 0.048 -> 0.025 CPU-s/s with the profiler off and the 1 s tick, 0.010 with the
    # rest of LOCAL_CLUSTER_CONFIG). Each nanny sets its pre-spawn environment
    # (OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_, PYTHONHASHSEED, ...) in this process's
    # to spawn its worker: environment() puts this process's back, else the processes
    # it starts later inherit them.
    with dask.config.set(LOCAL_CLUSTER_CONFIG), environment():
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               silence_logs=50, **extra)
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _warm_worker(env, compute=None, args=()):
    """On a Dask worker: one BLAS/numba thread and a writable numba cache (when numba is
    not imported yet: it reads its environment once), then ``compute(*args)`` if given
    (loads or compiles the kernels; one call, so one round trip to the workers)."""
    for key, value in env.items():
        if not (key.startswith("NUMBA_") and "numba" in sys.modules):
            os.environ[key] = value
    limit_numba_threads()
    if compute is not None:
        compute(*args)
    return os.getpid()


def _run_chunk(compute, args_list):
    """On a Dask worker: ``compute(*args)`` for each task of a chunk, in order; the
    results and the CPU seconds of the worker's thread for all of them (what sizes
    the next chunks: unlike the wall time, it does not grow with other processes' load,
    which made chunks of 2 tasks at a load of 8 and twice the Dask tasks)."""
    t0 = time.thread_time()
    results = [compute(*args) for args in args_list]
    return results, time.thread_time() - t0


class _ChunkSizer:
    """How many tasks the next Dask task carries.

    A Dask task costs the cluster a few milliseconds of CPU besides its work (the
    scheduler's and the worker's state machines, two messages, the result's
    transfer; measured here: about 6 ms, 1.8 ms of it in the client's process), which
    on 60 ms tasks is 10%. Chunks of tasks worth about :data:`DASK_CHUNK_SECONDS` of
    CPU make it about 1%: the first chunks hold one task each, and their measured
    CPU times size the later ones. The size is also kept below
    ``remaining / (2 * threads)``, so that the last chunks shrink and the workers end
    together (the balance of one task per Dask task).
    """

    def __init__(self, target=None):
        self.target = DASK_CHUNK_SECONDS if target is None else target
        self.seconds, self.tasks = 0.0, 0

    def measured(self, n_tasks, seconds):
        self.seconds += seconds
        self.tasks += n_tasks

    def size(self, remaining, threads):
        if not self.tasks:
            return 1
        per_task = self.seconds / self.tasks
        want = int(self.target / per_task) if per_task > 0 else remaining
        return max(1, min(want, remaining // (2 * threads)))


def _run_dask(compute, todo, done, client, warm):
    """The tasks on a Dask client; the results come back here and are saved here.

    Chunks of tasks (:class:`_ChunkSizer`) are submitted as earlier ones finish,
    two per worker thread in flight, so that a worker has its next chunk while the
    client saves the last one; each task of a chunk is saved (``done``) as the chunk
    comes back.
    """
    import uuid
    from distributed import as_completed
    # every worker loads (or compiles) the kernels once
    client.run(_warm_worker, worker_env(), *(() if warm is None else (compute, warm)))
    # explicit, unique keys: Client.map would collapse identical pure tasks (the same
    # point in two sweeps at once) and mix up their futures
    tag = f"rnndyn-{compute.__name__}-{uuid.uuid4().hex[:8]}"
    sizer, queue, chunks = _ChunkSizer(), list(reversed(todo)), {}
    running = as_completed(loop=client.loop, with_results=True)

    def top_up():
        threads = max(1, sum(client.nthreads().values()))
        while queue and len(chunks) < 2 * threads:
            n = sizer.size(len(queue), threads)
            chunk = [queue.pop() for _ in range(min(n, len(queue)))]
            fut = client.submit(_run_chunk, compute, [a for _, a in chunk],
                                key=f"{tag}-{chunk[0][0]}-{len(chunk)}", pure=False)
            chunks[fut.key] = (fut, [k for k, _ in chunk])
            running.add(fut)

    try:
        top_up()
        for fut, (results, seconds) in running:
            keys = chunks.pop(fut.key)[1]
            fut.release()
            sizer.measured(len(keys), seconds)
            top_up()
            for key, result in zip(keys, results):
                done(key, result)
    except BaseException:
        client.cancel([f for f, _ in chunks.values()])
        raise
