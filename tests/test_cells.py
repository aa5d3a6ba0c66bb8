"""The gated cells (rnndyn.cells, rnndyn._kernels.cells) against PyTorch, the naive twins
and exact properties: forward pass, one-step Jacobians, J·v / vᵀJ / J·P of every cell
code (vanilla included) against the dense J, all-lag norms
(with the LSTM's blocks), transport, Lyapunov spectra and the capability errors."""

import numpy as np
import pytest

import naive
from conftest import RTOL_EXACT
from rnndyn import InputError
from rnndyn._kernels import cells as _kc
from rnndyn.gradflow import gradient_flow, transport
from rnndyn.lyapunov import (finite_time_exponents, largest_lyapunov, lyapunov_ensemble,
                             lyapunov_spectrum)
from rnndyn.models import RNN
from rnndyn.simulate import jacobian, trajectory, trajectories

torch = pytest.importorskip("torch")

# vs PyTorch float64: the same arithmetic in another order (and a tanh within 3 ulp)
ATOL_TORCH = 1e-12
# log norms: the kernel's renormalised products and Lanczos vs plain products and SVDs
ATOL_LOG = 1e-9
# Lyapunov exponents: adaptive QR intervals (tol 1e-8 per block) vs a QR every step
ATOL_LYAP = 1e-6

CELLS = ("lstm", "gru")
G = {"lstm": 4, "gru": 3}


def random_cell(cell, N, M, rng, gain=1.5):
    W = rng.standard_normal((G[cell] * N, N)) * gain / np.sqrt(N)
    U = rng.standard_normal((G[cell] * N, M))
    b = rng.standard_normal(4 * N) * 0.5
    return RNN(W, U, b, cell=cell)


def torch_module(rnn):
    """nn.LSTM / nn.GRU (float64) holding ``rnn``'s packed parameters."""
    from rnndyn.torch_weights import state_dict
    mod = (torch.nn.LSTM if rnn.cell == "lstm" else torch.nn.GRU)(rnn.M, rnn.N).double()
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict(rnn).items()})
    return mod


def torch_run(mod, cell, x0, u):
    N = mod.hidden_size
    T, M = u.shape
    h0 = torch.tensor(x0[:N]).view(1, 1, N)
    with torch.no_grad():
        if cell == "lstm":
            out, _ = mod(torch.tensor(u).view(T, 1, M), (h0, torch.tensor(x0[N:]).view(1, 1, N)))
        else:
            out, _ = mod(torch.tensor(u).view(T, 1, M), h0)
    return out.numpy()[:, 0]


def torch_step_fn(mod, cell, u_t):
    N = mod.hidden_size
    ut = torch.tensor(u_t).view(1, 1, -1)

    def f(s):
        if cell == "lstm":
            _, (h, c) = mod(ut, (s[:N].view(1, 1, N), s[N:].view(1, 1, N)))
            return torch.cat([h.view(-1), c.view(-1)])
        _, h = mod(ut, s.view(1, 1, N))
        return h.view(-1)
    return f


@pytest.mark.parametrize("cell", CELLS)
def test_forward_equals_pytorch(cell, rng):
    rnn = random_cell(cell, 7, 3, rng)
    u = rng.standard_normal((40, 3))
    x0 = 0.5 * rng.standard_normal(rnn.S)
    X, D = trajectory(rnn, x0, 40, u)
    assert X.shape == (41, rnn.S) and D.shape == (40, rnn.aux_size)
    np.testing.assert_allclose(X[1:, :rnn.N], torch_run(torch_module(rnn), cell, x0, u),
                               rtol=0, atol=ATOL_TORCH)
    np.testing.assert_allclose(X, naive.gated_trajectory(cell, rnn.W, rnn.U, rnn.b, x0, u),
                               rtol=0, atol=ATOL_TORCH)
    np.testing.assert_allclose(rnn.step(x0, u[0]), X[1], rtol=0, atol=ATOL_TORCH)


@pytest.mark.parametrize("cell", CELLS)
def test_batch_trajectories_equal_single(cell, rng):
    rnn = random_cell(cell, 5, 2, rng)
    X0 = rng.standard_normal((3, rnn.S))
    u = rng.standard_normal((3, 20, 2))
    X, D = trajectories(rnn, X0, 20, u)
    for k in range(3):
        Xk, Dk = trajectory(rnn, X0[k], 20, u[k])
        np.testing.assert_array_equal(X[k], Xk)
        np.testing.assert_array_equal(D[k], Dk)


@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_equals_jacrev(cell, rng):
    rnn = random_cell(cell, 6, 2, rng)
    u = rng.standard_normal((5, 2))
    x0 = rng.standard_normal(rnn.S)
    X, D = trajectory(rnn, x0, 5, u)
    mod = torch_module(rnn)
    for t in range(5):
        Jt = torch.func.jacrev(torch_step_fn(mod, cell, u[t]))(torch.tensor(X[t]))
        J = jacobian(rnn, D[t])
        np.testing.assert_allclose(J, Jt.detach().numpy(), rtol=0, atol=ATOL_TORCH)
        np.testing.assert_allclose(J, naive.gated_jacobian(cell, rnn.W, rnn.U, rnn.b, X[t], u[t]),
                                   rtol=0, atol=ATOL_TORCH)


@pytest.mark.parametrize("cell", CELLS)
def test_jv_vj_block_match_dense(cell, rng):
    """J·v, vᵀ·J and the block product (J Pᵀ)ᵀ equal the dense J."""
    rnn = random_cell(cell, 6, 2, rng)
    X, D = trajectory(rnn, rng.standard_normal(rnn.S), 3, rng.standard_normal((3, 2)))
    J = jacobian(rnn, D[2])
    v = rng.standard_normal(rnn.S)
    out = np.empty(rnn.S)
    _kc._gated_jv(rnn.W, rnn.cell_code, D[2], v, out, np.empty(rnn.W.shape[0]))
    np.testing.assert_allclose(out, J @ v, rtol=RTOL_EXACT, atol=1e-14)
    _kc._gated_vj(rnn.W, rnn.cell_code, D[2], v, out, np.empty(rnn.W.shape[0]))
    np.testing.assert_allclose(out, v @ J, rtol=RTOL_EXACT, atol=1e-14)
    Pt = rng.standard_normal((4, rnn.S))
    Y = np.empty_like(Pt)
    _kc._gated_tangent_step(np.ascontiguousarray(rnn.W.T), rnn.cell_code, D[2], Pt, Y)
    np.testing.assert_allclose(Y, (J @ Pt.T).T, rtol=RTOL_EXACT, atol=1e-14)


CELL_CODES = (("pascanu", 0), ("elman", 1), ("lstm", 2), ("gru", 3))


def _cell_and_dense_jacobian(name, rng, N=5, M=2):
    """A random cell, one auxiliary row d = D[2] and its dense J by the naive twins."""
    if name in CELLS:
        rnn = random_cell(name, N, M, rng)
    else:
        rnn = RNN(rng.standard_normal((N, N)) * 1.5 / np.sqrt(N), rng.standard_normal((N, M)),
                  0.3 * rng.standard_normal(N), form=name)
    u = rng.standard_normal((3, M))
    X, D = trajectory(rnn, rng.standard_normal(rnn.S), 3, u)
    if name in CELLS:
        J = naive.gated_jacobian(name, rnn.W, rnn.U, rnn.b, X[2], u[2])
    else:
        J = naive.jacobian(rnn.W, rnn.cell_code, D[2])
    return rnn, D[2], J


@pytest.mark.parametrize("name, code", CELL_CODES)
def test_cell_operators_match_the_dense_jacobian(name, code, rng):
    """Every one-step operator behind the cell-code dispatch (J, Jᵀ, J·v, vᵀJ, (J Ptᵀ)ᵀ)
    equals the dense J of the naive twins, for every cell code."""
    rnn, d, J = _cell_and_dense_jacobian(name, rng)
    assert rnn.cell_code == code
    S, GN = rnn.S, rnn.W.shape[0]
    Wt = np.ascontiguousarray(rnn.W.T)
    Jk = np.empty((S, S))
    _kc._jacobian(rnn.W, code, d, Jk)
    np.testing.assert_allclose(Jk, J, rtol=RTOL_EXACT, atol=1e-14)
    Ct = np.empty((S, S))
    _kc._jacobian_t(Wt, code, d, Ct)
    np.testing.assert_array_equal(Ct, Jk.T)          # the same products, transposed
    v = rng.standard_normal(S)
    out = np.empty(S)
    _kc._jv(rnn.W, code, d, v, out, np.empty(GN))
    np.testing.assert_allclose(out, J @ v, rtol=RTOL_EXACT, atol=1e-14)
    _kc._vj(rnn.W, code, d, v, out, np.empty(GN))
    np.testing.assert_allclose(out, v @ J, rtol=RTOL_EXACT, atol=1e-14)
    Pt = rng.standard_normal((3, S))
    Y = np.empty_like(Pt)
    _kc._tangent_block(Wt, code, d, Pt, Y, np.empty_like(Pt))
    np.testing.assert_allclose(Y, (J @ Pt.T).T, rtol=RTOL_EXACT, atol=1e-14)


@pytest.mark.parametrize("form", (0, 1))
def test_vanilla_block_and_map_operators(form, rng):
    """The vanilla-only forms: P J (with pascanu's deferred column scaling and elman's
    in-place scratch), the loop tangent rows, and the map under a constant drive."""
    N = 6
    W = rng.standard_normal((N, N))
    d = rng.uniform(0.1, 1.0, N)
    J = naive.jacobian(W, form, d)
    P = rng.standard_normal((4, N))
    out = np.empty_like(P)
    assert not _kc._vanilla_rows_j(W, form, d, P, out, np.empty_like(P), False)
    np.testing.assert_allclose(out, P @ J, rtol=RTOL_EXACT, atol=1e-14)
    P2 = P.copy()
    pending = _kc._vanilla_rows_j(W, form, d, P2, out, P2, True)   # scratch = P itself
    assert pending == (form == 0)
    np.testing.assert_allclose(out * d if pending else out, P @ J, rtol=RTOL_EXACT,
                               atol=1e-14)
    _kc._vanilla_tangent_rows(W, form, d, P, out)
    np.testing.assert_allclose(out, (J @ P.T).T, rtol=RTOL_EXACT, atol=1e-14)
    c = rng.standard_normal(N)
    x = rng.standard_normal(N)
    for act in (1, 2, 3):
        xn = np.empty(N)
        dd = np.empty(N)
        _kc._vanilla_map(W, c, act, form, x, xn, np.empty(N), dd)
        r, Jr = naive.map_residual_jacobian(W, c, act, form, x)
        np.testing.assert_allclose(xn, naive.map_step(W, c, act, form, x), rtol=RTOL_EXACT,
                                   atol=1e-14)
        Jd = np.empty((N, N))
        _kc._vanilla_jacobian(W, form, dd, Jd)
        np.testing.assert_allclose(Jd, Jr, rtol=RTOL_EXACT, atol=1e-14)
        xn2 = np.empty(N)
        _kc._vanilla_map(W, c, act, form, x, xn2, np.empty(N), None)
        np.testing.assert_array_equal(xn2, xn)


def test_gate_sigmoid_is_tail_accurate():
    """The gates' σ(x), σ(-x) keep their tails (1 - σ(x) is never formed)."""
    from rnndyn._kernels.activations import _sigmoid_pair
    for x in (-700.0, -40.0, -1e-3, 0.0, 2.5, 40.0, 700.0):
        p, q = _sigmoid_pair(x)
        ref_p = np.exp(-np.logaddexp(0.0, -x))
        ref_q = np.exp(-np.logaddexp(0.0, x))
        assert p == pytest.approx(ref_p, rel=1e-15, abs=0)
        assert q == pytest.approx(ref_q, rel=1e-15, abs=0)


@pytest.mark.parametrize("cell", CELLS)
def test_all_lag_norms_equal_autograd_products(cell, rng):
    rnn = random_cell(cell, 6, 2, rng)
    T = 30
    u = rng.standard_normal((T, 2))
    x0 = 0.3 * rng.standard_normal(rnn.S)
    res = gradient_flow(rnn, x0, T, u)
    mod = torch_module(rnn)
    X, _ = trajectory(rnn, x0, T, u)
    P = np.eye(rnn.S)
    ref = [0.0]
    for lag in range(1, T + 1):
        k = T - lag
        Jt = torch.func.jacrev(torch_step_fn(mod, cell, u[k]))(torch.tensor(X[k]))
        P = P @ Jt.detach().numpy()
        ref.append(np.log(np.linalg.norm(P, 2)))
    np.testing.assert_allclose(res.log_norm, ref, rtol=0, atol=ATOL_LOG)
    full, hh, cc = naive.gated_log_norms(cell, rnn.W, rnn.U, rnn.b, x0, u)
    np.testing.assert_allclose(res.log_norm, full, rtol=0, atol=ATOL_LOG)
    if cell == "lstm":
        np.testing.assert_allclose(res.log_norm_hh, hh, rtol=0, atol=ATOL_LOG)
        np.testing.assert_allclose(res.log_norm_cc, cc, rtol=0, atol=ATOL_LOG)
        np.testing.assert_allclose(res.log10_norm_cc, cc / np.log(10), rtol=0, atol=ATOL_LOG)
    else:
        assert res.log_norm_hh is None and res.log_norm_cc is None
    assert np.isnan(res.bound_rate_per_step)  # γλ1 is the vanilla cell's bound
    assert res.finite


@pytest.mark.parametrize("cell", CELLS)
def test_transport_equals_products(cell, rng):
    rnn = random_cell(cell, 5, 2, rng)
    T = 25
    u = rng.standard_normal((T, 2))
    X, D = trajectory(rnn, rng.standard_normal(rnn.S), T, u)
    delta = rng.standard_normal(rnn.S)
    got = transport(rnn, D, delta)
    v, ref = delta.copy(), [np.log(np.linalg.norm(delta))]
    for lag in range(1, T + 1):
        v = v @ jacobian(rnn, D[T - lag])
        ref.append(np.log(np.linalg.norm(v)))
    np.testing.assert_allclose(got, ref, rtol=0, atol=ATOL_LOG)


def test_lstm_forget_gate_sets_the_carousel_decay(rng):
    """With W = 0 and U = 0 the cell path is c_t = f c_{t-1} + i g with constant gates:
    ∂c_T/∂c_k = f^(T-k) exactly, so the c→c log norm falls by -ln f per step."""
    N = 4
    for bf in (0.0, 1.0, 3.0):
        b = np.zeros(4 * N)
        b[N:2 * N] = bf
        rnn = RNN(np.zeros((4 * N, N)), np.zeros((4 * N, 1)), b, cell="lstm")
        res = gradient_flow(rnn, np.zeros(2 * N), 50, np.zeros((50, 1)))
        f = 1.0 / (1.0 + np.exp(-bf))
        np.testing.assert_allclose(res.log_norm_cc, np.arange(51) * np.log(f), rtol=0,
                                   atol=1e-11)


@pytest.mark.parametrize("cell", CELLS)
def test_lyapunov_spectrum_gated(cell, rng):
    rnn = random_cell(cell, 4, 2, rng, gain=3.0)
    T, tr = 1500, 100
    u = rng.standard_normal((T + tr, 2))
    x0 = 0.3 * rng.standard_normal(rnn.S)
    res = lyapunov_spectrum(rnn, x0, T, transient=tr, inputs=u, seed=3)
    assert res.exponents.shape == (rnn.S,)   # the full state: 2N for the LSTM
    X, D = trajectory(rnn, x0, T + tr, u)
    # Σλ = mean log|det J_t| over the same steps
    logdet = np.mean([np.linalg.slogdet(jacobian(rnn, D[t]))[1] for t in range(tr, T + tr)])
    assert res.sum == pytest.approx(logdet, abs=1e-9)
    from rnndyn.lyapunov import _initial_basis
    Q0 = _initial_basis(rnn.S, rnn.S, 3).T
    ref = naive.gated_qr_lyapunov(cell, rnn.W, rnn.U, rnn.b, x0, u, Q0, tr)
    np.testing.assert_allclose(res.exponents, ref, rtol=0, atol=ATOL_LYAP)
    top = largest_lyapunov(rnn, x0, T, transient=tr, inputs=u, seed=3)
    assert top.exponent == pytest.approx(res.exponents[0], abs=ATOL_LYAP)
    k2 = lyapunov_spectrum(rnn, x0, T, transient=tr, inputs=u, k=2, seed=3)
    np.testing.assert_allclose(k2.exponents, res.exponents[:2], rtol=0, atol=ATOL_LYAP)
    ft = finite_time_exponents(rnn, x0, T, 500, transient=tr, inputs=u, seed=3)
    assert ft.exponents.shape == (3, 1)
    ens = lyapunov_ensemble(rnn, 2, 300, transient=50, seed=1)
    assert ens.exponents.shape == (2, rnn.S)


def test_unsupported_requests_name_the_cell(rng):
    from rnndyn.spectra import spectrum
    rnn = random_cell("gru", 4, 1, rng)
    with pytest.raises(InputError, match="gru cell"):
        spectrum(rnn)
    lstm = random_cell("lstm", 20, 1, rng)
    with pytest.raises(InputError, match="lstm cell"):
        lyapunov_spectrum(lstm, np.zeros(40), 50, split=4)
    with pytest.raises(InputError, match="activation"):
        RNN(np.zeros((12, 4)), None, None, activation="relu", cell="gru")
    with pytest.raises(InputError, match=r"shape \(4N, N\)"):
        RNN(np.zeros((12, 4)), None, None, cell="lstm")


def test_vanilla_cell_code_is_its_form():
    from rnndyn import codes
    from rnndyn.models import make_rnn
    assert make_rnn(3, form="pascanu").cell_code == codes.PASCANU
    assert make_rnn(3, form="elman").cell_code == codes.ELMAN
    assert make_rnn(3).S == 3 and make_rnn(3).aux_size == 3


# ---------------------------------------------------------------- the command line

def _cli(*args):
    from click.testing import CliRunner
    from rnndyn.cli.main import cli
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_gradflow_lstm_json_contract():
    import json
    res = _cli("gradflow", "--cell", "lstm", "--n", 5, "--steps", 30, "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    for key in ("lag", "log10_norm", "log10_norm_hh", "log10_norm_cc"):
        assert len(d[key]) == 31, key
    assert d["model"]["cell"] == "lstm" and d["model"]["state_size"] == 10
    assert d["bound_rate_per_step"] is None       # NaN → null: no γλ1 bound for gates
    gru = json.loads(_cli("gradflow", "--cell", "gru", "--n", 5, "--steps", 30,
                          "--json").output)
    assert "log10_norm_cc" not in gru and len(gru["log10_norm"]) == 31


def test_cli_lyapunov_lstm_has_2n_exponents():
    import json
    res = _cli("lyapunov", "--cell", "lstm", "--n", 4, "--steps", 200, "--json")
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.output)["exponents"]) == 8


@pytest.mark.parametrize("args", [("spectrum", "--cell", "gru", "--n", 4),
                                  ("gradflow", "--cell", "lstm", "--form", "elman", "--n", 4)])
def test_cli_unsupported_is_one_line_exit_2(args):
    res = _cli(*args)
    assert res.exit_code == 2
    err = getattr(res, "stderr", res.output).strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ")


def test_cli_reads_a_pytorch_state_dict(tmp_path, rng):
    """--weights model.pt (an nn.LSTM state dict) runs the same network as the library."""
    import json
    from rnndyn.models import load_weights
    mod = torch.nn.LSTM(2, 5).double()
    path = tmp_path / "lstm.pt"
    torch.save(mod.state_dict(), path)
    res = _cli("gradflow", "--weights", path, "--steps", 25, "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["model"]["cell"] == "lstm" and d["provenance"]["network"]["module"] == "nn.LSTM"
    x0 = np.array(d["provenance"]["x0"]["values"])
    ref = gradient_flow(load_weights(path), x0, 25, np.zeros((25, 2)), seed=0)
    np.testing.assert_allclose(d["log10_norm"], ref.log10_norm, rtol=0, atol=1e-12)


def test_cli_gated_initialisers_and_forget_bias():
    import json
    d = json.loads(_cli("weights", "--cell", "lstm", "--n", 4, "--init", "pytorch",
                        "--forget-bias", "chrono", "--chrono-t-max", 30, "--json").output)
    assert d["cell"] == "lstm" and d["provenance"]["network"]["forget_bias"] == "chrono"
    res = _cli("gradflow", "--n", 4, "--forget-bias", 1)
    assert res.exit_code == 2 and "gated cells" in getattr(res, "stderr", res.output)


def test_sweep_has_a_cell_axis():
    """`cell` and `forget_bias` are sweep parameters; a point equals the direct call."""
    from rnndyn.models import make_rnn
    from rnndyn.simulate import initial_state
    from rnndyn.sweep import sweep
    ds = sweep([("cell", "vanilla,lstm,gru"), ("forget_bias", "0,2")], seeds=1,
               measures=["lyapunov-top"], fixed={"n": 6, "gain": 2.0}, steps=200,
               transient=50, n_inputs=0)
    assert ds["lyapunov_top"].dims == ("cell", "forget_bias", "seed")
    v = ds["lyapunov_top"].values
    assert v[0, 0, 0] == v[0, 1, 0]          # the vanilla cell has no forget gate
    rnn = make_rnn(6, gain=2.0, seed=0, cell="lstm", forget_bias=2.0)
    ref = largest_lyapunov(rnn, initial_state(rnn, "random", seed=1), 200, transient=50,
                           history=False, seed=0).exponent
    assert v[1, 1, 0] == pytest.approx(ref, abs=1e-12)
    with pytest.raises(InputError, match="gru cell"):
        sweep([("cell", "vanilla,gru")], measures=["spectral-radius"], fixed={"n": 4})


def test_study_clipping_has_a_cell_axis():
    """Gated cells join the study on its init axis, skip SGD-CR (Ω is vanilla-only), and a
    run equals the direct training call."""
    from rnndyn.study import clipping_study, plan_clipping_study
    from rnndyn.training import train
    specs = plan_clipping_study("temporal-order", [10], ["sgd-c", "sgd-cr"], ["smart-tanh"], 1,
                                budget=30, cells=["vanilla", "gru"], n_hidden=6)
    assert [(s["init"], s["method"]) for s in specs] == [
        ("smart-tanh", "sgd-c"), ("smart-tanh", "sgd-cr"), ("gru", "sgd-c")]
    res = clipping_study("temporal-order", [10], ["sgd-c", "sgd-cr"], ["smart-tanh"], 1,
                         budget=30, cells=["vanilla", "gru"], n_hidden=6, workers=0,
                         eval_every=30, eval_size=50)
    rows = {(r["init"], r["method"]): r for r in res.rows}
    assert rows[("gru", "sgd-cr")]["n_runs"] == 0 and rows[("gru", "sgd-c")]["n_runs"] == 1
    direct = train("temporal-order", 10, "sgd-c", "pytorch", cell="gru", n_hidden=6, seed=0,
                   max_updates=30, eval_every=30, eval_size=50)
    assert rows[("gru", "sgd-c")]["mean_final_error_rate"] == pytest.approx(
        direct.final_error_rate, abs=1e-12)
    with pytest.raises(InputError, match="no runs"):
        plan_clipping_study("temporal-order", [10], ["sgd-cr"], ["smart-tanh"], 1,
                            cells=["lstm"])


def test_exp_nonpos_matches_libm():
    """The gates' vectorisable e^y (y <= 0): within 2 ulp of libm where normal, the same
    subnormals and zeros below, NaN kept."""
    from rnndyn._kernels.activations import _exp_nonpos
    y = -np.concatenate([np.linspace(0.0, 720.0, 4001), [1e-300, 744.4, 745.2, 800.0, np.inf]])
    got = np.array([_exp_nonpos(v) for v in y])
    ref = np.exp(y)
    normal = ref > np.finfo(float).tiny
    np.testing.assert_allclose(got[normal], ref[normal], rtol=4.5e-16, atol=0)
    np.testing.assert_allclose(got[~normal], ref[~normal], rtol=0, atol=5e-324)
    assert np.isnan(_exp_nonpos(np.nan))


@pytest.mark.parametrize("cell", CELLS)
def test_state_dict_round_trip(cell, rng, tmp_path):
    """torch_weights.state_dict exports what load_torch_weights reads back, bit for bit."""
    from rnndyn.torch_weights import load_torch_weights, state_dict
    rnn = random_cell(cell, 4, 2, rng)
    path = tmp_path / "sd.npz"
    np.savez(path, **state_dict(rnn))
    back = load_torch_weights(path)
    for name in ("W", "U", "b"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rnn, name))
    with pytest.raises(InputError, match="pascanu"):
        state_dict(RNN(np.eye(3), None, None))

