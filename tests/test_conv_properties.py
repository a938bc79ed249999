"""Properties from the theory of convolution, checked on ``convolve.functional``.

Each test states an identity that any correct implementation satisfies and
compares two different computations of the same numbers (a different
option, a different kernel, plain ``einsum``/``scipy.signal``), in float64
so that tolerances can be tight.
"""
import numpy as np
import pytest
import scipy.signal

from convolve import functional as cf

CONV = {1: cf.conv1d, 2: cf.conv2d, 3: cf.conv3d}
DIMS = [1, 2, 3]
SPATIAL = {1: (17,), 2: (9, 10), 3: (6, 7, 5)}
KERNEL = {1: (4,), 2: (3, 2), 3: (3, 2, 2)}


def data(d, n=2, c=4, o=6, kernel=None, seed=0, groups=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c) + SPATIAL[d])
    w = rng.standard_normal((o, c // groups) + (KERNEL[d] if kernel is None else kernel))
    return x, w


def spatial_slices(d, sl):
    return (Ellipsis,) + (sl,) * d


@pytest.mark.parametrize("d", DIMS)
def test_1x1_is_channel_matmul(d, assert_close):
    x, w = data(d, kernel=(1,) * d)
    expected = np.einsum("nc...,oc->no...", x, w[(Ellipsis,) + (0,) * d])
    assert_close(CONV[d](x, w), expected)
    # with stride: the subsampled matmul
    assert_close(CONV[d](x, w, stride=2), expected[spatial_slices(d, slice(None, None, 2))])
    # float32 too
    assert_close(CONV[d](x.astype(np.float32), w.astype(np.float32)), expected, np.float32)


@pytest.mark.parametrize("padding", [0, 2, "full", ((2, 0), (1, 3), (0, 1))],
                         ids=["0", "2", "full", "pairs"])
@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("d", DIMS)
def test_stride_is_subsampled_stride_1(d, stride, padding, assert_close):
    x, w = data(d)
    if isinstance(padding, tuple):
        padding = padding[:d]
    for dilation in (1, 2):
        dense = CONV[d](x, w, padding=padding, dilation=dilation)
        strided = CONV[d](x, w, padding=padding, dilation=dilation, stride=stride)
        assert_close(strided, dense[spatial_slices(d, slice(None, None, stride))])


@pytest.mark.parametrize("d", DIMS)
def test_stride_tuple_subsamples_each_axis(d, assert_close):
    x, w = data(d)
    stride = (3, 1, 2)[:d]
    dense = CONV[d](x, w, padding=1)
    view = (Ellipsis,) + tuple(slice(None, None, s) for s in stride)
    assert_close(CONV[d](x, w, padding=1, stride=stride), dense[view])


@pytest.mark.parametrize("dilation", [2, 3, (1, 2, 3)], ids=["2", "3", "tuple"])
@pytest.mark.parametrize("d", DIMS)
def test_dilation_is_zero_stuffed_kernel(d, dilation, assert_close):
    x, w = data(d)
    dl = (dilation,) * d if isinstance(dilation, int) else dilation[:d]
    stuffed = np.zeros(w.shape[:2] + tuple(s * (k - 1) + 1 for k, s in zip(w.shape[2:], dl)))
    stuffed[(Ellipsis,) + tuple(slice(None, None, s) for s in dl)] = w
    fits = all(k <= n for k, n in zip(stuffed.shape[2:], x.shape[2:]))
    for padding in ((0, "same", "full") if fits else ("same", "full")):
        assert_close(CONV[d](x, w, dilation=dl, padding=padding),
                     CONV[d](x, stuffed, padding=padding))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("d", DIMS)
def test_linear_in_x(d, mode, assert_close):
    x, w = data(d)
    x2, _ = data(d, seed=1)
    a, b = 1.5, -0.75
    opts = dict(padding=1, stride=2, padding_mode=mode)
    assert_close(CONV[d](a * x + b * x2, w, **opts),
                 a * CONV[d](x, w, **opts) + b * CONV[d](x2, w, **opts))


@pytest.mark.parametrize("d", DIMS)
def test_linear_in_weight(d, assert_close):
    x, w = data(d)
    _, w2 = data(d, seed=1)
    opts = dict(padding="same", dilation=2, groups=2)
    w, w2 = w[:, :2], w2[:, :2]
    assert_close(CONV[d](x, w + w2, **opts), CONV[d](x, w, **opts) + CONV[d](x, w2, **opts))
    assert_close(CONV[d](x, -3.0 * w, **opts), -3.0 * CONV[d](x, w, **opts))


@pytest.mark.parametrize("d", DIMS)
def test_bias_adds_per_channel(d, assert_close):
    x, w = data(d)
    bias = np.arange(w.shape[0], dtype=np.float64) - 2.5
    res = CONV[d](x, w, bias, padding=1)
    assert_close(res, CONV[d](x, w, padding=1) + bias.reshape((1, -1) + (1,) * d))


@pytest.mark.parametrize("d", DIMS)
def test_flip_is_correlation_with_flipped_kernel(d, assert_close):
    x, w = data(d)
    flipped = w[(Ellipsis,) + (slice(None, None, -1),) * d]
    for opts in ({}, {"padding": "same", "stride": 2},
                 {"padding": 1, "dilation": 2, "padding_mode": "circular"}):
        assert_close(CONV[d](x, w, flip=True, **opts), CONV[d](x, flipped, **opts))
    # flip twice is the identity
    assert_close(CONV[d](x, flipped, flip=True), CONV[d](x, w))


@pytest.mark.parametrize("mode", ["valid", "full"])
@pytest.mark.parametrize("d", DIMS)
def test_flip_is_scipy_convolve(d, mode, assert_close):
    """One channel: flip=True is the textbook convolution of scipy.signal."""
    x, w = data(d, n=1, c=1, o=1)
    res = CONV[d](x, w, flip=True, padding=mode)
    assert_close(res[0, 0], scipy.signal.convolve(x[0, 0], w[0, 0], mode=mode, method="direct"))
    res = CONV[d](x, w, padding=mode)
    assert_close(res[0, 0], scipy.signal.correlate(x[0, 0], w[0, 0], mode=mode,
                                                   method="direct"))


@pytest.mark.parametrize("d", DIMS)
def test_full_convolution_commutes_and_associates(d, assert_close):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((1, 1) + SPATIAL[d])
    b = rng.standard_normal((1, 1) + KERNEL[d])
    c = rng.standard_normal((1, 1) + (2,) * d)
    conv = lambda u, v: CONV[d](u, v, padding="full", flip=True)   # noqa: E731
    assert_close(conv(a, b), conv(b, a))
    assert_close(conv(conv(a, b), c), conv(a, conv(b, c)))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("d", DIMS)
def test_circular_shift_equivariance(d, stride, assert_close):
    x, w = data(d, kernel=(3, 2, 4)[:d])
    if stride > 1:   # spatial sizes divisible by the stride
        x = x[(Ellipsis,) + tuple(slice(0, n - n % stride) for n in x.shape[2:])]
    axes = tuple(range(2, 2 + d))
    shift = (3, -2, 1)[:d]
    opts = dict(padding="same", padding_mode="circular", stride=stride)
    y = CONV[d](x, w, **opts)
    assert y.shape[2:] == tuple(n // stride for n in x.shape[2:])
    rolled = CONV[d](np.roll(x, tuple(s * stride for s in shift), axis=axes), w, **opts)
    assert_close(rolled, np.roll(y, shift, axis=axes))
    # zero padding is not shift-equivariant: the check above can tell the modes apart
    z = CONV[d](np.roll(x, tuple(s * stride for s in shift), axis=axes), w, padding="same",
                stride=stride)
    assert not np.allclose(z, np.roll(CONV[d](x, w, padding="same", stride=stride), shift,
                                      axis=axes))


@pytest.mark.parametrize("groups", [2, 3, 6])
@pytest.mark.parametrize("d", DIMS)
def test_groups_is_concatenation(d, groups, assert_close):
    x, w = data(d, c=6, o=12, groups=groups)
    bias = np.linspace(-1, 1, 12)
    opts = dict(padding=((1, 0), (0, 2), (1, 1))[:d], stride=(1, 2, 1)[:d], dilation=2)
    cg, og = 6 // groups, 12 // groups
    parts = [CONV[d](x[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og],
                     bias[g * og:(g + 1) * og], **opts) for g in range(groups)]
    assert_close(CONV[d](x, w, bias, groups=groups, **opts), np.concatenate(parts, axis=1))


@pytest.mark.parametrize("d", DIMS)
def test_batch_items_are_independent(d, assert_close):
    x, w = data(d, n=3)
    res = CONV[d](x, w, padding="same")
    for i in range(3):
        assert_close(res[i:i + 1], CONV[d](x[i:i + 1], w, padding="same"))


@pytest.mark.parametrize("d", DIMS)
def test_delta_kernel_shifts(d, assert_close):
    """A kernel with one tap at offset t picks x[p + t - lo]: here a pure shift."""
    x, _ = data(d, c=1)
    w = np.zeros((1, 1) + (3,) * d)
    w[(0, 0) + (2,) * d] = 1.0
    res = CONV[d](x, w, padding=1)
    # output p reads padded index p + 2, i.e. x[p + 1]; the last row is padding
    inner = (Ellipsis,) + (slice(0, -1),) * d
    assert_close(res[inner], x[(Ellipsis,) + (slice(1, None),) * d])
    assert np.all(res[(Ellipsis, -1)] == 0)
