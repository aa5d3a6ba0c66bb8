"""Lyapunov exponents: kernels against their naive twins, exact results, properties."""

import numpy as np
import pytest

import naive
from conftest import RTOL_EXACT, RTOL_KERNEL
from rnndyn._kernels import lyapunov as _k
from rnndyn.lyapunov import (LyapunovResult, _initial_basis, finite_time_exponents,
                             kaplan_yorke_dimension, largest_lyapunov, lyapunov_ensemble,
                             lyapunov_spectrum)
from rnndyn._validate import InputError
from rnndyn.models import RNN, make_rnn
from rnndyn.results import load_result
from rnndyn.simulate import trajectory

# Absolute tolerance on exponents (natural log per step) for quantities that
# agree only as T -> infinity, e.g. QR-method estimates vs log|eig W| after T
# steps: the finite-T error is O(log(cond)/T).
ATOL_ASYMPTOTIC = 2e-3
# 'auto' re-orthonormalisation vs QR every step on the same trajectory: the
# block rounding error is kept below tol = 1e-8 per block.
ATOL_AUTO = 1e-7

CASES = [(act, form) for act in ("tanh", "sigmoid", "relu", "linear")
         for form in ("pascanu", "elman")]


def _setup(act, form, N=7, T=120, gain=1.8, seed=1, n_inputs=0, rng=None):
    rnn = make_rnn(N, n_inputs=n_inputs, activation=act, form=form, gain=gain, seed=seed)
    if act == "linear":  # keep the linear state bounded (ρ < 1); exponents do not care
        rnn = rnn.with_W(rnn.W * (0.9 / np.max(np.abs(np.linalg.eigvals(rnn.W)))))
    x0 = np.random.default_rng(seed + 10).standard_normal(N)
    u = np.random.default_rng(seed + 20).standard_normal((T, n_inputs)) if n_inputs else None
    X, D = trajectory(rnn, x0, T, u)
    return rnn, x0, u, D


def _kernel(rnn, D, Q0, transient, reortho=1, tol=1e-8, hist_every=10, exact=False):
    k = Q0.shape[1]
    Qt = np.ascontiguousarray(Q0.T)
    logsum = np.zeros(k)
    hs = np.zeros(D.shape[0] + 1)
    hist = np.zeros((hs.size, k))
    state = np.array([0.0, transient, 0, 0, 0, 0, 0])
    _k._qr_lyapunov(np.ascontiguousarray(rnn.W.T), rnn.form_code, D, Qt, logsum, hs, hist,
                    state, reortho, tol, 64, hist_every, exact)
    return logsum / (D.shape[0] - transient), Qt, state, hs[:int(state[2])], hist[:int(state[2])]


@pytest.mark.parametrize("act, form", CASES)
def test_qr_kernel_matches_naive_twin(act, form, rng):
    rnn, x0, u, D = _setup(act, form)
    for k in (7, 3):
        Q0 = np.linalg.qr(rng.standard_normal((7, k)))[0]
        lam, Qt, state, hs, hist = _kernel(rnn, D, Q0, 20)
        ref = naive.qr_lyapunov(rnn.W, rnn.form_code, D, Q0, 20)
        np.testing.assert_allclose(lam, ref, rtol=RTOL_KERNEL, atol=1e-12)
        np.testing.assert_allclose(Qt @ Qt.T, np.eye(k), atol=1e-12)
        assert state[0] == D.shape[0] and state[5] == D.shape[0] - 20
        np.testing.assert_array_equal(hs, np.arange(10, 101, 10))


@pytest.mark.parametrize("reortho", (0, 3))
@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_blocked_qr_matches_qr_every_step(reortho, form, rng):
    # exact arithmetic gives identical R products; in floating point the
    # difference is bounded by the per-block error estimate kept below tol
    rnn, x0, u, D = _setup("tanh", form, N=9, T=300, gain=2.0)
    Q0 = np.linalg.qr(rng.standard_normal((9, 9)))[0]
    ref = naive.qr_lyapunov(rnn.W, rnn.form_code, D, Q0, 30)
    lam, _, state, _, _ = _kernel(rnn, D, Q0, 30, reortho=reortho)
    np.testing.assert_allclose(lam, ref, atol=ATOL_AUTO)
    assert state[5] < 270  # fewer QR factorisations than steps
    assert state[3] < 1e-6


def test_auto_keeps_every_block_within_tol_and_redoes_few():
    # 'auto' aims below tol (AUTO_MARGIN) and backs off after a redo, so blocks
    # computed twice stay a small fraction; no accepted block exceeds tol
    rnn = make_rnn(40, gain=2.0, seed=1)
    x0 = np.random.default_rng(2).standard_normal(40)
    for tol in (1e-8, 1e-10):
        m = lyapunov_spectrum(rnn, x0, 600, transient=30, split=0, tol=tol,
                              history=False).meta
        assert m["rounding_error_estimate"] <= tol
        assert 0 <= m["n_redone"] <= 0.2 * m["n_blocks"]
        assert m["mean_interval"] > 1.5


def test_exact_history_edges_and_transient_not_straddled(rng):
    rnn, x0, u, D = _setup("tanh", "pascanu", N=6, T=157, gain=1.5)
    Q0 = np.linalg.qr(rng.standard_normal((6, 2)))[0]
    lam, _, state, hs, hist = _kernel(rnn, D, Q0, 7, reortho=0, hist_every=25, exact=True)
    np.testing.assert_array_equal(hs, np.arange(25, 151, 25))
    ref = naive.qr_lyapunov(rnn.W, 0, D[:7 + 125], Q0, 7)
    np.testing.assert_allclose(hist[4] / 125, ref, atol=ATOL_AUTO)


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_vector_kernel_matches_naive_twin(form, rng):
    rnn, x0, u, D = _setup("tanh", form, N=8, T=150, gain=2.0)
    v = rng.standard_normal(8)
    v /= np.linalg.norm(v)
    ref = naive.largest_lyapunov(rnn.W, rnn.form_code, D, v, 15)
    logsum, hs, hist = np.zeros(1), np.zeros(20), np.zeros((20, 1))
    state = np.array([0.0, 15, 0])
    _k._largest_lyapunov(rnn.W, rnn.form_code, D, v.copy(), logsum, hs, hist, state, 15)
    np.testing.assert_allclose(logsum[0] / 135, ref, rtol=RTOL_KERNEL)
    np.testing.assert_array_equal(hs[:int(state[2])], np.arange(15, 136, 15))


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_batch_kernel_matches_naive_twin(form, rng):
    B, N, k, T = 3, 6, 4, 80
    rnns = [make_rnn(N, form=form, gain=2.0, seed=s) for s in range(B)]
    D = np.stack([trajectory(r, rng.standard_normal(N), T)[1] for r in rnns])
    W = np.stack([r.W for r in rnns])
    Q0 = np.stack([np.linalg.qr(rng.standard_normal((N, k)))[0] for _ in range(B)])
    out = np.empty((B, k))
    _k._qr_lyapunov_batch(W, rnns[0].form_code, D, np.ascontiguousarray(Q0.transpose(0, 2, 1)),
                          10, out)
    ref = naive.qr_lyapunov_batch(W, rnns[0].form_code, D, Q0, 10)
    np.testing.assert_allclose(out, ref, rtol=RTOL_KERNEL, atol=1e-12)


def _linear(W):
    return RNN(W, None, None, "linear", "pascanu")


@pytest.mark.parametrize("kind", ("normal", "complex", "nonnormal"))
def test_linear_rnn_exponents_are_log_abs_eigenvalues(kind, rng):
    N = 6
    if kind == "normal":
        Qm = np.linalg.qr(rng.standard_normal((N, N)))[0]
        W = Qm @ np.diag([1.3, 0.9, -0.7, 0.5, 0.3, -0.1]) @ Qm.T
    elif kind == "complex":  # rotation blocks: complex pairs r e^{±iθ}
        W = np.zeros((N, N))
        for i, (r, th) in enumerate([(1.2, 0.7), (0.8, 2.0), (0.4, 1.1)]):
            W[2 * i:2 * i + 2, 2 * i:2 * i + 2] = r * np.array([[np.cos(th), -np.sin(th)],
                                                                  [np.sin(th), np.cos(th)]])
        S = rng.standard_normal((N, N))
        W = S @ W @ np.linalg.inv(S)
    else:  # strongly non-normal: triangular with big off-diagonal entries
        W = np.triu(rng.standard_normal((N, N)) * 3.0, 1) + np.diag([1.1, 0.9, 0.8, 0.6, 0.5, 0.2])
    expected = np.sort(np.log(np.abs(np.linalg.eigvals(W))))[::-1]
    res = lyapunov_spectrum(_linear(W), np.zeros(N), 4000, transient=200)
    np.testing.assert_allclose(res.exponents, expected, atol=ATOL_ASYMPTOTIC)
    # the determinant identity holds exactly for every T in the linear case
    assert res.sum == pytest.approx(np.log(abs(np.linalg.det(W))), abs=1e-9)


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_sum_equals_mean_log_abs_det(form):
    rnn = make_rnn(8, n_inputs=2, form=form, gain=2.0, seed=4)
    x0 = np.random.default_rng(5).standard_normal(8)
    u = np.random.default_rng(6).standard_normal((350, 2))
    res = lyapunov_spectrum(rnn, x0, 300, transient=50, inputs=u, reortho=1)
    _, D = trajectory(rnn, x0, 350, u)
    logdet = np.log(abs(np.linalg.det(rnn.W))) + np.sum(np.log(D[50:]), axis=1)
    assert res.sum == pytest.approx(np.mean(logdet), abs=1e-9)
    auto = lyapunov_spectrum(rnn, x0, 300, transient=50, inputs=u)
    np.testing.assert_allclose(auto.exponents, res.exponents, atol=ATOL_AUTO)


def test_permutation_of_units_leaves_spectrum_unchanged():
    rnn = make_rnn(9, gain=2.2, seed=8)
    x0 = np.random.default_rng(9).standard_normal(9)
    p = np.random.default_rng(10).permutation(9)
    prm = RNN(rnn.W[np.ix_(p, p)], None, None, "tanh", "pascanu")
    _, D = trajectory(rnn, x0, 450)
    Q0 = np.linalg.qr(np.random.default_rng(11).standard_normal((9, 9)))[0]
    # permuting units, states and the start basis alike: the same numbers up to rounding
    a = _kernel(rnn, D, Q0, 50)[0]
    b = _kernel(prm, np.ascontiguousarray(D[:, p]), Q0[p], 50)[0]
    np.testing.assert_allclose(b, a, rtol=RTOL_KERNEL, atol=1e-12)
    # through the public API the start basis is not permuted: equal as T grows
    a = lyapunov_spectrum(rnn, x0, 400, transient=50)
    b = lyapunov_spectrum(prm, x0[p], 400, transient=50)
    np.testing.assert_allclose(b.exponents, a.exponents, atol=ATOL_ASYMPTOTIC)


def test_top_exponent_qr_equals_vector_method():
    rnn = make_rnn(12, gain=2.5, seed=11)
    x0 = np.random.default_rng(12).standard_normal(12)
    qr = lyapunov_spectrum(rnn, x0, 600, k=1, transient=100, reortho=1, seed=3)
    vec = largest_lyapunov(rnn, x0, 600, transient=100, seed=3)
    # k = 1 with the same start vector is the same computation
    assert vec.exponent == pytest.approx(qr.exponents[0], rel=RTOL_EXACT * 100, abs=1e-13)
    full = lyapunov_spectrum(rnn, x0, 600, transient=100)
    assert full.exponents[0] == pytest.approx(vec.exponent, abs=0.02)
    assert vec.history.shape == vec.history_steps.shape and vec.history_steps[-1] == 600


def test_convergence_with_n_steps():
    # a contracting linear map: the estimate error shrinks like 1/T
    W = np.diag([0.9, 0.5, 0.2]) + np.triu(np.ones((3, 3)), 1)
    errs = []
    for T in (100, 1000, 10000):
        res = lyapunov_spectrum(_linear(W), np.zeros(3), T, transient=0)
        errs.append(np.max(np.abs(res.exponents - np.log([0.9, 0.5, 0.2]))))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < errs[0] / 20
    res = lyapunov_spectrum(_linear(W), np.zeros(3), 2000, transient=0)
    running_err = np.max(np.abs(res.history - np.log([0.9, 0.5, 0.2])), axis=1)
    assert running_err[-1] < running_err[0]
    np.testing.assert_allclose(res.history[-1], res.exponents, rtol=RTOL_EXACT)


def test_saturated_units_give_minus_inf_not_nan():
    # relu units that never fire have σ' = 0: their directions are annihilated
    W = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]])
    rnn = RNN(W, None, np.array([1.0, -1.0, -1.0]), "relu", "pascanu")
    res = lyapunov_spectrum(rnn, np.ones(3), 100, transient=5)
    assert np.all(~np.isnan(res.exponents))
    assert res.exponents[0] == pytest.approx(np.log(0.5), abs=1e-12)
    assert np.all(res.exponents[1:] == -np.inf)
    assert res.sum == -np.inf and res.kaplan_yorke_dimension == 0.0
    assert largest_lyapunov(RNN(W, None, -np.ones(3), "relu"), np.ones(3), 50,
                            transient=5).exponent == -np.inf
    ft = finite_time_exponents(rnn, np.ones(3), 100, 10, k=3, transient=5)
    assert not np.any(np.isnan(ft.exponents)) and np.all(ft.exponents[:, 1:] == -np.inf)


def test_deeply_saturated_tanh_is_very_negative_or_minus_inf():
    # σ'(x) ~ 4 e^{-2|x|} underflows the rounding floor N·u: such steps count
    # as annihilation (-inf); mildly saturated directions stay finite
    rnn = make_rnn(5, gain=30.0, seed=2)
    res = lyapunov_spectrum(rnn, np.random.default_rng(0).standard_normal(5), 200)
    assert not np.any(np.isnan(res.exponents))
    assert np.isfinite(res.exponents[0]) and res.exponents[-1] < -10
    mild = lyapunov_spectrum(make_rnn(5, gain=4.0, seed=2), np.ones(5), 300)
    assert np.all(np.isfinite(mild.exponents)) and mild.exponents[-1] < -2


def test_kaplan_yorke_dimension():
    assert kaplan_yorke_dimension([0.5, -0.2, -1.0]) == pytest.approx(2 + 0.3 / 1.0)
    assert kaplan_yorke_dimension([-0.1, -0.2]) == 0.0
    assert kaplan_yorke_dimension([0.2, 0.1]) == 2.0
    assert np.isnan(kaplan_yorke_dimension([0.2, 0.1], n_units=5))
    assert kaplan_yorke_dimension([0.3, -np.inf]) == 1.0


def test_chaos_transition_in_random_tanh_networks():
    # h <- tanh(W h), W ~ N(0, g²/N): chaotic for g > 1 (Sompolinsky et al. 1988;
    # the discrete-time map of Molgedey, Schuchhardt & Schuster 1992)
    tops = []
    for g in (0.5, 3.0):
        rnn = make_rnn(60, gain=g, seed=1, form="elman")
        x0 = np.random.default_rng(3).standard_normal(60)
        tops.append(largest_lyapunov(rnn, x0, 600, transient=200).exponent)
    assert tops[0] < -0.3 and tops[1] > 0.05


def test_finite_time_exponents_average_to_the_exponent():
    rnn = make_rnn(10, gain=2.5, seed=5)
    x0 = np.random.default_rng(6).standard_normal(10)
    ft = finite_time_exponents(rnn, x0, 500, 20, k=3, transient=50)
    full = lyapunov_spectrum(rnn, x0, 500, k=3, transient=50)
    assert ft.exponents.shape == (25, 3)
    np.testing.assert_allclose(ft.mean, full.exponents, atol=ATOL_AUTO)
    assert np.all(ft.std > 0)
    np.testing.assert_array_equal(ft.window_start, np.arange(0, 500, 20))


def test_ensemble_over_states_and_weights():
    rnn = make_rnn(8, gain=2.0, seed=1)
    ens = lyapunov_ensemble(rnn, 3, 200, k=4, transient=20, seed=5)
    assert ens.exponents.shape == (3, 4) and np.all(np.diff(ens.exponents, axis=1) <= 0)
    # each member equals a single run from the same state with QR every step
    X0 = np.random.default_rng(5).standard_normal((3, 8))
    one = lyapunov_spectrum(rnn, X0[1], 200, k=4, transient=20, reortho=1, seed=5)
    np.testing.assert_allclose(ens.exponents[1], one.exponents, atol=1e-10)
    np.testing.assert_allclose(ens.mean, ens.exponents.mean(axis=0), rtol=RTOL_EXACT)
    rnns = [make_rnn(8, gain=2.0, seed=s) for s in range(4)]
    ew = lyapunov_ensemble(rnns, np.zeros(8) + 0.5, 150, transient=20)
    assert ew.exponents.shape == (4, 8) and ew.std.shape == (8,)
    assert ew.kaplan_yorke_dimension.shape == (4,) and ew.n_positive.shape == (4,)


@pytest.mark.slow
def test_ensemble_large_n_runs_members_on_threads():
    rnn = make_rnn(70, gain=1.5, seed=1)
    X0 = np.random.default_rng(3).standard_normal((3, 70))
    ens = lyapunov_ensemble(rnn, X0, 50, k=3, transient=10)
    assert ens.meta["path"].startswith("members on") and ens.exponents.shape == (3, 3)
    for b in range(3):  # each member is the plain spectrum of its initial state
        one = lyapunov_spectrum(rnn, X0[b], 50, k=3, transient=10, reortho=1, history=False)
        np.testing.assert_array_equal(ens.exponents[b], one.exponents)


def test_result_roundtrip(tmp_path):
    rnn = make_rnn(5, gain=1.5, seed=1)
    res = lyapunov_spectrum(rnn, np.ones(5), 100, transient=10)
    res.save(tmp_path / "ly")
    back = load_result(tmp_path / "ly")
    assert isinstance(back, LyapunovResult)
    np.testing.assert_array_equal(back.exponents, res.exponents)
    assert back.meta["params"]["reortho"] == "auto" and back.meta["units"]


def test_bad_input():
    rnn = make_rnn(4, seed=1)
    x0 = np.ones(4)
    with pytest.raises(ValueError, match="k must be <= 4"):
        lyapunov_spectrum(rnn, x0, 10, k=5)
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        lyapunov_spectrum(rnn, x0, 0)
    with pytest.raises(ValueError, match="reortho"):
        lyapunov_spectrum(rnn, x0, 10, reortho="sometimes")
    with pytest.raises(ValueError, match="reortho must be >= 1"):
        lyapunov_spectrum(rnn, x0, 10, reortho=0)
    with pytest.raises(ValueError, match="x0 must have shape"):
        lyapunov_spectrum(rnn, np.ones(3), 10)
    with pytest.raises(TypeError, match="rnn must be"):
        lyapunov_spectrum(rnn.W, x0, 10)
    with pytest.raises(ValueError, match="window must be <= 10"):
        finite_time_exponents(rnn, x0, 10, 11)
    with pytest.raises(ValueError, match="tol must be > 0"):
        lyapunov_spectrum(rnn, x0, 10, tol=0.0)
    with pytest.raises(ValueError, match="inputs must have shape"):
        lyapunov_spectrum(make_rnn(4, n_inputs=1), x0, 10, inputs=np.zeros((5, 1)))
    with pytest.raises(ValueError, match="same number of units"):
        lyapunov_ensemble([rnn, make_rnn(5)], 2, 10)
    big = RNN(np.eye(3) * 3.0, None, None, "relu")
    with pytest.raises(ValueError, match="diverged"):
        lyapunov_spectrum(big, np.ones(3), 1000, transient=0)


# ------------------------------------------------------------------ figures

SMALL = {
    "lyap_convergence": {"n": 8, "steps": 300, "transient": 50},
    "lyap_gain": {"n": 30, "gains": [0.5, 3.0], "steps": 300, "transient": 100},
    "lyap_driven": {"n": 12, "gains": [0.5, 2.5], "steps": 400, "transient": 100},
    "lyap_finite_time": {"n": 10, "window": 10, "windows": 12, "transient": 50},
}


@pytest.mark.parametrize("module", sorted(SMALL))
def test_figure_recipes_compute_save_and_plot(module, tmp_path):
    import importlib
    from rnndyn.figures import registry
    from rnndyn.figures.style import style_context
    recipe = importlib.import_module(f"rnndyn.figures.{module}")
    assert registry.get(recipe.NAME) is recipe and "seed" in recipe.DEFAULTS
    params = registry.merge_params(recipe, SMALL[module])
    result = recipe.compute(params)
    result.save(tmp_path / "r")
    back = load_result(tmp_path / "r")  # figures re-plot from saved data
    with style_context():
        fig = recipe.plot(back)
    ax = fig.axes[0]
    if module == "lyap_convergence":
        # one running estimate per exponent, λ1 and λN drawn again on top, and λ = 0
        assert len(ax.lines) == 8 + 2 + 1
        np.testing.assert_allclose(ax.lines[0].get_ydata(), back.history[:, 0])
        np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), back.exponents)
    elif module == "lyap_gain":
        assert back.exponents.shape[0] == 2 and back.exponents.shape[-1] == 30
        E = back.exponents.reshape(2, -1, 30)          # (gains, networks, N)
        # below the transition everything contracts; far above it λ_1 > 0
        assert np.all(E[0, :, 0] < 0) and np.all(0 < E[1, :, 0])
        # the drawn line of each gain is the mean over its networks
        np.testing.assert_allclose(ax.lines[1].get_ydata(), E[1].mean(axis=0))
    elif module == "lyap_driven":
        np.testing.assert_allclose(ax.lines[0].get_ydata(), back.autonomous)
        np.testing.assert_allclose(ax.lines[1].get_ydata(), back.driven)
        assert back.autonomous[0] < 0 < back.autonomous[1]
    else:
        assert back.finite_time.shape == back.gradflow_rate.shape == (12,)
        # ‖∏J‖₂ bounds the growth of the QR method's leading direction window by window
        assert np.all(back.gradflow_rate >= back.finite_time - 1e-9)
        assert len(ax.patches) > 0


# ------------------------------------------------------------------ split method


def _split_kernels(rnn, D, Q0, transient, b, reortho=1, tol=1e-8):
    """The two kernel calls of the split method: J on the top N - b columns, J^-T on the rest."""
    N = Q0.shape[0]
    out = []
    for Wt, DD, Q, sign in ((rnn.W.T, D, Q0[:, :N - b], 1.0),
                            (np.linalg.inv(rnn.W), 1.0 / D, Q0[:, N - b:][:, ::-1], -1.0)):
        k = Q.shape[1]
        logsum, hs, hist = np.zeros(k), np.zeros(1), np.zeros((1, k))
        state = np.array([0.0, transient, 0, 0, 0, 0, 0])
        _k._qr_lyapunov(np.ascontiguousarray(Wt), rnn.form_code, np.ascontiguousarray(DD),
                        np.ascontiguousarray(Q.T), logsum, hs, hist, state, reortho, tol, 64,
                        D.shape[0] + 1, False)
        out.append(sign * logsum / (D.shape[0] - transient))
    return np.concatenate([out[0], out[1][::-1]])


@pytest.mark.parametrize("act, form", [(a, f) for a in ("tanh", "sigmoid", "linear")
                                       for f in ("pascanu", "elman")])
def test_split_kernels_match_naive_twin_and_qr_every_step(act, form, rng):
    rnn, x0, u, D = _setup(act, form, N=7, T=120)
    Q0 = np.linalg.qr(rng.standard_normal((7, 7)))[0]
    full = naive.qr_lyapunov(rnn.W, rnn.form_code, D, Q0, 20)
    for b in (1, 3, 6):
        twin = naive.qr_lyapunov_split(rnn.W, rnn.form_code, D, Q0, 20, b)
        # kernels against their twin: the same arithmetic
        np.testing.assert_allclose(_split_kernels(rnn, D, Q0, 20, b), twin,
                                   rtol=RTOL_KERNEL, atol=1e-12)
        # the split is QR every step in exact arithmetic (J^-T Q_2 = Q_2' R_22^-T)
        np.testing.assert_allclose(twin, full, atol=1e-10)


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_split_agrees_with_qr_every_step(form):
    rnn = make_rnn(24, form=form, gain=2.0, seed=3)
    x0 = np.random.default_rng(4).standard_normal(24)
    ref = lyapunov_spectrum(rnn, x0, 600, transient=50, reortho=1, history=False, split=0)
    for b in (5, 12):
        res = lyapunov_spectrum(rnn, x0, 600, transient=50, history=False, split=b)
        assert res.meta["split"] == b and res.meta["split_reason"] is None
        assert res.meta["mean_interval"] > ref.meta["mean_interval"]
        np.testing.assert_allclose(res.exponents, ref.exponents, atol=ATOL_AUTO)
        assert res.sum == pytest.approx(ref.sum, abs=ATOL_AUTO)
    # 'auto' chooses a split here (pilot inside the transient) and agrees too
    auto = lyapunov_spectrum(rnn, x0, 600, transient=50, history=False)
    assert auto.meta["split"] > 0 and auto.meta["pilot_steps"] == 16
    np.testing.assert_allclose(auto.exponents, ref.exponents, atol=ATOL_AUTO)
    # a transient shorter than the pilot: the pilot runs on a copy
    short = lyapunov_spectrum(rnn, x0, 600, transient=3, history=False)
    ref3 = lyapunov_spectrum(rnn, x0, 600, transient=3, reortho=1, history=False, split=0)
    assert short.meta["split"] > 0
    np.testing.assert_allclose(short.exponents, ref3.exponents, atol=ATOL_AUTO)


def test_split_linear_map_is_exact(rng):
    N = 16
    Qm = np.linalg.qr(rng.standard_normal((N, N)))[0]
    eig = np.linspace(1.2, 0.05, N)
    W = Qm @ np.diag(eig) @ Qm.T
    res = lyapunov_spectrum(_linear(W), np.zeros(N), 3000, transient=200, history=False,
                            split=6)
    assert res.meta["split"] == 6
    np.testing.assert_allclose(res.exponents, np.log(eig), atol=ATOL_ASYMPTOTIC)
    assert res.sum == pytest.approx(np.log(abs(np.linalg.det(W))), abs=1e-9)
    # non-normal: exponents still log|eig| (asymptotically), det identity exact
    S = np.triu(rng.standard_normal((N, N)), 1) * 0.5 + np.diag(eig)
    res = lyapunov_spectrum(_linear(S), np.zeros(N), 4000, transient=200, history=False,
                            split=5)
    np.testing.assert_allclose(res.exponents, np.log(eig), atol=ATOL_ASYMPTOTIC)
    assert res.sum == pytest.approx(np.sum(np.log(eig)), abs=1e-9)


def test_split_history_is_recorded_at_the_same_steps():
    rnn = make_rnn(20, gain=2.0, seed=5)
    x0 = np.random.default_rng(6).standard_normal(20)
    res = lyapunov_spectrum(rnn, x0, 4000, transient=30, split=6)
    ref = lyapunov_spectrum(rnn, x0, 4000, transient=30, split=0, reortho=1)
    assert res.meta["split"] == 6
    np.testing.assert_array_equal(res.history_steps, np.arange(10, 4001, 10))
    np.testing.assert_allclose(res.history[-1], res.exponents, rtol=RTOL_EXACT)
    np.testing.assert_allclose(res.history[9::40], ref.history[9::40], atol=1e-6)
    # 800 steps would give a history point every 2 steps: where a split may be
    # used they are spaced 8 apart instead, so that the blocks are not capped
    short = lyapunov_spectrum(rnn, x0, 800, transient=30)
    ref = lyapunov_spectrum(rnn, x0, 800, transient=30, split=0, reortho=1)
    assert short.meta["split"] > 0
    np.testing.assert_array_equal(short.history_steps, np.arange(8, 801, 8))
    np.testing.assert_allclose(short.history, ref.history[3::4], atol=ATOL_AUTO)
    # the forward method alone keeps the finer history
    assert ref.history_steps[0] == 2


def test_split_threads_do_not_change_the_result():
    rnn = make_rnn(40, gain=2.0, seed=7)
    x0 = np.random.default_rng(8).standard_normal(40)
    runs = [lyapunov_spectrum(rnn, x0, 300, transient=20, split=12, threads=t)
            for t in (1, 2)]
    # the parts are independent given the trajectory and each BLAS call runs on
    # one thread: the same operations in the same order, bit for bit
    np.testing.assert_array_equal(runs[0].exponents, runs[1].exponents)
    np.testing.assert_array_equal(runs[0].history, runs[1].history)
    assert [r.meta["params"]["threads"] for r in runs] == [1, 2]
    for bad in (0, 3, 1.5, "two"):
        with pytest.raises((TypeError, ValueError), match="threads"):
            lyapunov_spectrum(rnn, x0, 10, threads=bad)


def test_choose_split_balances_the_parts_on_two_threads():
    from rnndyn.lyapunov import _choose_split
    # a tanh-like spectrum: a flat top and a steep, saturated tail
    lam = np.concatenate([np.linspace(0.15, -2.5, 200), np.linspace(-2.6, -7.0, 56)])
    b1, c1, fwd1 = _choose_split(lam, 1e-8, 1e-9, 64, threads=1)
    b2, c2, fwd2 = _choose_split(lam, 1e-8, 1e-9, 64, threads=2)
    assert 0 < b1 < b2 < 256  # the concurrent J^-T part can take more columns
    assert fwd1 == fwd2 and c2 < c1 < fwd1


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_split_is_accurate_in_deep_saturation(form):
    # g = 4: σ' down to ~1e-10, exponents down to -12 nats/step. Scaling by
    # diag(1/σ') is exact to rounding, so the J^-T part loses nothing; checked
    # against QR every step in extended precision on the same trajectory
    N, T, transient = 24, 400, 50
    rnn = make_rnn(N, gain=4.0, seed=1, form=form)
    x0 = np.random.default_rng(2).standard_normal(N)
    _, D = trajectory(rnn, x0, T + transient)
    assert 0.0 < D.min() < 1e-8
    Q0 = _initial_basis(N, N, 0).T
    ref = np.sort(naive.qr_lyapunov_extended(rnn.W, rnn.form_code, D, Q0, transient))[::-1]
    res = lyapunov_spectrum(rnn, x0, T, transient=transient, history=False, split=8)
    assert res.meta["split"] == 8 and res.meta["split_reason"] is None
    np.testing.assert_allclose(res.exponents, ref, atol=ATOL_AUTO)
    assert ref[-1] < -8.0


def test_split_falls_back_where_j_is_singular_or_ill_conditioned():
    # relu: dead units (σ' = 0) make J singular from the start
    rnn = make_rnn(20, activation="relu", gain=0.9, seed=2)
    rnn = RNN(rnn.W, None, np.where(np.arange(20) % 3 == 0, -5.0, 0.5), "relu", "pascanu")
    x0 = np.ones(20)
    res = lyapunov_spectrum(rnn, x0, 300, transient=20, history=False, split=5)
    ref = lyapunov_spectrum(rnn, x0, 300, transient=20, history=False, split=0)
    assert "singular" in res.meta["split_reason"]
    np.testing.assert_allclose(res.exponents, ref.exponents, atol=ATOL_AUTO)
    assert np.all(res.exponents[-7:] == -np.inf)
    # deep tanh saturation: κ(J) far beyond 1/u
    sat = make_rnn(20, gain=30.0, seed=2)
    res = lyapunov_spectrum(sat, np.ones(20), 200, history=False, split=4)
    assert "ill-conditioned" in res.meta["split_reason"]
    assert not np.any(np.isnan(res.exponents))


def test_split_falls_back_mid_run(monkeypatch):
    # a chaotic tanh network, then a large input drives half the units into deep
    # saturation (J ill-conditioned): the split runs on the first chunk and the
    # forward method finishes the run from the merged basis
    from rnndyn import lyapunov as ly
    from rnndyn import _lyapunov_runs
    monkeypatch.setattr(_lyapunov_runs, "_CHUNK_ELEMENTS", 1)  # 256 steps per chunk
    N = 18
    rnn = make_rnn(N, n_inputs=1, gain=2.0, seed=4)
    rnn = RNN(rnn.W, (np.arange(N) % 2)[:, None] * 1.0, None, "tanh", "pascanu")
    u = np.concatenate([np.zeros((300, 1)), np.full((300, 1), 40.0)])
    x0 = np.random.default_rng(5).standard_normal(N)
    res = lyapunov_spectrum(rnn, x0, 560, transient=40, inputs=u, split=5)
    ref = lyapunov_spectrum(rnn, x0, 560, transient=40, inputs=u, split=0, reortho=1)
    assert res.meta["path"].startswith("split, then") and res.meta["split"] == 5
    assert "ill-conditioned" in res.meta["split_reason"]
    fin = np.isfinite(ref.exponents)
    np.testing.assert_array_equal(np.isfinite(res.exponents), fin)
    np.testing.assert_allclose(res.exponents[fin], ref.exponents[fin], atol=ATOL_AUTO)
    np.testing.assert_allclose(res.history[-1], res.exponents, rtol=RTOL_EXACT)


def test_split_bad_input():
    rnn = make_rnn(4, seed=1)
    with pytest.raises(ValueError, match="split"):
        lyapunov_spectrum(rnn, np.ones(4), 10, split="sometimes")
    with pytest.raises(ValueError, match="full spectrum"):
        lyapunov_spectrum(rnn, np.ones(4), 10, k=2, split=1)
    with pytest.raises(ValueError, match="split must be <= 3"):
        lyapunov_spectrum(rnn, np.ones(4), 10, split=4)


def test_blas_threads_is_restored():
    from rnndyn import lyapunov as ly
    with ly.blas_threads(1):
        pass
    lib = ly._OPENBLAS[0]
    if lib is None:  # SciPy without a bundled OpenBLAS: the context is a no-op
        return
    before = lib.scipy_openblas_get_num_threads()
    with ly.blas_threads(1):
        assert lib.scipy_openblas_get_num_threads() == 1
    assert lib.scipy_openblas_get_num_threads() == before


# ------------------------------------------------------------------ small-N fused path

@pytest.mark.parametrize("N", [1, 2, 5])
@pytest.mark.parametrize("form", ["pascanu", "elman"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_small_kernel_matches_its_twin(N, form, activation, rng):
    rnn = make_rnn(N, activation=activation, form=form, gain=2.5, seed=N, n_inputs=2)
    b = rng.standard_normal(N) * 0.3
    u = np.ascontiguousarray(rng.standard_normal((300, 2)) * 0.5)
    x0 = rng.standard_normal(N)
    for k in sorted({1, N}):
        Q0 = np.ascontiguousarray(np.linalg.qr(rng.standard_normal((N, k)))[0].T)
        ref = naive.small_lyapunov(rnn.W, rnn.U, b, rnn.act_code, rnn.form_code, x0, u, Q0, 7)
        logsum, hs, hist = np.zeros(k), np.zeros(400), np.zeros((400, k))
        state = np.zeros(3)
        x = x0.copy()
        bad = _k._small_lyapunov(rnn.W, rnn.U, b, rnn.act_code, rnn.form_code, x, u,
                                 Q0.copy(), logsum, hs, hist, state, 7, 10)
        assert bad == 0 and int(state[0]) == (300 - 7) // 10
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(logsum), finite)
        np.testing.assert_allclose(logsum[finite], ref[finite], rtol=RTOL_KERNEL, atol=1e-9)
        # history: the sums after 10, 20, ..., 290 steps past the transient
        part = naive.small_lyapunov(rnn.W, rnn.U, b, rnn.act_code, rnn.form_code, x0,
                                    u[:297], Q0, 7)
        np.testing.assert_allclose(hist[int(state[0]) - 1][finite], part[finite],
                                   rtol=RTOL_KERNEL, atol=1e-9)


@pytest.mark.parametrize("N", [1, 3, 8])
def test_small_path_agrees_with_the_blas_path(N, monkeypatch):
    from rnndyn import lyapunov as ly
    rnn = make_rnn(N, gain=2.5, seed=N)
    x0 = np.random.default_rng(N).standard_normal(N)
    small = ly.lyapunov_spectrum(rnn, x0, 800, transient=40)
    top = ly.largest_lyapunov(rnn, x0, 800, transient=40)
    assert small.meta["path"].startswith("small N") and small.meta["mean_interval"] == 1.0
    monkeypatch.setattr(ly, "SMALL_N_MAX", 0)
    blas = ly.lyapunov_spectrum(rnn, x0, 800, transient=40)
    np.testing.assert_allclose(small.exponents, blas.exponents, atol=ATOL_AUTO)
    ref = ly.largest_lyapunov(rnn, x0, 800, transient=40)
    assert top.exponent == pytest.approx(ref.exponent, abs=1e-12)
    np.testing.assert_array_equal(top.history_steps, ref.history_steps)
    np.testing.assert_allclose(top.history, ref.history, atol=1e-12)


def test_small_path_divergence_and_dead_units():
    from rnndyn.models import RNN
    with pytest.raises(InputError, match="diverged"):
        lyapunov_spectrum(RNN([[3.0]], None, [1.0], "relu"), [1.0], 2000)
    with pytest.raises(InputError, match="diverged"):
        largest_lyapunov(RNN(2 * np.eye(2), None, np.ones(2), "relu"), np.ones(2), 2000)
    # a linear map may leave float64: its Jacobian does not depend on the state
    lam = lyapunov_spectrum(RNN([[3.0]], None, [1.0], "linear"), [1.0], 2000).exponents
    assert lam[0] == pytest.approx(np.log(3.0), abs=1e-12)
    # dead relu units: exactly annihilated directions are -inf, as on the BLAS path
    lam = lyapunov_spectrum(RNN(-np.eye(3), None, -np.ones(3), "relu"), np.ones(3), 50,
                            transient=5).exponents
    assert np.all(lam == -np.inf)
