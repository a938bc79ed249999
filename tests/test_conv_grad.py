"""Gradients of conv1d/2d/3d and transposed convolution.

Checked three independent ways: central finite differences of the forward
(float64), the adjoint identity <A x, y> == <x, A^T y> (dot-test) for the
input and weight maps, and torch.autograd as a second opinion; plus the
identity conv_transpose == input gradient and thread-count independence.
"""
import itertools

import numpy as np
import pytest

from convolve import functional as F

SP = {1: (11,), 2: (7, 9), 3: (4, 5, 6)}
OPTIONS = [  # stride, dilation, padding, groups, padding_mode, flip
    (1, 1, 0, 1, "zeros", False),
    (2, 1, 1, 1, "zeros", False),
    (3, 2, 2, 2, "zeros", True),
    (1, 2, "same", 2, "zeros", False),
    (1, 1, "full", 1, "zeros", True),
    (2, 1, 1, 1, "reflect", False),
    (1, 2, 2, 2, "circular", False),
    (2, 1, 2, 1, "replicate", True),
    (1, 1, ((1, 0), (0, 2), (2, 1)), 1, "zeros", False),
]


def conv(d):
    return getattr(F, f"conv{d}d")


def opts(d, o):
    stride, dil, pad, groups, pm, flip = o
    if isinstance(pad, tuple):
        pad = pad[:d]
    return dict(stride=stride, dilation=dil, padding=pad, groups=groups, padding_mode=pm,
                flip=flip)


def data(rng, d, groups, dtype=np.float64):
    x = rng.standard_normal((2, 4) + SP[d]).astype(dtype)
    w = rng.standard_normal((6, 4 // groups) + (3,) * d).astype(dtype)
    return x, w


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("o", OPTIONS, ids=str)
def test_dot_tests(d, o):
    """<conv(x), g> == <x, input_grad(g)> == <w, weight_grad(g)> (linear in each)."""
    rng = np.random.default_rng(1)
    kw = opts(d, o)
    x, w = data(rng, d, kw["groups"])
    y = conv(d)(x, w, **kw)
    g = rng.standard_normal(y.shape)
    gx = getattr(F, f"conv{d}d_input_grad")(g, w, x.shape, **kw)
    gw = getattr(F, f"conv{d}d_weight_grad")(x, g, w.shape, **kw)
    lhs = np.vdot(y, g)
    assert gx.shape == x.shape and gw.shape == w.shape
    assert abs(lhs - np.vdot(x, gx)) <= 1e-12 * max(1.0, abs(lhs)) * 100
    assert abs(lhs - np.vdot(w, gw)) <= 1e-12 * max(1.0, abs(lhs)) * 100


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("o", OPTIONS, ids=str)
def test_dot_tests_wide(d, o):
    """The same with channel counts that route the kernels of wide layers (the
    blocked kernel's in-place stride phases of the input gradient, its
    weight gradient)."""
    rng = np.random.default_rng(2)
    kw = opts(d, o)
    sp = {1: (23,), 2: (11, 13), 3: (6, 7, 5)}[d]
    x = rng.standard_normal((2, 32) + sp)
    w = rng.standard_normal((32, 32 // kw["groups"]) + (3,) * d)
    y = conv(d)(x, w, **kw)
    g = rng.standard_normal(y.shape)
    gx = getattr(F, f"conv{d}d_input_grad")(g, w, x.shape, **kw)
    gw = getattr(F, f"conv{d}d_weight_grad")(x, g, w.shape, **kw)
    lhs = np.vdot(y, g)
    assert abs(lhs - np.vdot(x, gx)) <= 1e-12 * max(1.0, abs(lhs)) * 100
    assert abs(lhs - np.vdot(w, gw)) <= 1e-12 * max(1.0, abs(lhs)) * 100


@pytest.mark.parametrize("case", [
    # x shape, weight shape, stride, padding, groups: grouped strided layers
    # whose stride phases have many channels, so that each phase correlation
    # takes a wide-layer kernel (the implicit GEMM for the 1x1 phases, whose
    # outputs reach past the output gradient's end: implied zeros), and the
    # fused GEMM + fold of one group
    ((2, 64, 12, 12), (128, 32, 3, 3), 2, 1, 2),
    ((1, 64, 13, 11), (128, 32, 3, 3), 3, 1, 2),
    ((2, 48, 10, 9), (96, 16, 3, 3), 2, 1, 3),
    ((1, 32, 12, 12), (64, 32, 3, 3), 2, 1, 1),
    ((1, 32, 7, 8, 6), (64, 16, 3, 3, 3), 2, 1, 2),
], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_input_grad_wide_strided_against_scatter(case, dtype):
    """Input gradients of wide strided layers against the scatter reference
    (tests/reference.py input_grad_ref), every path of the stride phases."""
    from reference import input_grad_ref
    xs, ws, s, p, groups = case
    d = len(ws) - 2
    rng = np.random.default_rng(4)
    w = rng.standard_normal(ws)
    y = conv(d)(np.zeros(xs), w, stride=s, padding=p, groups=groups)
    g = rng.standard_normal(y.shape)
    grad = getattr(F, f"conv{d}d_input_grad")
    got = grad(g.astype(dtype), w.astype(dtype), xs, stride=s, padding=p, groups=groups)
    want = input_grad_ref(g, w, xs, s, [(p, p)] * d, 1, groups)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def _random_wide_layer(rng):
    """A random layer with the channel counts of real networks (so that
    'auto' routes the wide-layer kernels: blocked, implicit GEMM, GEMM + fold,
    Winograd, batch lanes), any stride, dilation, padding, groups."""
    d = int(rng.choice([1, 2, 2, 2, 3]))
    groups = int(rng.choice([1, 1, 2, 3, 4]))
    Cg = int(rng.choice([1, 3, 8, 16, 24, 32, 48, 64]))
    Og = int(rng.choice([1, 2, 6, 16, 24, 32, 64, 96]))
    if d == 3:
        Cg, Og = min(Cg, 16), min(Og, 32)
    k = tuple(int(rng.integers(1, 5)) for _ in range(d))
    s = tuple(int(rng.choice([1, 1, 2, 3])) for _ in range(d))
    dl = tuple(int(rng.choice([1, 1, 1, 2])) for _ in range(d))
    sp = tuple(int(rng.integers(kk * dd, {1: 60, 2: 20, 3: 9}[d])) for kk, dd in zip(k, dl))
    p = tuple(int(rng.integers(0, kk)) for kk in k)
    return (int(rng.integers(1, 4)), Cg * groups) + sp, (Og * groups, Cg) + k, s, p, dl, groups


@pytest.mark.parametrize("seed", range(16))
def test_random_wide_layers_against_references(seed):
    """Forward, input and weight gradients of 25 random wide layers per seed
    against the NumPy references (tests/reference.py), float32 and float64.
    The hand-picked grids use few channels; these shapes reach the kernels
    of wide layers with every option (a grouped strided input gradient
    through the implicit GEMM was wrong until this sampling found it)."""
    from reference import conv_nd_ref, input_grad_ref, weight_grad_ref
    rng = np.random.default_rng(1000 + seed)
    for _ in range(25):
        xs, ws, s, p, dl, groups = _random_wide_layer(rng)
        d = len(ws) - 2
        pairs = [(pp, pp) for pp in p]
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        y = conv_nd_ref(x, w, None, s, pairs, dl, groups)
        g = rng.standard_normal(y.shape)
        refs = (y, input_grad_ref(g, w, xs, s, pairs, dl, groups),
                weight_grad_ref(x, g, ws, s, pairs, dl, groups))
        dtype = np.float32 if rng.random() < 0.5 else np.float64
        kw = dict(stride=s, padding=p, dilation=dl, groups=groups)
        got = (conv(d)(x.astype(dtype), w.astype(dtype), **kw),
               getattr(F, f"conv{d}d_input_grad")(g.astype(dtype), w.astype(dtype), xs, **kw),
               getattr(F, f"conv{d}d_weight_grad")(x.astype(dtype), g.astype(dtype), ws, **kw))
        tol = 2e-4 if dtype == np.float32 else 1e-10
        for name, a, b in zip(("forward", "input grad", "weight grad"), got, refs):
            assert a.shape == b.shape and a.dtype == dtype
            err = np.abs(a - b).max() / max(1.0, np.abs(b).max())
            assert err <= tol, (name, xs, ws, kw, dtype, err)


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("o", OPTIONS[:6], ids=str)
def test_finite_differences(d, o):
    """Central differences of a scalar loss, at a few random coordinates."""
    rng = np.random.default_rng(2)
    kw = opts(d, o)
    x, w = data(rng, d, kw["groups"])
    b = rng.standard_normal(6)
    y = conv(d)(x, w, b, **kw)
    g = rng.standard_normal(y.shape)

    def loss(x_, w_, b_):
        return np.vdot(conv(d)(x_, w_, b_, **kw), g)

    gx, gw, gb = F.conv_backward(g, x, w, bias=True, **kw)
    eps = 1e-6
    for arr, grad, which in ((x, gx, 0), (w, gw, 1), (b, gb, 2)):
        for _ in range(4):
            idx = tuple(rng.integers(0, s) for s in arr.shape)
            args = [x.copy(), w.copy(), b.copy()]
            args[which][idx] += eps
            up = loss(*args)
            args[which][idx] -= 2 * eps
            down = loss(*args)
            np.testing.assert_allclose(grad[idx], (up - down) / (2 * eps), rtol=1e-6,
                                       atol=1e-7)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("o", OPTIONS, ids=str)
def test_against_torch_autograd(d, o, torch):
    rng = np.random.default_rng(3)
    kw = opts(d, o)
    x, w = data(rng, d, kw["groups"])
    b = rng.standard_normal(6)
    y = conv(d)(x, w, b, **kw)
    g = rng.standard_normal(y.shape)
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w.copy()).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_()
    tww = tw.flip(list(range(2, 2 + d))) if kw["flip"] else tw
    from convolve.functional import padding_pairs
    pairs = padding_pairs(kw["padding"], x.shape[2:], w.shape[2:], (kw["stride"],) * d,
                          (kw["dilation"],) * d)
    flat = [v for lo_hi in reversed(pairs) for v in lo_hi]
    mode = {"zeros": "constant"}.get(kw["padding_mode"], kw["padding_mode"])
    ty = getattr(torch.nn.functional, f"conv{d}d")(
        torch.nn.functional.pad(tx, flat, mode=mode), tww, tb, stride=kw["stride"],
        dilation=kw["dilation"], groups=kw["groups"])
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    ty.backward(torch.from_numpy(g))
    gx, gw, gb = F.conv_backward(g, x, w, bias=True, **kw)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-10, atol=1e-10)


TRANSPOSE = list(itertools.product((1, 2, 3), (0, 1), (0, 1), (1, 2), (1, 2)))


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("stride,pad,op,dil,groups", TRANSPOSE)
def test_conv_transpose_against_torch(d, stride, pad, op, dil, groups, torch):
    if op >= max(stride, dil):
        pytest.skip("output_padding must be smaller than stride or dilation")
    rng = np.random.default_rng(4)
    sp = {1: (7,), 2: (5, 6), 3: (3, 4, 5)}[d]
    x = rng.standard_normal((2, 4) + sp)
    w = rng.standard_normal((4, 3) + (3,) * d)
    b = rng.standard_normal(3 * groups)
    got = getattr(F, f"conv_transpose{d}d")(x, w, b, stride=stride, padding=pad,
                                          output_padding=op, groups=groups, dilation=dil)
    ref = getattr(torch.nn.functional, f"conv_transpose{d}d")(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride,
        padding=pad, output_padding=op, groups=groups, dilation=dil).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose_is_input_grad(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 5, 5)).astype(dtype)
    w = rng.standard_normal((6, 4, 3, 3)).astype(dtype)
    y = F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    assert y.dtype == dtype
    gx = F.conv2d_input_grad(x, w, y.shape, stride=2, padding=1)
    np.testing.assert_array_equal(y, gx)


def test_grads_identical_for_any_thread_count():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 8, 20, 20)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    g = rng.standard_normal((4, 8, 10, 10)).astype(np.float32)
    kw = dict(stride=2, padding=1)
    one = F.conv_backward(g, x, w, bias=True, workers=1, **kw)
    two = F.conv_backward(g, x, w, bias=True, workers=2, **kw)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_backward_needs_and_float32():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3)).astype(np.float32)
    g = np.ones((2, 4, 6), np.float32)
    gx, gw, gb = F.conv_backward(g, x, w, needs=(False, True, True))
    assert gx is None and gb is None and gw.dtype == np.float32
    _, _, gb = F.conv_backward(g, x, w, bias=True)
    np.testing.assert_array_equal(gb, np.full(4, 12, np.float32))


def test_unbatched_input_grad():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 9))
    w = rng.standard_normal((2, 3, 3))
    g = rng.standard_normal((2, 7))
    gx = F.conv1d_input_grad(g, w, x.shape)
    np.testing.assert_allclose(gx, F.conv1d_input_grad(g[None], w, (1,) + x.shape)[0])


@pytest.mark.parametrize("call,match", [
    (lambda: F.conv2d_input_grad(np.ones((1, 2, 4, 4)), np.ones((2, 1, 3, 3)), (1, 1, 5, 5)),
     "grad_out"),
    (lambda: F.conv2d_input_grad(np.ones((1, 2, 3, 3)), np.ones((2, 3, 3, 3)), (1, 1, 5, 5)),
     "channels"),
    (lambda: F.conv2d_weight_grad(np.ones((1, 1, 5, 5)), np.ones((1, 2, 3, 3)), (2, 1, 3, 3),
                                  stride=0), "stride"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)), stride=2,
                                output_padding=2), "output_padding"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((3, 1, 3, 3))), "weight"),
    (lambda: F.conv_backward(np.ones((1, 2, 3, 3)), np.ones((1, 1, 5, 5)),
                             np.ones((2, 1, 3, 3)), needs=(True,)), "needs"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


COL2IM = [  # d, C, O, size, kernel, stride, padding, dilation
    (2, 3, 40, (23, 19), 7, 2, 3, 1), (2, 1, 32, (12, 15), 5, 1, 2, 1),
    (2, 2, 36, (17, 17), 4, 3, ((2, 0), (1, 3)), 1), (1, 3, 33, (40,), 9, 2, 4, 2),
    (3, 2, 32, (7, 8, 6), 3, (1, 2, 2), "same", 1), (2, 3, 32, (20, 21), 5, 1, "full", 2),
    # strided, many channels: the paired stride-2 taps, runs across output rows,
    # channel blocks (KK = 9, 4: blocks of 2 and 3 channels), a partial last block
    (2, 13, 9, (23, 41), 3, 2, 1, 1), (2, 7, 5, (9, 10), 2, 2, 0, 1),
    (2, 11, 20, (30, 30), 3, 2, 1, 2), (2, 6, 4, (17, 16), 4, (3, 2), (1, 2), 1),
    (3, 5, 6, (9, 8, 10), 3, 2, 1, 1), (1, 9, 7, (50,), 5, 3, 2, 1),
    (2, 40, 24, (13, 13), 3, 2, 1, 1),
]


@pytest.mark.parametrize("case", COL2IM, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_fold_input_grad(case, dtype):
    """Strided layers, and few input channels against many output channels,
    take the fused GEMM + fold input gradient: the adjoint of the forward
    (dot-test in float64, and against the phase/correlation path), bitwise
    the same for 1 and 2 threads."""
    from convolve import _conv_grad
    d, C, O, size, k, s, p, dl = case
    assert _conv_grad.gemm_fold_pays((O, C) + (k,) * d, (s,) * d if np.ndim(s) == 0 else s, 1,
                                     np.dtype(dtype).itemsize)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, C) + size)
    w = rng.standard_normal((O, C) + (k,) * d)
    kw = dict(stride=s, padding=p, dilation=dl)
    y = conv(d)(x, w, **kw)
    g = rng.standard_normal(y.shape)
    grad = getattr(F, f"conv{d}d_input_grad")
    gx = grad(g.astype(dtype), w.astype(dtype), x.shape, **kw)
    assert gx.dtype == dtype and gx.shape == x.shape
    if dtype == np.float64:
        lhs = np.vdot(y, g)
        assert abs(lhs - np.vdot(x, gx)) <= 1e-12 * max(1.0, abs(lhs)) * 100
    pays = _conv_grad.gemm_fold_pays
    try:
        _conv_grad.gemm_fold_pays = lambda *a: False
        other = grad(g.astype(dtype), w.astype(dtype), x.shape, **kw)
    finally:
        _conv_grad.gemm_fold_pays = pays
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(gx, other, rtol=tol, atol=tol * np.abs(other).max())
    np.testing.assert_array_equal(grad(g.astype(dtype), w.astype(dtype), x.shape, workers=1,
                                       **kw), gx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transpose_k4_s2_against_scatter(dtype):
    """conv_transpose2d 4 x 4 stride 2 (decoders, GANs), output_padding 0 and
    1, against the scatter reference; the same bits on 1 and 2 threads."""
    from reference import input_grad_ref
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 48, 9, 11))
    w = rng.standard_normal((48, 32, 4, 4))
    for op in (0, 1):
        kw = dict(stride=2, padding=1, output_padding=op)
        got = F.conv_transpose2d(x.astype(dtype), w.astype(dtype), **kw)
        want = input_grad_ref(x, w, (2, 32) + got.shape[2:], 2, [(1, 1), (1, 1)])
        tol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
        np.testing.assert_array_equal(
            got, F.conv_transpose2d(x.astype(dtype), w.astype(dtype), workers=1, **kw))


@pytest.mark.parametrize("rows", [1, 18, 1000])
def test_gemm_fold_channel_blocks_do_not_change_bits(rows, monkeypatch):
    """The fused GEMM + fold's units (image, block of input channels): every
    element sums its terms in (column block, tap) order whatever the block
    size, so the result is bitwise the same for any block."""
    from convolve import _conv_grad
    rng = np.random.default_rng(6)
    g = rng.standard_normal((3, 16, 9, 8)).astype(np.float32)
    w = rng.standard_normal((16, 10, 3, 3)).astype(np.float32)
    whole = F.conv2d_input_grad(g, w, (3, 10, 18, 16), stride=2, padding=1)
    monkeypatch.setattr(_conv_grad, "GEMM_FOLD_ROWS", rows)
    np.testing.assert_array_equal(F.conv2d_input_grad(g, w, (3, 10, 18, 16), stride=2,
                                                      padding=1), whole)


@pytest.mark.parametrize("case", COL2IM, ids=str)
@pytest.mark.parametrize("bands", [2, 3, 7, 1000])
def test_gemm_fold_row_bands_do_not_change_bits(case, bands, monkeypatch):
    """Units that own a band of input rows (one image, few channels, many
    threads) skip the runs and taps outside their band: each element keeps
    its order of terms, so the same bits as one band, for 1 and 2 threads
    (bands are capped at the input's rows)."""
    from convolve import _conv_grad
    d, C, O, size, k, s, p, dl = case
    rng = np.random.default_rng(7)
    x_shape = (1, C) + size
    w = rng.standard_normal((O, C) + (k,) * d)
    kw = dict(stride=s, padding=p, dilation=dl)
    g = rng.standard_normal(conv(d)(np.zeros(x_shape), w, **kw).shape)
    grad = getattr(F, f"conv{d}d_input_grad")
    monkeypatch.setattr(_conv_grad, "gemm_fold_bands", lambda *a: 1)
    whole = grad(g, w, x_shape, workers=1, **kw)
    rows = size[-2] if d > 1 else 1
    monkeypatch.setattr(_conv_grad, "gemm_fold_bands", lambda *a: min(bands, rows))
    for workers in (1, 2):
        np.testing.assert_array_equal(grad(g, w, x_shape, workers=workers, **kw), whole)


@pytest.mark.parametrize("units, KH, dh, H, threads, expect", [
    (8, 7, 1, 224, 2, 1),      # the stem's batch: units enough
    (1, 7, 1, 224, 2, 4),      # one image of the stem on 2 threads
    (1, 7, 1, 224, 64, 9),     # at least 4 kernel heights (24 rows) a band
    (1, 3, 1, 10, 16, 1),      # too few rows to split
])
def test_gemm_fold_bands(units, KH, dh, H, threads, expect):
    from convolve import _conv_grad
    assert _conv_grad.gemm_fold_bands(units, KH, dh, H, threads) == expect


@pytest.mark.parametrize("bands", [0, 11])
def test_gemm_fold_rejects_bands_outside_the_rows(bands):
    """bands must lie in [1, H] (H = 10 input rows here)."""
    from convolve import _engine, _igemm
    gy = np.zeros((1, 12, 25), np.float32)
    w = np.zeros((12, 2, 3, 3), np.float32)
    wp = _engine.pack6(np.ascontiguousarray(w.reshape(12, 18).T), 1)   # rows (c, k) of W^T
    gx = np.empty((1, 2, 1, 10, 10), np.float32)
    with pytest.raises(ValueError, match="bands is not in"):
        _igemm.gemm_fold(gy, wp, gx, (1, 3, 3), (1, 5, 5), (1, 2, 2), (1, 1, 1), (0, 1, 1), 2,
                         1, bands)
