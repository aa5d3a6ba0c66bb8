"""Properties of the named figures a reader checks: fonts, keys, labels, legends off the data.

Each test computes a tiny version of a recipe (small grids, few steps) and inspects the
artists, never the pixels.
"""

import dataclasses
import io

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from rnndyn.figures import registry
from rnndyn.figures.style import new_figure, style_context

# tiny parameters per recipe: fast with and without the JIT
SMALL = {
    "basins-2neuron": {"grid": 12},
    "basin-crossing": {"n_steps": 60},
    "error-surface": {"w": [3.0, 7.0, 9], "b": [-4.5, -1.0, 9], "path_steps": 20},
    "lyapunov-spectrum-gain": {"n": 6, "gains": [0.5, 2.0], "steps": 40, "transient": 10,
                               "n_networks": 2},
    "lyapunov-convergence": {"n": 5, "steps": 40, "transient": 10},
    "fixed-points": {"n": 4, "n_starts": 6},
    "neuron-wb-tanh": {"w": [-8.0, 8.0, 17], "b": [-6.0, 6.0, 13], "n_transient": 50},
    "clipping-study": {"lengths": [10], "methods": ["sgd", "sgd-cr"], "n_seeds": 2,
                       "budget": 4, "eval_every": 2, "eval_size": 10, "workers": 0},
}


def _make(name, **extra):
    """(result, figure) of recipe ``name`` at its SMALL parameters, drawn on an Agg canvas."""
    recipe = registry.get(name)
    params = registry.merge_params(recipe, dict(SMALL.get(name, {}), **extra))
    result = recipe.compute(params)
    return result, _draw(recipe, result)


def _draw(recipe, result):
    with style_context():
        fig = recipe.plot(result)
        FigureCanvasAgg(fig)
        fig.canvas.draw()
    return fig


def _outside(legend, ax):
    """The legend's box and the axes' data area do not overlap (in display pixels)."""
    lb = legend.get_window_extent()
    ab = ax.get_window_extent()
    return lb.x0 >= ab.x1 or lb.x1 <= ab.x0 or lb.y0 >= ab.y1 or lb.y1 <= ab.y0


def _texts(legend):
    return [t.get_text() for t in legend.get_texts()]


def test_style_embeds_truetype_fonts():
    with style_context():
        assert matplotlib.rcParams["pdf.fonttype"] == 42
        assert matplotlib.rcParams["ps.fonttype"] == 42


def test_saved_pdf_has_no_type3_fonts():
    with style_context():
        fig, axes = new_figure()
        ax = axes[0, 0]
        ax.plot([0, 1], [0, 1], label=r"$\|W^k\|_2$")
        ax.set_xlabel("lag $T - k$")
        ax.set_ylabel(r"$\lambda_i$ (nats/step)")
        ax.legend()
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf")
    data = buf.getvalue()
    assert data.startswith(b"%PDF")
    assert b"/Subtype /Type3" not in data
    assert b"/FontFile2" in data  # TrueType outlines embedded


def test_figures_save_truetype_even_outside_the_style_context():
    # fig = result.plot(); fig.savefig("a.pdf") in a notebook saves after the context closed
    with style_context():
        fig, axes = new_figure()
        axes[0, 0].set_xlabel(r"$\lambda_i$")
    with matplotlib.rc_context({"pdf.fonttype": 3}):
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf")
    assert b"/Subtype /Type3" not in buf.getvalue()


def test_saving_a_pdf_logs_no_font_warnings(caplog):
    with style_context():
        fig, axes = new_figure()
        # the prime of mathtext comes from a font whose subsetting makes fontTools log
        axes[0, 0].set_title(r"$m = w\,\sigma'(x_u)$")
    with caplog.at_level("WARNING"):
        fig.savefig(io.BytesIO(), format="pdf")
    assert not [r for r in caplog.records if r.name.startswith("fontTools")]


def test_rendered_recipe_pdf_has_no_type3_fonts(tmp_path):
    info = registry.render("basin-crossing", str(tmp_path), fmt="pdf",
                           params=SMALL["basin-crossing"])
    with open(info["figure"], "rb") as f:
        assert b"/Subtype /Type3" not in f.read()


def test_basins_legend_is_outside_the_data():
    result, fig = _make("basins-2neuron")
    ax = fig.axes[0]
    leg = ax.get_legend()
    assert leg is not None
    assert len(leg.get_texts()) >= len(result.attractors)
    assert _outside(leg, ax)
    assert "$N$ = 2" in ax.get_title()
    assert "$" in ax.get_xlabel() and "$" in ax.get_ylabel()


def test_basin_crossing_legends_are_outside_the_data():
    _, fig = _make("basin-crossing")
    for ax in fig.axes[:2]:
        leg = ax.get_legend()
        assert leg is not None
        assert _outside(leg, ax)
    left, right = fig.axes[:2]
    assert left.get_ylabel() == "$x_t$"
    assert "$" in right.get_ylabel()
    assert any("$x_0 = x_u" in t for t in _texts(left.get_legend()))


def test_error_surface_legends_are_off_the_map_and_paths_are_marked():
    result, fig = _make("error-surface")
    ax_loss, ax_grad = fig.axes[0], fig.axes[2]  # the colorbars are axes 1 and 3
    for ax in (ax_loss, ax_grad):
        leg = ax.get_legend()
        assert leg is not None
        assert _outside(leg, ax)
    labels = _texts(ax_loss.get_legend())
    assert any(t.startswith("plain GD") for t in labels)
    assert any("clipped GD" in t for t in labels)
    # every path has markers, sparser than one per step
    marked = [ln for ln in ax_loss.get_lines() if ln.get_marker() not in ("None", "", None)
              and len(ln.get_xdata()) == result.path_w.shape[2]]
    assert len(marked) == 2 * result.path_start.shape[0]
    assert all(ln.get_markevery() not in (None, 1) for ln in marked)
    assert "$N$ = 1" in fig.get_suptitle()


def test_lyapunov_spectrum_gain_has_spread_and_a_twin_axis_legend():
    result, fig = _make("lyapunov-spectrum-gain")
    assert result.exponents.shape == (2, 2, 6)  # gains × networks × N
    ax, ax_twin = fig.axes[1], fig.axes[2]
    leg = ax.get_legend()
    assert leg is not None
    labels = _texts(leg)
    assert len(labels) == 2 and any("lambda_1" in t for t in labels) \
        and any("D_" in t for t in labels)
    assert "$" in ax.get_ylabel() and "$" in ax_twin.get_ylabel()
    # ±1 std bands on the spectra
    assert len(fig.axes[0].collections) == 2
    assert "$N$ = 6" in fig.axes[0].get_title()


def test_lyapunov_spectrum_gain_replots_old_one_network_files():
    recipe = registry.get("lyapunov-spectrum-gain")
    result, _ = _make("lyapunov-spectrum-gain")
    old = dataclasses.replace(result, exponents=result.exponents[:, 0],
                              kaplan_yorke_dimension=result.kaplan_yorke_dimension[:, 0])
    fig = _draw(recipe, old)
    assert fig.axes[1].get_legend() is not None


def test_lyapunov_convergence_has_a_key():
    result, fig = _make("lyapunov-convergence")
    ax = fig.axes[0]
    # a colorbar for the exponent index and labels on the two ends of the spectrum
    assert any("index" in a.get_ylabel() for a in fig.axes if a is not ax)
    notes = [t.get_text() for t in ax.texts]
    assert any(r"$\lambda_{1}$" in t for t in notes)
    assert any(rf"$\lambda_{{{result.exponents.size}}}$" in t for t in notes)
    assert r"$\lambda_i$" in ax.get_ylabel()
    assert "$N$ = 5" in ax.get_title() and "$g$ = 2" in ax.get_title()


def test_fixed_points_shows_slow_points_or_says_there_are_none():
    result, fig = _make("fixed-points")
    ax = fig.axes[0]
    labels = _texts(ax.get_legend())
    if len(result.slow_points):
        assert any(t.startswith("slow point") for t in labels)
    else:
        assert any("no slow points" in t.get_text() for t in ax.texts)
    assert "$N$ = 4" in fig.get_suptitle()
    assert _outside(ax.get_legend(), ax)


@pytest.mark.slow
def test_fixed_points_default_network_has_slow_points_drawn():
    result, fig = _make("fixed-points", n=20, n_starts=64)
    assert len(result.slow_points) >= 1
    assert any(t.startswith("slow point") for t in _texts(fig.axes[0].get_legend()))


def test_rare_regions_get_a_note_not_a_legend_entry():
    recipe = registry.get("neuron-wb-tanh")
    result, _ = _make("neuron-wb-tanh")
    region = np.asarray(result.region).copy()
    names = list(result.region_names)
    # make region 0 a single cell
    region[region == 0] = 1 if len(names) > 1 else 0
    region[0, 0] = 0
    fig = _draw(recipe, dataclasses.replace(result, region=region))
    ax = fig.axes[0]
    labels = _texts(ax.get_legend())
    assert names[0] not in labels
    assert any(names[0] in t.get_text() for t in ax.texts)
    assert _outside(ax.get_legend(), ax)


def test_clipping_study_defaults_show_the_effect():
    d = registry.get("clipping-study").DEFAULTS
    assert d["n_seeds"] >= 4 and d["budget"] >= 2000 and len(d["lengths"]) >= 3


def test_clipping_study_plot_has_a_key_and_intervals():
    from rnndyn.figures.clipping_study import wilson_interval
    result, fig = _make("clipping-study")
    assert fig.legends and len(fig.legends[0].get_texts()) == 2
    assert "$N$" in fig.get_suptitle()
    lo, hi = wilson_interval(np.array([0, 5, 2]), np.array([5, 5, 5]))
    assert lo[0] == 0.0 and hi[1] == pytest.approx(1.0) and lo[2] < 0.4 < hi[2]


@pytest.mark.parametrize("name", ["lyapunov-largest-gain", "neuron-bifurcation",
                                  "nonnormal-transient"])
def test_axis_labels_use_mathtext(name):
    small = {"lyapunov-largest-gain": {"n": 6, "gains": [0.5, 2.0], "steps": 40,
                                       "transient": 10},
             "neuron-bifurcation": {"b": [-3.2, -1.8, 15], "n_transient": 50},
             "nonnormal-transient": {"n": 6, "steps": 20}}
    _, fig = _make(name, **small[name])
    ax = fig.axes[0]
    assert "$" in ax.get_xlabel() and "$" in ax.get_ylabel()
    assert "$N$" in ax.get_title()


def test_continuation_legend_has_one_entry_per_kind_of_bifurcation():
    result, fig = _make("continuation-neimark-sacker", n_points=120)
    kinds = {b["type"] for b in result.bifurcations}
    labels = _texts(fig.axes[0].get_legend())
    assert len(labels) <= 2 + len(kinds)  # stable, unstable, one per kind
    assert "$N$ = 2" in fig.get_suptitle()
