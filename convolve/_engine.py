"""The one entry into the direct kernel: picks its loop order and threads.

Callers hand over 5-D C-contiguous blocks ``x (N, C, D, H, W)``,
``w (O, C/groups, KD, KH, KW)`` and the output ``(N, O, OD, OH, OW)``.
"""
import functools
import math

import numpy as np

from . import _batchlane, _blocked, _direct, _igemm, _scratch, _winograd
from ._threads import resolve_workers

# method='auto' takes the implicit GEMM from this many output channels per
# group, input channels per group and this long a reduction (input channels
# per group x taps) on; below, the direct kernel (gathers would dominate).
GEMM_MIN_CHANNELS = 24
GEMM_MIN_IN_CHANNELS = 8
GEMM_MIN_REDUCTION = 64
# method='auto' takes the batch-lane kernel for output rows up to this wide
BATCH_MAX_WIDTH = 32
BATCH_MIN_JUNK = 0.2    # ... when the junk columns would be a fifth of the row
# method= values of the NN family's forward (convolve.functional.conv*d)
# ('fft' is handled by convolve.functional before the engine: convolve._fft.conv_fft)
METHODS = ("auto", "direct", "blocked", "winograd", "winograd2x2", "winograd4x4", "gemm", "batch",
           "fft")
WINOGRAD = ("winograd", "winograd2x2", "winograd4x4")

# Per-thread workspace the PLANE loop order may use: the flattened output
# plane accumulator and the padded input plane should stay in L2.
PLANE_BYTES_MAX = 384 * 1024
TW = 64
ROWS, PLANE, STACK = 0, 1, 2   # loop orders of pyx/_direct.pyx
# The STACK order keeps every input plane of a group's band resident.
STACK_BYTES_MAX = 512 * 1024


def plane_workspace(band_rows, out_w, k_hw, dilation_hw):
    """Per-thread elements the PLANE loop order needs for bands of `band_rows` rows
    (mirrors the allocation in pyx/_direct.pyx::_plane)."""
    (KH, KW), (dh, dw) = k_hw, dilation_hw
    Wp = out_w + (KW - 1) * dw
    nq_pad = -(-band_rows * Wp // TW) * TW
    max_off = (KH - 1) * dh * Wp + (KW - 1) * dw
    return nq_pad + max(nq_pad + max_off + 1, (band_rows + (KH - 1) * dh) * Wp)


def _largest(fits, hi):
    """Largest n in [0, hi] with fits(n) (fits is monotone decreasing)."""
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _split_for_threads(bh, OH, units, n_threads):
    while units * -(-OH // bh) < 2 * n_threads and bh > 8:
        bh = -(-bh // 2)
    return bh


def choose_path(out_shape, w_shape, stride, dilation, itemsize, n_threads, groups):
    """(loop order, band rows, output channels per unit) for pyx/_direct.pyx.

    Stride-1 rows: STACK when the band of every input plane of a group fits
    in L2 (all taps of a tile summed in registers), else PLANE with the
    tallest band that fits; strided rows or rows too wide for a band: ROWS.
    """
    N, O, OD, OH, OW = out_shape
    Cg, KD, KH, KW = w_shape[1:]
    dh, dw = dilation[1:]
    if stride[1] != 1 or stride[2] != 1 or OW < 2:
        return ROWS, 0, 1
    Wp = OW + (KW - 1) * dw
    stack = lambda bh: (Cg * KD * (bh + (KH - 1) * dh) * Wp + 2 * TW + KW * dw) * itemsize \
        <= STACK_BYTES_MAX
    bh = _largest(stack, OH)
    if bh >= min(OH, 4) and bh > 0:
        bh = _split_for_threads(bh, OH, N * groups * OD, n_threads)
        Og = O // groups
        ob = Og
        while N * groups * OD * -(-OH // bh) * -(-Og // ob) < 4 * n_threads and ob > 6:
            ob = -(-ob // 12) * 6        # halve, staying a multiple of 6 (sextet tiles)
        return STACK, bh, ob
    budget = PLANE_BYTES_MAX // itemsize
    bh = _largest(lambda b: plane_workspace(b, OW, (KH, KW), (dh, dw)) <= budget, OH)
    if bh < min(OH, 4):
        return ROWS, 0, 1
    return PLANE, _split_for_threads(bh, OH, N * O * OD, n_threads), 1


def _panels(w, groups, jw):
    """Weights (O, Cg, *kernel) -> (groups, ceil(Og/jw), Cg*prod(kernel), jw): each
    group's output channels as panels of `jw` rows stored tap-major (zero rows
    pad each group's last panel), by the compiled packer."""
    O = w.shape[0]
    Og, taps = O // groups, math.prod(w.shape[1:])
    nb = -(-Og // jw)
    if w.dtype not in (np.float32, np.float64):      # the signal family's integers
        wp = np.zeros((groups, nb * jw, taps), dtype=w.dtype)
        wp[:, :Og] = w.reshape(groups, Og, taps)
        return np.ascontiguousarray(wp.reshape(groups, nb, jw, taps).transpose(0, 1, 3, 2))
    out = np.empty((1, groups, nb, taps, jw), dtype=w.dtype)
    _blocked.pack_panels(np.ascontiguousarray(w).reshape(1, O, taps), out, groups)
    return out[0]


def pack6(w, groups):
    """Weights (O, Cg, KD, KH, KW) -> (groups, ceil(Og/6), Cg*KD*KH*KW, 6): the
    panels of six output channels the STACK path's 6-channel tile reads as
    one stream (zero channels pad the last panel of each group)."""
    return _panels(w, groups, 6)


def two_vectors(itemsize):
    """Elements in two 256-bit vectors (16 floats, 8 doubles): the width of the
    micro-kernels' panels and tiles."""
    return 16 if itemsize == 4 else 8


def blocked_width(Og, itemsize):
    """Output channels per panel of the blocked kernel: two vectors (16 floats,
    8 doubles; tiles of 6 pixels), or one vector (tiles of 8 pixels) when a
    group's channels fill at most one."""
    lanes = two_vectors(itemsize) // 2
    return lanes if Og <= lanes else 2 * lanes


def pack_lanes(w, groups):
    """Weights (O, Cg, KD, KH, KW) -> (groups, ceil(Og/JW), K, JW), K = Cg*KD*KH*KW:
    the panels of JW output channels (:func:`blocked_width`) the blocked
    direct kernel reads as vectors, tap by tap (zero lanes pad each group's
    last panel)."""
    return _panels(w, groups, blocked_width(w.shape[0] // groups, w.itemsize))


# ... and when one output row's workspace fits in this much per thread
BLOCKED_MAX_BYTES = 4 << 20
# method='auto' takes the blocked kernel from this long a reduction on
BLOCKED_MIN_REDUCTION = 96
# Per-thread padded input band of the blocked kernel (the image's rows a unit reads)
BLOCKED_BAND_BYTES = 256 * 1024


def blocked_band(x_shape, w_shape, out_shape, stride, dilation, groups, itemsize, n_threads):
    """Output rows per unit of the blocked kernel: the padded rows of the
    group's channels and the unit's accumulator (its outputs, channels
    padded to whole panels) in 2 x BLOCKED_BAND_BYTES, at least one row,
    and units enough for the threads. Cached by shape: the search had cost
    5 of the 31 microseconds a small layer's call spends outside the kernel."""
    return _blocked_band(tuple(x_shape), tuple(w_shape), tuple(out_shape), tuple(stride),
                         tuple(dilation), groups, itemsize, n_threads)


@functools.lru_cache(maxsize=256)
def _blocked_band(x_shape, w_shape, out_shape, stride, dilation, groups, itemsize, n_threads):
    N = x_shape[0]
    OH = out_shape[3]
    bh = max(1, _largest(lambda b: b >= 1 and blocked_workspace(
        w_shape, out_shape, stride, dilation, groups, itemsize, b) <= 2 * BLOCKED_BAND_BYTES,
        OH))
    while N * groups * -(-OH // bh) < 4 * n_threads and bh > 1:
        bh = -(-bh // 2)
    return bh


def blocked_workspace(w_shape, out_shape, stride, dilation, groups, itemsize, band=1):
    """Bytes per thread of the blocked kernel for units of `band` output rows:
    the padded input rows of a group's channels (all depth planes) and the
    accumulator of the band's outputs."""
    _, Cg, KD, KH, KW = w_shape
    OD, OH, OW = out_shape[2:]
    Dp = (OD - 1) * stride[0] + (KD - 1) * dilation[0] + 1
    Wp = (OW - 1) * stride[2] + (KW - 1) * dilation[2] + 1
    Og = w_shape[0] // groups
    jw = blocked_width(Og, itemsize)
    rows = Cg * Dp * ((band - 1) * stride[1] + (KH - 1) * dilation[1] + 1) * Wp
    return (rows + OD * band * OW * -(-Og // jw) * jw) * itemsize


def blocked_fits(w_shape, out_shape, stride, dilation, groups, itemsize):
    """Whether one output row's workspace stays within BLOCKED_MAX_BYTES per
    thread (large 3-D volumes with many channels: the band holds every depth
    plane), so that 'auto' keeps the memory bound of the other methods."""
    return blocked_workspace(w_shape, out_shape, stride, dilation, groups,
                             itemsize) <= BLOCKED_MAX_BYTES


def blocked_pays(w_shape, itemsize):
    """Whether method='auto' takes the blocked kernel (pyx/_blocked.pyx): panels of
    two vectors of output channels at least three-quarters full, a reduction
    (input channels per group x taps) long enough to amortize the transposed
    store of each 6-pixel tile, and taps to read in place (a 1x1 layer is a
    plain GEMM: the implicit GEMM and direct orders run it)."""
    Og = w_shape[0]
    T = math.prod(w_shape[1:])
    jw = two_vectors(itemsize)
    return (Og >= jw and 4 * Og >= 3 * jw * -(-Og // jw) and T >= BLOCKED_MIN_REDUCTION
            and tuple(w_shape[2:]) != (1, 1, 1))


def correlate_blocked(x, w, out, bias, stride, dilation, pad, groups, n_threads, base=None):
    """The blocked direct kernel (pyx/_blocked.pyx): output channels as lanes.
    `out` may be a strided 5-D view of the C-contiguous array `base`, written
    in place; `pad` may be negative (input skipped)."""
    band = blocked_band(x.shape, w.shape, out.shape, stride, dilation, groups, x.itemsize,
                        n_threads)
    isz = out.itemsize
    if base is None or base is out:
        # (the array interface costs ~2 us a call: only for views)
        base, off = out, 0
    else:
        off = (out.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // isz
    _blocked.correlate(x, pack_lanes(w, groups), base.reshape(-1), out.shape,
                       tuple(st // isz for st in out.strides), off, bias, tuple(w.shape[2:]),
                       tuple(stride), tuple(dilation), tuple(pad), groups, band, n_threads)
    return out


def space_to_depth(x, w, out_hw, stride, dilation, pad):
    """Rewrite a correlation strided along H and W as a stride-1 one (polyphase).

    With ``t = k * dilation = a * stride + p``, output ``oh`` reads input row
    ``oh * s + t - pad = (oh + a) * s + p - pad``: phase ``p`` of the padded
    input at offset ``a``. So the input is split into its ``sh * sw`` phases as
    extra channels (``x2[n, c*sh*sw + p*sw + q] = xpad[n, c, p::sh, q::sw]``)
    and each tap moves to phase ``(p, q)``, offset ``(a, b)`` of a kernel of
    ``ceil(((k - 1) * dilation + 1) / s)`` taps per axis (zeros where no tap
    lands). The result is exactly the strided output, computed by the
    stride-1 loop orders, whose inner loops are contiguous.

    Returns (x2, w2, stride, dilation, pad) for :func:`correlate5`.
    """
    N, C, D, H, W = x.shape
    O, Cg, KD, KH, KW = w.shape
    (sh, sw), (dh, dw), (ph, pw) = stride[1:], dilation[1:], pad[1:]
    OH, OW = out_hw
    KH2, KW2 = -(-((KH - 1) * dh + 1) // sh), -(-((KW - 1) * dw + 1) // sw)
    Hs, Ws = OH + KH2 - 1, OW + KW2 - 1
    x2 = np.zeros((N, C, sh, sw, D, Hs, Ws), dtype=x.dtype)

    def span(p, s, P, n, m):
        lo = max(0, -(-(P - p) // s))
        hi = min(m, -(-(n + P - p) // s))
        return lo, hi, lo * s + p - P

    for p in range(sh):
        i_lo, i_hi, ih = span(p, sh, ph, H, Hs)
        if i_hi <= i_lo:
            continue
        for q in range(sw):
            j_lo, j_hi, iw = span(q, sw, pw, W, Ws)
            if j_hi <= j_lo:
                continue
            x2[:, :, p, q, :, i_lo:i_hi, j_lo:j_hi] = \
                x[:, :, :, ih:ih + (i_hi - i_lo - 1) * sh + 1:sh, iw:iw + (j_hi - j_lo - 1) * sw + 1:sw]
    w2 = np.zeros((O, Cg, sh, sw, KD, KH2, KW2), dtype=w.dtype)
    for kh in range(KH):
        a, p = divmod(kh * dh, sh)
        for kw in range(KW):
            b, q = divmod(kw * dw, sw)
            w2[:, :, p, q, :, a, b] = w[:, :, :, kh, kw]
    return (x2.reshape(N, C * sh * sw, D, Hs, Ws), w2.reshape(O, Cg * sh * sw, KD, KH2, KW2),
            (stride[0], 1, 1), (dilation[0], 1, 1), (pad[0], 0, 0))


def _complex_as_real(x, w, out, bias, stride, dilation, pad, groups, workers):
    """Complex correlation as one real correlation with twice the channels:
    input channel (c, re|im), output channel (o, re|im) and the 2x2 real
    weight block [[wr, -wi], [wi, wr]] per (o, c). The real kernels are
    vectorized; C complex arithmetic is not."""
    real = x.real.dtype
    N, C = x.shape[:2]
    O, Cg = w.shape[:2]
    x2 = np.empty((N, C, 2) + x.shape[2:], real)
    x2[:, :, 0], x2[:, :, 1] = x.real, x.imag
    w2 = np.empty((O, 2, Cg, 2) + w.shape[2:], real)
    w2[:, 0, :, 0], w2[:, 0, :, 1] = w.real, -w.imag
    w2[:, 1, :, 0], w2[:, 1, :, 1] = w.imag, w.real
    r = np.empty((N, O, 2) + out.shape[2:], real)
    correlate5(x2.reshape((N, 2 * C) + x.shape[2:]), w2.reshape((2 * O, 2 * Cg) + w.shape[2:]),
               r.reshape((N, 2 * O) + out.shape[2:]), None, stride, dilation, pad, groups,
               workers)
    out.real[...], out.imag[...] = r[:, :, 0], r[:, :, 1]
    if bias is not None:
        out += bias.reshape((1, O) + (1,) * (out.ndim - 2))
    return out


def gemm_pays(w_shape, stride, groups):
    """Whether method='auto' takes the implicit GEMM (pyx/_igemm.pyx): many
    output channels per group to share each gathered panel, a reduction long
    enough to amortize the gather, and a layer the stride-1 direct orders do
    not already run well: strided (their polyphase rewrite adds zero taps) or
    1x1 (a plain GEMM, no taps to share)."""
    Og, Cg = w_shape[0] // groups, w_shape[1]
    T = math.prod(w_shape[1:])
    return (Og >= GEMM_MIN_CHANNELS and Cg >= GEMM_MIN_IN_CHANNELS
            and T >= GEMM_MIN_REDUCTION
            and (max(stride[1:]) > 1 or tuple(w_shape[2:]) == (1, 1, 1)))


def batch_lanes(itemsize):
    """Images per vector tile of the batch-lane kernel (two vectors)."""
    return two_vectors(itemsize)


def batch_fills_lanes(N, itemsize):
    """A batch of at least two lane tiles, at most an eighth of it padding."""
    lanes = batch_lanes(itemsize)
    return N >= 2 * lanes and (-N % lanes) * 8 <= N


def batch_pays(x_shape, w_shape, out_shape, dtype):
    """Whether method='auto' takes the batch-lane kernel (pyx/_batchlane.pyx):
    a batch that fills the lanes (at most an eighth of them padding) and
    output rows too short for the row-flattening orders, which compute
    KW - 1 junk columns per row in tiles of 16."""
    OW = out_shape[4]
    junk = (w_shape[4] - 1) / (OW + w_shape[4] - 1)
    return (batch_fills_lanes(x_shape[0], np.dtype(dtype).itemsize)
            and OW <= BATCH_MAX_WIDTH and junk >= BATCH_MIN_JUNK)


def correlate_batch(x, w, out, bias, stride, dilation, pad, groups, n_threads):
    """The batch-lane kernel: x transposed (batch last, padded, zero borders),
    the result transposed back into `out`."""
    N, C, D, H, W = x.shape
    lanes = batch_lanes(x.itemsize)
    Np = -(-N // lanes) * lanes
    O, _, KD, KH, KW = w.shape
    OD, OH, OW = out.shape[2:]
    # the padded extent the windows read (trailing padding implied by the output size)
    ext = [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip((OD, OH, OW), stride,
                                                                (KD, KH, KW), dilation)]
    # every element written by the compiled transposes (borders, padding lanes)
    xt = _scratch.scratch("batch_xt", (C,) + tuple(max(e, p + n) for e, p, n
                                                   in zip(ext, pad, (D, H, W))) + (Np,),
                          x.dtype)
    _batchlane.to_batch_last(x, xt, tuple(pad), n_threads)
    outt = _scratch.scratch("batch_outt", (O, OD, OH, OW, Np), x.dtype)
    # taps in the order (kd, kh, kw, c): the kernel sums runs of valid taps only
    _batchlane.correlate(xt, pack6(np.ascontiguousarray(w.transpose(0, 2, 3, 4, 1)), groups),
                         outt, bias, (KD, KH, KW), tuple(stride), tuple(dilation),
                         tuple(pad), (D, H, W), groups, n_threads)
    if out.flags.c_contiguous:
        _batchlane.from_batch_last(outt, out, n_threads)
    else:
        out[...] = outt[..., :N].transpose(4, 0, 1, 2, 3)
    return out


def check_method(method, x_shape, w_shape, stride, dilation, groups, dtype, name):
    """Validate `method` for a 5-D problem; ValueError naming the rule when a
    forced method cannot compute it."""
    if method not in METHODS:
        raise ValueError(f"{name}: method must be one of {METHODS}, got {method!r}")
    if method in WINOGRAD and not _winograd.applies(x_shape, w_shape, stride, dilation,
                                                    groups, np.dtype(dtype)):
        raise ValueError(f"{name}: method={method!r} computes 2-D float32/float64 "
                         f"convolutions with a 3x3 kernel, stride 1, dilation 1 and "
                         f"groups=1; use 'direct' or 'auto' here")
    if method == "winograd4x4" and np.dtype(dtype) != np.float32:
        raise ValueError(f"{name}: method='winograd4x4' is float32 only (its transforms' "
                         f"error exceeds float64 rounding); use 'winograd2x2' for float64")


def correlate5(x, w, out, bias, stride, dilation, pad, groups, workers, method="auto"):
    """out[...] = correlation of the 5-D blocks by `method`, or for 'auto' the
    first that pays in this order: Winograd F(4x4, 3x3) or F(2x2, 3x3)
    (pyx/_winograd_kernel.pyx),
    the blocked direct kernel (pyx/_blocked.pyx), the batch-lane kernel
    (pyx/_batchlane.pyx), the implicit GEMM (pyx/_igemm.pyx), else the
    direct loop orders (pyx/_direct.pyx)."""
    if x.dtype.kind == "c":
        return _complex_as_real(x, w, out, bias, stride, dilation, pad, groups, workers)
    if out.size == 0:
        return out
    macs = out.size * w.shape[1] * w.shape[2] * w.shape[3] * w.shape[4]
    n_threads = resolve_workers(workers, macs)
    if (method == "auto" or method in WINOGRAD) and _winograd.applies(
            x.shape, w.shape, stride, dilation, groups, x.dtype):
        if (method != "auto" or _winograd.pays(x.shape[1], w.shape[0], out.shape[3:])) \
                and _winograd.correlate(x, w, out, bias, pad, n_threads,
                                        "winograd" if method == "auto" else method):
            return out
    if method == "blocked" or (method == "auto" and blocked_pays((w.shape[0] // groups,)
                                                                 + w.shape[1:], x.itemsize)
                               and blocked_fits(w.shape, out.shape, stride, dilation, groups,
                                                x.itemsize)):
        return correlate_blocked(x, w, out, bias, stride, dilation, pad, groups, n_threads)
    if method == "batch" or (method == "auto" and batch_pays(x.shape, w.shape, out.shape,
                                                              x.dtype)):
        return correlate_batch(x, w, out, bias, stride, dilation, pad, groups, n_threads)
    if method == "gemm" or (method == "auto" and gemm_pays(w.shape, stride, groups)):
        _igemm.correlate(x, pack6(w, groups), out, bias, tuple(w.shape[2:]), tuple(stride),
                         tuple(dilation), tuple(pad), groups, n_threads)
        return out
    # space_to_depth adds zero taps that read elements outside the real
    # windows: 0 * inf = NaN would leak there, so non-finite inputs take the
    # strided ROWS loop order, which reads exactly the window.
    if (stride[1] > 1 or stride[2] > 1) and np.isfinite(x).all():
        x, w, stride, dilation, pad = space_to_depth(x, w, out.shape[3:], stride, dilation,
                                                     pad)
    path, band, ob = choose_path(out.shape, w.shape, stride, dilation, x.itemsize, n_threads,
                                 groups)
    _direct.correlate(x, w, out, bias, tuple(stride), tuple(dilation), tuple(pad),
                      groups, n_threads, path, band, ob,
                      pack6(w, groups) if path == STACK else None)
    return out
