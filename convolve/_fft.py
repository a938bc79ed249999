"""FFT and overlap-add engine.

Transforms come from :mod:`scipy.fft` (pocketfft, float32 kept float32);
the work around them is compiled (``pyx/_spectral.pyx``): the in-place
spectral product, the frequency-domain channel contraction of the NN family,
the overlap-save tiling (gather) and the cropping (scatter).

Conventions: ``a`` and ``b`` carry ``nb`` leading batch axes (broadcast)
followed by the spatial axes; the result is the window
``full[start : start + length]`` (per spatial axis) of the full linear
convolution ``full[i] = sum_t a[i - t] b[t]``.

Single block (``method='fft'``). A circular convolution of size ``M`` holds
``full[j]`` at index ``j`` free of wrap-around for every ``j`` of the window
when ``M >= max(n1 + K - 1 - start, start + length)`` (and ``M >= n1, K``),
so ``'valid'`` needs only ``M >= n1`` and ``'same'`` about ``n1 + K/2``.
Transforms are pruned: the forward transform runs axis by axis, zero padding
only the axis being transformed, and the inverse crops each axis to the
window as soon as it is back in the spatial domain.

Overlap-save tiles (``method='oa'``), along the first spatial axis: tile
``c`` reads ``a`` rows ``start - (K - 1) + c*L ... + M`` (zeros outside),
and its circular convolution with ``b`` at size ``M`` holds the outputs
``c*L ... c*L + L`` at rows ``K - 1 ... M``, ``L = M - K + 1``. Each output
comes from exactly one tile: no accumulation, so any thread schedule gives
the same bits. Chunks of tiles are transformed together (pocketfft
vectorizes a batch of 1-D transforms) by a pool of Python threads, each
calling pocketfft with one worker; the extra memory is a few chunks, not a
padded copy of the signal.
"""
import functools
import itertools
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft as sfft

from . import _spectral
from ._threads import resolve_workers, usable_cpus

__all__ = ["fft_window", "oa_plan", "conv_fft", "conv_fft_weight_grad"]

# Bytes of spectrum per chunk of overlap-save tiles: a chunk's transforms
# should stay within the per-core L2 (512 KiB on the development machine) and
# L3 share.
CHUNK_BYTES = 1 << 20
# Spectrum bytes of one tile above which larger tiles pay for cache misses
# (2 MiB, measured with a 1024^2 image and 31^2 taps: float32 runs 6-12%
# faster in four 288-row tiles, 1.2 MiB each, than in eight of 160 rows;
# float64 20% faster in 160-row tiles, 1.4 MiB, than in 120-row ones, and
# 1.6x slower in 375-row tiles, 3.2 MiB).
TILE_CACHE_BYTES = 2 << 20

_pool = None
_pool_lock = threading.Lock()


def _thread_pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(2, usable_cpus()), thread_name_prefix="convolve-fft")
        return _pool


def _real_view(a):
    """Interleaved real view of a complex array (a real array unchanged)."""
    return a.view(a.real.dtype) if a.dtype.kind == "c" else a


def fast_len(n, complex_=False):
    return sfft.next_fast_len(int(n), real=not complex_)


def window_sizes(sa, sb, start, length, complex_=False):
    """Transform size per axis that holds the window free of wrap-around."""
    return [fast_len(max(n1 + k - 1 - s, s + n, n1, k), complex_)
            for n1, k, s, n in zip(sa, sb, start, length)]


def _forward(a, M, axes, cplx, workers):
    """Pruned N-D forward transform of `a` to sizes `M` along `axes` (last = half spectrum)."""
    if cplx:
        A = sfft.fft(a, n=M[-1], axis=axes[-1], workers=workers)
    else:
        A = sfft.rfft(a, n=M[-1], axis=axes[-1], workers=workers)
    for ax, m in zip(axes[:-1], M[:-1]):
        A = sfft.fft(A, n=m, axis=ax, workers=workers, overwrite_x=True)
    return A


def _inverse(A, M, axes, cplx, lo, n, workers):
    """Pruned inverse of :func:`_forward`, cropping axis i to ``lo[i] : lo[i] + n[i]``."""
    for i, (ax, m) in enumerate(zip(axes[:-1], M[:-1])):
        A = sfft.ifft(A, axis=ax, workers=workers, overwrite_x=True)
        A = A[(slice(None),) * ax + (slice(lo[i], lo[i] + n[i]),)]
    if cplx:
        y = sfft.ifft(A, n=M[-1], axis=axes[-1], workers=workers, overwrite_x=True)
    else:
        y = sfft.irfft(A, n=M[-1], axis=axes[-1], workers=workers, overwrite_x=True)
    return y[(Ellipsis, slice(lo[-1], lo[-1] + n[-1]))]


def _mul_into(X, H, n_threads):
    """X * H with H broadcast over X's leading (batch) axes, in place in X (or H)."""
    shape = np.broadcast_shapes(X.shape, H.shape)
    if X.shape != shape:
        if H.shape != shape:
            return X * H
        X, H = H, X
    lead_x, lead_h = X.shape[:-1], (1,) * (X.ndim - H.ndim) + H.shape[:-1]
    if not X.flags.c_contiguous or not (all(h == 1 for h in lead_h) or lead_h == lead_x):
        return np.multiply(X, H, out=X)
    Hc = np.ascontiguousarray(H)
    spec = 2 * X.shape[-1]
    _spectral.cmul(_real_view(X).reshape(-1, spec),
                   _real_view(Hc).reshape(Hc.size // X.shape[-1], spec), n_threads)
    return X


def _as5(src, nsp_after_tile):
    """(C, B, L, U, V) view of a tile stack (C, batch..., L, rest...) with <= 2 rest axes
    and the batch axes merged."""
    C = src.shape[0]
    rest = src.shape[src.ndim - nsp_after_tile:]
    L = src.shape[src.ndim - nsp_after_tile - 1]
    batch = src.shape[1:src.ndim - nsp_after_tile - 1]
    rest = (1,) * (2 - len(rest)) + tuple(rest)
    return src.reshape((C, math.prod(batch), L) + rest)


def _scatter_tiles(src, out, nb, row0, n_threads):
    """Write tile stack `src` (C, batch..., L, rest...) into `out` (batch..., n, rest...)
    at rows ``row0 + c*L + j`` of out's first spatial axis (axis `nb`)."""
    nrest = out.ndim - nb - 1
    if nrest > 2 or (src.dtype.kind == "c" and src.strides[-1] != src.itemsize):
        C, L = src.shape[0], src.shape[nb + 1]
        n = out.shape[nb]
        for c in range(C):
            r0 = row0 + c * L
            r1 = min(r0 + L, n)
            if r1 > r0:
                out[(slice(None),) * nb + (slice(r0, r1),)] = src[c][
                    (slice(None),) * nb + (slice(0, r1 - r0),)]
        return
    try:
        s5 = _as5(src, nrest)
    except ValueError:   # batch axes not mergeable as a view
        s5 = _as5(np.ascontiguousarray(src), nrest)
    shape_o = out.shape
    o4 = out.reshape((math.prod(shape_o[:nb]), shape_o[nb]) + (1,) * (2 - nrest)
                     + shape_o[nb + 1:])
    if src.dtype.kind == "c":
        s5 = _real_view(s5)
        o4 = _real_view(o4)
    _spectral.scatter(s5, o4, row0, n_threads)


def crop(y, nb, n_threads):
    """C-contiguous copy of the cropped inverse `y` (batch..., spatial...)."""
    out = np.empty(y.shape, y.dtype)
    if y.size == 0:
        return out
    _scatter_tiles(y[None], out, nb, 0, n_threads)
    return out


def fft_window(a, b, nb, start, length, workers=None):
    """Window of the full convolution of `a` and `b` by one pruned FFT (see module doc)."""
    axes = list(range(nb, a.ndim))
    sa, sb = a.shape[nb:], b.shape[nb:]
    cplx = a.dtype.kind == "c" or b.dtype.kind == "c"
    M = window_sizes(sa, sb, start, length, cplx)
    n_threads = resolve_workers(workers, math.prod(M) * 8)
    X = _forward(a, M, axes, cplx, n_threads)
    H = _forward(b, M, axes, cplx, n_threads)
    X = _mul_into(X, H, n_threads)
    del H
    y = _inverse(X, M, axes, cplx, start, length, n_threads)
    return crop(y, nb, n_threads)


def oa_plan(sa, sb, start, length, cplx, M0=None, itemsize=16, threads=1):
    """(M0, L, tiles, M_rest) of overlap-save along the first spatial axis;
    memoized (the search costs about a millisecond, every call of method='auto'
    asks for it)."""
    M0, L, T, M_rest = _oa_plan(tuple(sa), tuple(sb), tuple(start), tuple(length), cplx, M0,
                                itemsize, threads)
    return M0, L, T, list(M_rest)


@functools.lru_cache(maxsize=512)
def _oa_plan(sa, sb, start, length, cplx, M0, itemsize, threads):
    """The search behind :func:`oa_plan`.

    The tile size minimises the transform work ``tiles * S * (log2 S + 4)``
    over fast lengths from ``2*K`` to the single-block size, times a penalty
    ``1 + 0.5 log2(bytes / TILE_CACHE_BYTES)`` for a tile spectrum
    (`itemsize` bytes per complex value) larger than the cache (measured:
    1024^2 float64 images with 31^2 taps run 1.6x faster with 160-row tiles
    than with 375-row ones), times the load imbalance of the chunks over `threads`
    (``ceil(chunks / threads) * threads / chunks``)."""
    K0, n0 = sb[0], length[0]
    M_rest = window_sizes(sa[1:], sb[1:], start[1:], length[1:], cplx)
    rest = math.prod(M_rest)
    half = (M_rest[-1] if cplx else M_rest[-1] // 2 + 1) * math.prod(M_rest[:-1]) \
        if M_rest else 0
    if M0 is None:
        full0 = window_sizes(sa[:1], sb[:1], start[:1], length[:1], cplx)[0]
        best = None
        m = fast_len(max(2 * K0, 16), cplx)
        while True:
            L = m - K0 + 1
            tiles = -(-n0 // L)
            size = m * rest
            spec_bytes = itemsize * (m * half if M_rest else (m if cplx else m // 2 + 1))
            penalty = 1 + 0.5 * max(0.0, math.log2(spec_bytes / TILE_CACHE_BYTES))
            C = max(1, CHUNK_BYTES // spec_bytes)
            chunks = -(-tiles // C)
            balance = -(-chunks // threads) * threads / chunks
            cost = tiles * size * (math.log2(size) + 4) * penalty * balance
            if best is None or cost < best[0]:
                best = (cost, m)
            # tiles far longer than the kernel never pay: stop the search there
            if m >= full0 or m > max(64 * K0, 1 << 16):
                break
            m = fast_len(m + 1, cplx)
        M0 = best[1]
    L = M0 - K0 + 1
    return M0, L, -(-n0 // L), tuple(M_rest)


def oa_window(a, b, nb, start, length, workers=None, M0=None):
    """Window of the full convolution by overlap-save tiles along the first spatial axis.

    `b` must not vary along the batch axes (one kernel for every signal)."""
    sa, sb = a.shape[nb:], b.shape[nb:]
    k = len(sa)
    cplx = a.dtype.kind == "c" or b.dtype.kind == "c"
    dt = np.result_type(a.dtype, b.dtype)
    # balanced for the machine's CPUs, not for `workers`: the tile size (so
    # the rounding) must not depend on the thread count
    M0, L, T, M_rest = oa_plan(sa, sb, start, length, cplx, M0,
                               dt.itemsize * (1 if cplx else 2), usable_cpus())
    M = [M0] + M_rest
    if M0 >= window_sizes(sa[:1], sb[:1], start[:1], length[:1], cplx)[0] and T == 1:
        return fft_window(a, b, nb, start, length, workers)
    B = a.shape[:nb]
    P = math.prod(B)
    rest_in = sa[1:]
    Q = math.prod(rest_in)
    a3 = np.ascontiguousarray(a, dtype=dt).reshape(P, sa[0], Q)
    b0 = np.ascontiguousarray(b.reshape(sb), dtype=dt)
    t_axes = list(range(2, 2 + k))          # spatial axes of a chunk (C, P, M0, rest...)
    tile_elems = P * math.prod(M[:-1]) * (M[-1] if cplx else M[-1] // 2 + 1)
    C = max(1, min(T, CHUNK_BYTES // max(1, tile_elems * 2 * dt.itemsize)))
    n_chunks = -(-T // C)
    n_threads = min(resolve_workers(workers, T * M0 * Q * P * 8), n_chunks)
    H = _forward(b0, M, list(range(k)), cplx, n_threads)
    H2 = _real_view(np.ascontiguousarray(H)).reshape(1, -1)
    out = np.empty(B + tuple(length), dt)
    o_lo = [K0 - 1 for K0 in sb[:1]] + list(start[1:])
    o_n = [L] + list(length[1:])
    rv = (lambda z: z.view(z.real.dtype)) if dt.kind == "c" else (lambda z: z)
    q2 = 2 if dt.kind == "c" else 1
    a3r = rv(a3)
    counter = itertools.count()
    first = start[0] - (sb[0] - 1)
    # tiles of 2-D and 3-D problems are gathered straight into buffers of the
    # transform size along the other axes (zero borders): pocketfft would
    # otherwise zero-pad a copy of each tile per axis (_fix_shape)
    padded = k > 1 and tuple(M_rest) != tuple(rest_in)
    a_nd = a3.reshape((P, sa[0]) + tuple(rest_in))

    def gather_padded(Cc, c0):
        dst = np.empty((Cc, P, M0) + tuple(M_rest), dt)
        inner = tuple(slice(0, r) for r in rest_in)
        for c in range(Cc):
            i0 = first + (c0 + c) * L
            m0, m1 = max(0, -i0), max(0, min(M0, sa[0] - i0))
            m1 = max(m0, m1)
            d = dst[c]
            d[:, :m0] = 0
            d[:, m1:] = 0
            d[(slice(None), slice(m0, m1)) + inner] = a_nd[:, i0 + m0:i0 + m1]
            for i, (r, m) in enumerate(zip(rest_in, M_rest)):
                if m > r:
                    d[(slice(None), slice(m0, m1)) + (slice(None),) * i + (slice(r, None),)] = 0
        return dst

    finished = [0]
    lock = threading.Lock()
    all_done = threading.Event()
    errors = []
    if n_chunks == 0:
        return out

    # one loop, not a function per chunk: the previous chunk's spectrum and
    # inverse stay alive until the next ones replace them, so malloc reuses
    # their memory; freed first, it went back to the system and was faulted
    # in again for every chunk (1e7 samples x 1001 taps: 11k more page
    # faults per call, 20-30% slower)
    def work():
        try:
            while True:
                ci = next(counter)
                if ci >= n_chunks:
                    return
                c0 = ci * C
                Cc = min(C, T - c0)
                if padded:
                    dst = gather_padded(Cc, c0)
                    rest = tuple(M_rest)
                else:
                    dst = np.empty((Cc, P, M0, Q), dt)
                    _spectral.gather(a3r, rv(dst).reshape(Cc, P, M0, Q * q2), first + c0 * L,
                                     L, 1)
                    rest = tuple(rest_in)
                u = dst.reshape((Cc,) + B + (M0,) + rest) if nb else \
                    dst.reshape((Cc, M0) + rest)
                ax = [1 + nb + i for i in range(k)]
                X = _forward(u, M, ax, cplx, 1)
                del u, dst
                _spectral.cmul(_real_view(X).reshape(-1, H2.shape[1]), H2, 1)
                y = _inverse(X, M, ax, cplx, o_lo, o_n, 1)
                _scatter_tiles(y, out, nb, c0 * L, 1)
                with lock:
                    finished[0] += 1
                    if finished[0] == n_chunks:
                        all_done.set()
        except BaseException as e:     # re-raised by the calling thread
            errors.append(e)
            all_done.set()

    if n_threads > 1:
        # the calling thread works too, with n - 1 helpers from the pool; it
        # waits for the chunks to be finished, not for the helpers to start
        # (on a busy machine a helper may get a core only after the calling
        # thread has done all the work: it then finds nothing left)
        pool = _thread_pool()
        for _ in range(n_threads - 1):
            pool.submit(work)
    work()
    all_done.wait()
    if errors:
        raise errors[0]
    return out


# ------------------------------------------------------------------ NN family
def _nn_tuple(v, d, name):
    t = (v,) * d if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != d or any(int(i) < 1 for i in t):
        raise ValueError(f"{name} must be a positive int or {d} of them, got {v!r}")
    return tuple(int(i) for i in t)


def _spectra_layout(S, groups):
    """(A, B, *F) spectrum -> (groups, F, B/groups, A) C-contiguous (one matrix per frequency)."""
    A, Bc = S.shape[:2]
    F = math.prod(S.shape[2:])
    S = S.reshape(A, groups, Bc // groups, F)
    return np.ascontiguousarray(S.transpose(1, 3, 2, 0))


def conv_fft(x, w, bias=None, stride=1, dilation=1, groups=1, workers=None):
    """PyTorch-style cross-correlation of an already padded input, by FFT.

    ``out[n, o, p] = bias[o] + sum_{c, k} x[n, g*Cg + c, p*stride + k*dilation] * w[o, c, k]``

    Parameters
    ----------
    x : ndarray, (N, Cin, *spatial)
        Input, padding already applied (float32 or float64).
    w : ndarray, (Cout, Cin/groups, *k)
        Weight.
    bias : ndarray, (Cout,), optional
    stride, dilation : int or tuple
    groups : int
    workers : int, optional
        Threads (transforms and the frequency-domain contraction).

    Returns
    -------
    ndarray, (N, Cout, *out)
        ``out = (spatial - dilation*(k - 1) - 1) // stride + 1`` per axis; dtype of `x`.

    Notes
    -----
    ``Y[f] = conj(W[f]) @ X[f]`` per frequency (channel contraction of the
    spectra, compiled), at transform sizes ``next_fast_len(spatial)``: the
    circular correlation has no wrap-around on the valid outputs. Stride
    subsamples the stride-1 result.
    """
    d = x.ndim - 2
    stride, dilation = _nn_tuple(stride, d, "stride"), _nn_tuple(dilation, d, "dilation")
    dt = np.result_type(x.dtype, w.dtype, np.float32)
    x, w = np.asarray(x, dt), np.asarray(w, dt)
    N, Cin = x.shape[:2]
    Cout, Cg = w.shape[:2]
    sp, ks = x.shape[2:], w.shape[2:]
    kd = [(k - 1) * dl + 1 for k, dl in zip(ks, dilation)]
    if Cin != Cg * groups or Cout % groups:
        raise ValueError(f"channels: x has {Cin}, weight {Cout}x{Cg} with groups={groups}")
    if any(k > s for k, s in zip(kd, sp)):
        raise ValueError(f"dilated kernel {tuple(kd)} larger than the input {tuple(sp)}")
    out_sp = [(s - k) // st + 1 for s, k, st in zip(sp, kd, stride)]
    M = [fast_len(s) for s in sp]
    axes = list(range(2, 2 + d))
    n = resolve_workers(workers, N * Cout * math.prod(M) * 8)
    wd = np.zeros((Cout, Cg) + tuple(kd), dt)
    wd[(slice(None), slice(None)) + tuple(slice(None, None, dl) for dl in dilation)] = w
    X = sfft.rfftn(x, s=M, axes=axes, workers=n)
    W = np.conj(sfft.rfftn(wd, s=M, axes=axes, workers=n))
    spec = X.shape[2:]
    Xg = _spectra_layout(X, groups)                     # (G, F, Cg, N)
    Og = Cout // groups
    Wg = W.reshape(groups, Og, Cg, -1).transpose(0, 3, 1, 2)   # (G, F, Og, Cg)
    Y = np.empty((groups, Xg.shape[1], Og, N), X.dtype)
    for g in range(groups):
        _spectral.cmatmul(_real_view(np.ascontiguousarray(Wg[g])), _real_view(Xg[g]),
                          _real_view(Y[g]), 0, n)
    # (G, F, Og, N) -> (N, G*Og, *F)
    Y = np.ascontiguousarray(Y.transpose(3, 0, 2, 1)).reshape((N, Cout) + spec)
    y = sfft.irfftn(Y, s=M, axes=axes, workers=n, overwrite_x=True)
    win = (slice(None), slice(None)) + tuple(slice(0, (o - 1) * st + 1, st)
                                             for o, st in zip(out_sp, stride))
    out = np.ascontiguousarray(y[win])
    if bias is not None:
        out += np.asarray(bias, dt).reshape((1, Cout) + (1,) * d)
    return out


def conv_fft_weight_grad(x, grad_out, weight_shape, stride=1, dilation=1, groups=1,
                         workers=None):
    """Gradient of :func:`conv_fft` with respect to the weight, by FFT.

    ``gw[o, c, k] = sum_{n, p} grad_out[n, o, p] * x[n, g*Cg + c, p*stride + k*dilation]``

    Parameters
    ----------
    x : ndarray, (N, Cin, *spatial)
        The (already padded) forward input.
    grad_out : ndarray, (N, Cout, *out)
    weight_shape : tuple
        ``(Cout, Cin/groups, *k)``.
    stride, dilation, groups, workers
        As for :func:`conv_fft`.

    Returns
    -------
    ndarray, weight_shape

    Notes
    -----
    ``grad_out`` is upsampled by the stride (zeros between samples), then
    ``G[f] = conj(GO[f]) @ X[f]^T`` per frequency (sum over the batch), and
    the dilated taps are read from the circular correlation.
    """
    d = x.ndim - 2
    stride, dilation = _nn_tuple(stride, d, "stride"), _nn_tuple(dilation, d, "dilation")
    dt = np.result_type(x.dtype, grad_out.dtype, np.float32)
    x, gy = np.asarray(x, dt), np.asarray(grad_out, dt)
    N, Cin = x.shape[:2]
    Cout, Cg = weight_shape[:2]
    ks = tuple(weight_shape[2:])
    sp, osp = x.shape[2:], gy.shape[2:]
    M = [fast_len(s) for s in sp]
    axes = list(range(2, 2 + d))
    n = resolve_workers(workers, Cout * Cg * N * math.prod(M) * 8)
    gu = np.zeros((N, Cout) + tuple((o - 1) * st + 1 for o, st in zip(osp, stride)), dt)
    gu[(slice(None), slice(None)) + tuple(slice(None, None, st) for st in stride)] = gy
    X = sfft.rfftn(x, s=M, axes=axes, workers=n)
    GO = np.conj(sfft.rfftn(gu, s=M, axes=axes, workers=n))
    spec = X.shape[2:]
    F = math.prod(spec)
    Og = Cout // groups
    # contraction over the batch: (F, Og, N) @ (F, N, Cg)
    GOg = np.ascontiguousarray(GO.reshape(N, groups, Og, F).transpose(1, 3, 2, 0))
    Xg = np.ascontiguousarray(X.reshape(N, groups, Cg, F).transpose(1, 3, 0, 2))
    G = np.empty((groups, F, Og, Cg), X.dtype)
    for g in range(groups):
        _spectral.cmatmul(_real_view(GOg[g]), _real_view(Xg[g]), _real_view(G[g]), 0, n)
    G = np.ascontiguousarray(G.transpose(0, 2, 3, 1)).reshape((Cout, Cg) + spec)
    y = sfft.irfftn(G, s=M, axes=axes, workers=n, overwrite_x=True)
    win = (slice(None), slice(None)) + tuple(slice(0, (k - 1) * dl + 1, dl)
                                             for k, dl in zip(ks, dilation))
    return np.ascontiguousarray(y[win])
