"""Winograd F(2x2, 3x3) and F(4x4, 3x3) (``method='winograd'``, the forced
tiles ``'winograd2x2'``/``'winograd4x4'`` and the 'auto' choice) against the
NumPy oracle, the direct method, and their documented error bounds."""
import numpy as np
import pytest

from convolve.functional import conv2d, conv2d_input_grad
from reference import conv_ref

SHAPES = [  # (N, C, H, W, K, padding)
    (1, 1, 3, 3, 1, 0), (2, 5, 7, 9, 7, 1), (3, 13, 10, 11, 20, 0), (1, 8, 1, 1, 8, 1),
    (2, 3, 6, 5, 4, 2), (1, 7, 4, 3, 13, ((0, 2), (1, 0))), (2, 16, 19, 37, 17, 1),
    (1, 6, 40, 40, 6, 3), (1, 17, 8, 50, 12, ((1, 1), (2, 0))), (2, 24, 16, 16, 24, "same"),
    (2, 9, 61, 70, 14, 1), (1, 4, 5, 131, 3, (0, 1)),
]
# (method, dtype): F(4x4) is float32 only
METHOD_DTYPES = [("winograd", np.float32), ("winograd", np.float64),
                 ("winograd2x2", np.float32), ("winograd4x4", np.float32)]


@pytest.mark.parametrize("method, dtype", METHOD_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [False, True])
def test_matches_reference(shape, method, dtype, bias, rng, assert_close):
    N, C, H, W, K, padding = shape
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    got = conv2d(x, w, b, padding=padding, method=method)
    assert got.dtype == dtype
    assert_close(got, conv_ref(x, w, b, padding=padding))


@pytest.mark.parametrize("hw, dtype, tile", [
    ((28, 28), np.float32, "winograd4x4"), ((56, 40), np.float32, "winograd4x4"),
    ((14, 14), np.float32, "winograd4x4"), ((7, 7), np.float32, "winograd2x2"),
    ((28, 28), np.float64, "winograd2x2"),
])
def test_winograd_chooses_the_tile(hw, dtype, tile, rng):
    """'winograd' (and 'auto') take F(4x4) in float32 where its padded work is
    well below F(2x2)'s (14 x 14 with the four-tile transforms), F(2x2) on 7 x 7
    maps (8 tiles in a column block of 16) and always in float64."""
    x = rng.standard_normal((1, 16, *hw)).astype(dtype)
    w = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    forced = conv2d(x, w, padding=1, method=tile)
    np.testing.assert_array_equal(conv2d(x, w, padding=1, method="winograd"), forced)
    np.testing.assert_array_equal(conv2d(x, w, padding=1), forced)


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


@pytest.mark.parametrize("method, dtype", METHOD_DTYPES)
def test_threads_bitwise_equal(method, dtype, rng):
    x = rng.standard_normal((3, 20, 23, 29)).astype(dtype)
    w = rng.standard_normal((22, 20, 3, 3)).astype(dtype)
    one = conv2d(x, w, padding=1, method=method, workers=1)
    two = conv2d(x, w, padding=1, method=method, workers=2)
    np.testing.assert_array_equal(one, two)


def _exact_int_conv(xi, wi):
    """Exact 3x3 'same' correlation of int64 arrays (no rounding anywhere)."""
    xp = np.pad(xi, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    return np.einsum("nchwij,kcij->nkhw", win, wi)


@pytest.mark.parametrize("method, dtype", [("winograd2x2", np.float32), ("winograd4x4", np.float32),
                                           ("winograd2x2", np.float64)])
def test_error_within_documented_factor_of_direct(method, dtype):
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
    err_w = np.abs(conv2d(x, w, padding=1, method=method) - exact).max()
    assert err_d > 0                     # the sums do round: a real comparison
    assert err_w <= 10 * err_d


@pytest.mark.parametrize("method", ["winograd", "winograd2x2", "winograd4x4"])
@pytest.mark.parametrize("kwargs, rule", [
    ({"stride": 2}, "stride 1"), ({"dilation": 2}, "dilation 1"), ({"groups": 2}, "groups=1"),
])
def test_forced_winograd_rejects_what_it_cannot_compute(method, kwargs, rule, rng):
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 4 // kwargs.get("groups", 1), 3, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=f"method='{method}'.*" + rule):
        conv2d(x, w, method=method, **kwargs)


def test_forced_winograd4x4_is_float32_only(rng):
    with pytest.raises(ValueError, match="method='winograd4x4' is float32 only"):
        conv2d(rng.standard_normal((1, 2, 8, 8)), rng.standard_normal((2, 2, 3, 3)),
               method="winograd4x4")


def test_forced_winograd_rejects_other_kernel_sizes(rng):
    with pytest.raises(ValueError, match="3x3 kernel"):
        conv2d(rng.standard_normal((1, 2, 8, 8)), rng.standard_normal((2, 2, 5, 5)),
               method="winograd")


def test_unknown_method(rng):
    with pytest.raises(ValueError, match="method must be one of"):
        conv2d(rng.standard_normal((1, 2, 8, 8)), rng.standard_normal((2, 2, 3, 3)),
               method="gemm3")


def _toom_cook_g(points):
    """G of F(m, 3) on the finite interpolation points (and infinity), from
    Lagrange's formula: G[j, k] = p_j^k / prod_{l != j} (p_j - p_l)."""
    p = np.asarray(points, float)
    G = [[pj ** k / np.prod([pj - pl for pl in p if pl != pj]) for k in range(3)] for pj in p]
    return np.array(G + [[0, 0, 1]])


@pytest.mark.parametrize("m, points", [(2, (0, 1, -1)), (4, (0, 1, -1, 0.5, -2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("K", [1, 6, 7, 13])
def test_packed_transform_is_g_w_gt(K, dtype, m, points, rng):
    """The compiled weight transform equals G w G^T computed with einsum (G
    from the interpolation points, up to the row scaling F(2x2) uses), for
    strided (flipped) weights and K not a multiple of the panel height."""
    from convolve import _winograd
    G = _toom_cook_g(points)
    if m == 2:                            # Lavin and Gray scale row 0 by -1
        G = G * np.array([[-1], [1], [1], [1]])
    n = m + 2
    C = 5
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)[:, :, ::-1, ::-1]
    u, finite = _winograd.pack_weight(w, n_threads=2, m=m)
    assert finite
    ref = np.einsum("ai,kcij,bj->abkc", G, w.astype(np.float64), G).reshape(n * n, K, C)
    Kp = u.shape[1] * 6
    got = u.transpose(0, 1, 3, 2).reshape(n * n, Kp, C)
    np.testing.assert_allclose(got[:, :K], ref, rtol=1e-6 if dtype == np.float32 else 1e-15,
                               atol=1e-6 if dtype == np.float32 else 1e-15)
    assert not got[:, K:].any()
    w[0, 0, 1, 1] = np.nan
    assert not _winograd.pack_weight(w, n_threads=1, m=m)[1]


@pytest.mark.parametrize("method, dtype", METHOD_DTYPES)
def test_output_channel_chunks_do_not_change_bits(method, dtype, rng, monkeypatch):
    """Transformed weights above U_BYTES run in chunks of output channels (the
    memory bound): the same bits as one pass, bias included."""
    from convolve import _winograd
    x = rng.standard_normal((2, 10, 13, 30)).astype(dtype)
    w = rng.standard_normal((23, 10, 3, 3)).astype(dtype)
    b = rng.standard_normal(23).astype(dtype)
    whole = conv2d(x, w, b, padding=1, method=method)
    monkeypatch.setattr(_winograd, "U_BYTES", 36 * 10 * 6 * x.itemsize)   # 6 channels a chunk
    np.testing.assert_array_equal(conv2d(x, w, b, padding=1, method=method), whole)
    w[20, 3, 1, 1] = np.nan                   # in the last chunk: the direct kernel reruns all
    np.testing.assert_array_equal(conv2d(x, w, b, padding=1, method=method),
                                  conv2d(x, w, b, padding=1, method="direct"))


@pytest.mark.parametrize("method, dtype", METHOD_DTYPES)
@pytest.mark.parametrize("kg", [2, 4, 5, 9, 12])
def test_output_channel_groups_do_not_change_bits(method, dtype, kg, rng, monkeypatch):
    """Many threads and few images split the output-channel panels into groups
    (k_groups): the same bits as one group, bias included; 50 channels are 9
    panels, so 4 groups of 3 leave one empty and 12 groups leave three."""
    from convolve import _winograd
    x = rng.standard_normal((2, 12, 14, 15)).astype(dtype)
    w = rng.standard_normal((50, 12, 3, 3)).astype(dtype)
    b = rng.standard_normal(50).astype(dtype)
    monkeypatch.setattr(_winograd, "k_groups", lambda *a: 1)
    whole = conv2d(x, w, b, padding=1, method=method, workers=1)
    monkeypatch.setattr(_winograd, "k_groups", lambda *a: kg)
    for workers in (1, 2):
        np.testing.assert_array_equal(
            conv2d(x, w, b, padding=1, method=method, workers=workers), whole)
    np.testing.assert_allclose(whole, conv_ref(x, w, b, padding=1).astype(dtype),
                               rtol=0, atol=1e-3 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("threads, blocks_rows, expect", [
    (2, (8, 4, 4), 1),       # res14 (F(4x4): 4 tile rows, one block an image) on 2 threads
    (16, (8, 4, 4), 4),      # ... on 16: 8 blocks, 4 groups of 11 panels
    (64, (8, 4, 4), 9),      # at least four panels a group (43 // 4 = 10), then 9
                             # groups of 5 so that none is empty
    (16, (64, 4, 4), 1),     # enough images
])
def test_k_groups(threads, blocks_rows, expect):
    from convolve import _winograd
    N, TY, R = blocks_rows
    kg = _winograd.k_groups(256, N, TY, R, threads)
    assert kg == expect
    ppg = -(-43 // kg)
    assert (kg - 1) * ppg < 43           # every group holds a panel


def test_blocking_keeps_a_column_block():
    """Units never hold fewer tiles than the GEMM's 16 columns (float32)
    while the workspace allows: 14 x 14 under F(4x4) has 4 tiles a row, so 4
    rows, and the output channels split for more threads."""
    from convolve import _winograd
    for threads, kg in ((1, 1), (2, 1), (8, 2), (16, 4)):
        assert _winograd.blocking(256, 256, 4, (14, 14), 8, threads, m=4) == (4, kg)
    # 56 x 56 (16 tiles a row) may go down to one row before splitting channels
    assert _winograd.blocking(64, 64, 4, (56, 56), 1, 16, m=4) == (1, 2)
    # 64 threads: the workspace budget (WORKSPACE_TOTAL / 64) comes first
    assert _winograd.blocking(256, 256, 4, (14, 14), 8, 64, m=4) == (1, 4)


def test_correlate3x3_rejects_k_groups_below_one(rng):
    from convolve import _winograd, _winograd_kernel
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    u, _ = _winograd.pack_weight(w, 1, 2)
    out = np.empty((1, 8, 6, 6), np.float32)
    work = np.empty(_winograd_kernel.work_size(4, 8, 6, 6, 3, 2, 4, 1), np.float32)
    with pytest.raises(ValueError, match="k_groups must be >= 1"):
        _winograd_kernel.correlate3x3(x, u, out, None, work, 1, 1, 3, 1, 0, 0)
