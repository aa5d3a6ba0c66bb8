"""Parameter sweeps (issue 13): a 10⁴-point sweep of spectral-radius + gradflow-rate
(N = 20, T = 200) in this process, on 1 and 2 local worker processes and on a Dask
LocalCluster of 2 workers, and the per-point overhead of the runner against the
kernel time of one point.

Targets: 2 local workers >= 1.8x one; the LocalCluster within 10% of the local pool.
``--quick``: 400 points (to check that the script runs). Wall times (the runner's
whole cost, process start-up and the workers' kernel loading included): on a shared
machine compare rows within a case, not across runs.
"""

import os
import time

from run import Case

TITLE = "parameter sweep: spectral-radius + gradflow-rate, N = 20, T = 200"
MEASURES = ["spectral-radius", "gradflow-rate"]


def _plan(n_points):
    from rnndyn import sweep as sw
    gains = 100 if n_points >= 10_000 else 20
    seeds = n_points // gains
    return sw.plan_sweep([("gain", f"0.5:3:{gains}")], seeds=seeds, measures=MEASURES,
                         fixed={"n": 20}, steps=200, transient=20)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


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


def run(quick):
    from rnndyn import sweep as sw
    n_points = 400 if quick else 10_000
    plan = _plan(n_points)
    case = Case(title=f"{plan['n_points']:,}-point sweep ({plan['n_tasks']} tasks of "
                      f"{plan['batch']} points), spectral-radius + gradflow-rate, N = 20, "
                      "T = 200",
                baselines=["local pool, 1 worker", "local pool, 2 workers"],
                target="2 workers >= 1.8x 1 worker; Dask LocalCluster (2) within 10% of "
                       "the 2-worker pool")
    kernel = _point_time(plan)
    t_serial, ref = _timed(lambda: sw.run_sweep(plan, workers=0))
    case.add("this process (workers=0)", t_serial,
             f"{t_serial / plan['n_points'] * 1e3:.3f} ms/point")
    for w in (1, 2):
        t, ds = _timed(lambda: sw.run_sweep(plan, workers=w))
        assert ds.identical(ref)
        case.add(f"local pool, {w} worker{'s' if w > 1 else ''}", t,
                 f"{t / plan['n_points'] * 1e3:.3f} ms/point")
    try:
        import distributed  # noqa: F401
    except ImportError:
        case.notes.append("dask.distributed not installed: no Dask row")
    else:
        with sw.dask_client(dask_workers=2) as client:
            t, ds = _timed(lambda: sw.run_sweep(plan, client=client))
            ds.attrs = dict(ref.attrs)
            assert ds.identical(ref)
            case.add("Dask LocalCluster, 2 workers (cluster up)", t,
                     f"{t / plan['n_points'] * 1e3:.3f} ms/point; warm-up included")
    per_point = t_serial / plan["n_points"] - kernel
    case.notes.append(f"kernel time of one point (run_task of 1 point, best of 5x20): "
                      f"{kernel * 1e3:.3f} ms; runner overhead in this process "
                      f"{per_point * 1e3:+.3f} ms/point "
                      f"({per_point / kernel:+.1%} of the kernel time)")
    case.notes.append(f"os.cpu_count() = {os.cpu_count()}, free cores now "
                      f"{sw.free_cores()}")
    return [case]
