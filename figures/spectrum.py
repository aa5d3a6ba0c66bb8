"""Spectra of the paper's initialisations against the vanishing/exploding conditions
(eigenvalues against the unit circle and 1/γ; singular values against 1/γ).

Also home of :func:`plot_spectrum`, the picture drawn by ``rnndyn spectrum``.
"""

import numpy as np

from rnndyn.results import Result, make_meta, result_type

NAME = "spectra-paper-inits"
TITLE = "Eigenvalues and singular values of the paper's initialisations vs λ1 < 1/γ"
DEFAULTS = {"seed": 0, "n": 50, "inits": ["sigmoid", "basic-tanh", "smart-tanh", "gaussian"]}


@result_type
class InitSpectraResult(Result):
    """Per initialisation: eigenvalues, singular values, ρ, λ1, γ and the verdicts."""

    eig_real: np.ndarray           # (inits, N)
    eig_imag: np.ndarray
    singular_values: np.ndarray    # (inits, N)
    spectral_radius: np.ndarray
    max_singular_value: np.ndarray
    gamma: np.ndarray
    inits: list
    activations: list
    criteria: list
    meta: dict


def compute(params):
    from rnndyn.models import make_rnn
    from rnndyn.spectra import spectrum
    specs, acts = [], []
    for init in params["inits"]:
        rnn = make_rnn(params["n"], init=init, gain=1.0, seed=params["seed"])
        specs.append(spectrum(rnn))
        acts.append(rnn.activation)
    return InitSpectraResult(
        eig_real=np.array([s.eig_real for s in specs]),
        eig_imag=np.array([s.eig_imag for s in specs]),
        singular_values=np.array([s.singular_values for s in specs]),
        spectral_radius=np.array([s.spectral_radius for s in specs]),
        max_singular_value=np.array([s.max_singular_value for s in specs]),
        gamma=np.array([s.gamma for s in specs]), inits=list(params["inits"]),
        activations=acts, criteria=[s.criterion for s in specs],
        meta=make_meta(params, seed=params["seed"]))


def _circle(ax, r, **kw):
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(r * np.cos(t), r * np.sin(t), **kw)


def plot(result):
    """One column per initialisation: eigenvalues (top), singular values (bottom)."""
    from rnndyn.figures.style import new_figure
    n = len(result.inits)
    fig, axes = new_figure(2, n, figsize=(3.0 * n, 5.6))
    for j, init in enumerate(result.inits):
        ax = axes[0][j]
        _circle(ax, 1.0, color="0.6", lw=0.8)
        ax.plot(result.eig_real[j], result.eig_imag[j], ".", ms=4)
        ax.set_aspect("equal")
        ax.set_title(f"{init} ({result.activations[j]}, $N$ = {result.eig_real.shape[1]})\n"
                     rf"$\rho$ = {result.spectral_radius[j]:.3g}, "
                     rf"$\lambda_1$ = {result.max_singular_value[j]:.3g}", fontsize="small")
        ax = axes[1][j]
        ax.semilogy(np.arange(1, result.singular_values.shape[1] + 1),
                    np.maximum(result.singular_values[j], 1e-300), ".")
        ax.axhline(1.0 / result.gamma[j], color="C3", lw=0.8,
                   label=rf"$1/\gamma$ = {1 / result.gamma[j]:g}")
        ax.set_xlabel("index $i$")
        ax.legend(fontsize="small")
    for ax in axes[0]:
        ax.set_xlabel(r"Re $\mu$")
    axes[0][0].set_ylabel(r"Im $\mu$")
    axes[1][0].set_ylabel(r"singular value $\sigma_i(W)$")
    return fig


def plot_spectrum(result):
    """The picture of one :class:`rnndyn.spectra.SpectrumResult` (``rnndyn spectrum``)."""
    from rnndyn.figures.style import new_figure
    has_powers = len(result.log_power_norm) > 0
    ncols = 3 if has_powers else 2
    fig, axes = new_figure(1, ncols, figsize=(3.6 * ncols, 3.6))
    ax = axes[0][0]
    _circle(ax, 1.0, color="0.6", lw=0.8, label=r"$|\mu| = 1$")
    if result.gamma != 1.0:
        _circle(ax, result.threshold, color="C3", lw=0.8, ls="--",
                label=rf"$|\mu| = 1/\gamma$ = {result.threshold:g}")
    ax.plot(result.eig_real, result.eig_imag, ".", ms=4, label="eigenvalues")
    ax.set_aspect("equal")
    ax.set_title(rf"$N$ = {len(result.singular_values)}, $\rho$ = {result.spectral_radius:.4g}")
    ax.set_xlabel(r"Re $\mu$")
    ax.set_ylabel(r"Im $\mu$")
    ax.legend(fontsize="small", loc="lower left")
    ax = axes[0][1]
    sv = result.singular_values
    ax.semilogy(np.arange(1, len(sv) + 1), np.maximum(sv, 1e-300), ".")
    ax.axhline(result.threshold, color="C3", lw=0.8, label=rf"$1/\gamma$ = {result.threshold:g}")
    verdict = ("vanishing guaranteed" if result.vanishing_guaranteed else
               "exploding possible" if result.exploding_possible else "edge")
    ax.set_title(rf"$\lambda_1$ = {result.max_singular_value:.4g}: {verdict}")
    ax.set_xlabel("index $i$")
    ax.set_ylabel(r"$\sigma_i(W)$")
    ax.legend(fontsize="small")
    if has_powers:
        ax = axes[0][2]
        k = np.arange(len(result.log_power_norm))
        ax.plot(k, result.log_power_norm / np.log(10), label=r"$\|W^k\|_2$")
        with np.errstate(divide="ignore"):
            ax.plot(k, k * np.log10(result.spectral_radius), ls=":", color="0.4",
                    label=r"$\rho^k$")
            ax.plot(k, k * np.log10(result.max_singular_value), ls="-.", color="0.4",
                    label=r"$\lambda_1^k$")
        finite = result.log_power_norm[np.isfinite(result.log_power_norm)] / np.log(10)
        if finite.size:
            ax.set_ylim(finite.min() - 1, finite.max() + 1)
        ax.set_xlabel("$k$")
        ax.set_ylabel(r"$\log_{10}$ norm")
        ax.set_title("transient" if result.transient_growth else "powers of W")
        ax.legend(fontsize="small")
    return fig
