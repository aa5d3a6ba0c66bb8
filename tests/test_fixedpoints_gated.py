"""Fixed points, their stability and basins of the gated cells (LSTM, GRU).

Kernels against their naive twins, the Jacobian at a fixed point against torch.func.jacrev
of nn.LSTMCell / nn.GRUCell (float64, the same weights), closed-form fixed points
(W = 0, and a GRU whose update gate is nearly shut), basins of bistable cells against
simulating the map, and the analyses that stay vanilla-only.
"""

import numpy as np
import pytest

import naive
from conftest import RTOL_EXACT
from rnndyn._kernels import fixedpoints as _k
from rnndyn._validate import InputError
from rnndyn.basins import basins, settle_grid
from rnndyn.fixedpoints import (classify, drive, fixed_points, newton, residual_jacobian,
                                starting_states)
from rnndyn.models import RNN
from rnndyn.simulate import trajectories

GATES = {"lstm": 4, "gru": 3}
CELLS = ("lstm", "gru")
REP_TOL = 1e-12  # basin representatives: kernel vs naive twin (same equations)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def random_cell(cell, rng, N=3, M=2, scale=1.0):
    """A seeded gated RNN with W, U, b drawn N(0, scale²) (b: N(0, 1))."""
    G = GATES[cell]
    return RNN(scale * rng.standard_normal((G * N, N)), scale * rng.standard_normal((G * N, M)),
               rng.standard_normal(4 * N), cell=cell)


# ---------------------------------------------------------------- kernels vs naive twins

@pytest.mark.parametrize("cell", CELLS)
def test_residual_jacobian_matches_naive(cell, rng):
    rnn = random_cell(cell, rng, N=4)
    u = rng.standard_normal(2)
    c = drive(rnn, u)
    x = 0.7 * rng.standard_normal(rnn.S)
    r, J = residual_jacobian(rnn, x, c=c)
    rn, Jn = naive.gated_map_residual_jacobian(cell, rnn.W, c, x)
    np.testing.assert_allclose(r, rn, rtol=RTOL_EXACT, atol=1e-14)
    np.testing.assert_allclose(J, Jn, rtol=RTOL_EXACT, atol=1e-14)
    # folding u into the bias is the step with the input: f(x, u) − x
    np.testing.assert_allclose(r, rnn.step(x, u) - x, rtol=RTOL_EXACT, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
def test_newton_kernel_converges_to_a_root(cell, rng):
    rnn = random_cell(cell, rng, N=3, scale=0.5)
    c = drive(rnn)
    x = np.zeros(rnn.S)
    it, res = _k._gated_newton(rnn.W, c, rnn.act_code, rnn.cell_code, x, 1e-13, 50)
    assert res <= 1e-13 and it < 50
    r, _ = naive.gated_map_residual_jacobian(cell, rnn.W, c, x)
    assert np.linalg.norm(r) <= 1e-12


@pytest.mark.parametrize("cell", CELLS)
def test_gated_residual_kernel_matches_naive(cell, rng):
    rnn = random_cell(cell, rng, N=3)
    c = drive(rnn, rng.standard_normal(2))
    x = rng.standard_normal(rnn.S)
    r, J = np.empty(rnn.S), np.empty((rnn.S, rnn.S))
    _k._gated_residual_jacobian(rnn.W, c, rnn.act_code, rnn.cell_code, x, r, J)
    rn, Jn = naive.gated_map_residual_jacobian(cell, rnn.W, c, x)
    np.testing.assert_allclose(r, rn, rtol=RTOL_EXACT, atol=1e-14)
    np.testing.assert_allclose(J, Jn, rtol=RTOL_EXACT, atol=1e-14)


@pytest.mark.slow
def test_vanilla_kernels_do_not_compile_the_gated_step(tmp_path):
    # a fresh process and numba cache: the vanilla fixed-point and basin kernels run
    # without compiling (or loading) the gated step (the gated branch is pruned)
    import subprocess
    import sys
    code = ("import numpy as np\n"
            "from rnndyn.models import RNN\n"
            "from rnndyn.fixedpoints import fixed_points\n"
            "from rnndyn.basins import basins\n"
            "from rnndyn._kernels.cells import _gated_step\n"
            "rnn = RNN([[2.0, 0.5], [-0.3, 1.5]], None, [0.1, 0.0])\n"
            "fixed_points(rnn, n_starts=4); basins(rnn, nx=4)\n"
            "print(len(getattr(_gated_step, 'signatures', ())))\n")
    env = dict(__import__("os").environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0"


def test_scratch_size_is_the_cell_table():
    from rnndyn import cells
    from rnndyn.codes import GRU, LSTM
    for cell, code in (("lstm", LSTM), ("gru", GRU)):
        W = np.zeros((cells.GATES[cell] * 3, 3))
        assert _k._gated_scratch_size(W, code) == (cells.GATES[cell]
                                                   + cells.AUX_BLOCKS[cell]) * 3


@pytest.mark.parametrize("cell", CELLS)
def test_basin_grid_matches_naive(cell, rng):
    rnn = random_cell(cell, rng, N=2, scale=1.5)
    c = drive(rnn, rng.standard_normal(2))
    S = rnn.S
    base = 0.3 * rng.standard_normal(S)
    e1, e2 = np.eye(S)[0], np.eye(S)[S - 1]
    xs, ys = np.linspace(-2, 2, 6), np.linspace(-1.5, 1.5, 5)
    P, St, R = settle_grid(rnn, c, base, e1, e2, xs, ys, max_steps=400, max_period=8,
                           tol=1e-10, bound=1e6)
    Pn, Sn, Rn = naive.gated_basin_grid(cell, rnn.W, c, base, e1, e2, xs, ys, 400, 8,
                                        1e-10, 1e6)
    np.testing.assert_array_equal(P, Pn)
    np.testing.assert_array_equal(St, Sn)
    np.testing.assert_allclose(R, Rn, rtol=0, atol=REP_TOL)


# ---------------------------------------------------------------- the search

@pytest.mark.parametrize("cell", CELLS)
def test_found_points_are_fixed_points(cell, rng):
    rnn = random_cell(cell, rng, N=3, scale=1.5)
    u = rng.standard_normal(2)
    res = fixed_points(rnn, u, n_starts=24, seed=1)
    assert len(res.points) >= 1
    assert res.points.shape == (len(res.points), rnn.S)
    assert res.eig_real.shape == res.points.shape and res.drive.shape == (4 * rnn.N,)
    for x, kind, nun, lam in zip(res.points, res.kinds, res.n_unstable, res.eigenvalues):
        assert np.linalg.norm(rnn.step(x, u) - x) <= 1e-12 * max(1.0, np.max(np.abs(x)))
        assert (kind, nun) == classify(lam)
    # distinct after deduplication
    for i in range(len(res.points)):
        for j in range(i):
            assert np.max(np.abs(res.points[i] - res.points[j])) > 1e-6


@pytest.mark.parametrize("cell", CELLS)
def test_starting_states_have_the_state_size(cell, rng):
    rnn = random_cell(cell, rng, N=2)
    X0 = starting_states(rnn, 9, seed=0)
    assert X0.shape == (9, rnn.S) and np.all(np.isfinite(X0))
    res = fixed_points(rnn, n_starts=4, starts=np.zeros((1, rnn.S)), seed=0)
    assert res.n_starts == 5


def test_w_zero_gru_has_the_closed_form_fixed_point(rng):
    # W = 0: r, z, n are constants, f(h) = (1 − z) n + z h, so h* = n and J = diag(z)
    N = 3
    U, b, u = rng.standard_normal((3 * N, 2)), rng.standard_normal(4 * N), rng.standard_normal(2)
    rnn = RNN(np.zeros((3 * N, N)), U, b, cell="gru")
    r = _sigmoid(U[:N] @ u + b[:N])
    z = _sigmoid(U[N:2 * N] @ u + b[N:2 * N])
    n = np.tanh(U[2 * N:] @ u + b[2 * N:3 * N] + r * b[3 * N:])
    res = fixed_points(rnn, u, n_starts=16, seed=0)
    assert len(res.points) == 1 and res.kinds == ["stable"]
    np.testing.assert_allclose(res.points[0], n, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.sort(res.eig_real[0]), np.sort(z), rtol=0, atol=1e-13)
    np.testing.assert_array_equal(res.eig_imag[0], 0.0)


def test_w_zero_lstm_has_the_closed_form_fixed_point(rng):
    # W = 0: constant gates, c* = i g / (1 − f), h* = o tanh(c*); J = [[0, k f], [0, f]]
    # so the eigenvalues are f (N of them) and 0 (N)
    N = 2
    U, b, u = rng.standard_normal((4 * N, 2)), rng.standard_normal(4 * N), rng.standard_normal(2)
    rnn = RNN(np.zeros((4 * N, N)), U, b, cell="lstm")
    a = U @ u + b
    i, f, g, o = (_sigmoid(a[:N]), _sigmoid(a[N:2 * N]), np.tanh(a[2 * N:3 * N]),
                  _sigmoid(a[3 * N:]))
    c = i * g / (1 - f)
    res = fixed_points(rnn, u, n_starts=16, seed=0)
    assert len(res.points) == 1 and res.kinds == ["stable"]
    np.testing.assert_allclose(res.points[0], np.concatenate([o * np.tanh(c), c]), rtol=0,
                               atol=1e-13)
    np.testing.assert_allclose(np.sort(np.abs(res.eigenvalues[0])),
                               np.sort(np.concatenate([f, np.zeros(N)])), rtol=0, atol=1e-13)


def test_gru_with_a_shut_update_gate_keeps_one_stable_point_near_the_closed_form(rng):
    # z ≈ 1 (b_z = 6) and small weights ε: (1 − z)(n(h) − h) = 0 puts h* at n(h*) whatever
    # z is, so h* = tanh(b_in + σ(b_r) b_hn) + O(ε); the update gate only slows the
    # approach: the eigenvalues are z + (1 − z) λ(∂n/∂h), just below 1
    N, eps = 3, 1e-3
    W = eps * rng.standard_normal((3 * N, N))
    b = np.concatenate([rng.standard_normal(N), np.full(N, 6.0), rng.standard_normal(2 * N)])
    rnn = RNN(W, None, b, cell="gru")
    h0 = np.tanh(b[2 * N:3 * N] + _sigmoid(b[:N]) * b[3 * N:])
    res = fixed_points(rnn, n_starts=24, seed=2)
    assert len(res.points) == 1 and res.kinds == ["stable"]
    assert np.max(np.abs(res.points[0] - h0)) <= 10 * eps
    z = _sigmoid(6.0)
    assert np.all(np.abs(np.abs(res.eigenvalues[0]) - z) <= 10 * eps * (1 - z) + 1e-3)
    assert res.spectral_radius[0] < 1


@pytest.mark.parametrize("cell", CELLS)
def test_newton_polishes_from_nearby(cell, rng):
    rnn = random_cell(cell, rng, N=2, scale=0.5)
    res = fixed_points(rnn, n_starts=8, seed=0)
    x, resid, ok = newton(rnn, res.points[0] + 1e-3)
    assert ok and resid <= 1e-12
    np.testing.assert_allclose(x, res.points[0], rtol=0, atol=1e-10)


# ---------------------------------------------------------------- against PyTorch

def _torch_map(torch, rnn, u):
    """s ↦ (h', c') (LSTM) or h' (GRU) of nn.LSTMCell / nn.GRUCell with rnn's weights
    (float64): W = weight_hh, U = weight_ih; LSTM b = bias_ih (bias_hh = 0); GRU
    bias_ih = b[:3N], bias_hh = [0, 0, b_hn] (rnndyn.cells)."""
    N, M = rnn.N, rnn.M
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    if rnn.cell == "lstm":
        m = torch.nn.LSTMCell(M, N).double()
        bias_ih, bias_hh = rnn.b, np.zeros(4 * N)
    else:
        m = torch.nn.GRUCell(M, N).double()
        bias_ih, bias_hh = rnn.b[:3 * N], np.concatenate([np.zeros(2 * N), rnn.b[3 * N:]])
    with torch.no_grad():
        m.weight_hh.copy_(t(rnn.W))
        m.weight_ih.copy_(t(rnn.U))
        m.bias_ih.copy_(t(bias_ih))
        m.bias_hh.copy_(t(bias_hh))
    m.requires_grad_(False)  # differentiate with respect to the state only
    ut = t(u)[None, :]

    def f(s):
        if rnn.cell == "lstm":
            h, c = m(ut, (s[None, :N], s[None, N:]))
            return torch.cat([h[0], c[0]])
        return m(ut, s[None, :])[0]
    return f


@pytest.mark.torch
@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_at_fixed_points_matches_torch(cell, rng):
    torch = pytest.importorskip("torch", reason="PyTorch (CPU) is the autodiff oracle; "
                                                "install it with `pip install torch`")
    rnn = random_cell(cell, rng, N=3, scale=1.5)
    u = rng.standard_normal(2)
    res = fixed_points(rnn, u, n_starts=24, seed=3)
    assert len(res.points)
    f = _torch_map(torch, rnn, u)
    for x, lam in zip(res.points, res.eigenvalues):
        s = torch.tensor(x, dtype=torch.float64)
        np.testing.assert_allclose(f(s).numpy(), x, rtol=0, atol=1e-12)
        Jt = torch.func.jacrev(f)(s).numpy()
        _, J = residual_jacobian(rnn, x, u)
        np.testing.assert_allclose(J, Jt, rtol=0, atol=1e-12)
        lt = np.linalg.eigvals(Jt)
        lt = lt[np.lexsort((-lt.imag, -np.abs(lt)))]
        np.testing.assert_allclose(lam, lt, rtol=0, atol=1e-9)
        assert classify(lt) == classify(lam)


# ---------------------------------------------------------------- basins

def bistable_gru():
    """Two GRU units excite each other through the candidate (W_n = 2·ones, r ≈ 1):
    h* ≈ tanh(4 h*) along (1, 1) gives two stable points near ±(0.9993, 0.9993) and a
    saddle near 0 (z = ½). The small b_in breaks the symmetry, so that no grid cell sits
    on the saddle's stable manifold (the anti-diagonal if b_in were 0)."""
    W = np.zeros((6, 2))
    W[4:] = 2.0
    b = np.zeros(8)
    b[:2] = 10.0  # r ≈ 1
    b[4:6] = (0.05, -0.02)
    return RNN(W, None, b, cell="gru")


def bistable_lstm():
    """One LSTM unit, i ≈ o ≈ 1, f = ½ and a strong candidate weight: c* ≈ 2 tanh(5 tanh c*)
    has two stable solutions near ±2 and an unstable one near 0 (b_g = 0.05 moves it off
    the grid point at the origin)."""
    W = np.zeros((4, 1))
    W[2, 0] = 5.0
    return RNN(W, None, [10.0, 0.0, 0.05, 10.0], cell="lstm")


def _simulated_labels(rnn, res, n_steps):
    """Label every grid cell by the attractor its simulated trajectory ends nearest."""
    yy, xx = np.meshgrid(res.ys, res.xs, indexing="ij")
    X0 = res.base + xx[..., None] * res.e1 + yy[..., None] * res.e2
    X, _ = trajectories(rnn, X0.reshape(-1, rnn.S), n_steps)
    end = X[:, -1]
    d = np.abs(end[:, None, :] - res.attractor_points[None]).max(axis=2)
    assert np.all(d.min(axis=1) <= 1e-6)
    return d.argmin(axis=1).reshape(res.labels.shape)


@pytest.mark.parametrize("make, axes", [(bistable_gru, (0, 1)), (bistable_lstm, (0, 1))])
def test_bistable_cells_have_two_basins_that_simulation_confirms(make, axes):
    rnn = make()
    res = basins(rnn, xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), nx=41, axes=axes)
    assert [a["period"] for a in res.attractors] == [1, 1]
    assert res.attractor_points.shape == (2, rnn.S)
    assert np.all(res.labels >= 0)
    assert min(a["cells"] for a in res.attractors) > 100
    # the two attractors are the stable fixed points the search finds
    fps = fixed_points(rnn, n_starts=32, seed=0)
    stable = fps.points[[k == "stable" for k in fps.kinds]]
    assert len(stable) == 2
    for p in res.attractor_points:
        assert np.min(np.abs(stable - p).max(axis=1)) <= 1e-8
    assert all(a["max_multiplier"] < 1 for a in res.attractors)
    assert "saddle" in fps.kinds or "unstable" in fps.kinds
    np.testing.assert_array_equal(res.labels, _simulated_labels(rnn, res, 400))
    assert res.boundary.any()


def test_lstm_basin_slice_along_the_cell_state():
    rnn = bistable_lstm()
    res = basins(rnn, xlim=(-3, 3), nx=61, axes=(1, 0), base=[0.0, 0.0])
    np.testing.assert_array_equal(res.e1, [0.0, 1.0])
    # at h = 0 (the middle row) the sign of c decides, at c = 0 (the middle column) the
    # sign of h through the candidate tanh(5 h), for |c|, |h| beyond 0.2
    assert res.ys[30] == 0.0 and res.xs[30] == 0.0
    lo = res.attractor_points[:, 1].argmin()
    for line, coord in ((res.labels[30], res.xs), (res.labels[:, 30], res.ys)):
        assert np.all(line[coord < -0.2] == lo) and np.all(line[coord > 0.2] == 1 - lo)


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("cell", CELLS)
def test_vanilla_only_analyses_refuse_gated_cells(cell, rng):
    from rnndyn.continuation import continuation, parametrise
    rnn = random_cell(cell, rng, N=2)
    for call in (lambda: continuation(rnn), lambda: parametrise(rnn, "gain")):
        with pytest.raises(InputError, match=f"not available for the {cell} cell"):
            call()
    # a vanilla drive (N values) is not a gated cell's folded bias (4N)
    with pytest.raises(InputError, match="c must have shape"):
        residual_jacobian(rnn, np.zeros(rnn.S), c=np.zeros(rnn.N))
    with pytest.raises(InputError, match="x must have shape"):
        residual_jacobian(rnn, np.zeros(rnn.N) if cell == "lstm" else np.zeros(3))
    with pytest.raises(InputError, match="starts must have shape"):
        fixed_points(rnn, n_starts=2, starts=np.zeros((1, rnn.S + 1)))
    with pytest.raises(InputError, match="u must have shape"):
        drive(rnn, np.zeros(3))


# ---------------------------------------------------------------- CLI

def _cli(args):
    from click.testing import CliRunner
    from rnndyn.cli.main import cli
    return CliRunner().invoke(cli, args)


@pytest.mark.parametrize("cell", CELLS)
def test_cli_fixedpoints_gated(cell):
    import json
    res = _cli(["fixedpoints", "--cell", cell, "--n", "3", "--gain", "2", "--starts", "12",
                "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    S = 6 if cell == "lstm" else 3
    assert doc["model"]["cell"] == cell and doc["n_fixed_points"] >= 1
    for fp in doc["fixed_points"]:
        assert len(fp["x"]) == S and fp["residual"] <= 1e-12 * max(1, max(map(abs, fp["x"])))


@pytest.mark.parametrize("cell, n, base, grid", [("gru", 1, None, (1, 12)),
                                                 ("lstm", 1, "0.1,0.2", (12, 12)),
                                                 ("lstm", 2, "0,0,0.5,0", (12, 12))])
def test_cli_basins_gated(cell, n, base, grid):
    import json
    args = ["basins", "--cell", cell, "--n", str(n), "--grid", "12", "--json"]
    res = _cli(args + (["--base", base, "--axes", "0,2"] if n == 2 else
                       ["--base", base] if base else []))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["grid"] == list(grid) and sum(a["cells"] for a in doc["attractors"]) >= 1


def test_cli_gated_refusals():
    for args, text in ((["continuation", "--cell", "gru", "--n", "2"],
                        "not available for the gru cell"),
                       (["basins", "--cell", "lstm", "--n", "1", "--base", "0.1"],
                        "base must have shape")):
        res = _cli(args)
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        lines = [ln for ln in res.output.strip().splitlines() if ln.startswith("Error:")]
        assert len(lines) == 1 and text in lines[0], res.output
