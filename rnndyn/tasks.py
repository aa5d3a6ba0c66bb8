"""The pathological synthetic tasks of Hochreiter & Schmidhuber (1997) as used by
Martens & Sutskever (2011) and Pascanu, Mikolov & Bengio (2013), as seeded minibatch
generators.

A minibatch is a :class:`Batch` of time-major arrays: ``inputs`` (T, B, M),
``labels`` (T, B) (class targets, -1 where a step has none) and ``targets`` (B, K)
(real-valued targets at the last step). Positions are relative to the length L
(design.md §2). All sequences of one minibatch share L; with a length range
``(lo, hi)`` every minibatch draws its own L uniformly from lo..hi (inclusive).
"""

from dataclasses import dataclass

import numpy as np

from rnndyn._validate import as_choice, as_float, as_int, as_rng, InputError
from rnndyn._memory import array_bytes, check_request

TASKS = ("temporal-order", "temporal-order-3bit", "addition", "multiplication",
         "permutation", "memorisation")
ERROR_RULES = ("squared", "absolute")
ERROR_TOL = 0.04
SUCCESS_RATE = 0.01          # success: fewer than 1% wrong answers …
SUCCESS_SIZE = 10_000        # … on this many fresh sequences

# temporal order: symbols A, B (the informative ones) and c, d, e, f (distractors)
N_SYMBOLS = 6
# random permutation: 100 symbols, the first of a sequence is 0 or 1
N_PERM = 100


@dataclass(frozen=True)
class TaskSpec:
    """What a task needs from a network.

    Attributes
    ----------
    name : str
    n_inputs, n_outputs : int
        M and K.
    loss : {'ce', 'mse'}
        Softmax cross-entropy at the labelled steps, or squared error of a linear
        output at the last step.
    min_length : int
        The shortest L the generator accepts.
    options : dict
        Task options (memorisation: ``n_pos``, ``n_values``).
    """

    name: str
    n_inputs: int
    n_outputs: int
    loss: str
    min_length: int
    options: dict


@dataclass(frozen=True, eq=False)
class Batch:
    """One minibatch: inputs (T, B, M), labels (T, B) int64 (-1 = none), targets (B, K)."""

    inputs: np.ndarray
    labels: np.ndarray
    targets: np.ndarray

    @property
    def length(self):
        return self.inputs.shape[0]

    @property
    def size(self):
        return self.inputs.shape[1]


def task_spec(task, **options):
    """The :class:`TaskSpec` of ``task`` (one of :data:`TASKS`).

    Options: memorisation takes ``n_pos`` (pattern length, default 5) and ``n_values``
    (alphabet size, default 2); other tasks take none.
    """
    name = as_choice(task, "task", TASKS)
    if name != "memorisation" and options:
        raise InputError(f"task {name} takes no options, got {sorted(options)}")
    if name == "temporal-order":
        return TaskSpec(name, N_SYMBOLS, 4, "ce", 10, {})
    if name == "temporal-order-3bit":
        return TaskSpec(name, N_SYMBOLS, 8, "ce", 10, {})
    if name in ("addition", "multiplication"):
        return TaskSpec(name, 2, 1, "mse", 10, {})
    if name == "permutation":
        return TaskSpec(name, N_PERM, N_PERM, "ce", 2, {})
    unknown = set(options) - {"n_pos", "n_values"}
    if unknown:
        raise InputError(f"unknown memorisation option(s) {sorted(unknown)}; "
                         "known: n_pos, n_values")
    n_pos = as_int(options.get("n_pos", 5), "n_pos", minimum=1)
    n_values = as_int(options.get("n_values", 2), "n_values", minimum=2)
    # inputs: one channel per value, a blank channel and the trigger channel
    return TaskSpec(name, n_values + 2, n_values, "ce", 2 * n_pos + 1,
                    {"n_pos": n_pos, "n_values": n_values})


def check_length(length, spec, name="length"):
    """Validate an int L or a range (lo, hi); return (lo, hi) with lo <= hi."""
    if isinstance(length, (tuple, list)):
        if len(length) != 2:
            raise InputError(f"{name} must be an int or a (lo, hi) pair, got {length!r}")
        lo = as_int(length[0], name, minimum=spec.min_length)
        hi = as_int(length[1], name, minimum=spec.min_length)
        if hi < lo:
            raise InputError(f"{name} range must have lo <= hi, got ({lo}, {hi})")
        return lo, hi
    L = as_int(length, name, minimum=spec.min_length)
    return L, L


def draw_length(length, rng):
    """L for one minibatch from a validated (lo, hi) pair (uniform, inclusive)."""
    lo, hi = length
    return lo if lo == hi else int(rng.integers(lo, hi + 1))


def _window(L, a, b):
    """Positions [floor(aL), floor(bL)) widened to at least one position."""
    lo = int(np.floor(a * L))
    hi = max(int(np.floor(b * L)), lo + 1)
    return lo, hi


def _one_hot(sym, n):
    """(L, B) integer symbols -> (L, B, n) one-hot floats (flat indexing: the fastest)."""
    L, B = sym.shape
    u = np.zeros(L * B * n)
    u[np.arange(0, L * B * n, n) + sym.ravel()] = 1.0
    return u.reshape(L, B, n)


def _temporal_order(L, B, rng, windows):
    # distractors c..f (codes 2..5) everywhere, then the marked symbols on top
    sym = rng.integers(2, N_SYMBOLS, size=(L, B))
    label = np.zeros(B, dtype=np.int64)
    for a, b in windows:
        lo, hi = _window(L, a, b)
        pos = rng.integers(lo, hi, size=B)
        which = rng.integers(0, 2, size=B)       # 0 = A, 1 = B
        sym[pos, np.arange(B)] = which
        label = 2 * label + which                # class = the ordered A/B pattern in binary
    u = _one_hot(sym, N_SYMBOLS)
    labels = np.full((L, B), -1, dtype=np.int64)
    labels[L - 1] = label
    return u, labels, np.zeros((B, 0))


def _arithmetic(L, B, rng, op):
    u = np.zeros((L, B, 2))
    u[:, :, 0] = rng.uniform(0.0, 1.0, size=(L, B))
    lo1, hi1 = _window(L, 0.0, 0.1)
    lo2, hi2 = _window(L, 0.1, 0.5)
    p1 = rng.integers(lo1, hi1, size=B)
    p2 = rng.integers(max(lo2, hi1), max(hi2, hi1 + 1), size=B)
    cols = np.arange(B)
    u[p1, cols, 1] = 1.0
    u[p2, cols, 1] = 1.0
    v1, v2 = u[p1, cols, 0], u[p2, cols, 0]
    z = 0.5 * (v1 + v2) if op == "addition" else v1 * v2
    return u, np.full((L, B), -1, dtype=np.int64), z.reshape(B, 1)


def _permutation(L, B, rng):
    sym = rng.integers(2, N_PERM, size=(L, B))
    first = rng.integers(0, 2, size=B)
    sym[0] = first
    u = _one_hot(sym, N_PERM)
    labels = np.full((L, B), -1, dtype=np.int64)
    labels[L - 1] = first
    return u, labels, np.zeros((B, 0))


def _memorisation(L, B, rng, n_pos, n_values):
    blank, trigger = n_values, n_values + 1
    sym = np.full((L, B), blank, dtype=np.int64)
    pattern = rng.integers(0, n_values, size=(n_pos, B))
    sym[:n_pos] = pattern
    sym[L - n_pos - 1] = trigger
    u = _one_hot(sym, n_values + 2)
    labels = np.full((L, B), -1, dtype=np.int64)
    labels[L - n_pos:] = pattern                  # reproduce the pattern after the trigger
    return u, labels, np.zeros((B, 0))


def make_batch(task, length, batch_size, seed=0, **options):
    """A seeded minibatch of ``task``.

    Parameters
    ----------
    task : str or TaskSpec
        One of :data:`TASKS`.
    length : int or (lo, hi)
        Sequence length L, or a range from which this minibatch draws L.
    batch_size : int
    seed : int or numpy.random.Generator
        A Generator is advanced (successive calls give fresh minibatches).
    **options
        Task options, see :func:`task_spec`.

    Returns
    -------
    Batch

    Notes
    -----
    Definitions (Hochreiter & Schmidhuber 1997; Martens & Sutskever 2011; design.md §2):

    * temporal-order: one-hot of 6 symbols {A, B, c, d, e, f}; distractors from c..f;
      A or B at a position in [0.1L, 0.2L) and at one in [0.5L, 0.6L); 4 classes
      (AA, AB, BA, BB) at the last step. temporal-order-3bit: three marked positions in
      [0.1L, 0.2L), [0.3L, 0.4L), [0.6L, 0.7L), 8 classes.
    * addition / multiplication: channel 0 a value U[0, 1], channel 1 a marker, set at one
      position in [0, 0.1L) and one in [0.1L, 0.5L); target the mean (addition) or the
      product (multiplication) of the two marked values, at the last step.
    * permutation: one-hot of 100 symbols, the first 0 or 1, the rest from 2..99; predict
      the first at the last step (100-way softmax).
    * memorisation (noiseless): a pattern of ``n_pos`` symbols of ``n_values`` in the
      first steps, blanks, a trigger at step L - n_pos - 1, then the pattern is to be
      reproduced at the last ``n_pos`` steps (L counts every step).
    """
    spec = task if isinstance(task, TaskSpec) else task_spec(task, **options)
    B = as_int(batch_size, "batch_size", minimum=1)
    rng = as_rng(seed)
    L = draw_length(check_length(length, spec), rng)
    # inputs, labels and targets of the minibatch (the BPTT states are checked by train)
    check_request(array_bytes(L, B, spec.n_inputs + spec.n_outputs + 1),
                  f"a minibatch of length {L} × {B} sequences")
    if spec.name == "temporal-order":
        u, labels, targets = _temporal_order(L, B, rng, [(0.1, 0.2), (0.5, 0.6)])
    elif spec.name == "temporal-order-3bit":
        u, labels, targets = _temporal_order(L, B, rng, [(0.1, 0.2), (0.3, 0.4), (0.6, 0.7)])
    elif spec.name in ("addition", "multiplication"):
        u, labels, targets = _arithmetic(L, B, rng, spec.name)
    elif spec.name == "permutation":
        u, labels, targets = _permutation(L, B, rng)
    else:
        u, labels, targets = _memorisation(L, B, rng, spec.options["n_pos"],
                                           spec.options["n_values"])
    return Batch(np.ascontiguousarray(u), np.ascontiguousarray(labels),
                 np.ascontiguousarray(targets, dtype=np.float64))


def error_rule(name):
    """Validate the error rule of real-valued outputs: 'squared' or 'absolute'.

    An answer is wrong when (y - z)² > 0.04 ('squared', the rule design.md §2 gives for the
    paper) or |y - z| > 0.04 ('absolute', the rule of Hochreiter & Schmidhuber 1997 and
    Martens & Sutskever 2011).
    """
    return as_choice(name, "error_rule", ERROR_RULES)


def is_success(error_rate, threshold=SUCCESS_RATE):
    """The paper's success test: fewer than 1% of the fresh sequences answered wrongly."""
    return as_float(error_rate, "error_rate", minimum=0.0) < threshold
