# Direct weight gradient of a stride-1 correlation, for layers with few
# channels per group (depthwise, the first layers of a CNN), where the GEMM
# formulation of convolve/_conv_grad.py degenerates into many tiny products:
#
#   part[q, o, c, kd, kh, kw] = sum_{n in chunk q} sum_{od, oh, ow}
#       gy[n, o, od, oh, ow] * xp[n, g*Cg + c, od + kd*dd, oh + kh*dh, ow + kw*dw]
#
# Each (n, o, od) term is a dot product of the gy plane (OH rows of OW) with
# the input plane shifted by the tap's offset (row pitch W), vector
# accumulators carried across rows (_gemm_kernels.h). Units (q, o, c, kd,
# kernel rows, run of kw) own their outputs and sum in a fixed order; the chunks q are
# fixed by Python (not by the thread count) and summed in order afterwards:
# results are bitwise identical for any thread count. Only elements inside
# the windows are read.

from cython.parallel cimport parallel, prange
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from _openmp cimport omp_get_thread_num

from _types cimport real

cdef extern from "_gemm_kernels.h" nogil:
    float cv_dot_f32(const float* a, Py_ssize_t lda, const float* b, Py_ssize_t ldb,
                     Py_ssize_t rows, Py_ssize_t cols)
    double cv_dot_f64(const double* a, Py_ssize_t lda, const double* b, Py_ssize_t ldb,
                      Py_ssize_t rows, Py_ssize_t cols)
    void cv_dotk_f32(const float* a, Py_ssize_t lda, const float* b, Py_ssize_t ldb,
                     Py_ssize_t bstep, Py_ssize_t rows, Py_ssize_t cols, int K, float* res)
    void cv_dotk_f64(const double* a, Py_ssize_t lda, const double* b, Py_ssize_t ldb,
                     Py_ssize_t bstep, Py_ssize_t rows, Py_ssize_t cols, int K, double* res)


cdef inline real _dot(const real* a, Py_ssize_t lda, const real* b, Py_ssize_t ldb,
                      Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    if real is float:
        return cv_dot_f32(a, lda, b, ldb, rows, cols)
    else:
        return cv_dot_f64(a, lda, b, ldb, rows, cols)


cdef inline void _dotk(const real* a, Py_ssize_t lda, const real* b, Py_ssize_t ldb,
                       Py_ssize_t bstep, Py_ssize_t rows, Py_ssize_t cols, int K,
                       real* res) noexcept nogil:
    if real is float:
        cv_dotk_f32(a, lda, b, ldb, bstep, rows, cols, K, res)
    else:
        cv_dotk_f64(a, lda, b, ldb, bstep, rows, cols, K, res)


cdef enum:
    ROWBUF_BYTES = 256 * 1024   # per-thread padded-row buffer (see `padded` below)


def weight_grad(const real[:, :, :, :, ::1] xp, const real[:, :, :, :, ::1] gy,
                real[:, :, :, :, :, ::1] part, Py_ssize_t groups, tuple dilation,
                int n_threads, tuple pad=(0, 0, 0)):
    """part (Q, O, Cg, KD, KH, KW) from x (N, C, D, H, W), read as zero
    outside its bounds with `pad` leading zeros per axis (implicit padding,
    no padded copy), and gy (N, O, OD, OH, OW); images split into Q equal
    consecutive chunks. Each tap's dot product runs over the outputs whose
    input lies inside x: the rows and columns common to the run's taps in
    one shared-load kernel call, each tap's remaining edge columns apart."""
    cdef Py_ssize_t N = xp.shape[0], C = xp.shape[1], D = xp.shape[2]
    cdef Py_ssize_t H = xp.shape[3], W = xp.shape[4]
    cdef Py_ssize_t O = gy.shape[1], OD = gy.shape[2], OH = gy.shape[3], OW = gy.shape[4]
    cdef Py_ssize_t Q = part.shape[0], Cg = part.shape[2]
    cdef Py_ssize_t KD = part.shape[3], KH = part.shape[4], KW = part.shape[5]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t Og = O // groups, per = (N + Q - 1) // Q
    cdef Py_ssize_t idd, oh_lo, oh_hi, lo_i, hi_i, own_lo, own_hi, e_lo, e_hi, r, j, kw
    cdef Py_ssize_t kh0, ih_lo, ih_hi
    cdef const real* grow
    cdef const real* xrow
    cdef const real* xplane
    # Padded rows: when implicit padding clips the taps' columns (pw > 0, or
    # the last taps reaching past the input), each image's rows are copied
    # into a per-thread zero-bordered buffer of pitch Wb and every tap runs
    # over the full output width in vectors; without it the columns common
    # to the run shrink (54 of 56 for a padded 3x3) and each tap's edge
    # columns run as scalar chains, more than half the time of depthwise
    # layers. Buffers up to ROWBUF_BYTES per thread. A unit then takes every
    # kernel row (RK = KH): the plane is copied once and its dot products for
    # all KH x KW taps read it (and the gy plane) from L1; one unit per kernel
    # row had copied and read each plane KH times (dw56's weight gradient,
    # alternating builds, 2 threads: 0.85-1.07 -> 0.78-0.84 ms).
    cdef Py_ssize_t Wb = OW + (KW - 1) * dw
    cdef Py_ssize_t RB = OH + (KH - 1) * dh
    cdef bint padded = (pw >= 0 and (pw > 0 or W + pw < Wb) and RB * Wb * <Py_ssize_t> sizeof(real)
                        <= ROWBUF_BYTES)
    cdef Py_ssize_t RK = KH if padded else 1
    # units: (chunk, o, c, kd, RK kernel rows, run of up to KB taps along the
    # kernel row), the run's dot products sharing each load of gy (cv_dotk)
    cdef Py_ssize_t KB = 7
    cdef Py_ssize_t n_runs = (KW + KB - 1) // KB
    cdef Py_ssize_t n_units = Q * O * Cg * KD * (KH // RK) * n_runs
    cdef Py_ssize_t u, m, q, o, c, kd, kh, kr, kw0, cnt, n, od, n_end, t
    cdef real* acc          # per thread: KB partial and RK x KB running sums
    cdef real* tot
    cdef real* work
    cdef real* rbuf
    cdef const real* xb
    cdef const real* gb
    cdef real* pb
    cdef Py_ssize_t per_thread = KB + RK * KB + (RB * Wb if padded else 0)
    cdef Py_ssize_t ncp = W if W < Wb - pw else Wb - pw
    if n_units == 0 or N == 0 or OD * OH * OW == 0:
        return
    xb = &xp[0, 0, 0, 0, 0]
    gb = &gy[0, 0, 0, 0, 0]
    pb = &part[0, 0, 0, 0, 0, 0]
    work = <real*> malloc(n_threads * per_thread * sizeof(real))
    if work == NULL:
        raise MemoryError("convolve: could not allocate the weight-gradient workspace")
    with nogil, parallel(num_threads=n_threads):
        acc = work + omp_get_thread_num() * per_thread
        tot = acc + KB
        rbuf = tot + RK * KB
        for u in prange(n_units, schedule='dynamic'):
            m = u
            kr = m % n_runs
            m = m // n_runs
            kh0 = (m % (KH // RK)) * RK
            m = m // (KH // RK)
            kd = m % KD
            m = m // KD
            c = m % Cg
            m = m // Cg
            o = m % O
            q = m // O
            kw0 = kr * KB
            cnt = KW - kw0
            if cnt > KB:
                cnt = KB
            for t in range(RK * KB):
                tot[t] = 0
            n_end = min(N, (q + 1) * per)
            # columns inside x for every tap of the run (the first tap bounds
            # the start, the last the end)
            lo_i = pw - kw0 * dw
            if lo_i < 0:
                lo_i = 0
            hi_i = W + pw - (kw0 + cnt - 1) * dw
            if hi_i > OW:
                hi_i = OW
            # input rows any of the unit's kernel rows reads
            ih_lo = kh0 * dh - ph
            if ih_lo < 0:
                ih_lo = 0
            ih_hi = OH + (kh0 + RK - 1) * dh - ph
            if ih_hi > H:
                ih_hi = H
            for n in range(q * per, n_end):
                for od in range(OD):
                    idd = od + kd * dd - pd
                    if idd < 0 or idd >= D or ih_hi <= ih_lo:
                        continue
                    xplane = xb + ((n * C + (o // Og) * Cg + c) * D + idd) * H * W
                    if padded:
                        # buffer row r, column b: input row ih_lo + r, column b - pw
                        for r in range(ih_hi - ih_lo):
                            memset(rbuf + r * Wb, 0, pw * sizeof(real))
                            if ncp > 0:
                                memcpy(rbuf + r * Wb + pw, xplane + (ih_lo + r) * W,
                                       ncp * sizeof(real))
                                memset(rbuf + r * Wb + pw + ncp, 0,
                                       (Wb - pw - ncp) * sizeof(real))
                            else:
                                memset(rbuf + r * Wb + pw, 0, (Wb - pw) * sizeof(real))
                    for kh in range(kh0, kh0 + RK):
                        # output rows whose input row oh + kh*dh - ph lies inside x
                        oh_lo = ph - kh * dh
                        if oh_lo < 0:
                            oh_lo = 0
                        oh_hi = H + ph - kh * dh
                        if oh_hi > OH:
                            oh_hi = OH
                        if oh_hi <= oh_lo:
                            continue
                        grow = gb + (((n * O + o) * OD + od) * OH + oh_lo) * OW
                        if padded:
                            _dotk(grow, OW, rbuf + (oh_lo + kh * dh - ph - ih_lo) * Wb
                                  + kw0 * dw, Wb, dw, oh_hi - oh_lo, OW, <int> cnt, acc)
                            for t in range(cnt):
                                tot[(kh - kh0) * KB + t] = tot[(kh - kh0) * KB + t] + acc[t]
                            continue
                        xrow = xplane + (oh_lo + kh * dh - ph) * W
                        if hi_i > lo_i:
                            _dotk(grow + lo_i, OW, xrow + lo_i + kw0 * dw - pw, W, dw,
                                  oh_hi - oh_lo, hi_i - lo_i, <int> cnt, acc)
                            for t in range(cnt):
                                tot[t] = tot[t] + acc[t]
                        for t in range(cnt):
                            # this tap's own columns outside the shared range
                            kw = kw0 + t
                            own_lo = pw - kw * dw
                            if own_lo < 0:
                                own_lo = 0
                            own_hi = W + pw - kw * dw
                            if own_hi > OW:
                                own_hi = OW
                            e_lo = own_lo
                            e_hi = own_hi
                            if hi_i > lo_i:
                                e_hi = lo_i if lo_i < own_hi else own_hi
                            for r in range(oh_hi - oh_lo):
                                for j in range(e_lo, e_hi):
                                    tot[t] = tot[t] + grow[r * OW + j] * xrow[r * W + j + kw * dw - pw]
                            if hi_i > lo_i:
                                e_lo = hi_i if hi_i > own_lo else own_lo
                                for r in range(oh_hi - oh_lo):
                                    for j in range(e_lo, own_hi):
                                        tot[t] = tot[t] + grow[r * OW + j] * xrow[r * W + j + kw * dw - pw]
            for kh in range(kh0, kh0 + RK):
                for t in range(cnt):
                    pb[((((q * O + o) * Cg + c) * KD + kd) * KH + kh) * KW + kw0 + t] = \
                        tot[(kh - kh0) * KB + t]
    free(work)
