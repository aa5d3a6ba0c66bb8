"""The bad-input and fault corpus of the command line (issue 10).

Each case is a command line (with ``{name}`` standing for a file the corpus makes), the
exit status it must end with and a fragment of its one-line message. The test suite
runs every case in-process (``tests/test_bad_input_corpus.py``); run this file to run
them as real processes, with a time limit, and count the outcomes::

    python tests/corpus.py            # prints: cases, clean errors, tracebacks, hangs, ...

A clean error is exit status 2 with exactly one line ``Error: …`` on stderr.
"""

import os
import subprocess
import sys
import time

import numpy as np

#: (id, arguments, exit status, fragment of the message)
CASES = [
    # sizes the machine cannot hold: refused with the numbers, before allocating
    ("n-huge", ["spectrum", "--n", "100000"], 2, "needs"),
    ("steps-huge", ["gradflow", "--n", "10", "--steps", "100000000000"], 2, "needs"),
    ("max-power-huge", ["spectrum", "--n", "50", "--max-power", "100000000"], 2, "needs"),
    ("grid-huge", ["basins", "--n", "2", "--grid", "200000"], 2, "needs"),
    ("record-huge", ["bifurcation", "--record", "100000000"], 2, "needs"),
    ("starts-huge", ["fixedpoints", "--n", "3", "--starts", "100000000000"], 2, "needs"),
    ("length-huge", ["train", "temporal-order", "--length", "100000000", "--updates", "1"],
     2, "needs"),
    # values out of range
    ("n-zero", ["spectrum", "--n", "0"], 2, "n must be >= 1"),
    ("n-negative", ["lyapunov", "--n", "-1"], 2, "n must be >= 1"),
    ("gain-nan", ["spectrum", "--gain", "nan"], 2, "gain must be finite"),
    ("gain-inf", ["spectrum", "--n", "3", "--gain", "inf"], 2, "gain must be finite"),
    ("steps-zero", ["lyapunov", "--n", "3", "--steps", "0"], 2, "--steps must be >= 1"),
    ("k-zero", ["lyapunov", "--n", "3", "--k", "0"], 2, "--k must be between 1 and N"),
    ("window-zero", ["lyapunov", "--n", "3", "--window", "0"], 2, "--window must be"),
    ("reortho-zero", ["lyapunov", "--n", "3", "--reortho", "0"], 2, "'--reortho'"),
    ("fit-reversed", ["gradflow", "--n", "3", "--fit", "5:2"], 2, "LOW must be below HIGH"),
    ("fit-beyond", ["gradflow", "--n", "3", "--steps", "10", "--fit", "5:50"], 2,
     "--fit must satisfy"),
    ("k-singular-beyond", ["gradflow", "--n", "3", "--steps", "10", "--k-singular", "99"], 2,
     "--k-singular values must be in"),
    ("xlim-reversed", ["basins", "--n", "2", "--xlim", "3:-3"], 2, "LOW must be below HIGH"),
    ("axes-same", ["basins", "--n", "2", "--axes", "0,0"], 2, "two different units"),
    ("axes-beyond", ["basins", "--n", "2", "--axes", "0,5"], 2, "axes[1] must be <= 1"),
    ("grid-reversed", ["bifurcation", "--b", "3:1:5"], 2, "START must be below STOP"),
    ("grid-num-zero", ["surface", "--w", "4:6:0"], 2, "NUM must be >= 1"),
    ("surface-both-single", ["surface", "--w", "5", "--b", "1"], 2, "both single values"),
    ("length-reversed", ["train", "temporal-order", "--length", "60:50"], 2,
     "LO must be <= HI"),
    ("activation-unknown", ["bifurcation", "--activation", "foo"], 2, "unknown --activation"),
    ("init-unknown", ["spectrum", "--init", "nope"], 2, "Invalid value for '--init'"),
    ("index-missing", ["continuation", "--n", "2", "--param", "bias"], 2,
     "--index is required"),
    ("u-without-inputs", ["fixedpoints", "--n", "3", "--u", "1"], 2,
     "--u needs a model with inputs"),
    ("inputs-without-inputs", ["gradflow", "--n", "3", "--inputs", "gaussian"], 2,
     "--inputs needs a model with inputs"),
    ("x0-wrong-count", ["lyapunov", "--n", "3", "--x0", "1,2"], 2, "x0 must have shape"),
    ("x0-not-a-number", ["bifurcation", "--x0", "0,zero"], 2, "'zero' is not a number"),
    ("unknown-option", ["spectrum", "--bogus"], 2, "No such option"),
    ("unknown-command", ["nosuchcommand"], 2, "No such command"),
    ("figure-unknown", ["figure", "no-such-figure"], 2, "unknown figure"),
    ("resume-without-checkpoint", ["train", "temporal-order", "--resume"], 2,
     "--resume needs --checkpoint"),
    # output paths
    ("out-empty", ["spectrum", "--n", "3", "--out", ""], 2, "--out: empty folder name"),
    ("out-is-a-file", ["spectrum", "--n", "3", "--out", "{file}"], 2, "--out"),
    ("out-exists", ["spectrum", "--n", "3", "--out", "{full}"], 2, "exists"),
    ("out-dangling-link", ["spectrum", "--n", "3", "--out", "{dangling}"], 2, "exists"),
    ("study-locked", ["study", "clipping", "--out", "{locked}", "--seeds", "1"], 2,
     "is in use by another rnndyn study"),
    # files from users
    ("weights-missing", ["spectrum", "--weights", "{missing}"], 2, "cannot read weights file"),
    ("weights-empty", ["spectrum", "--weights", "{empty_npz}"], 2, "is empty"),
    ("weights-junk", ["gradflow", "--n", "3", "--weights", "{junk}"], 2, "cannot read weights"),
    ("weights-truncated", ["lyapunov", "--weights", "{truncated}"], 2, "cannot read weights"),
    ("weights-directory", ["basins", "--weights", "{dir}"], 2, "weights"),
    ("weights-not-square", ["spectrum", "--weights", "{rect}"], 2, "square"),
    ("weights-pickle", ["spectrum", "--weights", "{pickle}"], 2, "cannot read weights"),
    ("weights-huge-header", ["spectrum", "--weights", "{liar}"], 2, "header says"),
    ("x0-empty", ["lyapunov", "--n", "3", "--x0", "{empty_npy}"], 2, "is empty"),
    ("x0-junk", ["gradflow", "--n", "3", "--x0", "{junk}"], 2, "--x0: cannot read"),
    ("x0-wrong-shape", ["lyapunov", "--n", "3", "--x0", "{x5}"], 2, "x0"),
    ("delta-empty", ["gradflow", "--n", "3", "--delta", "{empty_npy}"], 2, "is empty"),
    ("checkpoint-empty", ["train", "temporal-order", "--checkpoint", "{empty_npz}",
                          "--resume", "--updates", "1"], 2, "cannot read checkpoint"),
    ("replot-missing", ["figure", "error-surface", "--replot", "--out", "{dir}"], 2,
     "cannot read result"),
]


def make_files(folder):
    """The files the cases name, made in ``folder``; returns {name: path}."""
    import io
    import zipfile
    f = {k: os.path.join(folder, v) for k, v in dict(
        empty_npy="empty.npy", empty_npz="empty.npz", junk="junk.npz",
        truncated="truncated.npz", rect="rect.npz", pickle="pickle.npz", liar="liar.npz",
        x5="x5.npy", file="plain.txt", full="full", dangling="dangling", locked="locked",
        missing="missing.npz", dir="adir").items()}
    for k in ("empty_npy", "empty_npz"):
        open(f[k], "wb").close()
    with open(f["junk"], "wb") as fh:
        fh.write(np.random.default_rng(0).bytes(200))
    np.savez(f["truncated"], W=np.eye(20))
    with open(f["truncated"], "rb+") as fh:
        fh.truncate(os.path.getsize(f["truncated"]) // 2)
    np.savez(f["rect"], W=np.ones((3, 4)))
    np.savez(f["pickle"], W=np.array([{"a": 1}], dtype=object))
    # a .npz whose header claims 10^10 elements over 64 bytes of data
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                              "shape": (100000, 100000)})
    with zipfile.ZipFile(f["liar"], "w") as z:
        z.writestr("W.npy", buf.getvalue() + b"\0" * 64)
    np.save(f["x5"], np.ones(5))
    with open(f["file"], "w") as fh:
        fh.write("not a folder\n")
    os.makedirs(f["full"], exist_ok=True)
    for name in ("spectrum.npz", "spectrum.json", "spectrum.png"):
        open(os.path.join(f["full"], name), "wb").close()
    os.makedirs(f["dangling"], exist_ok=True)
    os.symlink(os.path.join(folder, "nowhere"), os.path.join(f["dangling"], "spectrum.npz"))
    os.makedirs(f["dir"], exist_ok=True)
    os.makedirs(f["locked"], exist_ok=True)
    return f


def hold_study_lock(folder):
    """Hold the study lock of ``folder`` from another process; returns the process."""
    code = ("import os, sys, time; from rnndyn.study import RUNS_FOLDER, study_lock\n"
            "with study_lock(os.path.join(sys.argv[1], RUNS_FOLDER)):\n"
            "    print('held', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, folder], stdout=subprocess.PIPE,
                            text=True)
    if proc.stdout.readline().strip() != "held":
        raise RuntimeError("could not hold the study lock (an rnndyn without study_lock?)")
    return proc


def args_for(case, files):
    return [a.format(**files) for a in case[1]]


def main(timeout=120):
    """Run every case as a process and print the counts of each outcome."""
    import tempfile
    counts = dict(cases=0, clean=0, traceback=0, hang=0, wrong_exit=0, wrong_message=0)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(tmp)
        try:
            holder = hold_study_lock(files["locked"])
        except RuntimeError as exc:   # measuring an older rnndyn: that case just fails
            print(exc)
            holder = None
        try:
            for case in CASES:
                counts["cases"] += 1
                cmd = [sys.executable, "-c", "from rnndyn.cli.main import cli; cli()",
                       *args_for(case, files)]
                t0 = time.monotonic()
                try:
                    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                         cwd=tmp)
                except subprocess.TimeoutExpired:
                    counts["hang"] += 1
                    print(f"HANG       {case[0]}")
                    continue
                err = out.stderr.strip().splitlines()
                if "Traceback" in out.stderr:
                    kind = "traceback"
                elif out.returncode != case[2]:
                    kind = "wrong_exit"
                elif len(err) != 1 or not err[0].startswith("Error: ") or case[3] not in err[0]:
                    kind = "wrong_message"
                else:
                    kind = "clean"
                counts[kind] += 1
                if kind != "clean":
                    print(f"{kind.upper():10s} {case[0]}: exit {out.returncode}: "
                          f"{out.stderr.strip()[-200:]!r}")
                else:
                    print(f"clean      {case[0]} ({time.monotonic() - t0:.1f} s)")
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
                holder.stdout.close()
    print(", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


if __name__ == "__main__":
    main()
