"""Every forward method (direct, implicit GEMM, Winograd, auto) against the
NumPy oracle over the option grid; bitwise thread independence."""
import numpy as np
import pytest

from convolve import _engine
from convolve.functional import conv1d, conv2d, conv3d
from reference import conv_ref

CONV = {1: conv1d, 2: conv2d, 3: conv3d}
CASES = [  # d, N, C, O, size, kernel, stride, padding, dilation, groups
    (1, 2, 9, 13, 40, 5, 1, 2, 1, 1), (1, 1, 8, 8, 33, 3, 2, 1, 2, 2),
    (2, 2, 12, 7, 17, 1, 1, 0, 1, 1), (2, 1, 10, 30, 15, 3, 2, 1, 1, 1),
    (2, 2, 6, 12, 19, 3, 1, 1, 2, 3), (2, 1, 3, 8, 23, 7, 2, 3, 1, 1),
    (2, 2, 16, 16, 14, 3, 1, 1, 1, 1), (2, 1, 8, 6, 21, 4, 3, 2, 1, 2),
    (2, 3, 5, 9, 11, (2, 5), (1, 2), ((0, 2), (3, 1)), 1, 1),
    (3, 1, 4, 8, 7, 3, 1, 1, 1, 2), (3, 2, 6, 6, 8, 2, 2, 1, 1, 1),
    (3, 2, 5, 20, 9, 3, (1, 2, 2), 1, (2, 1, 1), 1), (2, 1, 4, 36, 13, 5, 1, "same", 2, 2),
    # two, three and five output channels per group (the direct kernel's 3-channel tile)
    (2, 2, 40, 3, 30, 4, 1, 2, 1, 1), (2, 1, 6, 9, 16, 3, 1, 1, 1, 3),
    (2, 2, 8, 5, 20, 5, 1, 2, 1, 1), (2, 1, 6, 4, 17, 3, 1, (1, 0), 1, 2),
    # 1x1 with a reduction the implicit GEMM runs in chunks (> 128 taps)
    (2, 2, 200, 13, 9, 1, 1, 0, 1, 1),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["direct", "blocked", "gemm", "batch", "fft", "auto"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_method_matches_reference(case, method, dtype, rng, assert_close):
    d, N, C, O, size, k, s, p, dl, g = case
    kernel = (k,) * d if np.isscalar(k) else k
    x = rng.standard_normal((N, C) + (size,) * d).astype(dtype)
    w = rng.standard_normal((O, C // g) + kernel).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    got = CONV[d](x, w, b, stride=s, padding=p, dilation=dl, groups=g, method=method)
    assert got.dtype == dtype
    assert_close(got, conv_ref(x, w, b, stride=s, padding=p, dilation=dl, groups=g))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["gemm", "direct", "blocked", "batch"])
def test_threads_bitwise(method, dtype, rng):
    x = rng.standard_normal((3, 24, 21, 26)).astype(dtype)
    w = rng.standard_normal((30, 12, 3, 3)).astype(dtype)
    kw = dict(stride=2, padding=1, groups=2, method=method)
    np.testing.assert_array_equal(conv2d(x, w, workers=1, **kw), conv2d(x, w, workers=2, **kw))
    w = rng.standard_normal((3, 24, 4, 4)).astype(dtype)
    kw = dict(padding=2, method=method)
    np.testing.assert_array_equal(conv2d(x, w, workers=1, **kw), conv2d(x, w, workers=2, **kw))
    # 1x1: the implicit GEMM's column blocks run across images (546 columns
    # an image); with few blocks (2 images of 5 x 5) its panels split by threads
    w = rng.standard_normal((30, 24, 1, 1)).astype(dtype)
    kw = dict(method=method)
    np.testing.assert_array_equal(conv2d(x, w, workers=1, **kw), conv2d(x, w, workers=2, **kw))
    x = rng.standard_normal((2, 40, 5, 5)).astype(dtype)
    w = rng.standard_normal((64, 40, 1, 1)).astype(dtype)
    want = conv2d(x, w, workers=1, **kw)
    for workers in (2, 3, 8):
        np.testing.assert_array_equal(want, conv2d(x, w, workers=workers, **kw))


@pytest.mark.parametrize("method", ["gemm", "blocked"])
def test_nan_stays_in_its_window(method, rng):
    """The GEMM gathers and the blocked kernel reads exactly the windows: a NaN
    reaches only the outputs whose windows contain it (no zero-tap leaks as
    in a polyphase rewrite)."""
    x = rng.standard_normal((1, 8, 9, 9))
    x[0, 2, 4, 4] = np.nan
    w = rng.standard_normal((24, 8, 3, 3))
    y = conv2d(x, w, stride=2, padding=1, method=method)
    nan = np.isnan(y[0, 0])
    expected = np.zeros_like(nan)
    for oh in range(5):
        for ow in range(5):
            expected[oh, ow] = 0 <= 4 - (2 * oh - 1) < 3 and 0 <= 4 - (2 * ow - 1) < 3
    np.testing.assert_array_equal(nan, expected)


@pytest.mark.parametrize("N", [1, 17, 40])
def test_batch_lanes_any_batch(N, rng, assert_close):
    """Batches that do not fill the lanes (padded with zero images)."""
    x = rng.standard_normal((N, 6, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
    assert_close(conv2d(x, w, method="batch"), conv_ref(x, w))


def test_batchlane_weight_grad(rng, assert_close):
    """The weight gradient with the batch as lanes (LeNet's second layer)."""
    from convolve import _conv_grad
    from convolve.functional import conv2d_weight_grad
    x = rng.standard_normal((40, 6, 14, 14))
    gy = rng.standard_normal((40, 16, 10, 10))
    assert _conv_grad.batchlane_weight_grad_pays(40, 8, (5, 5), (10, 10), (1, 1))
    got = conv2d_weight_grad(x, gy, (16, 6, 5, 5))
    win = np.lib.stride_tricks.sliding_window_view(x, (5, 5), axis=(2, 3))
    assert_close(got, np.einsum("nohw,nchwij->ocij", gy, win))


def test_auto_routes():
    """The documented choices of method='auto'."""
    assert _engine.gemm_pays((128, 64, 1, 3, 3), (1, 2, 2), 1)       # s2_56
    assert _engine.gemm_pays((64, 256, 1, 1, 1), (1, 1, 1), 1)       # 1x1
    assert not _engine.gemm_pays((64, 64, 1, 3, 3), (1, 1, 1), 2)    # stride 1: direct
    assert not _engine.gemm_pays((64, 3, 1, 7, 7), (1, 2, 2), 1)     # stem: 3 channels
    assert not _engine.gemm_pays((64, 1, 1, 3, 3), (1, 1, 1), 64)    # depthwise
    assert _engine.blocked_pays((128, 64, 1, 3, 3), 4)                # s2_56
    assert _engine.blocked_pays((64, 3, 1, 7, 7), 4)                  # stem
    assert _engine.blocked_pays((16, 6, 1, 5, 5), 4)                  # lenet2
    assert _engine.blocked_pays((16, 6, 1, 5, 5), 8)
    assert not _engine.blocked_pays((6, 16, 1, 5, 5), 8)               # lenet2 input grad
    assert not _engine.blocked_pays((6, 1, 1, 5, 5), 4)               # lenet1: 6 channels
    assert not _engine.blocked_pays((64, 256, 1, 1, 1), 4)            # 1x1: a plain GEMM
    assert not _engine.blocked_pays((1, 1, 1, 3, 3), 4)               # depthwise
    assert not _engine.blocked_pays((20, 16, 1, 3, 3), 4)             # panels 20/32 full
    # one output row's workspace (every depth plane of the band) bounded
    assert _engine.blocked_fits((32, 16, 3, 3, 3), (2, 32, 32, 32, 32), (1, 1, 1),
                                (1, 1, 1), 1, 4)
    assert not _engine.blocked_fits((64, 256, 3, 3, 3), (1, 64, 128, 128, 128), (1, 1, 1),
                                    (1, 1, 1), 1, 4)
    lenet2 = ((64, 6, 1, 14, 14), (16, 6, 1, 5, 5), (64, 16, 1, 10, 10))
    assert _engine.batch_pays(*lenet2, np.float32)
    lenet1 = ((64, 1, 1, 32, 32), (6, 1, 1, 5, 5), (64, 6, 1, 28, 28))
    assert not _engine.batch_pays(*lenet1, np.float32)      # rows long enough
    assert not _engine.batch_pays((8,) + lenet2[0][1:], lenet2[1], (8,) + lenet2[2][1:],
                                  np.float32)               # batch too small


GRAD_CASES = [  # d, x_shape, w_shape, kwargs
    (2, (2, 4, 13, 11), (6, 4, 5, 5), dict(padding=2)),
    (2, (2, 6, 15, 12), (6, 2, 3, 4), dict(stride=2, padding=((1, 2), (0, 3)), groups=3)),
    (2, (1, 3, 17, 16), (4, 3, 3, 3), dict(stride=(2, 3), dilation=2, padding=1,
                                           padding_mode="reflect")),
    (1, (2, 3, 40), (5, 3, 7), dict(stride=3, padding="same", padding_mode="circular")),
    (3, (1, 2, 7, 8, 6), (3, 2, 3, 3, 2), dict(padding=1, dilation=(1, 2, 1))),
]


@pytest.mark.parametrize("case", GRAD_CASES)
def test_fft_gradients_match_direct(case, rng, assert_close):
    """conv*d_input_grad / conv*d_weight_grad with method='fft' equal the
    direct gradients (which tests/test_conv_grad.py checks by finite
    differences and against torch.autograd)."""
    import convolve.functional as F
    d, xs, ws, kw = case
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    gy = rng.standard_normal(getattr(F, f"conv{d}d")(x, w, **kw).shape)
    ig, wg = getattr(F, f"conv{d}d_input_grad"), getattr(F, f"conv{d}d_weight_grad")
    assert_close(ig(gy, w, xs, method="fft", **kw), ig(gy, w, xs, **kw))
    assert_close(wg(x, gy, ws, method="fft", **kw), wg(x, gy, ws, **kw))


def test_gradient_method_errors(rng):
    import convolve.functional as F
    with pytest.raises(ValueError, match="method must be one of"):
        F.conv2d_weight_grad(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), (1, 1, 3, 3),
                             method="winograd")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("O", [32, 40, 56])
def test_blocked_panel_pairs_bitwise(O, dtype, rng):
    """The blocked kernel multiplies channel panels in pairs (512-bit
    registers on AVX-512 builds) and a last odd panel alone: every output
    is the same chain of FMAs, so each channel slice equals its own call
    bit for bit (one panel: no pair), with bias, strided and grouped."""
    x = rng.standard_normal((2, 2 * 12, 15, 14)).astype(dtype)
    w = rng.standard_normal((2 * O, 12, 3, 3)).astype(dtype)
    b = rng.standard_normal(2 * O).astype(dtype)
    kw = dict(stride=2, padding=1, method="blocked")
    whole = conv2d(x, w, b, groups=2, **kw)
    jw = 16 if dtype == np.float32 else 8
    for g in range(2):
        xg = x[:, 12 * g:12 * (g + 1)]
        for o0 in range(0, O, jw):
            o1 = min(O, o0 + jw)
            one = conv2d(xg, w[g * O + o0:g * O + o1], b[g * O + o0:g * O + o1], **kw)
            np.testing.assert_array_equal(whole[:, g * O + o0:g * O + o1], one)
    assert_close = np.testing.assert_allclose
    assert_close(whole, conv_ref(x, w, b, stride=2, padding=1, groups=2),
                 rtol=1e-4 if dtype == np.float32 else 1e-12,
                 atol=1e-4 if dtype == np.float32 else 1e-12)
