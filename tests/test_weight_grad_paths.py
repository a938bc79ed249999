"""The weight-gradient kernels (dot products for few channels per group, the
blocked micro-kernel with channel lanes, the BLAS GEMM) agree with each other
and with an einsum oracle on every option, and do not depend on the thread
count."""
import itertools

import numpy as np
import pytest

from convolve import _conv_grad
from convolve.functional import conv1d_weight_grad, conv2d_weight_grad, conv3d_weight_grad

WGRAD = {1: conv1d_weight_grad, 2: conv2d_weight_grad, 3: conv3d_weight_grad}
PATHS = ("direct", "blocked", "gemm")


def force(monkeypatch, path):
    """Route the weight gradient to one kernel."""
    monkeypatch.setattr(_conv_grad, "direct_weight_grad_pays", lambda *a: path == "direct")
    monkeypatch.setattr(_conv_grad, "blocked_weight_grad_pays", lambda *a: path == "blocked")


def weight_grad_ref(x, gy, kernel, stride, padding, dilation, groups):
    """gw[o, c, k] = sum_{n, p} gy[n, o, p] * xpad[n, g*Cg + c, p*s + k*dl] (float64)."""
    d = len(kernel)
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(p, p) for p in padding])
    N, C = x.shape[:2]
    O = gy.shape[1]
    Cg, Og = C // groups, O // groups
    osp = gy.shape[2:]
    gw = np.zeros((O, Cg) + tuple(kernel))
    for k in itertools.product(*map(range, kernel)):
        win = xp[(slice(None), slice(None)) + tuple(
            slice(kk * dl, kk * dl + (n - 1) * s + 1, s)
            for kk, dl, s, n in zip(k, dilation, stride, osp))]
        for g in range(groups):
            gw[(slice(g * Og, (g + 1) * Og), slice(None)) + k] = np.einsum(
                "nop,ncp->oc", gy[:, g * Og:(g + 1) * Og].reshape(N, Og, -1),
                win[:, g * Cg:(g + 1) * Cg].reshape(N, Cg, -1))
    return gw


CASES = [  # d, N, C, O, size, kernel, stride, padding, dilation, groups
    (1, 3, 2, 3, 40, 5, 1, 2, 1, 1), (1, 2, 4, 4, 33, 3, 2, 1, 2, 4),
    (2, 2, 1, 6, 17, 5, 1, 0, 1, 1), (2, 3, 8, 8, 15, 3, 1, 1, 1, 8),
    (2, 2, 6, 6, 19, 3, 2, 1, 1, 6), (2, 2, 3, 4, 23, 7, 2, 3, 1, 1),
    (2, 1, 4, 8, 21, 3, 3, 2, 2, 2), (2, 2, 8, 16, 12, 3, 1, 1, 1, 1),
    (3, 2, 2, 4, 7, 3, 1, 1, 1, 2), (3, 1, 3, 3, 8, 2, (1, 2, 2), 0, 1, 3),
    (2, 2, 5, 20, 13, 3, 2, 1, 1, 1), (3, 2, 4, 18, 6, 3, (2, 1, 1), 1, (1, 2, 1), 2),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_paths_match_reference(case, dtype, rng, assert_close, monkeypatch):
    d, N, C, O, size, k, s, p, dl, g = case
    kernel, stride = (k,) * d, (s,) * d if np.isscalar(s) else s
    padding = (p,) * d if np.isscalar(p) else p
    dilation = (dl,) * d if np.isscalar(dl) else dl
    x = rng.standard_normal((N, C) + (size,) * d).astype(dtype)
    osp = tuple((n + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                for n, pp, dd, kk, ss in zip((size,) * d, padding, dilation, kernel, stride))
    gy = rng.standard_normal((N, O) + osp).astype(dtype)
    ref = weight_grad_ref(x, gy, kernel, stride, padding, dilation, g)
    fn = WGRAD[d]
    results = {}
    for path in PATHS:
        force(monkeypatch, path)
        results[path] = fn(x, gy, (O, C // g) + kernel, stride=stride, padding=padding,
                           dilation=dilation, groups=g)
        assert results[path].dtype == dtype
        assert_close(results[path], ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_direct_weight_grad_threads_bitwise(dtype, rng):
    x = rng.standard_normal((5, 16, 30, 31)).astype(dtype)
    gy = rng.standard_normal((5, 16, 15, 16)).astype(dtype)
    args = dict(stride=2, padding=1, groups=16)
    assert _conv_grad.direct_weight_grad_pays(16, 1, 16, (3, 3))
    one = conv2d_weight_grad(x, gy, (16, 1, 3, 3), workers=1, **args)
    two = conv2d_weight_grad(x, gy, (16, 1, 3, 3), workers=2, **args)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("O", [6, 16, 40])
def test_blocked_weight_grad_threads_bitwise(O, dtype, rng, monkeypatch):
    """Narrow (8 taps x one vector) and wide (6 x two) tiles, several channel
    panels and tap blocks split among threads: the same bits."""
    monkeypatch.setattr(_conv_grad, "blocked_weight_grad_pays", lambda *a: True)
    x = rng.standard_normal((5, 6, 30, 31)).astype(dtype)
    gy = rng.standard_normal((5, O, 15, 16)).astype(dtype)
    one = conv2d_weight_grad(x, gy, (O, 6, 3, 3), stride=2, padding=1, workers=1)
    two = conv2d_weight_grad(x, gy, (O, 6, 3, 3), stride=2, padding=1, workers=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one, weight_grad_ref(x, gy, (3, 3), (2, 2), (1, 1), (1, 1), 1),
                               rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-3 if dtype == np.float32 else 1e-10)


def test_blocked_weight_grad_routes():
    pays = _conv_grad.blocked_weight_grad_pays
    assert pays((16, 6, 5, 5), 1, 4)              # lenet2
    assert not pays((6, 1, 5, 5), 1, 4)           # lenet1: one vector, part empty
    assert pays((64, 3, 7, 7), 1, 8)              # stem
    assert not pays((64, 1, 3, 3), 64, 4)         # depthwise: one channel per group
    assert not pays((20, 16, 3, 3), 1, 4)         # panels 20/32 full
    assert not pays((16, 1, 3), 1, 4)             # three taps


def test_direct_weight_grad_nan_stays_in_its_window(rng):
    """A NaN in the input reaches exactly the taps whose windows read it (the
    polyphase rewrite must not leak it through zero taps)."""
    x = rng.standard_normal((1, 2, 9, 9))
    x[0, 0, 0, 0] = np.nan        # read only by tap (1, 1) of output (0, 0) with padding 1
    gy = rng.standard_normal((1, 2, 5, 5))
    gw = conv2d_weight_grad(x, gy, (2, 1, 3, 3), stride=2, padding=1, groups=2)
    nan = np.isnan(gw)
    assert nan[0, 0, 1, 1] and nan.sum() == 1


@pytest.mark.parametrize("padding, stride, dilation", [
    (((1, 2), (0, 3)), 1, 1), (((4, 4), (5, 0)), 1, 1), (((2, 3), (3, 2)), 2, 1),
    ("same", 1, 2), (((3, 1), (0, 4)), 3, 2),
])
def test_implicit_padding_matches_gemm(padding, stride, dilation, rng, monkeypatch):
    """Zero padding read implicitly by the dot-product kernel (asymmetric, larger
    than the kernel, with strides and dilation) equals the GEMM on a padded copy."""
    x = rng.standard_normal((3, 4, 11, 13))
    k = (4, 3)
    from convolve.functional import conv2d
    gy = rng.standard_normal(conv2d(x, rng.standard_normal((4, 1) + k), stride=stride,
                                    padding=padding, dilation=dilation, groups=4).shape)
    res = {}
    for path in ("direct", "gemm"):
        force(monkeypatch, path)
        res[path] = conv2d_weight_grad(x, gy, (4, 1) + k, stride=stride, padding=padding,
                                       dilation=dilation, groups=4)
    np.testing.assert_allclose(res["direct"], res["gemm"], rtol=1e-12, atol=1e-12)


def test_blocked_weight_grad_nan_stays_in_its_window(rng):
    """The blocked kernel reads exactly each tap's strided window of the
    padded input: a NaN reaches only the taps that read it."""
    x = rng.standard_normal((1, 2, 9, 9))
    x[0, 1, 0, 0] = np.nan        # read only by tap (1, 1) of output (0, 0) with padding 1
    gy = rng.standard_normal((1, 16, 5, 5))
    assert _conv_grad.blocked_weight_grad_pays((16, 2, 3, 3), 1, 8)
    gw = conv2d_weight_grad(x, gy, (16, 2, 3, 3), stride=2, padding=1)
    nan = np.isnan(gw)
    assert nan[:, 1, 1, 1].all() and nan.sum() == 16


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("O", [32, 40])
def test_blocked_weight_grad_pixel_chunks(O, dtype, rng, monkeypatch):
    """More output pixels than one transposed chunk of the output gradient
    (2048), a tail that is not a multiple of the 8 x 8 transpose, full and
    part-filled channel panels (O = 40: the last panel has zero lanes): the
    reference, and the same bits on 1 and 2 threads."""
    monkeypatch.setattr(_conv_grad, "blocked_weight_grad_pays", lambda *a: True)
    x = rng.standard_normal((2, 3, 52, 49)).astype(dtype)
    gy = rng.standard_normal((2, O, 50, 47)).astype(dtype)
    one = conv2d_weight_grad(x, gy, (O, 3, 3, 3), workers=1)
    two = conv2d_weight_grad(x, gy, (O, 3, 3, 3), workers=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one, weight_grad_ref(x, gy, (3, 3), (1, 1), (0, 0), (1, 1), 1),
                               rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-3 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S", [1, 2, 3, 6])
def test_blocked_weight_grad_image_groups(S, dtype, rng, monkeypatch):
    """The images in S groups summed as partial gradients (units of work for
    many threads): the reference, grouped convolution and stride included,
    and the same bits on 1 and 2 threads for each S."""
    monkeypatch.setattr(_conv_grad, "blocked_weight_grad_pays", lambda *a: True)
    monkeypatch.setattr(_conv_grad, "weight_grad_image_groups", lambda *a: S)
    x = rng.standard_normal((6, 8, 13, 11)).astype(dtype)
    gy = rng.standard_normal((6, 36, 7, 6)).astype(dtype)
    kw = dict(stride=2, padding=1, groups=2)
    one = conv2d_weight_grad(x, gy, (36, 4, 3, 3), workers=1, **kw)
    np.testing.assert_array_equal(one, conv2d_weight_grad(x, gy, (36, 4, 3, 3), workers=2, **kw))
    np.testing.assert_allclose(one, weight_grad_ref(x, gy, (3, 3), (2, 2), (1, 1), (1, 1), 2),
                               rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("N, tile_bytes, gy_bytes, expect", [
    (8, 38_400, 25_690_112, 8),      # the stem: small partials, one group an image
    (8, 147_456, 6_422_528, 4),      # res56: an eighth of gy holds 5, 4 divides 8
    (8, 2_359_296, 1_605_632, 1),    # res14: the partials would outweigh gy
    (64, 1_000, 10 ** 9, 16),        # at most WG_MAX_GROUPS
    (7, 1_000, 10 ** 9, 7),
    (7, 1_000, 40_000, 1),           # 5 fit, none of 2..5 divides 7
])
def test_weight_grad_image_groups(N, tile_bytes, gy_bytes, expect):
    S = _conv_grad.weight_grad_image_groups(N, tile_bytes, gy_bytes)
    assert S == expect and N % S == 0
    assert S == 1 or S * tile_bytes <= min(gy_bytes // 8, _conv_grad.WG_PARTIAL_BYTES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("panels", [2, 3, 8])
def test_blocked_weight_grad_panels_per_unit(panels, dtype, rng, monkeypatch):
    """Units of several channel panels (float64 strided layers): each tile
    sums in the same order, so the same bits as one panel a unit, with a
    part-filled last panel (40 channels a group) and a last unit of fewer
    panels; 1 and 2 threads."""
    monkeypatch.setattr(_conv_grad, "blocked_weight_grad_pays", lambda *a: True)
    x = rng.standard_normal((3, 8, 15, 13)).astype(dtype)
    gy = rng.standard_normal((3, 80, 7, 6)).astype(dtype)
    kw = dict(stride=2, padding=(0, 0), groups=2)
    monkeypatch.setattr(_conv_grad, "weight_grad_panels", lambda *a: 1)
    one = conv2d_weight_grad(x, gy, (80, 4, 3, 3), workers=1, **kw)
    monkeypatch.setattr(_conv_grad, "weight_grad_panels", lambda *a: panels)
    for workers in (1, 2):
        np.testing.assert_array_equal(
            conv2d_weight_grad(x, gy, (80, 4, 3, 3), workers=workers, **kw), one)
    np.testing.assert_allclose(one, weight_grad_ref(x, gy, (3, 3), (2, 2), (0, 0), (1, 1), 2),
                               rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)


def test_weight_grad_panels():
    """Four panels a unit for strided float64 layers whose chunk of input
    windows exceeds L2 (s2_56), not the stem (3 channels), not float32, not
    stride 1: those take a pair where the build has AVX-512, else one."""
    from convolve import _blocked
    wp = _conv_grad.weight_grad_panels
    base = 2 if _blocked.pair_panels() else 1      # pairs on AVX-512 builds
    assert wp(8, 64, (58, 58), (28, 28), (2, 2), (3, 3)) == _conv_grad.WG_PANELS
    assert wp(4, 64, (58, 58), (28, 28), (2, 2), (3, 3)) == base
    assert wp(8, 3, (230, 230), (112, 112), (2, 2), (7, 7)) == base
    assert wp(8, 64, (58, 58), (56, 56), (1, 1), (3, 3)) == base
