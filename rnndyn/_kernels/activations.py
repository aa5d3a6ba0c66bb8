"""σ and σ' by integer code (see rnndyn.activations), scalar and in-place 1-D: the one
home of the activations the kernels use.

σ' is tail-accurate everywhere (a few ulp, also deep in saturation, where the usual
1 − tanh² or σ(1 − σ) keep no significant digit: at |x| = 15, 1 − tanh² has about 1e-4
of its relative accuracy left and at |x| ≥ 19.1 it is exactly 0):

- tanh' = sech² x = 4e/(1 + e)², e = e^{−2|x|}, from the same reduction as tanh itself
  (:func:`_tanh_sech2`); it is accurate down to |x| = 354 and held at its value there
  (≈ 1e-307) beyond, a floor that keeps log σ' finite;
- the logistic sigmoid as the pair (σ(x), σ(−x)) = (1/(1 + e), e/(1 + e)), e = e^{−|x|}
  (:func:`_sigmoid_pair`): neither 1 − σ nor 1 + tanh(x/2) is ever formed by a
  subtraction, so σ, 1 − σ and σ' = σ(x)σ(−x) keep their tails.

The in-place array routines use :func:`_tanh_fast`, a tanh made only of
arithmetic, ``floor``, an integer bit cast and ``copysign``, so that LLVM
vectorises the loops that call it (AVX2/AVX-512). numba's ``np.tanh`` is a scalar libm call (~15 ns per
element here, against ~0.75 ns for the vectorised version (one division, a
degree-5 polynomial in r²: ~26 vector instructions per 8 values) and ~2 ns for
NumPy's SIMD tanh). It agrees with ``np.tanh`` to within 3 ulp. The scalar ``_act``
keeps libm's tanh.
"""

import math

import numpy as np

from rnndyn._jit import jit
from rnndyn.codes import LINEAR, RELU, SIGMOID, TANH  # noqa: F401


_INV_LN2 = 1.4426950408889634
# ln 2 in two parts (fdlibm's e_exp.c): k·LN2_HI is exact for |k| < 2^11, so the reduced
# argument of _exp_nonpos and _tanh_parts keeps full precision down to e^-745
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# tanh(x) rounds to ±1 in float64 beyond |x| = 19.06..., but sech² x = 1 − tanh² x
# keeps its tail down to e^{-708}: clamping |x| at 354 keeps 2^k (k >= -1022 below) a
# normal number, so :func:`_tanh_sech2` is accurate up to there; tanh itself is ±1
# exactly long before (the clamp does not change a bit of it).
_TANH_CLAMP = 354.0


# exp(r) = (R + r)/(R − r) with R(r²) = r coth(r/2) = 2 + r²/6 − r⁴/360 + ..., a
# minimax fit on |r| <= ln2/2 (fdlibm's e_exp.c P1..P5, error below 2^-59)
_R1 = 1.66666666666666019037e-01
_R2 = -2.77777777770155933842e-03
_R3 = 6.61375632143793436117e-05
_R4 = -1.65339022054652515390e-06
_R5 = 4.13813679705723846039e-08


@jit(inline="always")
def _tanh_parts(x):
    """The shared reduction of :func:`_tanh_fast` and :func:`_tanh_sech2`.

    y = −2|x| = k ln2 + r, |r| <= ln2/2, s = 2^k, e^r = (R + r)/(R − r) (fdlibm's rational
    form, R even in r), so that with e = e^y = s (R + r)/(R − r):
    tanh|x| = (1 − e)/(1 + e) = ((1 − s)(R + r) − 2r) / ((1 + s)(R + r) − 2r) (one division;
    for k = 0, small |x|, the numerator is −2r exactly), and
    sech² x = 4e/(1 + e)² = 4 s (R + r)(R − r) / ((1 + s)(R + r) − 2r)², a sum of positive
    terms over a square with no cancellation anywhere.
    Returns (num, den, q) with tanh|x| = num/den and sech² x = q/den².
    """
    nx = -abs(x)
    # clamped, written so that NaN falls through (NaN < c is false) and -inf is
    # clamped: a single max instruction
    nx = -_TANH_CLAMP if nx < -_TANH_CLAMP else nx
    # twice the usual reduction (exact: powers of 2): y2 = 2y = -4|x|, r2 = 2r,
    # which saves forming -2r below
    y2 = 4.0 * nx
    k = np.floor(y2 * (0.5 * _INV_LN2) + 0.5)
    # ln2 in two parts (fdlibm's): k·2·_LN2_HI is exact, so r2 keeps full precision for
    # every k down to the clamp (sech² x there is e^{-708} and still has all its digits)
    # whether or not the compiler fuses the products into FMAs. A single-constant ln2 with
    # the product rounded would leave sech² up to 500 ulp off at |x| = 300 (seen with the
    # JIT off, where no FMA hides the rounding).
    r2 = (y2 - k * (2.0 * _LN2_HI)) - k * (2.0 * _LN2_LO)
    z2 = r2 * r2  # 4 r²
    R = 2.0 + z2 * (_R1 / 4 + z2 * (_R2 / 16 + z2 * (_R3 / 64 + z2 * (_R4 / 256
                                                                    + z2 * (_R5 / 1024)))))
    # s = 2^k exactly, built from its exponent bits; the integer conversion and
    # the bit cast vectorise (a libm ldexp call would not). NaN would make the
    # conversion undefined (and warn without the JIT), so it is mapped to a
    # finite k (a single max instruction); r2 carries the NaN through.
    kk = k if k > -1022.0 else -1022.0
    s = np.int64((np.int64(kk) + 1023) << 52).view(np.float64)
    rp = R + 0.5 * r2
    num = (1.0 - s) * rp - r2
    den = (1.0 + s) * rp - r2
    return num, den, (4.0 * s) * (rp * (rp - r2))


@jit(inline="always")
def _tanh_fast(x):
    """tanh(x) = (1 − e^y)/(1 + e^y), y = −2|x|, with the sign of x (NaN stays NaN);
    the reduction is :func:`_tanh_parts`."""
    num, den, _ = _tanh_parts(x)
    # copysign keeps tanh(-0.0) = -0.0 and the odd symmetry exact
    return math.copysign(num / den, x)


@jit(inline="always")
def _tanh_sech2(x):
    """(tanh x, tanh' x = sech² x), both from one reduction (:func:`_tanh_parts`); tanh
    is bit for bit :func:`_tanh_fast`, sech² is tail-accurate (module docstring)."""
    num, den, q = _tanh_parts(x)
    return math.copysign(num / den, x), q / (den * den)


@jit
def _tanh_array(a, out):
    """out[i] = tanh(a[i]) (vectorised :func:`_tanh_fast`) for 1-D arrays; out may be a."""
    for i in range(a.shape[0]):
        out[i] = _tanh_fast(a[i])


@jit(inline="always")
def _act(code, x):
    """σ(x) for one scalar."""
    if code == TANH:
        return np.tanh(x)
    if code == SIGMOID:
        return _sigmoid_pair(x)[0]
    if code == RELU:
        return x if x > 0.0 else 0.0
    return x


@jit(inline="always")
def _act_dact1(act, v):
    """(σ(v), σ'(v)) for one scalar, exactly as :func:`_apply_act_and_dact` computes them
    (the fused small-N Lyapunov kernel's scalar loops); relu: σ' = 1 for v > 0, else 0."""
    if act == TANH:
        return _tanh_sech2(v)
    if act == SIGMOID:
        p, q = _sigmoid_pair(v)
        return p, p * q
    if act == RELU:
        return (v, 1.0) if v > 0.0 else (0.0, 0.0)
    return v, 1.0


@jit(inline="always")
def _dact(code, x):
    """σ'(x) for one scalar (tail-accurate; relu: 1 for x > 0, else 0)."""
    return _act_dact1(code, x)[1]


@jit
def _apply_act(code, a, out):
    """out[i] = σ(a[i]) for 1-D arrays; out may be a."""
    n = a.shape[0]
    # one loop per code, so each loop body is branch-free and vectorises
    if code == TANH:
        for i in range(n):
            out[i] = _tanh_fast(a[i])
    elif code == SIGMOID:
        for i in range(n):
            out[i] = _sigmoid_pair(a[i])[0]
    else:
        for i in range(n):
            out[i] = _act(code, a[i])


@jit
def _apply_dact(code, a, out):
    """out[i] = σ'(a[i]) for 1-D arrays; out may be a."""
    n = a.shape[0]
    if code == TANH:
        for i in range(n):
            out[i] = _tanh_sech2(a[i])[1]
    elif code == SIGMOID:
        for i in range(n):
            p, q = _sigmoid_pair(a[i])
            out[i] = p * q
    else:
        for i in range(n):
            out[i] = _act_dact1(code, a[i])[1]


@jit
def _apply_act_and_dact(code, a, s, ds):
    """s[i] = σ(a[i]) and ds[i] = σ'(a[i]) in one pass (one reduction for both)."""
    n = a.shape[0]
    # one loop per code, so each loop body is branch-free and vectorises
    if code == TANH:
        for i in range(n):
            s[i], ds[i] = _tanh_sech2(a[i])
    elif code == SIGMOID:
        for i in range(n):
            p, q = _sigmoid_pair(a[i])
            s[i] = p
            ds[i] = p * q
    else:
        for i in range(n):
            s[i], ds[i] = _act_dact1(code, a[i])




@jit(inline="always")
def _exp_nonpos(y):
    """e^y for y <= 0 (NaN stays NaN), made only of arithmetic, floor and bit casts, so
    that loops calling it vectorise (libm's exp is a scalar call: 4.7 ns against about
    1 ns here, measured in the gated BPTT kernel).

    y = k ln2 + r, |r| <= ln2/2 (two-part ln2), e^r = (R + r)/(R − r) with fdlibm's R(r²)
    (as in :func:`_tanh_fast`), times 2^k built from exponent bits in two normal factors
    so that subnormal results (y < -708) come out right and y < -745 gives 0.
    """
    y = -750.0 if y < -750.0 else y        # NaN < c is false: NaN passes through
    k = np.floor(y * _INV_LN2 + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    z = r * r
    R = 2.0 + z * (_R1 + z * (_R2 + z * (_R3 + z * (_R4 + z * _R5))))
    er = (R + r) / (R - r)
    kk = k if k > -1100.0 else -1100.0     # NaN: a finite k (r carries the NaN)
    k1 = kk if kk > -1022.0 else -1022.0
    k2 = kk - k1                           # <= 0; 2^k2 is normal for kk >= -2044
    s1 = np.int64((np.int64(k1) + 1023) << 52).view(np.float64)
    s2 = np.int64((np.int64(k2) + 1023) << 52).view(np.float64)
    return (er * s1) * s2


@jit(inline="always")
def _sigmoid_pair(x):
    """(σ(x), σ(-x)) = (1/(1+e), e/(1+e)) with e = exp(-|x|), swapped for x < 0.

    Both are accurate to a few ulp in both tails (σ(-x) = 1 - σ(x) is never formed by a
    subtraction, which would lose everything below 1e-16), so σ'(x) = σ(x) σ(-x) is
    tail-accurate too. The gated cells' gates use it; e comes from :func:`_exp_nonpos`.
    """
    e = _exp_nonpos(-abs(x))
    p = 1.0 / (1.0 + e)
    q = e * p
    if x >= 0.0:
        return p, q
    return q, p
