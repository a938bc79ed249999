"""Tests of the SciPy-compatible signal family (``convolve.signal``).

Every result is compared with SciPy (values, dtype and shape) and with the
independent NumPy oracle in ``tests/reference_signal.py``; the oracle itself
is checked against SciPy in the same tests, so a disagreement points at the
right culprit. Integers are compared exactly, floats with dtype-aware
tolerances relative to the largest output.
"""
import itertools
import warnings

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convolve
from convolve import signal as cs

try:
    from . import reference_signal as ref
except ImportError:
    import reference_signal as ref


# ---------------------------------------------------------------- helpers
def rnd(shape, dtype, seed=0, lo=None, hi=None):
    """Random array; integers in a small range unless `lo`/`hi` are given."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo = max(info.min, -50) if lo is None else lo
        hi = min(info.max, 50) if hi is None else hi
        return rng.integers(lo, hi, shape, dtype=dt, endpoint=True)
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    return rng.standard_normal(shape).astype(dt)


def tol(dtype, fft=False):
    dt = np.dtype(dtype)
    if dt.kind in "biu":
        return 0.0
    single = dt.itemsize <= 4 or dt == np.complex64
    if dt == np.float16:
        return 3e-3
    if fft:
        return 2e-5 if single else 1e-11
    return 1e-5 if single else 1e-12


def assert_match(res, expected, *, fft=False, dtype=True):
    """Same shape and dtype; integers/bools exact, floats close relative to the
    largest magnitude of `expected`."""
    res, expected = np.asarray(res), np.asarray(expected)
    assert res.shape == expected.shape, (res.shape, expected.shape)
    if dtype:
        assert res.dtype == expected.dtype, (res.dtype, expected.dtype)
    if expected.dtype.kind in "biu" and res.dtype.kind in "biu":
        np.testing.assert_array_equal(res, expected)
        return
    t = tol(expected.dtype if dtype else res.dtype, fft)
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    np.testing.assert_allclose(res, expected, rtol=t, atol=t * max(scale, 1e-30))


def scipy_or_error(fn, *args, **kwargs):
    """SciPy's result, or the exception class it raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - we compare the class
            return type(exc)


# shapes of (in1, in2) in 3-D; 1-D/2-D cases take the leading axes
SHAPES = {
    "in1-larger-odd-kernel": ((7, 6, 5), (3, 5, 3)),
    "in1-larger-even-kernel": ((7, 6, 5), (4, 2, 2)),
    "in2-larger-odd": ((3, 2, 4), (7, 5, 5)),
    "in2-larger-even": ((3, 5, 3), (6, 8, 4)),
    "crossed": ((7, 2, 5), (3, 6, 2)),   # neither larger for nd >= 2: 'valid' raises
}

SAME_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "bool", "float32", "float64",
               "complex64", "complex128"]
MIXED_DTYPES = [("uint8", "int8"), ("int16", "float32"), ("int32", "float32"),
                ("float32", "complex128"), ("uint8", "complex64"), ("bool", "int16"),
                ("int64", "float64")]
DTYPE_PAIRS = [(d, d) for d in SAME_DTYPES] + MIXED_DTYPES
MODES = ["full", "same", "valid"]


def shapes_for(case, nd):
    s1, s2 = SHAPES[case]
    return s1[:nd], s2[:nd]


# ------------------------------------------------- convolve / correlate direct
@pytest.mark.parametrize("fn", ["convolve", "correlate"])
@pytest.mark.parametrize("case", list(SHAPES))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtypes", DTYPE_PAIRS, ids="-".join)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_direct_matches_scipy_and_oracle(nd, dtypes, mode, case, fn):
    s1, s2 = shapes_for(case, nd)
    a, b = rnd(s1, dtypes[0], 1), rnd(s2, dtypes[1], 2)
    expected = scipy_or_error(getattr(ss, fn), a, b, mode, method="direct")
    if isinstance(expected, type) and "bool" in dtypes:
        # SciPy's N-D direct path (also used in 1-D 'same' with in2 larger) has no
        # bool kernel ("Unsupported type"); ours extends the rule of its NumPy 1-D
        # path (bool dot: OR of ANDs) everywhere: oracle only
        expected = scipy_or_error(getattr(ref, fn), a, b, mode)
    elif not isinstance(expected, type):
        assert_match(getattr(ref, fn)(a, b, mode), expected)   # oracle sanity
    if isinstance(expected, type):
        with pytest.raises(expected):
            getattr(ref, fn)(a, b, mode)
        with pytest.raises(expected):
            getattr(cs, fn)(a, b, mode, method="direct")
        return
    res = getattr(cs, fn)(a, b, mode, method="direct")
    assert_match(res, expected)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int32", "uint32",
                                   "int64", "uint64"])
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("fn", ["convolve", "correlate"])
def test_integer_wraparound_matches_scipy(fn, nd, dtype):
    # full-range values: products and sums overflow the dtype; SciPy returns the
    # exact result reduced modulo 2**bits (NumPy wrap-around), the oracle too
    s1, s2 = shapes_for("in1-larger-odd-kernel", nd)
    info = np.iinfo(dtype)
    a = rnd(s1, dtype, 3, info.min, info.max)
    b = rnd(s2, dtype, 4, info.min, info.max)
    expected = getattr(ss, fn)(a, b, "full", method="direct")
    assert_match(getattr(ref, fn)(a, b), expected)
    assert_match(getattr(cs, fn)(a, b, method="direct"), expected)
    assert_match(getattr(cs, fn)(a, b, method="auto"), expected)


@pytest.mark.parametrize("nd", [1, 2])
def test_int64_exact_beyond_int32_and_float64(nd):
    # values ~2**30 and ~2**28, sums < 2**62: exact in int64 (SciPy's result
    # dtype), wrong with an int32 or a float64 (53-bit) accumulator
    s1, s2 = shapes_for("in1-larger-odd-kernel", nd)
    a = rnd(s1, np.int64, 5, 2**30 - 1000, 2**30 + 1000)
    b = rnd(s2, np.int64, 6, 2**28 - 1000, 2**28 + 1000)
    expected = ss.convolve(a, b, method="direct")
    assert expected.dtype == np.int64
    exact = ref.convolve(a, b)
    np.testing.assert_array_equal(exact, expected)
    assert 2**58 < int(np.abs(expected).max()) < 2**62
    # the test has teeth: float64 accumulation is not exact here
    assert not np.array_equal(ref.convolve(a.astype(float), b.astype(float)).astype(np.int64),
                              expected)
    for method in ("direct", "auto"):
        assert_match(cs.convolve(a, b, method=method), expected)
        assert_match(cs.correlate(a, b, method=method), ss.correlate(a, b, method="direct"))


def test_int32_partial_sums_overflow_but_result_fits():
    # every product is ~2**60, the signed terms cancel: the result fits in int32
    a = np.array([2**30, -(2**30), 2**30, -(2**30), 7], dtype=np.int32)
    b = np.array([2**30 - 1, 2**30 - 1], dtype=np.int32)
    expected = ss.convolve(a, b, method="direct")
    assert expected.dtype == np.int32
    np.testing.assert_array_equal(ref.convolve(a, b), expected)
    assert_match(cs.convolve(a, b, method="direct"), expected)


# ----------------------------------------------------- convolve2d / correlate2d
BOUNDARIES_2D = [("fill", 0), ("fill", 2), ("pad-float", 1.5), ("wrap", 0), ("circular", 0),
                 ("symm", 0), ("symmetric", 0)]


@pytest.mark.parametrize("fn", ["convolve2d", "correlate2d"])
@pytest.mark.parametrize("case", list(SHAPES))
@pytest.mark.parametrize("boundary", BOUNDARIES_2D, ids=lambda p: f"{p[0]}{p[1]}")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["int16", "float32", "float64", "complex128"])
def test_2d_matches_scipy(dtype, mode, boundary, case, fn):
    bname, fillvalue = boundary
    bname = "fill" if bname == "pad-float" else bname
    s1, s2 = shapes_for(case, 2)
    a, b = rnd(s1, dtype, 7), rnd(s2, dtype, 8)
    expected = scipy_or_error(getattr(ss, fn), a, b, mode, bname, fillvalue)
    if isinstance(expected, type):
        with pytest.raises(expected):
            getattr(cs, fn)(a, b, mode, bname, fillvalue)
        return
    oracle = getattr(ref, fn)(a, b, mode, bname, fillvalue)
    swapped_complex_corr = (fn == "correlate2d" and mode == "valid" and a.dtype.kind == "c"
                            and a.shape != b.shape and all(i <= j for i, j in zip(s1, s2)))
    if swapped_complex_corr:
        # SciPy quirk: it returns the conjugate here (see reference_signal docstring);
        # we follow the definition, which scipy.signal.correlate also follows
        assert_match(oracle, np.conj(expected))
        assert_match(oracle, ss.correlate(a, b, mode, method="direct"))
        expected = oracle
    else:
        assert_match(oracle, expected)
    assert_match(getattr(cs, fn)(a, b, mode, bname, fillvalue), expected)


@pytest.mark.parametrize("n2", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("n1", [1, 4, 7])
def test_same_mode_centring_rules(n1, n2):
    # a unit impulse at position p of in2 shifts in1 by p: the 'same' window is
    # full[start:start + n1] with start = (n2-1)//2 (convolve, correlate,
    # convolve2d) and n2//2 (correlate2d); checked on SciPy and on us
    x = np.arange(1, n1 + 1, dtype=float)
    k = np.zeros(n2)
    k[n2 - 1] = 1.0                       # full conv = x shifted by n2-1; full corr = x
    full_conv = np.concatenate([np.zeros(n2 - 1), x])
    full_corr = np.concatenate([x, np.zeros(n2 - 1)])
    s_conv, s_c2d = (n2 - 1) // 2, n2 // 2
    want_conv = full_conv[s_conv:s_conv + n1]
    want_corr = full_corr[s_conv:s_conv + n1]
    want_corr2d = full_corr[s_c2d:s_c2d + n1]
    for lib in (ss, cs):
        for method in ("direct", "fft"):
            np.testing.assert_allclose(lib.convolve(x, k, "same", method=method), want_conv,
                                       atol=1e-12)
            np.testing.assert_allclose(lib.correlate(x, k, "same", method=method), want_corr,
                                       atol=1e-12)
        np.testing.assert_array_equal(lib.convolve2d(x[None], k[None], "same")[0], want_conv)
        np.testing.assert_array_equal(lib.convolve2d(x[:, None], k[:, None], "same")[:, 0],
                                      want_conv)
        np.testing.assert_array_equal(lib.correlate2d(x[None], k[None], "same")[0],
                                      want_corr2d)
        np.testing.assert_array_equal(lib.correlate2d(x[:, None], k[:, None], "same")[:, 0],
                                      want_corr2d)


# ------------------------------------------------------- N-D boundary extension
BOUNDARIES = ["fill", "wrap", "symm", "reflect", "nearest"]


@pytest.mark.parametrize("fn", ["convolve", "correlate"])
@pytest.mark.parametrize("case", ["in1-larger-odd-kernel", "in1-larger-even-kernel",
                                  "in2-larger-odd", "in2-larger-even"])
@pytest.mark.parametrize("mode", ["full", "same"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_nd_boundary_matches_oracle(nd, boundary, mode, case, fn):
    s1, s2 = shapes_for(case, nd)
    a, b = rnd(s1, np.float64, 9), rnd(s2, np.float64, 10)
    fillvalue = 1.25 if boundary == "fill" else 0
    expected = getattr(ref, fn)(a, b, mode, boundary=boundary, fillvalue=fillvalue)
    res = getattr(cs, fn)(a, b, mode, method="direct", boundary=boundary, fillvalue=fillvalue)
    assert_match(res, expected)
    res_fft = getattr(cs, fn)(a, b, mode, method="fft", boundary=boundary,
                              fillvalue=fillvalue)
    assert_match(res_fft, expected, fft=True)


@pytest.mark.parametrize("fn", ["convolve", "correlate"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_nd_boundary_exact_integers(fn, boundary):
    a, b = rnd((6, 5), np.int32, 11), rnd((3, 4), np.int32, 12)
    fillvalue = 3 if boundary == "fill" else 0
    for mode in ("full", "same", "valid"):
        expected = getattr(ref, fn)(a, b, mode, boundary=boundary, fillvalue=fillvalue)
        assert_match(getattr(cs, fn)(a, b, mode, method="direct", boundary=boundary,
                                     fillvalue=fillvalue), expected)


@pytest.mark.parametrize("alias,canonical", [("circular", "wrap"), ("symmetric", "symm"),
                                             ("mirror", "reflect"), ("edge", "nearest")])
def test_nd_boundary_aliases(alias, canonical):
    a, b = rnd((6, 7), np.float64, 13), rnd((3, 4), np.float64, 14)
    expected = ref.convolve(a, b, "same", boundary=canonical)
    assert_match(cs.convolve(a, b, "same", method="direct", boundary=alias), expected)
    np.testing.assert_array_equal(cs.convolve(a, b, "same", method="direct", boundary=alias),
                                  cs.convolve(a, b, "same", method="direct",
                                              boundary=canonical))


@pytest.mark.parametrize("boundary,fillvalue,at0,at3", [
    ("fill", 0, 6, 9), ("fill", 10, 26, 29), ("wrap", 0, 13, 12), ("symm", 0, 9, 16),
    ("reflect", 0, 11, 14), ("nearest", 0, 8, 17)])
def test_boundary_hand_computed(boundary, fillvalue, at0, at3):
    # x = [1, 2, 3, 4], five ones, 'same' (start 2): out[j] = sum ext[j-2 .. j+2]
    # wrap ..3 4|1 2 3 4|1 2..  symm ..2 1|..|4 3..  reflect ..3 2|..|3 2..  nearest ..1 1|..|4 4..
    x = np.array([1, 2, 3, 4])
    k = np.ones(5, dtype=np.int64)
    for res in (cs.convolve(x, k, "same", method="direct", boundary=boundary,
                            fillvalue=fillvalue),
                ref.convolve(x, k, "same", boundary=boundary, fillvalue=fillvalue)):
        assert res.dtype == np.int64
        assert (res[0], res[3]) == (at0, at3)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", MODES)
def test_nd_boundary_equals_convolve2d(boundary, mode):
    # in 2-D the N-D extension must agree with SciPy's convolve2d/correlate2d
    a, b = rnd((7, 6), np.float64, 15), rnd((4, 3), np.float64, 16)
    fv = 0.5 if boundary == "fill" else 0
    assert_match(cs.convolve(a, b, mode, method="direct", boundary=boundary, fillvalue=fv),
                 ss.convolve2d(a, b, mode, boundary, fv))
    # correlate centres 'same' by (n2-1)//2, correlate2d by n2//2: equal in full/valid,
    # and in 'same' for an odd kernel
    b3 = rnd((3, 5), np.float64, 17)
    assert_match(cs.correlate(a, b3, mode, method="direct", boundary=boundary, fillvalue=fv),
                 ss.correlate2d(a, b3, mode, boundary, fv))


# ------------------------------------------------------------------ axes / batch
AXES_CASES = [
    # in1 shape, in2 shape, axes
    ((4, 9, 7), (1, 3, 2), (1, 2)),        # in2 broadcast over the batch
    ((1, 9, 7), (4, 3, 4), (1, 2)),        # in1 broadcast
    ((3, 8, 5), (3, 2, 5), (1,)),          # two batch axes, equal extents
    ((6, 3, 5), (2, 3, 4), (0, 2)),        # batch axis in the middle
    ((5, 2, 9), (5, 1, 4), (-1,)),         # negative axis, two batch axes, one broadcast
    ((8, 3), (3, 3), 0),                   # int axes
    ((3, 4, 5), (3, 6, 7), (1, 2)),        # in2 larger along the axes ('valid' swaps)
]


def loop_scipy(fn, a, b, mode, axes):
    """SciPy over every batch entry (batch axes moved first, broadcast)."""
    nd = a.ndim
    axes = [axes] if np.ndim(axes) == 0 else list(axes)
    axes = sorted(int(x) % nd for x in axes)
    batch = [i for i in range(nd) if i not in axes]
    am, bm = np.moveaxis(a, batch, range(len(batch))), np.moveaxis(b, batch, range(len(batch)))
    B = np.broadcast_shapes(am.shape[:len(batch)], bm.shape[:len(batch)])
    am = np.broadcast_to(am, B + am.shape[len(batch):])
    bm = np.broadcast_to(bm, B + bm.shape[len(batch):])
    pieces = [getattr(ss, fn)(am[i], bm[i], mode, method="direct") for i in np.ndindex(*B)]
    out = np.stack(pieces).reshape(B + pieces[0].shape)
    return np.moveaxis(out, range(len(batch)), batch)


@pytest.mark.parametrize("fn", ["convolve", "correlate"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["int32", "float64", "complex128"])
@pytest.mark.parametrize("shapes", AXES_CASES, ids=str)
def test_axes_batch_matches_scipy_loop(shapes, dtype, mode, fn):
    s1, s2, axes = shapes
    a, b = rnd(s1, dtype, 18), rnd(s2, dtype, 19)
    expected = scipy_or_error(loop_scipy, fn, a, b, mode, axes)
    if isinstance(expected, type):
        with pytest.raises(ValueError):
            getattr(cs, fn)(a, b, mode, method="direct", axes=axes)
        return
    assert_match(getattr(ref, fn)(a, b, mode, axes=axes), expected)
    assert_match(getattr(cs, fn)(a, b, mode, method="direct", axes=axes), expected)
    if dtype != "int32":
        assert_match(getattr(cs, fn)(a, b, mode, method="fft", axes=axes), expected,
                     fft=True)


def test_axes_batch_mismatch_raises():
    a, b = np.ones((3, 8)), np.ones((2, 3))
    with pytest.raises(ValueError):
        ss.fftconvolve(a, b, axes=1)
    for fn in (cs.convolve, cs.correlate, cs.fftconvolve):
        with pytest.raises(ValueError):
            fn(a, b, axes=1)


def test_axes_with_boundary():
    a, b = rnd((3, 10), np.float64, 20), rnd((1, 4), np.float64, 21)
    for boundary in BOUNDARIES:
        res = cs.convolve(a, b, "same", method="direct", axes=1, boundary=boundary)
        for i in range(3):
            assert_match(res[i], ref.convolve(a[i], b[0], "same", boundary=boundary))


# ------------------------------------------------------------------ thin shapes
@pytest.mark.parametrize("method", ["direct", "auto"])
def test_thin_outer_product(method):
    # (1000, 1) * (1, 1000) is an outer product; it must not be pathological
    u = rnd((1000, 1), np.float64, 22).round(3)
    v = rnd((1, 1000), np.float64, 23).round(3)
    outer = np.outer(u[:, 0], v[0])
    assert_match(cs.convolve(u, v, method=method), outer)
    assert_match(cs.convolve(v, u, method=method), outer)        # commutes
    assert_match(cs.correlate(u, v, method=method), np.outer(u[:, 0], v[0, ::-1]))
    assert_match(cs.convolve2d(u, v), outer)
    # 'same' keeps in1's shape: column 499 .. (centred on in2's (1000-1)//2)
    assert_match(cs.convolve(u, v, "same", method=method), outer[:, 499:500])


# ------------------------------------------------------------------ 0-d inputs
@pytest.mark.parametrize("x,y", [(3, 4), (np.int8(100), np.int8(3)), (2.5, -1.0),
                                 (np.float32(2), np.float32(3)), (3j, 2j), (1 + 2j, 3)])
@pytest.mark.parametrize("fn", ["convolve", "correlate"])
def test_zero_dim(fn, x, y):
    expected = getattr(ss, fn)(np.asarray(x), np.asarray(y))
    res = getattr(cs, fn)(np.asarray(x), np.asarray(y))
    assert_match(res, expected)
    assert_match(res, ref.convolve(x, y, _correlate=fn == "correlate"))


# ------------------------------------------------------------------ errors
def both_raise(exc, scipy_fn, ours_fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc):
            scipy_fn(*args, **kwargs)
    with pytest.raises(exc):
        ours_fn(*args, **kwargs)


@pytest.mark.parametrize("method", ["direct", "fft", "auto"])
@pytest.mark.parametrize("fn", ["convolve", "correlate"])
def test_errors_nd(fn, method):
    f_s, f_o = getattr(ss, fn), getattr(cs, fn)
    both_raise(ValueError, f_s, f_o, np.ones(3), np.ones((2, 2)), method=method)
    both_raise(ValueError, f_s, f_o, np.ones(3), 2.0, method=method)
    both_raise(ValueError, f_s, f_o, np.ones(3), np.ones(2), "bad", method=method)
    both_raise(ValueError, f_s, f_o, np.ones((3, 2)), np.ones((2, 3)), "valid",
               method=method)
    both_raise(ValueError, f_s, f_o, np.ones((3, 2, 4)), np.ones((2, 3, 4)), "valid",
               method=method)


@pytest.mark.parametrize("fn", ["convolve", "correlate"])
def test_errors_method_and_boundary(fn):
    both_raise(ValueError, getattr(ss, fn), getattr(cs, fn), np.ones(3), np.ones(2),
               method="bad")
    with pytest.raises(ValueError):
        getattr(cs, fn)(np.ones(3), np.ones(2), boundary="bad")


@pytest.mark.parametrize("fn", ["convolve2d", "correlate2d"])
def test_errors_2d(fn):
    f_s, f_o = getattr(ss, fn), getattr(cs, fn)
    both_raise(ValueError, f_s, f_o, np.ones(3), np.ones(3))
    both_raise(ValueError, f_s, f_o, np.ones((3, 3, 3)), np.ones((2, 2, 2)))
    both_raise(ValueError, f_s, f_o, np.ones((3, 3)), np.ones((2, 2)), "bad")
    both_raise(ValueError, f_s, f_o, np.ones((3, 3)), np.ones((2, 2)), boundary="bad")
    both_raise(ValueError, f_s, f_o, np.ones((3, 3)), np.ones((2, 2)), boundary="reflect")
    both_raise(ValueError, f_s, f_o, np.ones((3, 2)), np.ones((2, 3)), "valid")
    both_raise(ValueError, f_s, f_o, np.ones((3, 3)), np.ones((2, 2)), fillvalue=[1, 2])
    both_raise(ValueError, f_s, f_o, np.ones((3, 3)), np.ones((2, 2)), fillvalue=1j)


@pytest.mark.parametrize("fn", ["fftconvolve", "oaconvolve"])
def test_errors_fft(fn):
    f_s, f_o = getattr(ss, fn), getattr(cs, fn)
    both_raise(ValueError, f_s, f_o, np.ones(3), np.ones((2, 2)))
    both_raise(ValueError, f_s, f_o, np.ones(3), np.ones(2), "bad")
    both_raise(ValueError, f_s, f_o, np.ones((3, 2)), np.ones((2, 3)), "valid")


@pytest.mark.parametrize("axes", [[], (1, 1), 2, -3, (0.5,)], ids=str)
@pytest.mark.parametrize("fn", ["convolve", "correlate", "fftconvolve", "oaconvolve"])
def test_errors_axes(fn, axes):
    # SciPy's rules for axes= (fftconvolve): all ValueError
    both_raise(ValueError, ss.fftconvolve, getattr(cs, fn), np.ones((3, 8)),
               np.ones((3, 3)), axes=axes)


@pytest.mark.parametrize("fn", ["convolve", "correlate", "fftconvolve", "oaconvolve"])
def test_errors_empty_axes_broadcastable(fn):
    # empty axes with shapes that broadcast: still SciPy's ValueError, not a crash
    both_raise(ValueError, ss.fftconvolve, getattr(cs, fn), np.ones((2, 3)),
               np.ones((2, 3)), axes=[])


@pytest.mark.parametrize("fn", ["convolve2d", "correlate2d"])
def test_errors_fillvalue_not_representable(fn):
    a, b = np.arange(6, dtype=np.int16).reshape(2, 3), np.ones((2, 2), np.int16)
    for fv in (70000, np.nan):
        both_raise(ValueError, getattr(ss, fn), getattr(cs, fn), a, b, fillvalue=fv)


@pytest.mark.parametrize("dtype", [object, np.longdouble])
def test_unsupported_dtypes_raise_typeerror(dtype):
    # documented refusal (contract): object and extended precision are TypeError
    if np.dtype(dtype) == np.float64:
        pytest.skip("longdouble is float64 on this platform")
    for fn in (cs.convolve, cs.correlate):
        with pytest.raises(TypeError):
            fn(np.ones(4, dtype), np.ones(2), method="direct")


def test_float16_1d_as_scipy():
    a, b = rnd((30,), np.float16, 52), rnd((5,), np.float16, 53)
    for mode in MODES:
        expected = ss.convolve(a, b, mode, method="direct")
        assert expected.dtype == np.float16
        assert_match(cs.convolve(a, b, mode, method="direct"), expected)


def test_errors_choose_conv_method():
    both_raise(ValueError, ss.choose_conv_method, cs.choose_conv_method, np.ones(3),
               np.ones(2), "bad")


# ------------------------------------------------------------------ empty inputs
EMPTY_CASES = [((0,), (3,)), ((3,), (0,)), ((0,), (0,)), ((0, 3), (2, 2)), ((2, 0), (2, 2)),
               ((2, 2), (0, 3))]


@pytest.mark.parametrize("fn", ["fftconvolve", "oaconvolve"])
@pytest.mark.parametrize("shapes", EMPTY_CASES, ids=str)
def test_empty_fft_family_as_scipy(shapes, fn):
    a, b = np.ones(shapes[0], np.float32), np.ones(shapes[1], np.float32)
    assert_match(getattr(cs, fn)(a, b), getattr(ss, fn)(a, b))


@pytest.mark.parametrize("shapes", EMPTY_CASES, ids=str)
def test_empty_inputs(shapes):
    # SciPy is inconsistent on empty inputs (ValueError from np.convolve, IndexError
    # in the fft path, uninitialized memory for (2, 0) 'valid'); where its direct
    # path returns an array ('same' with an empty in1), the shape is in1's; where
    # neither shape is at least the other ('valid'), it raises ValueError.
    # Elsewhere we require an empty (or all-zero) result of the result dtype.
    a, b = np.ones(shapes[0], np.int16), np.ones(shapes[1], np.int16)
    for fn, method, mode in itertools.product(["convolve", "correlate"],
                                              ["direct", "fft", "auto"], MODES):
        if mode == "valid" and not (all(i >= j for i, j in zip(*shapes))
                                    or all(i <= j for i, j in zip(*shapes))):
            with pytest.raises(ValueError):
                getattr(cs, fn)(a, b, mode, method=method)
            continue
        res = getattr(cs, fn)(a, b, mode, method=method)
        assert res.dtype == np.int16
        # mathematically every output is an empty sum: either no output at all, or
        # zeros of the mode's shape (n1 + n2 - 1, n1, or max - min + 1 per axis)
        formula = {"full": [i + j - 1 for i, j in zip(*shapes)], "same": list(shapes[0]),
                   "valid": [max(i, j) - min(i, j) + 1 for i, j in zip(*shapes)]}[mode]
        assert res.size == 0 or (list(res.shape) == formula and not res.any()), res.shape
        sci = scipy_or_error(getattr(ss, fn), a, b, mode, method="direct")
        if mode == "same" and not isinstance(sci, type):
            assert res.shape == sci.shape == a.shape


# --------------------------------------------------------- fft / auto vs direct
@pytest.mark.parametrize("fn", ["convolve", "correlate"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["int16", "float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_fft_and_auto_agree_with_direct(nd, dtype, mode, fn):
    s1, s2 = shapes_for("in1-larger-even-kernel", nd)
    # small integers: the FFT path rounds floats, it cannot reproduce wrap-around
    a, b = rnd(s1, dtype, 24, -10, 10), rnd(s2, dtype, 25, -10, 10)
    direct = getattr(cs, fn)(a, b, mode, method="direct")
    for method in ("fft", "auto"):
        res = getattr(cs, fn)(a, b, mode, method=method)
        assert_match(res, direct, fft=True)
        assert_match(res, getattr(ss, fn)(a, b, mode, method=method), fft=True)


@pytest.mark.parametrize("fn", ["convolve", "correlate"])
def test_auto_on_large_kernel(fn):
    # big enough that a cost model should pick the FFT; the answer must not change
    a, b = rnd((96, 96), np.float64, 26), rnd((31, 33), np.float64, 27)
    direct = getattr(ss, fn)(a, b, "same", method="direct")
    for method in ("auto", "fft", "direct"):
        assert_match(getattr(cs, fn)(a, b, "same", method=method), direct, fft=True)


@pytest.mark.parametrize("method", ["direct", "fft", "auto"])
def test_integer_fft_rounds_to_exact(method):
    a, b = rnd((40,), np.int32, 28, -1000, 1000), rnd((9,), np.int32, 29, -1000, 1000)
    assert_match(cs.convolve(a, b, method=method), ref.convolve(a, b))


def test_direct_nan_stays_local():
    # a NaN only reaches the outputs whose window covers it (the FFT would spread it)
    a = np.arange(20.0)
    a[10] = np.nan
    b = np.array([1.0, 2.0, 3.0])
    res = cs.convolve(a, b, method="direct")
    expected = ss.convolve(a, b, method="direct")
    np.testing.assert_array_equal(np.isnan(res), np.isnan(expected))
    assert np.isnan(res).sum() == 3
    np.testing.assert_allclose(res[~np.isnan(res)], expected[~np.isnan(expected)])


# ------------------------------------------------------- fftconvolve / oaconvolve
@pytest.mark.parametrize("fn", ["fftconvolve", "oaconvolve"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128", "int16"])
@pytest.mark.parametrize("case", ["in1-larger-odd-kernel", "in2-larger-even"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_fft_family_matches_scipy(nd, case, dtype, mode, fn):
    s1, s2 = shapes_for(case, nd)
    a, b = rnd(s1, dtype, 30), rnd(s2, dtype, 31)
    expected = getattr(ss, fn)(a, b, mode)
    res = getattr(cs, fn)(a, b, mode)
    assert_match(res, expected, fft=True)
    if np.dtype(dtype).kind != "i":
        assert_match(res, ref.convolve(a, b, mode), fft=True)


@pytest.mark.parametrize("fn", ["fftconvolve", "oaconvolve"])
@pytest.mark.parametrize("shapes", AXES_CASES, ids=str)
def test_fft_family_axes(shapes, fn):
    s1, s2, axes = shapes
    a, b = rnd(s1, np.float64, 32), rnd(s2, np.float64, 33)
    ax = [axes] if np.ndim(axes) == 0 else [x % len(s1) for x in axes]
    for mode in MODES:
        expected = scipy_or_error(getattr(ss, fn), a, b, mode, axes=axes)
        if isinstance(expected, type):
            with pytest.raises(expected):
                getattr(cs, fn)(a, b, mode, axes=axes)
            continue
        oracle = ref.convolve(a, b, mode, axes=axes)
        if mode == "same" and any(i < j for n, (i, j) in enumerate(zip(s1, s2))
                                  if n not in ax):
            # scipy/scipy#21876 (open): SciPy's 'same' crops broadcast batch axes
            # back to in1's extent; the documented result keeps the broadcast batch
            assert expected.shape != oracle.shape
            expected = oracle
        assert_match(oracle, expected, fft=True)
        assert_match(getattr(cs, fn)(a, b, mode, axes=axes), expected, fft=True)


def test_oaconvolve_long_signal():
    # long enough for overlap-add to use several blocks
    a, b = rnd((5000,), np.float64, 34), rnd((37,), np.float64, 35)
    for mode in MODES:
        assert_match(cs.oaconvolve(a, b, mode), ss.convolve(a, b, mode, method="direct"),
                     fft=True)


# ------------------------------------------------------- choose_conv_method
def test_choose_conv_method():
    # integers: always exact
    assert cs.choose_conv_method(np.ones(1000, np.int64), np.ones(5, np.int64)) == "direct"
    # clear-cut cases on which SciPy agrees
    tiny = (np.ones(1000), np.ones(3))
    huge = (np.ones((512, 512)), np.ones((64, 64)))
    assert cs.choose_conv_method(*tiny) == ss.choose_conv_method(*tiny) == "direct"
    assert cs.choose_conv_method(*huge) == ss.choose_conv_method(*huge) == "fft"
    for mode in MODES:
        assert cs.choose_conv_method(*tiny, mode=mode) in ("direct", "fft")
    method, times = cs.choose_conv_method(np.ones(200), np.ones(9), measure=True)
    assert method in ("direct", "fft") and set(times) == {"direct", "fft"}
    assert all(t > 0 for t in times.values()) and times[method] == min(times.values())


# ------------------------------------------------------- threads
THREAD_CASES = [((200_000,), (9,)), ((128, 200), (7, 5)), ((16, 32, 40), (3, 5, 3))]


@pytest.mark.parametrize("dtype", ["int32", "float32", "float64", "complex128"])
@pytest.mark.parametrize("shapes", THREAD_CASES, ids=str)
def test_workers_bitwise_identical(shapes, dtype):
    a, b = rnd(shapes[0], dtype, 36), rnd(shapes[1], dtype, 37)
    for fn in ("convolve", "correlate"):
        for mode in MODES:
            r1 = getattr(cs, fn)(a, b, mode, method="direct", workers=1)
            r2 = getattr(cs, fn)(a, b, mode, method="direct", workers=2)
            assert r1.dtype == r2.dtype
            np.testing.assert_array_equal(r1.view(np.uint8), r2.view(np.uint8))
            with convolve.threads(2):
                r3 = getattr(cs, fn)(a, b, mode, method="direct")
            np.testing.assert_array_equal(r1.view(np.uint8), r3.view(np.uint8))
    # and the values are right
    if len(shapes[0]) == 2:
        assert_match(r1, ss.correlate(a, b, "valid", method="direct"))


def test_workers_bitwise_batch_and_2d():
    a, b = rnd((6, 64, 90), np.float32, 38), rnd((6, 5, 5), np.float32, 39)
    r1 = cs.convolve(a, b, "same", method="direct", axes=(1, 2), workers=1)
    r2 = cs.convolve(a, b, "same", method="direct", axes=(1, 2), workers=2)
    np.testing.assert_array_equal(r1.view(np.uint32), r2.view(np.uint32))
    c1 = cs.correlate2d(a[0], b[0], "same", "symm", workers=1)
    c2 = cs.correlate2d(a[0], b[0], "same", "symm", workers=2)
    np.testing.assert_array_equal(c1.view(np.uint32), c2.view(np.uint32))
    assert_match(c1, ss.correlate2d(a[0], b[0], "same", "symm"))


def test_workers_bad_value():
    with pytest.raises(ValueError):
        cs.convolve(np.ones(5), np.ones(2), workers=0)


# ------------------------------------------------------- dtype preservation
@pytest.mark.parametrize("call", [
    lambda a, b: cs.convolve(a, b, method="direct"),
    lambda a, b: cs.convolve(a, b, method="fft"),
    lambda a, b: cs.convolve(a, b, method="auto"),
    lambda a, b: cs.correlate(a, b, "same", method="direct"),
    lambda a, b: cs.correlate(a, b, "same", method="fft"),
    lambda a, b: cs.convolve(a, b, "same", method="direct", boundary="reflect"),
    lambda a, b: cs.convolve2d(a, b, "same", "symm"),
    lambda a, b: cs.correlate2d(a, b, "valid"),
    lambda a, b: cs.fftconvolve(a, b, "same"),
    lambda a, b: cs.oaconvolve(a, b, "same"),
    lambda a, b: cs.convolve(a, b[:1], "same", method="direct", axes=1),
], ids=["conv-direct", "conv-fft", "conv-auto", "corr-direct", "corr-fft", "reflect",
        "conv2d", "corr2d", "fftconvolve", "oaconvolve", "axes"])
@pytest.mark.parametrize("dtype,wide", [("float32", "float64"), ("complex64", "complex128")])
def test_single_precision_stays_single(call, dtype, wide):
    a, b = rnd((12, 10), dtype, 40), rnd((3, 4), dtype, 41)
    res = call(a, b)
    assert res.dtype == np.dtype(dtype)
    assert_match(res, call(a.astype(wide), b.astype(wide)).astype(dtype), fft=True)


# ------------------------------------------------------- memory layouts
def layouts(dtype):
    base = rnd((14, 18), dtype, 42)
    ro = base[:7, :9].copy()
    ro.setflags(write=False)
    return {
        "strided": base[::2, 1::2],
        "fortran": np.asfortranarray(base[:7, :9]),
        "transposed": base[:9, :7].T,
        "negative": base[6::-1, ::-2][:, :9],
        "readonly": ro,
        "broadcast": np.broadcast_to(base[0, :9], (7, 9)),
    }


@pytest.mark.parametrize("layout", ["strided", "fortran", "transposed", "negative", "readonly",
                                    "broadcast"])
@pytest.mark.parametrize("dtype", ["int16", "float32", "complex128"])
def test_layouts(layout, dtype):
    a = layouts(dtype)[layout]
    a_before = a.copy()
    kb = rnd((6, 8), dtype, 43)[::2, ::-2]        # (3, 4), non-contiguous, reversed
    kb_ro = kb.copy()
    kb_ro.setflags(write=False)
    for k in (kb, kb_ro):
        for mode in MODES:
            assert_match(cs.convolve(a, k, mode, method="direct"),
                         ss.convolve(np.ascontiguousarray(a), np.ascontiguousarray(k), mode,
                                     method="direct"))
            assert_match(cs.correlate(a, k, mode, method="direct"),
                         ref.correlate(a, k, mode))
            assert_match(cs.correlate2d(a, k, mode, "wrap"),
                         ss.correlate2d(np.ascontiguousarray(a), np.ascontiguousarray(k),
                                        mode, "wrap"))
    np.testing.assert_array_equal(a, a_before)          # inputs untouched


@pytest.mark.parametrize("dtype", [">f8", ">i4", ">c16"])
def test_byteswapped(dtype):
    a = rnd((7, 6), np.dtype(dtype).newbyteorder("="), 44).astype(dtype)
    b = rnd((3, 2), np.dtype(dtype).newbyteorder("="), 45).astype(dtype)
    expected = ref.convolve(a.astype(a.dtype.newbyteorder("=")),
                            b.astype(b.dtype.newbyteorder("=")), "same")
    for method in ("direct", "auto"):
        res = cs.convolve(a, b, "same", method=method)
        assert res.dtype.newbyteorder("=") == expected.dtype
        assert_match(res, expected, dtype=False)
    assert_match(cs.convolve2d(a, b, "same"), expected, dtype=False)


# ------------------------------------------------------- out=, N-D > 3, re-exports
def test_out_argument():
    a, b = rnd((9, 8), np.float64, 46), rnd((3, 3), np.float64, 47)
    out = np.empty((9, 8))
    res = cs.convolve(a, b, "same", method="direct", out=out)
    assert res is out
    assert_match(out, ss.convolve(a, b, "same", method="direct"))
    with pytest.raises(ValueError):
        cs.convolve(a, b, "full", method="direct", out=np.empty((9, 8)))
    with pytest.raises(ValueError):
        cs.convolve(a, b, "same", method="direct", out=np.empty((9, 8), np.float32))


@pytest.mark.parametrize("fn", ["convolve", "correlate"])
def test_four_dimensions(fn):
    a, b = rnd((4, 3, 5, 4), np.float64, 48), rnd((2, 3, 2, 3), np.float64, 49)
    for mode in MODES:
        expected = getattr(ss, fn)(a, b, mode, method="direct")
        assert_match(getattr(cs, fn)(a, b, mode, method="direct"), expected)
        assert_match(getattr(ref, fn)(a, b, mode), expected)
    for boundary in ("wrap", "reflect"):     # the N-D extension beyond 3 axes
        assert_match(getattr(cs, fn)(a, b, "same", method="direct", boundary=boundary),
                     getattr(ref, fn)(a, b, "same", boundary=boundary))


def test_top_level_reexports():
    a, b = rnd((10,), np.float64, 50), rnd((3,), np.float64, 51)
    for name in ("convolve", "correlate", "fftconvolve", "oaconvolve"):
        assert_match(getattr(convolve, name)(a, b), getattr(ss, name)(a, b), fft=True)
    assert_match(convolve.convolve2d(a[None], b[None]), ss.convolve2d(a[None], b[None]))
    assert_match(convolve.correlate2d(a[None], b[None]), ss.correlate2d(a[None], b[None]))


# ------------------------------------------------------- hypothesis
@st.composite
def conv_problems(draw):
    nd = draw(st.integers(1, 3))
    s1 = tuple(draw(st.integers(1, 6)) for _ in range(nd))
    s2 = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    mode = draw(st.sampled_from(MODES))
    if mode == "valid":
        if draw(st.booleans()):
            s2 = tuple(min(i, j) for i, j in zip(s1, s2))       # in1 larger
        else:
            s1 = tuple(min(i, j) for i, j in zip(s1, s2))       # in2 larger
    dtype = draw(st.sampled_from(["int16", "int64", "float64", "complex128", "float32"]))
    boundary = draw(st.sampled_from(BOUNDARIES)) if mode != "valid" else "fill"
    fillvalue = draw(st.integers(-3, 3)) if boundary == "fill" else 0
    fn = draw(st.sampled_from(["convolve", "correlate"]))
    seed = draw(st.integers(0, 2**16))
    return s1, s2, mode, dtype, boundary, fillvalue, fn, seed


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_problems())
def test_hypothesis_direct_vs_oracle(problem):
    s1, s2, mode, dtype, boundary, fillvalue, fn, seed = problem
    a, b = rnd(s1, dtype, seed), rnd(s2, dtype, seed + 1)
    expected = getattr(ref, fn)(a, b, mode, boundary=boundary, fillvalue=fillvalue)
    res = getattr(cs, fn)(a, b, mode, method="direct", boundary=boundary,
                          fillvalue=fillvalue)
    assert_match(res, expected)
    if boundary == "fill" and fillvalue == 0:
        assert_match(res, getattr(ss, fn)(a, b, mode, method="direct"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kshape", [((45, 70), (5, 5)), ((23, 33), (3, 7)),
                                           ((17, 129), (9, 2)), ((12, 40), (1, 4))])
def test_row_tiles_do_not_change_bits(shape, kshape, dtype):
    """One plane runs in tiles of four output rows x 32 (float) / 16 (double)
    columns, the leftover rows by the flattened tile: every output sums its
    taps in the same order either way, so shifting the image by 1-3 rows
    (which moves each output between the two) changes no bit; against the
    oracle too."""
    rng = np.random.default_rng(11)
    img = rng.standard_normal(shape).astype(dtype)
    k = rng.standard_normal(kshape).astype(dtype)
    whole = cs.correlate(img, k, mode="valid", workers=1)
    for r0 in (1, 2, 3):
        np.testing.assert_array_equal(cs.correlate(img[r0:], k, mode="valid", workers=1),
                                      whole[r0:])
    np.testing.assert_array_equal(cs.correlate(img, k, mode="valid", workers=2), whole)
    np.testing.assert_allclose(whole, ss.correlate(img.astype(np.float64),
                                                   k.astype(np.float64), mode="valid"),
                               rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)
