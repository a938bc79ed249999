"""Forward convolution of the NN family: ``convolve.functional.conv1d/2d/3d``.

Every result is compared with the independent NumPy oracle in
``tests/reference.py`` and, where PyTorch is installed, with
``torch.nn.functional.conv*d`` (``F.pad`` for the padding forms and modes
that ``conv*d`` itself lacks). The oracle is checked against PyTorch on the
same grid, so a disagreement points at the right culprit.
"""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convolve import functional as cf

try:
    from . import reference as ref
except ImportError:
    import reference as ref

SEED = 20240531

CONV = {1: cf.conv1d, 2: cf.conv2d, 3: cf.conv3d}
DTYPES = [np.float32, np.float64]
DIMS = [1, 2, 3]
MODES = ["zeros", "reflect", "replicate", "circular"]

# (batch, channels, *spatial) and kernel per rank; kernels are not square and
# the spatial sizes all differ, so that swapped axes cannot go unnoticed
X_SHAPES = {1: (2, 4, 13), 2: (2, 4, 9, 8), 3: (2, 4, 6, 7, 5)}
K_SHAPES = {1: (3,), 2: (3, 2), 3: (3, 2, 2)}


def per_axis(values, d):
    """The first `d` entries of a 3-entry per-axis setting."""
    return tuple(values[:d])


# name -> (output channels, options); per-axis tuples are cut to the rank
CASES = {
    "default": (6, {}),
    "stride2": (6, {"stride": 2}),
    "stride-tuple": (6, {"stride": (2, 1, 3)}),
    "dilation2": (6, {"dilation": 2}),
    "dilation-tuple": (6, {"dilation": (1, 2, 3)}),
    "stride-dilation-pad": (6, {"stride": (2, 3, 1), "dilation": (2, 1, 2), "padding": 1}),
    "groups2": (6, {"groups": 2}),
    "depthwise": (4, {"groups": 4}),
    "depthwise-multiplier": (8, {"groups": 4, "padding": 1}),
    "pad-int": (6, {"padding": 1}),
    "pad-tuple": (6, {"padding": (1, 0, 2)}),
    "pad-pairs": (6, {"padding": ((0, 2), (1, 0), (2, 1))}),
    "valid": (6, {"padding": "valid"}),
    "same": (6, {"padding": "same"}),
    "full": (6, {"padding": "full"}),
    "same-dilated": (6, {"padding": "same", "dilation": 2}),
    "same-stride2": (6, {"padding": "same", "stride": 2}),
    "same-stride3-dilated": (6, {"padding": "same", "stride": (3, 2, 3), "dilation": 2}),
    "full-stride2-dilated": (6, {"padding": "full", "stride": 2, "dilation": (2, 1, 2)}),
    "flip": (6, {"flip": True}),
    "flip-stride-dilation": (6, {"flip": True, "stride": 2, "dilation": (1, 2, 2),
                                 "padding": "same"}),
    "bias": (6, {"bias": True}),
    "everything": (6, {"groups": 2, "stride": (2, 1, 2), "dilation": (1, 2, 1),
                       "padding": ((1, 2), (0, 1), (2, 0)), "padding_mode": "reflect",
                       "flip": True, "bias": True}),
}
for _mode in MODES[1:]:
    CASES[f"{_mode}-int"] = (6, {"padding": 1, "padding_mode": _mode})
    CASES[f"{_mode}-pairs"] = (6, {"padding": ((0, 2), (1, 0), (2, 1)), "padding_mode": _mode})
    CASES[f"{_mode}-same-stride2"] = (6, {"padding": "same", "stride": 2,
                                          "padding_mode": _mode, "bias": True})
    CASES[f"{_mode}-groups-dilated"] = (4, {"padding": (2, 1, 1), "dilation": 2, "groups": 2,
                                            "padding_mode": _mode})
del _mode


def make_case(d, case, dtype, seed=SEED):
    """(x, weight, bias or None, keyword options) for a named case."""
    O, opts = CASES[case]
    opts = dict(opts)
    for key in ("stride", "dilation", "padding"):
        if isinstance(opts.get(key), tuple):
            opts[key] = per_axis(opts[key], d)
    groups = opts.get("groups", 1)
    rng = np.random.default_rng(seed)
    xs = X_SHAPES[d]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((O, xs[1] // groups) + K_SHAPES[d]).astype(dtype)
    bias = rng.standard_normal(O).astype(dtype) if opts.pop("bias", False) else None
    return x, w, bias, opts


def torch_conv(torch, x, w, bias=None, stride=1, padding=0, dilation=1, groups=1,
               padding_mode="zeros", flip=False):
    """PyTorch's answer in float64: explicit padding by ``F.pad`` (so that pairs,
    'full', 'same' with strides and every mode are expressible), then
    ``F.conv*d`` without padding."""
    F = torch.nn.functional
    d = w.ndim - 2
    x = np.asarray(x, np.float64)
    unbatched = x.ndim == d + 1
    if unbatched:
        x = x[None]
    pairs = ref.padding_to_pairs(padding, x.shape[2:], w.shape[2:], stride, dilation)
    tx = torch.from_numpy(np.ascontiguousarray(x))
    flat = [v for lo_hi in reversed(pairs) for v in lo_hi]   # F.pad: last axis first
    if any(flat):
        mode = "constant" if padding_mode == "zeros" else padding_mode
        tx = F.pad(tx, flat, mode=mode)
    tw = torch.from_numpy(np.array(w, np.float64))
    if flip:
        tw = torch.flip(tw, dims=list(range(2, 2 + d)))
    tb = None if bias is None else torch.from_numpy(np.array(bias, np.float64))
    conv = getattr(F, f"conv{d}d")
    res = conv(tx, tw, tb, stride=stride, padding=0, dilation=dilation, groups=groups).numpy()
    return res[0] if unbatched else res


# ---------------------------------------------------------------- the grid
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("d", DIMS)
def test_matches_reference(d, dtype, case, assert_close):
    x, w, bias, opts = make_case(d, case, dtype)
    res = CONV[d](x, w, bias, **opts)
    expected = ref.conv_ref(x, w, bias, **opts)
    assert res.dtype == dtype
    assert_close(res, expected)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("d", DIMS)
def test_matches_torch(d, case, torch, assert_close):
    x, w, bias, opts = make_case(d, case, np.float64)
    expected = torch_conv(torch, x, w, bias, **opts)
    # the oracle agrees with PyTorch ...
    assert_close(ref.conv_ref(x, w, bias, **opts), expected)
    # ... and so does convolve, in both precisions
    assert_close(CONV[d](x, w, bias, **opts), expected)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    b32 = None if bias is None else bias.astype(np.float32)
    assert_close(CONV[d](x32, w32, b32, **opts), expected, np.float32)


# PyTorch's own padding arguments (not our translation to F.pad): the
# padding forms and modes it has, through F.conv*d and nn.Conv*d
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("padding", [0, 2, (1, 0, 2), "valid", "same"],
                         ids=["0", "2", "tuple", "valid", "same"])
@pytest.mark.parametrize("d", DIMS)
def test_torch_padding_argument(d, padding, torch, assert_close):
    if isinstance(padding, tuple):
        padding = per_axis(padding, d)
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(X_SHAPES[d])
    # even kernel and dilation: 'same' puts the extra element on the high side
    w = rng.standard_normal((5, 4) + per_axis((4, 2, 3), d))
    dilation = per_axis((1, 2, 1), d)
    conv = getattr(torch.nn.functional, f"conv{d}d")
    expected = conv(torch.from_numpy(x), torch.from_numpy(w), padding=padding,
                    dilation=dilation).numpy()
    assert_close(ref.conv_ref(x, w, padding=padding, dilation=dilation), expected)
    assert_close(CONV[d](x, w, padding=padding, dilation=dilation), expected)


@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize("d", DIMS)
def test_torch_layer_padding_mode(d, padding_mode, torch, assert_close):
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(X_SHAPES[d])
    k = per_axis((3, 2, 3), d)
    padding = per_axis((2, 1, 1), d)
    layer = getattr(torch.nn, f"Conv{d}d")(4, 6, k, stride=2, padding=padding, groups=2,
                                           bias=True, padding_mode=padding_mode,
                                           dtype=torch.float64)
    w = layer.weight.detach().numpy().copy()
    b = layer.bias.detach().numpy().copy()
    with torch.no_grad():
        expected = layer(torch.from_numpy(x)).numpy()
    opts = dict(stride=2, padding=padding, groups=2, padding_mode=padding_mode)
    assert_close(ref.conv_ref(x, w, b, **opts), expected)
    assert_close(CONV[d](x, w, b, **opts), expected)


@pytest.mark.parametrize("mode, padding", [("reflect", 2), ("circular", 3), ("replicate", 7),
                                           ("circular", ((3, 0), (0, 3), (3, 3)))],
                         ids=["reflect-n-1", "circular-n", "replicate-large", "circular-pairs"])
@pytest.mark.parametrize("d", DIMS)
def test_padding_mode_largest_padding(d, mode, padding, torch, assert_close):
    """The largest padding each mode allows on a size-3 input (PyTorch's rules:
    reflect < n, circular <= n, replicate unlimited)."""
    if isinstance(padding, tuple):
        padding = padding[:d]
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((2, 3) + (3,) * d)
    w = rng.standard_normal((2, 3) + (2,) * d)
    expected = torch_conv(torch, x, w, padding=padding, padding_mode=mode)
    assert_close(ref.conv_ref(x, w, padding=padding, padding_mode=mode), expected)
    assert_close(CONV[d](x, w, padding=padding, padding_mode=mode), expected)


@pytest.mark.parametrize("d", DIMS)
def test_same_keeps_size(d, assert_close):
    """'same' (stride 1) keeps the spatial size; with stride s it gives ceil(n / s)."""
    x, w, _, _ = make_case(d, "default", np.float64)
    for stride in (1, 2, 3):
        res = CONV[d](x, w, padding="same", stride=stride)
        assert res.shape[2:] == tuple(-(-n // stride) for n in x.shape[2:])
        assert_close(res, ref.conv_ref(x, w, padding="same", stride=stride))


@pytest.mark.parametrize("d", DIMS)
def test_same_stride_tensorflow_split(d, assert_close):
    """TensorFlow's split with stride: the output has ceil(in / s) elements and the
    odd element of the total padding goes on the high side."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((1, 2) + (8,) * d)
    w = rng.standard_normal((3, 2) + (4,) * d)
    res = CONV[d](x, w, stride=3, padding="same")
    # (out - 1) * s + k - in = 2 * 3 + 4 - 8 = 2: one element on each side
    expected = ref.conv_nd_ref(x, w, stride=3, padding_pairs=[(1, 1)] * d)
    assert_close(res, expected)
    res = CONV[d](x[(Ellipsis,) + (slice(0, 7),) * d], w, stride=3, padding="same")
    # in=7: out 3, total 2 * 3 + 4 - 7 = 3: lo 1, hi 2
    expected = ref.conv_nd_ref(x[(Ellipsis,) + (slice(0, 7),) * d], w, stride=3,
                               padding_pairs=[(1, 2)] * d)
    assert_close(res, expected)


# Larger problems: many channels, very wide rows, long signals. The engine
# picks its loop order from the sizes (cache-sized bands of rows, whole
# planes, single rows), so small shapes alone would not exercise every order.
MEDIUM = {
    "2d-many-channels-wide": ((1, 64, 8, 420), (3, 64, 3, 3), {}),
    "2d-very-wide-rows": ((1, 2, 6, 12000), (2, 2, 3, 3), {"padding": 1}),
    "3d-many-channels-wide": ((1, 16, 4, 8, 520), (2, 16, 3, 3, 3), {"padding": (1, 0, 2)}),
    "1d-long-dilated": ((2, 3, 20000), (4, 3, 9), {"padding": "same", "dilation": 3}),
    "2d-depthwise": ((1, 8, 80, 90), (8, 1, 5, 5), {"groups": 8, "padding": 2}),
    "2d-strided-many-channels": ((1, 32, 40, 60), (4, 32, 3, 3), {"stride": 2, "padding": 1}),
    "3d-strided-depthwise": ((1, 6, 10, 20, 24), (12, 1, 3, 3, 3),
                             {"stride": (1, 2, 3), "groups": 6, "padding": "same"}),
}


@pytest.mark.parametrize("case", list(MEDIUM))
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_medium_shapes(dtype, case, assert_close):
    xs, ws, opts = MEDIUM[case]
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    res = CONV[len(xs) - 2](x, w, b, **opts)
    assert res.dtype == dtype
    assert_close(res, ref.conv_ref(x, w, b, **opts))


@pytest.mark.parametrize("d", DIMS)
def test_input_smaller_than_kernel(d, assert_close):
    """'same' and 'full' pad inputs smaller than the (dilated) kernel enough to
    give an output; with every mode whose size rule allows the padding."""
    rng = np.random.default_rng(SEED)
    for n, k, stride, dilation, padding, mode in itertools.product(
            [1, 2], [3, 4], [1, 3], [1, 2], ["same", "full"], MODES):
        x = rng.standard_normal((1, 2) + (n,) * d)
        w = rng.standard_normal((3, 2) + (k,) * d)
        pairs = ref.padding_to_pairs(padding, x.shape[2:], w.shape[2:], stride, dilation)
        if mode == "reflect" and max(pairs[0]) >= n or mode == "circular" and max(pairs[0]) > n:
            continue
        opts = dict(stride=stride, dilation=dilation, padding=padding, padding_mode=mode)
        assert_close(CONV[d](x, w, **opts), ref.conv_ref(x, w, **opts))


# ---------------------------------------------------------------- out=, unbatched
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("d", DIMS)
def test_out_contiguous(d, dtype, assert_close):
    x, w, bias, opts = make_case(d, "everything", dtype)
    expected = ref.conv_ref(x, w, bias, **opts)
    out = np.full(expected.shape, np.nan, dtype)
    res = CONV[d](x, w, bias, out=out, **opts)
    assert res is out
    assert_close(out, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("d", DIMS)
def test_out_non_contiguous(d, dtype, assert_close):
    x, w, bias, opts = make_case(d, "same-stride2", dtype)
    expected = ref.conv_ref(x, w, bias, **opts)
    big = np.full(expected.shape[:-1] + (2 * expected.shape[-1],), np.nan, dtype)
    out = big[..., ::2]
    res = CONV[d](x, w, bias, out=out, **opts)
    assert res is out
    assert_close(out, expected)
    assert np.isnan(big[..., 1::2]).all()   # the gaps are untouched


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("d", DIMS)
def test_unbatched(d, dtype, assert_close):
    x, w, bias, opts = make_case(d, "everything", dtype)
    x1 = x[1]
    expected = ref.conv_ref(x1, w, bias, **opts)
    res = CONV[d](x1, w, bias, **opts)
    assert res.ndim == d + 1 and res.dtype == dtype
    assert_close(res, expected)
    np.testing.assert_array_equal(res, CONV[d](x, w, bias, **opts)[1])
    out = np.empty_like(expected, dtype=dtype)
    assert CONV[d](x1, w, bias, out=out, **opts) is out
    assert_close(out, expected)


# ---------------------------------------------------------------- dtypes
PROMOTION = [
    ("float32", "float32", "float32"),
    ("float64", "float64", "float64"),
    ("float32", "float64", "float64"),
    ("float64", "float32", "float64"),
    ("float16", "float16", "float32"),
    ("float16", "float32", "float32"),
    ("float16", "float64", "float64"),
    ("int32", "int32", "float64"),
    ("int64", "float32", "float64"),   # NumPy: result_type(int64, float32) is float64
    ("uint8", "uint8", "float64"),
    ("int16", "int16", "float64"),
    ("bool", "float64", "float64"),
    ("bool", "bool", "float64"),
]


@pytest.mark.parametrize("dx, dw, expected_dtype", PROMOTION, ids="-".join)
@pytest.mark.parametrize("d", [1, 2])
def test_dtype_promotion(d, dx, dw, expected_dtype, assert_close):
    rng = np.random.default_rng(SEED)
    xs, ks = X_SHAPES[d], K_SHAPES[d]

    def draw(shape, dt):
        if dt == "bool":
            return rng.integers(0, 2, shape).astype(bool)
        if np.dtype(dt).kind in "iu":
            return rng.integers(0, 10, shape).astype(dt)
        return rng.standard_normal(shape).astype(dt)

    x, w = draw(xs, dx), draw((3, xs[1]) + ks, dw)
    res = CONV[d](x, w, padding=1)
    assert res.dtype == np.dtype(expected_dtype)
    assert_close(res, ref.conv_ref(x, w, padding=1))
    if np.dtype(expected_dtype) == np.float64 and np.dtype(dx).kind in "biu" \
            and np.dtype(dw).kind in "biu":
        # small integers: float64 sums are exact
        np.testing.assert_array_equal(res, ref.conv_ref(x, w, padding=1))


def test_array_like_lists(assert_close):
    x = [[[1, 2, 3, 4, 5]]]
    w = [[[1.0, 0.5]]]
    res = cf.conv1d(x, w, bias=[0.25])
    assert isinstance(res, np.ndarray) and res.dtype == np.float64
    np.testing.assert_array_equal(res, [[[2.25, 3.75, 5.25, 6.75]]])


# ---------------------------------------------------------------- memory layouts
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("d", DIMS)
def test_non_contiguous(d, dtype, assert_close):
    x, w, bias, opts = make_case(d, "everything", dtype)
    expected = ref.conv_ref(x, w, bias, **opts)
    # the same values behind strided, reversed and transposed views
    bigx = np.zeros((x.shape[0] * 2, x.shape[1] * 3) + tuple(2 * n for n in x.shape[2:]), dtype)
    bigx[(slice(None, None, 2), slice(1, None, 3)) + (slice(None, None, 2),) * d] = x
    xv = bigx[(slice(None, None, 2), slice(1, None, 3)) + (slice(None, None, 2),) * d]
    wv = np.asfortranarray(w[..., ::-1])[..., ::-1]   # Fortran order, negative strides
    bv = np.repeat(bias, 2)[::2]
    assert not xv.flags.c_contiguous and not wv.flags.c_contiguous
    assert not bv.flags.c_contiguous
    np.testing.assert_array_equal(wv, w)
    res = CONV[d](xv, wv, bv, **opts)
    assert_close(res, expected)
    res = CONV[d](np.swapaxes(np.swapaxes(x, 0, 1).copy(), 0, 1), w, bias, **opts)
    assert_close(res, expected)


@pytest.mark.parametrize("which", ["x", "weight", "bias", "all"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("d", DIMS)
def test_byte_swapped(d, dtype, which, assert_close):
    x, w, bias, opts = make_case(d, "everything", dtype)
    expected = ref.conv_ref(x, w, bias, **opts)
    swap = lambda a: a.astype(a.dtype.newbyteorder())   # noqa: E731
    args = {"x": x, "weight": w, "bias": bias}
    for name in args:
        if which in (name, "all"):
            args[name] = swap(args[name])
            assert not args[name].dtype.isnative
    res = CONV[d](args["x"], args["weight"], args["bias"], **opts)
    assert res.dtype == dtype   # native byte order, as NumPy's ufuncs give
    assert_close(res, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("d", DIMS)
def test_read_only(d, dtype, assert_close):
    x, w, bias, opts = make_case(d, "everything", dtype)
    expected = ref.conv_ref(x, w, bias, **opts)
    for a in (x, w, bias):
        a.flags.writeable = False
    assert_close(CONV[d](x, w, bias, **opts), expected)
    # broadcast views are read-only and have zero strides
    row = x[:1]
    xb = np.broadcast_to(row, x.shape)
    assert not xb.flags.writeable
    res = CONV[d](xb, w, bias, **opts)
    assert_close(res, np.broadcast_to(ref.conv_ref(row, w, bias, **opts), res.shape))


@pytest.mark.parametrize("case", ["default", "everything", "same-stride2", "circular-pairs"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("d", DIMS)
def test_zero_batch(d, dtype, case):
    x, w, bias, opts = make_case(d, case, dtype)
    full = ref.conv_ref(x, w, bias, **opts)
    res = CONV[d](x[:0], w, bias, **opts)
    assert res.shape == (0,) + full.shape[1:]
    assert res.dtype == dtype
    out = np.empty((0,) + full.shape[1:], dtype)
    assert CONV[d](x[:0], w, bias, out=out, **opts) is out


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("d", DIMS)
def test_zero_output_channels(d, stride):
    """A weight with O = 0 filters gives an empty (N, 0, *out) result, as PyTorch."""
    x, w, _, _ = make_case(d, "default", np.float64)
    res = CONV[d](x, w[:0], stride=stride)
    expected = ref.conv_ref(x, w, stride=stride)
    assert res.shape == (x.shape[0], 0) + expected.shape[2:]
    assert CONV[d](x[:0], w[:0], stride=stride).shape == (0, 0) + expected.shape[2:]


@pytest.mark.parametrize("d", DIMS)
def test_zero_input_channels(d):
    """C = 0: every sum is empty, so the output is the bias alone."""
    x, w, bias, _ = make_case(d, "bias", np.float64)
    res = CONV[d](x[:, :0], w[:, :0], bias, padding=1)
    expected = np.broadcast_to(bias.reshape((1, -1) + (1,) * d),
                               ref.conv_ref(x, w, padding=1).shape)
    np.testing.assert_array_equal(res, expected)


@pytest.mark.parametrize("case", ["same", "reflect-int", "1x1"])
@pytest.mark.parametrize("d", DIMS)
def test_out_overlapping_input(d, case, assert_close):
    """``out=x`` (same shape when O == C and the size is kept): the result is
    either right, as NumPy's ufuncs guarantee for overlapping operands, or a
    ValueError naming `out`; never silently wrong numbers."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((2, 4) + X_SHAPES[d][2:])
    k = (1,) * d if case == "1x1" else (3,) * d
    w = rng.standard_normal((4, 4) + k)
    opts = {"same": {"padding": "same"}, "1x1": {},
            "reflect-int": {"padding": 1, "padding_mode": "reflect"}}[case]
    expected = ref.conv_ref(x, w, **opts)
    alias = x.copy()
    try:
        res = CONV[d](alias, w, out=alias, **opts)
    except ValueError as exc:
        assert "out" in str(exc)
        return
    assert res is alias
    assert_close(res, expected)


@pytest.mark.parametrize("case", ["default", "stride2", "stride-tuple", "stride-dilation-pad",
                                  "same-stride3-dilated", "depthwise", "reflect-same-stride2"])
@pytest.mark.parametrize("d", DIMS)
def test_non_finite_values_stay_local(d, case):
    """A NaN or inf in x reaches exactly the outputs whose window reads it
    (as in the reference and PyTorch), not its neighbours: no hidden products
    of zero with inf (0 * inf is NaN) in some rewritten form of the problem."""
    x, w, bias, opts = make_case(d, case, np.float64)
    flat = x.reshape(-1)
    positions = np.random.default_rng(SEED).choice(flat.size, 3, replace=False)
    flat[positions] = [np.nan, np.inf, -np.inf]
    with np.errstate(invalid="ignore"):   # inf - inf in a window is NaN, as it should be
        expected = ref.conv_ref(x, w, bias, **opts)
        res = CONV[d](x, w, bias, **opts)
    assert np.isfinite(expected).any()
    np.testing.assert_array_equal(np.isnan(res), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(res), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(res[finite], expected[finite], rtol=1e-10, atol=1e-9)


# ---------------------------------------------------------------- hypothesis
@st.composite
def conv_problems(draw):
    d = draw(st.integers(1, 3))
    max_n = {1: 12, 2: 8, 3: 5}[d]
    max_k = {1: 5, 2: 3, 3: 2}[d]
    groups = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, max_k)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(d))
    span = [dl * (k - 1) + 1 for k, dl in zip(kernel, dilation)]
    # at least one kernel span: every padding form gives an output
    spatial = tuple(draw(st.integers(s, s + max_n)) for s in span)
    form = draw(st.sampled_from(["int", "tuple", "pairs", "valid", "same", "full"]))
    if form == "int":
        padding = draw(st.integers(0, 2))
    elif form == "tuple":
        padding = tuple(draw(st.integers(0, 2)) for _ in range(d))
    elif form == "pairs":
        padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(d))
    else:
        padding = form
    return dict(
        d=d, n=draw(st.integers(1, 2)), c=cg * groups, o=og * groups, kernel=kernel,
        spatial=spatial, stride=stride, dilation=dilation, groups=groups, padding=padding,
        padding_mode=draw(st.sampled_from(MODES)), flip=draw(st.booleans()),
        bias=draw(st.booleans()), dtype=draw(st.sampled_from(["float32", "float64"])),
        unbatched=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


# assert_close is a stateless function: sharing it across examples is safe
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=conv_problems())
def test_hypothesis_against_reference(p, assert_close):
    d = p["d"]
    pairs = ref.padding_to_pairs(p["padding"], p["spatial"], p["kernel"], p["stride"],
                                 p["dilation"])
    if p["padding_mode"] == "reflect":
        assume(all(max(pr) < n for pr, n in zip(pairs, p["spatial"])))
    if p["padding_mode"] == "circular":
        assume(all(max(pr) <= n for pr, n in zip(pairs, p["spatial"])))
    rng = np.random.default_rng(p["seed"])
    xs = (p["c"],) + p["spatial"] if p["unbatched"] else (p["n"], p["c"]) + p["spatial"]
    x = rng.standard_normal(xs).astype(p["dtype"])
    w = rng.standard_normal((p["o"], p["c"] // p["groups"]) + p["kernel"]).astype(p["dtype"])
    b = rng.standard_normal(p["o"]).astype(p["dtype"]) if p["bias"] else None
    opts = {k: p[k] for k in ("stride", "padding", "dilation", "groups", "padding_mode",
                              "flip")}
    res = CONV[d](x, w, b, **opts)
    expected = ref.conv_ref(x, w, b, **opts)
    assert res.dtype == np.dtype(p["dtype"])
    assert_close(res, expected)
