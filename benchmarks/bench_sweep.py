"""Parameter sweeps (issue 13): a 10⁴-point sweep of spectral-radius + gradflow-rate
(N = 20, T = 200) in this process, on 1 and 2 local worker processes and on a Dask
LocalCluster of 2 workers, and the per-point overhead of the runner against the
kernel time of one point.

Targets: 2 local workers >= 1.8x one; the LocalCluster within 10% of the local pool
(Dask's time <= 1.10 x the pool's, i.e. a ratio column >= 0.91x).

Two comparisons, from the same interleaved rounds (the order reversed every other
round, the pool next to each Dask contender; times are medians, ratios medians of the
per-round ratios; CPU seconds of this process and its workers beside them):

- end to end: what ``rnndyn sweep --workers 2`` and ``--dask-workers 2`` cost, each
  starting its workers (processes spawned, rnndyn and the cached kernels loaded) and
  stopping them (the pool shut down, the LocalCluster closed);
- steady state: the sweep on workers that are up and warm. Dask: a run on a
  LocalCluster started (and warmed with a one-point sweep) before the clock starts.
  The pool starts its workers for each run, so its steady time is its end-to-end time
  minus its start-up, measured in the same round as a 2-task sweep of one tiny point
  each (spawn, imports, kernels loaded, shut down).

``--quick``: 400 points, 2 rounds (to check that the script runs).
"""

import os
import time
from statistics import median

from run import Case, conditions

TITLE = "parameter sweep: spectral-radius + gradflow-rate, N = 20, T = 200"
MEASURES = ["spectral-radius", "gradflow-rate"]
SERIAL, POOL1, POOL2 = "this process (workers=0)", "local pool, 1 worker", \
    "local pool, 2 workers"
DASK = "Dask LocalCluster, 2 workers"
POOL2_STEADY, DASK_STEADY = "local pool, 2 workers (steady)", \
    "Dask LocalCluster, 2 workers (steady)"
POOL_START, DASK_START = "local pool start-up + shutdown (2)", \
    "Dask start-up + warm-up + close (2)"


def _plan(n_points):
    from rnndyn import sweep as sw
    gains = 100 if n_points >= 10_000 else 20
    seeds = n_points // gains
    return sw.plan_sweep([("gain", f"0.5:3:{gains}")], seeds=seeds, measures=MEASURES,
                         fixed={"n": 20}, steps=200, transient=20)


def _start_plan():
    """Two one-point tasks on a tiny network: what starting two workers costs."""
    from rnndyn import sweep as sw
    return sw.plan_sweep([("gain", "1,2")], measures=MEASURES, fixed={"n": 2}, steps=8,
                         transient=2, batch=1)


def _point_time(plan, repeat=5):
    """Best time of one point computed directly (the kernels, no runner)."""
    import xarray  # noqa: F401  (imported by the first Dataset: not a per-point cost)
    from rnndyn import sweep as sw
    sw.run_task(plan, 0, 1)  # warm
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for i in range(20):
            sw.run_task(plan, i, i + 1)
        best = min(best, (time.perf_counter() - t0) / 20)
    return best


def _check(ds, ref):
    """The Dataset of a run is the reference's, bit for bit (attributes aside)."""
    ds = ds.copy()
    ds.attrs = dict(ref.attrs)
    assert ds.identical(ref)


def _cpu_now():
    """CPU seconds of this process and its children, finished (reaped) or alive: the
    work a contender made the machine do, which other processes' load disturbs less
    than its wall time."""
    import resource
    total = sum(sum(resource.getrusage(who)[:2])
                for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    try:
        import psutil
    except ImportError:  # pragma: no cover - a dependency of distributed
        return total
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _contenders(plan, ref, have_dask):
    """{name: fn() -> {row: (seconds, CPU seconds)}}; each fn is one contender's turn in
    a round."""
    from rnndyn import sweep as sw
    start_plan = _start_plan()

    def timed(fn):
        c0, t0 = _cpu_now(), time.perf_counter()
        out = fn()
        return (time.perf_counter() - t0, _cpu_now() - c0), out

    def serial():
        t, ds = timed(lambda: sw.run_sweep(plan, workers=0))
        _check(ds, ref)
        return {SERIAL: t}

    def pool(w):
        def fn():
            t, ds = timed(lambda: sw.run_sweep(plan, workers=w))
            _check(ds, ref)
            if w == 1:
                return {POOL1: t}
            start, _ = timed(lambda: sw.run_sweep(start_plan, workers=2))
            return {POOL2: t, POOL_START: start,
                    POOL2_STEADY: (t[0] - start[0], t[1] - start[1])}
        return fn

    def dask_end_to_end():
        t, ds = timed(lambda: sw.run_sweep(plan, dask_workers=2))
        _check(ds, ref)
        return {DASK: t}

    def dask_steady():
        c0, t0 = _cpu_now(), time.perf_counter()
        with sw.dask_client(dask_workers=2) as client:
            sw.run_sweep(sw._warm_plan(plan), client=client)  # workers up and warm
            c1, t1 = _cpu_now(), time.perf_counter()
            t, ds = timed(lambda: sw.run_sweep(plan, client=client))
            c2, t2 = _cpu_now(), time.perf_counter()
        _check(ds, ref)
        return {DASK_STEADY: t, DASK_START: (t1 - t0 + time.perf_counter() - t2,
                                             c1 - c0 + _cpu_now() - c2)}

    # the pool next to each Dask contender, so that a burst of load hits both alike
    out = {POOL2: pool(2)}
    if have_dask:
        out.update({DASK: dask_end_to_end, DASK_STEADY: dask_steady})
    out.update({SERIAL: serial, POOL1: pool(1)})
    return out


def run(quick):
    from rnndyn import _runner
    from rnndyn import sweep as sw
    n_points, n_rounds = (400, 2) if quick else (10_000, 5)
    plan = _plan(n_points)
    try:
        import distributed  # noqa: F401
        have_dask = True
    except ImportError:
        have_dask = False
    at_start = conditions(short=True)
    kernel = _point_time(plan)
    ref = sw.run_sweep(plan, workers=0)
    contenders = _contenders(plan, ref, have_dask)
    names = list(contenders)
    rounds, cpu = {}, {}
    for r in range(n_rounds):
        # forward, then backward: the pool runs right before, then right after, Dask
        for name in names if r % 2 == 0 else names[::-1]:
            for row, (seconds, cpu_seconds) in contenders[name]().items():
                rounds.setdefault(row, []).append(seconds)
                cpu.setdefault(row, []).append(cpu_seconds)
    title = (f"{plan['n_points']:,}-point sweep ({plan['n_tasks']} tasks of "
             f"{plan['batch']} points), spectral-radius + gradflow-rate, N = 20, T = 200")
    per_point = {name: f"{median(t) / plan['n_points'] * 1e3:.3f} ms/point, CPU "
                       f"{median(cpu[name]):.2f} s" for name, t in rounds.items()}
    end = Case(title=f"{title}: end to end (workers started, warmed and stopped)",
               baselines=[POOL1, POOL2],
               target="2 workers >= 1.8x 1 worker; Dask LocalCluster (2) within 10% of the "
                      "2-worker pool (ratio vs the pool >= 0.91x)")
    end.add_rounds({k: rounds[k] for k in (SERIAL, POOL1, POOL2, DASK) if k in rounds},
                   per_point)
    steady = Case(title=f"{title}: steady state (workers up and warm)",
                  baselines=[POOL2_STEADY],
                  target="Dask LocalCluster (2) within 10% of the 2-worker pool (>= 0.91x)")
    steady.add_rounds({k: rounds[k] for k in (POOL2_STEADY, DASK_STEADY) if k in rounds},
                      per_point)
    start = Case(title="starting and stopping 2 workers (the difference of the two tables)",
                 baselines=[POOL_START])
    start.add_rounds({k: rounds[k] for k in (POOL_START, DASK_START) if k in rounds},
                     {k: f"CPU {median(cpu[k]):.2f} s" for k in (POOL_START, DASK_START)
                      if k in cpu})
    for case in (end, steady, start):
        case.conditions = f"at start {at_start}"
        case.notes.append(f"{n_rounds} interleaved rounds (the order reversed every other "
                          "round); CPU: seconds of this process and its workers (median); "
                          "every run's Dataset checked identical to this process's")
    serial_overhead = median(rounds[SERIAL]) / plan["n_points"] - kernel
    end.notes.append(f"kernel time of one point (run_task of 1 point, best of 5x20): "
                     f"{kernel * 1e3:.3f} ms; runner overhead in this process "
                     f"{serial_overhead * 1e3:+.3f} ms/point "
                     f"({serial_overhead / kernel:+.1%} of the kernel time)")
    for name in (POOL2_STEADY, DASK_STEADY):
        if name in rounds:
            t = median(rounds[name])
            over = 2 * t / plan["n_points"] - kernel  # 2 workers: 2 points at a time
            steady.notes.append(f"{name}: {over * 1e3:+.3f} ms/point of overhead per worker "
                                f"({over / kernel:+.1%} of the kernel time)")
    steady.notes.append(
        f"workers: processes (Dask: with nannies), 1 thread each, "
        f"{_runner.WORKER_ENV['NUMBA_NUM_THREADS']} numba/BLAS thread; Dask tasks carry "
        f"chunks of ~{_runner.DASK_CHUNK_SECONDS} CPU-s of tasks; os.cpu_count() = "
        f"{os.cpu_count()}, free cores at the end {sw.free_cores()}")
    return [end, steady, start]
