"""Max and average pooling, forward and backward: ``convolve.pooling``.

Compared with the independent NumPy oracle in ``tests/reference_pool.py`` and
with ``torch.nn.functional`` (values, indices, gradients by autograd) over a
grid of ranks, dtypes and options, including ``ceil_mode`` windows that
overlap or would start in the right padding; plus a finite-difference check
and the adjoint identity of average pooling, thread-count independence, NaN
propagation and argument errors.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convolve import pooling as P

try:
    from . import reference_pool as ref
except ImportError:
    import reference_pool as ref

MAX = {1: P.max_pool1d, 2: P.max_pool2d, 3: P.max_pool3d}
MAX_BWD = {1: P.max_pool1d_backward, 2: P.max_pool2d_backward, 3: P.max_pool3d_backward}
AVG = {1: P.avg_pool1d, 2: P.avg_pool2d, 3: P.avg_pool3d}
AVG_BWD = {1: P.avg_pool1d_backward, 2: P.avg_pool2d_backward, 3: P.avg_pool3d_backward}
DTYPES = [np.float32, np.float64]

# (spatial shape, kernel, stride, padding, dilation, ceil_mode)
CASES = [
    ((10,), 3, 2, 1, 1, True),
    ((7,), 2, None, 0, 1, True),
    ((9,), 3, 1, 1, 2, False),
    ((5,), 3, 3, 1, 1, True),          # last ceil window would start in the padding: dropped
    ((6,), 3, 2, 1, 1, True),          # last window reaches into the right padding
    ((7, 8), 3, 2, 1, 1, True),
    ((5, 6), (2, 3), (2, 1), (1, 1), (1, 2), False),
    ((5, 6), 3, 3, 1, 1, True),
    ((6, 5), (3, 2), (2, 3), (1, 1), 1, True),
    ((3, 1), (1, 2), (1, 2), 0, 1, True),     # a ceil window longer than the input: one output
    ((4, 2), (2, 4), (1, 3), (0, 1), 1, True),
    ((4, 5, 6), 2, 2, 1, 1, True),
    ((5, 5, 4), (3, 2, 2), (2, 1, 2), (1, 0, 1), (1, 2, 1), False),
]
IDS = [f"{len(c[0])}d-{i}" for i, c in enumerate(CASES)]
# average pooling has no dilation
AVG_CASES = [c for c in CASES if np.all(np.asarray(c[4]) == 1)]
AVG_IDS = [i for i, c in zip(IDS, CASES) if c in AVG_CASES]
AVG_OPTS = [(True, None), (False, None), (True, 3), (False, 2)]


def _x(rng, sp, dtype, N=2, C=3):
    return rng.standard_normal((N, C) + sp).astype(dtype)


def _tkw(stride):
    return {} if stride is None else {"stride": stride}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_max_pool_reference_and_torch(case, dtype, rng, torch, assert_close):
    sp, k, s, p, d, ceil = case
    nd = len(sp)
    x = _x(rng, sp, dtype)
    y, idx = MAX[nd](x, k, s, p, d, ceil, return_indices=True)
    ry, ridx = ref.max_pool(x, k, s, p, d, ceil)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_array_equal(MAX[nd](x, k, s, p, d, ceil), y)   # values-only path
    tf = getattr(torch.nn.functional, f"max_pool{nd}d")
    tx = torch.from_numpy(x).requires_grad_()
    ty, tidx = tf(tx, k, **_tkw(s), padding=p, dilation=d, ceil_mode=ceil, return_indices=True)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    g = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    gx = MAX_BWD[nd](g, idx, x.shape)
    assert gx.dtype == dtype
    assert_close(gx, tx.grad.numpy())
    assert_close(gx, ref.max_pool_backward(g, ridx, x.shape))


@pytest.mark.parametrize("opts", AVG_OPTS, ids=lambda o: f"pad{int(o[0])}-div{o[1]}")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVG_CASES, ids=AVG_IDS)
def test_avg_pool_reference_and_torch(case, dtype, opts, rng, torch, assert_close):
    sp, k, s, p, d, ceil = case
    nd = len(sp)
    cip, div = opts
    kw = dict(stride=s, padding=p, ceil_mode=ceil, count_include_pad=cip,
              divisor_override=div)
    x = _x(rng, sp, dtype)
    y = AVG[nd](x, k, **kw)
    assert y.dtype == dtype
    assert_close(y, ref.avg_pool(x, k, **kw))
    tf = getattr(torch.nn.functional, f"avg_pool{nd}d")
    tkw = dict(_tkw(s), padding=p, ceil_mode=ceil, count_include_pad=cip)
    if nd > 1:
        tkw["divisor_override"] = div
    tx = torch.from_numpy(x).requires_grad_()
    ty = tf(tx, k, **tkw)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = AVG_BWD[nd](g, x.shape, k, **kw)
    assert gx.dtype == dtype
    assert_close(gx, ref.avg_pool_backward(g, x.shape, k, **kw))
    if nd == 1 and div is not None:
        return  # torch's avg_pool1d has no divisor_override
    assert_close(y, ty.detach().numpy())
    ty.backward(torch.from_numpy(g))
    assert_close(gx, tx.grad.numpy())


@pytest.mark.parametrize("opts", AVG_OPTS, ids=lambda o: f"pad{int(o[0])}-div{o[1]}")
@pytest.mark.parametrize("case", AVG_CASES, ids=AVG_IDS)
def test_avg_pool_adjoint_and_finite_differences(case, opts, rng):
    sp, k, s, p, _, ceil = case
    nd = len(sp)
    kw = dict(stride=s, padding=p, ceil_mode=ceil, count_include_pad=opts[0],
              divisor_override=opts[1])
    x = _x(rng, sp, np.float64)
    y = AVG[nd](x, k, **kw)
    g = rng.standard_normal(y.shape)
    gx = AVG_BWD[nd](g, x.shape, k, **kw)
    # adjoint: <A x, g> == <x, A^T g>
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, gx), rtol=1e-12)
    # central difference of L(x) = <A x, g> along a random direction
    v = rng.standard_normal(x.shape)
    eps = 1e-6
    fd = (np.vdot(AVG[nd](x + eps * v, k, **kw), g)
          - np.vdot(AVG[nd](x - eps * v, k, **kw), g)) / (2 * eps)
    np.testing.assert_allclose(fd, np.vdot(gx, v), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bitwise_equal(dtype, rng):
    x = rng.standard_normal((8, 16, 48, 48)).astype(dtype)  # enough work for 2 threads
    y1, i1 = P.max_pool2d(x, 3, 2, 1, return_indices=True, workers=1)
    y2, i2 = P.max_pool2d(x, 3, 2, 1, return_indices=True, workers=2)
    assert y1.tobytes() == y2.tobytes() and i1.tobytes() == i2.tobytes()
    assert P.max_pool2d(x, 3, 2, 1, workers=2).tobytes() == y1.tobytes()
    g = rng.standard_normal(y1.shape).astype(dtype)
    a = P.max_pool2d_backward(g, i1, x.shape, workers=1)
    b = P.max_pool2d_backward(g, i1, x.shape, workers=2)
    assert a.tobytes() == b.tobytes()
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    a = P.avg_pool2d(x, workers=1, **kw)
    b = P.avg_pool2d(x, workers=2, **kw)
    assert a.tobytes() == b.tobytes()
    a = P.avg_pool2d_backward(a, x.shape, workers=1, **kw)
    b = P.avg_pool2d_backward(b, x.shape, workers=2, **kw)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_nan_and_inf(nd, rng, torch):
    sp = (5,) * nd
    x = rng.standard_normal((1, 2) + sp)
    flat = x.reshape(-1)
    flat[[0, 3, 7, 40 % flat.size]] = np.nan
    flat[[1, 9]] = -np.inf
    x[0, 1] = -np.inf                       # a channel of -inf only
    y, idx = MAX[nd](x, 2, 1, 1, return_indices=True)
    ty, tidx = getattr(torch.nn.functional, f"max_pool{nd}d")(
        torch.from_numpy(x), 2, 1, 1, return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())     # NaN positions included
    np.testing.assert_array_equal(idx, tidx.numpy())
    ry, ridx = ref.max_pool(x, 2, 1, 1)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_array_equal(MAX[nd](x, 2, 1, 1), y)
    assert np.isnan(y).any() and np.isneginf(y[0, 1]).all()


def test_unbatched_int_and_noncontiguous_inputs(rng, assert_close):
    x = rng.standard_normal((3, 9, 8))
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    yb, idxb = P.max_pool2d(x[None], 2, return_indices=True)
    np.testing.assert_array_equal(y, yb[0])
    np.testing.assert_array_equal(idx, idxb[0])
    g = P.max_pool2d_backward(np.ones_like(y), idx, x.shape)
    assert g.shape == x.shape
    a = P.avg_pool2d_backward(np.ones_like(y), x.shape, 2)
    assert a.shape == x.shape
    xi = rng.integers(-5, 5, (2, 3, 8))
    assert P.avg_pool1d(xi, 2).dtype == np.float64
    xt = rng.standard_normal((2, 3, 10, 12)).astype(np.float32)[:, :, ::2, ::-1]
    assert_close(P.avg_pool2d(xt, 2, padding=1), ref.avg_pool(np.ascontiguousarray(xt), 2,
                                                              padding=1))
    assert P.max_pool1d(np.zeros((0, 3, 8)), 2).shape == (0, 3, 4)


@pytest.mark.parametrize("call, exc, match", [
    (lambda x: P.max_pool2d(x, 3, padding=2), ValueError, "padding"),
    (lambda x: P.max_pool2d(x, 0), ValueError, "kernel_size"),
    (lambda x: P.max_pool2d(x, 2, stride=0), ValueError, "stride"),
    (lambda x: P.max_pool2d(x, 2, dilation=0), ValueError, "dilation"),
    (lambda x: P.max_pool2d(x, 2, padding=-1), ValueError, "padding"),
    (lambda x: P.max_pool2d(x, (2, 2, 2)), ValueError, "kernel_size"),
    (lambda x: P.max_pool2d(x, 2.5), TypeError, "kernel_size"),
    (lambda x: P.max_pool2d(x[0, 0], 2), ValueError, "dimensions"),
    (lambda x: P.max_pool2d(x, 9), ValueError, "output size"),
    (lambda x: P.max_pool2d(x.astype(complex), 2), TypeError, "complex"),
    (lambda x: P.avg_pool2d(x, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda x: P.avg_pool2d(x, 2, divisor_override=1.5), TypeError, "divisor_override"),
    (lambda x: P.avg_pool2d_backward(np.ones((1, 2, 2, 2)), x.shape, 2), ValueError,
     "grad_out"),
    (lambda x: P.max_pool2d_backward(np.ones((1, 2, 3, 3)), np.full((1, 2, 3, 3), 99),
                                     x.shape), ValueError, "indices"),
    (lambda x: P.max_pool2d_backward(np.ones((1, 2, 3, 3)), np.zeros((1, 2, 3, 3)),
                                     x.shape), TypeError, "indices"),
    (lambda x: P.max_pool2d_backward(np.ones((1, 2, 3, 3)), np.zeros((1, 2, 3, 2), int),
                                     x.shape), ValueError, "indices"),
    (lambda x: P.max_pool2d("abc", 2), TypeError, "x"),
])
def test_bad_inputs_raise(call, exc, match):
    x = np.zeros((1, 2, 6, 6))
    with pytest.raises(exc, match=match):
        call(x)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nd=st.integers(1, 3), data=st.data())
def test_random_options_match_torch(nd, data, torch, assert_close):
    k = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    s = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(data.draw(st.integers(0, ki // 2)) for ki in k)
    d = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    sp = tuple(data.draw(st.integers(1, 7)) for _ in range(nd))
    ceil = data.draw(st.booleans())
    cip = data.draw(st.booleans())
    assume(all(L + 2 * pi - di * (ki - 1) - 1 >= 0 for L, ki, pi, di in zip(sp, k, p, d)))
    x = np.random.default_rng(len(sp) + sum(k)).standard_normal((2, 2) + sp)
    tf = torch.nn.functional
    tx = torch.from_numpy(x)
    y, idx = MAX[nd](x, k, s, p, d, ceil, return_indices=True)
    ty, tidx = getattr(tf, f"max_pool{nd}d")(tx, k, s, p, d, ceil, return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    # a window without input elements: -1 here, an arbitrary index there
    empty = np.zeros(y.shape[2:], bool)
    for ax, (L, ki, si, pi, di) in enumerate(zip(sp, k, s, p, d)):
        taps = np.arange(y.shape[2 + ax])[:, None] * si - pi + di * np.arange(ki)
        e = ~((taps >= 0) & (taps < L)).any(axis=1)
        empty |= e.reshape((-1,) + (1,) * (nd - 1 - ax))
    np.testing.assert_array_equal(idx, np.where(empty, -1, tidx.numpy()))
    # torch's avg_pool3d rejects inputs smaller than the kernel even when padded
    assume(all(L >= ki for L, ki in zip(sp, k)))
    ya = AVG[nd](x, k, s, p, ceil, cip)
    assert_close(ya, getattr(tf, f"avg_pool{nd}d")(tx, k, s, p, ceil, cip).numpy())


# Row kernels (pyx/_pool_kernels.h): interior outputs in vectors of 8 floats /
# 4 doubles (stride 1 and 2), the rest scalar; widths around the vector
# lengths, kernels reaching the padding, dilation, ceil_mode windows. Values
# from a few integers (ties everywhere: the first occurrence's index must win
# across rows and columns), plus NaNs and -inf.
ROW_CASES = [
    # (H, W), kernel, stride, padding, dilation, ceil_mode
    ((3, 7), 3, 2, 1, 1, False),
    ((4, 8), 2, 2, 0, 1, False),
    ((5, 15), 3, 2, 1, 1, True),
    ((3, 16), 2, 1, 0, 1, False),
    ((4, 17), 3, 1, 1, 1, False),
    ((5, 33), (2, 3), 2, (1, 1), (2, 1), True),
    ((3, 40), 3, 2, 1, 2, False),
    ((6, 41), (3, 4), (2, 2), (1, 2), 1, True),
    ((4, 37), (1, 3), (1, 3), (0, 1), 1, True),
    ((3, 64), (2, 5), (1, 2), (1, 2), (1, 3), False),
    ((2, 112), 3, 2, 1, 1, False),
    ((7, 23), (2, 2), (2, 1), (1, 1), (1, 1), True),
]
ROW_IDS = [f"{c[0][0]}x{c[0][1]}-{i}" for i, c in enumerate(ROW_CASES)]


@pytest.mark.parametrize("special", [False, True], ids=["ties", "nan-inf"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ROW_CASES, ids=ROW_IDS)
def test_row_kernels_match_torch(case, dtype, special, rng, torch, assert_close):
    sp, k, s, p, d, ceil = case
    x = rng.integers(-2, 3, size=(2, 3) + sp).astype(dtype)
    if special:
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, flat.size // 10, replace=False)] = np.nan
        flat[rng.choice(flat.size, flat.size // 10, replace=False)] = -np.inf
        x[1, 2] = -np.inf                     # a channel of -inf only
    y, idx = P.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    ty, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil,
                                              return_indices=True)
    ry, ridx = ref.max_pool(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_array_equal(P.max_pool2d(x, k, s, p, d, ceil), y)
    g = rng.standard_normal(y.shape).astype(dtype)
    assert_close(P.max_pool2d_backward(g, idx, x.shape), ref.max_pool_backward(g, ridx, x.shape))
    if np.all(np.asarray(d) == 1) and not special:
        x = rng.standard_normal((2, 3) + sp).astype(dtype)
        for pad, div in AVG_OPTS:
            kw = dict(count_include_pad=pad, divisor_override=div)
            a = P.avg_pool2d(x, k, s, p, ceil, **kw)
            assert_close(a, torch.nn.functional.avg_pool2d(
                torch.from_numpy(x), k, s, p, ceil, **kw).numpy())
            assert_close(a, ref.avg_pool(x, k, stride=s, padding=p, ceil_mode=ceil, **kw))
            g = rng.standard_normal(a.shape).astype(dtype)
            gx = P.avg_pool2d_backward(g, x.shape, k, s, p, ceil, **kw)
            assert_close(gx, ref.avg_pool_backward(g, x.shape, k, stride=s, padding=p,
                                                   ceil_mode=ceil, **kw))


# 2x2 windows, stride 2, no padding: a kernel of its own (pyx/_pool_kernels.h),
# on small maps (a row of outputs shorter than a vector), odd sizes (the last
# row and column in no window), planes split in strips, and a 3-D (1, 2, 2)
# window; ties of +-0 and of integers, NaN and -inf everywhere.
POOL2_SHAPES = [(2, 2), (3, 3), (4, 5), (10, 10), (7, 9), (2, 34), (9, 2), (28, 28),
                (64, 70), (200, 3), (3, 200)]


def _pool2_input(rng, shape, dtype, mode):
    x = rng.standard_normal(shape).astype(dtype)
    if mode == "ties":
        x = rng.integers(-2, 2, shape).astype(dtype)
        zero = x == 0
        x[zero] = rng.choice([0.0, -0.0], int(zero.sum()))
    elif mode == "nan":
        x[rng.random(shape) < 0.2] = np.nan
        x[rng.random(shape) < 0.1] = -np.inf
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["normal", "ties", "nan"])
@pytest.mark.parametrize("sp", POOL2_SHAPES, ids=str)
def test_max_pool_2x2_matches_torch_bitwise(sp, mode, dtype, rng, torch):
    x = _pool2_input(rng, (2, 3) + sp, dtype, mode)
    ty, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    ry, ridx = ref.max_pool(x, 2, 2, 0, 1, False)
    for workers in (1, 2):
        y, idx = P.max_pool2d(x, 2, return_indices=True, workers=workers)
        assert y.tobytes() == ty.numpy().tobytes()      # signed zeros and NaNs included
        np.testing.assert_array_equal(idx, tidx.numpy())
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(y, ry)
        assert P.max_pool2d(x, 2, workers=workers).tobytes() == y.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["normal", "ties", "nan"])
@pytest.mark.parametrize("sp", POOL2_SHAPES, ids=str)
def test_max_pool_2x2_codes_forward_and_backward(sp, mode, dtype, rng):
    """The layer's state: tap codes instead of indices, and a backward that
    writes every cell, bit for bit the scatter-add of max_pool2d_backward."""
    x = _pool2_input(rng, (2, 3) + sp, dtype, mode)
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    H, W = sp
    g = rng.standard_normal(y.shape).astype(dtype)
    g[g > 1] = -0.0                      # -0 must come back as the scatter-add's +0
    expected = P.max_pool2d_backward(g, idx, x.shape)
    for workers in (1, 2):
        y2, codes = P._max_pool2x2(x, workers=workers)
        assert y2.tobytes() == y.tobytes() and codes.dtype == np.uint8
        oh = np.arange(H // 2)[:, None]
        ow = np.arange(W // 2)[None, :]
        np.testing.assert_array_equal((2 * oh + codes // 2) * W + 2 * ow + codes % 2, idx)
        gi = P._max_pool2x2_backward(g, codes, x.shape, workers=workers)
        assert gi.dtype == expected.dtype and gi.tobytes() == expected.tobytes()


def test_max_pool_2x2_3d_and_ceil(rng, torch):
    x = rng.standard_normal((2, 3, 4, 6, 8)).astype(np.float32)
    y, idx = P.max_pool3d(x, (1, 2, 2), return_indices=True)
    ty, tidx = torch.nn.functional.max_pool3d(torch.from_numpy(x), (1, 2, 2),
                                              return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    x = rng.standard_normal((2, 3, 7, 8))
    for ceil in (False, True):                # odd height: ceil_mode adds windows
        y, idx = P.max_pool2d(x, 2, ceil_mode=ceil, return_indices=True)
        ty, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, ceil_mode=ceil,
                                                  return_indices=True)
        np.testing.assert_array_equal(y, ty.numpy())
        np.testing.assert_array_equal(idx, tidx.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(64, 16, 10, 10), (40, 7, 4, 7), (33, 5, 6, 2),
                                   (50, 4, 5, 6)], ids=str)
def test_max_pool_2x2_codes_many_planes(shape, dtype, rng):
    """Many small planes (grouped into work units of several planes by the
    kernels when H is even), with and without the fused relu."""
    x = _pool2_input(rng, shape, dtype, "ties")
    x.reshape(-1)[::13] = np.nan
    H, W = shape[-2:]
    oh = np.arange(H // 2)[:, None]
    ow = np.arange(W // 2)[None, :]
    for relu in (False, True):
        xr = np.where(x <= 0, dtype(0), x) if relu else x      # relu(x), NaNs kept
        y, idx = P.max_pool2d(xr, 2, return_indices=True)
        g = rng.standard_normal(y.shape).astype(dtype)
        expected = P.max_pool2d_backward(g, idx, x.shape)
        if relu:
            expected = np.where(x <= 0, dtype(0), expected)      # relu_backward
        for workers in (1, 2):
            y2, codes = P._max_pool2x2(x, workers=workers, relu=relu)
            assert y2.tobytes() == y.tobytes()
            live = codes < 4
            assert relu or live.all()
            np.testing.assert_array_equal(live, ~(y <= 0) if relu else live)
            np.testing.assert_array_equal(
                ((2 * oh + codes // 2) * W + 2 * ow + codes % 2)[live], idx[live])
            gi = P._max_pool2x2_backward(g, codes, x.shape, workers=workers)
            assert gi.tobytes() == expected.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_window_without_input(dtype, rng, torch):
    """Dilated taps can step over the whole input from the padding: such a
    window's value is -inf (as in PyTorch) and its index -1 (PyTorch's lies
    outside the input); the backward adds it nowhere."""
    x = _x(rng, (4, 1), dtype)
    kw = dict(kernel_size=(1, 2), stride=1, padding=(0, 1), dilation=(1, 2))
    y, idx = P.max_pool2d(x, return_indices=True, **kw)
    t = torch.nn.functional.max_pool2d(torch.from_numpy(x), **kw)
    np.testing.assert_array_equal(y, t.numpy())
    assert y.shape == (2, 3, 4, 1) and np.all(y == -np.inf) and np.all(idx == -1)
    np.testing.assert_array_equal(P.max_pool2d_backward(np.ones_like(y), idx, x.shape),
                                  np.zeros_like(x))
    # in 1-D: one window of two taps around a single element
    y, idx = P.max_pool1d(np.array([[[5.0]]], dtype), 2, stride=1, padding=1, dilation=2,
                          return_indices=True)
    assert y.tolist() == [[[-np.inf]]] and idx.tolist() == [[[-1]]]
    assert P.max_pool1d_backward(np.ones_like(y), idx, (1, 1, 1)).tolist() == [[[0.0]]]
    with pytest.raises(ValueError, match="indices must lie"):
        P.max_pool1d_backward(np.ones_like(y), idx - 1, (1, 1, 1))
