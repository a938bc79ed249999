# Direct (time-domain) N-D cross-correlation with channels and groups.
#
# Every convolution of the library reduces to this one operation, on arrays
# that Python has already validated and shaped as 5-D C-contiguous blocks:
#
#   out[n, o, p] = bias[o] + sum_{c, k} x[n, g*Cg + c, p*stride + k*dilation - pad]
#                                        * w[o, c, k]
#
# with p, k running over 3 spatial axes (D, H, W; 1-D and 2-D problems carry
# size-1 axes), g = o // (O / groups), Cg = C / groups, and x read as zero
# outside its bounds (implicit zero padding: no padded copy of the input;
# other padding modes are applied by Python before the call).
#
# Two loop orders, both built on one micro-kernel (_microkernels.h: a tile of
# 64 consecutive outputs held in vector registers while it accumulates a list
# of taps given as input offsets):
#
# ROWS   units (n, o, od, oh, tile of 64 outputs along W). Any stride and
#        dilation. Taps of one kernel row are offsets kw * dw into the input
#        row, read in place, or from a per-thread zero-extended copy of the
#        span for tiles that touch the padding. The path for long rows
#        (signals, large images).
# PLANE  units (n, o, od, band of output rows), stride 1 along H and W. The
#        input rows a band reads are copied into a per-thread zero-padded
#        buffer of row pitch Wp, so the band's outputs, flattened with the
#        same pitch, are a 1-D correlation with KH*KW taps at offsets
#        kh*dh*Wp + kw*dw; the (Wp - OW) junk columns are computed and
#        dropped. No edge cases in the hot loop, no short rows, and all taps
#        of a kernel plane accumulate in registers: the path for CNN feature
#        maps (one band per plane) and for large images (bands sized for L2).
#
# A unit owns its outputs and sums its taps in a fixed order, so the result
# is bitwise identical for any number of threads.

from cython.parallel cimport parallel, prange
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy

from _types cimport numeric
from _openmp cimport omp_get_thread_num

cdef extern from "_microkernels.h" nogil:
    void cv_tile_f32(float* acc, const float* src, const Py_ssize_t* off,
                     const float* w, Py_ssize_t ntaps, int from_zero)
    void cv_tile_f64(double* acc, const double* src, const Py_ssize_t* off,
                     const double* w, Py_ssize_t ntaps, int from_zero)
    void cv_tile4_f32(float* acc, const float* src, const Py_ssize_t* off,
                      const float* w0, const float* w1, const float* w2, const float* w3,
                      Py_ssize_t ntaps)
    void cv_tile4_f64(double* acc, const double* src, const Py_ssize_t* off,
                      const double* w0, const double* w1, const double* w2, const double* w3,
                      Py_ssize_t ntaps)
    void cv_tile6_f32(float* acc, const float* src, const Py_ssize_t* off,
                      const float* wp, Py_ssize_t ntaps)
    void cv_tile6_f64(double* acc, const double* src, const Py_ssize_t* off,
                      const double* wp, Py_ssize_t ntaps)
    void cv_tile_rows4_f32(float* acc, const float* src, Py_ssize_t Wp, const float* w,
                           Py_ssize_t KH, Py_ssize_t KW)
    void cv_tile_rows4_f64(double* acc, const double* src, Py_ssize_t Wp, const double* w,
                           Py_ssize_t KH, Py_ssize_t KW)

cdef enum:
    TW = 64   # outputs per tile

cdef enum:
    ROWS = 0
    PLANE = 1
    STACK = 2


cdef inline void _tile(numeric* acc, const numeric* src, const Py_ssize_t* off,
                       const numeric* w, Py_ssize_t ntaps, int from_zero=0) noexcept nogil:
    """acc[0:TW] += sum_t w[t] * src[off[t] : off[t] + TW] (``=`` with from_zero)."""
    cdef Py_ssize_t t, i
    cdef numeric wt
    cdef const numeric* s
    if numeric is float:
        cv_tile_f32(acc, src, off, w, ntaps, from_zero)
    elif numeric is double:
        cv_tile_f64(acc, src, off, w, ntaps, from_zero)
        cv_tile_f64(acc + TW // 2, src + TW // 2, off, w, ntaps, from_zero)
    else:
        if from_zero:
            memset(acc, 0, TW * sizeof(numeric))
        for t in range(ntaps):
            s = src + off[t]
            wt = w[t]
            for i in range(TW):
                acc[i] = acc[i] + wt * s[i]


cdef inline Py_ssize_t _tile4_width(numeric* dummy) noexcept nogil:
    """Outputs per channel of the 4-channel tile (2 vectors)."""
    if numeric is double:
        return 8
    return 16


cdef inline void _tile4(numeric* acc, const numeric* src, const Py_ssize_t* off,
                        const numeric** ws, Py_ssize_t ntaps) noexcept nogil:
    """acc[j * T4 + i] = sum_t ws[j][t] * src[off[t] + i], 4 channels j, T4 outputs i."""
    cdef Py_ssize_t t, i, j
    cdef const numeric* s
    cdef Py_ssize_t T4 = _tile4_width(acc)
    if numeric is float:
        cv_tile4_f32(acc, src, off, ws[0], ws[1], ws[2], ws[3], ntaps)
    elif numeric is double:
        cv_tile4_f64(acc, src, off, ws[0], ws[1], ws[2], ws[3], ntaps)
    else:
        for i in range(4 * T4):
            acc[i] = 0
        for t in range(ntaps):
            s = src + off[t]
            for j in range(4):
                for i in range(T4):
                    acc[j * T4 + i] = acc[j * T4 + i] + ws[j][t] * s[i]


cdef inline void _tile6(numeric* acc, const numeric* src, const Py_ssize_t* off,
                        const numeric* wp, Py_ssize_t ntaps) noexcept nogil:
    """acc[j * T4 + i] = sum_t wp[6 t + j] * src[off[t] + i], 6 channels j, T4 outputs i."""
    cdef Py_ssize_t t, i, j
    cdef const numeric* s
    cdef Py_ssize_t T4 = _tile4_width(acc)
    if numeric is float:
        cv_tile6_f32(acc, src, off, wp, ntaps)
    elif numeric is double:
        cv_tile6_f64(acc, src, off, wp, ntaps)
    else:
        for i in range(6 * T4):
            acc[i] = 0
        for t in range(ntaps):
            s = src + off[t]
            for j in range(6):
                for i in range(T4):
                    acc[j * T4 + i] = acc[j * T4 + i] + wp[6 * t + j] * s[i]


cdef inline void _scatter(numeric* oplane, const numeric* acc, Py_ssize_t f, Py_ssize_t f_end,
                          Py_ssize_t Wp, Py_ssize_t OW, const numeric* bias,
                          Py_ssize_t o) noexcept nogil:
    """Store flattened outputs [f, f_end) (row pitch Wp) into a plane of row
    pitch OW, dropping the junk columns ow >= OW."""
    cdef Py_ssize_t f0 = f, oh, ow, seg, cnt
    while f < f_end:
        oh = f // Wp
        ow = f - oh * Wp
        seg = (oh + 1) * Wp
        if seg > f_end:
            seg = f_end
        if ow < OW:
            cnt = OW - ow
            if cnt > seg - f:
                cnt = seg - f
            _store(oplane + oh * OW + ow, acc + (f - f0), cnt, bias, o)
        f = seg


cdef inline void _tile_strided(numeric* acc, const numeric* src, const Py_ssize_t* off,
                               const numeric* w, Py_ssize_t ntaps,
                               Py_ssize_t s) noexcept nogil:
    cdef Py_ssize_t t, i
    cdef numeric wt
    cdef const numeric* p
    for t in range(ntaps):
        p = src + off[t]
        wt = w[t]
        for i in range(TW):
            acc[i] = acc[i] + wt * p[i * s]


cdef inline void _store(numeric* dst, const numeric* acc, Py_ssize_t n,
                        const numeric* bias, Py_ssize_t o) noexcept nogil:
    cdef Py_ssize_t i
    cdef numeric b0
    if bias != NULL:
        b0 = bias[o]
        for i in range(n):
            dst[i] = acc[i] + b0
    else:
        memcpy(dst, acc, n * sizeof(numeric))


cdef inline Py_ssize_t _rows4(numeric* oplane, numeric* acc, const numeric* plane,
                              Py_ssize_t Wp, const numeric* w, Py_ssize_t KH, Py_ssize_t KW,
                              Py_ssize_t rows, Py_ssize_t OW, const numeric* bias,
                              Py_ssize_t o) noexcept nogil:
    """Output rows [0, 4 * (rows // 4)) of one padded plane (rows Wp apart,
    dilation 1) in tiles of four rows x four vectors (cv_tile_rows4) stored
    into oplane (rows OW apart); returns the rows done."""
    cdef Py_ssize_t rr = 0, c0, jj, cnt
    cdef Py_ssize_t T2 = 32 if numeric is float else 16
    while rr + 4 <= rows:
        c0 = 0
        while c0 < OW:
            if numeric is float:
                cv_tile_rows4_f32(acc, plane + rr * Wp + c0, Wp, w, KH, KW)
            elif numeric is double:
                cv_tile_rows4_f64(acc, plane + rr * Wp + c0, Wp, w, KH, KW)
            cnt = OW - c0
            if cnt > T2:
                cnt = T2
            for jj in range(4):
                _store(oplane + (rr + jj) * OW + c0, acc + jj * T2, cnt, bias, o)
            c0 = c0 + T2
        rr = rr + 4
    return rr


cdef int _rows(const numeric* x, const numeric* w, numeric* out, const numeric* bias,
               Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
               Py_ssize_t O, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
               Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
               Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
               Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
               Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
               Py_ssize_t groups, int n_threads) noexcept nogil:
    cdef Py_ssize_t Cg = C // groups
    cdef Py_ssize_t Og = O // groups
    cdef Py_ssize_t n_tiles = (OW + TW - 1) // TW
    cdef Py_ssize_t n_units = N * O * OD * OH * n_tiles
    cdef Py_ssize_t span = (TW - 1) * sw + (KW - 1) * dw + 1
    cdef Py_ssize_t u, t, oh, od, o, n, g, c, kd, kh, idd, ih, ow0, lo, hi, a, b, m
    cdef const numeric* xrow
    cdef const numeric* src
    cdef numeric* acc
    cdef numeric* scratch
    cdef Py_ssize_t per_thread = TW + span
    # Every thread's accumulator and edge scratch in one block, allocated
    # before the parallel region so that a failure is reported.
    cdef numeric* work = <numeric*> malloc(n_threads * per_thread * sizeof(numeric))
    cdef Py_ssize_t* off = <Py_ssize_t*> malloc(KW * sizeof(Py_ssize_t))
    if work == NULL or off == NULL:
        free(work)
        free(off)
        return -1
    for t in range(KW):
        off[t] = t * dw

    with parallel(num_threads=n_threads):
        acc = work + omp_get_thread_num() * per_thread
        scratch = acc + TW
        for u in prange(n_units, schedule='static'):
            t = u % n_tiles
            m = u // n_tiles
            oh = m % OH
            m = m // OH
            od = m % OD
            m = m // OD
            o = m % O
            n = m // O
            g = o // Og
            ow0 = t * TW
            memset(acc, 0, TW * sizeof(numeric))
            lo = ow0 * sw - pw
            hi = lo + span
            for c in range(Cg):
                for kd in range(KD):
                    idd = od * sd + kd * dd - pd
                    if idd < 0 or idd >= D:
                        continue
                    for kh in range(KH):
                        ih = oh * sh + kh * dh - ph
                        if ih < 0 or ih >= H:
                            continue
                        xrow = x + (((n * C + g * Cg + c) * D + idd) * H + ih) * W
                        if lo >= 0 and hi <= W:
                            src = xrow + lo
                        else:
                            # edge tile: zero-extended copy of the span it reads
                            a = 0 if lo >= 0 else -lo
                            b = span if hi <= W else W - lo
                            memset(scratch, 0, span * sizeof(numeric))
                            if b > a:
                                memcpy(scratch + a, xrow + lo + a, (b - a) * sizeof(numeric))
                            src = scratch
                        if sw == 1:
                            _tile(acc, src, off, w + (((o * Cg + c) * KD + kd) * KH + kh) * KW, KW)
                        else:
                            _tile_strided(acc, src, off,
                                          w + (((o * Cg + c) * KD + kd) * KH + kh) * KW, KW, sw)
            b = OW - ow0
            if b > TW:
                b = TW
            _store(out + (((n * O + o) * OD + od) * OH + oh) * OW + ow0, acc, b, bias, o)
    free(work)
    free(off)
    return 0


cdef int _plane(const numeric* x, const numeric* w, numeric* out, const numeric* bias,
                Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                Py_ssize_t O, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
                Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
                Py_ssize_t sd, Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                Py_ssize_t groups, Py_ssize_t BH, int n_threads) noexcept nogil:
    # Stride 1 along H and W (checked by the caller). The output plane is
    # cut into bands of BH rows so that a band's accumulator and padded input
    # stay in L2; a small plane is a single band.
    cdef Py_ssize_t Cg = C // groups
    cdef Py_ssize_t Og = O // groups
    cdef Py_ssize_t Wp = OW + (KW - 1) * dw
    cdef Py_ssize_t Hb = BH + (KH - 1) * dh                # input rows of one band
    cdef Py_ssize_t nq_pad = ((BH * Wp + TW - 1) // TW) * TW
    cdef Py_ssize_t max_off = (KH - 1) * dh * Wp + (KW - 1) * dw
    # the last tile reads up to nq_pad - 1 + max_off: zeroed slack covers it
    cdef Py_ssize_t plane_len = nq_pad + max_off + 1
    if plane_len < Hb * Wp:
        plane_len = Hb * Wp
    cdef Py_ssize_t per_thread = nq_pad + plane_len
    cdef Py_ssize_t n_bands = (OH + BH - 1) // BH
    cdef Py_ssize_t n_units = N * O * OD * n_bands
    cdef Py_ssize_t u, m, n, o, od, g, c, kd, idd, r, ih, q, oh, oh0, rows, nt
    cdef Py_ssize_t c_lo = pw if pw > 0 else 0           # first padded column holding data
    cdef Py_ssize_t iw0 = 0 if pw > 0 else -pw           # first input column used
    cdef Py_ssize_t ncopy = W - iw0
    if ncopy > Wp - c_lo:
        ncopy = Wp - c_lo
    cdef const numeric* xplane
    cdef numeric* acc
    cdef numeric* plane
    cdef numeric* work = <numeric*> malloc(n_threads * per_thread * sizeof(numeric))
    cdef Py_ssize_t* off = <Py_ssize_t*> malloc(KH * KW * sizeof(Py_ssize_t))
    if work == NULL or off == NULL:
        free(work)
        free(off)
        return -1
    for r in range(KH):
        for q in range(KW):
            off[r * KW + q] = r * dh * Wp + q * dw

    with parallel(num_threads=n_threads):
        acc = work + omp_get_thread_num() * per_thread
        plane = acc + nq_pad
        # Padding columns are the same for every band: zero them once; each
        # copy rewrites only the data columns (rows outside the input: zeros).
        memset(plane, 0, plane_len * sizeof(numeric))
        for u in prange(n_units, schedule='static'):
            m = u % n_bands
            oh0 = m * BH
            rows = OH - oh0
            if rows > BH:
                rows = BH
            m = u // n_bands
            od = m % OD
            m = m // OD
            o = m % O
            n = m // O
            g = o // Og
            nt = (rows * Wp + TW - 1) // TW
            memset(acc, 0, nt * TW * sizeof(numeric))
            for c in range(Cg):
                for kd in range(KD):
                    idd = od * sd + kd * dd - pd
                    if idd < 0 or idd >= D:
                        continue
                    if ncopy > 0:
                        xplane = x + ((n * C + g * Cg + c) * D + idd) * H * W + iw0
                        for r in range(rows + (KH - 1) * dh):
                            ih = oh0 + r - ph
                            if ih >= 0 and ih < H:
                                memcpy(plane + r * Wp + c_lo, xplane + ih * W,
                                       ncopy * sizeof(numeric))
                            else:
                                memset(plane + r * Wp + c_lo, 0, ncopy * sizeof(numeric))
                    for q in range(nt):
                        _tile(acc + q * TW, plane + q * TW, off,
                              w + ((o * Cg + c) * KD + kd) * KH * KW, KH * KW)
            for oh in range(rows):
                _store(out + (((n * O + o) * OD + od) * OH + oh0 + oh) * OW, acc + oh * Wp, OW,
                       bias, o)
    free(work)
    free(off)
    return 0


cdef int _stack(const numeric* x, const numeric* w, const numeric* wp, numeric* out,
                const numeric* bias,
                Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                Py_ssize_t O, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
                Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
                Py_ssize_t sd, Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                Py_ssize_t groups, Py_ssize_t BH, Py_ssize_t OB, int n_threads) noexcept nogil:
    # STACK: PLANE with every input plane of a group copied at once, so that
    # one micro-kernel call sums all Cg*KD*KH*KW taps of a tile in registers
    # (no accumulator traffic, one copy serves OB output channels). The tap
    # order (c, kd, kh, kw) is the weight's memory order. Output channels go
    # six at a time through the 6-channel tile, whose weights wp come packed
    # per group as (ceil(Og/6), ntaps, 6) panels (Python pads with zeros).
    cdef Py_ssize_t Cg = C // groups
    cdef Py_ssize_t Og = O // groups
    cdef Py_ssize_t Wp = OW + (KW - 1) * dw
    cdef Py_ssize_t Hb = BH + (KH - 1) * dh
    cdef Py_ssize_t PL = Hb * Wp                           # one padded plane
    cdef Py_ssize_t NP = Cg * KD                           # planes per unit
    cdef Py_ssize_t ntaps = NP * KH * KW
    cdef Py_ssize_t stack_len = NP * PL + TW + (KW - 1) * dw + 1
    cdef Py_ssize_t ACC = 128                              # 6 x 16 tile, 4 x 32 rows tile
    cdef Py_ssize_t per_thread = ACC + stack_len
    cdef Py_ssize_t n_bands = (OH + BH - 1) // BH
    cdef Py_ssize_t P6 = (Og + 5) // 6
    cdef Py_ssize_t n_ob = (Og + OB - 1) // OB
    cdef Py_ssize_t n_units = N * groups * OD * n_bands * n_ob
    cdef Py_ssize_t u, m, n, g, od, ob, o, o_end, c, kd, idd, r, ih, q, oh0, rows, nt, t
    cdef Py_ssize_t f_end, nq, j, T4, rr
    cdef const numeric* wpp
    cdef Py_ssize_t c_lo = pw if pw > 0 else 0
    cdef Py_ssize_t iw0 = 0 if pw > 0 else -pw
    cdef Py_ssize_t ncopy = W - iw0
    if ncopy > Wp - c_lo:
        ncopy = Wp - c_lo
    cdef const numeric* xplane
    cdef numeric* acc
    cdef numeric* stk
    cdef numeric* plane
    cdef numeric* work = <numeric*> malloc(n_threads * per_thread * sizeof(numeric))
    cdef Py_ssize_t* off = <Py_ssize_t*> malloc(ntaps * sizeof(Py_ssize_t))
    if work == NULL or off == NULL:
        free(work)
        free(off)
        return -1
    for t in range(NP):
        for r in range(KH):
            for q in range(KW):
                off[(t * KH + r) * KW + q] = t * PL + r * dh * Wp + q * dw

    with parallel(num_threads=n_threads):
        acc = work + omp_get_thread_num() * per_thread
        stk = acc + ACC
        memset(stk, 0, stack_len * sizeof(numeric))
        for u in prange(n_units, schedule='static'):
            ob = u % n_ob
            m = u // n_ob
            oh0 = (m % n_bands) * BH
            m = m // n_bands
            od = m % OD
            m = m // OD
            g = m % groups
            n = m // groups
            rows = OH - oh0
            if rows > BH:
                rows = BH
            # copy the band of every input plane of the group (zeros outside)
            for c in range(Cg):
                for kd in range(KD):
                    plane = stk + (c * KD + kd) * PL
                    idd = od * sd + kd * dd - pd
                    if ncopy <= 0:
                        continue
                    xplane = x + ((n * C + g * Cg + c) * D + idd) * H * W + iw0
                    for r in range(rows + (KH - 1) * dh):
                        ih = oh0 + r - ph
                        if idd >= 0 and idd < D and ih >= 0 and ih < H:
                            memcpy(plane + r * Wp + c_lo, xplane + ih * W,
                                   ncopy * sizeof(numeric))
                        else:
                            memset(plane + r * Wp + c_lo, 0, ncopy * sizeof(numeric))
            T4 = _tile4_width(acc)
            nt = (rows * Wp + T4 - 1) // T4
            o_end = (ob + 1) * OB
            if o_end > Og:
                o_end = Og
            o_end = g * Og + o_end
            # OB is a multiple of 6 (or all of Og), so sextets start at 6*k in the group
            for o in range(g * Og + ob * OB, o_end, 6):
                nq = o_end - o
                if nq > 6:
                    nq = 6
                if nq <= 3:
                    # one to three channels: the 1-channel tile (4x wider) per
                    # channel wastes nothing, where the 6-channel tile would
                    # compute at least half its lanes for nothing
                    for j in range(nq):
                        rr = 0
                        if (numeric is float or numeric is double) and NP == 1 \
                                and dh == 1 and dw == 1:
                            # one plane: four output rows a tile, each input
                            # vector loaded once for the rows it reaches
                            rr = _rows4(out + (((n * O + o + j) * OD + od) * OH + oh0) * OW,
                                        acc, stk, Wp, w + (o + j) * ntaps, KH, KW, rows, OW,
                                        bias, o + j)
                        for q in range(((rows - rr) * Wp + TW - 1) // TW):
                            _tile(acc, stk + rr * Wp + q * TW, off, w + (o + j) * ntaps,
                                  ntaps, 1)
                            f_end = (q + 1) * TW
                            if f_end > (rows - rr) * Wp:
                                f_end = (rows - rr) * Wp
                            _scatter(out + (((n * O + o + j) * OD + od) * OH + oh0 + rr) * OW,
                                     acc, q * TW, f_end, Wp, OW, bias, o + j)
                    continue
                wpp = wp + (g * P6 + (o - g * Og) // 6) * ntaps * 6
                for q in range(nt):
                    _tile6(acc, stk + q * T4, off, wpp, ntaps)
                    f_end = (q + 1) * T4
                    if f_end > rows * Wp:
                        f_end = rows * Wp
                    for j in range(nq):
                        _scatter(out + (((n * O + o + j) * OD + od) * OH + oh0) * OW,
                                 acc + j * T4, q * T4, f_end, Wp, OW, bias, o + j)
    free(work)
    free(off)
    return 0


def correlate(const numeric[:, :, :, :, ::1] x, const numeric[:, :, :, :, ::1] w,
              numeric[:, :, :, :, ::1] out, bias, tuple stride, tuple dilation,
              tuple pad, Py_ssize_t groups, int n_threads, int path=0,
              Py_ssize_t band_rows=0, Py_ssize_t out_block=1, wpack=None):
    """Direct correlation on 5-D blocks; see the module comment. Trusts its inputs.

    STACK needs `wpack`, the weights packed by convolve._engine.pack6
    (groups, ceil(Og/6), Cg*KD*KH*KW, 6), and `out_block` a multiple of 6 or
    at least O/groups."""
    cdef const numeric[::1] b
    cdef const numeric* bp = NULL
    cdef const numeric[:, :, :, ::1] wpk
    cdef const numeric* wpp = NULL
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef int err
    if out.size == 0:
        return
    if bias is not None:
        b = bias
        bp = &b[0]
    if path != ROWS and (sh != 1 or sw != 1):
        raise ValueError("PLANE and STACK paths need stride 1 along H and W")
    if band_rows <= 0:
        band_rows = out.shape[3]
    if path == STACK:
        if wpack is None:
            raise ValueError("the STACK path needs the packed weights")
        wpk = wpack
        wpp = &wpk[0, 0, 0, 0]
    with nogil:
        if path == STACK:
            err = _stack(&x[0, 0, 0, 0, 0], &w[0, 0, 0, 0, 0], wpp, &out[0, 0, 0, 0, 0], bp,
                         x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4],
                         w.shape[0], w.shape[2], w.shape[3], w.shape[4],
                         out.shape[2], out.shape[3], out.shape[4],
                         sd, dd, dh, dw, pd, ph, pw, groups, band_rows, out_block, n_threads)
        elif path == PLANE:
            err = _plane(&x[0, 0, 0, 0, 0], &w[0, 0, 0, 0, 0], &out[0, 0, 0, 0, 0], bp,
                         x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4],
                         w.shape[0], w.shape[2], w.shape[3], w.shape[4],
                         out.shape[2], out.shape[3], out.shape[4],
                         sd, dd, dh, dw, pd, ph, pw, groups,
                         band_rows, n_threads)
        else:
            err = _rows(&x[0, 0, 0, 0, 0], &w[0, 0, 0, 0, 0], &out[0, 0, 0, 0, 0], bp,
                        x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4],
                        w.shape[0], w.shape[2], w.shape[3], w.shape[4],
                        out.shape[2], out.shape[3], out.shape[4],
                        sd, sh, sw, dd, dh, dw, pd, ph, pw, groups, n_threads)
    if err:
        raise MemoryError("convolve: could not allocate the kernel's workspace")
