# Memory-bound NN-family kernels: activations, local response normalization,
# Lp pooling, adaptive pooling and max-unpooling, forward and backward.
#
# Python (convolve/pooling.py, normalization.py, activations.py) validates
# and shapes every problem; these kernels receive C-contiguous blocks of one
# real type and only compute.
#
# Determinism: every output element is produced by exactly one thread, and
# every reduction (a window sum, a scatter-add into one plane) runs inside
# one work unit in a fixed order, so results are bitwise identical for any
# thread count. Units are therefore handed out dynamically (which thread
# computes a unit does not change its result): a thread slowed down by
# another process on its core does not hold up the rest.

from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from libc.math cimport INFINITY, exp, expf, fabs, log, log1p, pow, powf, sqrt, sqrtf, tanh

from _types cimport real

# elementwise chunk: one prange unit; large enough to amortize scheduling,
# small enough to split a modest array between threads
cdef enum:
    CHUNK = 16384
# spatial block of the LRN kernels (per-thread scratch is 2 * C * LRN_BLOCK)
cdef enum:
    LRN_BLOCK = 256
# elements per block of the SGD update (a few KB per array: L1)
cdef enum:
    SGD_BLOCK = 1024


# ---------------------------------------------------------------- activations
# op codes (mirrored in convolve/activations.py)
cdef enum:
    RELU = 0
    SIGMOID = 1
    SOFTPLUS = 2
    ABS = 3
    SMOOTH_ABS = 4


cdef inline double _sigmoid(double x) noexcept nogil:
    # exp of a non-positive argument only: never overflows
    cdef double e
    if x >= 0:
        return 1.0 / (1.0 + exp(-x))
    e = exp(x)
    return e / (1.0 + e)


cdef inline real _act_fwd(real x, int op, double k) noexcept nogil:
    cdef double kx
    if op == RELU:
        # `x <= 0` is false for NaN: NaN passes through, as in PyTorch
        return 0 if x <= 0 else x
    if op == SIGMOID:
        return <real> _sigmoid(x)
    if op == SOFTPLUS:
        kx = k * x
        return <real> ((log1p(exp(-fabs(kx))) + (kx if kx > 0 else 0.0)) / k)
    if op == ABS:
        return fabs(x)
    # SMOOTH_ABS: log(exp(kx) + exp(-kx)) / k = |x| + log1p(exp(-2k|x|)) / k
    return <real> (fabs(x) + log1p(exp(-2.0 * k * fabs(x))) / k)


cdef inline real _act_bwd(real g, real x, int op, double k) noexcept nogil:
    cdef double s
    if op == RELU:
        return 0 if x <= 0 else g
    if op == SIGMOID:
        s = _sigmoid(x)
        return <real> (g * (s * (1.0 - s)))
    if op == SOFTPLUS:
        return <real> (g * _sigmoid(k * x))
    if op == ABS:
        # sign(x), 0 at 0; NaN stays NaN
        if x > 0:
            return g
        if x < 0:
            return -g
        return g * x
    return <real> (g * tanh(k * x))


def activation_forward(const real[::1] x, real[::1] out, int op, double k, int n_threads):
    """out[i] = f(x[i]) for the activation `op` (codes above), parameter `k`."""
    cdef Py_ssize_t n = x.shape[0], i, u, lo, hi
    cdef Py_ssize_t n_units = (n + CHUNK - 1) // CHUNK
    if n == 0:
        return
    if n_threads > n_units:
        n_threads = <int> n_units
    with nogil, parallel(num_threads=n_threads):
        for u in prange(n_units, schedule='dynamic'):
            lo = u * CHUNK
            hi = lo + CHUNK
            if hi > n:
                hi = n
            if op == RELU:
                for i in range(lo, hi):
                    out[i] = 0 if x[i] <= 0 else x[i]
            elif op == ABS:
                for i in range(lo, hi):
                    out[i] = fabs(x[i])
            else:
                for i in range(lo, hi):
                    out[i] = _act_fwd(x[i], op, k)


def activation_backward(const real[::1] g, const real[::1] x, real[::1] out, int op,
                        double k, int n_threads):
    """out[i] = g[i] * f'(x[i])."""
    cdef Py_ssize_t n = x.shape[0], i, u, lo, hi
    cdef Py_ssize_t n_units = (n + CHUNK - 1) // CHUNK
    if n == 0:
        return
    if n_threads > n_units:
        n_threads = <int> n_units
    with nogil, parallel(num_threads=n_threads):
        for u in prange(n_units, schedule='dynamic'):
            lo = u * CHUNK
            hi = lo + CHUNK
            if hi > n:
                hi = n
            if op == RELU:
                for i in range(lo, hi):
                    out[i] = 0 if x[i] <= 0 else g[i]
            else:
                for i in range(lo, hi):
                    out[i] = _act_bwd(g[i], x[i], op, k)


# ------------------------------------------------- local response normalization
# x viewed as (N, C, S), S = product of the spatial axes. For channel c the
# window is [c - lo, c + hi] clipped to [0, C), lo = size // 2,
# hi = (size - 1) // 2 (PyTorch's zero padding of the squares);
#   t_c = k + alpha / size * sum_{window} x^2,   y_c = x_c * t_c^-beta.
# Work units: (n, block of LRN_BLOCK spatial positions); within a unit the
# loops run over channels, and over the block innermost (contiguous, SIMD).

cdef inline real _pow_neg(real t, real beta, int mode) noexcept nogil:
    """t**-beta, with the common betas in sqrt form (vectorizable, no pow)."""
    cdef real r, q
    if mode == 1 or mode == 2:
        if real is float:
            r = (<float> 1) / sqrtf(t)
            q = sqrtf(r)
        else:
            r = 1 / sqrt(t)
            q = sqrt(r)
        # beta = 0.5: t^-1/2; beta = 0.75: t^-1/2 * t^-1/4
        return r if mode == 2 else r * q
    if mode == 3:      # beta = 1
        return 1 / t
    if real is float:
        r = powf(t, -beta)
    else:
        r = pow(t, -beta)
    return r


cdef inline int _beta_mode(double beta) noexcept nogil:
    if beta == 0.75:
        return 1
    if beta == 0.5:
        return 2
    if beta == 1.0:
        return 3
    return 0


def lrn_forward(const real[:, :, ::1] x, real[:, :, ::1] out, Py_ssize_t size,
                double alpha, double beta, double k, int n_threads):
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2]
    cdef Py_ssize_t nb = (S + LRN_BLOCK - 1) // LRN_BLOCK
    cdef Py_ssize_t n_units = N * nb
    cdef Py_ssize_t lo = size // 2, hi = (size - 1) // 2
    cdef Py_ssize_t u, n, b0, b1, c, j, j0, j1, i
    cdef int mode = _beta_mode(beta)
    cdef real a = <real> (alpha / size), kk = <real> k, bb = <real> beta
    cdef real* acc = NULL
    cdef const real* xr
    cdef const real* xn
    cdef real* on
    cdef real* orow
    if N * C * S == 0:
        return
    cdef int failed = 0
    cdef int* pfail = &failed
    if n_threads > n_units:
        n_threads = <int> n_units
    with nogil, parallel(num_threads=n_threads):
        acc = <real*> malloc(LRN_BLOCK * sizeof(real))
        if acc == NULL:
            pfail[0] = 1
        for u in prange(n_units, schedule='dynamic'):
            if acc == NULL:
                continue
            n = u // nb
            b0 = (u % nb) * LRN_BLOCK
            b1 = b0 + LRN_BLOCK
            if b1 > S:
                b1 = S
            xn = &x[n, 0, 0]
            on = &out[n, 0, 0]
            for c in range(C):
                j0 = c - lo
                if j0 < 0:
                    j0 = 0
                j1 = c + hi + 1
                if j1 > C:
                    j1 = C
                # the window sum, recomputed per channel in a fixed order
                # (exact; a running add/subtract sum would drift)
                for i in range(b1 - b0):
                    acc[i] = 0
                for j in range(j0, j1):
                    xr = xn + j * S + b0
                    for i in range(b1 - b0):
                        acc[i] = acc[i] + xr[i] * xr[i]
                xr = xn + c * S + b0
                orow = on + c * S + b0
                # one loop per beta: no branch in the loop, so it vectorizes
                if mode == 1:
                    for i in range(b1 - b0):
                        orow[i] = xr[i] * _pow_neg(kk + a * acc[i], bb, 1)
                elif mode == 2:
                    for i in range(b1 - b0):
                        orow[i] = xr[i] * _pow_neg(kk + a * acc[i], bb, 2)
                elif mode == 3:
                    for i in range(b1 - b0):
                        orow[i] = xr[i] / (kk + a * acc[i])
                else:
                    for i in range(b1 - b0):
                        orow[i] = xr[i] * _pow_neg(kk + a * acc[i], bb, 0)
        free(acc)
    if failed:
        raise MemoryError("convolve: no memory for a thread's scratch buffer")


def lrn_backward(const real[:, :, ::1] g, const real[:, :, ::1] x, real[:, :, ::1] gx,
                 Py_ssize_t size, double alpha, double beta, double k, int n_threads):
    """gx_j = g_j t_j^-beta - 2 alpha beta / size * x_j * sum_{c: j in win(c)}
    g_c x_c t_c^(-beta-1); j in win(c) iff c in [j - hi, j + lo]."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2]
    cdef Py_ssize_t nb = (S + LRN_BLOCK - 1) // LRN_BLOCK
    cdef Py_ssize_t n_units = N * nb
    cdef Py_ssize_t lo = size // 2, hi = (size - 1) // 2
    cdef Py_ssize_t u, n, b0, b1, B, c, j, j0, j1, i
    cdef int mode = _beta_mode(beta)
    cdef real a = <real> (alpha / size), kk = <real> k, bb = <real> beta
    cdef real coef = <real> (2.0 * alpha * beta / size)
    cdef real t, sc
    cdef real* scale = NULL
    cdef real* w = NULL
    cdef real* acc = NULL
    cdef const real* xr
    cdef const real* gr
    cdef const real* xn
    cdef const real* gn
    cdef real* on
    if N * C * S == 0:
        return
    cdef int failed = 0
    cdef int* pfail = &failed
    if n_threads > n_units:
        n_threads = <int> n_units
    with nogil, parallel(num_threads=n_threads):
        scale = <real*> malloc((2 * C + 1) * LRN_BLOCK * sizeof(real))
        if scale == NULL:
            pfail[0] = 1
        w = scale + C * LRN_BLOCK
        acc = w + C * LRN_BLOCK
        for u in prange(n_units, schedule='dynamic'):
            if scale == NULL:
                continue
            n = u // nb
            b0 = (u % nb) * LRN_BLOCK
            b1 = b0 + LRN_BLOCK
            if b1 > S:
                b1 = S
            B = b1 - b0
            xn = &x[n, 0, 0]
            gn = &g[n, 0, 0]
            on = &gx[n, 0, 0]
            # pass 1: scale_c = t_c^-beta and w_c = g_c x_c t_c^(-beta-1)
            for c in range(C):
                j0 = c - lo
                if j0 < 0:
                    j0 = 0
                j1 = c + hi + 1
                if j1 > C:
                    j1 = C
                for i in range(B):
                    acc[i] = 0
                for j in range(j0, j1):
                    xr = xn + j * S + b0
                    for i in range(B):
                        acc[i] = acc[i] + xr[i] * xr[i]
                xr = xn + c * S + b0
                gr = gn + c * S + b0
                for i in range(B):
                    t = kk + a * acc[i]
                    sc = _pow_neg(t, bb, mode)
                    scale[c * LRN_BLOCK + i] = sc
                    w[c * LRN_BLOCK + i] = gr[i] * xr[i] * (sc / t)
            # pass 2: the mirrored window sum of w
            for j in range(C):
                j0 = j - hi
                if j0 < 0:
                    j0 = 0
                j1 = j + lo + 1
                if j1 > C:
                    j1 = C
                for i in range(B):
                    acc[i] = 0
                for c in range(j0, j1):
                    for i in range(B):
                        acc[i] = acc[i] + w[c * LRN_BLOCK + i]
                xr = xn + j * S + b0
                gr = gn + j * S + b0
                for i in range(B):
                    on[j * S + b0 + i] = (gr[i] * scale[j * LRN_BLOCK + i]
                                          - coef * xr[i] * acc[i])
        free(scale)
    if failed:
        raise MemoryError("convolve: no memory for a thread's scratch buffer")


# ------------------------------------------------------------------ Lp pooling
# 5-D blocks (N, C, D, H, W), no padding; window of output o along an axis:
# [o*s, min(o*s + K, L)) (a ceil_mode window is clipped at the end).
# pmode: 0 generic p, 1 p = 1, 2 p = 2, 3 p = inf.

cdef inline real _lp_term(real v, real p, int pmode) noexcept nogil:
    if pmode == 1:
        return fabs(v)
    if pmode == 2:
        return v * v
    return pow(fabs(v), p)


cdef inline real _lp_root(real s, real p, int pmode) noexcept nogil:
    if pmode == 1:
        return s
    if pmode == 2:
        return sqrt(s)
    return pow(s, 1 / p)


cdef real _lp_window(const real* plane, Py_ssize_t H, Py_ssize_t W,
                     Py_ssize_t d0, Py_ssize_t d1, Py_ssize_t h0, Py_ssize_t h1,
                     Py_ssize_t w0, Py_ssize_t w1, real p, int pmode) noexcept nogil:
    """The Lp norm of one window (p = inf: max |x|, NaN propagating)."""
    cdef Py_ssize_t a, b, c
    cdef real s = 0, v
    cdef const real* row
    for a in range(d0, d1):
        for b in range(h0, h1):
            row = plane + (a * H + b) * W
            if pmode == 3:
                for c in range(w0, w1):
                    v = fabs(row[c])
                    if v > s or v != v:
                        s = v
            else:
                for c in range(w0, w1):
                    s = s + _lp_term(row[c], p, pmode)
    if pmode == 3:
        return s
    return _lp_root(s, p, pmode)


cdef inline Py_ssize_t _clip_end(Py_ssize_t e, Py_ssize_t L) noexcept nogil:
    return L if e > L else e


def lp_pool_forward(const real[:, :, :, :, ::1] x, real[:, :, :, :, ::1] out,
                    tuple k, tuple s, double p, int pmode, int n_threads):
    cdef Py_ssize_t KD = k[0], KH = k[1], KW = k[2]
    cdef Py_ssize_t sd = s[0], sh = s[1], sw = s[2]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t OD = out.shape[2], OH = out.shape[3], OW = out.shape[4]
    cdef Py_ssize_t n_units = N * C * OD * OH
    cdef Py_ssize_t u, m, od, oh, ow, nc
    cdef real pp = <real> p
    cdef const real* xp
    cdef real* op
    if out.size == 0:
        return
    xp = &x[0, 0, 0, 0, 0]
    op = &out[0, 0, 0, 0, 0]
    if n_threads > n_units:
        n_threads = <int> n_units
    with nogil, parallel(num_threads=n_threads):
        for u in prange(n_units, schedule='dynamic'):
            oh = u % OH
            m = u // OH
            od = m % OD
            nc = m // OD
            for ow in range(OW):
                op[u * OW + ow] = _lp_window(
                    xp + nc * D * H * W, H, W,
                    od * sd, _clip_end(od * sd + KD, D), oh * sh, _clip_end(oh * sh + KH, H),
                    ow * sw, _clip_end(ow * sw + KW, W), pp, pmode)


def lp_pool_backward(const real[:, :, :, :, ::1] g, const real[:, :, :, :, ::1] x,
                     real[:, :, :, :, ::1] gx, tuple k, tuple s, double p, int pmode,
                     int n_threads):
    """Add the gradient of lp_pool_forward into `gx` (zeroed). d y / d x_i =
    sign(x_i) (|x_i| / y)^(p-1); 0 where y = 0 (and where x_i = 0 for p < 1);
    p = inf: sign(x_i) at the first maximal |x_i| of the window."""
    cdef Py_ssize_t KD = k[0], KH = k[1], KW = k[2]
    cdef Py_ssize_t sd = s[0], sh = s[1], sw = s[2]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t OD = g.shape[2], OH = g.shape[3], OW = g.shape[4]
    cdef Py_ssize_t NC = N * C, P = D * H * W
    cdef Py_ssize_t nc, od, oh, ow, d0, d1, h0, h1, w0, w1, a, b, c, best, j
    cdef real pp = <real> p, y, go, v, r, vmax
    cdef const real* xp
    cdef const real* gp
    cdef real* gip
    cdef const real* plane
    cdef real* gplane
    if g.size == 0 or gx.size == 0:
        return
    xp = &x[0, 0, 0, 0, 0]
    gp = &g[0, 0, 0, 0, 0]
    gip = &gx[0, 0, 0, 0, 0]
    if n_threads > NC:
        n_threads = <int> NC
    with nogil, parallel(num_threads=n_threads):
        for nc in prange(NC, schedule='dynamic'):
            plane = xp + nc * P
            gplane = gip + nc * P
            for od in range(OD):
                d0 = od * sd
                d1 = _clip_end(d0 + KD, D)
                for oh in range(OH):
                    h0 = oh * sh
                    h1 = _clip_end(h0 + KH, H)
                    for ow in range(OW):
                        w0 = ow * sw
                        w1 = _clip_end(w0 + KW, W)
                        go = gp[((nc * OD + od) * OH + oh) * OW + ow]
                        if pmode == 3:
                            best = -1
                            vmax = 0
                            for a in range(d0, d1):
                                for b in range(h0, h1):
                                    for c in range(w0, w1):
                                        v = fabs(plane[(a * H + b) * W + c])
                                        if best < 0 or v > vmax or (v != v and vmax == vmax):
                                            vmax = v
                                            best = (a * H + b) * W + c
                            v = plane[best]
                            if v > 0:
                                gplane[best] = gplane[best] + go
                            elif v < 0:
                                gplane[best] = gplane[best] - go
                            elif v != v:
                                gplane[best] = gplane[best] + v
                            continue
                        y = _lp_window(plane, H, W, d0, d1, h0, h1, w0, w1, pp, pmode)
                        if y == 0:
                            continue
                        for a in range(d0, d1):
                            for b in range(h0, h1):
                                for c in range(w0, w1):
                                    v = plane[(a * H + b) * W + c]
                                    if v == 0:
                                        continue
                                    if pmode == 1:
                                        r = 1
                                    elif pmode == 2:
                                        r = fabs(v) / y
                                    else:
                                        r = pow(fabs(v) / y, pp - 1)
                                    if v < 0:
                                        r = -r
                                    j = (a * H + b) * W + c
                                    gplane[j] = gplane[j] + go * r
    return


# ------------------------------------------------------------ adaptive pooling
# Window of output i along an axis of length L with O outputs (PyTorch):
#   start = floor(i * L / O),  end = ceil((i + 1) * L / O).

cdef inline Py_ssize_t _astart(Py_ssize_t i, Py_ssize_t L, Py_ssize_t O) noexcept nogil:
    return (i * L) // O


cdef inline Py_ssize_t _aend(Py_ssize_t i, Py_ssize_t L, Py_ssize_t O) noexcept nogil:
    return ((i + 1) * L + O - 1) // O


cdef real _sum8(const real* v, Py_ssize_t n) noexcept nogil:
    """Sum of v[0:n] in eight interleaved partial sums, combined pairwise: a
    fixed order (deterministic) without one long chain of dependent adds."""
    cdef real s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        s0 = s0 + v[i]
        s1 = s1 + v[i + 1]
        s2 = s2 + v[i + 2]
        s3 = s3 + v[i + 3]
        s4 = s4 + v[i + 4]
        s5 = s5 + v[i + 5]
        s6 = s6 + v[i + 6]
        s7 = s7 + v[i + 7]
        i = i + 8
    while i < n:
        s0 = s0 + v[i]
        i = i + 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


def adaptive_avg_forward(const real[:, :, :, :, ::1] x, real[:, :, :, :, ::1] out,
                         int n_threads):
    """Window means; per row of outputs, the window's rows are first summed
    into column sums (contiguous, vectorized), then each output sums its
    columns."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t OD = out.shape[2], OH = out.shape[3], OW = out.shape[4]
    cdef Py_ssize_t n_units = N * C * OD * OH
    cdef Py_ssize_t u, m, od, oh, ow, nc, d0, d1, h0, h1, w0, w1, a, b, c
    cdef bint one_row
    cdef const real* xp
    cdef const real* plane
    cdef const real* row
    cdef const real* cols
    cdef real* col = NULL
    cdef real* op
    if out.size == 0:
        return
    xp = &x[0, 0, 0, 0, 0]
    op = &out[0, 0, 0, 0, 0]
    cdef int failed = 0
    cdef int* pfail = &failed
    if n_threads > n_units:
        n_threads = <int> n_units
    with nogil, parallel(num_threads=n_threads):
        col = <real*> malloc(W * sizeof(real))
        if col == NULL:
            pfail[0] = 1
        for u in prange(n_units, schedule='dynamic'):
            if col == NULL:
                continue
            oh = u % OH
            m = u // OH
            od = m % OD
            nc = m // OD
            plane = xp + nc * D * H * W
            d0 = _astart(od, D, OD)
            d1 = _aend(od, D, OD)
            h0 = _astart(oh, H, OH)
            h1 = _aend(oh, H, OH)
            one_row = (d1 - d0) * (h1 - h0) == 1
            if one_row:
                cols = plane + (d0 * H + h0) * W
            else:
                for c in range(W):
                    col[c] = 0
                for a in range(d0, d1):
                    for b in range(h0, h1):
                        row = plane + (a * H + b) * W
                        for c in range(W):
                            col[c] = col[c] + row[c]
                cols = col
            for ow in range(OW):
                w0 = _astart(ow, W, OW)
                w1 = _aend(ow, W, OW)
                op[u * OW + ow] = _sum8(cols + w0, w1 - w0) / (
                    (d1 - d0) * (h1 - h0) * (w1 - w0))
        free(col)
    if failed:
        raise MemoryError("convolve: no memory for a thread's scratch buffer")


def adaptive_avg_backward(const real[:, :, :, :, ::1] g, real[:, :, :, :, ::1] gx,
                          int n_threads):
    """Add the adjoint of adaptive_avg_forward into `gx` (zeroed)."""
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], D = gx.shape[2], H = gx.shape[3]
    cdef Py_ssize_t W = gx.shape[4]
    cdef Py_ssize_t OD = g.shape[2], OH = g.shape[3], OW = g.shape[4]
    cdef Py_ssize_t NC = N * C
    cdef Py_ssize_t nc, od, oh, ow, d0, d1, h0, h1, w0, w1, a, b, c, j
    cdef real v
    cdef const real* gp
    cdef real* gplane
    cdef real* gip
    if g.size == 0 or gx.size == 0:
        return
    gp = &g[0, 0, 0, 0, 0]
    gip = &gx[0, 0, 0, 0, 0]
    if n_threads > NC:
        n_threads = <int> NC
    with nogil, parallel(num_threads=n_threads):
        for nc in prange(NC, schedule='dynamic'):
            gplane = gip + nc * D * H * W
            for od in range(OD):
                d0 = _astart(od, D, OD)
                d1 = _aend(od, D, OD)
                for oh in range(OH):
                    h0 = _astart(oh, H, OH)
                    h1 = _aend(oh, H, OH)
                    for ow in range(OW):
                        w0 = _astart(ow, W, OW)
                        w1 = _aend(ow, W, OW)
                        v = gp[((nc * OD + od) * OH + oh) * OW + ow] / (
                            (d1 - d0) * (h1 - h0) * (w1 - w0))
                        for a in range(d0, d1):
                            for b in range(h0, h1):
                                for c in range(w0, w1):
                                    j = (a * H + b) * W + c
                                    gplane[j] = gplane[j] + v


def adaptive_max_forward(const real[:, :, :, :, ::1] x, real[:, :, :, :, ::1] out,
                         int64_t[:, :, :, :, ::1] idx, int n_threads):
    """Window maxima and their flat indices in the plane, PyTorch's
    adaptive_max_pool rule ``val > maxval || isnan(val)``: a NaN wins (the
    last NaN's index), among equal maxima the first."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t OD = out.shape[2], OH = out.shape[3], OW = out.shape[4]
    cdef Py_ssize_t n_units = N * C * OD * OH
    cdef Py_ssize_t u, m, od, oh, ow, nc, d0, d1, h0, h1, w0, w1, a, b, c, best, pos
    cdef real vmax, v
    cdef const real* xp
    cdef const real* plane
    cdef real* op
    cdef int64_t* ip
    if out.size == 0:
        return
    xp = &x[0, 0, 0, 0, 0]
    op = &out[0, 0, 0, 0, 0]
    ip = &idx[0, 0, 0, 0, 0]
    if n_threads > n_units:
        n_threads = <int> n_units
    with nogil, parallel(num_threads=n_threads):
        for u in prange(n_units, schedule='dynamic'):
            oh = u % OH
            m = u // OH
            od = m % OD
            nc = m // OD
            plane = xp + nc * D * H * W
            d0 = _astart(od, D, OD)
            d1 = _aend(od, D, OD)
            h0 = _astart(oh, H, OH)
            h1 = _aend(oh, H, OH)
            for ow in range(OW):
                w0 = _astart(ow, W, OW)
                w1 = _aend(ow, W, OW)
                best = (d0 * H + h0) * W + w0
                vmax = -INFINITY
                for a in range(d0, d1):
                    for b in range(h0, h1):
                        for c in range(w0, w1):
                            pos = (a * H + b) * W + c
                            v = plane[pos]
                            # a later NaN replaces an earlier one (the last NaN wins)
                            if v > vmax or v != v:
                                vmax = v
                                best = pos
                op[u * OW + ow] = vmax
                ip[u * OW + ow] = best


# ----------------------------------------------------------------- max unpool

def unpool_scatter(const real[:, ::1] x, const int64_t[:, ::1] idx, real[:, ::1] out,
                   char[::1] bad, int n_threads):
    """out[nc, idx[nc, q]] = x[nc, q] in order q (the last write wins, as in
    PyTorch's CPU kernel); index -1 (a pooling window without input
    elements) writes nowhere; bad[nc] = 1 where another index lies outside
    [0, P)."""
    cdef Py_ssize_t NC = x.shape[0], Q = x.shape[1], P = out.shape[1]
    cdef Py_ssize_t nc, q
    cdef int64_t j
    if x.size == 0 or out.size == 0:
        return
    if n_threads > NC:
        n_threads = <int> NC
    with nogil, parallel(num_threads=n_threads):
        for nc in prange(NC, schedule='dynamic'):
            for q in range(Q):
                j = idx[nc, q]
                if j == -1:
                    continue
                if j < 0 or j >= P:
                    bad[nc] = 1
                else:
                    out[nc, j] = x[nc, q]


def unpool_gather(const real[:, ::1] g, const int64_t[:, ::1] idx, real[:, ::1] out,
                  char[::1] bad, int n_threads):
    """out[nc, q] = g[nc, idx[nc, q]] (the gradient of unpool_scatter as
    PyTorch's autograd defines it); 0 for index -1."""
    cdef Py_ssize_t NC = out.shape[0], Q = out.shape[1], P = g.shape[1]
    cdef Py_ssize_t nc, q
    cdef int64_t j
    if out.size == 0:
        return
    if n_threads > NC:
        n_threads = <int> NC
    with nogil, parallel(num_threads=n_threads):
        for nc in prange(NC, schedule='dynamic'):
            for q in range(Q):
                j = idx[nc, q]
                if j < 0 or j >= P:
                    if j != -1:
                        bad[nc] = 1
                    out[nc, q] = 0
                else:
                    out[nc, q] = g[nc, j]


# ---------------------------------------------------------------- optimizer

def sgd_momentum_step(list params, list grads, real[::1] buf, real[::1] tmp,
                      double momentum, double lr, bint first):
    """One step of plain momentum SGD over parameters laid end to end in
    `buf` (their momentum buffers) and `tmp` (scratch): ``buf = momentum *
    buf + g`` (``buf = g`` when `first`), then ``p -= lr * buf``. `params`
    and `grads` hold 1-D views (the parameters' own memory) of `buf`'s dtype.
    Each product is rounded on its own, in a loop of its own (no fused
    multiply-add), as NumPy's in-place operations compute them; the loops
    run block by block (SGD_BLOCK elements, in L1), so that the arrays are
    read from memory once per step rather than once per operation."""
    cdef Py_ssize_t k, n, s, nb, off = 0
    cdef real m = <real> momentum, r = <real> lr
    cdef real[::1] p
    cdef const real[::1] g
    cdef real* b
    cdef real* t
    cdef real* pp
    cdef const real* gp
    if buf.shape[0] == 0:
        return
    for k in range(len(params)):
        p = params[k]
        g = grads[k]
        n = p.shape[0]
        if n == 0:
            continue
        b = &buf[off]
        t = &tmp[off]
        pp = &p[0]
        gp = &g[0]
        with nogil:
            s = 0
            while s < n:
                nb = n - s if n - s < SGD_BLOCK else SGD_BLOCK
                if first:
                    memcpy(b + s, gp + s, nb * sizeof(real))
                else:
                    _scale(b + s, b + s, m, nb)
                    _axpy1(b + s, gp + s, nb)
                _scale(t + s, b + s, r, nb)
                _sub(pp + s, t + s, nb)
                s = s + nb
        off += n


cdef void _scale(real* y, const real* x, real a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = x[i] * a


cdef void _axpy1(real* y, const real* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = y[i] + x[i]


cdef void _sub(real* y, const real* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = y[i] - x[i]


# ---------------------------------------------------------------- loss

def softmax_cross_entropy(const real[:, ::1] z, const int64_t[::1] labels, real[:, ::1] p):
    """Mean cross-entropy of the rows of `z` (N, K) against `labels` (N,),
    with the softmax written to `p`: per row, the maximum m, e = exp(z - m)
    (in z's precision), s = sum e (in double), p = e / s and log p[label] =
    (z[label] - m) - log(s) in double. None (nothing computed) when a label is
    outside [0, K): the caller's NumPy path then decides."""
    cdef Py_ssize_t N = z.shape[0], K = z.shape[1], i, k
    cdef real m, v
    cdef double s, total = 0.0
    for i in range(N):
        if labels[i] < 0 or labels[i] >= K:
            return None
    if N == 0:
        return float("nan")
    with nogil:
        for i in range(N):
            m = z[i, 0]
            for k in range(1, K):
                v = z[i, k]
                if v > m or v != v:          # NaN propagates, as NumPy's max
                    m = v
            s = 0.0
            for k in range(K):
                v = <real> exp(z[i, k] - m) if real is double else <real> expf(z[i, k] - m)
                p[i, k] = v
                s += v
            for k in range(K):
                p[i, k] = p[i, k] / <real> s
            total += <double> (z[i, labels[i]] - m) - log(s)
    return -total / N


def softmax_cross_entropy_backward(const real[:, ::1] p, const int64_t[::1] labels,
                                   real[:, ::1] g):
    """g = (p - onehot(labels)) * (1 / N), the product by the rounded 1 / N."""
    cdef Py_ssize_t N = p.shape[0], K = p.shape[1], i, k
    cdef real inv
    if N == 0:
        return
    inv = <real> (1.0 / N)
    with nogil:
        for i in range(N):
            for k in range(K):
                g[i, k] = p[i, k]
            g[i, labels[i]] = g[i, labels[i]] - 1
            for k in range(K):
                g[i, k] = g[i, k] * inv
