"""Private numba kernels, one module per family. Never re-exported: the public
wrappers in ``rnndyn.<analysis>`` validate inputs and call these."""
