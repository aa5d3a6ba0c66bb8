"""train_corpus and `rnndyn train bach-chorales|chars` on tiny corpora built here (a
piano roll with a learnable pattern, a small text): units, early stopping, seeds, JSON."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn import data
from rnndyn._validate import InputError
from rnndyn.cli.main import cli
from rnndyn.training import train_corpus
from test_data import tiny_roll_arrays

TEXT = ("to be or not to be that is the question whether tis nobler in the mind "
        "to suffer the slings and arrows of outrageous fortune ") * 6


def tiny_text_arrays(n=10):
    symbols = "".join(sorted(set(TEXT)))
    lut = {ch: i for i, ch in enumerate(symbols)}
    pieces = [TEXT[i * 7:] for i in range(n)]
    codes = [np.array([lut[ch] for ch in p], dtype=np.uint8) for p in pieces]
    return {"codes": np.concatenate(codes), "lengths": np.array([len(c) for c in codes]),
            "names": np.array([f"p{i}" for i in range(n)]), "split": data.split_labels(n),
            "symbols": np.array([symbols])}


@pytest.fixture
def rolls():
    return data.corpus_from_arrays("bach-chorales", tiny_roll_arrays(), {})


@pytest.fixture
def text():
    return data.corpus_from_arrays("shakespeare", tiny_text_arrays(), {})


SMALL = dict(n_hidden=8, batch_size=4, seq_length=12, eval_every=10)


def test_untrained_model_gives_the_uniform_numbers(rolls, text):
    """V ~ N(0, 0.01²), c = 0: every pitch at 1/2 (46 ln 2 nats per step), every
    character at 1/C (log2 C bits)."""
    r = train_corpus("bach-chorales", corpus=rolls, max_updates=0, **SMALL)
    assert r.test_nll == pytest.approx(46 * math.log(2), rel=1e-3)
    t = train_corpus("chars", corpus=text, max_updates=0, **SMALL)
    assert t.unit == "bits per character"
    assert t.test_nll == pytest.approx(math.log2(text.n_symbols), rel=1e-3)


def test_music_learns_below_the_frequency_baseline(rolls):
    r = train_corpus("bach-chorales", "sgd-c", corpus=rolls, max_updates=150, lr=0.5,
                     **SMALL)
    assert r.unit == "nats per step" and r.meta["params"]["threshold"] == 8.0
    assert r.train_nll < r.baseline_train_nll and r.test_nll < r.baseline_nll
    # early stopping keeps the best validation parameters
    assert r.valid_nll == pytest.approx(np.min(r.eval_valid_nll), rel=1e-12)
    assert r.best_update == r.eval_update[np.argmin(r.eval_valid_nll)]
    assert np.all(np.isfinite(r.grad_norm)) and np.all(r.clip_fraction <= 1.0)


def test_same_seed_same_run_and_regulariser(rolls):
    a = train_corpus("bach-chorales", "sgd-cr", corpus=rolls, max_updates=20, alpha=0.5,
                     **SMALL)
    b = train_corpus("bach-chorales", "sgd-cr", corpus=rolls, max_updates=20, alpha=0.5,
                     **SMALL)
    np.testing.assert_array_equal(a.W, b.W)
    assert a.test_nll == b.test_nll and np.all(a.omega > 0.0)


def test_chars_ahead_and_lr_halving(text):
    r = train_corpus("chars", "sgd-c", corpus=text, ahead=5, max_updates=60, lr=0.5,
                     halve_lr=True, patience=100, **SMALL)
    assert r.ahead == 5 and r.meta["params"]["threshold"] == 45.0
    assert r.test_nll < math.log2(text.n_symbols)
    v, lr = r.eval_valid_nll, r.eval_lr
    for i in range(1, len(v)):
        assert lr[i] == (lr[i - 1] / 2 if v[i] > v[i - 1] else lr[i - 1])


def test_checkpoint_resumes_exactly(rolls, tmp_path):
    kw = dict(corpus=rolls, alpha=0.5, **SMALL)
    straight = train_corpus("bach-chorales", "sgd-cr", max_updates=40, **kw)
    ck = tmp_path / "ck.npz"
    first = train_corpus("bach-chorales", "sgd-cr", max_updates=25, checkpoint=ck, **kw)
    assert ck.exists() and first.updates == 25
    with pytest.raises(InputError, match="exists"):
        train_corpus("bach-chorales", "sgd-cr", max_updates=40, checkpoint=ck, resume=False,
                     **kw)
    with pytest.raises(InputError, match="lr"):
        train_corpus("bach-chorales", "sgd-cr", max_updates=40, checkpoint=ck,
                     **dict(kw, lr=0.2))
    # from the checkpoint at update 20 (periodic), not the end of the 25-update run
    resumed = train_corpus("bach-chorales", "sgd-cr", max_updates=40, checkpoint=ck, **kw)
    np.testing.assert_array_equal(resumed.W, straight.W)
    np.testing.assert_array_equal(resumed.eval_valid_nll, straight.eval_valid_nll)
    np.testing.assert_array_equal(resumed.grad_norm, straight.grad_norm)
    assert resumed.test_nll == straight.test_nll and resumed.updates == 40


def test_early_stop_with_patience(rolls):
    r = train_corpus("bach-chorales", "sgd", corpus=rolls, max_updates=400, lr=3.0,
                     patience=1, halve_lr=False, **SMALL)
    assert r.stop_reason == "early-stop" and r.updates < 400


@pytest.mark.parametrize("bad, match", [
    (dict(task="nottingham"), "task"),
    (dict(corpus="x"), "Corpus"),
    (dict(method="adam"), "method"),
    (dict(lr=0.0), "lr"),
    (dict(wobble=1), "unknown option"),
    (dict(n_hidden=10**6, seq_length=10**4), "available"),
])
def test_bad_settings(rolls, bad, match):
    kw = dict(task="bach-chorales", corpus=rolls, max_updates=1)
    kw.update(bad)
    with pytest.raises(InputError, match=match):
        train_corpus(**kw)


def test_wrong_kind_of_corpus(text):
    with pytest.raises(InputError, match="piano-roll"):
        train_corpus("bach-chorales", corpus=text, max_updates=1)


# ------------------------------------------------------------------ CLI

TINY = ["--n", "6", "--batch-size", "4", "--seq-length", "12", "--updates", "20",
        "--eval-every", "10"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNDYN_DATA", str(tmp_path / "cache"))
    data.write_cache("bach-chorales", tiny_roll_arrays(), {"kind": "piano-roll"})
    data.write_cache("shakespeare", tiny_text_arrays(), {"kind": "characters"})
    return tmp_path


def test_cli_train_bach_chorales_json_and_files(cache):
    out = cache / "o"
    res = CliRunner().invoke(cli, ["train", "bach-chorales", "--method", "sgd-cr", "--json",
                                   "--out", str(out)] + TINY)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    for key in ("train_nll", "valid_nll", "test_nll", "baseline_nll", "unit", "updates",
                "stop_reason", "seconds", "files"):
        assert key in doc
    assert doc["unit"] == "nats per step" and doc["updates"] == 20
    assert (out / "train.npz").exists() and (out / "train.json").exists()
    assert (out / "train.png").exists() and (out / "train.weights.npz").exists()
    from rnndyn.results import load_result
    assert load_result(out / "train").test_nll == doc["test_nll"]
    from rnndyn.models import load_weights    # the trained network, for every analysis
    net = load_weights(out / "train.weights.npz")
    np.testing.assert_array_equal(net.W, load_result(out / "train").W)


def test_cli_train_chars_ahead(cache):
    res = CliRunner().invoke(cli, ["train", "chars", "--ahead", "5", "--json"] + TINY)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["ahead"] == 5 and doc["unit"] == "bits per character"
    assert doc["baseline_nll"] > 0 and doc["files"] == []


@pytest.mark.parametrize("args, match", [
    (["bach-chorales", "--resume"], "--checkpoint"),
    (["bach-chorales", "--ahead", "2"], "--ahead"),
    (["chars", "--lr", "-1"], "lr must be > 0"),
    (["chars", "--updates", "-1"], "--updates must be >= 0"),
])
def test_cli_bad_input_is_one_line(cache, args, match):
    res = CliRunner().invoke(cli, ["train"] + args + ["--quiet"] + TINY[:6])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and match in lines[0]


def test_cli_checkpoint_and_resume(cache):
    ck = cache / "ck.npz"
    args = ["train", "chars", "--json", "--checkpoint", str(ck)] + TINY
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 2 and "--resume" in refused.output
    again = CliRunner().invoke(cli, args + ["--resume"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["test_nll"] == json.loads(first.output)["test_nll"]


def test_cli_missing_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNDYN_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(data, "package_dir", lambda name: None)
    res = CliRunner().invoke(cli, ["train", "bach-chorales", "--quiet"] + TINY)
    assert res.exit_code == 2 and "pip install" in res.output and "music21" in res.output
