"""BPTT through LSTM and GRU cells: the kernel against its naive twin and PyTorch autograd
(nn.LSTM / nn.GRU + nn.Linear in float64), the forward-only kernel, training with a
gated cell, the Ω capability error, weights round trips and the CLI."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import naive
from conftest import RTOL_AUTODIFF, RTOL_EXACT
from test_cells import torch_module
from rnndyn import InputError
from rnndyn._kernels import bptt_gated as _kg
from rnndyn.cli.main import cli
from rnndyn.models import load_weights, make_rnn
from rnndyn.training import (Params, _forward, _loss_arrays, init_params, loss_and_grad,
                             train)

CELLS = ("lstm", "gru")
LOSSES = ("ce-last", "ce-all", "mse-last", "bernoulli-all")
LOSS_CODE = {"ce-last": 0, "ce-all": 0, "mse-last": 1, "bernoulli-all": 2}


def _problem(rng, cell, loss, N=5, M=3, K=4, T=7, B=3):
    """Perturbed PyTorch-initialised parameters (so no symmetry hides a bug), a minibatch,
    and the loss arguments of :func:`loss_and_grad` (Bernoulli: with padded steps)."""
    P = init_params(N, M, K, "pytorch", cell=cell, seed=1)
    P.theta += 0.3 * rng.standard_normal(P.size)
    u = rng.standard_normal((T, B, M))
    kw = {}
    if loss == "ce-last":
        kw["labels"] = rng.integers(0, K, size=B)
    elif loss == "ce-all":
        lab = rng.integers(-1, K, size=(T, B))
        lab[-1] = rng.integers(0, K, size=B)
        kw["labels"] = lab
    elif loss == "mse-last":
        kw["targets"] = rng.standard_normal((B, K))
    else:
        kw["targets"] = (rng.random((T, B, K)) < 0.4).astype(float)
        mask = np.ones((T, B), dtype=bool)
        mask[-2:, 0] = False
        kw["mask"] = mask
    return P, u, kw


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("loss", LOSSES)
def test_kernel_matches_naive(cell, loss, rng):
    P, u, kw = _problem(rng, cell, loss)
    T, B, _ = u.shape
    g = loss_and_grad(P, u, loss=loss, error_rule="absolute", error_tol=0.5, **kw)
    code, lab, tgt = _loss_arrays(loss, T, B, P.K, kw.get("labels"), kw.get("targets"),
                                  kw.get("mask"))
    ref = naive.gated_bptt(cell, P.W, P.U, P.b, P.V, P.c, code, lab, tgt, u, 1, 0.5)
    for name, got, want in zip("WUbVc", (g.W, g.U, g.b, g.V, g.c), ref[:5]):
        assert _rel(got, want) < RTOL_EXACT, name
    np.testing.assert_array_equal(g.wrong, ref[5])
    assert g.loss == pytest.approx(ref[6], rel=RTOL_EXACT)
    assert g.omega == 0.0
    # the forward-only kernel: the same loss and wrong answers
    wrong, stats = np.empty(B), np.zeros(2)
    _forward(P, code, lab, tgt, u, 1, 0.5, wrong, stats)
    assert stats[0] == pytest.approx(g.loss, rel=RTOL_EXACT)
    np.testing.assert_array_equal(wrong > 0.5, g.wrong)


def _torch_model(torch, P):
    """nn.LSTM / nn.GRU (test_cells.torch_module: W = weight_hh_l0, U = weight_ih_l0, the
    packed b split back into the two biases) and an nn.Linear readout, float64."""
    lin = torch.nn.Linear(P.N, P.K, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(P.V))
        lin.bias.copy_(torch.tensor(P.c))
    return torch_module(P.rnn()), lin


def _torch_loss(torch, mod, lin, u, loss, kw):
    F = torch.nn.functional
    out, _ = mod(torch.tensor(u))                 # (T, B, N), zero initial state
    y = lin(out)
    T, B, K = y.shape
    if loss == "ce-last":
        return F.cross_entropy(y[-1], torch.tensor(kw["labels"]))
    if loss == "ce-all":
        return F.cross_entropy(y.reshape(T * B, K), torch.tensor(kw["labels"].reshape(-1)),
                               ignore_index=-1)
    if loss == "mse-last":
        return F.mse_loss(y[-1], torch.tensor(kw["targets"]))
    m = torch.tensor(kw["mask"], dtype=torch.float64)
    nll = F.binary_cross_entropy_with_logits(y, torch.tensor(kw["targets"]),
                                             reduction="none").sum(-1)
    return (nll * m).sum() / m.sum()


@pytest.mark.torch
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("loss", LOSSES)
def test_gradients_match_torch_autograd(cell, loss, rng):
    torch = pytest.importorskip("torch", reason="PyTorch (CPU) is the autodiff oracle")
    P, u, kw = _problem(rng, cell, loss)
    g = loss_and_grad(P, u, loss=loss, **kw)
    mod, lin = _torch_model(torch, P)
    E = _torch_loss(torch, mod, lin, u, loss, kw)
    E.backward()
    assert g.loss == pytest.approx(E.item(), rel=RTOL_AUTODIFF)
    N = P.N
    gih, ghh = mod.bias_ih_l0.grad.numpy(), mod.bias_hh_l0.grad.numpy()
    if cell == "lstm":
        np.testing.assert_allclose(gih, ghh, rtol=1e-14, atol=0)   # b_ih, b_hh: one bias
        want_b = gih
    else:
        want_b = np.concatenate([gih, ghh[2 * N:]])
    for name, got, want in (("W", g.W, mod.weight_hh_l0.grad), ("U", g.U, mod.weight_ih_l0.grad),
                            ("b", g.b, want_b), ("V", g.V, lin.weight.grad),
                            ("c", g.c, lin.bias.grad)):
        want = np.asarray(want)
        assert _rel(got, want) < RTOL_AUTODIFF, name


def test_kernel_without_inputs_and_one_step(rng):
    """M = 0 (an autonomous cell) and T = 1 are edge cases of the products."""
    for cell in CELLS:
        for T in (1, 4):
            P = init_params(4, 0, 3, "gaussian", cell=cell, seed=2)
            P.theta += 0.3 * rng.standard_normal(P.size)
            u = np.zeros((T, 2, 0))
            lab = np.array([0, 2])
            g = loss_and_grad(P, u, lab)
            code, labels, tgt = _loss_arrays("ce-last", T, 2, P.K, lab, None)
            ref = naive.gated_bptt(cell, P.W, P.U, P.b, P.V, P.c, code, labels, tgt, u, 0,
                                   0.04)
            for got, want in zip((g.W, g.b, g.V, g.c), (ref[0], ref[2], ref[3], ref[4])):
                assert _rel(got, want) < RTOL_EXACT
            assert g.U.shape == (P.W.shape[0], 0)


def test_params_shapes_and_model_round_trip():
    rnn = make_rnn(6, n_inputs=2, init="pytorch", cell="gru", seed=3)
    V, c = np.ones((3, 6)), np.zeros(3)
    P = Params.from_rnn(rnn, V, c)
    assert P.cell == "gru" and P.W.shape == (18, 6) and P.U.shape == (18, 2)
    assert P.b.shape == (24,) and P.S == 6
    back = P.rnn()
    assert back.cell == "gru"
    np.testing.assert_array_equal(back.W, rnn.W)
    np.testing.assert_array_equal(back.b, rnn.b)
    with pytest.raises(InputError, match="theta"):     # a GRU's theta is no LSTM's
        Params(P.theta, 6, 2, 3, cell="lstm")
    with pytest.raises(InputError, match="W must be"):
        Params.from_arrays(np.zeros((6, 6)), np.zeros((6, 2)), np.zeros(24), V, c, cell="gru")


@pytest.mark.parametrize("cell", CELLS)
def test_omega_with_a_gated_cell_is_one_line(cell, rng):
    P, u, kw = _problem(rng, cell, "ce-last")
    with pytest.raises(InputError, match=f"not available for the {cell} cell") as info:
        loss_and_grad(P, u, omega="mean", alpha=1.0, **kw)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match=f"sgd-cr.*not available for the {cell} cell"):
        train("temporal-order", 10, "sgd-cr", "pytorch", n_hidden=4, max_updates=1,
              eval_every=1, eval_size=4, cell=cell)


@pytest.mark.parametrize("cell", CELLS)
def test_train_is_seeded_and_resumes_exactly(cell, tmp_path):
    kw = dict(n_hidden=6, batch_size=8, eval_every=10, eval_size=20, seed=4, cell=cell,
              lr=0.1, stop_at_success=False)
    a = train("temporal-order", 10, "sgd-c", "pytorch", max_updates=20, **kw)
    b = train("temporal-order", 10, "sgd-c", "pytorch", max_updates=20, **kw)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert a.W.shape == (6 * (4 if cell == "lstm" else 3), 6)
    assert a.meta["params"]["cell"] == cell and a.meta["model"]["cell"] == cell
    # stop after 10 updates, resume to 20: the same run
    ck = tmp_path / "ck.npz"
    train("temporal-order", 10, "sgd-c", "pytorch", max_updates=10, checkpoint=ck, **kw)
    c = train("temporal-order", 10, "sgd-c", "pytorch", max_updates=20, checkpoint=ck, **kw)
    np.testing.assert_array_equal(a.W, c.W)


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
def test_training_decreases_the_loss(cell):
    res = train("temporal-order", 10, "sgd-c", "gaussian", n_hidden=8, lr=0.1,
                max_updates=300, eval_every=100, eval_size=200, seed=1, cell=cell,
                stop_at_success=False)
    assert res.skipped == 0
    assert res.loss[-1] < 0.9 * res.loss[0]
    assert res.final_error_rate < 0.5          # chance: 3/4 wrong


def test_cli_train_gru_json_and_weights(tmp_path):
    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["train", "temporal-order", "--cell", "gru", "--n", "8",
                                   "--length", "10", "--batch-size", "4", "--updates", "20",
                                   "--eval-every", "10", "--eval-size", "20", "--json",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["cell"] == "gru" and doc["init"] == "pytorch" and doc["updates"] == 20
    # what train saves, load_weights reads: the trained GRU
    rnn = load_weights(out / "train.npz")
    assert rnn.cell == "gru" and rnn.W.shape == (24, 8) and rnn.b.shape == (32,)


def test_cli_refuses_omega_and_forget_bias_misuse(tmp_path):
    base = ["train", "temporal-order", "--n", "4", "--length", "10", "--updates", "2",
            "--eval-every", "2", "--eval-size", "4", "--quiet"]
    res = CliRunner().invoke(cli, base + ["--cell", "lstm", "--method", "sgd-cr"])
    assert res.exit_code == 2 and "not available for the lstm cell" in res.output
    res = CliRunner().invoke(cli, base + ["--forget-bias", "1"])
    assert res.exit_code == 2 and "--forget-bias" in res.output


def test_work_size_covers_the_kernel():
    """The workspace is exactly what the kernel slices (a short one would be caught)."""
    for cell, code in (("lstm", 2), ("gru", 3)):
        G, A = (4, 6) if cell == "lstm" else (3, 5)
        T, B, N, M = 5, 3, 4, 2
        want = (T + 1) * B * N * (2 if cell == "lstm" else 1) + T * B * A * N \
            + (2 if cell == "lstm" else 3) * T * B * G * N
        assert _kg._gated_work_size(T, B, N, M, code) == want
