"""Bad input to ``convolve.functional.conv1d/2d/3d`` raises a clear error.

Every class of bad input in the contract raises ``ValueError`` or
``TypeError`` with a message naming the argument; the ``match`` patterns are
loose (case-insensitive, the argument's name or the rule) so that wording can
change. Each test also checks that the corresponding valid call works, so a
function that raised on everything could not pass.
"""
import numpy as np
import pytest

from convolve import functional as cf

CONV = {1: cf.conv1d, 2: cf.conv2d, 3: cf.conv3d}
DIMS = [1, 2, 3]
NAN = float("nan")


def data(d, n=2, c=4, o=6, size=7, k=3, cg=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c) + (size,) * d)
    w = rng.standard_normal((o, c if cg is None else cg) + (k,) * d)
    return x, w


def raises(exc, pattern):
    return pytest.raises(exc, match="(?i)" + pattern)


@pytest.mark.parametrize("d", DIMS)
def test_valid_call_works(d):
    x, w = data(d)
    assert CONV[d](x, w).shape == (2, 6) + (5,) * d


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize("d", DIMS)
def test_wrong_ndim_x(d):
    x, w = data(d)
    with raises(ValueError, r"\bx\b|input"):
        CONV[d](x[None], w)                       # one axis too many
    with raises(ValueError, r"\bx\b|input"):
        CONV[d](x[0, 0], w)                       # one axis too few (not even unbatched)
    with raises(ValueError, r"\bx\b|input"):
        CONV[d](np.float64(1.0), w)


@pytest.mark.parametrize("d", DIMS)
def test_wrong_ndim_weight(d):
    x, w = data(d)
    with raises(ValueError, "weight"):
        CONV[d](x, w[0])
    with raises(ValueError, "weight"):
        CONV[d](x, w[None])


@pytest.mark.parametrize("d", DIMS)
def test_channel_mismatch(d):
    x, w = data(d, cg=3)
    with raises(ValueError, "channel|weight"):
        CONV[d](x, w)
    with raises(ValueError, "channel|weight"):
        CONV[d](x[0], w)                          # unbatched too
    x, w = data(d, cg=4)
    with raises(ValueError, "channel|weight|groups"):
        CONV[d](x, w, groups=2)                   # C / groups = 2, weight has 4


@pytest.mark.parametrize("d", DIMS)
def test_groups_not_dividing(d):
    x, w = data(d, c=4, o=6, cg=1)
    with raises(ValueError, "groups"):
        CONV[d](x, w, groups=3)                   # 3 divides O=6, not C=4
    x, w = data(d, c=4, o=5, cg=2)
    with raises(ValueError, "groups"):
        CONV[d](x, w, groups=2)                   # divides C=4, not O=5
    x, w = data(d, c=4, o=6, cg=2)
    assert CONV[d](x, w, groups=2).shape[1] == 6


@pytest.mark.parametrize("groups", [0, -2])
@pytest.mark.parametrize("d", DIMS)
def test_groups_not_positive(d, groups):
    x, w = data(d)
    with raises(ValueError, "groups"):
        CONV[d](x, w, groups=groups)


@pytest.mark.parametrize("d", DIMS)
def test_groups_not_integer(d):
    x, w = data(d, cg=2)
    with raises((TypeError, ValueError), "groups"):
        CONV[d](x, w, groups=2.5)


@pytest.mark.parametrize("d", DIMS)
def test_kernel_larger_than_padded_input(d):
    x, w = data(d, size=3, k=4)
    with raises(ValueError, "kernel|padd|input|larger"):
        CONV[d](x, w)
    x, w = data(d, size=3, k=2)
    with raises(ValueError, "kernel|padd|input|larger|dilation"):
        CONV[d](x, w, dilation=3)                 # span 4 > 3
    with raises(ValueError, "kernel|padd|input|larger"):
        CONV[d](x, w, padding="valid", dilation=4)
    # the same kernels fit once padded
    assert CONV[d](x, w, dilation=3, padding=1).shape[2:] == (2,) * d
    x, w = data(d, size=3, k=4)
    assert CONV[d](x, w, padding=((0, 1),) * d).shape[2:] == (1,) * d


@pytest.mark.parametrize("d", DIMS)
def test_empty_kernel(d):
    x, _ = data(d)
    w = np.zeros((6, 4) + (0,) * d)
    with raises(ValueError, "kernel|weight"):
        CONV[d](x, w)


# ---------------------------------------------------------------- stride, dilation
@pytest.mark.parametrize("name", ["stride", "dilation"])
@pytest.mark.parametrize("d", DIMS)
def test_stride_dilation_not_positive(d, name):
    x, w = data(d)
    for bad in (0, -1, (1,) * (d - 1) + (0,), (-2,) + (1,) * (d - 1)):
        with raises(ValueError, name):
            CONV[d](x, w, **{name: bad})


@pytest.mark.parametrize("name", ["stride", "dilation"])
@pytest.mark.parametrize("d", DIMS)
def test_stride_dilation_bad_values(d, name):
    x, w = data(d)
    with raises((TypeError, ValueError), name):
        CONV[d](x, w, **{name: 1.5})
    with raises((TypeError, ValueError), name):
        CONV[d](x, w, **{name: NAN})
    with raises((TypeError, ValueError), name):
        CONV[d](x, w, **{name: (NAN,) * d})
    with raises(ValueError, name):
        CONV[d](x, w, **{name: (1,) * (d + 1)})  # wrong number of entries
    with raises((TypeError, ValueError), name):
        CONV[d](x, w, **{name: "2"})


# ---------------------------------------------------------------- padding
@pytest.mark.parametrize("d", DIMS)
def test_negative_padding(d):
    x, w = data(d)
    for bad in (-1, (-1,) * d, ((0, -1),) * d, ((-2, 1),) + ((0, 0),) * (d - 1)):
        with raises(ValueError, "padding"):
            CONV[d](x, w, padding=bad)


@pytest.mark.parametrize("d", DIMS)
def test_bad_padding_values(d):
    x, w = data(d)
    for bad in ("middle", "SAME ", "", "circular"):
        with raises(ValueError, "padding"):
            CONV[d](x, w, padding=bad)
    with raises(ValueError, "padding"):
        CONV[d](x, w, padding=(1,) * (d + 1))   # wrong number of entries
    with raises(ValueError, "padding"):
        CONV[d](x, w, padding=((1, 2, 3),) * d)  # not a pair
    with raises((TypeError, ValueError), "padding"):
        CONV[d](x, w, padding=1.5)
    with raises((TypeError, ValueError), "padding"):
        CONV[d](x, w, padding=NAN)
    with raises((TypeError, ValueError), "padding"):
        CONV[d](x, w, padding=None)


@pytest.mark.parametrize("d", DIMS)
def test_unknown_padding_mode(d):
    x, w = data(d)
    for bad in ("mirror", "zero", "wrap", "Reflect", None):
        with raises((ValueError, TypeError), "padding_mode"):
            CONV[d](x, w, padding=1, padding_mode=bad)


@pytest.mark.parametrize("d", DIMS)
def test_mode_padding_too_large(d):
    """PyTorch's rules: reflect padding < input size, circular padding <= input size."""
    x, w = data(d, size=3)
    with raises(ValueError, "padd|reflect"):
        CONV[d](x, w, padding=3, padding_mode="reflect")
    with raises(ValueError, "padd|reflect"):
        CONV[d](x, w, padding=((0, 3),) * d, padding_mode="reflect")
    with raises(ValueError, "padd|circular"):
        CONV[d](x, w, padding=4, padding_mode="circular")
    assert CONV[d](x, w, padding=2, padding_mode="reflect").shape[2:] == (5,) * d
    assert CONV[d](x, w, padding=3, padding_mode="circular").shape[2:] == (7,) * d


# ---------------------------------------------------------------- bias, dtypes, out
@pytest.mark.parametrize("d", DIMS)
def test_bias_wrong_shape(d):
    x, w = data(d)
    for bad in (np.zeros(5), np.zeros(7), np.zeros((6, 1)), np.zeros((1, 6)), np.float64(1.0)):
        with raises(ValueError, "bias"):
            CONV[d](x, w, bad)


@pytest.mark.parametrize("which", ["x", "weight", "bias"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("d", DIMS)
def test_complex_is_type_error(d, dtype, which):
    x, w = data(d)
    args = {"x": x, "weight": w, "bias": np.zeros(6)}
    args[which] = args[which].astype(dtype)
    with raises(TypeError, "complex|dtype|real"):
        CONV[d](args["x"], args["weight"], args["bias"])


@pytest.mark.parametrize("d", DIMS)
def test_non_numeric_is_type_error(d):
    x, w = data(d)
    with raises(TypeError, "dtype|real|float|object"):
        CONV[d](x.astype(object), w)
    with raises(TypeError, "dtype|real|float"):
        CONV[d](x.astype(str), w)
    with raises(TypeError, "dtype|real|float"):
        CONV[d](x, w.astype("datetime64[s]"))


@pytest.mark.parametrize("d", DIMS)
def test_out_wrong_shape_dtype(d):
    x, w = data(d)
    shape = (2, 6) + (5,) * d
    with raises(ValueError, r"\bout\b"):
        CONV[d](x, w, out=np.empty((2, 6) + (4,) * d))
    with raises(ValueError, r"\bout\b"):
        CONV[d](x, w, out=np.empty(shape[1:]))       # unbatched shape for batched input
    with raises(ValueError, r"\bout\b"):
        CONV[d](x[0], w, out=np.empty(shape))        # batched shape for unbatched input
    with raises((TypeError, ValueError), r"\bout\b"):
        CONV[d](x, w, out=np.empty(shape, np.float32))
    with raises((TypeError, ValueError), r"\bout\b"):
        CONV[d](x.astype(np.float32), w.astype(np.float32), out=np.empty(shape))
    with raises((TypeError, ValueError), r"\bout\b"):
        CONV[d](x, w, out=np.empty(shape, np.complex128))
    with raises(TypeError, r"\bout\b"):
        CONV[d](x, w, out=np.empty(shape).tolist())
    ro = np.empty(shape)
    ro.flags.writeable = False
    with raises((TypeError, ValueError), r"\bout\b|writ|read"):
        CONV[d](x, w, out=ro)
    ok = np.empty(shape)
    assert CONV[d](x, w, out=ok) is ok


@pytest.mark.parametrize("d", DIMS)
def test_workers_zero(d):
    x, w = data(d)
    with raises(ValueError, "workers"):
        CONV[d](x, w, workers=0)


def test_size_overflow():
    """An output whose element count overflows int64 is refused before any allocation.

    The input is a zero-stride broadcast view, so it costs no memory."""
    x = np.broadcast_to(np.float32(1.0), (2**30, 1, 2**30))
    w = np.ones((2**10, 1, 1), np.float32)
    with raises(ValueError, "large|overflow|size|big"):
        cf.conv1d(x, w)
