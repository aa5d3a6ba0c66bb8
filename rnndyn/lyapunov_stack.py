"""Lyapunov spectra of stacked RNNs (:mod:`rnndyn.stack`).

The joint state of a unidirectional stack, s_t = (s^1_t, …, s^L_t), moves by a one-step
Jacobian that is block lower-triangular across layers: layer l at t depends on its own state
at t − 1 and on the layers below at t, never on the layers above. The Lyapunov spectrum of a
block-triangular cocycle is the union of the spectra of its diagonal blocks (the off-diagonal
blocks change the Oseledets directions, not the exponents; e.g. Barreira & Pesin, "Nonuniform
Hyperbolicity", 2007, on triangular cocycles). The diagonal block of layer l is its cell's own
Jacobian ∂s^l_t/∂s^l_{t−1} along the stack's trajectory, under the drive of the layers below
(a residual skip adds P h^{l−1}_t, which does not depend on s^l_{t−1}). So each layer's
exponents come from the QR method on its own auxiliary rows, with no (ΣS)² matrix anywhere;
``tests/test_stack_lyapunov.py`` checks the union against a QR of the full joint Jacobian.
"""

import numpy as np

from rnndyn._validate import as_float, as_int, InputError
from rnndyn.results import Result, make_meta, result_type


@result_type
class StackLyapunovResult(Result):
    """The spectrum of a stack (see :func:`stack_lyapunov_spectrum`).

    Attributes
    ----------
    exponents : ndarray, shape (ΣS,)
        Every exponent of the joint state, descending (natural log per step).
    layer_exponents : list of ndarray
        Layer l's exponents (descending), S_l of them: the spectrum of its cell under the
        drive of the layers below.
    layer_of : ndarray of int, shape (ΣS,)
        The layer (1 … L) each entry of ``exponents`` comes from.
    hidden, cells : list
    n_steps, transient : int
    meta : dict
    """

    exponents: np.ndarray
    layer_exponents: list
    layer_of: np.ndarray
    hidden: list
    cells: list
    n_steps: int
    transient: int
    meta: dict


def stack_lyapunov_spectrum(stack, x0, n_steps, *, transient=100, inputs=None, reortho="auto",
                            tol=1e-8, max_interval=64, seed=0):
    """The Lyapunov spectrum of a unidirectional stack's joint state, layer by layer.

    Parameters
    ----------
    stack : Stack (or RNN: one layer)
    x0 : array_like (ΣS,) or {'zero', 'random'}
        The joint initial state ('random': N(0, 1) with ``seed``).
    n_steps, transient : int
        Steps averaged over, after ``transient`` steps.
    inputs : array_like, shape (transient + n_steps, M), optional
    reortho, tol, max_interval, seed
        The QR method's settings, as in :func:`rnndyn.lyapunov.lyapunov_spectrum` (every
        layer uses the same start basis seed).

    Returns
    -------
    StackLyapunovResult

    Notes
    -----
    λ(J) = ∪_l λ(J^{ll}) for block lower-triangular J_t (module docstring): layer l's QR
    runs on the stack trajectory's auxiliary rows of that layer, through the same kernel
    as a single network's spectrum (:func:`rnndyn._kernels.lyapunov._qr_lyapunov`).
    """
    from rnndyn._kernels import lyapunov as _k
    from rnndyn._lyapunov_runs import _initial_basis, _new_state
    from rnndyn.lyapunov import _reortho_code
    from rnndyn.stack import as_stack, initial_state, trajectory
    stack = as_stack(stack, "stack")
    if stack.bidirectional:
        raise InputError("stack: the Lyapunov spectrum of the joint state needs a causal map "
                         "(a reverse direction runs backwards in time): unidirectional "
                         "stacks only")
    n_steps = as_int(n_steps, "n_steps", minimum=1)
    transient = as_int(transient, "transient", minimum=0)
    code = _reortho_code(reortho)
    tol = as_float(tol, "tol", minimum=0.0, strict_minimum=True)
    max_interval = as_int(max_interval, "max_interval", minimum=1)
    x0 = initial_state(stack, x0, seed=seed)
    X, D = trajectory(stack, x0, transient + n_steps, inputs)
    if not np.all(np.isfinite(X)):
        bad = int(np.argmax(~np.all(np.isfinite(X), axis=1)))
        raise InputError(f"the stack's trajectory diverged (non-finite state at step {bad}); "
                         "its exponents are undefined")
    per_layer, aux = [], 0
    for part in stack.parts:
        A = part.aux_size
        Dl = np.ascontiguousarray(D[:, aux:aux + A])
        aux += A
        Qt = _initial_basis(part.S, part.S, seed)
        logsum = np.zeros(part.S)
        state = _new_state(transient)
        _k._qr_lyapunov(np.ascontiguousarray(part.W.T), part.cell_code, Dl, Qt, logsum,
                        np.zeros(1), np.zeros((1, part.S)), state, code, tol, max_interval,
                        transient + n_steps + 1, False)
        per_layer.append(np.sort(logsum / n_steps)[::-1])
    allx = np.concatenate(per_layer)
    layer = np.concatenate([np.full(len(e), l + 1) for l, e in enumerate(per_layer)])
    order = np.argsort(-allx, kind="stable")
    params = {"n_steps": n_steps, "transient": transient, "reortho": reortho, "tol": tol,
              "max_interval": max_interval, "inputs": inputs is not None}
    meta = make_meta(params, seed=seed, method="QR (Benettin) per layer: the union of the "
                     "diagonal blocks' spectra", units="natural log per step",
                     model=None, stack=stack.describe())
    return StackLyapunovResult(exponents=allx[order], layer_exponents=per_layer,
                               layer_of=layer[order].astype(np.int64), hidden=stack.hidden,
                               cells=stack.cells, n_steps=n_steps, transient=transient,
                               meta=meta)
