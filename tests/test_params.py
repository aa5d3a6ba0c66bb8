"""One parameter container: training's Params is an RNN and a Readout over one theta, and
what training saves loads back (rnndyn.models.load_weights / load_with_readout)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn import InputError
from rnndyn.cells import CELLS
from rnndyn.cli.main import cli
from rnndyn.models import (RNN, Readout, load_weights, load_with_readout, make_rnn,
                           save_weights)
from rnndyn.results import load_result
from rnndyn.training import Params, init_params, trained_model

from conftest import RTOL_EXACT

INITS = {"vanilla": "basic-tanh", "lstm": "pytorch", "gru": "pytorch"}


@pytest.mark.parametrize("cell", CELLS)
def test_model_and_readout_are_views_of_theta(cell, rng):
    P = init_params(5, 3, 2, INITS[cell], cell=cell, seed=1)
    assert isinstance(P.model, RNN) and isinstance(P.readout, Readout)
    assert P.model.cell == cell and (P.N, P.M, P.K) == (5, 3, 2) and P.S == P.model.S
    assert P.cell_code == P.model.cell_code and P.size == P.model.size + P.readout.size
    for a in (P.W, P.U, P.b, P.V, P.c):
        assert np.shares_memory(a, P.theta) and not a.flags.writeable
    assert P.W is P.model.W and P.V is P.readout.V
    # an in-place update of theta (the optimiser's step) is what the model and readout hold
    step = rng.standard_normal(P.size)
    W0, V0, c0 = P.W.copy(), P.V.copy(), P.c.copy()
    P.theta -= 0.1 * step
    dW, _, _, dV, dc = P.views(step)
    np.testing.assert_array_equal(P.model.W, W0 - 0.1 * dW)
    np.testing.assert_array_equal(P.readout.V, V0 - 0.1 * dV)
    np.testing.assert_array_equal(P.readout.c, c0 - 0.1 * dc)
    # the kernels' views are writable views of the same memory
    P._views[0][0, 0] = 7.0
    assert P.model.W[0, 0] == 7.0
    # rnn() and copy() are snapshots
    snap, twin = P.rnn(), P.copy()
    P.theta += 1.0
    assert not np.shares_memory(snap.W, P.theta) and snap.W[0, 0] == 7.0
    assert twin.model.W[0, 0] == 7.0 and not np.shares_memory(twin.theta, P.theta)


def test_from_vector_refuses_what_it_could_not_view():
    theta = np.zeros(4 * 4 + 4 * 2 + 4)
    with pytest.raises(InputError, match="C-contiguous float64"):
        RNN.from_vector(theta.astype(np.float32), 4, 2)
    with pytest.raises(InputError, match="at least 28"):
        RNN.from_vector(theta[:-1], 4, 2)
    with pytest.raises(InputError, match=r"K·\(N\+1\) = 10 numbers"):
        Readout.from_vector(np.zeros(9), 4, 2)
    with pytest.raises(InputError, match="theta must have shape"):
        Params(np.zeros(theta.size + 2 * 5 + 1), 4, 2, 2)
    with pytest.raises(InputError, match="fixes its activations"):
        Params(np.zeros(500), 4, 2, 2, activation="relu", cell="gru")


def test_from_arrays_copies_and_leaves_the_callers_arrays_alone(rng):
    W, U, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 2)), np.zeros(4)
    V, c = rng.standard_normal((3, 4)), np.ones(3)
    P = Params.from_arrays(W, U, b, V, c, form="elman")
    assert all(a.flags.writeable for a in (W, U, b, V, c))
    assert not any(np.shares_memory(a, P.theta) for a in (W, U, b, V, c))
    Q = Params.from_parts(P.rnn(), Readout(P.V.copy(), P.c.copy()))
    np.testing.assert_array_equal(P.theta, Q.theta)
    assert Q.form == "elman"
    with pytest.raises(InputError, match=r"V must have shape \(K, 4\)"):
        Params.from_parts(P.model, Readout(np.ones((3, 5))))
    np.testing.assert_array_equal(Readout(V, c).outputs(np.ones((2, 4))),
                                  np.ones((2, 4)) @ V.T + c)


@pytest.mark.parametrize("cell", CELLS)
def test_weights_file_with_readout_round_trip(cell, tmp_path, rng):
    rnn = make_rnn(4, n_inputs=2, init=INITS[cell], cell=cell, seed=2)
    readout = Readout(rng.standard_normal((3, 4)), rng.standard_normal(3))
    path = save_weights(rnn, str(tmp_path / "w.npz"), readout=readout)
    net = load_weights(path)
    back, ro = load_with_readout(path)
    for m in (net, back):
        assert m.cell == cell
        for k in "WUb":
            np.testing.assert_array_equal(getattr(m, k), getattr(rnn, k))
    np.testing.assert_array_equal(ro.V, readout.V)
    np.testing.assert_array_equal(ro.c, readout.c)
    assert load_with_readout(save_weights(rnn, str(tmp_path / "plain.npz")))[1] is None
    with pytest.raises(InputError, match="readout must be"):
        save_weights(rnn, str(tmp_path / "x.npz"), readout=Readout(np.ones((3, 5))))
    np.savez(tmp_path / "bad.npz", W=rnn.W, U=rnn.U, b=rnn.b, cell=np.array(cell),
             V=np.ones((3, 5)))
    with pytest.raises(InputError, match="array 'V' has shape"):
        load_with_readout(tmp_path / "bad.npz")


def _invoke(*args):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.parametrize("cell", CELLS)
def test_what_train_saves_every_analysis_reads(cell, tmp_path):
    """rnndyn train --out DIR writes DIR/train.weights.npz (network + readout) for every
    cell; gradflow --weights reads it and gives the analysis of the trained model."""
    out = tmp_path / "o"
    doc = _invoke("train", "temporal-order", "--length", 10, "--cell", cell, "--n", 4,
                  "--batch-size", 4, "--updates", 2, "--eval-every", 2, "--eval-size", 10,
                  "--json", "--quiet", "--out", out)
    wfile = out / "train.weights.npz"
    assert str(wfile) in [str(f) for f in doc["files"]]
    res = load_result(out / "train")
    rnn, readout = trained_model(res)
    for f in (wfile, out / "train.npz"):
        net, ro = load_with_readout(f)
        assert net.cell == rnn.cell and net.label == rnn.label
        for k in "WUb":
            np.testing.assert_array_equal(getattr(net, k), getattr(rnn, k))
        np.testing.assert_array_equal(ro.V, readout.V)
        np.testing.assert_array_equal(ro.c, readout.c)
    flow = _invoke("gradflow", "--weights", wfile, "--steps", 12, "--seed", 3, "--json")
    from rnndyn.gradflow import gradient_flow
    from rnndyn.simulate import initial_state
    api = gradient_flow(rnn, initial_state(rnn, "random", seed=4), 12, seed=3)
    np.testing.assert_allclose(flow["log10_norm"], api.log10_norm, rtol=RTOL_EXACT,
                               atol=RTOL_EXACT)
    assert flow["rate_per_step"] == pytest.approx(api.rate_per_step, rel=RTOL_EXACT)
    assert flow["model"]["N"] == 4 and flow["model"].get("cell", "vanilla") == cell


def test_resaving_a_trained_file_keeps_its_readout(tmp_path):
    """rnndyn weights --weights train.weights.npz --out w.npz (e.g. with another
    activation) writes the readout again: the file stays trainable from where it stopped."""
    out = tmp_path / "o"
    _invoke("train", "temporal-order", "--length", 10, "--n", 4, "--batch-size", 4,
            "--updates", 2, "--eval-every", 2, "--eval-size", 10, "--json", "--quiet",
            "--out", out)
    wfile = out / "train.weights.npz"
    again = tmp_path / "again.npz"
    _invoke("weights", "--weights", wfile, "--activation", "sigmoid", "--out", again,
            "--json", "--quiet")
    net0, ro0 = load_with_readout(wfile)
    net1, ro1 = load_with_readout(again)
    assert net1.activation == "sigmoid"
    for k in "WUb":
        np.testing.assert_array_equal(getattr(net1, k), getattr(net0, k))
    np.testing.assert_array_equal(ro1.V, ro0.V)
    np.testing.assert_array_equal(ro1.c, ro0.c)
