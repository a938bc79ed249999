# Direct correlation with the batch as the vector lanes, for small feature
# maps and large batches (LeNet-like layers), where the flattened-row loop
# orders of pyx/_direct.pyx waste the (KW - 1) junk columns of every short
# row and their tiles of 16 outputs do not fit the maps:
#
#   outT[o, od, oh, ow, n] = bias[o] + sum_t W[o, t] * xT[g*Cg + c, od*sd + kd*dd,
#                                                      oh*sh + kh*dh, ow*sw + kw*dw, n]
#
# with xT the zero-padded input transposed to (C, Dp, Hp, Wp, Np), the batch
# last and padded to a multiple of the lane tile T4 (16 floats, 8 doubles).
# A unit (block of T4 images, output row (od, oh), six output channels) runs
# the 6-channel tile of _microkernels.h once per output column: every tap
# loads two dense vectors of images, no junk lanes, no edge cases (the copy
# holds the padding). A unit owns its outputs and sums its taps in the fixed
# order (c, kd, kh, kw): bitwise identical for any thread count.

from cython.parallel cimport parallel, prange
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from _types cimport real
from _openmp cimport omp_get_thread_num

cdef extern from "_microkernels.h" nogil:
    void cv_tile6_f32_acc(float* acc, const float* src, const Py_ssize_t* off,
                          const float* wp, Py_ssize_t ntaps, int accumulate)
    void cv_tile6_f64_acc(double* acc, const double* src, const Py_ssize_t* off,
                          const double* wp, Py_ssize_t ntaps, int accumulate)

cdef extern from "_gemm_kernels.h" nogil:
    void cv_tr8_f32(const float* s, Py_ssize_t ls, float* d, Py_ssize_t ld, const float* bias)
    void cv_tr4_f64(const double* s, Py_ssize_t ls, double* d, Py_ssize_t ld,
                    const double* bias)


cdef inline Py_ssize_t _t4(real* dummy) noexcept nogil:
    if real is float:
        return 16
    else:
        return 8


cdef inline void _transpose(const real* s, Py_ssize_t ls, real* d, Py_ssize_t ld,
                            Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """d[m * ld + k] = s[k * ls + m] for k < rows, m < cols: blocks of B x B
    (8 floats, 4 doubles) by register transposes, the edges element by
    element. Either order of a scalar loop reads or writes with a stride of
    ls or ld; a power-of-two stride (32 x 32 images: 4 KB) sends all of them
    to one L1 set."""
    cdef Py_ssize_t B = 8 if real is float else 4
    cdef Py_ssize_t kb, mb, k0, m0, k, m
    cdef Py_ssize_t rb = rows - rows % B, cb = cols - cols % B
    for kb in range(rows // B):
        k0 = kb * B
        for mb in range(cols // B):
            m0 = mb * B
            if real is float:
                cv_tr8_f32(s + k0 * ls + m0, ls, d + m0 * ld + k0, ld, NULL)
            else:
                cv_tr4_f64(s + k0 * ls + m0, ls, d + m0 * ld + k0, ld, NULL)
        for k in range(k0, k0 + B):
            for m in range(cb, cols):
                d[m * ld + k] = s[k * ls + m]
    for k in range(rb, rows):
        for m in range(cols):
            d[m * ld + k] = s[k * ls + m]


cdef inline Py_ssize_t _first(Py_ssize_t o, Py_ssize_t pad, Py_ssize_t dil,
                              Py_ssize_t K) noexcept nogil:
    """First tap k whose padded position o + k*dil is not in the leading padding."""
    if o >= pad:
        return 0
    return min(K, (pad - o + dil - 1) // dil)


cdef inline Py_ssize_t _stop(Py_ssize_t o, Py_ssize_t pad, Py_ssize_t dil, Py_ssize_t K,
                             Py_ssize_t n) noexcept nogil:
    """One past the last tap k whose padded position o + k*dil is inside the input."""
    if o >= pad + n:
        return 0
    return min(K, (pad + n - 1 - o) // dil + 1)


cdef inline void _tile6(real* acc, const real* src, const Py_ssize_t* off, const real* wp,
                        Py_ssize_t ntaps, int accumulate) noexcept nogil:
    if real is float:
        cv_tile6_f32_acc(acc, src, off, wp, ntaps, accumulate)
    else:
        cv_tile6_f64_acc(acc, src, off, wp, ntaps, accumulate)


def correlate(const real[:, :, :, :, ::1] xt, const real[:, :, :, ::1] wpack,
              real[:, :, :, :, ::1] outt, bias, tuple kernel, tuple stride,
              tuple dilation, tuple pad, tuple size, Py_ssize_t groups, int n_threads):
    """outT (O, OD, OH, OW, Np) from xT (C, Dp, Hp, Wp, Np), the input of
    spatial `size` (D, H, W) zero-padded by `pad` before (and enough after),
    and the weights packed by convolve._engine.pack6 with the taps in the
    order (kd, kh, kw, c); Np a multiple of 16 (float32) or 8 (float64).

    Only the taps that land inside the input are summed: per output row the
    valid (kd, kh) rectangle, per output column the valid kw range, each
    (kd, kh) a contiguous run of (kw, c) taps accumulated in the tile. A
    convolution's input gradient (a 'full' correlation, mostly padding on
    LeNet-sized maps) skips its zero taps: half the work of the 5x5 layers.
    Trusts its inputs."""
    cdef Py_ssize_t C = xt.shape[0], Dp = xt.shape[1], Hp = xt.shape[2], Wp = xt.shape[3]
    cdef Py_ssize_t Np = xt.shape[4]
    cdef Py_ssize_t O = outt.shape[0], OD = outt.shape[1], OH = outt.shape[2]
    cdef Py_ssize_t OW = outt.shape[3]
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t Cg = C // groups, Og = O // groups, P6 = (Og + 5) // 6
    cdef Py_ssize_t T = Cg * KD * KH * KW
    cdef Py_ssize_t T4 = _t4(<real*> NULL)
    cdef Py_ssize_t n_nb = Np // T4
    cdef Py_ssize_t n_units = n_nb * groups * P6 * OD * OH
    cdef Py_ssize_t D = size[0], H = size[1], W = size[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t u, m, nb, g, p, od, oh, ow, c, kd, kh, kw, j, i, o, nq
    cdef Py_ssize_t d0, d1, h0, h1, w0, w1, first, full
    cdef const real* bp = NULL
    cdef const real[::1] b
    cdef const real* src
    cdef real* dst
    cdef real* acc
    cdef real* work
    cdef Py_ssize_t* off
    if outt.size == 0 or T == 0:
        return
    if bias is not None:
        b = bias
        bp = &b[0]
    cdef const real* x = &xt[0, 0, 0, 0, 0]
    cdef const real* wp = &wpack[0, 0, 0, 0]
    cdef real* out = &outt[0, 0, 0, 0, 0]
    work = <real*> malloc(n_threads * 6 * T4 * sizeof(real))
    off = <Py_ssize_t*> malloc(T * sizeof(Py_ssize_t))
    if work == NULL or off == NULL:
        free(work)
        free(off)
        raise MemoryError("convolve: could not allocate the batch-lane workspace")
    for c in range(Cg):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    off[((kd * KH + kh) * KW + kw) * Cg + c] = \
                        (((c * Dp + kd * dd) * Hp + kh * dh) * Wp + kw * dw) * Np
    with nogil, parallel(num_threads=n_threads):
        acc = work + omp_get_thread_num() * 6 * T4
        for u in prange(n_units, schedule='static'):
            m = u
            oh = m % OH
            m = m // OH
            od = m % OD
            m = m // OD
            p = m % P6
            m = m // P6
            g = m % groups
            nb = m // groups
            nq = Og - 6 * p
            if nq > 6:
                nq = 6
            # taps inside the input: kd in [d0, d1), kh in [h0, h1), kw in [w0, w1)
            d0 = _first(od * sd, pd, dd, KD)
            d1 = _stop(od * sd, pd, dd, KD, D)
            h0 = _first(oh * sh, ph, dh, KH)
            h1 = _stop(oh * sh, ph, dh, KH, H)
            for ow in range(OW):
                src = x + (((g * Cg * Dp + od * sd) * Hp + oh * sh) * Wp + ow * sw) * Np + nb * T4
                w0 = _first(ow * sw, pw, dw, KW)
                w1 = _stop(ow * sw, pw, dw, KW, W)
                full = d0 == 0 and d1 == KD and h0 == 0 and h1 == KH and w0 == 0 and w1 == KW
                if full:
                    _tile6(acc, src, off, wp + (g * P6 + p) * T * 6, T, 0)
                else:
                    first = 1
                    if d0 >= d1 or h0 >= h1 or w0 >= w1:
                        for i in range(6 * T4):
                            acc[i] = 0
                    for kd in range(d0, d1):
                        for kh in range(h0, h1):
                            i = ((kd * KH + kh) * KW + w0) * Cg
                            _tile6(acc, src, off + i, wp + ((g * P6 + p) * T + i) * 6,
                                   (w1 - w0) * Cg, 1 - first)
                            first = 0
                for j in range(nq):
                    o = g * Og + 6 * p + j
                    dst = out + (((o * OD + od) * OH + oh) * OW + ow) * Np + nb * T4
                    if bp != NULL:
                        for i in range(T4):
                            dst[i] = acc[j * T4 + i] + bp[o]
                    else:
                        for i in range(T4):
                            dst[i] = acc[j * T4 + i]
    free(work)
    free(off)


def to_batch_last(const real[:, :, :, :, ::1] x, real[:, :, :, :, ::1] xt, tuple pad,
                  int n_threads):
    """xt (C, Dp, Hp, Wp, Np) = x (N, C, D, H, W) with the batch last, placed at
    the leading padding `pad` (pd, ph, pw), zeros everywhere else (borders and
    lanes n >= N): every element of xt written once, rows shared among
    threads (numpy's transposing copy and zero fill had cost as much as the
    LeNet kernels themselves)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t Dp = xt.shape[1], Hp = xt.shape[2], Wp = xt.shape[3], Np = xt.shape[4]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t img = C * D * H * W, r, c, d, h, w, n
    cdef real* dst
    cdef real* row
    cdef const real* src
    if xt.shape[0] != C or Np < N or pd < 0 or ph < 0 or pw < 0 or pd + D > Dp \
            or ph + H > Hp or pw + W > Wp:
        raise ValueError("to_batch_last: xt must be (C, >= pd + D, >= ph + H, >= pw + W, >= N)")
    if xt.size == 0:
        return
    cdef real* base = &xt[0, 0, 0, 0, 0]
    cdef const real* xp = &x[0, 0, 0, 0, 0] if x.size else NULL
    with nogil:
        for r in prange(C * Dp * Hp, num_threads=n_threads, schedule='static'):
            c = r // (Dp * Hp)
            d = (r // Hp) % Dp - pd
            h = r % Hp - ph
            dst = base + r * Wp * Np
            if d < 0 or d >= D or h < 0 or h >= H:
                memset(dst, 0, Wp * Np * sizeof(real))
                continue
            memset(dst, 0, pw * Np * sizeof(real))
            src = xp + ((c * D + d) * H + h) * W
            row = dst + pw * Np
            _transpose(src, img, row, Np, N, W)
            if Np > N:
                for w in range(W):
                    memset(row + w * Np + N, 0, (Np - N) * sizeof(real))
            memset(dst + (pw + W) * Np, 0, (Wp - pw - W) * Np * sizeof(real))


def from_batch_last(const real[:, :, :, :, ::1] outt, real[:, :, :, :, ::1] out,
                    int n_threads):
    """out (N, O, OD, OH, OW) = the first N lanes of outt (O, OD, OH, OW, Np),
    transposed back (rows shared among threads)."""
    cdef Py_ssize_t N = out.shape[0], O = out.shape[1], OD = out.shape[2]
    cdef Py_ssize_t OH = out.shape[3], OW = out.shape[4], Np = outt.shape[4]
    cdef Py_ssize_t img = O * OD * OH * OW, r, n, w
    cdef real* dst
    cdef const real* src
    if outt.shape[0] != O or outt.shape[1] != OD or outt.shape[2] != OH \
            or outt.shape[3] != OW or Np < N:
        raise ValueError("from_batch_last: outt must be (O, OD, OH, OW, >= N)")
    if out.size == 0:
        return
    cdef real* ob = &out[0, 0, 0, 0, 0]
    cdef const real* tb = &outt[0, 0, 0, 0, 0]
    with nogil:
        for r in prange(O * OD * OH, num_threads=n_threads, schedule='static'):
            src = tb + r * OW * Np
            _transpose(src, Np, ob + r * OW, img, OW, N)
