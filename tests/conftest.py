"""Shared fixtures and the named tolerances of the test suite."""

import numpy as np
import pytest

# Named tolerances (relative unless stated).
RTOL_EXACT = 1e-12      # same arithmetic, different order of operations
RTOL_KERNEL = 1e-10     # kernel vs naive twin over long products
RTOL_FD = 1e-6          # central finite differences, step FD_STEP
FD_STEP = 1e-6
RTOL_AUTODIFF = 1e-10   # vs torch float64 autodiff


@pytest.fixture
def rng():
    """A seeded generator; every test that draws numbers uses this."""
    return np.random.default_rng(20130617)
