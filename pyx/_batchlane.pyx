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

from _types cimport real
from _openmp cimport omp_get_thread_num

cdef extern from "_microkernels.h" nogil:
    void cv_tile6_f32(float* acc, const float* src, const Py_ssize_t* off,
                      const float* wp, Py_ssize_t ntaps)
    void cv_tile6_f64(double* acc, const double* src, const Py_ssize_t* off,
                      const double* wp, Py_ssize_t ntaps)


cdef inline Py_ssize_t _t4(real* dummy) noexcept nogil:
    if real is float:
        return 16
    else:
        return 8


def correlate(const real[:, :, :, :, ::1] xt, const real[:, :, :, ::1] wpack,
              real[:, :, :, :, ::1] outt, bias, tuple kernel, tuple stride,
              tuple dilation, Py_ssize_t groups, int n_threads):
    """outT (O, OD, OH, OW, Np) from xT (C, Dp, Hp, Wp, Np) and the weights
    packed by convolve._engine.pack6; Np a multiple of 16 (float32) or 8
    (float64). Trusts its inputs."""
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
    cdef Py_ssize_t u, m, nb, g, p, od, oh, ow, c, kd, kh, kw, j, i, o, nq
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
                    off[((c * KD + kd) * KH + kh) * KW + kw] = \
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
            for ow in range(OW):
                src = x + (((g * Cg * Dp + od * sd) * Hp + oh * sh) * Wp + ow * sw) * Np + nb * T4
                if real is float:
                    cv_tile6_f32(acc, src, off, wp + (g * P6 + p) * T * 6, T)
                else:
                    cv_tile6_f64(acc, src, off, wp + (g * P6 + p) * T * 6, T)
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
