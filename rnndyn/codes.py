"""Every integer code the kernels dispatch on, in one place.

Kernels take only arrays, scalars and integer codes (so that numba's on-disk cache keeps
hitting); the Python side turns names into these codes through the tables below, and the
kernels import the constants from here. A new code is added here and nowhere else.

Cells (:mod:`rnndyn.cells`): the vanilla forms keep their historical codes 0 and 1 (a vanilla
kernel's ``form`` argument is its cell code), the gated cells follow.
"""

# ---------------------------------------------------------------- cells (and vanilla forms)
PASCANU, ELMAN, LSTM, GRU = 0, 1, 2, 3
# a vanilla RNN's form names its cell code
FORM_CODES = {"pascanu": PASCANU, "elman": ELMAN}
GATED_CELL_CODES = {"lstm": LSTM, "gru": GRU}

# ---------------------------------------------------------------- activations
LINEAR, TANH, SIGMOID, RELU = 0, 1, 2, 3
ACTIVATION_CODES = {"linear": LINEAR, "tanh": TANH, "sigmoid": SIGMOID, "relu": RELU}

# ---------------------------------------------------------------- training (BPTT kernels)
# softmax cross-entropy at labelled steps / squared error at T / independent Bernoulli per
# output at every step (sigmoid of y_t)
LOSS_CE, LOSS_MSE, LOSS_BERNOULLI = 0, 1, 2
# a regression answer is wrong if (y - z)² > tol or |y - z| > tol
ERR_SQUARED, ERR_ABSOLUTE = 0, 1
ERR_CODES = {"squared": ERR_SQUARED, "absolute": ERR_ABSOLUTE}
# the vanishing-gradient regulariser Ω: off, summed over steps, or their mean
OMEGA_OFF, OMEGA_SUM, OMEGA_MEAN = 0, 1, 2
OMEGA_CODES = {"off": OMEGA_OFF, "sum": OMEGA_SUM, "mean": OMEGA_MEAN}

# ---------------------------------------------------------------- gradient clipping
NO_CLIP, NORM_CLIP, VALUE_CLIP = 0, 1, 2
CLIP_CODES = {"none": NO_CLIP, "norm": NORM_CLIP, "value": VALUE_CLIP}
