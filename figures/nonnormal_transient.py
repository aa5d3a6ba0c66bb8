"""Transient growth of a non-normal W with spectral radius ρ < 1: ‖W^k‖ rises by
orders of magnitude before it decays as ρ^k, while the bound λ1^k keeps growing
(Pascanu et al. 2013, §2.1: ρ decides only the limit k → ∞)."""

import numpy as np

from rnndyn.results import Result, make_meta, result_type

NAME = "nonnormal-transient"
TITLE = "Non-normal W with ρ < 1: transient growth of ‖W^k‖ between ρ^k and λ1^k"
# W = Q (Λ + c S) Qᵀ: S the shift (a chain of units each feeding the next), Λ = diag of n
# eigenvalues spread evenly over [-ρ, ρ], Q a random rotation so that the structure is not
# visible in the entries. The eigenvalues are distinct: a defective W (all equal to ρ)
# would have its computed eigenvalues scattered by ~ε^(1/n), misreporting ρ itself.
# x0_scale: the tanh network's x0 ~ N(0, scale²). Small, so that the transient (×36 here)
# stays in tanh's linear range; from |x0| ~ 0.5 this W settles on a non-zero attractor
# instead, and the gradient norms stop decaying (ρ(W) < 1 does not make the nonlinear
# network contracting).
DEFAULTS = {"seed": 0, "n": 16, "rho": 0.8, "coupling": 1.0, "steps": 120, "x0_scale": 0.01}
LN10 = np.log(10.0)


@result_type
class NonnormalTransientResult(Result):
    """log10 ‖W^k‖₂ against k, with ρ^k, λ1^k and a tanh network's gradient norm."""

    k: np.ndarray
    log10_power_norm: np.ndarray    # log10 ‖W^k‖₂ = the linear RNN's gradient norm
    log10_tanh_grad: np.ndarray     # log10 ‖∂x_T/∂x_{T-k}‖₂ of a tanh RNN with this W
    spectral_radius: float
    max_singular_value: float
    peak: float
    peak_k: int
    eig_real: np.ndarray
    eig_imag: np.ndarray
    singular_values: np.ndarray
    linear_statement: str
    meta: dict


def make_W(n, rho, coupling, seed):
    """Q (Λ + c S) Qᵀ: Λ = diag(linspace(-ρ, ρ, n)), S the upper shift, Q seeded orthogonal.

    Spectral radius ρ; largest singular value about ρ + c.
    """
    from rnndyn.models import orthogonal_matrix
    Q = orthogonal_matrix(n, 1.0, np.random.default_rng(seed))
    J = np.diag(np.linspace(-rho, rho, n)) + coupling * np.eye(n, k=1)
    return Q @ J @ Q.T


def compute(params):
    from rnndyn.gradflow import gradient_flow
    from rnndyn.models import RNN
    from rnndyn.spectra import spectrum
    K = params["steps"]
    W = make_W(params["n"], params["rho"], params["coupling"], params["seed"])
    spec = spectrum(W, "linear", max_power=K)
    x0 = params["x0_scale"] * np.random.default_rng(params["seed"] + 1).standard_normal(
        params["n"])
    tanh = gradient_flow(RNN(W, None, None, "tanh"), x0, K, jacobian_stats=False)
    return NonnormalTransientResult(
        k=np.arange(K + 1), log10_power_norm=spec.log_power_norm / LN10,
        log10_tanh_grad=tanh.log10_norm, spectral_radius=spec.spectral_radius,
        max_singular_value=spec.max_singular_value, peak=spec.transient_peak,
        peak_k=spec.transient_peak_k, eig_real=spec.eig_real, eig_imag=spec.eig_imag,
        singular_values=spec.singular_values, linear_statement=spec.linear_statement,
        meta=make_meta(params, seed=params["seed"]))


def plot(result):
    """(a) log10 ‖W^k‖ with ρ^k and λ1^k; (b) eigenvalues inside the unit circle."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 2, figsize=(9.0, 3.6), width_ratios=[1.6, 1])
    ax = axes[0][0]
    k = result.k
    rho, lam1 = result.spectral_radius, result.max_singular_value
    ax.plot(k, result.log10_power_norm, lw=2, label=r"$\|W^k\|_2$ (linear RNN gradient)")
    ax.plot(k, result.log10_tanh_grad, ls="--",
            label=r"tanh RNN $\|\partial x_T/\partial x_{T-k}\|_2$, "
                  rf"$x_0 \sim \mathcal{{N}}(0, {result.meta['params'].get('x0_scale', 0):g}^2)$")
    ax.plot(k, k * np.log10(rho), color="0.4", ls=":", label=rf"$\rho^k$, $\rho$ = {rho:.3g}")
    ax.plot(k, k * np.log10(lam1), color="0.4", ls="-.",
            label=rf"$\lambda_1^k$, $\lambda_1$ = {lam1:.3g}")
    ax.plot([result.peak_k], [np.log10(result.peak)], "o", color="C3",
            label=f"peak {result.peak:.3g} at $k$ = {result.peak_k}")
    finite = np.concatenate([result.log10_power_norm, result.log10_tanh_grad])
    finite = finite[np.isfinite(finite)]
    ax.set_ylim(min(finite.min(), k[-1] * np.log10(rho)) - 1, finite.max() + 2)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("$k$ (lag)")
    ax.set_ylabel(r"$\log_{10}$ norm")
    p = result.meta.get("params", {})
    ax.set_title(rf"$\rho < 1$ yet gradients grow for many steps ($N$ = {p.get('n', '?')}, "
                 f"coupling $c$ = {p.get('coupling', '?')})")
    ax.legend(fontsize="small")
    ax = axes[0][1]
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="0.6", lw=0.8, label=r"$|\mu| = 1$")
    ax.plot(lam1 * np.cos(t), lam1 * np.sin(t), color="0.4", ls="-.", lw=0.8,
            label=r"$|\mu| = \lambda_1$")
    ax.plot(result.eig_real, result.eig_imag, "o", ms=4, label=r"eigenvalues $\mu$ of $W$")
    ax.set_aspect("equal")
    ax.set_xlabel(r"Re $\mu$")
    ax.set_ylabel(r"Im $\mu$")
    ax.set_title("spectrum: all inside the unit circle")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return fig
