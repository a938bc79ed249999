"""Gradients of the NN-family convolution, and transposed convolution.

The gradients:

- input gradient: for stride ``s``, split the (padded) input positions into
  their ``s`` phases per axis; phase ``r`` only receives the taps ``k`` with
  ``k * dilation = r (mod s)``, so it is a stride-1 correlation of
  ``grad_out`` with the reversed, channel-transposed sub-kernel of those taps
  (dilation ``dilation / gcd(dilation, s)``) -- ``s**d`` stride-1 calls and
  no zero-stuffed array;
- weight gradient: ``gw[o, c, k] = sum_{n, p} gy[n, o, p] xp[n, c, p*s + k*d]``
  is, for each tap ``k``, a matrix product over the ``N * P`` outputs --
  GEMM-shaped, so it runs in the BLAS (see ``weight_grad_padded``).

Non-zero padding modes fold the gradient of the padded copy back onto the
input (the adjoint of ``numpy.pad``).
"""
import itertools
import math

import numpy as np

from . import _batchlane, _blocked, _dispatch, _engine, _igemm, _scratch, _wgrad
from ._threads import resolve_workers
from ._validate import check_size, int_tuple, nn_dtype, positive_int


def corr(x, w, out_sp, stride, dilation, pad, groups, workers, slot=None):
    """Engine call for d-D arrays ``x (N, C, *sp)``, ``w (O, Cg, *k)``; the
    result in the scratch array of `slot` when given (a temporary)."""
    d = x.ndim - 2
    lift = (1,) * (3 - d)
    N, O = x.shape[0], w.shape[0]
    shape = (N, O) + tuple(out_sp)
    out = np.empty(shape, dtype=x.dtype) if slot is None else _scratch.scratch(slot, shape,
                                                                                x.dtype)
    x5 = np.ascontiguousarray(x).reshape(x.shape[:2] + lift + x.shape[2:])
    w5 = np.ascontiguousarray(w).reshape(w.shape[:2] + lift + w.shape[2:])
    _engine.correlate5(x5, w5, out.reshape((N, O) + lift + tuple(out_sp)), None,
                       lift + tuple(stride), lift + tuple(dilation),
                       (0,) * (3 - d) + tuple(pad), groups, workers)
    return out


def pad_index(n, lo, hi, mode):
    """Source index of every position of the padded axis (-1 for zeros)."""
    if mode == "zeros":
        idx = np.full(n + lo + hi, -1)
        idx[lo:lo + n] = np.arange(n)
        return idx
    from .functional import PADDING_MODES
    return np.pad(np.arange(n), (lo, hi), mode=PADDING_MODES[mode])


def unpad_adjoint(gp, pairs, sizes, mode):
    """Adjoint of padding the trailing axes of an array by `pairs` with `mode`:
    every padded position's gradient is added to the input element it copies."""
    d = len(pairs)
    if mode == "zeros":
        return gp[(Ellipsis,) + tuple(slice(lo, lo + n) for (lo, _), n in zip(pairs, sizes))]
    g = gp
    for ax in range(d):
        n, (lo, hi) = sizes[ax], pairs[ax]
        idx = pad_index(n, lo, hi, mode)
        m = np.zeros((idx.size, n), dtype=gp.dtype)
        m[np.arange(idx.size), idx] = 1
        axis = g.ndim - d + ax
        g = np.moveaxis(np.tensordot(g, m, axes=([axis], [0])), -1, axis)
    return g


def transpose_channels(w, groups):
    """(O, Cg, *k) -> the channel-transposed kernel (C, Og, *k), group by group."""
    O, Cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
    Og = O // groups
    return w.reshape((groups, Og, Cg) + kernel).swapaxes(1, 2).reshape((Cg * groups, Og) + kernel)


def _progression(ks):
    """The slice selecting the arithmetic progression `ks` (any step sign)."""
    if len(ks) == 1:
        return slice(ks[0], ks[0] + 1)
    step = ks[1] - ks[0]
    stop = ks[-1] + step
    return slice(ks[0], None if stop < 0 else stop, step)


def input_grad_padded(gy, w, Lp, stride, dilation, groups, workers, crop=None):
    """Gradient with respect to the padded input, shape ``(N, C, *Lp)``, or,
    with ``crop = ((lo, n), ...)`` per axis, only its window ``lo:lo + n``
    (the unpadded input of zero padding, the output of a transposed
    convolution). The fused GEMM + fold where :func:`gemm_fold_pays`, else
    s^d stride-1 phase correlations, each writing its part straight into the
    result."""
    if crop is None:
        crop = [(0, L) for L in Lp]
    if gy.dtype.kind == "f" and gemm_fold_pays(w.shape, stride, groups, gy.itemsize):
        return input_grad_gemm_fold(gy, w, [n for _, n in crop], stride, dilation,
                                    [lo for lo, _ in crop], workers)
    N, O = gy.shape[:2]
    Cg, kernel = w.shape[1], w.shape[2:]
    C, Og = Cg * groups, O // groups
    d = len(kernel)
    wt = transpose_channels(w, groups)
    gxp = np.zeros((N, C) + tuple(n for _, n in crop), dtype=gy.dtype)
    for phase in itertools.product(*(range(s) for s in stride)):
        taps, dil, pad, Q = [], [], [], []
        for r, s, dl, K, L in zip(phase, stride, dilation, kernel, Lp):
            ks = [k for k in range(K) if (k * dl) % s == r]
            taps.append(ks[::-1])
            if ks:
                dp = dl // math.gcd(dl, s)
                dil.append(dp)
                pad.append((ks[0] * dl - r) // s + (len(ks) - 1) * dp)
            Q.append(-(-(L - r) // s))
        if any(not ks for ks in taps) or any(q <= 0 for q in Q):
            continue          # no tap lands on this phase: its gradient is 0
        # the phase's taps (descending arithmetic progressions) as basic
        # slices: a view (fancy indexing of the transposed kernel had cost
        # 0.4 ms per phase for 64 x 32 x 4 x 4 weights)
        sub = wt[(slice(None), slice(None)) + tuple(_progression(ks) for ks in taps)]
        # phase index m is padded position r + s*m, i.e. r + s*m - lo in the window
        src, dst = [], []
        for r, s, q, (lo, n) in zip(phase, stride, Q, crop):
            m_lo = max(0, -(-(lo - r) // s))
            m_hi = min(q, (lo + n - 1 - r) // s + 1)
            if m_hi <= m_lo:
                break
            i0 = r + s * m_lo - lo
            src.append(slice(m_lo, m_hi))
            dst.append(slice(i0, i0 + (m_hi - m_lo - 1) * s + 1, s))
        else:
            lift = (1,) * (3 - d)
            if (gy.dtype.kind == "f"
                    and _engine.blocked_pays((C // groups,) + lift + sub.shape[1:], gy.itemsize)
                    and _engine.blocked_fits(sub.shape[:2] + lift + sub.shape[2:],
                                             (N, C) + lift + tuple(sl.stop - sl.start
                                                                   for sl in src),
                                             (1, 1, 1), lift + tuple(dil), groups,
                                             gy.itemsize)):
                # only the phase's outputs inside the window, written in place
                # (the leading padding shrinks by the outputs skipped)
                view = gxp[(Ellipsis,) + tuple(dst)][(slice(None), slice(None)) + (None,) * (3 - d)]
                n_threads = resolve_workers(workers, view.size * sub[0].size)
                _engine.correlate_blocked(
                    gy.reshape(gy.shape[:2] + lift + gy.shape[2:]),
                    np.ascontiguousarray(sub).reshape(sub.shape[:2] + lift + sub.shape[2:]),
                    view, None, (1, 1, 1), lift + tuple(dil),
                    (0,) * (3 - d) + tuple(p - sl.start for p, sl in zip(pad, src)), groups,
                    n_threads, base=gxp)
                continue
            res = corr(gy, sub, Q, (1,) * d, dil, pad, groups, workers, slot="phase_out")
            gxp[(Ellipsis,) + tuple(dst)] = res[(Ellipsis,) + tuple(src)]
    return gxp


# Bytes of the lowered input block (im2col rows) the weight gradient builds at
# a time: bounded workspace whatever the problem size.
IM2COL_BYTES = 8 << 20


def _windows(xp, kernel, stride, dilation, osp):
    """The strided window of `xp` each kernel tap reads, as views (N, C, *osp)."""
    for k in itertools.product(*(range(K) for K in kernel)):
        yield k, xp[(slice(None), slice(None)) + tuple(
            slice(kk * dl, kk * dl + (n - 1) * s + 1, s)
            for kk, dl, s, n in zip(k, dilation, stride, osp))]


# Units (output entries x image chunks) the direct weight gradient aims for:
# enough to share among threads, fixed by the shapes alone (not the thread
# count), so that the chunk sums, added in order, do not depend on threads.
WGRAD_UNITS = 256


def direct_weight_grad_pays(O, Cg, groups, kernel):
    """Whether the dot-product kernel (pyx/_wgrad.pyx) beats the GEMM: few
    output channels per group (depthwise, grouped) or a small reduction
    per output channel (first layers), where the GEMM is skinny."""
    return O // groups <= 4 or Cg * math.prod(kernel) <= 32


def weight_grad_direct(xp, gy, kernel, stride, dilation, groups, workers, pad=None):
    """``gw`` by pyx/_wgrad.pyx: strides along H and W become stride 1 by the
    forward's polyphase rewrite (each tap then lives in one phase channel).
    `pad`: leading zero padding per axis of an unpadded `xp` (implicit: the
    kernel and the rewrite read zeros outside, no padded copy)."""
    d = len(kernel)
    lift = (1,) * (3 - d)
    N, C = xp.shape[:2]
    O = gy.shape[1]
    Cg = C // groups
    x5 = xp.reshape((N, C) + lift + xp.shape[2:])
    k5, s5, d5 = lift + tuple(kernel), lift + tuple(stride), lift + tuple(dilation)
    p5 = (0,) * (3 - d) + (tuple(pad) if pad is not None else (0,) * d)
    gy5 = gy.reshape((N, O) + lift + gy.shape[2:])
    tap_at = None
    if s5[1] > 1 or s5[2] > 1:
        # where each tap of the kernel lands in the phase-split kernel: run the
        # rewrite on a kernel holding tap numbers 1..KK
        ids = np.arange(1, math.prod(k5) + 1, dtype=np.float64).reshape((1, 1) + k5)
        x5, ids2, _, d5, p5 = _engine.space_to_depth(x5, ids, gy5.shape[3:], s5, d5, p5)
        x5 = np.ascontiguousarray(x5)
        tap_at = [np.flatnonzero(ids2.ravel() == t + 1)[0] for t in range(math.prod(k5))]
        k5 = ids2.shape[2:]
    Cg2 = x5.shape[1] // groups
    OD, OH, OW = gy5.shape[2:]
    Q = min(N, max(1, -(-WGRAD_UNITS // (O * Cg2 * math.prod(k5)))))
    part = np.zeros((Q, O, Cg2) + tuple(k5), dtype=gy.dtype)
    n_threads = resolve_workers(workers, N * O * Cg2 * math.prod(k5) * OD * OH * OW)
    _wgrad.weight_grad(np.ascontiguousarray(x5), gy5, part, groups, d5, n_threads,
                       tuple(p5))
    gw = part.sum(axis=0) if Q > 1 else part[0]
    if tap_at is not None:
        # gw2 (O, Cg * s^2, *k2) -> gw (O, Cg, *kernel): channel c*s^2 + phase
        flat = gw.reshape(O, Cg, -1)
        gw = flat[:, :, tap_at]
    return np.ascontiguousarray(gw.reshape((O, Cg) + tuple(kernel)))


def weight_grad_batchlane(xp, gy, kernel, dilation, groups, workers):
    """Stride-1 ``gw`` with the batch as the fastest axis: with ``xT (C, *Lp,
    Np)`` and ``gyT (O, *osp, Np)`` (zero lanes beyond N), one image whose
    rows are ``OW * Np`` long and whose column dilation is ``dw * Np`` has
    the same weight gradient, and every dot product of pyx/_wgrad.pyx runs
    over long contiguous rows, however small the maps (LeNet-like layers)."""
    d = len(kernel)
    lift = (1,) * (3 - d)
    N, C = xp.shape[:2]
    O = gy.shape[1]
    lanes = _engine.batch_lanes(xp.itemsize)
    Np = -(-N // lanes) * lanes
    Lp, osp = lift + xp.shape[2:], lift + gy.shape[2:]
    k5, d5 = lift + tuple(kernel), lift + tuple(dilation)
    part = np.zeros((1, O, C // groups) + k5, dtype=gy.dtype)
    n_threads = resolve_workers(workers, N * O * (C // groups) * math.prod(k5) * math.prod(osp))
    # batch-last copies (zero lanes beyond N) by the compiled transpose
    xt = _scratch.scratch("wgrad_xt", (C,) + Lp + (Np,), xp.dtype)
    _batchlane.to_batch_last(np.ascontiguousarray(xp).reshape((N, C) + Lp), xt, (0, 0, 0),
                             n_threads)
    gt = _scratch.scratch("wgrad_gt", (O,) + osp + (Np,), gy.dtype)
    _batchlane.to_batch_last(np.ascontiguousarray(gy).reshape((N, O) + osp), gt, (0, 0, 0),
                             n_threads)
    _wgrad.weight_grad(xt.reshape((1, C) + Lp[:2] + (Lp[2] * Np,)),
                       gt.reshape((1, O) + osp[:2] + (osp[2] * Np,)), part, groups,
                       d5[:2] + (d5[2] * Np,), n_threads)
    return part[0].reshape((O, C // groups) + tuple(kernel))


def blocked_weight_grad_pays(w_shape, groups, itemsize):
    """Whether the blocked weight gradient (:func:`weight_grad_blocked`) runs:
    panels of two vectors of output channels (16 floats, 8 doubles) at least
    three-quarters full, and a tap block's worth of reduction (input channels
    per group x taps). Fewer channels (LeNet's first layer: 6) run faster on
    the batch-lane or dot-product kernels: the one-vector tiles of 8 taps are
    load-bound and the short reduction leaves most tap blocks part empty."""
    Og = w_shape[0] // groups
    jw = _engine.two_vectors(itemsize)
    return Og >= jw and 4 * Og >= 3 * jw * -(-Og // jw) and math.prod(w_shape[1:]) >= 16


# Partial weight gradients of image groups (blocked weight gradient): at most
# this many, together at most an eighth of the output gradient and
# WG_PARTIAL_BYTES.
WG_MAX_GROUPS = 16
# The input span of a chunk of output pixels (WEIGHT_GRAD_CHUNK of
# pyx/_blocked.pyx) above which float64 units take several channel panels
# (weight_grad_panels).
WG_SPAN_BYTES = 1 << 20
WG_PANELS = 4


def weight_grad_panels(itemsize, Cg, xsp, osp, stride, kernel):
    """Channel panels per unit of the blocked weight gradient: WG_PANELS for
    float64 layers with a stride whose input windows for one chunk of
    output pixels (all of a group's channels) exceed WG_SPAN_BYTES (L2), else
    2 where the build multiplies panels in pairs (AVX-512: two, 2 threads,
    res56 10.4 -> 9.6 ms float32, 22.7 -> 18.8 ms float64), else 1.

    A unit streams its tap blocks over each chunk; with several panels a
    tap block's windows, read once from L3, feed every panel from L2. That
    traffic is 4x heavier per FLOP for a stride-2 float64 layer than for a
    stride-1 float32 one (half the FLOPs per panel, twice the panels, every
    other input used): s2_56 float64 ran at 22 GFLOP/s on one thread
    (42 ms), 44 with 4 panels (24 ms), 2 threads 16.0 -> 13.4 ms; float32
    and stride-1 layers measured within noise, the stem (3 channels) slower."""
    base = 2 if _blocked.pair_panels() else 1
    if itemsize != 8 or max(stride) == 1:
        return base
    rows = min(xsp[-2] if len(xsp) > 1 else 1,
               -(-_blocked.WEIGHT_GRAD_CHUNK // osp[-1]) * (stride[-2] if len(stride) > 1 else 1)
               + (kernel[-2] if len(kernel) > 1 else 1))
    depth = xsp[0] if len(xsp) == 3 else 1
    return WG_PANELS if Cg * depth * rows * xsp[-1] * itemsize > WG_SPAN_BYTES else base
WG_PARTIAL_BYTES = 16 << 20


def weight_grad_image_groups(N, tile_bytes, gy_bytes):
    """Image groups S whose partial weight gradients the blocked kernel sums:
    each group is a unit of work that reads its own output-gradient panels
    once. Units made only by splitting the taps reread (and transpose again)
    the whole output gradient per run of taps: 8 runs for the stem on 16
    threads (205 MB read, 4.6 ms; tools/thread_scaling.py). S depends on the
    shapes alone, never on the threads (the sums' order, hence the bits,
    follows S); the partials cost S weight gradients written and added, so
    S > 1 only where they are small next to the output gradient. S divides N
    (groups of equal work: 5 groups of 8 images had left 16 threads unevenly
    loaded)."""
    budget = min(gy_bytes // 8, WG_PARTIAL_BYTES)
    cap = max(1, min(N, WG_MAX_GROUPS, budget // max(1, tile_bytes)))
    return next(s for s in range(cap, 0, -1) if N % s == 0)


def weight_grad_blocked(xp, gy, kernel, stride, dilation, groups, workers):
    """``gw`` by the blocked kernel's weight gradient (pyx/_blocked.pyx): output
    channels as vector lanes (panels of :func:`convolve._engine.blocked_width`),
    six or eight taps read in place per tile, the pixels of every image as the
    reduction, from the padded input `xp` and the output gradient, whose
    pixel-major channel panels each thread transposes chunk by chunk into its
    own buffer (a whole transposed copy had cost 2.1 ms of the stem's 12.6 ms
    on two threads: 25 MB written and read back)."""
    d = len(kernel)
    lift = (1,) * (3 - d)
    N, C = xp.shape[:2]
    O = gy.shape[1]
    Cg, Og = C // groups, O // groups
    osp = lift + tuple(gy.shape[2:])
    P = math.prod(osp)
    jw = _engine.blocked_width(Og, xp.itemsize)
    nr = 6 if jw == _engine.two_vectors(xp.itemsize) else 8
    nob = -(-Og // jw)
    K = Cg * math.prod(kernel)
    ntb = -(-K // nr)
    n_threads = resolve_workers(workers, N * O * K * P)
    S = weight_grad_image_groups(N, groups * nob * ntb * nr * jw * gy.itemsize, gy.nbytes)
    tiles = np.empty((S, groups, nob, ntb, nr, jw), dtype=gy.dtype)
    # runs of tap blocks per channel panel: units enough for the threads (a
    # transposed chunk of the panel is reused along a run)
    panels = min(nob, weight_grad_panels(gy.itemsize, Cg, xp.shape[2:], osp[3 - d:], stride,
                                         kernel))
    nchunks = min(ntb, max(1, -(-2 * n_threads // (S * groups * -(-nob // panels)))))
    x5 = np.ascontiguousarray(xp).reshape((N, C) + lift + xp.shape[2:])
    _blocked.weight_grad(x5, np.ascontiguousarray(gy).reshape(N, O, P), tiles, osp,
                         lift + tuple(kernel), lift + tuple(stride), lift + tuple(dilation),
                         nchunks, n_threads, panels)
    total = tiles[0]
    for s in range(1, S):            # the image groups' partial sums, in order
        total += tiles[s]
    gw = total.transpose(0, 1, 4, 2, 3).reshape(groups, nob * jw, ntb * nr)[:, :Og, :K]
    return np.ascontiguousarray(gw).reshape((O, Cg) + tuple(kernel))


def batchlane_weight_grad_pays(N, itemsize, kernel, osp, stride):
    """Stride 1, a batch that fills the lanes, small maps (see
    convolve._engine.batch_pays)."""
    return (all(s == 1 for s in stride) and _engine.batch_fills_lanes(N, itemsize)
            and osp[-1] <= _engine.BATCH_MAX_WIDTH)


def weight_grad_padded(xp, gy, kernel, stride, dilation, groups, workers):
    """``gw (O, Cg, *kernel)`` from the padded input ``xp`` and ``gy``.

    Few channels per group (see :func:`direct_weight_grad_pays`) and no stride
    along D: the dot-product kernel of :func:`weight_grad_direct`.
    Otherwise:

    ``gw[g] = gy_g (Og, N*P) @ cols_g (N*P, Cg*K)``: the reduction over the
    ``N * P`` outputs is GEMM-shaped, so it runs in the BLAS
    (numpy.matmul), outside any OpenMP region of ours (no nested threading),
    over blocks of images whose lowered input (im2col rows) stays within
    ``IM2COL_BYTES``, accumulated in a fixed order; the BLAS splits the
    output among its threads, not the sum, so the result does not depend on
    the thread count."""
    N, C = xp.shape[:2]
    O = gy.shape[1]
    Cg, Og = C // groups, O // groups
    if gy.size and blocked_weight_grad_pays((O, Cg) + tuple(kernel), groups, xp.itemsize):
        return weight_grad_blocked(xp, gy, kernel, stride, dilation, groups, workers)
    if gy.size and batchlane_weight_grad_pays(N, xp.itemsize, kernel, gy.shape[2:], stride):
        return weight_grad_batchlane(xp, gy, kernel, dilation, groups, workers)
    if (direct_weight_grad_pays(O, Cg, groups, kernel) and (len(kernel) < 3 or stride[0] == 1)
            and gy.size):
        return weight_grad_direct(xp, gy, kernel, stride, dilation, groups, workers)
    osp = gy.shape[2:]
    P = math.prod(osp)
    KK = math.prod(kernel)
    nb = max(1, min(N, IM2COL_BYTES // max(1, P * C * KK * xp.itemsize)))
    acc = np.zeros((groups, Og, Cg * KK), dtype=xp.dtype)
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        m = n1 - n0
        # cols (G, Cg, KK, m, P): each tap's window written as whole rows
        cols = np.empty((groups, Cg, KK, m) + tuple(osp), dtype=xp.dtype)
        for t, (k, win) in enumerate(_windows(xp[n0:n1], kernel, stride, dilation, osp)):
            cols[:, :, t] = win.reshape((m, groups, Cg) + tuple(osp)).transpose(
                (1, 2, 0) + tuple(range(3, 3 + len(osp))))
        g2 = np.ascontiguousarray(gy[n0:n1].reshape(m, groups, Og, P).transpose(1, 2, 0, 3))
        # (G, Og, mP) @ (G, mP, Cg*KK): the second operand is a transposed view
        acc += np.matmul(g2.reshape(groups, Og, m * P),
                         cols.reshape(groups, Cg * KK, m * P).transpose(0, 2, 1))
    return acc.reshape((O, Cg) + tuple(kernel))


class Setup:
    """Validated, normalized arguments of a convolution's backward."""

    def __init__(self, d, name, x_shape, w_shape, stride, padding, dilation, groups,
                 padding_mode, dtype):
        from .functional import PADDING_MODES, output_size, padding_pairs
        self.d, self.name, self.dtype = d, name, dtype
        x_shape = tuple(int_tuple(x_shape, len(x_shape), "input_shape", minimum=0))
        w_shape = tuple(int_tuple(w_shape, len(w_shape), "weight_shape", minimum=0))
        if len(x_shape) not in (d + 1, d + 2):
            raise ValueError(f"{name}: input_shape must have {d + 2} entries (N, C, *spatial)"
                             f" or {d + 1}, got {len(x_shape)}")
        if len(w_shape) != d + 2:
            raise ValueError(f"{name}: weight must have {d + 2} dimensions, got {len(w_shape)}")
        self.unbatched = len(x_shape) == d + 1
        self.x_shape = (1,) + x_shape if self.unbatched else x_shape
        self.w_shape = w_shape
        self.groups = positive_int(groups, "groups")
        C, O = self.x_shape[1], w_shape[0]
        if C % self.groups or O % self.groups or w_shape[1] * self.groups != C:
            raise ValueError(f"{name}: channels do not match: input has {C}, weight "
                             f"{w_shape} with groups={self.groups} expects "
                             f"{w_shape[1] * self.groups} and groups dividing {O}")
        self.stride = int_tuple(stride, d, "stride", minimum=1)
        self.dilation = int_tuple(dilation, d, "dilation", minimum=1)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {sorted(PADDING_MODES)}, "
                             f"got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.kernel = w_shape[2:]
        self.sp = self.x_shape[2:]
        self.pairs = padding_pairs(padding, self.sp, self.kernel, self.stride, self.dilation)
        self.out_sp = output_size(self.sp, self.kernel, self.stride, self.dilation, self.pairs)
        if any(o < 1 for o in self.out_sp):
            raise ValueError(f"{name}: kernel larger than the padded input")
        self.Lp = tuple(n + lo + hi for n, (lo, hi) in zip(self.sp, self.pairs))
        check_size(self.x_shape, dtype.itemsize, name)

    def check_grad_out(self, gy):
        expected = (self.x_shape[0], self.w_shape[0]) + self.out_sp
        got = gy.shape if not self.unbatched else (1,) + gy.shape
        if tuple(got) != expected:
            raise ValueError(f"{self.name}: grad_out has shape {gy.shape}, the forward "
                             f"output has {expected[1:] if self.unbatched else expected}")
        return gy[None] if self.unbatched else gy

    def padded(self, x, slot=None):
        """`x` padded by the layer's padding (a scratch array of `slot` for zero
        padding when given: internal use only)."""
        from .functional import PADDING_MODES
        if not any(p for pr in self.pairs for p in pr):
            return x
        if slot is not None and self.padding_mode == "zeros":
            xp = _scratch.scratch(slot, x.shape[:2] + tuple(n + lo + hi for n, (lo, hi)
                                                            in zip(x.shape[2:], self.pairs)),
                                  x.dtype, zero=True)
            xp[(Ellipsis,) + tuple(slice(lo, lo + n) for n, (lo, _)
                                   in zip(x.shape[2:], self.pairs))] = x
            return xp
        mode = PADDING_MODES[self.padding_mode] or "constant"
        return np.pad(x, [(0, 0), (0, 0)] + list(self.pairs), mode=mode)


def _flip(w, d):
    return w[(Ellipsis,) + (slice(None, None, -1),) * d]


GRAD_METHODS = ("auto", "fft")


def _check_grad_method(method, name):
    if method not in GRAD_METHODS:
        raise ValueError(f"{name}: method must be one of {GRAD_METHODS}, got {method!r}")


def _fft_pays(op, st, a, b):
    """method='auto' of a gradient: the FFT path where convolve._dispatch
    predicts it faster, for finite operands `a`, `b` only (a transform would
    spread an inf or NaN over every output)."""
    return (_dispatch.nn_fft_pays(op, st.x_shape, st.w_shape, st.out_sp, st.stride,
                                  st.dilation, st.groups, st.dtype, st.Lp)
            and np.isfinite(a).all() and np.isfinite(b).all())


def input_grad_fft(gy, w, Lp, stride, dilation, groups, workers):
    """Gradient on the padded input by FFT: the output gradient zero-stuffed
    by the stride, fully correlated with the flipped, channel-transposed
    kernel (convolve._fft.conv_fft), placed at the start of ``(N, C, *Lp)``."""
    from . import _fft
    N, O = gy.shape[:2]
    kernel = w.shape[2:]
    d = len(kernel)
    up = np.zeros((N, O) + tuple((n - 1) * s + 1 for n, s in zip(gy.shape[2:], stride)),
                  dtype=gy.dtype)
    up[(Ellipsis,) + tuple(slice(None, None, s) for s in stride)] = gy
    ext = [dl * (k - 1) for dl, k in zip(dilation, kernel)]
    up = np.pad(up, [(0, 0), (0, 0)] + [(e, e) for e in ext])
    res = _fft.conv_fft(up, np.ascontiguousarray(_flip(transpose_channels(w, groups), d)),
                        None, 1, dilation, groups, workers)
    gxp = np.zeros((N, w.shape[1] * groups) + tuple(Lp), dtype=gy.dtype)
    gxp[(Ellipsis,) + tuple(slice(0, min(n, L)) for n, L in zip(res.shape[2:], Lp))] = \
        res[(Ellipsis,) + tuple(slice(0, min(n, L)) for n, L in zip(res.shape[2:], Lp))]
    return gxp


def gemm_fold_pays(w_shape, stride, groups, itemsize):
    """Whether the input gradient runs as the fused GEMM + fold (PyTorch's
    GEMM + col2im without the column matrix): one group, and either a stride
    (the stride-1 phases the alternative runs repeat the output gradient's
    reads per phase, with short reductions for the phases with few taps) or
    few input channels (the correlation's outputs, which cannot fill the
    blocked kernel's channel panels) against many output channels, as in
    the ResNet stem. Measured back to back against the phases, 2 threads:
    0.54-0.89 of their time on stride-2 3x3, 4x4 and 7x7 layers, f32 and
    f64."""
    O, Cg = w_shape[:2]
    if groups != 1:
        return False
    if any(s > 1 for s in stride):
        return True
    jw = _engine.two_vectors(itemsize)
    return O >= 32 and 4 * Cg < 3 * jw and Cg * math.prod(w_shape[2:]) >= 24


# Rows (c, k) of W^T per unit of the fused GEMM + fold: the unit's weight
# panels (rows x O) and its channels of the gradient stay in L2.
GEMM_FOLD_ROWS = 96


def gemm_fold_channels(C, KK, N, n_threads):
    """Channels per unit of the fused GEMM + fold: a multiple of 6/gcd(KK, 6)
    (so that a unit's rows start a panel of six) near GEMM_FOLD_ROWS rows,
    halved while there are fewer than four units per thread."""
    m0 = 6 // math.gcd(KK, 6)
    cb = m0 * max(1, round(GEMM_FOLD_ROWS / (m0 * KK)))
    while cb > m0 and N * -(-C // cb) < 4 * n_threads:
        cb = max(m0, cb // (2 * m0) * m0)
    return min(cb, C)


def input_grad_gemm_fold(gy, w, sp, stride, dilation, pad, workers):
    """``gx`` = fold(W^T gy) fused (PyTorch's GEMM + col2im without the columns
    in memory, ``pyx/_igemm.pyx: gemm_fold``): a unit (image, block of input
    channels) multiplies its rows of W^T by blocks of 16 columns of gy (8 in
    float64) read in place and adds them at their taps into its own channels.
    Every multiply-add is a useful one: no stride phases with zero taps, no
    short phase reductions, no column matrix (it was 14 MB for a stride-2
    3 x 3 layer of 64 channels on 56 x 56)."""
    d = len(sp)
    lift = (1,) * (3 - d)
    N, O = gy.shape[:2]
    C, kernel = w.shape[1], w.shape[2:]
    KK = math.prod(kernel)
    wt = np.ascontiguousarray(w.reshape(O, C * KK).T)
    wp = _engine.pack6(wt.reshape(C * KK, O), 1)
    gx = np.empty((N, C) + tuple(sp), dtype=gy.dtype)
    n_threads = resolve_workers(workers, gy.size * C * KK)
    cb = gemm_fold_channels(C, KK, N, n_threads)
    dims = lift + tuple(kernel), lift + tuple(dilation), lift + tuple(sp)
    _igemm.gemm_fold(gy.reshape(N, O, -1), wp, gx.reshape((N, C) + lift + tuple(sp)),
                     lift + tuple(kernel), lift + tuple(gy.shape[2:]), lift + tuple(stride),
                     lift + tuple(dilation), (0,) * (3 - d) + tuple(pad), cb, n_threads,
                     gemm_fold_bands(N * -(-C // cb), dims[0][1], dims[1][1], dims[2][1],
                                     n_threads))
    return gx


def gemm_fold_bands(units, KH, dh, H, n_threads):
    """Bands of input rows per (image, channel block) of the fused GEMM +
    fold: enough units for two per thread (one image of the stem's 3
    channels was one unit: 2 threads ran it no faster than 1), each band at
    least 8 rows and 4 kernel heights tall (the output rows reaching two
    bands are multiplied for both). The result does not depend on it."""
    if units >= 2 * n_threads:
        return 1
    return max(1, min(-(-2 * n_threads // units), H // max(8, 4 * (KH - 1) * dh)))


def input_grad(d, grad_out, weight, input_shape, stride, padding, dilation, groups,
               padding_mode, flip, workers, method="auto"):
    name = f"conv{d}d_input_grad"
    _check_grad_method(method, name)
    gy, w = np.asarray(grad_out), np.asarray(weight)
    dtype = nn_dtype(gy, w)
    st = Setup(d, name, input_shape, w.shape, stride, padding, dilation, groups,
               padding_mode, dtype)
    gy = np.ascontiguousarray(st.check_grad_out(gy), dtype=dtype)
    w = np.ascontiguousarray(_flip(w, d) if flip else w, dtype=dtype)
    pads = [dl * (k - 1) - lo for dl, k, (lo, _) in zip(st.dilation, st.kernel, st.pairs)]
    if method == "auto" and _fft_pays("input_grad", st, gy, w):
        method = "fft"
    if method == "fft":
        gxp = input_grad_fft(gy, w, st.Lp, st.stride, st.dilation, st.groups, workers)
        gx = np.ascontiguousarray(unpad_adjoint(gxp, st.pairs, st.sp, st.padding_mode))
        return gx[0] if st.unbatched else gx
    if (st.padding_mode == "zeros" and all(s == 1 for s in st.stride) and min(pads) >= 0
            and not gemm_fold_pays(w.shape, st.stride, st.groups, gy.itemsize)):
        # stride 1, zero padding: one correlation with the flipped,
        # channel-transposed kernel straight onto the unpadded input (no
        # padded gradient to allocate and crop)
        gx = corr(gy, _flip(transpose_channels(w, st.groups), d), st.sp, st.stride,
                  st.dilation, pads, st.groups, workers)
        return gx[0] if st.unbatched else gx
    if st.padding_mode == "zeros":
        gx = input_grad_padded(gy, w, st.Lp, st.stride, st.dilation, st.groups, workers,
                               crop=[(lo, n) for (lo, _), n in zip(st.pairs, st.sp)])
        return gx[0] if st.unbatched else gx
    gxp = input_grad_padded(gy, w, st.Lp, st.stride, st.dilation, st.groups, workers)
    gx = np.ascontiguousarray(unpad_adjoint(gxp, st.pairs, st.sp, st.padding_mode))
    return gx[0] if st.unbatched else gx


def weight_grad(d, x, grad_out, weight_shape, stride, padding, dilation, groups,
                padding_mode, flip, workers, method="auto"):
    name = f"conv{d}d_weight_grad"
    _check_grad_method(method, name)
    x, gy = np.asarray(x), np.asarray(grad_out)
    dtype = nn_dtype(x, gy)
    st = Setup(d, name, x.shape, tuple(weight_shape), stride, padding, dilation, groups,
               padding_mode, dtype)
    gy = np.ascontiguousarray(st.check_grad_out(gy), dtype=dtype)
    x = np.asarray(x, dtype=dtype)
    xb = x[None] if st.unbatched else x
    if method == "auto" and _fft_pays("weight_grad", st, xb, gy):
        method = "fft"
    if method == "fft":
        from . import _fft
        gw = _fft.conv_fft_weight_grad(np.ascontiguousarray(st.padded(xb)), gy, st.w_shape,
                                       st.stride, st.dilation, st.groups, workers)
    elif (st.padding_mode == "zeros" and gy.size and (d < 3 or st.stride[0] == 1)
            and direct_weight_grad_pays(st.w_shape[0], st.w_shape[1], st.groups, st.kernel)
            and not blocked_weight_grad_pays(st.w_shape, st.groups, dtype.itemsize)
            and not batchlane_weight_grad_pays(xb.shape[0], dtype.itemsize, st.kernel,
                                               gy.shape[2:], st.stride)):
        # zero padding stays implicit (no padded copy of the input)
        gw = weight_grad_direct(np.ascontiguousarray(xb), gy, st.kernel, st.stride,
                                st.dilation, st.groups, workers,
                                pad=[lo for lo, _ in st.pairs])
    else:
        # the padded copy is internal (scratch) when no kernel below keeps it
        gw = weight_grad_padded(st.padded(xb, slot="wgrad_xpad"), gy, st.kernel, st.stride,
                                st.dilation, st.groups, workers)
    return np.ascontiguousarray(_flip(gw, d)) if flip else gw


def backward(grad_out, x, weight, bias, stride, padding, dilation, groups, padding_mode,
             flip, needs, workers):
    x, w, gy = np.asarray(x), np.asarray(weight), np.asarray(grad_out)
    d = w.ndim - 2
    if d not in (1, 2, 3):
        raise ValueError(f"conv_backward: weight must have 3, 4 or 5 dimensions, got {w.ndim}")
    try:
        need_x, need_w, need_b = (bool(v) for v in needs)
    except (TypeError, ValueError):
        raise ValueError("needs must be three booleans (grad_x, grad_weight, grad_bias)") \
            from None
    gx = input_grad(d, gy, w, x.shape, stride, padding, dilation, groups, padding_mode, flip,
                    workers) if need_x else None
    gw = weight_grad(d, x, gy, w.shape, stride, padding, dilation, groups, padding_mode, flip,
                     workers) if need_w else None
    gb = None
    if bias and need_b:
        dtype = nn_dtype(x, w, gy)
        g = gy if gy.ndim == d + 2 else gy[None]
        gb = g.sum(axis=(0,) + tuple(range(2, g.ndim)), dtype=dtype)
    return gx, gw, gb


def conv_transpose(d, x, weight, bias, stride, padding, output_padding, groups, dilation,
                   workers):
    """PyTorch's conv_transpose: the input gradient of the matching forward."""
    name = f"conv_transpose{d}d"
    x, w = np.asarray(x), np.asarray(weight)
    bias = None if bias is None else np.asarray(bias)
    if x.ndim not in (d + 1, d + 2):
        raise ValueError(f"{name}: x must have {d + 2} dimensions (N, C, *spatial) or "
                         f"{d + 1}, got {x.ndim}")
    if w.ndim != d + 2:
        raise ValueError(f"{name}: weight must have {d + 2} dimensions "
                         f"(C_in, C_out/groups, *kernel), got {w.ndim}")
    dtype = nn_dtype(x, w, bias)
    unbatched = x.ndim == d + 1
    xb = x[None] if unbatched else x
    groups = positive_int(groups, "groups")
    Cin = xb.shape[1]
    if w.shape[0] != Cin or Cin % groups:
        raise ValueError(f"{name}: weight.shape[0] must equal the input channels ({Cin}) "
                         f"and be divisible by groups={groups}, got {w.shape[0]}")
    stride = int_tuple(stride, d, "stride", minimum=1)
    dilation = int_tuple(dilation, d, "dilation", minimum=1)
    padding = int_tuple(padding, d, "padding", minimum=0)
    output_padding = int_tuple(output_padding, d, "output_padding", minimum=0)
    for op, s, dl in zip(output_padding, stride, dilation):
        if op >= max(s, dl):
            raise ValueError(f"{name}: output_padding must be smaller than stride or "
                             f"dilation, got {output_padding}")
    Cout = w.shape[1] * groups
    L = tuple((n - 1) * s - 2 * p + dl * (k - 1) + op + 1 for n, s, p, dl, k, op in
              zip(xb.shape[2:], stride, padding, dilation, w.shape[2:], output_padding))
    if any(n < 1 for n in L):
        raise ValueError(f"{name}: the output size {L} is not positive")
    if bias is not None and bias.shape != (Cout,):
        raise ValueError(f"{name}: bias must have shape ({Cout},), got {bias.shape}")
    check_size((xb.shape[0], Cout) + L, dtype.itemsize, name)
    # the input gradient on the padded output, cropped (output_padding may add
    # positions no forward window reaches: they get only the bias)
    y = input_grad_padded(np.ascontiguousarray(xb, dtype=dtype),
                          np.ascontiguousarray(w, dtype=dtype),
                          tuple(n + 2 * p for n, p in zip(L, padding)), stride, dilation,
                          groups, workers, crop=list(zip(padding, L)))
    if bias is not None:
        y += bias.astype(dtype).reshape((1, Cout) + (1,) * d)
    return y[0] if unbatched else y
