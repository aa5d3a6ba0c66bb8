import numpy as np
import pytest

from rnndyn.tasks import (TASKS, check_length, error_rule, is_success, make_batch, task_spec)


@pytest.mark.parametrize("task", TASKS)
def test_batches_are_seeded_shaped_and_one_hot(task):
    spec = task_spec(task)
    a = make_batch(task, 30, 16, seed=4)
    b = make_batch(task, 30, 16, seed=4)
    c = make_batch(task, 30, 16, seed=5)
    assert a.inputs.shape == (30, 16, spec.n_inputs) and a.labels.shape == (30, 16)
    assert a.inputs.flags.c_contiguous and a.labels.dtype == np.int64
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.inputs, c.inputs)
    if spec.loss == "ce":
        assert np.all(a.inputs.sum(axis=2) == 1.0)
        assert np.all(a.labels[-1] >= 0) and np.all(a.labels < spec.n_outputs)
        assert a.targets.shape == (16, 0)
    else:
        assert a.targets.shape == (16, 1) and np.all(a.labels == -1)


@pytest.mark.parametrize("task, windows", [
    ("temporal-order", [(0.1, 0.2), (0.5, 0.6)]),
    ("temporal-order-3bit", [(0.1, 0.2), (0.3, 0.4), (0.6, 0.7)]),
])
@pytest.mark.parametrize("L", (10, 57, 200))
def test_temporal_order_class_is_the_ordered_pattern(task, windows, L):
    batch = make_batch(task, L, 200, seed=1)
    sym = np.argmax(batch.inputs, axis=2)                  # (L, B)
    for k in range(200):
        marked = np.flatnonzero(sym[:, k] < 2)             # positions of A or B
        assert len(marked) == len(windows)
        label = 0
        for pos, (a, b) in zip(marked, windows):
            lo = int(np.floor(a * L))
            assert lo <= pos < max(int(np.floor(b * L)), lo + 1)
            label = 2 * label + sym[pos, k]
        assert batch.labels[-1, k] == label
        assert np.all(batch.labels[:-1, k] == -1)
    assert set(np.unique(batch.labels[-1])) == set(range(2 ** len(windows)))


@pytest.mark.parametrize("task", ("addition", "multiplication"))
def test_arithmetic_targets(task):
    L = 100
    batch = make_batch(task, L, 300, seed=2)
    vals, marks = batch.inputs[:, :, 0], batch.inputs[:, :, 1]
    assert np.all((vals >= 0) & (vals <= 1))
    for k in range(300):
        p = np.flatnonzero(marks[:, k])
        assert len(p) == 2 and p[0] < 10 and 10 <= p[1] < 50
        v1, v2 = vals[p[0], k], vals[p[1], k]
        want = (v1 + v2) / 2 if task == "addition" else v1 * v2
        assert batch.targets[k, 0] == pytest.approx(want, rel=1e-15)


def test_permutation_asks_for_the_first_symbol():
    batch = make_batch("permutation", 40, 100, seed=3)
    sym = np.argmax(batch.inputs, axis=2)
    assert np.all(sym[0] < 2) and np.all(sym[1:] >= 2)
    np.testing.assert_array_equal(batch.labels[-1], sym[0])


def test_memorisation_reproduces_the_pattern_after_the_trigger():
    n_pos, n_values, L = 4, 3, 25
    batch = make_batch("memorisation", L, 50, seed=4, n_pos=n_pos, n_values=n_values)
    sym = np.argmax(batch.inputs, axis=2)
    blank, trigger = n_values, n_values + 1
    assert batch.inputs.shape[2] == n_values + 2
    np.testing.assert_array_equal(batch.labels[L - n_pos:], sym[:n_pos])
    assert np.all(batch.labels[:L - n_pos] == -1)
    assert np.all(sym[L - n_pos - 1] == trigger)
    assert np.all(sym[n_pos:L - n_pos - 1] == blank) and np.all(sym[L - n_pos:] == blank)
    assert task_spec("memorisation", n_pos=4).min_length == 9


def test_length_range_draws_one_length_per_minibatch():
    rng = np.random.default_rng(0)
    lengths = {make_batch("temporal-order", (50, 60), 3, rng).length for _ in range(60)}
    assert lengths <= set(range(50, 61)) and len(lengths) > 5
    assert check_length((50, 50), task_spec("addition")) == (50, 50)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: make_batch("parity", 10, 2), ValueError, "unknown task"),
    (lambda: make_batch("temporal-order", 5, 2), ValueError, "length must be >= 10"),
    (lambda: make_batch("temporal-order", (60, 50), 2), ValueError, "lo <= hi"),
    (lambda: make_batch("temporal-order", (10, 20, 30), 2), ValueError, "(lo, hi)"),
    (lambda: make_batch("temporal-order", 2.5, 2), TypeError, "length must be an integer"),
    (lambda: make_batch("addition", 20, 0), ValueError, "batch_size must be >= 1"),
    (lambda: make_batch("addition", 20, 2, n_pos=3), ValueError, "takes no options"),
    (lambda: make_batch("memorisation", 20, 2, n_bits=3), ValueError, "unknown memorisation"),
    (lambda: make_batch("memorisation", 10, 2, n_pos=5), ValueError, "length must be >= 11"),
    (lambda: error_rule("cubic"), ValueError, "unknown error_rule"),
    (lambda: is_success(-0.1), ValueError, "error_rate must be >= 0"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_success_rule():
    assert is_success(0.0099) and not is_success(0.01)
    assert error_rule("Absolute") == "absolute"
