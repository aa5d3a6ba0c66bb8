"""Run the benchmarks and print one table per case, with speed ratios.

    python benchmarks/run.py                 # every benchmarks/bench_*.py
    python benchmarks/run.py gradflow        # only bench_gradflow.py
    python benchmarks/run.py gated --quick   # only bench_gated.py, small sizes
    python benchmarks/run.py --quick         # small sizes, a look in under 5 minutes

With more than one bench, each runs in its own process (conditions cannot leak).

Each bench module defines ``TITLE`` and ``run(quick) -> list[Case]``. A case
names its baselines; every row shows its time and, for each baseline,
``baseline time / row time`` (so 10.0 means ten times faster than that
baseline). All rows of a case are measured in the same process, same run.

Trust: every table is printed with the conditions it was measured under (BLAS
libraries and their internal API and thread counts from threadpoolctl, numba's
threads, the OPENBLAS_*/MKL_*/OMP_* variables, the CPU model and the load
average at the start and the end of the case). Cases measured with
:func:`interleaved` run their contenders in rounds (A B C, A B C, ...) and the
ratio columns are the median of the per-round ratios, so a burst of load from
another process hits every contender of a round alike instead of one of them.
"""

import argparse
import importlib
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Case:
    """One benchmark case: rows of (method, seconds, note) and the baselines' names."""
    title: str
    baselines: list
    rows: list = field(default_factory=list)
    target: str = ""
    notes: list = field(default_factory=list)
    # {method: {baseline: median of per-round ratios}} (filled by add_rounds)
    ratios: dict = field(default_factory=dict)
    conditions: str = ""

    def add(self, method, seconds, note=""):
        self.rows.append((method, seconds, note))

    def add_rounds(self, rounds, notes=None):
        """Rows from :func:`interleaved` results: the median time of each contender, and
        ratio columns that are medians of per-round ratios against each baseline."""
        notes = notes or {}
        for name, times in rounds.items():
            self.add(name, float(np.median(times)), notes.get(name, ""))
        for name, times in rounds.items():
            self.ratios[name] = {b: float(np.median(np.asarray(rounds[b]) / np.asarray(times)))
                                 for b in self.baselines if b in rounds}


def best_time(fn, *, repeat=5, number=1, min_time=0.2, clock=time.perf_counter):
    """Best time of ``fn()`` in seconds: min over ``repeat`` runs of ``number`` calls.

    ``number`` is raised until one run takes at least ``min_time``/``repeat`` so
    that millisecond kernels are not timed at the clock's resolution. ``clock``
    is wall time by default; ``time.process_time`` gives CPU time, which a
    shared machine disturbs far less.
    """
    fn()  # warm-up (compilation, caches)
    while True:
        t0 = clock()
        for _ in range(number):
            fn()
        dt = clock() - t0
        if dt * repeat >= min_time or number >= 1 << 16:
            break
        number *= 2
    best = dt / number
    for _ in range(repeat - 1):
        t0 = clock()
        for _ in range(number):
            fn()
        best = min(best, (clock() - t0) / number)
    return best


def interleaved(contenders, *, rounds=7, min_time=0.05, clock=time.perf_counter,
                warmup=True):
    """Time contenders in interleaved rounds: {name: [seconds per call, one per round]}.

    ``contenders`` is {name: fn} (a fn of None is skipped). Each round calls every
    contender once in turn (``number`` calls, raised per contender until one
    measurement takes ``min_time``), the order rotating by one each round so that
    no contender always runs right after the same other one.
    """
    fns = {k: f for k, f in contenders.items() if f is not None}
    number = {}
    for name, fn in fns.items():
        if warmup:
            fn()
        n = 1
        while True:
            t0 = clock()
            for _ in range(n):
                fn()
            if clock() - t0 >= min_time or n >= 1 << 16:
                break
            n *= 2
        number[name] = n
    out = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn, n = fns[name], number[name]
            t0 = clock()
            for _ in range(n):
                fn()
            out[name].append((clock() - t0) / n)
    return out


def one_thread_torch():
    """torch with one intra-op thread, or None when it is not installed; SciPy's OpenBLAS
    is loaded first (numba's np.dot calls it), so that a threadpool limit set afterwards
    reaches it too (else it runs on its default threads)."""
    import scipy.linalg.cython_blas  # noqa: F401
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown"


def conditions(short=False):
    """The conditions a table was measured under, as text (one line if ``short``)."""
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    if short:
        parts = [f"load average (1/5/15 min) {load}"]
        try:
            from threadpoolctl import threadpool_info
            parts.append("BLAS threads " + ",".join(
                f"{m['internal_api']}:{m['num_threads']}" for m in threadpool_info()
                if m["user_api"] == "blas"))
        except ImportError:
            pass
        if "numba" in sys.modules:
            parts.append(f"numba threads {sys.modules['numba'].get_num_threads()}")
        env = [f"{k}={v}" for k, v in sorted(os.environ.items())
               if k.endswith("_NUM_THREADS") or k.startswith("OPENBLAS")]
        if env:
            parts.append(" ".join(env))
        return "; ".join(parts)
    lines = [f"CPU {_cpu_model()}, {os.cpu_count()} logical cores, "
             f"affinity {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
             f", load average (1/5/15 min) {load}"]
    try:
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import threadpool_info
        for m in threadpool_info():
            lines.append(f"{m['user_api']}: {m['internal_api']} {m.get('version')} "
                         f"({m.get('architecture', '?')}, {m.get('threading_layer', '?')}) "
                         f"{m['num_threads']} threads  {os.path.basename(m['filepath'])}")
    except ImportError:
        lines.append("threadpoolctl not installed: BLAS unknown")
    try:
        import numba
        lines.append(f"numba {numba.__version__}: {numba.get_num_threads()} threads, "
                     f"layer {numba.config.THREADING_LAYER}, "
                     f"DISABLE_JIT={int(bool(numba.config.DISABLE_JIT))}")
    except ImportError:
        pass
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        lines.append(f"torch {torch.__version__}: {torch.get_num_threads()} threads")
    env = {k: v for k, v in sorted(os.environ.items())
           if k.startswith(("OPENBLAS", "MKL_", "OMP_", "NUMBA_", "RNNDYN_", "XLA_"))}
    lines.append("environment: " + (" ".join(f"{k}={v}" for k, v in env.items())
                                    if env else "no OPENBLAS_*/MKL_*/OMP_*/NUMBA_* set"))
    return "\n".join(lines)


def fmt_seconds(s):
    if s is None:
        return "n/a"
    if s >= 1:
        return f"{s:8.3f} s "
    if s >= 1e-3:
        return f"{s * 1e3:8.3f} ms"
    return f"{s * 1e6:8.2f} us"


def print_case(case, out=sys.stdout):
    times = {m: s for m, s, _ in case.rows}
    base = [b for b in case.baselines if times.get(b)]
    head = f"{'method':42s} {'time':>11s}" + "".join(f"  {'vs ' + b:>18.18s}" for b in base)
    print(f"\n## {case.title}", file=out)
    if case.target:
        print(f"target: {case.target}", file=out)
    print(head, file=out)
    print("-" * len(head), file=out)
    for method, s, note in case.rows:
        per_round = case.ratios.get(method, {})
        ratios = "".join(f"  {per_round[b]:17.2f}x" if b in per_round else
                         f"  {times[b] / s:17.2f}x" if s else f"  {'n/a':>18s}" for b in base)
        print(f"{method:42.42s} {fmt_seconds(s):>11s}{ratios}  {note}", file=out)
    if case.ratios:
        print("  (times: median over interleaved rounds; ratios: median of per-round ratios)",
              file=out)
    for n in case.notes:
        print(f"  note: {n}", file=out)
    print("  conditions: " + (case.conditions + "; at print " if case.conditions else "")
          + conditions(short=True), file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="bench names (bench_NAME.py); default all")
    ap.add_argument("--quick", action="store_true", help="small sizes: check the scripts run")
    ap.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    names = args.names or sorted(f[6:-3] for f in os.listdir(HERE)
                                 if f.startswith("bench_") and f.endswith(".py"))
    import platform
    t_start = time.perf_counter()
    if not args.no_header:
        print(f"# rnndyn benchmarks  python {platform.python_version()}  numpy "
              f"{np.__version__}  quick={args.quick}  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
        print(conditions())
    failed = []
    for name in names:
        t0 = time.perf_counter()
        if len(names) > 1:
            # every bench in a fresh process: a bench that sets thread counts, numba's
            # threads or environment variables cannot change the next one's conditions
            import subprocess
            sys.stdout.flush()
            rc = subprocess.call([sys.executable, os.path.abspath(__file__), name,
                                  *(["--quick"] if args.quick else []), "--no-header"])
            if rc:
                failed.append(name)
                print(f"# {name}: FAILED (exit status {rc})")
            continue
        else:
            mod = importlib.import_module(f"bench_{name}")
            print(f"\n# {name}: {mod.TITLE}")
            print(f"# at start: {conditions(short=True)}")
            for case in mod.run(args.quick):
                print_case(case)
                sys.stdout.flush()
        print(f"# {name}: {time.perf_counter() - t0:.1f} s")
    if args.no_header:
        return
    print(f"\n# total {time.perf_counter() - t_start:.1f} s (quick={args.quick})"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    print(conditions())
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
