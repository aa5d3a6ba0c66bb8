"""rnndyn warmup: runs the commands' tiny problems, reports on stderr and in --json."""

import json

from click.testing import CliRunner

from rnndyn._jit import JIT_DISABLED
from rnndyn.cli.main import cli
from rnndyn.cli.warmup import RUNS


def _run(args):
    return CliRunner().invoke(cli, ["warmup", *args])


def test_json_keys_and_progress_on_stderr(tmp_path):
    res = _run(["--commands", "spectrum,lyapunov", "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == {"kernels", "seconds", "commands", "failed"}
    assert list(doc["commands"]) == ["spectrum", "lyapunov"] and doc["failed"] == []
    # plain Python functions under NUMBA_DISABLE_JIT=1: nothing to compile
    assert (doc["kernels"] == 0) if JIT_DISABLED else (doc["kernels"] >= 1)
    assert doc["seconds"] >= 0
    assert "warmup: lyapunov" in res.stderr
    assert json.loads((tmp_path / "warmup.json").read_text())["commands"] == doc["commands"]


def test_quiet_prints_nothing_and_unknown_command_exits_2():
    res = _run(["--commands", "spectrum", "--quiet"])
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == ""
    res = _run(["--commands", "nonsense"])
    assert res.exit_code == 2 and "nonsense" in res.stderr


def test_every_run_names_a_registered_command():
    from rnndyn.cli.main import COMMANDS
    for name, args in RUNS:
        assert name in COMMANDS and args[0] == name


def test_stale_cache_purge_is_per_module_over_imports(tmp_path, monkeypatch):
    # editing one kernel module drops its cache and that of the modules importing it,
    # not every module's (numba stamps a cached function with its own file only)
    import pytest

    from rnndyn import _jit
    if _jit.JIT_DISABLED or not _jit.config.NUMBA_CACHE:
        pytest.skip("no numba cache")
    monkeypatch.setattr(_jit._numba_config, "CACHE_DIR", "")
    (tmp_path / "act.py").write_text("x = 1\n")
    (tmp_path / "use.py").write_text("from rnndyn._kernels.act import x\n")
    (tmp_path / "other.py").write_text("y = 2\n")
    cache = tmp_path / "__pycache__"

    def fill():
        cache.mkdir(exist_ok=True)
        for m in ("act", "use", "other"):
            for ext in ("nbi", "1.nbc"):
                (cache / f"{m}.f-3.py311.{ext}").write_text("")

    def left():
        return sorted({p.name.split(".")[0] for p in cache.glob("*.nb?")})

    _jit._purge_stale_cache(str(tmp_path))   # first stamps: every module is new
    fill()
    _jit._purge_stale_cache(str(tmp_path))
    assert left() == ["act", "other", "use"]  # nothing changed: nothing dropped
    (tmp_path / "use.py").write_text("from rnndyn._kernels.act import x\nz = 3\n")
    _jit._purge_stale_cache(str(tmp_path))
    assert left() == ["act", "other"]
    fill()
    (tmp_path / "act.py").write_text("x = 4\n")
    _jit._purge_stale_cache(str(tmp_path))
    assert left() == ["other"]
