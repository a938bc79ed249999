# Winograd F(2x2, 3x3) correlation (Lavin & Gray 2016) for 3x3, stride-1,
# dilation-1, ungrouped 2-D layers: the channel-heavy case of CNNs.
#
#   out[n, k, 2ty + p, 2tx + q] = bias[k] + (A^T M A)[p, q],
#   M[xi] = sum_c U[xi, k, c] * V[xi, c, tile],    xi = (a, b) in 4 x 4,
#   U = G w G^T (Python, convolve/_winograd.py),   V = B^T d B,
#
# d the 4x4 input patch of the tile (rows 2ty - ph .., cols 2tx - pw .., read
# as zero outside the input). 16 multiplies per 2x2 outputs and channel pair
# instead of 36: the 16 batched products M[xi] = U[xi] @ V[xi] are GEMMs of
# (K x C) by (C x tiles), run on the 6 x 16 register-blocked micro-kernel of
# _gemm_kernels.h.
#
# Work is split into blocks of TB consecutive tiles (tiles numbered over the
# whole batch, so small images still fill blocks). A block is transformed,
# multiplied and transformed back by one thread in its own workspace
# (V: 16 x C x TB, M: 16 x Kp x TB, sized by Python to stay near L2), so
# each output is computed by one thread in a fixed order: results are
# bitwise identical for any thread count.
#
# All coefficients of B, G and A are 0, +-1 and 1/2 (exact in binary), so
# the error is that of the additions: measured in docs/guide/engine.rst.

from cython.parallel cimport parallel, prange
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from _types cimport real
from _openmp cimport omp_get_thread_num

cdef extern from "_gemm_kernels.h" nogil:
    void cv_gemm6_f32(float* c, Py_ssize_t ldc, const float* a, const float* b, Py_ssize_t K)
    void cv_gemm6_f64(double* c, Py_ssize_t ldc, const double* a, const double* b,
                      Py_ssize_t K)
    double cv_wino_in_f32(const float* s, Py_ssize_t W, float* v, Py_ssize_t plane)
    double cv_wino_in_f64(const double* s, Py_ssize_t W, double* v, Py_ssize_t plane)
    void cv_wino_out_f32(const float* m, Py_ssize_t plane, float b, float* o, Py_ssize_t OW)
    void cv_wino_out_f64(const double* m, Py_ssize_t plane, double b, double* o,
                         Py_ssize_t OW)
    enum:
        CV_GEMM_MR
        CV_GEMM_JW_F32
        CV_GEMM_JW_F64
        CV_WINO_VECTOR


cdef inline Py_ssize_t _jw(real* dummy) noexcept nogil:
    if real is float:
        return CV_GEMM_JW_F32
    else:
        return CV_GEMM_JW_F64


cdef inline void _gemm6(real* c, Py_ssize_t ldc, const real* a, const real* b,
                        Py_ssize_t K) noexcept nogil:
    if real is float:
        cv_gemm6_f32(c, ldc, a, b, K)
    else:
        cv_gemm6_f64(c, ldc, a, b, K)


cdef inline double _input_block(const real* x, real* V, const Py_ssize_t* tin,
                                const int* tedge, const Py_ssize_t* tpos,
                                Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                                Py_ssize_t nt, Py_ssize_t JB, Py_ssize_t JW) noexcept nogil:
    """V[xi][jb][c][jl] = (B^T d B)[xi] of tile j = jb*JW + jl, channel c.

    tin[j] is the offset of the patch's top-left corner in channel 0, (row,
    col) = tpos[2j:2j+2]; tedge[j] marks patches that cross the plane's edge
    (their corner may lie outside). Tiles nt.. of the last group are zero.
    Returns the sum of all transformed values, finite iff the input was."""
    cdef Py_ssize_t plane = JB * C * JW, HW = H * W
    cdef Py_ssize_t c, j, i, q, r0, c0, base
    cdef real d[16]
    cdef real t[16]
    cdef real* v
    cdef const real* s
    cdef double chk = 0
    cdef Py_ssize_t L = _jw(<real*> NULL) // 2, last
    for c in range(C):
        j = 0
        while j < nt:
            last = j + L - 1
            if (CV_WINO_VECTOR and j % L == 0 and last < nt and not tedge[j]
                    and not tedge[last] and tin[last] == tin[j] + 2 * (L - 1)
                    and tpos[2 * last] == tpos[2 * j]):
                # L interior tiles of one tile row: vectors across tiles
                if real is float:
                    chk += cv_wino_in_f32(x + c * HW + tin[j], W,
                                          V + ((j // JW) * C + c) * JW + j % JW, plane)
                else:
                    chk += cv_wino_in_f64(x + c * HW + tin[j], W,
                                          V + ((j // JW) * C + c) * JW + j % JW, plane)
                j += L
                continue
            s = x + c * HW + tin[j]
            if not tedge[j]:
                for i in range(4):
                    for q in range(4):
                        d[4 * i + q] = s[i * W + q]
            else:
                # the patch's corner (r0, c0) in the plane; rows/cols outside are 0
                for i in range(16):
                    d[i] = 0
                r0 = tpos[2 * j]
                c0 = tpos[2 * j + 1]
                for i in range(4):
                    if r0 + i < 0 or r0 + i >= H:
                        continue
                    for q in range(4):
                        if c0 + q < 0 or c0 + q >= W:
                            continue
                        d[4 * i + q] = s[i * W + q]
            # rows: t[a][q] = (B^T d)[a][q]
            for q in range(4):
                t[q] = d[q] - d[8 + q]
                t[4 + q] = d[4 + q] + d[8 + q]
                t[8 + q] = d[8 + q] - d[4 + q]
                t[12 + q] = d[4 + q] - d[12 + q]
            # columns: v[a][b] = (t B)[a][b]
            base = ((j // JW) * C + c) * JW + j % JW
            v = V + base
            for i in range(4):
                v[(4 * i + 0) * plane] = t[4 * i + 0] - t[4 * i + 2]
                v[(4 * i + 1) * plane] = t[4 * i + 1] + t[4 * i + 2]
                v[(4 * i + 2) * plane] = t[4 * i + 2] - t[4 * i + 1]
                v[(4 * i + 3) * plane] = t[4 * i + 1] - t[4 * i + 3]
                chk += t[4 * i + 0] + t[4 * i + 1] + t[4 * i + 2] + t[4 * i + 3]
            j += 1
        for j in range(nt, JB * JW):
            base = ((j // JW) * C + c) * JW + j % JW
            for i in range(16):
                V[i * plane + base] = 0
    return chk


cdef inline void _output_block(const real* M, real* out, const real* bias,
                               const Py_ssize_t* tout, const int* tlim,
                               Py_ssize_t K, Py_ssize_t Kp, Py_ssize_t OHW, Py_ssize_t OW,
                               Py_ssize_t nt, Py_ssize_t TBp) noexcept nogil:
    """out[tile 2x2] = A^T M A (+ bias) for every output channel k < K."""
    cdef Py_ssize_t k, j, a, plane = Kp * TBp
    cdef real m[16]
    cdef real s0[4]
    cdef real s1[4]
    cdef real b, y00, y01, y10, y11
    cdef real* o
    cdef const real* src
    cdef Py_ssize_t L = _jw(<real*> NULL) // 2, last
    for k in range(K):
        b = bias[k] if bias != NULL else 0
        src = M + k * TBp
        j = 0
        while j < nt:
            last = j + L - 1
            if (CV_WINO_VECTOR and j % L == 0 and last < nt and tlim[last] == 3
                    and tout[last] == tout[j] + 2 * (L - 1)):
                # L tiles of one tile row, all 2x2 outputs inside: vector stores
                if real is float:
                    cv_wino_out_f32(src + j, plane, b, out + k * OHW + tout[j], OW)
                else:
                    cv_wino_out_f64(src + j, plane, b, out + k * OHW + tout[j], OW)
                j += L
                continue
            for a in range(16):
                m[a] = src[a * plane + j]
            for a in range(4):
                s0[a] = m[a] + m[4 + a] + m[8 + a]
                s1[a] = m[4 + a] - m[8 + a] - m[12 + a]
            y00 = s0[0] + s0[1] + s0[2] + b
            y01 = s0[1] - s0[2] - s0[3] + b
            y10 = s1[0] + s1[1] + s1[2] + b
            y11 = s1[1] - s1[2] - s1[3] + b
            o = out + k * OHW + tout[j]
            o[0] = y00
            if tlim[j] & 1:
                o[1] = y01
            if tlim[j] & 2:
                o[OW] = y10
                if tlim[j] & 1:
                    o[OW + 1] = y11
            j += 1


cdef int _winograd(const real* x, const real* U, real* out, const real* bias,
                   Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                   Py_ssize_t K, Py_ssize_t Kp, Py_ssize_t OH, Py_ssize_t OW,
                   Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t TB, int n_threads) noexcept nogil:
    cdef Py_ssize_t JW = _jw(<real*> NULL)
    cdef Py_ssize_t TX = (OW + 1) // 2, TY = (OH + 1) // 2
    cdef Py_ssize_t TPI = TX * TY, T = N * TPI
    cdef Py_ssize_t n_blocks = (T + TB - 1) // TB
    cdef Py_ssize_t JBmax = (TB + JW - 1) // JW
    cdef Py_ssize_t TBp = JBmax * JW
    cdef Py_ssize_t vsz = 16 * C * TBp, msz = 16 * Kp * TBp
    cdef Py_ssize_t per_thread = vsz + msz
    cdef Py_ssize_t blk, t0, nt, JB, j, t, n, r, ty, tx, iy, ix, xi, kp, jb
    cdef Py_ssize_t n_panels = Kp // CV_GEMM_MR
    cdef real* V
    cdef real* M
    cdef Py_ssize_t* tin
    cdef Py_ssize_t* tout
    cdef Py_ssize_t* tpos
    cdef int* tedge
    cdef int* tlim
    cdef double chk
    cdef int bad = 0
    cdef real* work = <real*> malloc(n_threads * per_thread * sizeof(real))
    cdef Py_ssize_t* meta = <Py_ssize_t*> malloc(n_threads * 4 * TBp * sizeof(Py_ssize_t))
    cdef int* flags = <int*> malloc(n_threads * 2 * TBp * sizeof(int))
    if work == NULL or meta == NULL or flags == NULL:
        free(work)
        free(meta)
        free(flags)
        return -1
    with parallel(num_threads=n_threads):
        V = work + omp_get_thread_num() * per_thread
        M = V + vsz
        tin = meta + omp_get_thread_num() * 4 * TBp
        tout = tin + TBp
        tpos = tout + TBp
        tedge = flags + omp_get_thread_num() * 2 * TBp
        tlim = tedge + TBp
        for blk in prange(n_blocks, schedule='dynamic'):
            t0 = blk * TB
            nt = T - t0
            if nt > TB:
                nt = TB
            JB = (nt + JW - 1) // JW
            for j in range(nt):
                t = t0 + j
                n = t // TPI
                r = t - n * TPI
                ty = r // TX
                tx = r - ty * TX
                iy = 2 * ty - ph
                ix = 2 * tx - pw
                tin[j] = (n * C * H + iy) * W + ix
                tpos[2 * j] = iy
                tpos[2 * j + 1] = ix
                tedge[j] = not (iy >= 0 and iy + 4 <= H and ix >= 0 and ix + 4 <= W)
                tout[j] = (n * K * OH + 2 * ty) * OW + 2 * tx
                tlim[j] = (2 * tx + 1 < OW) | ((2 * ty + 1 < OH) << 1)
            chk = _input_block(x, V, tin, tedge, tpos, C, H, W, nt, JB, JW)
            if not (chk - chk == 0):
                bad += 1
            for xi in range(16):
                for kp in range(n_panels):
                    for jb in range(JB):
                        _gemm6(M + (xi * Kp + kp * CV_GEMM_MR) * TBp + jb * JW, TBp,
                               U + (xi * n_panels + kp) * C * CV_GEMM_MR,
                               V + (xi * JB * C + jb * C) * JW, C)
            _output_block(M, out, bias, tout, tlim, K, Kp, OH * OW, OW, nt, TBp)
    free(work)
    free(meta)
    free(flags)
    return 1 if bad else 0


def correlate3x3(const real[:, :, :, ::1] x, const real[:, :, :, ::1] u,
                 real[:, :, :, ::1] out, bias, Py_ssize_t ph, Py_ssize_t pw,
                 Py_ssize_t tile_block, int n_threads):
    """out = correlation of x (N, C, H, W) with the 3x3 kernel whose Winograd
    transform, packed by convolve._winograd.pack_weight, is u (16, Kp/6, C, 6).

    Returns False (out partly written) when the input holds inf or NaN, which
    the transforms would smear over neighbouring outputs: the caller then
    runs the direct kernel. Trusts its inputs otherwise."""
    cdef const real[::1] b
    cdef const real* bp = NULL
    cdef int err
    if out.size == 0:
        return True
    if bias is not None:
        b = bias
        bp = &b[0]
    with nogil:
        err = _winograd(&x[0, 0, 0, 0], &u[0, 0, 0, 0], &out[0, 0, 0, 0], bp,
                        x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                        out.shape[1], u.shape[1] * CV_GEMM_MR, out.shape[2], out.shape[3],
                        ph, pw, tile_block, n_threads)
    if err < 0:
        raise MemoryError("convolve: could not allocate the Winograd workspace")
    return err == 0
