"""Learning curves of one training run (the figure of ``rnndyn train``)."""


def plot(result):
    """Learning curves of a :class:`rnndyn.training.TrainResult` (4 panels): loss,
    error rate, gradient norm and clipped fraction, ρ(W), λ1(W), the gradient-flow
    rate and Ω, against the update count."""
    import numpy as np
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(2, 2, figsize=(9.0, 6.4))
    p = result.meta.get("params", {})
    n = result.update
    ax = axes[0, 0]
    ax.plot(n, result.loss, label="minibatch loss")
    ax.set_yscale("log")
    ax.set_xlabel("updates")
    ax.set_ylabel("loss")
    ax.set_title(f"{p.get('task')} L={p.get('length')} {p.get('method')} {p.get('init')}")
    ax = axes[0, 1]
    ax.plot(n, result.error_rate, label="minibatches")
    ax.plot(result.eval_update, result.eval_error_rate, "o", label="fresh sequences")
    ax.axhline(0.01, color="k", lw=0.8, ls=":", label="success (1%)")
    ax.set_xlabel("updates")
    ax.set_ylabel("error rate")
    ax.legend()
    ax = axes[1, 0]
    ax.plot(n, result.grad_norm, label=r"mean $\|\nabla E\|$ before clipping")
    ax.plot(n, result.grad_norm_max, lw=0.8, label=r"max $\|\nabla E\|$")
    if p.get("clip") == "norm":
        ax.axhline(p.get("threshold"), color="k", lw=0.8, ls=":", label="threshold")
    ax.set_yscale("log")
    ax.set_xlabel("updates")
    ax.set_ylabel("gradient norm")
    ax.legend()
    ax2 = ax.twinx()
    ax2.plot(n, result.clip_fraction, color="0.6", lw=0.8)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("fraction clipped", color="0.4")
    ax = axes[1, 1]
    ax.plot(n, result.rho, label=r"$\rho(W)$")
    ax.plot(n, result.lambda1, label=r"$\lambda_1(W)$")
    ax.plot(n, np.exp(result.flow_rate), label=r"$e^{\mathrm{rate}}$ (gradient flow, per step)")
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("updates")
    ax.legend(loc="upper left")
    ax2 = ax.twinx()
    ax2.plot(n, result.omega, color="0.5", lw=0.8)
    ax2.set_ylabel(rf"$\Omega$ ({result.meta.get('omega_convention')} over k)", color="0.4")
    return fig


def plot_corpus(result):
    """Learning curves of a :class:`rnndyn.training_corpus.CorpusTrainResult` (3 panels):
    minibatch loss and validation NLL against updates (with the frequency baseline and the
    best update), gradient norms with the clipped fraction, and ρ(W), λ1(W) and the
    learning rate."""
    import numpy as np
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 3, figsize=(12.0, 3.6))
    p = result.meta.get("params", {})
    n = np.asarray(result.update)
    ax = axes[0, 0]
    ax.plot(n, result.loss, lw=0.8, label="minibatch loss")
    ax.plot(result.eval_update, result.eval_valid_nll, "o-", ms=3, label="validation NLL")
    ax.axhline(result.baseline_nll, color="k", lw=0.8, ls=":",
               label=f"frequency baseline {result.baseline_nll:.3g}")
    ax.axvline(result.best_update, color="0.6", lw=0.8, ls="--", label="best (kept)")
    ax.set_xlabel("updates")
    ax.set_ylabel(f"NLL ({result.unit})")
    ax.legend(fontsize=7)
    ax.set_title(f"{result.dataset}: {p.get('method')}, test {result.test_nll:.4g}",
                 fontsize=9)
    ax = axes[0, 1]
    ax.plot(n, result.grad_norm, label=r"mean $\|\nabla E\|$ before clipping")
    ax.plot(n, result.grad_norm_max, lw=0.8, label=r"max $\|\nabla E\|$")
    if p.get("threshold") is not None and p.get("method") in ("sgd-c", "sgd-cr"):
        ax.axhline(p.get("threshold"), color="k", lw=0.8, ls=":", label="threshold")
    ax.set_yscale("log")
    ax.set_xlabel("updates")
    ax.set_ylabel("gradient norm")
    ax.legend(fontsize=7)
    ax2 = ax.twinx()
    ax2.plot(n, result.clip_fraction, color="0.6", lw=0.8)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("fraction clipped", color="0.4")
    ax = axes[0, 2]
    if np.any(np.isfinite(np.asarray(result.rho, dtype=float))):
        ax.plot(n, result.rho, label=r"$\rho(W)$")
        ax.plot(n, result.lambda1, label=r"$\lambda_1(W)$")
    ax.set_xlabel("updates")
    ax.legend(fontsize=7, loc="upper left")
    ax2 = ax.twinx()
    ax2.step(result.eval_update, result.eval_lr, where="post", color="0.4", lw=0.9)
    ax2.set_ylabel("learning rate", color="0.4")
    ax.set_title("spectrum of W (vanilla cells) and the learning rate", fontsize=9)
    return fig
