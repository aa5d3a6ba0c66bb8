"""Training stacked RNNs: rnndyn.training.train(..., layers=, hidden=, skip=)."""

import numpy as np
import pytest

from rnndyn import tasks
from rnndyn.models import Readout
from rnndyn.results import load_result
from test_training import _same
from rnndyn.stack_bptt import stack_loss_and_grad
from rnndyn.training import (StackParams, StackTrainResult, TrainResult, evaluate,
                             init_stack_params, train, trained_stack)

# one SGD step of the loop against the validated gradient: the same numbers to rounding
STEP_RTOL = 1e-12


def _short(**kw):
    """A tiny stacked run (small enough for the plain-Python pass of CI)."""
    args = dict(method="sgd-c", init="gaussian", lr=0.05, layers=2, n_hidden=5,
                batch_size=4, max_updates=40, eval_every=20, eval_size=40, seed=3,
                diag_every=10, stop_at_success=False)
    args.update(kw)
    return train("temporal-order", (10, 14), **args)


@pytest.mark.parametrize("more", [dict(layers=1), dict(layers=1, skip="residual"),
                                  dict(hidden=6), dict(hidden=[6], skip="dense")])
def test_one_layer_is_the_one_layer_run(more):
    """layers=1 (any skip: layer 1 has nothing to skip) gives the old run bit for bit."""
    common = dict(method="sgd-c", init="basic-tanh", lr=0.05, batch_size=4,
                  max_updates=30, eval_every=10, eval_size=40, seed=3, diag_every=10,
                  stop_at_success=False)
    ref = train("addition", (10, 14), n_hidden=6, **common)
    got = train("addition", (10, 14), n_hidden=50 if "hidden" in more else 6, **common,
                **more)
    assert isinstance(got, TrainResult)
    _same(ref, got)
    assert "layers" not in got.meta["params"]


def test_first_update_is_the_validated_gradient_step():
    """The loop's step θ ← θ − lr·clip(∇E) equals stack_loss_and_grad on the run's first
    minibatch, drawn from the run's seed streams."""
    lr, thr, seed = 0.05, 0.5, 4
    r = train("temporal-order", 12, "sgd-c", "gaussian", layers=2, hidden=(5, 4),
              skip="residual", lr=lr, threshold=thr, batch_size=3, max_updates=1,
              eval_every=1, eval_size=10, seed=seed, diag_every=1, stop_at_success=False)
    init_seq, data_seq = np.random.SeedSequence(seed).spawn(2)
    spec = tasks.task_spec("temporal-order")
    p0 = init_stack_params([5, 4], spec.n_inputs, spec.n_outputs, "gaussian",
                           skip="residual", seed=np.random.default_rng(init_seq))
    batch = tasks.make_batch(spec, (12, 12), 3, np.random.default_rng(data_seq))
    g = stack_loss_and_grad(p0.stack(), p0.readout(), batch.inputs, batch.labels[-1],
                            clip="norm", threshold=thr)
    want = p0.theta - lr * g.grad
    got = np.concatenate([r.theta, r.V.ravel(), r.c])
    np.testing.assert_allclose(got, want, rtol=STEP_RTOL, atol=1e-15)
    assert r.grad_norm[0] == pytest.approx(g.norm, rel=STEP_RTOL)
    assert r.clip_fraction[0] == float(g.clipped)
    assert r.loss[0] == pytest.approx(g.loss, rel=STEP_RTOL)


@pytest.mark.parametrize("cell, init, skip, more", [
    ("vanilla", "smart-tanh", "residual", {}),
    ("vanilla", "gaussian", "dense", dict(form="elman")),
    ("lstm", "pytorch", "none", {}),
    ("gru", "pytorch", "residual", {}),
])
def test_every_cell_and_skip_trains(cell, init, skip, more):
    r = _short(cell=cell, init=init, skip=skip, hidden=(5, 4, 3), layers=None, **more)
    assert isinstance(r, StackTrainResult) and r.updates == 40 and r.skipped == 0
    assert np.all(np.isfinite(r.loss)) and 0.0 <= r.final_error_rate <= 1.0
    assert r.rho.shape == r.lambda1.shape == (4, 3)
    assert np.all(np.isnan(r.flow_rate)) and np.all(np.isnan(r.omega))
    assert np.all(np.isfinite(r.rho)) == (cell == "vanilla")
    p = r.meta["params"]
    assert (p["layers"], p["hidden"], p["skip"], p["cell"]) == (3, [5, 4, 3], skip, cell)
    assert r.meta["model"]["hidden"] == [5, 4, 3] and r.meta["model"]["skip"] == skip


def test_result_roundtrip_and_trained_stack(tmp_path):
    r = _short(skip="residual")
    r.save(tmp_path / "train")
    back = load_result(tmp_path / "train")
    _same(r, back)
    stack, readout = trained_stack(back)
    assert stack.hidden == [5, 5] and stack.skip == "residual"
    assert isinstance(readout, Readout)
    np.testing.assert_array_equal(stack.pack()[0], r.theta)
    # the final success test, recomputed from the saved stack
    params = StackParams(np.concatenate([r.theta, r.V.ravel(), r.c]), stack, readout.K)
    err, _ = evaluate(params, "temporal-order", (10, 14), 40,
                      seed=np.random.default_rng([3, 1, r.updates]))
    assert err == r.final_error_rate


class Kill(Exception):
    pass


def test_checkpoint_resumes_exactly(tmp_path):
    ref = _short(cell="gru", init="pytorch")
    path = tmp_path / "run.npz"

    def kill_at_30(n):
        if n == 30:
            raise Kill

    with pytest.raises(Kill):
        _short(cell="gru", init="pytorch", checkpoint=path, checkpoint_every=20,
               progress=kill_at_30)
    _same(ref, _short(cell="gru", init="pytorch", checkpoint=path, checkpoint_every=20))
    with pytest.raises(ValueError, match="skip="):
        _short(cell="gru", init="pytorch", checkpoint=path, skip="dense")


@pytest.mark.parametrize("kw, match", [
    (dict(method="sgd-cr"), "regulariser Ω is defined for one vanilla layer"),
    (dict(bidirectional=True), "cannot solve an online task"),
    (dict(layers=3, hidden=(4, 4)), "layers=3 and hidden with 2 sizes disagree"),
    (dict(skip="highway"), "unknown skip"),
    (dict(hidden=(4, 0)), "hidden must be >= 1"),
    (dict(layers=0), "layers must be >= 1"),
])
def test_bad_depth_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        _short(**kw)


@pytest.mark.slow  # about a second compiled
def test_a_residual_stack_learns_temporal_order():
    """3 residual smart-tanh layers with SGD-C: the paper's success test at L = 20."""
    r = train("temporal-order", 20, "sgd-c", "smart-tanh", layers=3, skip="residual",
              max_updates=1000, eval_every=250, eval_size=1000, seed=0)
    assert r.success and r.final_error_rate < 0.01 and r.updates <= 1000
    assert r.loss[-1] < r.loss[0]
