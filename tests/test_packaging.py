"""The packages list in setup.cfg must match the folders: an editable install
imports a forgotten subpackage anyway, a wheel silently drops it."""

import configparser
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    return cfg


def test_packages_list_matches_folders():
    cfg = _config()
    listed = {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}
    mapping = {}
    for line in cfg["options"]["package_dir"].strip().splitlines():
        name, folder = (s.strip() for s in line.split("="))
        mapping[folder] = name
    found = set()
    for folder, name in mapping.items():
        base = os.path.join(ROOT, folder)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            if "__init__.py" in filenames:
                rel = os.path.relpath(dirpath, base)
                found.add(name if rel == "." else name + "." + rel.replace(os.sep, "."))
    assert listed == found


def test_pyproject_holds_only_build_system():
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python >= 3.11")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        data = tomllib.load(f)
    assert set(data) == {"build-system"}


def test_installed_subpackages_import():
    import rnndyn._kernels
    import rnndyn.cli.main
    import rnndyn.figures.registry
    assert rnndyn.cli.main.cli.name == "cli"
    assert os.path.exists(rnndyn.figures.style.STYLE_PATH)


def test_library_does_not_import_matplotlib_or_click(tmp_path):
    import subprocess
    import sys
    code = ("import sys, rnndyn, rnndyn.simulate, rnndyn.results; "
            "print('matplotlib' in sys.modules, 'click' in sys.modules)")
    # run outside the checkout so the installed package is the one imported
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.split() == ["False", "False"]
