"""Trainability map: the success rate of BPTT training over the initial gain × the
sequence length, from a parameter sweep (:mod:`rnndyn.sweep`, measures
``train-success`` and ``train-error``).

Networks W ~ N(0, g²/N) trained with clipped SGD on the temporal-order task: small
gains vanish (the early symbols are forgotten), large ones explode; long sequences
shrink the trainable band. The default computation is *small* (N = 20, 3 gains × 3
lengths × 2 seeds, 500 updates per run: a few seconds): a failure within 500 updates
is not a failure in the paper's sense (up to 5M updates). A real map comes from
``rnndyn sweep --param gain=… --param length=… --measure train-success --updates …``.
"""

import numpy as np

from rnndyn.results import Result, result_type

NAME = "trainability-map"
TITLE = "Success rate of BPTT training over initial gain × sequence length (small budget)"
DEFAULTS = {"n": 20, "gains": [0.5, 1.0, 1.5], "lengths": [10, 15, 20], "n_seeds": 2,
            "task": "temporal-order", "method": "sgd-c", "budget": 500, "eval_size": 200,
            "workers": 0, "seed": 0}


@result_type
class TrainabilityMapResult(Result):
    """``success`` (0/1) and ``error_rate`` of shape (gains, lengths, seeds)."""
    gains: np.ndarray
    lengths: np.ndarray
    seeds: np.ndarray
    success: np.ndarray
    error_rate: np.ndarray
    meta: dict


def compute(params):
    """A ``train-success`` + ``train-error`` sweep over ``gains`` × ``lengths``."""
    from rnndyn import sweep as sw
    from rnndyn.results import make_meta
    ds = sw.sweep([("gain", [float(g) for g in params["gains"]]),
                   ("length", [int(v) for v in params["lengths"]])],
                  seeds=int(params["n_seeds"]), seed=int(params["seed"]),
                  measures=["train-success", "train-error"], fixed={"n": int(params["n"])},
                  task=params["task"], method=params["method"], budget=int(params["budget"]),
                  eval_size=int(params["eval_size"]), workers=int(params["workers"]))
    meta = make_meta(params, seed=int(params["seed"]), plan=sw.plan_of(ds))
    return TrainabilityMapResult(gains=ds.gain.values, lengths=ds.length.values,
                                 seeds=ds.seed.values, success=ds.train_success.values,
                                 error_rate=ds.train_error.values, meta=meta)


def dataset(result):
    import xarray as xr
    dims = ("gain", "length", "seed")
    return xr.Dataset({"train_success": (dims, result.success, {"measure": "success rate"}),
                       "train_error": (dims, result.error_rate,
                                       {"measure": "final error rate"})},
                      coords={"gain": result.gains, "length": result.lengths,
                              "seed": result.seeds})


def plot(result):
    """Heat maps (x: gain, y: length) of the success rate and of the mean final error."""
    from rnndyn import sweep as sw
    from rnndyn.figures.style import new_figure
    ds = dataset(result)
    fig, axes = new_figure(1, 2, figsize=(9.0, 3.5))
    sw.plot_variable(ds, "train_success", axes[0, 0])
    sw.plot_variable(ds, "train_error", axes[0, 1])
    p = result.meta.get("params", {})
    axes[0, 0].set_title(f"{p.get('task', '')}, {p.get('method', '')}, "
                         f"{p.get('budget', '?')} updates", fontsize="small")
    axes[0, 1].set_title(f"{result.seeds.size} seed(s) per cell", fontsize="small")
    return fig
