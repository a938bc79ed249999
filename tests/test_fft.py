"""FFT engine, overlap-add and method choice (convolve/_fft.py, pyx/_spectral.pyx,
convolve/_dispatch.py).

Cross-method agreement (FFT and overlap-add against the direct kernel and the
NumPy oracle), the NN-family FFT helpers against the direct conv and its
weight gradient, a dot-test, exact integers, 1 vs 2 threads bitwise, and
bounded memory of overlap-add.
"""
import tracemalloc

import numpy as np
import pytest
import scipy.signal

from convolve import _dispatch, _fft, _spectral
from convolve import functional as F
from convolve import signal as S

try:
    from . import reference_signal as ref
except ImportError:
    import reference_signal as ref

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


def rand(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def tol(dtype):
    """Tolerance relative to the largest output magnitude."""
    return 2e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-11


def assert_close(y, r, dtype):
    scale = max(1.0, float(np.abs(r).max(initial=0)))
    assert y.shape == r.shape
    np.testing.assert_allclose(y, r, rtol=0, atol=tol(dtype) * scale)


SHAPES = [((50,), (7,)), ((64,), (8,)), ((300,), (101,)), ((9,), (12,)),
          ((20, 23), (5, 4)), ((33, 17), (6, 9)), ((3, 40), (1, 7)),
          ((11, 12, 13), (3, 4, 5)), ((8, 9, 10), (2, 2, 7))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("method", ["fft", "fft1", "oa"])
def test_fft_equals_direct(shapes, dtype, method):
    rng = np.random.default_rng(0)
    a, b = rand(rng, shapes[0], dtype), rand(rng, shapes[1], dtype)
    for mode in ("full", "same", "valid"):
        if mode == "valid" and not (all(i >= j for i, j in zip(*shapes))
                                    or all(j >= i for i, j in zip(*shapes))):
            continue
        for fn in (S.convolve, S.correlate):
            r = fn(a, b, mode=mode, method="direct")
            y = fn(a, b, mode=mode, method=method)
            assert y.dtype == r.dtype == np.dtype(dtype)
            assert_close(y, r, dtype)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_even_odd_kernel_centring(k):
    rng = np.random.default_rng(k)
    a, b = rng.standard_normal((17, 14)), rng.standard_normal((k, k + 1))
    for fn, rfn in ((S.convolve, ref.convolve), (S.correlate, ref.correlate)):
        r = rfn(a, b, mode="same")
        for m in ("fft", "oa"):
            assert_close(fn(a, b, mode="same", method=m), r, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_axes_and_batch_broadcast(dtype):
    rng = np.random.default_rng(1)
    a = rand(rng, (3, 40, 5, 6), dtype)
    b = rand(rng, (1, 9, 5, 3), dtype)
    for axes in ([1, 3], [3, 1], [-1, 1, 2]):
        for mode in ("full", "same", "valid"):
            r = S.convolve(a, b, mode=mode, axes=axes, method="direct")
            for m in ("fft", "oa"):
                assert_close(S.convolve(a, b, mode=mode, axes=axes, method=m), r, dtype)
    # a kernel per batch entry
    b3 = rand(rng, (3, 9, 5, 3), dtype)
    r = S.correlate(a, b3, mode="same", axes=[1, 3], method="direct")
    assert_close(S.correlate(a, b3, mode="same", axes=[1, 3], method="oa"), r, dtype)


@pytest.mark.parametrize("boundary", ["wrap", "symm", "reflect", "nearest"])
def test_boundaries(boundary):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((30, 20)), rng.standard_normal((5, 4))
    r = S.convolve(a, b, mode="same", boundary=boundary, method="direct")
    assert_close(S.convolve(a, b, mode="same", boundary=boundary, method="fft"), r,
                 np.float64)


@pytest.mark.parametrize("shapes,nb", [
    (((1000,), (7,)), 0), (((3, 500), (1, 31)), 1), (((2, 3, 90, 20), (1, 1, 9, 5)), 2),
    (((50, 30, 20), (5, 4, 3)), 0), (((60, 2, 40), (5, 1, 3)), 0)], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.complex64])
def test_overlap_add_equals_full_fft(shapes, nb, dtype):
    rng = np.random.default_rng(3)
    a, b = rand(rng, shapes[0], dtype), rand(rng, shapes[1], dtype)
    sa, sb = shapes[0][nb:], shapes[1][nb:]
    windows = [([0] * len(sa), [i + j - 1 for i, j in zip(sa, sb)]),
               ([(j - 1) // 2 for j in sb], list(sa)),
               ([j - 1 for j in sb], [i - j + 1 for i, j in zip(sa, sb)])]
    for start, length in windows:
        r = _fft.fft_window(a, b, nb, start, length, 1)
        for M0 in (None, sb[0] + 3, 2 * sb[0] + 5):
            y = _fft.oa_window(a, b, nb, start, length, 2, M0=M0)
            assert_close(y, r, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fftconvolve_oaconvolve_as_scipy(dtype):
    rng = np.random.default_rng(4)
    a, b = rand(rng, (2000,), dtype), rand(rng, (129,), dtype)
    for mode in ("full", "same", "valid"):
        for ours, theirs in ((S.fftconvolve, scipy.signal.fftconvolve),
                             (S.oaconvolve, scipy.signal.oaconvolve)):
            y, r = ours(a, b, mode=mode), theirs(a, b, mode=mode)
            assert y.dtype == r.dtype == np.dtype(dtype)
            assert_close(y, r, dtype)


@pytest.mark.parametrize("fn", ["fftconvolve", "oaconvolve"])
def test_fft_broadcast_axes_as_scipy(fn):
    """scipy.signal.fftconvolve's rule for 'valid': an axis where either input
    has extent 1 is broadcast, not convolved ((3, 2) with (11, 1) gives
    (9, 2) where convolve raises). ('same' keeps broadcast batch axes, where
    SciPy crops them to in1: scipy/scipy#21876, see test_signal.py.)"""
    rng = np.random.default_rng(8)
    ours, theirs = getattr(S, fn), getattr(scipy.signal, fn)
    cases = [((3, 2), (11, 1), "valid", None), ((1, 8), (11, 4), "valid", None),
             ((5, 1, 4), (2, 3, 1), "valid", None), ((4, 1), (1, 1), "valid", None),
             ((5, 1, 4), (2, 3, 1), "valid", [0, 1]), ((3, 1), (3, 2), "full", [0]),
             ((3, 2), (11, 1), "same", None)]
    for s1, s2, mode, axes in cases:
        a, b = rng.standard_normal(s1), rng.standard_normal(s2)
        r = theirs(a, b, mode=mode, axes=axes)
        y = ours(a, b, mode=mode, axes=axes)
        assert y.shape == r.shape, (s1, s2, mode, axes)
        np.testing.assert_allclose(y, r, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="valid"):
        S.convolve(np.ones((3, 2)), np.ones((11, 1)), mode="valid")


def test_dot_test_fft_linear_map():
    """<A x, y> == <x, A^T y> for A x = convolve(x, k, 'full') by FFT, whose adjoint
    is correlate(y, k, 'valid'), also by FFT."""
    rng = np.random.default_rng(5)
    for shape, kshape in (((400,), (33,)), ((40, 30), (7, 5)), ((12, 10, 9), (3, 4, 2))):
        k = rng.standard_normal(kshape) + 1j * rng.standard_normal(kshape)
        x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        y_shape = tuple(i + j - 1 for i, j in zip(shape, kshape))
        y = rng.standard_normal(y_shape) + 1j * rng.standard_normal(y_shape)
        for m in ("fft", "oa"):
            ax = S.convolve(x, k, mode="full", method=m)
            aty = S.correlate(y, k, mode="valid", method=m)
            lhs, rhs = np.vdot(y, ax), np.vdot(aty, x)
            assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


def test_integers_exact():
    rng = np.random.default_rng(6)
    a = rng.integers(-1000, 1000, 3000)
    b = rng.integers(-1000, 1000, 300)
    r = ref.convolve(a, b)
    for m in ("fft", "oa", "auto", "direct"):
        y = S.convolve(a, b, method=m)
        assert y.dtype == r.dtype
        np.testing.assert_array_equal(y, r)
    # too large for float64: the guard sends 'auto' to the exact direct kernel
    big = rng.integers(-2**40, 2**40, 2000)
    assert S.choose_conv_method(big, big[:500]) == "direct"
    np.testing.assert_array_equal(S.convolve(big, big[:500]), ref.convolve(big, big[:500]))
    # fftconvolve returns floats for integers, as SciPy
    assert S.fftconvolve(a, b).dtype == scipy.signal.fftconvolve(a, b).dtype


@pytest.mark.parametrize("shapes", [((5000,), (301,)), ((200, 150), (25, 25)),
                                    ((40, 40, 40), (9, 9, 9)), ((100,), (3,))], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_auto_never_changes_results(shapes, dtype):
    rng = np.random.default_rng(7)
    a, b = rand(rng, shapes[0], dtype), rand(rng, shapes[1], dtype)
    for mode in ("full", "same", "valid"):
        r = S.convolve(a, b, mode=mode, method="direct")
        assert_close(S.convolve(a, b, mode=mode), r, dtype)


def test_choose_conv_method():
    assert S.choose_conv_method(np.ones(1000), np.ones(5)) == "direct"
    assert S.choose_conv_method(np.ones((512, 512)), np.ones((64, 64))) == "fft"
    assert S.choose_conv_method(np.ones(10**6), np.ones(1001)) == "fft"
    m, times = S.choose_conv_method(np.ones(300), np.ones(30), measure=True)
    assert m in ("direct", "fft") and set(times) == {"direct", "fft"}
    costs = _dispatch.estimate_costs((10**6,), (1001,), dtype=np.float32, threads=1)
    assert set(costs) == {"direct", "fft", "oa"}
    assert all(0 < v < np.inf for v in costs.values())
    assert min(costs, key=costs.get) in ("fft", "oa")


def test_memory_guard():
    # a single-block FFT of this size would need terabytes: overlap-add instead
    m = _dispatch.choose_method((10**11,), (5001,), [0], [10**11 + 5000], np.float64, 1)
    assert m == "oa"


def test_overlap_add_memory_bounded():
    """A long signal needs a few tiles of workspace, not a padded spectrum."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal(2_000_000)
    k = rng.standard_normal(1001)
    tracemalloc.start()
    tracemalloc.reset_peak()
    y = S.oaconvolve(x, k)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    extra = peak - y.nbytes
    assert extra < 12 * _fft.CHUNK_BYTES < x.nbytes
    np.testing.assert_allclose(y[:5000], np.convolve(x[:5000], k)[:5000], atol=1e-9)


# ------------------------------------------------------------------ NN family
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
WGRAD = {1: F.conv1d_weight_grad, 2: F.conv2d_weight_grad, 3: F.conv3d_weight_grad}


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("groups,stride,dilation", [(1, 1, 1), (2, 2, 1), (2, 1, 2),
                                                    (4, 3, 2), (1, (2, 1, 3), (1, 2, 1))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_fft_equals_direct(d, groups, stride, dilation, dtype):
    rng = np.random.default_rng(9)
    stride = stride if isinstance(stride, int) else stride[:d]
    dilation = dilation if isinstance(dilation, int) else dilation[:d]
    x = rng.standard_normal((2, 4) + (12,) * d).astype(dtype)
    w = rng.standard_normal((8, 4 // groups) + (3,) * d).astype(dtype)
    bias = rng.standard_normal(8).astype(dtype)
    r = CONV[d](x, w, bias, stride=stride, dilation=dilation, groups=groups)
    y = _fft.conv_fft(x, w, bias, stride, dilation, groups)
    assert y.dtype == r.dtype
    assert_close(y, r, dtype)
    g = rng.standard_normal(r.shape).astype(dtype)
    gr = WGRAD[d](x, g, w.shape, stride=stride, dilation=dilation, groups=groups)
    gf = _fft.conv_fft_weight_grad(x, g, w.shape, stride, dilation, groups)
    assert gf.dtype == gr.dtype
    assert_close(gf, gr, dtype)


def test_conv_fft_weight_grad_dot_test():
    """<conv_fft(x, w), g> == <w, conv_fft_weight_grad(x, g)>: the weight gradient
    is the adjoint of the forward map in w."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 4, 15, 13))
    w = rng.standard_normal((6, 2, 4, 3))
    y = _fft.conv_fft(x, w, None, (2, 1), (1, 2), 2)
    g = rng.standard_normal(y.shape)
    gw = _fft.conv_fft_weight_grad(x, g, w.shape, (2, 1), (1, 2), 2)
    assert abs(np.vdot(y, g) - np.vdot(w, gw)) < 1e-10 * abs(np.vdot(y, g))


# ------------------------------------------------------------------ threads
def test_kernels_bitwise_equal_1_vs_2_threads():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((64, 4098))
    H = rng.standard_normal((1, 4098))
    X1, X2 = X.copy(), X.copy()
    _spectral.cmul(X1, H, 1)
    _spectral.cmul(X2, H, 2)
    assert np.array_equal(X1, X2)
    W = rng.standard_normal((300, 8, 16)).astype(np.float32)
    Xc = rng.standard_normal((300, 8, 10)).astype(np.float32)
    Y1, Y2 = np.empty((300, 8, 10), np.float32), np.empty((300, 8, 10), np.float32)
    _spectral.cmatmul(W, Xc, Y1, 0, 1)
    _spectral.cmatmul(W, Xc, Y2, 0, 2)
    assert np.array_equal(Y1, Y2)
    x = rng.standard_normal((3, 5000, 7))
    d1, d2 = np.empty((40, 3, 300, 7)), np.empty((40, 3, 300, 7))
    _spectral.gather(x, d1, -50, 130, 1)
    _spectral.gather(x, d2, -50, 130, 2)
    assert np.array_equal(d1, d2)
    src = rng.standard_normal((40, 3, 200, 2, 9))[:, :, 10:140]
    o1, o2 = np.zeros((3, 5000, 2, 9)), np.zeros((3, 5000, 2, 9))
    _spectral.scatter(src, o1, 7, 1)
    _spectral.scatter(src, o2, 7, 2)
    assert np.array_equal(o1, o2)


@pytest.mark.parametrize("fn", [S.fftconvolve, S.oaconvolve])
def test_engine_bitwise_equal_1_vs_2_threads(fn):
    rng = np.random.default_rng(12)
    for a, b in ((rng.standard_normal(300_000).astype(np.float32), rng.standard_normal(501)),
                 (rng.standard_normal((300, 280)), rng.standard_normal((21, 21)))):
        b = b.astype(a.dtype)
        assert np.array_equal(fn(a, b, workers=1), fn(a, b, workers=2))


@pytest.mark.parametrize("d1,d2", [(np.bool_, np.float32), (np.bool_, np.complex64),
                                   (np.float16, np.float16), (np.int16, np.float32),
                                   (np.float32, np.complex128)])
def test_fftconvolve_dtypes_as_scipy(d1, d2):
    rng = np.random.default_rng(13)
    a = (rng.standard_normal(40) * 3).astype(d1)
    b = (rng.standard_normal(9) * 3).astype(d2)
    for ours, theirs in ((S.fftconvolve, scipy.signal.fftconvolve),
                         (S.oaconvolve, scipy.signal.oaconvolve)):
        y, r = ours(a, b), theirs(a, b)
        assert y.dtype == r.dtype
        np.testing.assert_allclose(y, r, rtol=1e-3, atol=1e-3 * np.abs(r).max())


def test_concurrent_calls_from_python_threads():
    """Overlap-add's thread pool is shared: concurrent callers (more workers than
    CPUs) neither deadlock nor change the result."""
    import threading
    rng = np.random.default_rng(14)
    x, k = rng.standard_normal(200_000), rng.standard_normal(401)
    r = S.oaconvolve(x, k, workers=1)
    ok = []
    threads = [threading.Thread(target=lambda: ok.append(
        np.array_equal(S.oaconvolve(x, k, workers=8), r))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ok == [True] * 5


@pytest.mark.parametrize("method", ["auto", "direct", "fft", "oa"])
def test_thin_shapes_are_products(method):
    """Axes where an operand has extent 1 are broadcast products: (1000, 1) * (1, 1000)
    is an outer product (no 1000 x 1000 transform), in every mode and boundary."""
    rng = np.random.default_rng(15)
    a, b = rng.standard_normal((300, 1)), rng.standard_normal((1, 200))
    np.testing.assert_allclose(S.convolve(a, b, method=method), a * b, rtol=1e-12)
    a3, b3 = rng.standard_normal((40, 1, 7)), rng.standard_normal((5, 6, 1))
    for mode in ("full", "same"):
        for boundary in ("fill", "wrap", "symm"):
            r = ref.convolve(a3, b3, mode=mode, boundary=boundary)
            y = S.convolve(a3, b3, mode=mode, method=method, boundary=boundary)
            assert_close(y, r, np.float64)
    ai, bi = rng.integers(-9, 9, (30, 1)), rng.integers(-9, 9, (1, 20))
    np.testing.assert_array_equal(S.convolve(ai, bi, method=method), ai * bi)


# ------------------------------------------------------------------ NN family: method='auto'
try:
    from .reference import conv_ref
except ImportError:
    from reference import conv_ref

from convolve import _bench_cases  # noqa: E402

NN_GRADS = {1: (F.conv1d_input_grad, F.conv1d_weight_grad),
            2: (F.conv2d_input_grad, F.conv2d_weight_grad),
            3: (F.conv3d_input_grad, F.conv3d_weight_grad)}


def nn_pays(op, x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1,
            dtype=np.float32):
    """convolve._dispatch.nn_fft_pays with the forward's shape arithmetic."""
    d = len(w_shape) - 2
    st, dl = (stride,) * d, (dilation,) * d
    pairs = F.padding_pairs(padding, x_shape[2:], w_shape[2:], st, dl)
    out = F.output_size(x_shape[2:], w_shape[2:], st, dl, pairs)
    Lp = tuple(n + a + b for n, (a, b) in zip(x_shape[2:], pairs))
    return _dispatch.nn_fft_pays(op, tuple(x_shape), tuple(w_shape), out, st, dl, groups,
                                 dtype, Lp)


SMALL_LAYERS = [  # x_shape, w_shape, stride, padding, groups: every CNN benchmark layer ...
    ((N, C, H, W), (O, C // g, K, K), s, p, g)
    for _, N, C, H, W, O, K, s, p, g in _bench_cases.NN_CONV
] + [  # ... and small kernels on large inputs and many channels
    ((8, 64, 224, 224), (64, 64, 1, 1), 1, 0, 1),
    ((4, 3, 512, 512), (32, 3, 3, 3), 1, 1, 1),
    ((4, 64, 128, 128), (64, 64, 5, 5), 1, 2, 1),
    ((8, 3, 448, 448), (64, 3, 7, 7), 2, 3, 1),
    ((8, 128, 64, 64), (128, 128, 7, 7), 1, 3, 1),
    ((8, 256, 32, 32), (256, 1, 7, 7), 1, 3, 256),
    ((4, 16, 1 << 16), (16, 16, 49), 1, 24, 1),
    ((2, 32, 32, 32, 32), (32, 32, 3, 3, 3), 1, 1, 1),
]


@pytest.mark.parametrize("layer", SMALL_LAYERS, ids=lambda l: f"{l[0]}x{l[1]}")
@pytest.mark.parametrize("op", _dispatch.NN_OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_keeps_small_kernels_direct(layer, op, dtype):
    x_shape, w_shape, s, p, g = layer
    assert not nn_pays(op, x_shape, w_shape, s, p, 1, g, dtype)


LARGE = [  # x_shape, w_shape, options: clearly large kernels
    ((2, 3, 128, 128), (4, 3, 31, 31), dict(padding="same")),
    ((2, 4, 96, 96), (6, 4, 41, 41), dict(padding=20)),
    ((1, 2, 1 << 15), (3, 2, 1001), dict(padding=500)),
    ((1, 3, 40, 40, 40), (2, 3, 17, 17, 17), dict(padding=8)),
]


@pytest.mark.parametrize("case", LARGE, ids=lambda c: f"{c[0]}x{c[1]}")
@pytest.mark.parametrize("op", _dispatch.NN_OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_picks_fft_for_large_kernels(case, op, dtype):
    x_shape, w_shape, kw = case
    assert nn_pays(op, x_shape, w_shape, dtype=dtype, **kw)


def test_nn_fft_memory_guard(monkeypatch):
    x_shape, w_shape, kw = LARGE[0]
    assert nn_pays("forward", x_shape, w_shape, **kw)
    monkeypatch.setattr(_dispatch, "NN_FFT_MEMORY_MAX", 1 << 20)
    assert not nn_pays("forward", x_shape, w_shape, **kw)


AUTO_FFT = [  # x_shape, w_shape, options: method='auto' takes the FFT for these
    ((2, 3, 80, 72), (4, 3, 41, 41), dict(padding="same")),
    ((1, 2, 5000), (3, 2, 1201), dict(padding=100)),
    ((1, 2, 32, 30, 28), (2, 2, 15, 15, 15), dict(padding=4)),
]


@pytest.mark.parametrize("case", AUTO_FFT, ids=lambda c: f"{c[0]}x{c[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_large_kernels_equal_direct_reference(case, dtype, torch):
    """'auto' (the FFT for these shapes) equals the NumPy oracle (forward) and
    torch.autograd (gradients) within the dtype's tolerance."""
    x_shape, w_shape, kw = case
    d = len(w_shape) - 2
    stride, groups = 1, 1
    rng = np.random.default_rng(12)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    pad = kw["padding"]
    pairs = F.padding_pairs(pad, x_shape[2:], w_shape[2:], (stride,) * d, (1,) * d)
    for op in _dispatch.NN_OPS:
        assert _dispatch.nn_fft_pays(
            op, x_shape, w_shape, F.output_size(x_shape[2:], w_shape[2:], (stride,) * d,
                                                (1,) * d, pairs),
            (stride,) * d, (1,) * d, groups, dtype,
            tuple(n + lo + hi for n, (lo, hi) in zip(x_shape[2:], pairs))), op
    y = CONV[d](x, w, b, **kw)
    assert y.dtype == dtype
    assert_close(y, conv_ref(x, w, b, **kw), dtype)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = NN_GRADS[d][0](g, w, x_shape, **kw)
    gw = NN_GRADS[d][1](x, g, w_shape, **kw)
    assert gx.dtype == gw.dtype == dtype
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    tw = torch.tensor(w.astype(np.float64), requires_grad=True)
    ty = getattr(torch.nn.functional, f"conv{d}d")(tx, tw, None, padding=pad)
    ty.backward(torch.tensor(g.astype(np.float64)))
    assert_close(gx, tx.grad.numpy(), dtype)
    assert_close(gw, tw.grad.numpy(), dtype)


def test_auto_nan_input_stays_direct():
    """A NaN reaches only the outputs whose windows hold it: 'auto' does not take
    the FFT (which would spread it over a whole plane) for non-finite inputs."""
    x_shape, w_shape, kw = AUTO_FFT[0]          # 'same' padding: 20 either side
    rng = np.random.default_rng(13)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    xn = x.copy()
    xn[0, 1, 40, 36] = np.nan
    y = F.conv2d(xn, w, **kw)
    assert np.isnan(y[0, :, 40, 36]).all() and not np.isnan(y[0, :, :20, :20]).any()
    g = rng.standard_normal(y.shape)
    gn = g.copy()
    gn[0, 2, 40, 36] = np.nan
    gx = F.conv2d_input_grad(gn, w, x_shape, **kw)
    assert np.isnan(gx[0, :, 40, 36]).all() and not np.isnan(gx[0, :, :20, :20]).any()
    xn = x.copy()
    xn[0, 1, 0, 0] = np.nan                     # reached by taps 0..20 only
    gw = F.conv2d_weight_grad(xn, g, w_shape, **kw)
    assert np.isnan(gw[:, 1, :21, :21]).all() and not np.isnan(gw[:, 1, 21:, 21:]).any()


FFT_OPTIONS = [  # x_shape, w_shape, options: the FFT branch of 'auto' with any option
    ((2, 4, 20, 18), (6, 2, 7, 5), dict(stride=2, padding=((3, 1), (0, 2)), groups=2,
                                        dilation=(1, 2))),
    ((2, 3, 16, 17), (4, 3, 5, 6), dict(padding=(2, 3), padding_mode="reflect", flip=True)),
    ((2, 3, 16, 17), (4, 3, 5, 5), dict(padding="same", padding_mode="circular", stride=(1, 2))),
    ((3, 40), (4, 3, 9), dict(stride=3, padding=4, dilation=2, padding_mode="replicate")),
    ((2, 4, 9, 10, 11), (4, 1, 3, 4, 3), dict(groups=4, padding=1, dilation=(2, 1, 1))),
]


@pytest.mark.parametrize("case", FFT_OPTIONS, ids=lambda c: f"{c[0]}x{c[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_fft_branch_any_options(case, dtype, monkeypatch):
    """Where the model picks the FFT, 'auto' computes (forward, input and weight
    gradients, any option) what the direct engine computes, within rounding."""
    x_shape, w_shape, kw = case
    d = len(w_shape) - 2
    rng = np.random.default_rng(14)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    ref = CONV[d](x, w, b, method="direct", **kw)
    g = rng.standard_normal(ref.shape).astype(dtype)
    ref_gx = NN_GRADS[d][0](g, w, x_shape, **kw)           # small kernels: direct
    ref_gw = NN_GRADS[d][1](x, g, w_shape, **kw)
    calls = []
    monkeypatch.setattr(_dispatch, "nn_fft_pays", lambda op, *a: calls.append(op) or True)
    y = CONV[d](x, w, b, **kw)
    gx = NN_GRADS[d][0](g, w, x_shape, **kw)
    gw = NN_GRADS[d][1](x, g, w_shape, **kw)
    assert calls == list(_dispatch.NN_OPS)
    assert y.dtype == gx.dtype == gw.dtype == dtype
    assert_close(y, ref, dtype)
    assert_close(gx, ref_gx, dtype)
    assert_close(gw, ref_gw, dtype)


def test_auto_fft_bitwise_equal_1_vs_2_threads():
    """The choice does not depend on `workers` (one-thread predictions), and
    the FFT path gives the same bits with 1 and 2 threads."""
    x_shape, w_shape, kw = AUTO_FFT[0]
    rng = np.random.default_rng(15)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    y1 = F.conv2d(x, w, workers=1, **kw)
    np.testing.assert_array_equal(y1, F.conv2d(x, w, workers=2, **kw))
    np.testing.assert_array_equal(y1, F.conv2d(x, w, method="fft", workers=1, **kw))
    g = rng.standard_normal(y1.shape).astype(np.float32)
    for f, args in ((F.conv2d_input_grad, (g, w, x_shape)),
                    (F.conv2d_weight_grad, (x, g, w_shape))):
        np.testing.assert_array_equal(f(*args, workers=1, **kw), f(*args, workers=2, **kw))
