"""What a sweep computes at its points: the measures, a point's model, one task.

This is the code a worker runs (a local process, a Dask worker or this process),
and the code a sweep's task files are stamped with (:data:`SOURCES`): the planning,
the files and the plots of :mod:`rnndyn.sweep` do not change a task's numbers.
"""

import contextlib
import dataclasses
import math

import numpy as np

from rnndyn._validate import InputError

#: the modules whose code computes a task (with what they import): its source stamp
SOURCES = ("rnndyn._sweep_points",)

@dataclasses.dataclass(frozen=True)
class Measure:
    """A quantity computed at every grid point.

    ``compute(point)`` returns a scalar, or a 1-d array of length ``size(plan)``
    along the extra dimension ``dim``.
    """
    name: str
    help: str
    units: str
    compute: object
    dtype: str = "float64"
    dim: str = None
    heavy: bool = True

    @property
    def variable(self):
        return self.name.replace("-", "_")


def _lyap_top(pt):
    from rnndyn.lyapunov import largest_lyapunov
    s = pt.settings
    return largest_lyapunov(pt.rnn, pt.x0, s["steps"], transient=s["transient"],
                            inputs=pt.inputs, history=False, seed=pt.seed).exponent


def _lyap_spectrum(pt):
    return pt.lyapunov(pt.plan_k)


def _kaplan_yorke(pt):
    from rnndyn.lyapunov import kaplan_yorke_dimension
    return kaplan_yorke_dimension(pt.lyapunov(pt.rnn.N), pt.rnn.N)


def _gradflow_rate(pt):
    from rnndyn.gradflow import gradient_flow
    s = pt.settings
    u = None if pt.inputs is None else pt.inputs[s["transient"]:]
    with np.errstate(all="ignore"):
        res = gradient_flow(pt.rnn, pt.x_after_transient, s["steps"], u,
                            jacobian_stats=False, seed=pt.seed)
    if not np.isfinite(res.rate_per_step):
        return res.rate_per_step
    return _slope(res.lag, res.log_norm, res.fit_window)


def _slope(lag, y, window):
    """The least-squares slope of :func:`rnndyn.gradflow.fit_rate`, summed exactly
    (``math.fsum``): ``np.dot`` goes through BLAS, whose result changes in the last bits
    with the arrays' memory alignment, and a sweep must be bit-reproducible."""
    lo, hi = window
    x = [float(v) for v in lag[lo:hi + 1]]
    y = [float(v) for v in y[lo:hi + 1]]
    mx, my = math.fsum(x) / len(x), math.fsum(y) / len(y)
    dx = [v - mx for v in x]
    return math.fsum(a * (b - my) for a, b in zip(dx, y)) / math.fsum(a * a for a in dx)


def _spectral_radius(pt):
    return pt.spectrum.spectral_radius


def _max_singular(pt):
    return pt.spectrum.max_singular_value


def _n_fixed_points(pt):
    from rnndyn.fixedpoints import fixed_points
    u = None if pt.rnn.M == 0 else np.zeros(pt.rnn.M)
    return len(fixed_points(pt.rnn, u, n_starts=pt.settings["n_starts"], seed=pt.seed).points)


def _train_success(pt):
    return int(pt.training.success)


def _train_updates(pt):
    return int(pt.training.updates)


def _train_error(pt):
    return float(pt.training.final_error_rate)


MEASURES = {m.name: m for m in (
    Measure("lyapunov-top", "largest Lyapunov exponent (vector method)", "nats/step",
            _lyap_top),
    Measure("lyapunov-spectrum", "top k Lyapunov exponents (QR method; k = --k, default "
            "min N)", "nats/step", _lyap_spectrum, dim="exponent"),
    Measure("kaplan-yorke", "Kaplan–Yorke dimension of the full spectrum", "1",
            _kaplan_yorke),
    Measure("gradflow-rate", "growth rate of ‖∂x_T/∂x_k‖ per step (after the transient)",
            "nats/step", _gradflow_rate, heavy=False),
    Measure("spectral-radius", "spectral radius ρ(W)", "1", _spectral_radius, heavy=False),
    Measure("max-singular-value", "largest singular value λ1(W)", "1", _max_singular,
            heavy=False),
    Measure("n-fixed-points", "number of fixed points found (u = 0; --n-starts starts)",
            "1", _n_fixed_points, dtype="int64"),
    Measure("train-success", "1 if BPTT training (--task, --method) succeeds within "
            "--updates updates", "1", _train_success, dtype="int64"),
    Measure("train-updates", "updates done by the training run (at success or budget)",
            "1", _train_updates, dtype="int64"),
    Measure("train-error", "error rate of the trained network on fresh sequences", "1",
            _train_error),
)}


def _cell_options(v):
    """The model keywords of a point's cell: activation and form for the vanilla cell, the
    cell and its forget bias for the gated ones (which fix their activations)."""
    if v.get("cell", "vanilla") == "vanilla":
        return {"activation": v["activation"], "form": v["form"]}
    return {"cell": v["cell"], "forget_bias": v["forget_bias"]}


class _Point:
    """One grid point: the model and what several measures share, built lazily."""

    def __init__(self, plan, values, seed):
        self.values, self.seed = values, seed
        self.settings = plan["settings"]
        self.plan_k = plan["k"]
        self._cache = {}

    def _get(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def rnn(self):
        def make():
            from rnndyn.models import RNN, make_rnn
            v = self.values
            M = self.settings["n_inputs"]
            rnn = make_rnn(v["n"], n_inputs=M, init=v["init"], gain=v["gain"],
                           seed=self.seed, **_cell_options(v))
            if v["bias_scale"] > 0:
                b = v["bias_scale"] * np.random.default_rng(self.seed + 3).standard_normal(
                    rnn.b.shape[0])
                rnn = RNN(rnn.W, rnn.U, rnn.b + b, rnn.activation, rnn.form, cell=rnn.cell)
            return rnn
        return self._get("rnn", make)

    @property
    def x0(self):
        from rnndyn.simulate import initial_state
        return self._get("x0", lambda: initial_state(self.rnn, "random", seed=self.seed + 1))

    @property
    def inputs(self):
        """u_1 … u_{transient+steps} (N(0, input_scale²)), or None when autonomous."""
        def make():
            from rnndyn.inputs import make_inputs
            scale = self.values["input_scale"]
            if scale == 0 or self.rnn.M == 0:
                return None
            s = self.settings
            return make_inputs("gaussian", s["transient"] + s["steps"], self.rnn.M,
                               scale=scale, seed=self.seed + 2)
        return self._get("inputs", make)

    @property
    def x_after_transient(self):
        def make():
            from rnndyn.simulate import trajectory
            tr = self.settings["transient"]
            if tr == 0:
                return self.x0
            u = None if self.inputs is None else self.inputs[:tr]
            with np.errstate(all="ignore"):
                X, _ = trajectory(self.rnn, self.x0, tr, u)
            return np.ascontiguousarray(X[-1])
        return self._get("xt", make)

    @property
    def spectrum(self):
        from rnndyn.spectra import spectrum
        return self._get("spectrum", lambda: spectrum(self.rnn))

    def lyapunov(self, k):
        """The top k exponents (QR method, one thread), shared by the measures asking for
        the same k (a top-k run is not the full one cut: its rounding differs, and a
        point's numbers must not depend on which other measures were asked for)."""
        def make():
            from rnndyn.lyapunov import lyapunov_spectrum
            s = self.settings
            with np.errstate(all="ignore"):
                return lyapunov_spectrum(self.rnn, self.x0, s["steps"], k=k,
                                         transient=s["transient"], inputs=self.inputs,
                                         history=False, seed=self.seed,
                                         threads=1).exponents
        return self._get(("lyap", k), make)

    @property
    def training(self):
        def make():
            from rnndyn.training import train
            v, s = self.values, self.settings
            return train(s["task"], v["length"], s["method"], v["init"], n_hidden=v["n"],
                         gain=v["gain"], seed=self.seed, max_updates=s["budget"],
                         **_cell_options(v),
                         eval_every=min(1000, s["budget"]), eval_size=s["eval_size"])
        return self._get("train", make)


def list_measures():
    """``[(name, help, units)]`` of every measure."""
    return [(m.name, m.help, m.units) for m in MEASURES.values()]


def grid_shape(plan):
    return tuple(len(v) for _, v in plan["grid"]) + (len(plan["seeds"]),)


def point(plan, index):
    """The parameter values ``{name: value}`` and the seed of flat point ``index``."""
    idx = np.unravel_index(index, grid_shape(plan))
    values = dict(plan["fixed"])
    for (name, vals), i in zip(plan["grid"], idx[:-1]):
        values[name] = vals[i]
    return values, plan["seeds"][idx[-1]]


def _measure_shape(plan, m):
    return (plan["k"],) if MEASURES[m].dim == "exponent" else ()


def run_task(plan, start, stop):
    """Compute every measure at points ``start`` … ``stop - 1``: ``{variable: array}``.

    What each worker runs (a local process, a Dask worker or this process): BLAS
    and numba on one thread, so a point's numbers do not depend on where it ran.
    The arrays come with ``source_stamp`` (a 0-d string array): the stamp of the
    code that computed them (:func:`rnndyn._sources.process_stamp` of :data:`SOURCES`).
    """
    from rnndyn._sources import process_stamp
    from rnndyn._threads import blas_threads
    with contextlib.suppress(Exception):  # no numba: nothing to limit
        import numba
        numba.set_num_threads(1)
    out = {MEASURES[m].variable: np.zeros((stop - start,) + _measure_shape(plan, m),
                                          dtype=MEASURES[m].dtype)
           for m in plan["measures"]}
    with blas_threads(1):
        for j, index in enumerate(range(start, stop)):
            values, seed = point(plan, index)
            pt = _Point(plan, values, seed)
            for m in plan["measures"]:
                try:
                    out[MEASURES[m].variable][j] = MEASURES[m].compute(pt)
                except InputError as exc:
                    where = ", ".join(f"{n}={values[n]}" for n, _ in plan["grid"])
                    raise InputError(f"{m} at {where or 'the point'}, seed {seed}: "
                                     f"{exc}") from None
    out["source_stamp"] = np.array(process_stamp(SOURCES))
    return out
