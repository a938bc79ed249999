# Implicit GEMM: any correlation (stride, dilation, padding, groups) as
#
#   out[n, o, j] = bias[o] + sum_t W[o, t] * B[t, j],   t = (c, kd, kh, kw),
#   B[t, j] = x[n, g*Cg + c, od*sd + kd*dd - pd, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw]
#
# with j = (od, oh, ow) flattened, without materializing B (im2col): a unit
# (n, g, pair of blocks of JW consecutive outputs j, range of panels) gathers
# its columns of B into per-thread panels [Cg*KD*KH*KW][JW] (zeros outside
# the input), then runs the 6 x JW register-blocked micro-kernel of
# _gemm_kernels.h over its panels of six output channels of the group
# (weights packed by Python as (groups, ceil(Og/6), taps, 6)), both blocks
# per broadcast weight (cv_gemm6p). One gather serves all output channels,
# no zero taps (unlike the polyphase rewrite of strided layers) and no junk
# columns: the path for channel-heavy strided and 1x1 layers. 1x1 layers
# number their columns across the images and read full blocks in place.
# Every output is one chain over the taps in a fixed order, whatever the
# units: bitwise identical for any thread count.

from cython.parallel cimport parallel, prange
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy

from _types cimport real
from _gemm cimport CV_GEMM_MR, _gemm6, _gemm6_pair, _gemm6_panels, _jw
from _openmp cimport omp_get_thread_num

# Reduction chunk of the implicit GEMM (taps): B's chunk (KC x 64 bytes)
# and a panel's (KC x 6 values: 3 KB) share L1. Measured against no chunking,
# back to back: 0.85-0.95 of the time for 256-512 taps (pw14 float64 2 threads
# 1.11 -> 0.97 ms), no change at 128.
DEF KC_F32 = 128
DEF KC_F64 = 64


cdef inline Py_ssize_t _runs(Py_ssize_t* col, Py_ssize_t* rs, Py_ssize_t j0, Py_ssize_t nj,
                             Py_ssize_t JW, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sd,
                             Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pd, Py_ssize_t ph,
                             Py_ssize_t pw) noexcept nogil:
    """Columns [j0, j0 + nj) of one image's flattened output as runs within
    one output row: run q covers block columns [rs[q], rs[q+1]) whose windows
    start at depth col[q], row col[JW + q] and column col[2JW + q] + (i -
    rs[q]) * sw. Returns the number of runs."""
    cdef Py_ssize_t nrun = 0, i = 0, j, ow, oh, od
    while i < nj:
        j = j0 + i
        ow = j % OW
        oh = (j // OW) % OH
        od = j // (OW * OH)
        col[nrun] = od * sd - pd
        col[JW + nrun] = oh * sh - ph
        col[2 * JW + nrun] = ow * sw - pw
        rs[nrun] = i
        i = i + (OW - ow if OW - ow < nj - i else nj - i)
        nrun = nrun + 1
    rs[nrun] = nj
    return nrun


cdef inline void _gather(real* B, const real* xc, const Py_ssize_t* col, const Py_ssize_t* rs,
                         Py_ssize_t nrun, Py_ssize_t nj, Py_ssize_t JW, Py_ssize_t Cg,
                         Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, Py_ssize_t KD,
                         Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t dd, Py_ssize_t dh,
                         Py_ssize_t dw, Py_ssize_t sw) noexcept nogil:
    """B[t][i] (t = (c, kd, kh, kw), i < JW) = the input each tap of column i
    of the runs reads in the image at xc, zero outside it and for i >= nj."""
    cdef Py_ssize_t c, kd, kh, kw, q, a0, a1, id_, ih, iw, lo, hi, i
    cdef Py_ssize_t HW = H * W, DHW = D * H * W
    cdef real* dst
    cdef const real* src
    for c in range(Cg):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    dst = B + (((c * KD + kd) * KH + kh) * KW + kw) * JW
                    memset(dst + nj, 0, (JW - nj) * sizeof(real))
                    for q in range(nrun):
                        a0 = rs[q]
                        a1 = rs[q + 1]
                        id_ = col[q] + kd * dd
                        ih = col[JW + q] + kh * dh
                        if id_ < 0 or id_ >= D or ih < 0 or ih >= H:
                            memset(dst + a0, 0, (a1 - a0) * sizeof(real))
                            continue
                        iw = col[2 * JW + q] + kw * dw
                        # columns a0 + i read iw + i*sw: inside for lo <= i < hi
                        lo = 0 if iw >= 0 else (-iw + sw - 1) // sw
                        hi = (W - iw + sw - 1) // sw if W > iw else 0
                        if hi > a1 - a0:
                            hi = a1 - a0
                        if lo > hi:
                            lo = hi
                        src = xc + c * DHW + id_ * HW + ih * W + iw
                        for i in range(lo):
                            dst[a0 + i] = 0
                        if sw == 1:
                            for i in range(lo, hi):
                                dst[a0 + i] = src[i]
                        else:
                            for i in range(lo, hi):
                                dst[a0 + i] = src[i * sw]
                        for i in range(hi, a1 - a0):
                            dst[a0 + i] = 0


cdef inline void _copy_flat(real* B, const real* xg, Py_ssize_t J0, Py_ssize_t nj,
                            Py_ssize_t JW, Py_ssize_t Cg, Py_ssize_t P,
                            Py_ssize_t C) noexcept nogil:
    """B[c][i] = column J0 + i of the flat (1x1, stride 1, unpadded) problem,
    columns numbered across the images (image J // P, position J % P; images
    C * P apart from xg, channels P apart), zero for i >= nj."""
    cdef Py_ssize_t c, i = 0, n, j, m
    while i < nj:
        n = (J0 + i) // P
        j = (J0 + i) % P
        m = P - j if P - j < nj - i else nj - i
        for c in range(Cg):
            memcpy(B + c * JW + i, xg + n * C * P + c * P + j, m * sizeof(real))
        i = i + m
    for c in range(Cg):
        memset(B + c * JW + nj, 0, (JW - nj) * sizeof(real))


cdef inline const real* _block(real* B, const real* x, const real* xc, Py_ssize_t g,
                               Py_ssize_t cb, Py_ssize_t ncols, bint flat, Py_ssize_t* ldb,
                               Py_ssize_t* nj_out, Py_ssize_t* col, Py_ssize_t* rs,
                               Py_ssize_t JW, Py_ssize_t C, Py_ssize_t Cg, Py_ssize_t P,
                               Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                               Py_ssize_t OW, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
                               Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dd,
                               Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pd, Py_ssize_t ph,
                               Py_ssize_t pw) noexcept nogil:
    """Column block cb (JW columns from cb * JW, *nj_out of them real) of
    group g as a panel [taps][JW] with rows *ldb apart: in place for a full
    flat block inside one image, else copied or gathered into B."""
    cdef Py_ssize_t j0 = cb * JW, nj = ncols - cb * JW, DHW = D * H * W, nrun
    if nj > JW:
        nj = JW
    nj_out[0] = nj
    ldb[0] = JW
    if flat and nj == JW and j0 // P == (j0 + JW - 1) // P:
        ldb[0] = DHW
        return x + ((j0 // P) * C + g * Cg) * DHW + j0 % P
    if flat:
        _copy_flat(B, x + g * Cg * DHW, j0, nj, JW, Cg, P, C)
        return B
    nrun = _runs(col, rs, j0, nj, JW, OH, OW, sd, sh, sw, pd, ph, pw)
    _gather(B, xc, col, rs, nrun, nj, JW, Cg, D, H, W, KD, KH, KW, dd, dh, dw, sw)
    return B


cdef inline void _store(real* out, const real* c, Py_ssize_t J0, Py_ssize_t nj, Py_ssize_t nr,
                        Py_ssize_t JW, Py_ssize_t o0, Py_ssize_t n, Py_ssize_t O,
                        Py_ssize_t P, bint flat, const real* bias) noexcept nogil:
    """Rows r < nr of the 6 x JW result c (output channels o0 + r) into the
    columns [J0, J0 + nj) of `out` (N, O, P), plus the bias: of image n, or
    when flat, numbered across the images (split where an image ends)."""
    cdef Py_ssize_t r, i, q, J, seg, o
    cdef real* dst
    cdef const real* src
    for r in range(nr):
        o = o0 + r
        src = c + r * JW
        i = 0
        while i < nj:
            J = J0 + i
            if flat:
                seg = P - J % P
                dst = out + ((J // P) * O + o) * P + J % P
            else:
                seg = nj - i
                dst = out + (n * O + o) * P + J
            if seg > nj - i:
                seg = nj - i
            if bias != NULL:
                for q in range(seg):
                    dst[q] = src[i + q] + bias[o]
            else:
                memcpy(dst, src + i, seg * sizeof(real))
            i = i + seg


cdef int _igemm(const real* x, const real* wp, real* out, const real* bias,
                Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                Py_ssize_t O, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
                Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
                Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                Py_ssize_t groups, int n_threads) noexcept nogil:
    cdef Py_ssize_t JW = _jw(<real*> NULL)
    cdef Py_ssize_t Cg = C // groups, Og = O // groups, P6 = (Og + 5) // 6
    cdef Py_ssize_t KK = KD * KH * KW, T = Cg * KK
    cdef Py_ssize_t P = OD * OH * OW, DHW = D * H * W
    # 1x1x1 kernel, stride 1, no padding, an output the size of the input:
    # column j of image n reads x[n, :, j]. (The stride phases of an input
    # gradient ask for outputs past the input's end, implied zeros: those
    # gather, since their columns are not the input's.)
    # Its columns are numbered across the images (N * P of them), so that
    # every block but the last is full (pw14: 196 columns an image, 13 blocks
    # of 16 with 12 columns of zeros, now 98 full blocks for 8 images); a
    # block inside one image is read in place (rows DHW apart), one across
    # two images is copied.
    cdef bint flat = (KK == 1 and sd == 1 and sh == 1 and sw == 1 and pd == 0 and ph == 0
                      and pw == 0 and OD == D and OH == H and OW == W)
    cdef Py_ssize_t ncols = N * P if flat else P
    cdef Py_ssize_t n_cb = (ncols + JW - 1) // JW
    # a unit multiplies two column blocks (pairs, cv_gemm6p: each broadcast
    # weight meets both blocks in 512-bit registers where the build has
    # AVX-512, two 6 x JW passes otherwise; the same bits either way)
    cdef Py_ssize_t n_pb = (n_cb + 1) // 2
    # Panels of six output channels split into PG ranges when the column
    # pairs alone would give a thread fewer than eight units (pw7-like 1x1
    # layers: 13 pairs for 8 images of 7 x 7). Each output is still one
    # chain over the taps in a fixed order, so the split (which depends on
    # the thread count) does not change any bit.
    cdef Py_ssize_t PG = 1
    while (1 if flat else N) * groups * n_pb * PG < 8 * n_threads and 2 * PG <= P6:
        PG = 2 * PG
    cdef Py_ssize_t n_units = (1 if flat else N) * groups * n_pb * PG
    # reductions longer than KC run in chunks of KC over all panels, so that
    # B's chunk (KC x JW) stays in L1 while the panels stream past it (the
    # whole of B, 16 KB for 256 float64 taps, was evicted by the panels)
    cdef Py_ssize_t KC = KC_F32 if sizeof(real) == 4 else KC_F64
    cdef bint chunked = T > KC
    # per thread: the two panels B, the 2 x 6 x JW results (of every panel
    # when chunked), 4 x JW + 1 run descriptors
    cdef Py_ssize_t col_reals = ((4 * JW + 1) * sizeof(Py_ssize_t) + sizeof(real) - 1) // sizeof(real)
    cdef Py_ssize_t per_thread = 2 * T * JW + 2 * (P6 if chunked else 1) * 6 * JW + col_reals
    cdef Py_ssize_t u, m, n, g, pb, pg, p_lo, p_hi, nb, p, nr, k0, kc, ldb, ld0, ld1, ns0, ns1
    cdef const real* bs0
    cdef const real* bs1
    cdef real* c0
    cdef real* c1
    cdef Py_ssize_t* rs
    cdef real* B
    cdef real* Ct
    cdef Py_ssize_t* col
    cdef const real* xc
    cdef real* work = <real*> malloc(n_threads * per_thread * sizeof(real))
    if work == NULL:
        return -1
    with parallel(num_threads=n_threads):
        B = work + omp_get_thread_num() * per_thread
        Ct = B + 2 * T * JW
        col = <Py_ssize_t*> (Ct + 2 * (P6 if chunked else 1) * 6 * JW)
        rs = col + 3 * JW
        for u in prange(n_units, schedule='static'):
            pb = u % n_pb
            m = u // n_pb
            pg = m % PG
            m = m // PG
            p_lo = pg * P6 // PG
            p_hi = (pg + 1) * P6 // PG
            g = m % groups
            n = m // groups
            xc = x + (n * C + g * Cg) * DHW
            nb = 2 if 2 * pb + 1 < n_cb else 1
            # scalars, not arrays: C arrays declared outside the prange would
            # be shared by the threads; every scalar is assigned here (not only
            # through its address) so that Cython makes it thread-private
            ld0 = JW
            ns0 = 0
            bs0 = _block(B, x, xc, g, 2 * pb, ncols, flat, &ld0, &ns0, col, rs, JW, C, Cg,
                         P, D, H, W, OH, OW, KD, KH, KW, sd, sh, sw, dd, dh, dw, pd, ph, pw)
            bs1 = bs0
            ld1 = ld0
            ns1 = 0
            if nb == 2:
                bs1 = _block(B + T * JW, x, xc, g, 2 * pb + 1, ncols, flat, &ld1, &ns1, col,
                             rs, JW, C, Cg, P, D, H, W, OH, OW, KD, KH, KW, sd, sh, sw, dd, dh,
                             dw, pd, ph, pw)
                if ld0 != ld1:
                    # one block in place, the other copied: both as copies (one ldb)
                    if ld0 != JW:
                        _copy_flat(B, x + g * Cg * DHW, 2 * pb * JW, ns0, JW, Cg, P, C)
                        bs0 = B
                    else:
                        _copy_flat(B + T * JW, x + g * Cg * DHW, (2 * pb + 1) * JW, ns1, JW,
                                   Cg, P, C)
                        bs1 = B + T * JW
                    ld0 = JW
            ldb = ld0
            k0 = 0
            while k0 < T:
                # the whole reduction when it fits L1, else chunks of KC over all panels
                kc = T - k0 if not chunked or T - k0 < KC else KC
                if chunked and nb == 2:
                    for p in range(p_lo, p_hi):
                        _gemm6_pair(Ct + p * 6 * JW, Ct + (P6 + p) * 6 * JW, JW,
                                    wp + (g * P6 + p) * T * 6 + k0 * 6, bs0 + k0 * ldb,
                                    bs1 + k0 * ldb, ldb, kc, k0 > 0)
                elif chunked:
                    _gemm6_panels(Ct + p_lo * 6 * JW, JW, wp + (g * P6 + p_lo) * T * 6 + k0 * 6,
                                  T * 6, bs0 + k0 * ldb, ldb, kc, p_hi - p_lo, k0 > 0)
                k0 = k0 + kc
            for p in range(p_lo, p_hi):
                if chunked:
                    c0 = Ct + p * 6 * JW
                    c1 = Ct + (P6 + p) * 6 * JW
                else:
                    c0 = Ct
                    c1 = Ct + 6 * JW
                    if nb == 2:
                        _gemm6_pair(c0, c1, JW, wp + (g * P6 + p) * T * 6, bs0, bs1, ldb, T, 0)
                    else:
                        _gemm6(c0, JW, wp + (g * P6 + p) * T * 6, bs0, ldb, T)
                nr = Og - 6 * p
                if nr > 6:
                    nr = 6
                _store(out, c0, 2 * pb * JW, ns0, nr, JW, g * Og + 6 * p, n, O, P, flat, bias)
                _store(out, c1, (2 * pb + 1) * JW, ns1, nr, JW, g * Og + 6 * p, n, O, P, flat,
                       bias)
    free(work)
    return 0


def correlate(const real[:, :, :, :, ::1] x, const real[:, :, :, ::1] wpack,
              real[:, :, :, :, ::1] out, bias, tuple kernel, tuple stride, tuple dilation,
              tuple pad, Py_ssize_t groups, int n_threads):
    """Implicit-GEMM correlation of 5-D blocks with a (KD, KH, KW) `kernel`
    whose weights convolve._engine.pack6 packed into `wpack`. Trusts its inputs."""
    cdef const real[::1] b
    cdef const real* bp = NULL
    cdef int err
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    if out.size == 0:
        return
    if bias is not None:
        b = bias
        bp = &b[0]
    with nogil:
        err = _igemm(&x[0, 0, 0, 0, 0], &wpack[0, 0, 0, 0], &out[0, 0, 0, 0, 0], bp,
                     x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4],
                     out.shape[1], KD, KH, KW, out.shape[2], out.shape[3], out.shape[4],
                     sd, sh, sw, dd, dh, dw, pd, ph, pw, groups, n_threads)
    if err < 0:
        raise MemoryError("convolve: could not allocate the implicit-GEMM workspace")


def fold(const real[:, :, ::1] cols, real[:, :, :, :, ::1] out, tuple kernel, tuple osp,
         tuple stride, tuple dilation, tuple pad, int n_threads):
    """col2im: out (N, C, D, H, W) = the sum of every tap's columns placed at
    its window positions,

        out[n, c, od*sd + kd*dd - pd, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw]
            += cols[n*C + c, (kd*KH + kh)*KW + kw, (od*OH + oh)*OW + ow],

    positions outside `out` dropped (they are the padding). A unit is one
    (n, c) volume, zeroed then accumulated tap by tap: each element receives
    at most one term per tap, in tap order, so the sums do not depend on the
    thread count. Trusts its inputs."""
    cdef Py_ssize_t N = out.shape[0], C = out.shape[1], D = out.shape[2]
    cdef Py_ssize_t H = out.shape[3], W = out.shape[4]
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t OD = osp[0], OH = osp[1], OW = osp[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t vol = D * H * W, P = OD * OH * OW
    cdef Py_ssize_t u, kd, kh, kw, od, oh, ow, idd, ih, off0, lo, hi
    cdef real* dst
    cdef const real* src
    cdef real* o
    if cols.shape[0] != N * C or cols.shape[1] != KD * KH * KW or cols.shape[2] != OD * OH * OW:
        raise ValueError("fold: cols must be (N*C, KD*KH*KW, OD*OH*OW) for out (N, C, ...)")
    if out.size == 0:
        return
    cdef real* ob = &out[0, 0, 0, 0, 0]
    cdef const real* cb = &cols[0, 0, 0] if cols.size else NULL
    with nogil:
        for u in prange(N * C, num_threads=n_threads, schedule='static'):
            o = ob + u * vol
            memset(o, 0, vol * sizeof(real))
            if cb == NULL:
                continue
            for kd in range(KD):
                for kh in range(KH):
                    for kw in range(KW):
                        src = cb + ((u * KD + kd) * KH + kh) * KW * P + kw * P
                        off0 = kw * dw - pw
                        # columns ow with 0 <= ow*sw + off0 < W
                        lo = 0 if off0 >= 0 else (-off0 + sw - 1) // sw
                        hi = (W - off0 + sw - 1) // sw if W > off0 else 0
                        if hi > OW:
                            hi = OW
                        if lo >= hi:
                            continue
                        for od in range(OD):
                            idd = od * sd + kd * dd - pd
                            if idd < 0 or idd >= D:
                                continue
                            for oh in range(OH):
                                ih = oh * sh + kh * dh - ph
                                if ih < 0 or ih >= H:
                                    continue
                                dst = o + (idd * H + ih) * W + off0
                                if sw == 1:
                                    for ow in range(lo, hi):
                                        dst[ow] = dst[ow] + src[(od * OH + oh) * OW + ow]
                                else:
                                    for ow in range(lo, hi):
                                        dst[ow * sw] = dst[ow * sw] + src[(od * OH + oh) * OW + ow]


cdef inline void _add_row(real* grow, const real* src, Py_ssize_t iw0, Py_ssize_t nj,
                          Py_ssize_t sw, Py_ssize_t W) noexcept nogil:
    """grow[iw0 + i*sw] += src[i] for the i < nj landing inside [0, W)."""
    cdef Py_ssize_t i
    cdef Py_ssize_t lo = 0 if iw0 >= 0 else (-iw0 + sw - 1) // sw
    cdef Py_ssize_t hi = (W - iw0 + sw - 1) // sw if W > iw0 else 0
    if hi > nj:
        hi = nj
    if sw == 1:
        for i in range(lo, hi):             # vectorized (tools/vec_report.py)
            grow[iw0 + i] += src[i]
    else:
        for i in range(lo, hi):             # scalar (strided stores): the pairs below cover stride 2
            grow[iw0 + i * sw] += src[i]


cdef inline void _add_pair(real* grow, const real* a, const real* b, Py_ssize_t iw0,
                          Py_ssize_t nr, Py_ssize_t W) noexcept nogil:
    """grow[iw0 + 2i] += a[i] and grow[iw0 + 2i + 1] += b[i] for i < nr, the
    positions inside [0, W): two stride-2 taps one column apart, added as one
    interleaved contiguous run where both land inside, element by element at
    the borders."""
    cdef Py_ssize_t i
    # tap a inside for -iw0/2 <= i < (W - iw0)/2, tap b for -(iw0+1)/2 <= i < (W - iw0 - 1)/2
    cdef Py_ssize_t lo = 0 if iw0 >= 0 else (-iw0 + 1) // 2
    cdef Py_ssize_t hi = (W - iw0 - 1) // 2 if W > iw0 + 1 else 0
    if hi > nr:
        hi = nr
    if lo > hi:
        lo = hi
    for i in range(lo, hi):                 # vectorized: interleaving shuffles, vector stores
        grow[iw0 + 2 * i] += a[i]
        grow[iw0 + 2 * i + 1] += b[i]
    for i in range(lo):
        if iw0 + 2 * i >= 0:
            grow[iw0 + 2 * i] += a[i]
        if iw0 + 2 * i + 1 >= 0:
            grow[iw0 + 2 * i + 1] += b[i]
    for i in range(hi, nr):
        if iw0 + 2 * i < W and iw0 + 2 * i >= 0:
            grow[iw0 + 2 * i] += a[i]
        if iw0 + 2 * i + 1 < W and iw0 + 2 * i + 1 >= 0:
            grow[iw0 + 2 * i + 1] += b[i]


# Column blocks multiplied before each fold (see _gemm_fold)
DEF FOLD_BLOCKS = 8


cdef inline bint _rows_meet(Py_ssize_t j0, Py_ssize_t nj, Py_ssize_t OW, Py_ssize_t OH,
                            Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Whether columns [j0, j0 + nj) of the flattened output (rows of OW,
    OH rows a plane) hold a row whose index within its plane is in [lo, hi)."""
    cdef Py_ssize_t row
    for row in range(j0 // OW, (j0 + nj - 1) // OW + 1):
        if lo <= row % OH < hi:
            return True
    return False


cdef int _gemm_fold(const real* gy, const real* wp, real* gx,
                    Py_ssize_t N, Py_ssize_t O, Py_ssize_t C, Py_ssize_t CB,
                    Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                    Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
                    Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
                    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                    Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                    Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t NB,
                    int n_threads) noexcept nogil:
    cdef Py_ssize_t JW = _jw(<real*> NULL), KK = KD * KH * KW
    cdef Py_ssize_t P = OD * OH * OW, vol = D * H * W
    cdef Py_ssize_t n_cb = (C + CB - 1) // CB, n_units = N * n_cb * NB
    cdef Py_ssize_t max_pan = (CB * KK + 5) // 6 + 1
    # columns multiplied before they are folded: FOLD_BLOCKS blocks of JW, so
    # that the fold runs along whole output rows (blocks of 16 columns had cut
    # 28-wide rows into runs of ~12, and the fold cost a third of the call)
    cdef Py_ssize_t SPAN = FOLD_BLOCKS * JW
    # per thread: B for a block at the end of an image (O x JW), the results of
    # the unit's panels for a span (max_pan x 6 rows of SPAN)
    cdef Py_ssize_t per_thread = O * JW + max_pan * 6 * SPAN
    cdef Py_ssize_t u, n, cbk, c0, c1, p0, p1, p, row, od, oh, jb, ow0, j0, nj, c, k, i0, nr
    cdef Py_ssize_t kd, kh, kw, idd, ih, iw0, ldb, i, b, jb0, nb
    cdef Py_ssize_t bnd, ih0, ih1, oh_lo, oh_hi, r0, r1, zz
    cdef real* B
    cdef real* Ct
    cdef const real* bsrc
    cdef const real* src
    cdef real* grow
    cdef real* work = <real*> malloc(n_threads * per_thread * sizeof(real))
    if work == NULL:
        return -1
    with parallel(num_threads=n_threads):
        B = work + omp_get_thread_num() * per_thread
        Ct = B + O * JW
        for u in prange(n_units, schedule='static'):
            bnd = u % NB
            n = u // NB // n_cb
            cbk = u // NB - n * n_cb
            # the unit's band of input rows [ih0, ih1) (of every depth plane)
            # and the output rows that reach it [oh_lo, oh_hi)
            ih0 = bnd * H // NB
            ih1 = (bnd + 1) * H // NB
            oh_lo = ih0 + ph - (KH - 1) * dh
            oh_lo = 0 if oh_lo <= 0 else (oh_lo + sh - 1) // sh
            oh_hi = (ih1 - 1 + ph) // sh + 1
            if oh_hi > OH:
                oh_hi = OH
            c0 = cbk * CB
            c1 = c0 + CB
            if c1 > C:
                c1 = C
            p0 = c0 * KK // 6            # the unit's rows (c, k) of W^T start panel p0
            p1 = (c1 * KK + 5) // 6
            for c in range(c0, c1):
                for zz in range(D):
                    memset(gx + ((n * C + c) * D + zz) * H * W + ih0 * W, 0,
                           (ih1 - ih0) * W * sizeof(real))
            # spans of SPAN columns, multiplied block by block into Ct (rows
            # SPAN apart); a span's columns split into runs within one output
            # row, and a row of the product lands, per run, on one input row
            # at columns sw apart
            for jb in range((P + SPAN - 1) // SPAN):
                j0 = jb * SPAN
                nj = P - j0
                if nj > SPAN:
                    nj = SPAN
                # spans stay on the global grid and only whole runs are
                # skipped, so each element sums in the same order for any NB
                if NB > 1 and not _rows_meet(j0, nj, OW, OH, oh_lo, oh_hi):
                    continue
                b = 0
                while b < (nj + JW - 1) // JW:
                    jb0 = j0 + b * JW
                    nb = P - jb0
                    if nb >= 2 * JW and (b + 2) * JW <= nj:
                        # two full blocks read in place: in pairs (512-bit
                        # registers on AVX-512 builds, _gemm6_pair)
                        for p in range(p1 - p0):
                            _gemm6_pair(Ct + p * 6 * SPAN + b * JW,
                                        Ct + p * 6 * SPAN + (b + 1) * JW, SPAN,
                                        wp + (p0 + p) * O * 6, gy + n * O * P + jb0,
                                        gy + n * O * P + jb0 + JW, P, O, 0)
                        b = b + 2
                        continue
                    if nb >= JW:         # JW columns of this image: read in place
                        bsrc = gy + n * O * P + jb0
                        ldb = P
                    else:
                        for k in range(O):
                            memcpy(B + k * JW, gy + (n * O + k) * P + jb0, nb * sizeof(real))
                            memset(B + k * JW + nb, 0, (JW - nb) * sizeof(real))
                        bsrc = B
                        ldb = JW
                    _gemm6_panels(Ct + b * JW, SPAN, wp + p0 * O * 6, O * 6, bsrc, ldb, O,
                                  p1 - p0, 0)
                    b = b + 1
                i0 = 0
                while i0 < nj:
                    row = (j0 + i0) // OW
                    ow0 = j0 + i0 - row * OW
                    nr = OW - ow0
                    if nr > nj - i0:
                        nr = nj - i0
                    od = row // OH
                    oh = row - od * OH
                    if oh < oh_lo or oh >= oh_hi:
                        i0 = i0 + nr
                        continue
                    for c in range(c0, c1):
                        for kd in range(KD):
                            idd = od * sd + kd * dd - pd
                            if idd < 0 or idd >= D:
                                continue
                            for kh in range(KH):
                                ih = oh * sh + kh * dh - ph
                                if ih < ih0 or ih >= ih1:
                                    continue
                                grow = gx + ((n * C + c) * D + idd) * H * W + ih * W
                                src = Ct + (((c * KD + kd) * KH + kh) * KW - p0 * 6) * SPAN + i0
                                kw = 0
                                while kw < KW:
                                    iw0 = ow0 * sw + kw * dw - pw
                                    if sw == 2 and dw == 1 and kw + 1 < KW:
                                        # taps kw, kw + 1 fill alternate columns:
                                        # one contiguous run (vectorized)
                                        _add_pair(grow, src + kw * SPAN, src + (kw + 1) * SPAN,
                                                  iw0, nr, W)
                                        kw = kw + 2
                                        continue
                                    _add_row(grow, src + kw * SPAN, iw0, nr, sw, W)
                                    kw = kw + 1
                    i0 = i0 + nr
    free(work)
    return 0


def gemm_fold(const real[:, :, ::1] gy, const real[:, :, :, ::1] wpack,
              real[:, :, :, :, ::1] gx, tuple kernel, tuple osp, tuple stride,
              tuple dilation, tuple pad, Py_ssize_t channel_block, int n_threads,
              Py_ssize_t bands=1):
    """gx (N, C, D, H, W) = fold(W^T gy) without the columns in memory: the
    input gradient of a correlation (PyTorch's GEMM + col2im, fused).

    gy is the output gradient (N, O, OD*OH*OW); wpack the rows (c, kd, kh, kw)
    of W^T packed by convolve._engine.pack6 as (1, ceil(C*KK/6), O, 6). A unit
    is one image and `channel_block` channels (channel_block * KK a multiple
    of 6, so that its rows start a panel): per span of FOLD_BLOCKS blocks of
    JW columns it multiplies its panels by each block of gy (read in place
    when full) into a per-thread buffer and adds each row to the unit's own
    channels of gx at its taps, positions outside gx dropped (the padding).
    Within a run of columns in one output row, a row of the product lands on
    one input row: contiguous adds for stride 1, and for stride 2 two
    neighbouring taps interleaved into one contiguous run. Each element sums
    its terms in the order (span, run, row): the same for any thread count.
    `bands`: each unit owns one of this many bands of input rows (of every
    depth plane) and skips the runs and taps that do not reach it, so a
    single image with few channels still has units for every thread; the
    order of each element's terms, hence the result, is the same for any
    `bands`. Trusts its inputs."""
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t OD = osp[0], OH = osp[1], OW = osp[2]
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], O = gy.shape[1]
    cdef Py_ssize_t KK = KD * KH * KW
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef int err
    if (gy.shape[0] != N or gy.shape[2] != OD * OH * OW or wpack.shape[0] != 1
            or wpack.shape[1] * 6 < C * KK or wpack.shape[2] != O or wpack.shape[3] != 6
            or channel_block < 1 or (channel_block * KK) % 6 and channel_block < C
            or bands < 1 or bands > gx.shape[3]):
        raise ValueError("gemm_fold: shapes do not match, channel_block * KK is not a "
                         "multiple of 6, or bands is not in [1, H]")
    if gx.size == 0:
        return
    if gy.size == 0:
        gx[...] = 0
        return
    with nogil:
        err = _gemm_fold(&gy[0, 0, 0], &wpack[0, 0, 0, 0], &gx[0, 0, 0, 0, 0], N, O, C,
                         channel_block, gx.shape[2], gx.shape[3], gx.shape[4], KD, KH, KW,
                         OD, OH, OW, sd, sh, sw, dd, dh, dw, pd, ph, pw, bands, n_threads)
    if err < 0:
        raise MemoryError("convolve: could not allocate the GEMM + fold workspace")
