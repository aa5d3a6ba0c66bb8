"""Every case of the bad-input corpus (tests/corpus.py) ends in one line 'Error: …' with
its exit status and message, and never a traceback (issue 10)."""

import os
import sys

import pytest
from click.testing import CliRunner

sys.path.insert(0, os.path.dirname(__file__))
import corpus  # noqa: E402

from rnndyn.cli.main import cli  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    made = corpus.make_files(str(folder))
    holder = corpus.hold_study_lock(made["locked"])
    yield made
    holder.kill()
    holder.wait()
    holder.stdout.close()


@pytest.mark.parametrize("case", corpus.CASES, ids=[c[0] for c in corpus.CASES])
def test_case_is_a_clean_one_line_error(case, files, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, corpus.args_for(case, files))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exc_info
    assert res.exit_code == case[2], res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert case[3] in lines[0], lines[0]
    assert os.listdir(tmp_path) == []          # nothing written by a refused command
