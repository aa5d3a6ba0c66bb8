"""Every top-level key a command prints with --json is named in its -h text."""

import json
import re

import pytest
from click.testing import CliRunner

from rnndyn.cli.main import cli

RUNS = {
    "spectrum": ["--n", "5"],
    "weights": ["--n", "5"],
    "lyapunov": ["--n", "4", "--steps", "30", "--transient", "5", "--window", "10"],
    "gradflow": ["--n", "4", "--steps", "20"],
    "basins": ["--n", "2", "--grid", "8", "--max-steps", "100"],
    "fixedpoints": ["--n", "2", "--starts", "4"],
    "continuation": ["--n", "2", "--points", "5"],
    "bifurcation": ["--b=-3:-2:5", "--transient", "20", "--record", "8"],
    "surface": ["--w", "5", "--b=-3:-2:3", "--path-steps", "2", "--refine", "none"],
    "train": ["temporal-order", "--n", "4", "--length", "10", "--updates", "4",
              "--eval-every", "2", "--eval-size", "10", "--batch-size", "2"],
    "warmup": ["--commands", "spectrum"],
    "sweep": ["--param", "gain=0.5,1", "--measure", "spectral-radius", "--n", "4",
              "--workers", "0", "--quiet"],
    "study": ["clipping", "--lengths", "10", "--methods", "sgd", "--inits", "sigmoid",
              "--seeds", "1", "--updates", "2", "--workers", "0", "--quiet"],
}


def _help_words(cmd):
    text = CliRunner().invoke(cli, [cmd, "-h"]).output
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


@pytest.mark.parametrize("cmd", sorted(RUNS))
def test_json_keys_are_documented(cmd):
    res = CliRunner().invoke(cli, [cmd, *RUNS[cmd], "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    missing = sorted(k for k in doc if k not in _help_words(cmd))
    assert not missing, f"rnndyn {cmd} -h does not name --json key(s) {missing}"
