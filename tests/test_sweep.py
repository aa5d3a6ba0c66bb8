"""rnndyn.sweep and `rnndyn sweep`: grids, measures, Datasets, files, the CLI contract."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn import sweep as sw
from rnndyn._validate import InputError
from rnndyn.cli.main import cli

# tiny networks: these tests check the plumbing, not the dynamics
SMALL = dict(fixed={"n": 4}, steps=40, transient=10)
CLI_SMALL = ["--n", "4", "--steps", "40", "--transient", "10", "--workers", "0"]


def _invoke(*args):
    return CliRunner().invoke(cli, ["sweep", *args])


# ---------------------------------------------------------------- grid parsing

@pytest.mark.parametrize("name, spec, values", [
    ("gain", "0.5:2:4", (0.5, 1.0, 1.5, 2.0)),
    ("gain", "1.5", (1.5,)),
    ("gain", "3:3:1", (3.0,)),
    ("input_scale", "0,0.5,1", (0.0, 0.5, 1.0)),
    ("n", "50,100,200", (50, 100, 200)),
    ("n", "10:30:3", (10, 20, 30)),
    ("activation", "tanh,relu", ("tanh", "relu")),
    ("init", ["orthogonal", "identity"], ("orthogonal", "identity")),
    ("bias-scale", [0, 0.1], (0.0, 0.1)),
])
def test_parse_axis(name, spec, values):
    assert sw.parse_axis(name, spec) == values


@pytest.mark.parametrize("name, spec, message", [
    ("gain", "1:0:5", "start must be below stop"),
    ("gain", "1:2:0", "empty axis"),
    ("gain", "", "empty axis"),
    ("gain", [], "empty axis"),
    ("gain", "1,,2", "empty value"),
    ("gain", "1,1", "duplicate"),
    ("gain", "1:2", "start:stop:num"),
    ("gain", "a:b:3", "start:stop:num"),
    ("gain", "inf", "must be finite"),
    ("n", "0,5", "n=0,5 must be >= 1"),
    ("n", "1:2:3", "integers"),
    ("input_scale", "-1", ">= 0"),
    ("activation", "tanh,swish", "unknown"),
    ("activation", "1:2:3", "numeric parameter"),
    ("depth", "1,2", "unknown sweep parameter 'depth'"),
])
def test_bad_axes_are_input_errors(name, spec, message):
    with pytest.raises(InputError, match=message):
        sw.parse_axis(name, spec)


def test_plan_checks_everything_before_work():
    with pytest.raises(InputError, match="unknown measure 'chaos'"):
        sw.plan_sweep([("gain", "1,2")], measures=["chaos"])
    with pytest.raises(InputError, match="no measure"):
        sw.plan_sweep([("gain", "1,2")], measures=[])
    with pytest.raises(InputError, match="swept twice"):
        sw.plan_sweep([("gain", "1,2"), ("gain", "3")])
    with pytest.raises(InputError, match="k must be <= 4"):
        sw.plan_sweep([("n", "4,8")], measures=["lyapunov-spectrum"], k=5)
    with pytest.raises(InputError, match="seeds must be >= 1"):
        sw.plan_sweep([], seeds=0)
    with pytest.raises(InputError, match="length must be >= 10"):  # temporal order: L >= 10
        sw.plan_sweep([("length", "5,20")], measures=["train-success"])
    with pytest.raises(InputError, match="sweep it with a train-\\* measure"):
        sw.plan_sweep([("length", "10,20")], measures=["spectral-radius"])
    with pytest.raises(InputError, match="unknown sweep setting"):
        sw.plan_sweep([], stpes=10)
    with pytest.raises(InputError, match="needs"):  # the memory budget
        sw.plan_sweep([("n", "10,1000000")], measures=["spectral-radius"])


def test_plan_shape_tasks_and_points():
    plan = sw.plan_sweep([("gain", "1:2:3"), ("activation", "tanh,relu")], seeds=2, seed=7,
                         measures=["spectral-radius"], batch=5, **SMALL)
    assert plan["n_points"] == 12 and plan["n_tasks"] == 3 and plan["seeds"] == [7, 8]
    assert sw.grid_shape(plan) == (3, 2, 2)
    assert sw.tasks_of(plan) == [(0, 5), (5, 10), (10, 12)]
    values, seed = sw.point(plan, 11)
    assert (values["gain"], values["activation"], seed) == (2.0, "relu", 8)
    assert values["n"] == 4 and "gain" not in plan["fixed"]
    # the batch: 1 for heavy measures, larger for cheap ones
    assert sw.plan_sweep([("gain", "0:1:200")], measures=["lyapunov-top"])["batch"] == 1
    assert sw.plan_sweep([("gain", "0:1:200")], measures=["spectral-radius"])["batch"] == 6


def test_grid_file(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('seeds = 2\nmeasures = ["spectral-radius"]\n'
                    '[grid]\ngain = "0.5:1.5:3"\nactivation = ["tanh", "relu"]\nn = 4\n')
    doc = sw.read_grid_file(path)
    assert doc["grid"] == [("gain", (0.5, 1.0, 1.5)), ("activation", ("tanh", "relu")),
                           ("n", (4,))]
    assert doc["seeds"] == 2 and doc["measures"] == ["spectral-radius"]
    bad = tmp_path / "bad.toml"
    for text, message in (("[grid]\ngain = \"1:0:5\"\n", "start must be below stop"),
                          ("[grid]\nwidth = [1]\n", "unknown sweep parameter"),
                          ("seeds = 1\n", "non-empty \\[grid\\]"),
                          ("[grid\n", "not valid TOML"),
                          ("[grid]\ngain = []\n", "empty axis"),
                          ("cells = 3\n[grid]\ngain = 1\n", "unknown key")):
        bad.write_text(text)
        with pytest.raises(InputError, match=message):
            sw.read_grid_file(bad)


# ---------------------------------------------------------------- measures and Datasets

def test_dataset_dims_coords_and_values_match_the_library():
    from rnndyn.lyapunov import kaplan_yorke_dimension, lyapunov_spectrum
    from rnndyn.models import make_rnn
    from rnndyn.simulate import initial_state
    from rnndyn.spectra import spectrum
    ds = sw.sweep([("gain", "0.5,2"), ("form", "pascanu,elman")], seeds=2,
                  measures=["spectral-radius", "max-singular-value", "lyapunov-spectrum",
                            "kaplan-yorke", "lyapunov-top", "gradflow-rate"], **SMALL)
    assert dict(ds.sizes) == {"gain": 2, "form": 2, "seed": 2, "exponent": 4}
    assert ds.lyapunov_spectrum.dims == ("gain", "form", "seed", "exponent")
    assert ds.spectral_radius.dims == ("gain", "form", "seed")
    assert list(ds.form.values) == ["pascanu", "elman"]
    rnn = make_rnn(4, n_inputs=1, form="elman", gain=2.0, seed=1)
    s = spectrum(rnn)
    point = ds.sel(gain=2.0, form="elman", seed=1)
    assert float(point.spectral_radius) == s.spectral_radius
    assert float(point.max_singular_value) == s.max_singular_value
    lam = lyapunov_spectrum(rnn, initial_state(rnn, "random", seed=2), 40, transient=10,
                            history=False, seed=1, threads=1).exponents
    np.testing.assert_array_equal(point.lyapunov_spectrum.values, lam)
    assert float(point.kaplan_yorke) == kaplan_yorke_dimension(lam, 4)
    # the vector method's top exponent agrees with the QR one
    np.testing.assert_allclose(ds.lyapunov_top.values, ds.lyapunov_spectrum[..., 0].values,
                               atol=0.05)
    plan = sw.plan_of(ds)
    assert plan["measures"][0] == "spectral-radius" and ds.attrs["plan_sha256"] == \
        sw.plan_hash(plan)


def test_gradflow_rate_is_the_library_rate_from_the_state_after_the_transient():
    from rnndyn.gradflow import gradient_flow
    from rnndyn.models import make_rnn
    from rnndyn.simulate import initial_state, trajectory
    ds = sw.sweep([("gain", "0.5,3")], measures=["gradflow-rate"], **SMALL)
    rnn = make_rnn(4, n_inputs=1, gain=3.0, seed=0)
    X, _ = trajectory(rnn, initial_state(rnn, "random", seed=1), 10)
    ref = gradient_flow(rnn, X[-1], 40, jacobian_stats=False, seed=0).rate_per_step
    np.testing.assert_allclose(float(ds.gradflow_rate.sel(gain=3.0, seed=0)), ref,
                               rtol=1e-12, atol=1e-15)


def test_inputs_and_biases_change_the_dynamics():
    ds = sw.sweep([("input_scale", "0,2"), ("bias_scale", "0,1")], measures=["lyapunov-top"],
                  **SMALL)
    v = ds.lyapunov_top.values[..., 0]
    assert len({float(x) for x in v.ravel()}) == 4


@pytest.mark.slow
def test_fixed_points_and_training_measures():
    ds = sw.sweep([("gain", "0.5,2")], measures=["n-fixed-points", "train-success",
                                                   "train-updates"],
                  fixed={"n": 6, "length": 10}, budget=20, eval_size=50, n_starts=8)
    assert ds.n_fixed_points.dtype == np.int64 and ds.train_updates.dtype == np.int64
    assert int(ds.n_fixed_points.sel(gain=0.5, seed=0)) == 1  # contracting: only 0
    assert int(ds.n_fixed_points.sel(gain=2.0, seed=0)) >= 1
    assert set(ds.train_success.values.ravel()) <= {0, 1}
    assert np.all((ds.train_updates.values >= 1) & (ds.train_updates.values <= 20))


def test_save_and_load_round_trip_bit_for_bit(tmp_path):
    ds = sw.sweep([("gain", "0.5,1.5"), ("activation", "tanh,relu")], seeds=2,
                  measures=["spectral-radius", "lyapunov-spectrum"], **SMALL)
    files = sw.save(ds, tmp_path)
    assert [os.path.basename(f) for f in files] == ["sweep.nc", "sweep.json"]
    back = sw.load(tmp_path)
    assert back.identical(ds)
    assert sw.load(tmp_path / "sweep.nc").identical(ds)
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc["dims"] == ["gain", "activation", "seed", "exponent"]
    assert doc["plan"] == sw.plan_of(ds)
    with pytest.raises(InputError, match="exists"):
        sw.save(ds, tmp_path)
    # a .nc that is not the one its .json names is refused
    other = sw.sweep([("gain", "0.7,1.5")], measures=["spectral-radius"], **SMALL)
    other.to_netcdf(tmp_path / "sweep.nc", mode="w", engine="netcdf4")
    with pytest.raises(InputError, match="does not match"):
        sw.load(tmp_path)


def test_checkpointed_sweep_resumes_without_recomputing(tmp_path):
    plan = sw.plan_sweep([("gain", "0.5:2:4")], seeds=2, measures=["lyapunov-top"],
                         batch=2, **SMALL)
    ref = sw.run_sweep(plan)
    stats = {}
    ds = sw.run_sweep(plan, tmp_path, stats=stats)
    assert stats["n_computed"] == 4 and ds.identical(ref)
    tasks = tmp_path / sw.TASKS_FOLDER
    names = sorted(p for p in os.listdir(tasks) if p.endswith(".npz"))
    assert len(names) == 4
    os.unlink(tasks / names[1])  # as if the sweep had been killed before that task
    again = sw.run_sweep(plan, tmp_path, stats=stats)
    assert stats == dict(stats, n_computed=1, n_reused=3) and again.identical(ref)
    # another plan on the folder is refused, naming what differs; --overwrite discards
    other = sw.plan_sweep([("gain", "0.5:2:4")], seeds=3, measures=["lyapunov-top"],
                          batch=2, **SMALL)
    with pytest.raises(InputError, match="seeds"):
        sw.run_sweep(other, tmp_path)
    sw.run_sweep(other, tmp_path, overwrite=True, stats=stats)
    assert stats["n_computed"] == other["n_tasks"]


@pytest.mark.slow
def test_local_pool_gives_the_serial_dataset(tmp_path):
    # N = 20: see test_sweep_dask.SMALL
    plan = sw.plan_sweep([("gain", "0.5,1.5,3"), ("input_scale", "0,1")],
                         measures=["lyapunov-top", "gradflow-rate", "spectral-radius"],
                         fixed={"n": 20}, steps=40, transient=10)
    assert sw.run_sweep(plan, workers=2).identical(sw.run_sweep(plan))


# ---------------------------------------------------------------- plots

def test_plots_heat_map_with_zero_contour_and_line_with_spread():
    import matplotlib.collections as mc
    ds2 = sw.sweep([("gain", "0.5:3:4"), ("input_scale", "0,1,2")], seeds=2,
                   measures=["lyapunov-top"], fixed={"n": 8}, steps=100, transient=20)
    fig = sw.plot(ds2)
    ax = fig.axes[0]
    mesh = [c for c in ax.collections if isinstance(c, mc.QuadMesh)][0]
    np.testing.assert_allclose(mesh.get_array().reshape(3, 4),
                               ds2.lyapunov_top.mean("seed").values.T)
    assert ax.get_xlabel() == "gain $g$" and ax.get_ylabel() == "input scale"
    ds1 = sw.sweep([("gain", "0.5:3:4")], seeds=3, measures=["spectral-radius"], **SMALL)
    ax = sw.plot(ds1).axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(),
                               ds1.spectral_radius.mean("seed").values)
    assert len(ax.collections) == 2  # min-max and ±1 std bands
    ds3 = sw.sweep([("gain", "1,2"), ("n", "3,4"), ("activation", "tanh,relu")],
                   measures=["spectral-radius"], steps=10, transient=0)
    assert len(sw.plot(ds3).axes) == 4  # two facets, each with its colour bar


# ---------------------------------------------------------------- the command line

@pytest.mark.parametrize("args, message", [
    (["--param", "gain=1:0:5"], "start must be below stop"),
    (["--param", "depth=1,2"], "unknown sweep parameter 'depth'"),
    (["--param", "gain="], "empty axis"),
    (["--param", "gain"], "expected NAME=VALUES"),
    (["--measure", "chaos"], "unknown measure 'chaos'"),
    (["--param", "gain=1,2", "--param", "gain=3"], "swept twice"),
    (["--seeds", "0"], "seeds must be >= 1"),
    (["--workers", "-1"], "--workers must be >= 0"),
    (["--scheduler", "tcp://127.0.0.1:1", "--dask-workers", "1"], "not both"),
    (["--grid-file", "missing.toml"], "no such file"),
])
def test_bad_grid_is_one_line_exit_2_before_any_work(tmp_path, args, message):
    res = _invoke(*CLI_SMALL, *args, "--out", str(tmp_path / "o"))
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert not os.path.exists(tmp_path / "o")


def test_list_measures():
    res = _invoke("--list-measures")
    assert res.exit_code == 0
    for name in sw.MEASURES:
        assert name in res.output
    doc = json.loads(_invoke("--list-measures", "--json").output)
    assert [m["name"] for m in doc["measures"]] == list(sw.MEASURES)


def test_help_names_options_and_json_keys():
    res = _invoke("-h")
    assert res.exit_code == 0
    for word in ("--param", "--grid-file", "--seeds", "--measure", "--workers",
                 "--scheduler", "--dask-workers", "dims", "coords", "data", "n_computed"):
        assert word in res.output, word


def test_json_contract_and_output_policy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _invoke("--param", "gain=0.5,2", "--param", "activation=tanh,relu", "--seeds", "2",
                  "--measure", "spectral-radius", "--measure", "lyapunov-spectrum",
                  *CLI_SMALL, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["dims"] == ["gain", "activation", "seed", "exponent"]
    assert doc["coords"] == {"gain": [0.5, 2.0], "activation": ["tanh", "relu"],
                             "seed": [0, 1], "exponent": [1, 2, 3, 4]}
    assert np.array(doc["data"]["spectral_radius"]).shape == (2, 2, 2)
    assert np.array(doc["data"]["lyapunov_spectrum"]).shape == (2, 2, 2, 4)
    assert doc["files"] == [] and doc["folder"] is None and doc["n_computed"] == 8
    assert os.listdir(tmp_path) == []  # without --out nothing is written
    assert "nothing is saved" in res.stderr


def test_out_writes_files_and_a_finished_sweep_is_reported(tmp_path):
    out = tmp_path / "o"
    args = ["--param", "gain=0.5:2:3", "--measure", "spectral-radius", *CLI_SMALL,
            "--out", str(out)]
    res = _invoke(*args, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert sorted(os.path.basename(f) for f in doc["files"]) == ["sweep.json", "sweep.nc",
                                                                 "sweep.png"]
    ds = sw.load(out)
    assert json.loads(ds.attrs["provenance"])["command"].startswith("rnndyn sweep --param")
    again = json.loads(_invoke(*args, "--json").stdout)
    assert again["n_computed"] == 0 and again["data"] == doc["data"]
    res = _invoke(*args[:1], "gain=0.5:2:4", *args[2:])
    assert res.exit_code == 2 and "another plan" in res.output
    res = _invoke(*args[:1], "gain=0.5:2:4", *args[2:], "--overwrite", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["coords"]["gain"] == \
        [0.5, 1.0, 1.5, 2.0]


def test_grid_file_on_the_command_line(tmp_path):
    grid = tmp_path / "g.toml"
    grid.write_text('seeds = 2\nmeasures = ["max-singular-value"]\n[grid]\n'
                    'gain = [1.0, 2.0]\n')
    res = _invoke("--grid-file", str(grid), "--param", "n=3,4", *CLI_SMALL[2:], "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["dims"] == ["gain", "n", "seed"] and list(doc["data"]) == ["max_singular_value"]
    res = _invoke("--grid-file", str(grid), "--param", "gain=3", *CLI_SMALL[2:])
    assert res.exit_code == 2 and "swept twice" in res.output


# ---------------------------------------------------------------- named figures

def test_edge_of_chaos_figure_small(tmp_path):
    import matplotlib.collections as mc
    from rnndyn.figures import registry
    from rnndyn.figures.style import style_context
    from rnndyn.results import load_result
    recipe = registry.get("edge-of-chaos")
    params = registry.merge_params(recipe, {"n": 8, "gains": [0.5, 3.0, 4],
                                            "input_scales": [0.0, 2.0], "steps": 60,
                                            "transient": 10})
    res = recipe.compute(params)
    assert res.lyapunov_top.shape == (4, 2, 2)
    # the sweep's numbers: λ1 at the largest gain exceeds λ1 at the smallest
    assert np.all(res.lyapunov_top[-1] > res.lyapunov_top[0])
    with style_context():
        fig = recipe.plot(res)
    mesh = [c for c in fig.axes[0].collections if isinstance(c, mc.QuadMesh)][0]
    np.testing.assert_allclose(mesh.get_array().reshape(2, 4), res.lyapunov_top.mean(-1).T)
    right = [ax for ax in fig.axes if ax.get_legend() is not None][0]
    assert [t.get_text() for t in right.get_legend().get_texts()][0] == "autonomous"
    res.save(tmp_path / "e")
    back = load_result(tmp_path / "e")
    np.testing.assert_array_equal(back.lyapunov_top, res.lyapunov_top)


@pytest.mark.slow
def test_trainability_map_figure_small():
    from rnndyn.figures import registry
    from rnndyn.figures.style import style_context
    recipe = registry.get("trainability-map")
    params = registry.merge_params(recipe, {"n": 6, "gains": [0.5, 1.5], "lengths": [10, 12],
                                            "budget": 20, "eval_size": 20})
    res = recipe.compute(params)
    assert res.success.shape == res.error_rate.shape == (2, 2, 2)
    assert set(np.unique(res.success)) <= {0, 1}
    with style_context():
        fig = recipe.plot(res)
    assert sum(1 for ax in fig.axes if ax.get_xlabel() == "gain $g$") == 2


def test_a_locked_folder_is_refused_and_stale_temporary_files_are_cleaned(tmp_path):
    import fcntl
    out = tmp_path / "o"
    tasks = out / sw.TASKS_FOLDER
    tasks.mkdir(parents=True)
    (out / ".tmp-abcsweep.nc").write_text("left by a killed save")
    args = ["--param", "gain=1,2", "--measure", "spectral-radius", *CLI_SMALL,
            "--out", str(out)]
    with open(tasks / ".lock", "a+") as f:  # another sweep holds the folder
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = _invoke(*args)
        assert res.exit_code == 2 and "in use by another" in res.output, res.output
    assert os.path.exists(out / ".tmp-abcsweep.nc")
    res = _invoke(*args)
    assert res.exit_code == 0, res.output
    assert not os.path.exists(out / ".tmp-abcsweep.nc")
