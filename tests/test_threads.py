"""A seeded run gives the same numbers whatever the BLAS thread count (issue 9 §1)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from rnndyn import _threads
from rnndyn.training import evaluate, init_params, train

# small enough to be quick, large enough (N = 50) that OpenBLAS would thread its products
RUN = dict(init="gaussian", gain=2.0, n_hidden=50, lr=0.01, batch_size=20, max_updates=300,
           eval_every=100, eval_size=200, seed=0, stop_at_success=False)

SCRIPT = """
import json, numpy as np
from rnndyn.training import train
r = train("temporal-order", 20, "sgd", **json.loads({run!r}))
print(json.dumps({{"err": float(r.final_error_rate), "W": float(np.abs(r.W).sum()),
                   "loss": [float(x) for x in np.nan_to_num(r.loss)]}}))
"""


def _run_with_env(threads, cache_dir):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(run=json.dumps(RUN))],
                         env=env, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_training_is_identical_under_one_and_two_blas_threads_from_the_environment(tmp_path):
    # a private numba cache: the first run compiles every kernel, the others load them,
    # so this also checks that a cold and a warm cache give the same numbers
    cold = _run_with_env(2, tmp_path)
    assert _run_with_env(1, tmp_path) == cold
    assert _run_with_env(2, tmp_path) == cold


def test_training_is_identical_under_one_and_two_blas_threads_in_process():
    results = []
    for n in (1, 2):
        with threadpool_limits(limits=n, user_api="blas"):
            r = train("temporal-order", 20, "sgd", **dict(RUN, max_updates=100))
        results.append(r)
    a, b = results
    assert np.array_equal(a.W, b.W) and np.array_equal(a.V, b.V)
    assert a.final_error_rate == b.final_error_rate
    np.testing.assert_array_equal(a.loss, b.loss)


def test_evaluate_is_identical_under_one_and_two_blas_threads():
    params = init_params(50, 6, 4, "gaussian", gain=2.0, seed=1)
    out = []
    for n in (1, 2):
        with threadpool_limits(limits=n, user_api="blas"):
            out.append(evaluate(params, "temporal-order", 20, 300, seed=5))
    assert out[0] == out[1]


def test_loops_run_with_blas_pinned_and_the_setting_is_restored():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _threads.current()
        with _threads.blas_threads(1):
            assert set(_threads.current().values()) == {1}
        assert _threads.current() == before


def test_blas_threads_none_leaves_counts_alone():
    before = _threads.current()
    with _threads.blas_threads(None):
        assert _threads.current() == before
