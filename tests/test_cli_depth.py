"""`rnndyn gradflow` on stacked models: the depth map's JSON contract (issue 12)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn.cli.main import cli


def _cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("args", [("--layers", 3, "--n", 6, "--skip", "residual"),
                                  ("--hidden", "6,4", "--cell", "lstm"),
                                  ("--layers", 2, "--n", 5, "--cell", "gru", "--skip", "dense")])
def test_depth_json_contract_equals_the_library(args):
    from rnndyn.gradflow_depth import depth_gradient_flow
    from rnndyn.stack import initial_state, make_stack
    res = _cli("gradflow", *args, "--steps", 25, "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    L = d["model"]["layers"]
    assert np.shape(d["depth_log10_norm"]) == (L, 26) and len(d["log10_norm"]) == 26
    m = d["model"]
    stack = make_stack(m["hidden"], cell=m["cells"][0], skip=m["skip"], seed=0)
    ref = depth_gradient_flow(stack, initial_state(stack, "random", seed=1), 25, seed=0)
    np.testing.assert_allclose(d["depth_log10_norm"], ref.depth_log10_norm, rtol=0, atol=1e-12)


def test_depth_out_writes_data_figure_and_a_stack_that_reloads(tmp_path):
    out = tmp_path / "o"
    res = _cli("gradflow", "--layers", 2, "--n", 5, "--skip", "residual", "--steps", 20,
               "--out", out, "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert sorted(p.name for p in out.iterdir()) == [
        "gradflow.json", "gradflow.npz", "gradflow.png", "gradflow.weights.npz"]
    again = json.loads(_cli("gradflow", "--weights", out / "gradflow.weights.npz",
                            "--steps", 20, "--json").output)
    np.testing.assert_array_equal(again["depth_log10_norm"], d["depth_log10_norm"])


@pytest.mark.parametrize("args", [("--layers", 2, "--bidirectional", "--n", 4),   # no inputs
                                  ("--bidirectional", "--n-inputs", 2, "--fit", "1:5"),
                                  ("--layers", 2, "--delta", "random"),
                                  ("--hidden", "4,3", "--layers", 3)])
def test_depth_refusals_are_one_line_exit_2(args):
    res = _cli("gradflow", *args, "--steps", 10)
    assert res.exit_code == 2
    err = getattr(res, "stderr", res.output).strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ")


@pytest.mark.parametrize("args", [("--layers", 2, "--n", 5, "--cell", "lstm"),
                                  ("--hidden", "4,3", "--cell", "gru", "--skip", "dense"),
                                  ("--n", 4, "--skip", "residual", "--layers", 2)])
def test_bidirectional_json_contract_equals_the_library(args):
    """--bidirectional: the gradient reaching each input position from both ends, under the
    keys the -h text names."""
    import re
    from rnndyn.gradflow_bidir import position_gradient_flow
    from rnndyn.inputs import make_inputs
    from rnndyn.stack import initial_state, make_stack
    res = _cli("gradflow", *args, "--bidirectional", "--n-inputs", 2, "--inputs", "gaussian",
               "--steps", 15, "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    keys = ("position", "log10_norm_forward", "log10_norm_reverse", "log10_norm_both")
    assert d["position"] == list(range(1, 16)) and "depth_log10_norm" not in d
    help_words = set(re.findall(r"\w+", _cli("gradflow", "-h").output))
    assert set(d) <= help_words
    m = d["model"]
    stack = make_stack(m["hidden"], cell=m["cells"][0], skip=m["skip"], bidirectional=True,
                       n_inputs=2, seed=0)
    u = make_inputs("gaussian", 15, 2, seed=2)
    ref = position_gradient_flow(stack, initial_state(stack, "random", seed=1), 15, u)
    for key in keys[1:]:
        np.testing.assert_allclose(d[key], getattr(ref, key), rtol=0, atol=1e-12)


def test_bidirectional_out_writes_data_figure_and_weights(tmp_path):
    out = tmp_path / "o"
    res = _cli("gradflow", "--bidirectional", "--n", 4, "--n-inputs", 1, "--steps", 12,
               "--out", out, "--json")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "gradflow.json", "gradflow.npz", "gradflow.png", "gradflow.weights.npz"]
    again = json.loads(_cli("gradflow", "--weights", out / "gradflow.weights.npz",
                            "--steps", 12, "--json").output)
    assert again["log10_norm_reverse"] == json.loads(res.output)["log10_norm_reverse"]
