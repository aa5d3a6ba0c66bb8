"""Source stamps: a hash of the rnndyn code that computes a task's result.

A resumed sweep or study reuses the task files it finds; a file computed by other
code (an edited kernel, trainer or measure) must not be mixed with new results.
Each result is stamped by the process that computed it (:func:`process_stamp`), and
a resumed run reuses only the files stamped by the code that would compute them now
(:func:`rnndyn._runner.stamp_now`).

:func:`source_stamp` hashes the modules a computation can run: the named modules
and every rnndyn module they import (at module level or inside a function),
transitively; a numba kernel module counts with the stamp :mod:`rnndyn._jit` keeps
for its cache (its source, the kernel modules it imports and the compile flags).
Modules outside ``rnndyn/`` (the CLI, the figures) are not followed: they present
results, they do not compute them.
"""

import functools
import hashlib
import os
import re

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_FROM = re.compile(r"^\s*from\s+(rnndyn(?:\.\w+)*)\s+import\s+(\([^)]*\)|[^\n#]+)", re.M)
_IMPORT = re.compile(r"^\s*import\s+(rnndyn(?:\.\w+)+)", re.M)


def _file_of(module):
    """The source file of rnndyn module ``module`` (a dotted name), or None."""
    parts = module.split(".")[1:]
    base = os.path.join(_PACKAGE, *parts)
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def _imports(text):
    """The rnndyn modules a source text imports (names that are modules included)."""
    found = set(_IMPORT.findall(text))
    for module, names in _FROM.findall(text):
        sub = [w.split()[0] for w in names.strip("()").replace("\n", " ").split(",")
               if w.strip()]
        submodules = [f"{module}.{w}" for w in sub if _file_of(f"{module}.{w}")]
        found.update(submodules)
        if len(submodules) < len(sub):  # a name defined in ``module`` itself
            found.add(module)
    return found


def closure(modules):
    """The rnndyn modules that ``modules`` import, transitively (themselves included),
    sorted; names without a file under ``rnndyn/`` are left out."""
    seen, todo = set(), list(modules)
    while todo:
        m = todo.pop()
        if m in seen or _file_of(m) is None:
            continue
        seen.add(m)
        with open(_file_of(m), encoding="utf-8", errors="replace") as f:
            todo.extend(_imports(f.read()))
    return sorted(seen)


def source_stamp(modules):
    """16 hex digits of the SHA-256 of the code ``modules`` (a tuple of dotted names) run,
    as the files are now: what a worker started now would run (a resumed run compares
    its saved tasks with this)."""
    from rnndyn import _jit
    kernels = _jit._kernel_stamps(_jit._KERNELS)
    digest = hashlib.sha256()
    for m in closure(modules):
        kernel = m[len("rnndyn._kernels."):] if m.startswith("rnndyn._kernels.") else None
        if kernel in kernels:
            part = kernels[kernel].encode()
        else:
            with open(_file_of(m), "rb") as f:
                part = hashlib.sha256(f.read()).hexdigest().encode()
        digest.update(m.encode() + b"\0" + part + b"\0")
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def process_stamp(modules):
    """The :func:`source_stamp` of the code this process runs: computed at the first call
    (right after the code was imported, in a worker) and kept, because the imported code
    does not change when the files do. A task's result is stamped with this."""
    return source_stamp(modules)
