"""The bad-file corpus: every reader of a user file turns every bad file into one
InputError (CLI: exit 2 and one line ``Error: …``) naming the file (issue 10).

Each case is (file kind) × (reader). A kind builds a file in the container the reader
takes (``.npz`` or ``.npy``); the expectation is always the same: an InputError or exit
status 2, one line, a fragment naming the file, never a traceback or a big allocation.
"""

import io as _bytesio
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from numpy.lib import format as npformat

from rnndyn import io
from rnndyn._validate import InputError
from rnndyn.cli.main import cli
from rnndyn.models import load_weights, save_weights, make_rnn
from rnndyn.results import Result, load_result, result_type

N = 5  # units of the network the x0 readers run


@result_type
class BadFilesProbeResult(Result):
    """A small result type for the load_result cases (one array, W, like the bad files)."""
    W: np.ndarray
    meta: dict


# ------------------------------------------------------------------ file kinds

def _good_npz_bytes(tmp_path):
    p = tmp_path / "good.npz"
    save_weights(make_rnn(N, seed=0), p)
    return p.read_bytes()


def _npy_bytes(arr, header=None):
    buf = _bytesio.BytesIO()
    if header is None:
        np.save(buf, arr, allow_pickle=True)
    else:
        npformat.write_array_header_1_0(buf, header)
        buf.write(arr)
    return buf.getvalue()


def _zip(members, method=zipfile.ZIP_DEFLATED):
    buf = _bytesio.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def kind_empty(tmp_path, container):
    p = tmp_path / f"empty.{container}"
    p.write_bytes(b"")
    return p


def kind_truncated(tmp_path, container):
    p = tmp_path / f"truncated.{container}"
    if container == "npz":
        data = _good_npz_bytes(tmp_path)
    else:
        data = _npy_bytes(np.arange(float(N)))
    p.write_bytes(data[: len(data) // 2])
    return p


def kind_random_bytes(tmp_path, container):
    p = tmp_path / f"random.{container}"
    p.write_bytes(np.random.default_rng(7).bytes(400))
    return p


def kind_corrupt_member(tmp_path, container):
    """A byte flipped inside the data: the zip's CRC (npz) or the header (npy) catches it."""
    p = tmp_path / f"corrupt.{container}"
    if container == "npz":
        data = bytearray(_zip({"W.npy": _npy_bytes(np.eye(N))}, zipfile.ZIP_STORED))
        data[len(data) // 3] ^= 0xFF
    else:
        data = bytearray(_npy_bytes(np.arange(float(N))))
        data[12] ^= 0xFF  # inside the header dict
    p.write_bytes(bytes(data))
    return p


def kind_claims_1e10(tmp_path, container):
    """A few hundred bytes whose header claims 10¹⁰ float64 elements (74.5 GiB)."""
    p = tmp_path / f"claims.{container}"
    npy = _npy_bytes(b"\0" * 64, {"shape": (100000, 100000), "fortran_order": False,
                                  "descr": "<f8"})
    p.write_bytes(_zip({"W.npy": npy}) if container == "npz" else npy)
    assert p.stat().st_size < 400
    return p


def kind_big_header(tmp_path, container):
    """A header length field of 60,000 bytes (NumPy's safe limit is 10,000)."""
    p = tmp_path / f"bigheader.{container}"
    npy = b"\x93NUMPY\x01\x00" + (60000).to_bytes(2, "little") + b" " * 100
    p.write_bytes(_zip({"W.npy": npy}) if container == "npz" else npy)
    return p


def kind_zip_bomb(tmp_path, container):
    """Small-scale bomb: 2 MiB of zeros (a 2 KB .npz); the test lowers the limit to 1 MiB."""
    p = tmp_path / f"bomb.{container}"
    if container == "npz":
        np.savez_compressed(p, W=np.zeros((512, 512)))
        assert p.stat().st_size < 20_000
    else:
        np.save(p, np.zeros(2 ** 18))
    return p


def kind_object_pickle(tmp_path, container):
    p = tmp_path / f"pickle.{container}"
    obj = np.array([{"payload": 1}, None], dtype=object)
    if container == "npz":
        np.savez(p, W=obj)
    else:
        np.save(p, obj, allow_pickle=True)
    return p


def kind_wrong_shape(tmp_path, container):
    p = tmp_path / f"shape.{container}"
    if container == "npz":
        np.savez(p, W=np.ones((3, 4)))
    else:
        np.save(p, np.ones(3))
    return p


def kind_directory(tmp_path, container):
    p = tmp_path / f"folder.{container}"
    p.mkdir()
    return p


def kind_missing(tmp_path, container):
    return tmp_path / f"missing.{container}"


def kind_npy_for_npz(tmp_path, container):
    """The other container: a .npy where an .npz is wanted and vice versa."""
    p = tmp_path / f"other.{container}"
    if container == "npz":
        p.write_bytes(_npy_bytes(np.eye(N)))
    else:
        p.write_bytes(_good_npz_bytes(tmp_path))
    return p


KINDS = {f.__name__[5:]: f for f in (
    kind_empty, kind_truncated, kind_random_bytes, kind_corrupt_member, kind_claims_1e10,
    kind_big_header, kind_zip_bomb, kind_object_pickle, kind_wrong_shape, kind_directory,
    kind_missing, kind_npy_for_npz)}


# ------------------------------------------------------------------ readers
# Each returns the error message (raising if there was none) and says which
# container it reads.

def _api(call):
    with pytest.raises(InputError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


def _cli(args):
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), res.output
    assert "Traceback" not in res.output
    return lines[0]


def read_load_weights(path, tmp_path):
    return _api(lambda: load_weights(path))


def read_read_npz(path, tmp_path):
    return _api(lambda: io.read_npz(path, what="test file", expected_shapes={"W": ("N", "N")}))


def read_read_npy(path, tmp_path):
    return _api(lambda: io.read_npy(path, what="test file"))


def read_cli_x0(path, tmp_path):
    return _cli(["lyapunov", "--x0", str(path), "--n", str(N), "--steps", "10"])


def read_cli_weights(path, tmp_path):
    return _cli(["spectrum", "--weights", str(path)])


def read_checkpoint(path, tmp_path):
    from rnndyn.training import train
    return _api(lambda: train("addition", 10, n_hidden=3, max_updates=2, eval_every=1,
                              eval_size=10, checkpoint=path, resume=True))


def read_load_result(path, tmp_path):
    """The bad file in the .npz slot of a result whose .json (old style, no hash) is fine."""
    stem = tmp_path / "res"
    BadFilesProbeResult(np.eye(N), {"model": {}}).save(stem)
    doc = json.loads((tmp_path / "res.json").read_text())
    doc.pop(io.SHA256_KEY)  # a file from before the hash: the npz reader itself is tested
    (tmp_path / "res.json").write_text(json.dumps(doc))
    target = tmp_path / "res.npz"
    target.unlink()
    if path.is_dir():
        target.mkdir()
    elif path.exists():
        shutil.copyfile(path, target)
    return _api(lambda: load_result(stem)), target


READERS = {
    "load_weights": ("npz", read_load_weights),
    "read_npz": ("npz", read_read_npz),
    "read_npy": ("npy", read_read_npy),
    "cli_x0": ("npy", read_cli_x0),
    "cli_weights": ("npz", read_cli_weights),
    "checkpoint": ("npz", read_checkpoint),
    "load_result": ("npz", read_load_result),
}

# (kind, reader) pairs that are not bad input for that reader
NOT_BAD = {
    ("missing", "checkpoint"),        # no checkpoint yet: the run starts afresh
    ("wrong_shape", "load_result"),   # a result's arrays have no fixed shape
    ("wrong_shape", "read_npy"),      # no expected_shape given: see the next test
}

# what each kind's message must say (one of these), besides the file's name
REASON = {
    "empty": ("empty",),
    "truncated": ("truncated", "corrupt", "cut short"),
    "random_bytes": ("not an .npz file", "not a .npy array"),
    "corrupt_member": ("corrupt", "not a valid .npy"),
    "claims_1e10": ("74.5 GiB",),
    "big_header": ("header",),
    "zip_bomb": ("MiB",
                 "expected (5,)"),  # --x0: a big x0 is refused from its header's shape
    "object_pickle": ("pickle",),
    "wrong_shape": ("shape",),
    "directory": ("directory",),
    "missing": ("no such file",),
    "npy_for_npz": ("a .npy array file, not an .npz", "an .npz archive, not a .npy"),
}
# a checkpoint must hold its own arrays: any other file is refused for lacking them
CHECKPOINT_REASON = "missing required array(s) ['theta', 'buf', 'window', 'state', and"

CASES = [(k, r) for k in KINDS for r in READERS if (k, r) not in NOT_BAD]


@pytest.mark.parametrize("kind,reader", CASES, ids=[f"{k}-{r}" for k, r in CASES])
def test_bad_file_is_one_clean_error_naming_the_file(kind, reader, tmp_path, monkeypatch):
    if kind == "zip_bomb":
        monkeypatch.setenv("RNNDYN_MEMORY_LIMIT", "2M")   # budget: 1 MiB
    container, read = READERS[reader]
    path = KINDS[kind](tmp_path, container)
    out = read(path, tmp_path)
    msg, named = out if isinstance(out, tuple) else (out, path)
    assert str(named) in msg, msg
    reasons = REASON[kind]
    if reader == "checkpoint":
        reasons += (CHECKPOINT_REASON,)
    assert any(r in msg for r in reasons), msg
    assert "Traceback" not in msg


# ------------------------------------------------------------------ more cases

def test_zip_bomb_refused_by_ratio_before_inflating(tmp_path):
    """An LZMA member 6000× smaller than its content is refused from the zip directory."""
    p = tmp_path / "lzma.npz"
    p.write_bytes(_zip({"W.npy": _npy_bytes(np.zeros((1024, 1024)))}, zipfile.ZIP_LZMA))
    info = zipfile.ZipFile(p).infolist()[0]
    assert info.file_size > io.MAX_RATIO * info.compress_size
    msg = _api(lambda: io.read_npz(p, what="weights file"))
    assert "zip bomb" in msg and str(p) in msg


def test_declared_size_over_the_budget_is_refused_with_the_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNDYN_MEMORY_LIMIT", "2M")
    p = kind_zip_bomb(tmp_path, "npz")
    msg = _api(lambda: load_weights(p))
    assert "needs 2.0 MiB, 2.0 MiB available" in msg


def test_a_lowered_max_bytes_is_named(tmp_path):
    p = kind_zip_bomb(tmp_path, "npz")
    msg = _api(lambda: io.read_npz(p, what="weights file", max_bytes=1 << 20))
    assert "more than the limit of 1.0 MiB" in msg


def test_permission_denied(tmp_path, monkeypatch):
    p = tmp_path / "w.npz"
    save_weights(make_rnn(3), p)
    if os.geteuid() == 0:   # root reads any file: make open() refuse as it would
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(p))
        monkeypatch.setattr(io, "open", refuse, raising=False)
    else:
        p.chmod(0)
    assert _api(lambda: load_weights(p)) == f"cannot read weights file {p}: permission denied"


def test_readers_accept_good_files_exactly(tmp_path):
    rnn = make_rnn(N, n_inputs=2, activation="relu", form="elman", seed=3)
    save_weights(rnn, tmp_path / "w.npz")
    back = load_weights(tmp_path / "w.npz")
    assert (back.activation, back.form) == ("relu", "elman")
    for name in ("W", "U", "b"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rnn, name))
    F = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.savez(tmp_path / "f.npz", F=F, s=np.array("text"), i=np.arange(3, dtype=">i4"))
    got = io.read_npz(tmp_path / "f.npz", what="f")
    np.testing.assert_array_equal(got["F"], F)
    assert str(got["s"]) == "text" and got["i"].tolist() == [0, 1, 2]
    x0 = np.linspace(-1, 1, N)
    np.save(tmp_path / "x0.npy", x0)
    np.testing.assert_array_equal(io.read_npy(tmp_path / "x0.npy", what="--x0"), x0)
    assert io.list_npz(tmp_path / "w.npz", what="w") == ["W", "U", "b", "activation", "form"]


def test_read_npz_key_rules(tmp_path):
    np.savez(tmp_path / "k.npz", W=np.eye(2), extra=np.zeros(1))
    assert "unknown array(s) ['extra']" in _api(
        lambda: io.read_npz(tmp_path / "k.npz", what="w", allowed_keys=("W",)))
    assert "missing required array(s) ['b']" in _api(
        lambda: io.read_npz(tmp_path / "k.npz", what="w", required_keys=("W", "b")))
    assert list(io.read_npz(tmp_path / "k.npz", what="w", keys=("W",))) == ["W"]


def test_read_npy_expected_shape_is_checked_from_the_header(tmp_path):
    p = kind_wrong_shape(tmp_path, "npy")
    msg = _api(lambda: io.read_npy(p, what="--x0", expected_shape=(N,)))
    assert msg == f"cannot read --x0 {p}: has shape (3,), expected (5,)"
    bad = kind_claims_1e10(tmp_path, "npy")   # the lie is caught before any shape talk
    assert "74.5 GiB" in _api(lambda: io.read_npy(bad, what="--x0", expected_shape=(N,)))


def test_padded_npy_is_refused(tmp_path):
    p = tmp_path / "pad.npy"
    p.write_bytes(_npy_bytes(np.arange(3.0)) + b"junk")
    assert "truncated or corrupt" in _api(lambda: io.read_npy(p, what="--x0"))


def test_bad_result_json(tmp_path):
    stem = tmp_path / "r"
    BadFilesProbeResult(np.eye(2), {}).save(stem)
    js = tmp_path / "r.json"
    for content, fragment in ((b"", "empty"), (b"{not json", "not valid JSON"),
                              (b"[1, 2]", "not the .json of a saved rnndyn result"),
                              (b'{"type": "Nope", "array_fields": [], "fields": {}}',
                               "unknown result type")):
        js.write_bytes(content)
        msg = _api(lambda: load_result(stem))
        assert str(js) in msg and fragment in msg, msg
    js.unlink()
    assert "no such file" in _api(lambda: load_result(stem))


def test_cli_x0_missing_file_names_the_choices():
    msg = _cli(["lyapunov", "--x0", "nope.npy", "--n", "5", "--steps", "10"])
    assert "nope.npy" in msg and "zero, random" in msg


@pytest.mark.parametrize("kind", ["empty", "directory", "missing", "truncated"])
def test_bad_npz_beside_a_hashed_json_says_what_is_wrong(tmp_path, kind):
    stem = tmp_path / "res"
    BadFilesProbeResult(np.eye(N), {}).save(stem)
    target = tmp_path / "res.npz"
    data = target.read_bytes()
    target.unlink()
    if kind == "empty":
        target.write_bytes(b"")
    elif kind == "directory":
        target.mkdir()
    elif kind == "truncated":
        target.write_bytes(data[:-10])
    msg = _api(lambda: load_result(stem))
    want = {"empty": "is empty", "directory": "is a directory", "missing": "no such file",
            "truncated": "mixed or partial"}[kind]
    assert msg.startswith("cannot read result") and str(target) in msg and want in msg, msg


def test_a_network_too_big_to_use_is_refused_from_the_headers(tmp_path, monkeypatch):
    """W alone fits the budget, the network built from it (two copies) does not."""
    monkeypatch.setenv("RNNDYN_MEMORY_LIMIT", "2M")           # budget: 1 MiB
    p = tmp_path / "big.npz"
    np.savez_compressed(p, W=np.eye(300))                      # 703 KiB
    msg = _api(lambda: load_weights(p))
    assert msg.startswith(f"weights file {p} (a network of N=300 units): needs 1.4 MiB")
    res = CliRunner().invoke(cli, ["spectrum", "--weights", str(p)])
    assert res.exit_code == 2 and res.output.startswith("Error: weights file")
