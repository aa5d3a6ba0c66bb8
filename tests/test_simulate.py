import numpy as np
import pytest

import naive
from conftest import RTOL_EXACT
from rnndyn.inputs import make_inputs
from rnndyn.models import make_rnn
from rnndyn.simulate import initial_state, jacobian, trajectories, trajectory

CASES = [(act, form) for act in ("tanh", "sigmoid", "relu", "linear")
         for form in ("pascanu", "elman")]


@pytest.mark.parametrize("act, form", CASES)
def test_trajectory_matches_naive(act, form, rng):
    rnn = make_rnn(7, n_inputs=3, activation=act, form=form, gain=0.9, seed=1)
    u = make_inputs("gaussian", 25, 3, seed=2)
    x0 = rng.standard_normal(7)
    X, D = trajectory(rnn, x0, 25, u)
    Xn, Dn = naive.trajectory(rnn.W, rnn.U, rnn.b, rnn.act_code, rnn.form_code, x0, u)
    np.testing.assert_allclose(X, Xn, rtol=RTOL_EXACT, atol=1e-14)
    np.testing.assert_allclose(D, Dn, rtol=RTOL_EXACT, atol=1e-14)
    Xb, Db = trajectories(rnn, np.stack([x0, x0 + 1.0]), 25, u)
    np.testing.assert_allclose(Xb[0], X, rtol=RTOL_EXACT, atol=1e-14)
    np.testing.assert_allclose(Db[0], D, rtol=RTOL_EXACT, atol=1e-14)
    Xn1, _ = naive.trajectory(rnn.W, rnn.U, rnn.b, rnn.act_code, rnn.form_code, x0 + 1.0, u)
    np.testing.assert_allclose(Xb[1], Xn1, rtol=RTOL_EXACT, atol=1e-14)


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_jacobian_matches_finite_difference(form, rng):
    rnn = make_rnn(6, n_inputs=2, activation="tanh", form=form, gain=1.2, seed=3)
    u = rng.standard_normal((1, 2))
    x = rng.standard_normal(6)
    X, D = trajectory(rnn, x, 1, u)
    J = jacobian(rnn, D[0])
    np.testing.assert_allclose(J, naive.jacobian(rnn.W, rnn.form_code, D[0]), rtol=RTOL_EXACT)
    h = 1e-6
    fd = np.empty((6, 6))
    for j in range(6):
        e = np.zeros(6)
        e[j] = h
        fd[:, j] = (rnn.step(x + e, u[0]) - rnn.step(x - e, u[0])) / (2 * h)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-9)


def test_zero_steps_and_bad_input():
    rnn = make_rnn(3, n_inputs=1)
    X, D = trajectory(rnn, np.zeros(3), 0)
    assert X.shape == (1, 3) and D.shape == (0, 3)
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        trajectory(rnn, np.zeros(3), -1)
    with pytest.raises(ValueError, match="x0 must have shape"):
        trajectory(rnn, np.zeros(4), 3)
    with pytest.raises(ValueError, match="inputs must have shape"):
        trajectory(rnn, np.zeros(3), 3, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="x0 contains"):
        trajectory(rnn, [np.nan, 0, 0], 3)
    assert np.all(initial_state(rnn, "zero") == 0)
    np.testing.assert_array_equal(initial_state(rnn, "random", seed=1),
                                  initial_state(rnn, "random", seed=1))
