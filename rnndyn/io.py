"""File input and output.

Output is atomic: write to a temporary file in the target folder, then rename. An
existing file is never replaced unless ``overwrite`` is true, and a crash leaves either
the old file or the new one, never half of either.

Input from the user (weights, ``--x0``, checkpoints, saved results) goes through
:func:`read_npz`, :func:`read_npy` and :func:`read_json`: never a pickle, sizes checked
from the headers before anything is allocated, and every failure one
:class:`~rnndyn._validate.InputError` reading ``"cannot read WHAT PATH: reason"``."""

import hashlib
import json
import math
import os
import stat
import struct
import tempfile
import warnings
import zipfile
import zlib
from io import BytesIO

import numpy as np
from numpy.lib import format as npformat

from rnndyn._validate import InputError, OutputExistsError


def _umask():
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_target(path, overwrite):
    """Raise OutputExistsError (a FileExistsError) if ``path`` exists and ``overwrite`` is false."""
    # lexists: a dangling symlink at the name is an existing file too
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")


# temporary files being written now (see discard_pending_writes)
_PENDING = set()


def atomic_write(path, write, *, overwrite=False, mode="wb", before_replace=None):
    """Call ``write(fileobj)`` on a temp file next to ``path``, then rename it.

    Parameters
    ----------
    path : str or os.PathLike
    write : callable
        Receives an open file object.
    overwrite : bool
        Replace an existing ``path``.
    mode : {'wb', 'w'}
    before_replace : callable, optional
        Called with the temporary file's path once it is complete, before the rename
        (e.g. to hash it).
    """
    path = os.fspath(path)
    check_target(path, overwrite)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    _PENDING.add(tmp)
    try:
        # mkstemp makes the file 0600; an output should be as readable as any other
        # file the user creates, so apply the umask like open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace(tmp)
        if not overwrite and os.path.lexists(path):
            raise OutputExistsError(f"{path} appeared while writing; not replaced")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        _PENDING.discard(tmp)
    return path


def discard_pending_writes():
    """Remove the temporary files of writes still in flight (from any thread).

    For a process about to exit in the middle of a write (Ctrl-C on the command line,
    :func:`rnndyn.cli.options.run_interruptible`): its final names only ever hold
    complete files, and no ``.tmp-*`` is left behind.
    """
    for tmp in list(_PENDING):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        _PENDING.discard(tmp)


def atomic_savez(path, arrays, *, overwrite=False):
    """``np.savez_compressed`` of ``arrays`` (a dict) to ``path``, atomically."""
    return atomic_write(path, lambda f: np.savez_compressed(f, **arrays), overwrite=overwrite)


def to_jsonable(obj, nonfinite="null"):
    """Convert NumPy scalars/arrays (recursively) to JSON types.

    Strict JSON has no inf or NaN. With ``nonfinite='null'`` (the default, used for
    every ``--json`` payload) a non-finite float becomes ``null``: numeric arrays stay
    numeric for any JSON reader, and the payload's ``finite`` flags say what was lost.
    With ``nonfinite='string'`` (the ``.json`` beside a result's ``.npz``, which
    :func:`rnndyn.results.load_result` reads back) it becomes ``"inf"``, ``"-inf"``
    or ``"nan"``, so that a reloaded result is exactly the saved one.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, nonfinite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, nonfinite) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), nonfinite)
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if math.isfinite(v):
            return v
        if nonfinite == "null":
            return None
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return obj


def dumps(obj, **kwargs):
    """``json.dumps`` after :func:`to_jsonable` (strict JSON, non-finite as null)."""
    return json.dumps(to_jsonable(obj), allow_nan=False, **kwargs)


def atomic_write_json(path, obj, *, overwrite=False):
    """Write ``obj`` as indented JSON to ``path``, atomically (non-finite as strings)."""
    text = json.dumps(to_jsonable(obj, "string"), allow_nan=False, indent=2) + "\n"
    return atomic_write(path, lambda f: f.write(text), overwrite=overwrite, mode="w")


def atomic_savez_sha256(path, arrays, *, overwrite=False):
    """:func:`atomic_savez`, returning ``(path, sha256)``: the hex digest of the bytes written.

    The digest is taken from the temporary file before it is renamed, so it names exactly
    the file that appears under ``path``.
    """
    digest = []
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays), overwrite=overwrite,
                 before_replace=lambda tmp: digest.append(file_sha256(tmp)))
    return os.fspath(path), digest[0]


# ------------------------------------------------------------ reading user files
#
# Every file a user hands to rnndyn (weights, x0, checkpoints, saved results) is read
# here, defensively: never a pickle, every failure one InputError
# "cannot read WHAT PATH: reason",
# and sizes checked from the headers before anything is allocated or inflated.

#: Largest .npy header accepted (bytes; NumPy's own limit for untrusted files).
MAX_HEADER_BYTES = 10_000
#: Most members accepted in one .npz.
MAX_MEMBERS = 4096
#: Largest compression ratio accepted for a member over 1 MiB. DEFLATE cannot do
#: better than about 1032:1, so only a lying header or another method gets past it.
MAX_RATIO = 1100
#: Largest JSON file accepted (bytes).
MAX_JSON_BYTES = 64 * 1024 ** 2

_NPY_MAGIC = b"\x93NUMPY"
_CHUNK = 1 << 24


def file_sha256(path):
    """Hex sha256 of the file at ``path`` (read in chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fail(what, path, reason):
    return InputError(f"cannot read {what} {path}: {reason}")


def _os_reason(exc):
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    return exc.strerror or str(exc)


def _as_path(path, what):
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.fspath(path)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if path:
            return path
    raise InputError(f"{what} must be a file path, got {path!r}")


def _open_user_file(path, what):
    """Open ``path`` for binary reading after checking it is a non-empty regular file.

    Returns ``(path, fileobj, size)``.
    """
    path = _as_path(path, what)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _fail(what, path, _os_reason(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(what, path, "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(what, path, "is not a regular file")
    if st.st_size == 0:
        raise _fail(what, path, "is empty (0 bytes)")
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise _fail(what, path, _os_reason(exc)) from None
    return path, f, st.st_size


def _describe(shape, dtype):
    return f"shape {tuple(shape)} {dtype}"


def _nbytes_text(n):
    from rnndyn import _memory
    return f"{n} bytes" if n < 1024 else _memory.format_bytes(n)


def _check_size(nbytes, where, max_bytes):
    """InputError if ``nbytes`` exceeds ``max_bytes`` (or, if None, the memory budget)."""
    from rnndyn import _memory
    if max_bytes is not None:
        if nbytes > max_bytes:
            raise InputError(f"{where}: {_memory.format_bytes(nbytes)}, more than the limit of "
                             f"{_memory.format_bytes(max_bytes)}")
        return
    _memory.check_request(nbytes, where)


def _read_exact(fp, n, label):
    data = fp.read(n)
    if len(data) != n:
        raise ValueError(f"{label} cut short ({len(data)} of {n} bytes)")
    return data


def _read_npy_header(fp):
    """Parse a .npy header from ``fp`` without trusting its length fields.

    Returns ``(shape, fortran_order, dtype, header_bytes)``; ValueError (with a reason)
    on anything malformed. At most MAX_HEADER_BYTES are read whatever the file claims.
    """
    magic = fp.read(8)
    if len(magic) < 8 or not magic.startswith(_NPY_MAGIC):
        raise ValueError("not a .npy array (bad magic string)")
    version = (magic[6], magic[7])
    if version == (1, 0):
        lenbytes = _read_exact(fp, 2, "header length")
        hlen = struct.unpack("<H", lenbytes)[0]
        reader = npformat.read_array_header_1_0
    elif version == (2, 0):
        lenbytes = _read_exact(fp, 4, "header length")
        hlen = struct.unpack("<I", lenbytes)[0]
        reader = npformat.read_array_header_2_0
    else:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
    if hlen > MAX_HEADER_BYTES:
        raise ValueError(f"header of {hlen} bytes is larger than {MAX_HEADER_BYTES}; refused")
    header = _read_exact(fp, hlen, "header")
    buf = BytesIO(lenbytes + header)
    with warnings.catch_warnings():
        # a header written by Python 2 parses with a UserWarning; it is still a good file
        warnings.simplefilter("ignore")
        shape, fortran, dtype = reader(buf, max_header_size=MAX_HEADER_BYTES)
    if any(s < 0 for s in shape):
        raise ValueError(f"header has a negative dimension {shape}")
    if dtype.hasobject:
        raise ValueError("holds Python objects (a pickle); refused")
    if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "biufcUS":
        raise ValueError(f"dtype {dtype} is not supported (numbers or strings only)")
    return shape, fortran, dtype, 8 + len(lenbytes) + hlen


def _shape_matches(key, shape, want, dims):
    """Check ``shape`` against ``want`` (ints, None = any, str = a named dimension)."""
    if len(shape) != len(want):
        return False
    for s, w in zip(shape, want):
        if w is None:
            continue
        if isinstance(w, str):
            if dims.setdefault(w, s) != s:
                return False
        elif s != w:
            return False
    return True


def _want_text(want, dims):
    if len(want) == 2 and isinstance(want[0], str) and want[0] == want[1]:
        return f"a square matrix ({want[0]}, {want[0]})"
    parts = []
    for w in want:
        if w is None:
            parts.append("any")
        elif isinstance(w, str):
            parts.append(f"{w}={dims[w]}" if w in dims else w)
        else:
            parts.append(str(w))
    return "(" + ", ".join(parts) + (",)" if len(parts) == 1 else ")")


def _read_data(fp, shape, fortran, dtype, nbytes):
    """Read ``nbytes`` of array data from ``fp`` into a fresh array (chunked, no copy)."""
    arr = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
    view = memoryview(arr.reshape(-1).view(np.uint8)) if nbytes else memoryview(b"")
    pos = 0
    while pos < nbytes:
        block = fp.read(min(_CHUNK, nbytes - pos))
        if not block:
            raise ValueError(f"data cut short ({pos} of {nbytes} bytes)")
        view[pos:pos + len(block)] = block
        pos += len(block)
    return arr.T if fortran else arr


_READ_ERRORS = (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error, struct.error,
                NotImplementedError, RuntimeError)


def read_npy(path, *, what, max_bytes=None, expected_shape=None):
    """Read one array from a ``.npy`` file, defensively.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        How the file is named to the user, e.g. ``'weights file'``; messages read
        ``"cannot read weights file PATH: reason"``.
    max_bytes : int, optional
        Largest array accepted; default: what :mod:`rnndyn._memory` allows.
    expected_shape : tuple, optional
        Required shape; ``None`` entries match any length. Checked from the header,
        before the data are read.

    Returns
    -------
    ndarray

    Raises
    ------
    InputError
        Missing, unreadable, empty, not a ``.npy``, truncated or padded, an object
        (pickle) or structured dtype, an oversized header or array, a wrong shape.
    """
    path, f, size = _open_user_file(path, what)
    with f:
        try:
            shape, fortran, dtype, offset = _read_npy_header(f)
        except _READ_ERRORS as exc:
            if isinstance(exc, ValueError) and "bad magic" in str(exc):
                f.seek(0)
                head = f.read(4)
                kind = "an .npz archive, not" if head.startswith(b"PK") else "not"
                raise _fail(what, path, f"is {kind} a .npy array file") from None
            raise _fail(what, path, f"not a valid .npy file: {exc}") from None
        nbytes = math.prod(shape) * dtype.itemsize
        if offset + nbytes != size:
            raise _fail(what, path, f"header says {_describe(shape, dtype)} "
                        f"({_nbytes_text(nbytes)} of data) but the file holds "
                        f"{_nbytes_text(size - offset)}: truncated or corrupt")
        if expected_shape is not None and not _shape_matches("", shape, tuple(expected_shape), {}):
            raise _fail(what, path, f"has shape {tuple(shape)}, expected "
                        f"{_want_text(tuple(expected_shape), {})}")
        _check_size(nbytes, f"cannot read {what} {path}: {_describe(shape, dtype)}", max_bytes)
        try:
            return _read_data(f, shape, fortran, dtype, nbytes)
        except _READ_ERRORS as exc:
            raise _fail(what, path, f"cannot read its data: {exc}") from None


def _open_zip(f, path, what):
    try:
        return zipfile.ZipFile(f)
    except _READ_ERRORS as exc:
        f.seek(0)
        head = f.read(8)
        if head.startswith(_NPY_MAGIC):
            reason = "is a .npy array file, not an .npz archive"
        elif head.startswith(b"PK"):
            reason = f"is a truncated or corrupt .npz (zip) archive ({exc})"
        else:
            reason = "is not an .npz file (no zip archive found)"
        raise _fail(what, path, reason) from None


def _members(zf, path, what):
    """{key: ZipInfo} of the archive's .npy members; refuses duplicates and odd entries."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _fail(what, path, f"holds {len(infos)} members (at most {MAX_MEMBERS})")
    members = {}
    for info in infos:
        name = info.filename
        key = name[:-4] if name.endswith(".npy") else name
        if key in members:
            raise _fail(what, path, f"holds the member {name!r} twice")
        if info.flag_bits & 0x1:
            raise _fail(what, path, f"member {name!r} is encrypted")
        members[key] = info
    return members


def list_npz(path, *, what):
    """The array names in an ``.npz`` (from its zip directory; no data is read)."""
    path, f, _ = _open_user_file(path, what)
    with f:
        with _open_zip(f, path, what) as zf:
            return list(_members(zf, path, what))


def read_npz(path, *, what, max_bytes=None, allowed_keys=None, required_keys=(),
             keys=None, expected_shapes=None, headers_only=False):
    """Read the arrays of an ``.npz`` file, defensively.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        How the file is named to the user (``'weights file'``, ``'checkpoint'``); every
        message reads ``"cannot read WHAT PATH: reason"``.
    max_bytes : int, optional
        Largest total of the arrays read (their uncompressed bytes); default: what
        :mod:`rnndyn._memory` allows on this machine.
    allowed_keys : collection of str, optional
        Array names the file may hold; any other is refused.
    required_keys : collection of str
        Names that must be present.
    keys : collection of str, optional
        Read only these (those present); default: every array.
    expected_shapes : dict, optional
        ``{name: shape}``; a shape entry is an int, None (any length) or a string naming
        a dimension that must agree wherever it appears (``{'W': ('N', 'N')}``: square).
        Checked from the headers, before any data are read.
    headers_only : bool
        Check everything but read no data: return ``{name: (shape, dtype)}``, so a
        caller can size what it will build from the arrays before reading them.

    Returns
    -------
    dict of str to ndarray

    Notes
    -----
    Before anything is inflated, each member's declared uncompressed size and
    compression ratio (zip bomb) are checked against the limits, and each ``.npy``
    header's shape and dtype against the member's size (a header claiming 10¹⁰ elements
    in a 300-byte file is refused without allocating). Object dtypes (pickles) are never
    read. Every failure, a truncated or corrupt archive included, is an InputError.
    """
    from rnndyn import _memory
    path, f, _ = _open_user_file(path, what)
    with f:
        with _open_zip(f, path, what) as zf:
            members = _members(zf, path, what)
            if allowed_keys is not None:
                unknown = sorted(set(members) - set(allowed_keys))
                if unknown:
                    raise _fail(what, path, f"unknown array(s) {unknown}; allowed: "
                                f"{sorted(allowed_keys)}")
            missing = [k for k in required_keys if k not in members]
            if missing:
                listed = ", ".join(repr(k) for k in missing[:4])
                if len(missing) > 4:
                    listed += f", and {len(missing) - 4} more"
                raise _fail(what, path, f"missing required array(s) [{listed}]")
            wanted = [k for k in members if keys is None or k in set(keys)]
            declared = 0
            for key in wanted:
                info = members[key]
                if not info.filename.endswith(".npy"):
                    raise _fail(what, path, f"member {info.filename!r} is not a .npy array")
                if (info.file_size > (1 << 20)
                        and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
                    raise _fail(what, path, f"array {key!r} would inflate "
                                f"{info.compress_size} bytes to "
                                f"{_memory.format_bytes(info.file_size)} (a zip bomb?)")
                _check_size(info.file_size, f"cannot read {what} {path}: array {key!r}",
                            max_bytes)
                declared += info.file_size
            _check_size(declared, f"cannot read {what} {path}: its arrays", max_bytes)
            headers, dims = {}, {}
            try:
                for key in wanted:
                    headers[key] = _member_header(zf, members[key], key, path, what,
                                                  expected_shapes, dims)
                if headers_only:
                    return {k: (h[1], h[3]) for k, h in headers.items()}
                out = {}
                for key, (fp, shape, fortran, dtype, nbytes) in headers.items():
                    try:
                        out[key] = _read_data(fp, shape, fortran, dtype, nbytes)
                        if fp.read(1):
                            raise ValueError("trailing data after the array")
                    except _READ_ERRORS as exc:
                        raise _fail(what, path, f"array {key!r} is corrupt ({exc})") from None
                return out
            finally:
                for fp, *_ in headers.values():
                    fp.close()


def _member_header(zf, info, key, path, what, expected_shapes, dims):
    """Open member ``info``, parse and check its header; ``(fp, shape, fortran, dtype, nbytes)``."""
    try:
        fp = zf.open(info)
    except _READ_ERRORS as exc:
        raise _fail(what, path, f"array {key!r} cannot be opened ({exc})") from None
    try:
        try:
            shape, fortran, dtype, offset = _read_npy_header(fp)
        except _READ_ERRORS as exc:
            raise _fail(what, path, f"array {key!r} is not a valid .npy array "
                        f"({exc})") from None
        nbytes = math.prod(shape) * dtype.itemsize
        if offset + nbytes != info.file_size:
            raise _fail(what, path, f"array {key!r}: header says {_describe(shape, dtype)} "
                        f"({_nbytes_text(nbytes)}) but the member holds "
                        f"{_nbytes_text(info.file_size - offset)}: truncated or corrupt")
        if expected_shapes and key in expected_shapes:
            want = tuple(expected_shapes[key])
            if not _shape_matches(key, shape, want, dims):
                raise _fail(what, path, f"array {key!r} has shape {tuple(shape)}, "
                            f"expected {_want_text(want, dims)}")
    except BaseException:
        fp.close()
        raise
    return fp, shape, fortran, dtype, nbytes


def read_json(path, *, what, max_bytes=MAX_JSON_BYTES):
    """Parse a JSON file defensively: one InputError ``"cannot read WHAT PATH: reason"``."""
    path, f, size = _open_user_file(path, what)
    with f:
        if size > max_bytes:
            raise _fail(what, path, f"is {size} bytes, more than the {max_bytes} accepted")
        try:
            text = f.read().decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(what, path, "is not UTF-8 text") from None
        except OSError as exc:
            raise _fail(what, path, _os_reason(exc)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(what, path, f"is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise _fail(what, path, "is nested too deeply") from None


#: Key of a result's ``.json`` holding the sha256 of its ``.npz``.
SHA256_KEY = "npz_sha256"


def check_npz_sha256(npz_path, doc, json_path):
    """Refuse an ``.npz`` whose sha256 is not the one its ``.json`` (``doc``) records.

    A result is one unit: the ``.json`` is written last and names its ``.npz`` by
    hash, so a pair mixed by an interrupted overwrite (new ``.npz``, old ``.json``) or
    put together by hand is refused instead of read. A ``.json`` without the hash
    (written before rnndyn recorded it) is accepted unchecked.
    """
    want = doc.get(SHA256_KEY) if isinstance(doc, dict) else None
    if want is None:
        return
    npz_path, f, _ = _open_user_file(npz_path, "result data")
    h = hashlib.sha256()
    with f:
        try:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        except OSError as exc:
            raise _fail("result data", npz_path, _os_reason(exc)) from None
    if h.hexdigest() != want:
        raise InputError(f"cannot read result {npz_path}: it does not belong to {json_path} "
                         "(its sha256 differs from the one recorded there): the pair is mixed "
                         "or partial, e.g. from an interrupted --overwrite; compute it again")
