"""Trajectories of an RNN and their one-step Jacobians (public wrappers)."""

import numpy as np

from rnndyn._kernels import cells as _k
from rnndyn._validate import as_array, as_choice, as_int, as_rng, InputError
from rnndyn.inputs import check_inputs
from rnndyn._memory import array_bytes, check_request

X0_KINDS = ("zero", "random")


def trajectory_kernel(rnn, batch=False):
    """The kernel that runs ``rnn``'s cell: (W, U, b, act, cell code, x0, u, X, D).

    The vanilla and gated cells have separate trajectory kernels, so that a vanilla
    command compiles (cold cache) or loads only the vanilla step.
    """
    if rnn.cell == "vanilla":
        return _k._trajectories if batch else _k._trajectory
    return _k._gated_trajectories if batch else _k._gated_trajectory


def initial_state(rnn, x0="zero", *, seed=0, scale=1.0):
    """An initial state: 'zero', 'random' (N(0, scale²), seeded) or an array of shape (S,).

    S is the state size: N, or 2N for the LSTM's (h, c) with h first ('zero': h = c = 0).
    """
    if isinstance(x0, str):
        kind = as_choice(x0, "x0", X0_KINDS)
        if kind == "zero":
            return np.zeros(rnn.S)
        return scale * as_rng(seed).standard_normal(rnn.S)
    return as_array(x0, "x0", shape=(rnn.S,))


def trajectory(rnn, x0, n_steps, inputs=None):
    """Run the RNN for ``n_steps`` updates from ``x0``.

    Parameters
    ----------
    rnn : RNN
    x0 : array_like, shape (S,)
        The state: S = N, or 2N for the LSTM's (h, c), h first.
    n_steps : int
        T >= 0; the trajectory is x_0 … x_T.
    inputs : array_like, shape (T, M), optional
        u_1 … u_T; zeros when omitted.

    Returns
    -------
    X : ndarray, shape (T + 1, S)
        States x_0 … x_T (h_0 … h_T for the elman form).
    D : ndarray, shape (T, A)
        Auxiliary rows. Vanilla (A = N): derivative factors D[t-1] = σ'(x_{t-1})
        (pascanu) or σ'(a_t) (elman), so that the one-step Jacobian is
        J_t = W diag(D[t-1]) or diag(D[t-1]) W. Gated cells: see :mod:`rnndyn.cells`.

    Notes
    -----
    States may overflow to inf for unbounded activations (relu, linear) with
    an expanding W; check ``np.isfinite(X)``.
    """
    x0 = as_array(x0, "x0", shape=(rnn.S,))
    T = as_int(n_steps, "n_steps", minimum=0)
    check_request(array_bytes(T + 1, rnn.S) + array_bytes(T, rnn.aux_size)
                  + array_bytes(T, rnn.M), f"a trajectory of n_steps={T} for N={rnn.N}")
    u = check_inputs(inputs, T, rnn.M)
    X = np.empty((T + 1, rnn.S))
    D = np.empty((T, rnn.aux_size))
    trajectory_kernel(rnn)(rnn.W, rnn.U, rnn.b, rnn.act_code, rnn.cell_code, x0, u, X, D)
    return X, D


def trajectories(rnn, X0, n_steps, inputs=None):
    """Batch of trajectories from the rows of ``X0`` (B, S).

    ``inputs`` is None, one sequence (T, M) shared by the batch, or (B, T, M).
    Returns X (B, T+1, S) and D (B, T, A) as in :func:`trajectory`.
    """
    X0 = as_array(X0, "X0", ndim=2)
    if X0.shape[1] != rnn.S:
        raise InputError(f"X0 must have shape (B, {rnn.S}), got {X0.shape}")
    B = X0.shape[0]
    T = as_int(n_steps, "n_steps", minimum=0)
    check_request(array_bytes(B, T + 1, rnn.S) + array_bytes(B, T, rnn.aux_size)
                  + array_bytes(B, T, rnn.M),
                  f"{B} trajectories of n_steps={T} for N={rnn.N}")
    if inputs is None:
        u = np.zeros((B, T, rnn.M))
    else:
        u = as_array(inputs, "inputs")
        if u.ndim == 2:
            u = np.broadcast_to(check_inputs(u, T, rnn.M), (B, T, rnn.M))
        if u.ndim != 3 or u.shape[0] != B or u.shape[1] < T or u.shape[2] != rnn.M:
            raise InputError(f"inputs must have shape ({T}, {rnn.M}) or ({B}, {T}, {rnn.M}), "
                             f"got {u.shape}")
        u = np.ascontiguousarray(u[:, :T])
    X = np.empty((B, T + 1, rnn.S))
    D = np.empty((B, T, rnn.aux_size))
    trajectory_kernel(rnn, batch=True)(rnn.W, rnn.U, rnn.b, rnn.act_code, rnn.cell_code,
                                       X0, u, X, D)
    return X, D


def jacobian(rnn, d):
    """One-step Jacobian J_t (S, S) from an auxiliary row ``d`` = D[t-1] (see :func:`trajectory`)."""
    d = as_array(d, "d", shape=(rnn.aux_size,))
    J = np.empty((rnn.S, rnn.S))
    _k._jacobian(rnn.W, rnn.form_code, d, J)
    return J
