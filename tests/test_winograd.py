"""Winograd F(2x2, 3x3) (``method='winograd'`` and the 'auto' choice) against
the NumPy oracle, the direct method, and its documented error bound."""
import numpy as np
import pytest

from convolve.functional import conv2d, conv2d_input_grad
from reference import conv_ref

SHAPES = [  # (N, C, H, W, K, padding)
    (1, 1, 3, 3, 1, 0), (2, 5, 7, 9, 7, 1), (3, 13, 10, 11, 20, 0), (1, 8, 1, 1, 8, 1),
    (2, 3, 6, 5, 4, 2), (1, 7, 4, 3, 13, ((0, 2), (1, 0))), (2, 16, 19, 37, 17, 1),
    (1, 6, 40, 40, 6, 3), (1, 17, 8, 50, 12, ((1, 1), (2, 0))), (2, 24, 16, 16, 24, "same"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [False, True])
def test_matches_reference(shape, dtype, bias, rng, assert_close):
    N, C, H, W, K, padding = shape
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    got = conv2d(x, w, b, padding=padding, method="winograd")
    assert got.dtype == dtype
    assert_close(got, conv_ref(x, w, b, padding=padding))


def test_auto_takes_winograd_and_agrees_with_direct(rng, assert_close):
    x = rng.standard_normal((2, 32, 12, 14)).astype(np.float32)
    w = rng.standard_normal((16, 32, 3, 3)).astype(np.float32)
    auto = conv2d(x, w, padding=1)
    wino = conv2d(x, w, padding=1, method="winograd")
    direct = conv2d(x, w, padding=1, method="direct")
    np.testing.assert_array_equal(auto, wino)        # 'auto' chose Winograd here
    assert not np.array_equal(wino, direct)          # ... which is a different computation
    assert_close(auto, direct)


def test_input_gradient_of_3x3_layer(rng, assert_close):
    """The input gradient of a 3x3 stride-1 layer is a 3x3 correlation with the
    flipped, channel-transposed kernel: 'auto' runs it through Winograd."""
    x_shape = (2, 24, 9, 10)
    w = rng.standard_normal((20, 24, 3, 3))
    gy = rng.standard_normal((2, 20, 9, 10))
    gx = conv2d_input_grad(gy, w, x_shape, padding=1)
    # gx[n, c] = sum_k gy[n, k] correlated with w[k, c] flipped, padding 2 - 1
    ref = conv_ref(gy, np.flip(w, (2, 3)).transpose(1, 0, 2, 3).copy(), padding=1)
    assert_close(gx, ref)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_input_takes_the_direct_kernel(bad, rng):
    x = rng.standard_normal((1, 16, 10, 10))
    x[0, 3, 4, 5] = bad
    w = rng.standard_normal((16, 16, 3, 3))
    np.testing.assert_array_equal(conv2d(x, w, padding=1, method="winograd"),
                                  conv2d(x, w, padding=1, method="direct"))


def test_non_finite_weight_takes_the_direct_kernel(rng):
    x = rng.standard_normal((1, 16, 10, 10))
    w = rng.standard_normal((16, 16, 3, 3))
    w[2, 3, 1, 1] = np.inf
    np.testing.assert_array_equal(conv2d(x, w, padding=1, method="winograd"),
                                  conv2d(x, w, padding=1, method="direct"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_bitwise_equal(dtype, rng):
    x = rng.standard_normal((3, 20, 23, 29)).astype(dtype)
    w = rng.standard_normal((22, 20, 3, 3)).astype(dtype)
    one = conv2d(x, w, padding=1, method="winograd", workers=1)
    two = conv2d(x, w, padding=1, method="winograd", workers=2)
    np.testing.assert_array_equal(one, two)


def _exact_int_conv(xi, wi):
    """Exact 3x3 'same' correlation of int64 arrays (no rounding anywhere)."""
    xp = np.pad(xi, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    return np.einsum("nchwij,kcij->nkhw", win, wi)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_error_within_documented_factor_of_direct(dtype):
    """The rounding error of Winograd stays within 10x the direct method's
    (the bar of the engine guide) on a ResNet-like layer. The exact result
    comes from integer arithmetic: inputs are integers (26 bits for float64,
    so that float64 sums do round; 12 bits scaled for float32)."""
    rng = np.random.default_rng(7)
    bits = 26 if dtype == np.float64 else 12
    C = 16 if dtype == np.float64 else 64      # int64 sums stay below 2**63
    xi = rng.integers(-2 ** bits, 2 ** bits, (2, C, 14, 14))
    wi = rng.integers(-2 ** bits, 2 ** bits, (C, C, 3, 3))
    exact = _exact_int_conv(xi, wi)
    x, w = xi.astype(dtype), wi.astype(dtype)
    err_d = np.abs(conv2d(x, w, padding=1, method="direct") - exact).max()
    err_w = np.abs(conv2d(x, w, padding=1, method="winograd") - exact).max()
    assert err_d > 0                     # the sums do round: a real comparison
    assert err_w <= 10 * err_d


@pytest.mark.parametrize("kwargs, rule", [
    ({"stride": 2}, "stride 1"), ({"dilation": 2}, "dilation 1"), ({"groups": 2}, "groups=1"),
])
def test_forced_winograd_rejects_what_it_cannot_compute(kwargs, rule, rng):
    x = rng.standard_normal((1, 4, 8, 8))
    w = rng.standard_normal((4, 4 // kwargs.get("groups", 1), 3, 3))
    with pytest.raises(ValueError, match="method='winograd'.*" + rule.replace("=", "=")):
        conv2d(x, w, method="winograd", **kwargs)


def test_forced_winograd_rejects_other_kernel_sizes(rng):
    with pytest.raises(ValueError, match="3x3 kernel"):
        conv2d(rng.standard_normal((1, 2, 8, 8)), rng.standard_normal((2, 2, 5, 5)),
               method="winograd")


def test_unknown_method(rng):
    with pytest.raises(ValueError, match="method must be one of"):
        conv2d(rng.standard_normal((1, 2, 8, 8)), rng.standard_normal((2, 2, 3, 3)),
               method="gemm3")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("K", [1, 6, 7, 13])
def test_packed_transform_is_g_w_gt(K, dtype, rng):
    """The compiled weight transform equals G w G^T computed with einsum, for
    strided (flipped) weights and K not a multiple of the panel height."""
    from convolve import _winograd
    G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]])
    C = 5
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)[:, :, ::-1, ::-1]
    u, finite = _winograd.pack_weight(w, n_threads=2)
    assert finite
    ref = np.einsum("ai,kcij,bj->abkc", G, w.astype(np.float64), G).reshape(16, K, C)
    Kp = u.shape[1] * 6
    got = u.transpose(0, 1, 3, 2).reshape(16, Kp, C)
    np.testing.assert_allclose(got[:, :K], ref, rtol=1e-6 if dtype == np.float32 else 1e-15,
                               atol=1e-6 if dtype == np.float32 else 1e-15)
    assert not got[:, K:].any()
    w[0, 0, 1, 1] = np.nan
    assert not _winograd.pack_weight(w, n_threads=1)[1]
