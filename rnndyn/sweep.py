"""Parameter sweeps: any measure over any grid of model parameters, as an xarray Dataset.

A sweep is a grid of named parameters (:data:`PARAMETERS`: gain, input scale, N,
activation, …) times a ``seed`` axis, and one or more measures (:data:`MEASURES`:
the top Lyapunov exponent, the gradient-flow rate, ρ(W), …) computed at every point.
Every point is independent, so the points are cut into tasks of ``batch`` points
(:func:`rnndyn._sweep_points.run_task`) that the runner of :mod:`rnndyn._runner`
runs in this process, in a local process pool (one BLAS and one numba thread per
worker) or on a ``dask.distributed`` cluster. The same serial library functions run
everywhere; only the orchestration differs.

With an output folder every finished task is saved at once (atomically) in
``<out>/tasks/``; a sweep started again with the same plan computes only the tasks
that are missing and ends with the same Dataset, bit for bit, as an uninterrupted
run (every point is seeded by its own seed and runs with one thread). A task file
holds the source stamp of the code that computed it (the modules of
:mod:`rnndyn._sweep_points` and what they import); a file of other code is computed
again, with one line on stderr. The folder is locked while a sweep runs, and the
local workers die with the sweep's process.

Bit-identity holds as far as the library functions are reproducible across
processes. ``gradient_flow`` at small N once gave log norms differing in the last bit
with the heap's state; the cause was fast-math reassociation (a vectorised sum ran or
not after a run-time check of the arrays' addresses), which the kernels no longer use
(:mod:`rnndyn.config`; ``tests/test_reproducible.py``).

The Dataset has one dimension per swept parameter (in the order given), then
``seed``, then the measures' own dimensions (``exponent`` for the Lyapunov
spectrum). Data variables are the measure names with underscores. Its attributes
hold the plan and the provenance as JSON strings (netCDF cannot hold nested
dicts or booleans). :func:`save` writes ``sweep.nc`` + ``sweep.json``,
:func:`load` reads them back.
"""

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
import warnings

import numpy as np

from rnndyn._validate import InputError, as_choice, as_float, as_int
from rnndyn.io import to_jsonable

STEM = "sweep"
TASKS_FOLDER = "tasks"
PLAN_FILE = "plan.json"
#: a sweep's Dataset ``attrs`` keys (JSON strings)
ATTR_PLAN, ATTR_PROVENANCE = "plan", "provenance"

ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")
FORMS = ("pascanu", "elman")


# ---------------------------------------------------------------- parameters

@dataclasses.dataclass(frozen=True)
class Parameter:
    """A parameter a sweep can vary: its kind, limits and default."""
    name: str
    kind: str            # 'float', 'int' or 'choice'
    default: object
    help: str
    minimum: float = None
    choices: tuple = ()


def _inits():
    from rnndyn.models import INITS
    return tuple(INITS)


PARAMETERS = {p.name: p for p in (
    Parameter("gain", "float", 1.0, "gain g: W ~ N(0, g²/N), g×orthogonal, g×I, sparse radius"),
    Parameter("input_scale", "float", 0.0,
              "std of the Gaussian inputs u_t (through U ~ N(0, 1/M)); 0: autonomous",
              minimum=0.0),
    Parameter("n", "int", 50, "number of units N", minimum=1),
    Parameter("activation", "choice", "tanh", "activation", choices=ACTIVATIONS),
    Parameter("form", "choice", "pascanu", "update form", choices=FORMS),
    Parameter("init", "choice", "gaussian", "initialiser (rnndyn.models.INITS)",
              choices=("gaussian", "orthogonal", "identity", "sparse", "sigmoid",
                       "basic-tanh", "smart-tanh")),
    Parameter("bias_scale", "float", 0.0, "std of the biases b ~ N(0, s²)", minimum=0.0),
    Parameter("cell", "choice", "vanilla", "recurrent cell (rnndyn.cells): vanilla, lstm, gru; "
              "activation and form apply to the vanilla cell only",
              choices=("vanilla", "lstm", "gru")),
    Parameter("forget_bias", "float", 0.0, "added to the LSTM forget-gate (GRU update-gate) "
              "bias; the vanilla cell has none and ignores it"),
    Parameter("length", "int", 20, "sequence length of the training task (train-* measures)",
              minimum=2),
)}

#: settings every point shares (not sweepable), with their defaults
SETTINGS = {"steps": 1000, "transient": 100, "n_inputs": 1, "k": None,
            "task": "temporal-order", "method": "sgd-c", "budget": 2000, "eval_size": 1000,
            "n_starts": 32}


def _check_value(p, value, where):
    """One value of parameter ``p``, coerced to its kind (InputError naming ``where``)."""
    if p.kind == "choice":
        if not isinstance(value, str):
            raise InputError(f"{where}: expected one of {', '.join(p.choices)}, got {value!r}")
        return as_choice(value, where, p.choices)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(f"{where}: {value!r} is not a number") from None
    if p.kind == "int":
        return as_int(value, where, minimum=p.minimum)
    return as_float(value, where, minimum=p.minimum)


def parse_axis(name, spec):
    """The values of one grid axis from ``spec``.

    Parameters
    ----------
    name : str
        One of :data:`PARAMETERS`.
    spec : str, number or sequence
        ``'a,b,c'`` (a list), ``'start:stop:num'`` (``num`` evenly spaced values,
        start < stop when num > 1; numeric parameters only), one value, or a list.

    Returns
    -------
    tuple
        The values (float, int or str), non-empty and without duplicates.
    """
    if not isinstance(name, str) or name.strip().lower().replace("-", "_") not in PARAMETERS:
        raise InputError(f"unknown sweep parameter {name!r}; known: {', '.join(PARAMETERS)}")
    p = PARAMETERS[name.strip().lower().replace("-", "_")]
    where = f"{p.name}={spec}" if isinstance(spec, str) else p.name
    if isinstance(spec, str):
        text = spec.strip()
        if text == "":
            raise InputError(f"{p.name}: empty axis (give values a,b,c or start:stop:num)")
        if ":" in text:
            if p.kind == "choice":
                raise InputError(f"{where}: start:stop:num needs a numeric parameter; "
                                 f"give {p.name} as a list, e.g. {','.join(p.choices[:2])}")
            parts = text.split(":")
            if len(parts) != 3:
                raise InputError(f"{where}: expected start:stop:num")
            try:
                start, stop = float(parts[0]), float(parts[1])
                num = int(parts[2])
            except ValueError:
                raise InputError(f"{where}: expected start:stop:num with numbers and an "
                                 "integer num") from None
            if not (math.isfinite(start) and math.isfinite(stop)):
                raise InputError(f"{where}: start and stop must be finite")
            if num < 1:
                raise InputError(f"{where}: empty axis (num must be >= 1, got {num})")
            if num > 1 and not start < stop:
                raise InputError(f"{where}: start must be below stop")
            raw = np.linspace(start, stop, num).tolist()
            if p.kind == "int":
                if any(abs(v - round(v)) > 1e-9 for v in raw):
                    raise InputError(f"{where}: {p.name} takes integers; these steps give "
                                     "fractions")
                raw = [int(round(v)) for v in raw]
        else:
            raw = [s.strip() for s in text.split(",")]
            if any(s == "" for s in raw):
                raise InputError(f"{where}: empty value in the list")
    elif isinstance(spec, (list, tuple, np.ndarray)):
        raw = list(spec)
    else:
        raw = [spec]
    if not raw:
        raise InputError(f"{p.name}: empty axis")
    values = tuple(_check_value(p, v, where) for v in raw)
    if len(set(values)) != len(values):
        raise InputError(f"{where}: duplicate values")
    return values


def parse_param(text):
    """``'name=spec'`` (the CLI's ``--param``) as ``(name, values)``."""
    if not isinstance(text, str) or "=" not in text:
        raise InputError(f"--param {text!r}: expected NAME=VALUES, e.g. gain=0.5:3:26 or "
                         "n=50,100")
    name, spec = text.split("=", 1)
    values = parse_axis(name, spec)
    return name.strip().lower().replace("-", "_"), values


def read_grid_file(path):
    """A grid from a TOML file: ``[grid]`` with ``name = "spec"`` or ``name = [values]``.

    Optional top-level keys: ``seeds`` (int), ``measures`` (list of names). Returns
    ``{'grid': [(name, values)…], 'seeds': int or None, 'measures': list or None}``.
    """
    import tomllib
    from rnndyn.io import _open_user_file
    path, f, _ = _open_user_file(path, "grid file")
    with f:
        try:
            doc = tomllib.load(f)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read grid file {path}: not valid TOML ({exc})") from None
    unknown = sorted(set(doc) - {"grid", "seeds", "measures"})
    if unknown:
        raise InputError(f"grid file {path}: unknown key(s) {unknown}; expected [grid], "
                         "seeds, measures")
    table = doc.get("grid")
    if not isinstance(table, dict) or not table:
        raise InputError(f"grid file {path}: needs a non-empty [grid] table")
    grid = []
    for name, spec in table.items():
        if isinstance(spec, bool) or isinstance(spec, dict):
            raise InputError(f"grid file {path}: {name} must be a list, a value or a "
                             "'start:stop:num' string")
        grid.append((name.strip().lower().replace("-", "_"), parse_axis(name, spec)))
    measures = doc.get("measures")
    if measures is not None and (not isinstance(measures, list)
                                 or not all(isinstance(m, str) for m in measures)):
        raise InputError(f"grid file {path}: measures must be a list of names")
    seeds = doc.get("seeds")
    if seeds is not None:
        seeds = as_int(seeds, f"grid file {path}: seeds", minimum=1)
    return {"grid": grid, "seeds": seeds, "measures": measures}


# the measures and the code of one task (what the workers run)
from rnndyn._sweep_points import (MEASURES, Measure, _measure_shape, grid_shape,  # noqa: F401
                                  list_measures, point, run_task)
from rnndyn._runner import dask_client, free_cores  # noqa: F401  (the CLI's, the tests')

# ---------------------------------------------------------------- the plan

def plan_sweep(grid, *, seeds=1, measures=("lyapunov-top",), seed=0, fixed=None,
               batch="auto", **settings):
    """Validate a sweep and return its plan (a JSON-able dict; nothing is computed).

    Parameters
    ----------
    grid : sequence of (name, spec) or dict
        The swept parameters in axis order; ``spec`` as in :func:`parse_axis`.
    seeds : int
        Seeds per point (>= 1): ``seed, seed + 1, …`` (the ``seed`` axis). A point's
        weights use its seed, x0 seed + 1, the inputs seed + 2, the biases seed + 3.
    measures : sequence of str
        Names in :data:`MEASURES`.
    seed : int
        First seed.
    fixed : dict, optional
        Values of the parameters that are not swept (default: :data:`PARAMETERS`'s).
    batch : 'auto' or int
        Grid points per task; 'auto': 1 when a measure is heavy (Lyapunov, fixed
        points, training), else up to 64 (at least 32 tasks when there are points
        enough). Part of the plan: a resumed sweep must use the same.
    **settings
        :data:`SETTINGS`: steps, transient, n_inputs (M of the inputs), k (exponents
        of lyapunov-spectrum; default min N), task, method, budget and eval_size (the
        train-* measures: success is under 1% errors on eval_size fresh sequences,
        tested every min(1000, budget) updates), n_starts (n-fixed-points).

    Returns
    -------
    dict
        grid ([[name, values]…]), seeds, measures, fixed, settings, k, batch,
        n_points, n_tasks.
    """
    from rnndyn._memory import check_request
    items = list(grid.items()) if isinstance(grid, dict) else list(grid)
    axes, names = [], []
    for item in items:
        try:
            name, spec = item
        except (TypeError, ValueError):
            raise InputError(f"grid entries must be (name, values) pairs, got {item!r}") \
                from None
        values = parse_axis(name, spec)
        name = name.strip().lower().replace("-", "_")
        if name in names:
            raise InputError(f"parameter {name} is swept twice")
        names.append(name)
        axes.append([name, list(values)])
    n_seeds = as_int(seeds, "seeds", minimum=1)
    seed = as_int(seed, "seed", minimum=0)
    if isinstance(measures, str):
        measures = [measures]
    measures = list(measures or ())
    if not measures:
        raise InputError("no measure given; see --list-measures")
    for m in measures:
        if m not in MEASURES:
            raise InputError(f"unknown measure {m!r}; known: {', '.join(MEASURES)}")
    if len(set(measures)) != len(measures):
        raise InputError(f"measures contain duplicates: {measures}")
    fixed_in = dict(fixed or {})
    unknown = sorted(set(fixed_in) - set(PARAMETERS))
    if unknown:
        raise InputError(f"unknown fixed parameter(s) {unknown}; known: {', '.join(PARAMETERS)}")
    fixed_out = {}
    for name, p in PARAMETERS.items():
        if name in names:
            continue
        value = fixed_in.get(name)
        fixed_out[name] = p.default if value is None else _check_value(p, value, name)
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise InputError(f"unknown sweep setting(s) {unknown}; known: {', '.join(SETTINGS)}")
    s = {k: (v if settings.get(k) is None else settings[k]) for k, v in SETTINGS.items()}
    s["steps"] = as_int(s["steps"], "steps", minimum=1)
    s["transient"] = as_int(s["transient"], "transient", minimum=0)
    s["n_inputs"] = as_int(s["n_inputs"], "n_inputs", minimum=0)
    s["budget"] = as_int(s["budget"], "budget", minimum=1)
    s["n_starts"] = as_int(s["n_starts"], "n_starts", minimum=1)
    s["eval_size"] = as_int(s["eval_size"], "eval_size", minimum=1)
    from rnndyn.tasks import TASKS, check_length, task_spec
    s["task"] = as_choice(s["task"], "task", TASKS)
    s["method"] = as_choice(s["method"], "method", ("sgd", "sgd-c", "sgd-cr"))
    values_of = dict(axes)
    _check_cells(values_of.get("cell", [fixed_out.get("cell")]), measures)
    if "length" in values_of and not any(m.startswith("train-") for m in measures):
        raise InputError("length is the training task's sequence length: sweep it with a "
                         "train-* measure (the other measures do not depend on it)")
    ns = values_of.get("n", [fixed_out.get("n")])
    if any(m.startswith("train-") for m in measures):
        for length in values_of.get("length", [fixed_out.get("length")]):
            check_length(length, task_spec(s["task"]), "length")
    k = s["k"]
    if "lyapunov-spectrum" in measures:
        k = min(ns) if k is None else as_int(k, "k", minimum=1, maximum=min(ns))
    else:
        k = None if k is None else as_int(k, "k", minimum=1)
    s["k"] = k
    n_max = max(ns)
    # the largest arrays of one point: W and its copies, the trajectory's D (T × N) twice
    check_request(8 * (6 * n_max * n_max + 3 * (s["steps"] + s["transient"] + 1) * n_max),
                  f"a sweep point with n={n_max} and {s['steps']} steps")
    n_points = n_seeds
    for _, v in axes:
        n_points *= len(v)
    # the Dataset (and the tasks' arrays, held until it is built): 8 bytes per value
    per_point = sum(k if MEASURES[m].dim else 1 for m in measures) if k else len(measures)
    check_request(2 * 8 * n_points * per_point, f"a sweep of {n_points:,} points")
    if batch == "auto" or batch is None:
        heavy = any(MEASURES[m].heavy for m in measures)
        batch = 1 if heavy else max(1, min(64, n_points // 32))
    else:
        batch = as_int(batch, "batch", minimum=1)
    return to_jsonable({"grid": axes, "seeds": list(range(seed, seed + n_seeds)),
                        "measures": measures, "fixed": fixed_out, "settings": s, "k": k,
                        "batch": batch, "n_points": n_points,
                        "n_tasks": -(-n_points // batch)})


# measures that use maths only the vanilla cell has (rnndyn.cells.CAPABILITIES)
_VANILLA_ONLY = {"spectral-radius": "spectra", "max-singular-value": "spectra"}


def _check_cells(cells_swept, measures):
    """Refuse, before any work, a measure a swept or fixed cell does not support."""
    from rnndyn.cells import require
    for cell in cells_swept:
        for m in measures:
            if m in _VANILLA_ONLY:
                require(cell, _VANILLA_ONLY[m], f"measure {m} (ρ and λ1 of W as the map's "
                        "linearisation)")


def plan_hash(plan):
    """12 hex digits that change with anything in the plan."""
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:12]

def tasks_of(plan):
    """``[(start, stop)]``: the point ranges of the tasks, in order."""
    b, n = plan["batch"], plan["n_points"]
    return [(i, min(i + b, n)) for i in range(0, n, b)]

def _warm_plan(plan):
    """A one-point plan with the same measures on a tiny network (compiles the kernels)."""
    fixed = dict(plan["fixed"])
    for name, values in plan["grid"]:
        fixed[name] = values[0]
    fixed.update(n=2, length=max(2, min(int(fixed.get("length", 20)), 10)))
    settings = dict(plan["settings"], steps=8, transient=2, budget=2, n_starts=2,
                    k=None)
    try:
        return plan_sweep([], measures=plan["measures"], fixed=fixed, **settings)
    except InputError:
        return None

# ---------------------------------------------------------------- checkpoints

def _task_key(a, b):
    """The name of the task of points ``a`` … ``b - 1`` (its file is ``<key>.npz``;
    ``key[1:9]`` is ``a``, ``key[10:]`` is ``b``)."""
    return f"t{a:08d}-{b:08d}"


def _store(plan, tasks_dir):
    """The :class:`rnndyn._runner.Store` of a sweep's task files in ``tasks_dir``."""
    from rnndyn._runner import Store
    from rnndyn._sweep_points import SOURCES
    from rnndyn.io import atomic_savez
    ranges = {_task_key(a, b): (a, b) for a, b in tasks_of(plan)}

    def read(key):
        path = os.path.join(tasks_dir, key + ".npz")
        return _read_task(plan, path, *ranges[key]) if os.path.exists(path) else None

    def write(key, arrays):
        atomic_savez(os.path.join(tasks_dir, key + ".npz"), arrays, overwrite=True)

    return Store(tasks_dir, read, write, SOURCES)


def _read_task(plan, path, a, b):
    """``(arrays, source stamp or None)`` of a task file."""
    from rnndyn.io import read_npz
    shapes = {MEASURES[m].variable: (b - a,) + _measure_shape(plan, m)
              for m in plan["measures"]}
    arrays = read_npz(path, what="sweep task file",
                      allowed_keys=list(shapes) + ["source_stamp"], required_keys=shapes,
                      expected_shapes=shapes)
    for m in plan["measures"]:
        v = MEASURES[m].variable
        arrays[v] = arrays[v].astype(MEASURES[m].dtype, copy=False)
    stamp = arrays.get("source_stamp")  # none in the files of rnndyn before the stamps
    return arrays, None if stamp is None else str(stamp)


def plan_differences(saved, planned):
    """``['key: X saved, Y now', …]`` between two plans."""
    out = []
    for key in sorted(set(saved) | set(planned)):
        if saved.get(key) != planned.get(key):
            out.append(f"{key}: {json.dumps(saved.get(key))} saved, "
                       f"{json.dumps(planned.get(key))} now")
    return out


def _prepare_tasks_dir(plan, tasks_dir, overwrite):
    """Check (or write) ``tasks/plan.json``; with overwrite, clear another plan's tasks."""
    from rnndyn.io import atomic_write_json, read_json
    path = os.path.join(tasks_dir, PLAN_FILE)
    if os.path.exists(path):
        saved = read_json(path, what="sweep plan")
        if saved == plan:
            return
        if not overwrite:
            diffs = "; ".join(plan_differences(saved, plan))
            raise InputError(f"{tasks_dir} holds the tasks of another sweep ({diffs}); use "
                             "another --out, or --overwrite to discard them")
        for name in os.listdir(tasks_dir):
            if name.endswith(".npz") and name.startswith("t"):
                os.unlink(os.path.join(tasks_dir, name))
    atomic_write_json(path, plan, overwrite=True)


# ---------------------------------------------------------------- running

def count_finished(plan, out, *, in_process=False):
    """Tasks of ``plan`` saved under ``<out>/tasks`` (0 for another plan); tasks computed
    by other rnndyn code than would compute them now (this process's with
    ``in_process``, else new workers') do not count: they are computed again."""
    tasks_dir = os.path.join(os.fspath(out), TASKS_FOLDER)
    path = os.path.join(tasks_dir, PLAN_FILE)
    if not os.path.exists(path):
        return 0
    from rnndyn._runner import saved
    from rnndyn.io import read_json
    if read_json(path, what="sweep plan") != plan:
        return 0
    keys = [_task_key(a, b) for a, b in tasks_of(plan)]
    return len(saved(_store(plan, tasks_dir), keys, in_process=in_process)[0])


def run_sweep(plan, out=None, *, workers=0, scheduler=None, dask_workers=None,
              client=None, overwrite=False, progress=None, provenance=None, stats=None,
              notice=None):
    """Run (or resume) the sweep ``plan``; return its Dataset.

    Parameters
    ----------
    plan : dict
        From :func:`plan_sweep`.
    out : str, optional
        Folder: each finished task is saved at once in ``<out>/tasks/`` (with the
        plan), and the tasks already there are not computed again, unless other
        rnndyn code computed them (their source stamp differs: they are computed
        again, said in one line on stderr). The folder is locked for the duration.
        None: in memory, nothing written.
    workers : int
        Local worker processes (1 thread each); 0 runs in this process.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler: run the tasks there.
    dask_workers : int, optional
        Start a LocalCluster of this many workers on 127.0.0.1 and run there.
    client : distributed.Client, optional
        Run on this client (the caller's cluster).
    overwrite : bool
        Discard saved tasks of another plan instead of refusing.
    progress : callable, optional
        ``progress(n)`` after each newly finished task (n = 1).
    provenance : dict, optional
        Stored (as JSON) in ``attrs['provenance']``.
    stats : dict, optional
        Filled with this call's counts: n_tasks, n_computed, n_reused, seconds.
    notice : callable, optional
        Takes the line about recomputed stale tasks instead of stderr.

    Returns
    -------
    xarray.Dataset
        See :func:`dataset`. The same plan gives the same Dataset, bit for bit,
        whatever ran it and however often it was interrupted.
    """
    from rnndyn import _runner
    from rnndyn._folder_lock import folder_lock
    t0 = time.perf_counter()
    tasks = [(_task_key(a, b), (plan, a, b)) for a, b in tasks_of(plan)]
    store, lock = None, contextlib.nullcontext()
    label = None if out is None else f"--out {os.fspath(out)}"
    if out is not None:
        tasks_dir = os.path.join(os.fspath(out), TASKS_FOLDER)
        store, lock = _store(plan, tasks_dir), folder_lock(tasks_dir, label)
    with lock:  # re-entrant: the runner takes it again
        if store is not None:
            _prepare_tasks_dir(plan, store.folder, overwrite)
        on_dask = (scheduler, dask_workers, client) != (None, None, None)
        warm = _warm_plan(plan) if on_dask else None
        results, n_computed = _runner.run(
            run_task, tasks, store=store, workers=workers, scheduler=scheduler,
            dask_workers=dask_workers, client=client,
            warm=None if warm is None else (warm, 0, 1), progress=progress, notice=notice,
            describe=lambda key: f"points {int(key[1:9])}-{int(key[10:]) - 1}",
            resume_hint="finished tasks are saved with --out; run the same sweep again to "
                        "resume", label=label)
    if stats is not None:
        stats.update(n_tasks=len(tasks), n_computed=n_computed,
                     n_reused=len(tasks) - n_computed,
                     seconds=round(time.perf_counter() - t0, 3))
    return dataset(plan, [results[k] for k, _ in tasks], provenance)


def dataset(plan, task_results, provenance=None):
    """The xarray Dataset of a plan from its tasks' arrays (in task order)."""
    import xarray as xr
    shape = grid_shape(plan)
    dims = [name for name, _ in plan["grid"]] + ["seed"]
    coords = {name: np.asarray(values) for name, values in plan["grid"]}
    coords["seed"] = np.asarray(plan["seeds"], dtype=np.int64)
    data_vars = {}
    for m in plan["measures"]:
        meas = MEASURES[m]
        extra = _measure_shape(plan, m)
        arr = np.concatenate([r[meas.variable] for r in task_results], axis=0) \
            if task_results else np.zeros((0,) + extra)
        arr = arr.astype(meas.dtype, copy=False).reshape(shape + extra)
        vdims = dims + ([meas.dim] if meas.dim else [])
        if meas.dim and meas.dim not in coords:
            coords[meas.dim] = np.arange(1, extra[0] + 1, dtype=np.int64)
        data_vars[meas.variable] = (vdims, arr, {"long_name": meas.help, "units": meas.units,
                                                 "measure": m})
    for name, _ in plan["grid"]:
        if coords[name].dtype.kind == "U":
            coords[name] = coords[name].astype(object)
    from rnndyn import __version__
    attrs = {ATTR_PLAN: json.dumps(plan, sort_keys=True),
             ATTR_PROVENANCE: json.dumps(to_jsonable(provenance or {}), sort_keys=True),
             "rnndyn_version": __version__, "plan_sha256": plan_hash(plan),
             "title": "rnndyn parameter sweep"}
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def sweep(grid, *, seeds=1, measures=("lyapunov-top",), seed=0, fixed=None, batch="auto",
          out=None, workers=0, scheduler=None, dask_workers=None, client=None,
          overwrite=False, progress=None, **settings):
    """Plan and run a sweep (see :func:`plan_sweep` and :func:`run_sweep`).

    Returns
    -------
    xarray.Dataset
        Dimensions: the swept parameters, ``seed``, then a measure's own
        (``exponent``); variables: the measures with underscores.

    Notes
    -----
    The edge of chaos of random tanh networks h ← tanh(W h), W ~ N(0, g²/N), lies at
    g = 1 for large N (Sompolinsky, Crisanti & Sommers 1988); input drive moves it to
    larger g (Molgedey, Schuchhardt & Schuster 1992; Rajan, Abbott & Sompolinsky 2010).
    """
    plan = plan_sweep(grid, seeds=seeds, measures=measures, seed=seed, fixed=fixed,
                      batch=batch, **settings)
    return run_sweep(plan, out, workers=workers, scheduler=scheduler,
                     dask_workers=dask_workers, client=client, overwrite=overwrite,
                     progress=progress)


# ---------------------------------------------------------------- files and JSON

def to_json(ds):
    """The JSON contract: ``dims`` (names in order), ``coords`` ({name: values}),
    ``data`` ({variable: nested list in the order of ``dims``}), ``var_dims``
    ({variable: its dims})."""
    dims = []
    for v in ds.data_vars.values():
        for d in v.dims:
            if d not in dims:
                dims.append(d)
    coords = {d: to_jsonable(ds[d].values.tolist()) for d in dims}
    data = {name: to_jsonable(v.values) for name, v in ds.data_vars.items()}
    var_dims = {name: list(v.dims) for name, v in ds.data_vars.items()}
    return {"dims": dims, "coords": coords, "data": data, "var_dims": var_dims}


def plan_of(ds):
    """The plan a sweep Dataset was made from."""
    return json.loads(ds.attrs[ATTR_PLAN])


def paths(out, fmt="png"):
    out = os.fspath(out)
    return {"nc": os.path.join(out, STEM + ".nc"), "json": os.path.join(out, STEM + ".json"),
            "figure": os.path.join(out, f"{STEM}.{fmt}")}


def save(ds, out, *, overwrite=False):
    """Write ``<out>/sweep.nc`` (netCDF4) and ``<out>/sweep.json`` atomically.

    The ``.json`` holds the JSON contract (:func:`to_json`), the plan, the
    provenance and the sha256 of the ``.nc``; it is written last.
    """
    from rnndyn.io import atomic_write, atomic_write_json, check_target, file_sha256
    p = paths(out)
    check_target(p["nc"], overwrite)
    check_target(p["json"], overwrite)
    digest = []

    def write_nc(tmp):
        ds.to_netcdf(tmp, mode="w", format="NETCDF4", engine="netcdf4")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        digest.append(file_sha256(tmp))

    atomic_write(p["nc"], lambda f: None, overwrite=overwrite, before_replace=write_nc)
    doc = dict(to_json(ds), type="SweepDataset", plan=plan_of(ds),
               provenance=json.loads(ds.attrs.get(ATTR_PROVENANCE, "{}")),
               rnndyn_version=ds.attrs.get("rnndyn_version"), nc_sha256=digest[0])
    atomic_write_json(p["json"], doc, overwrite=overwrite)
    return [p["nc"], p["json"]]


def load(path):
    """The Dataset saved by :func:`save`: ``path`` is the folder, ``sweep.nc`` or its stem.

    Refuses a ``.nc`` whose sha256 is not the one its ``.json`` records (a pair
    mixed by an interrupted overwrite).
    """
    import xarray as xr
    from rnndyn.io import file_sha256, read_json
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, STEM + ".nc")
    elif not path.endswith(".nc"):
        path = path[:-5] if path.endswith(".json") else path
        path += ".nc"
    js = path[:-3] + ".json"
    if not os.path.exists(path):
        raise InputError(f"cannot read sweep {path}: no such file")
    if os.path.exists(js):
        doc = read_json(js, what="sweep metadata")
        if doc.get("nc_sha256") != file_sha256(path):
            raise InputError(f"cannot read sweep {path}: it does not match {js} (sha256 "
                             "differs; an interrupted overwrite?)")
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            out = ds.load()
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read sweep {path}: {exc}") from None
    for name in list(out.coords):
        if out[name].dtype.kind in "OU":
            out[name] = out[name].astype(object)
    return out


# ---------------------------------------------------------------- plots

def _axis_coords(values):
    """(positions, tick labels or None): real values when numeric and monotonic."""
    arr = np.asarray(values)
    if arr.dtype.kind in "if" and arr.size > 1:
        d = np.diff(arr.astype(float))
        if np.all(d > 0) or np.all(d < 0):
            return arr.astype(float), None
    if arr.dtype.kind in "if" and arr.size == 1:
        return arr.astype(float), None
    return np.arange(arr.size, dtype=float), [str(v) for v in arr.tolist()]


def _edges(x):
    if x.size == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[2 * x[0] - mid[0]], mid, [2 * x[-1] - mid[-1]]])


def _label(name):
    return {"gain": "gain $g$", "input_scale": "input scale", "n": "$N$",
            "bias_scale": "bias scale", "length": "sequence length $L$"}.get(name, name)


#: variables drawn with a contour at 0 on a heat map (the edge of chaos, the
#: vanishing/exploding boundary)
ZERO_CONTOUR = ("lyapunov_top", "gradflow_rate", "lyapunov_spectrum")


def plot_variable(ds, variable, ax, *, facet=None):
    """Draw one scalar variable of a sweep on ``ax``: mean over seeds.

    One swept parameter: a line with the seeds' spread (min–max band, ±1 std
    band); two: a heat map (x the first, y the second) with a contour at 0 for
    the rates and exponents of :data:`ZERO_CONTOUR`. ``facet`` ({dim: value})
    selects one value of every further parameter. Returns the artist.
    """
    da = ds[variable]
    if "exponent" in da.dims:
        da = da.isel(exponent=0)
    if facet:
        da = da.sel(facet)
    swept = [d for d in da.dims if d != "seed"]
    values = da.values.astype(float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point NaN for every seed
        mean = np.nanmean(values, axis=-1)
    title = ds[variable].attrs.get("measure", variable)
    if len(swept) == 0:
        art = ax.bar(["all seeds"], [float(np.nanmean(values))])
        ax.set_ylabel(title)
        return art
    if len(swept) == 1:
        x, ticks = _axis_coords(ds[swept[0]].values)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a point NaN for every seed
            lo, hi = np.nanmin(values, axis=-1), np.nanmax(values, axis=-1)
            sd = np.nanstd(values, axis=-1)
        if values.shape[-1] > 1:
            ax.fill_between(x, lo, hi, color="C0", alpha=0.15, lw=0, label="seeds: min–max")
            ax.fill_between(x, mean - sd, mean + sd, color="C0", alpha=0.3, lw=0,
                            label="±1 std")
        (art,) = ax.plot(x, mean, "o-", color="C0", ms=3,
                         label=f"mean over {values.shape[-1]} seed(s)")
        if variable in ZERO_CONTOUR:
            ax.axhline(0.0, color="k", lw=0.6, ls=":")
        if ticks:
            ax.set_xticks(x, ticks)
        ax.set_xlabel(_label(swept[0]))
        ax.set_ylabel(title)
        ax.legend(loc="best", fontsize="small")
        return art
    xd, yd = swept[0], swept[1]
    x, xt = _axis_coords(ds[xd].values)
    y, yt = _axis_coords(ds[yd].values)
    Z = mean.T  # rows: y
    art = ax.pcolormesh(_edges(x), _edges(y), np.ma.masked_invalid(Z), shading="flat",
                        cmap="RdBu_r" if variable in ZERO_CONTOUR else "viridis")
    if variable in ZERO_CONTOUR:
        finite = Z[np.isfinite(Z)]
        if finite.size:
            m = float(np.max(np.abs(finite))) or 1.0
            art.set_clim(-m, m)
        if Z.shape[0] > 1 and Z.shape[1] > 1 and finite.size and finite.min() < 0 \
                < finite.max():
            ax.contour(x, y, Z, levels=[0.0], colors="k", linewidths=1.0)
    ax.figure.colorbar(art, ax=ax, label=title)
    if xt:
        ax.set_xticks(x, xt)
    if yt:
        ax.set_yticks(y, yt)
    ax.set_xlabel(_label(xd))
    ax.set_ylabel(_label(yd))
    return art


def plot(ds, variables=None, *, max_facets=4):
    """A figure of a sweep: one row per variable (default: all, at most 4), one
    column per value of a third swept parameter (at most ``max_facets``; further
    parameters at their first value)."""
    from rnndyn.figures.style import new_figure
    variables = list(variables or ds.data_vars)[:4]
    if not variables:
        raise InputError("the sweep has no variable to plot")
    swept = [d for d in ds[variables[0]].dims if d not in ("seed", "exponent")]
    facets = [{}]
    if len(swept) > 2:
        rest = {d: ds[d].values[0] for d in swept[3:]}
        facets = [dict(rest, **{swept[2]: v}) for v in ds[swept[2]].values[:max_facets]]
    fig, axes = new_figure(len(variables), len(facets),
                           figsize=(4.4 * len(facets), 3.3 * len(variables)))
    for i, var in enumerate(variables):
        for j, facet in enumerate(facets):
            ax = axes[i, j]
            plot_variable(ds, var, ax, facet=facet or None)
            if facet:
                ax.set_title(", ".join(f"{k} = {v}" for k, v in facet.items()),
                             fontsize="small")
    return fig
