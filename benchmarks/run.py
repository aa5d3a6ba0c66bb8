"""Run the benchmarks and print one table per case, with speed ratios.

    python benchmarks/run.py                 # every benchmarks/bench_*.py
    python benchmarks/run.py gradflow        # only bench_gradflow.py
    python benchmarks/run.py --quick         # small sizes, to check the scripts run

Each bench module defines ``TITLE`` and ``run(quick) -> list[Case]``. A case
names its baselines; every row shows its time and, for each baseline,
``baseline time / row time`` (so 10.0 means ten times faster than that
baseline). All rows of a case are measured in the same process, same run.
"""

import argparse
import importlib
import os
import sys
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Case:
    """One benchmark case: rows of (method, seconds, note) and the baselines' names."""
    title: str
    baselines: list
    rows: list = field(default_factory=list)
    target: str = ""
    notes: list = field(default_factory=list)

    def add(self, method, seconds, note=""):
        self.rows.append((method, seconds, note))


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
        ratios = "".join(f"  {times[b] / s:17.2f}x" if s else f"  {'n/a':>18s}" for b in base)
        print(f"{method:42.42s} {fmt_seconds(s):>11s}{ratios}  {note}", file=out)
    for n in case.notes:
        print(f"  note: {n}", file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="bench names (bench_NAME.py); default all")
    ap.add_argument("--quick", action="store_true", help="small sizes: check the scripts run")
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    names = args.names or sorted(f[6:-3] for f in os.listdir(HERE)
                                 if f.startswith("bench_") and f.endswith(".py"))
    import platform
    import numpy as np
    print(f"# rnndyn benchmarks  python {platform.python_version()}  numpy {np.__version__}"
          f"  cores {os.cpu_count()}  quick={args.quick}")
    for name in names:
        mod = importlib.import_module(f"bench_{name}")
        print(f"\n# {name}: {mod.TITLE}")
        for case in mod.run(args.quick):
            print_case(case)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
