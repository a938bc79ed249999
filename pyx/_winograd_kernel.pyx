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
# Work is split into blocks of R tile rows of one image. A block's input rows
# are first copied into a zero-padded strip (so every tile is interior), and
# each tile row is numbered with TXp = TX rounded up to the vector width L,
# so the input transform runs on L tiles at once (vectors across tiles,
# _gemm_kernels.h) with no edge cases; tiles tx >= TX are computed and
# dropped. A block is transformed, multiplied and transformed back by one
# thread in its own workspace (strip, V: 16 x C x TB, M: 16 x Kp x TB, sized
# by Python to stay near L2), so each output is computed by one thread in a
# fixed order: results are bitwise identical for any thread count.
#
# All coefficients of B, G and A are 0, +-1 and 1/2 (exact in binary), so
# the error is that of the additions: measured in docs/guide/engine.rst.

from cython.parallel cimport parallel, prange
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy

from _types cimport real
from _gemm cimport CV_GEMM_MR, _gemm6, _jw
from _openmp cimport omp_get_thread_num

cdef extern from "_gemm_kernels.h" nogil:
    double cv_wino_in_f32(const float* s, Py_ssize_t W, float* v, Py_ssize_t plane)
    double cv_wino_in_f64(const double* s, Py_ssize_t W, double* v, Py_ssize_t plane)
    void cv_wino_out_f32(const float* m, Py_ssize_t plane, float b, float* o, Py_ssize_t OW)
    void cv_wino_out_f64(const double* m, Py_ssize_t plane, double b, double* o,
                         Py_ssize_t OW)
    enum:
        CV_WINO_VECTOR


cdef inline double _in_scalar(const real* s, Py_ssize_t W, real* v, Py_ssize_t plane,
                              Py_ssize_t L) noexcept nogil:
    """The vector input transform of L tiles, one tile at a time (builds
    without vector extensions)."""
    cdef Py_ssize_t l, i, q
    cdef real d[16]
    cdef real t[16]
    cdef double chk = 0
    for l in range(L):
        for i in range(4):
            for q in range(4):
                d[4 * i + q] = s[i * W + 2 * l + q]
        for q in range(4):
            t[q] = d[q] - d[8 + q]
            t[4 + q] = d[4 + q] + d[8 + q]
            t[8 + q] = d[8 + q] - d[4 + q]
            t[12 + q] = d[4 + q] - d[12 + q]
        for i in range(4):
            v[(4 * i + 0) * plane + l] = t[4 * i + 0] - t[4 * i + 2]
            v[(4 * i + 1) * plane + l] = t[4 * i + 1] + t[4 * i + 2]
            v[(4 * i + 2) * plane + l] = t[4 * i + 2] - t[4 * i + 1]
            v[(4 * i + 3) * plane + l] = t[4 * i + 1] - t[4 * i + 3]
            chk += t[4 * i + 0] + t[4 * i + 1] + t[4 * i + 2] + t[4 * i + 3]
    return chk


cdef inline double _input_block(const real* strip, real* V, Py_ssize_t C, Py_ssize_t SH,
                                Py_ssize_t SW, Py_ssize_t nr, Py_ssize_t TXp,
                                Py_ssize_t TBp, Py_ssize_t JW) noexcept nogil:
    """V[xi][jb][c][jl] = (B^T d B)[xi] of tile j = jb*JW + jl = r*TXp + tx,
    whose patch starts at row 2r, column 2tx of the strip; tiles nr*TXp..TBp
    are zero. Returns the sum of all results, finite iff the input was."""
    cdef Py_ssize_t plane = (TBp // JW) * C * JW, L = JW // 2
    cdef Py_ssize_t c, r, g, j, i, nt = nr * TXp
    cdef double chk = 0
    cdef const real* src
    cdef real* dst
    for c in range(C):
        for r in range(nr):
            for g in range(TXp // L):
                j = r * TXp + g * L
                src = strip + (c * SH + 2 * r) * SW + 2 * g * L
                dst = V + ((j // JW) * C + c) * JW + j % JW
                if not CV_WINO_VECTOR:
                    chk += _in_scalar(src, SW, dst, plane, L)
                elif real is float:
                    chk += cv_wino_in_f32(src, SW, dst, plane)
                else:
                    chk += cv_wino_in_f64(src, SW, dst, plane)
        j = nt
        while j < TBp:
            dst = V + ((j // JW) * C + c) * JW + j % JW
            for i in range(16):
                memset(dst + i * plane, 0, L * sizeof(real))
            j += L
    return chk


cdef inline void _output_block(const real* M, real* out, const real* bias,
                               Py_ssize_t K, Py_ssize_t Kp, Py_ssize_t OH, Py_ssize_t OW,
                               Py_ssize_t TX, Py_ssize_t TXp, Py_ssize_t ty0, Py_ssize_t nr,
                               Py_ssize_t TBp, Py_ssize_t L) noexcept nogil:
    """out[k, 2ty + p, 2tx + q] = (A^T M A)[p, q] (+ bias) for the block's tiles."""
    cdef Py_ssize_t k, r, g, j, a, tx, oy, ox, plane = Kp * TBp
    cdef real m[16]
    cdef real s0[4]
    cdef real s1[4]
    cdef real b, y00, y01, y10, y11
    cdef real* o
    cdef const real* src
    for k in range(K):
        b = bias[k] if bias != NULL else 0
        src = M + k * TBp
        for r in range(nr):
            oy = 2 * (ty0 + r)
            for g in range(TXp // L):
                j = r * TXp + g * L
                if CV_WINO_VECTOR and oy + 1 < OH and 2 * (g * L + L - 1) + 1 < OW:
                    # L tiles whose 2x2 outputs all lie inside: vector stores
                    if real is float:
                        cv_wino_out_f32(src + j, plane, b, out + (k * OH + oy) * OW + 2 * g * L,
                                        OW)
                    else:
                        cv_wino_out_f64(src + j, plane, b, out + (k * OH + oy) * OW + 2 * g * L,
                                        OW)
                    continue
                for tx in range(g * L, g * L + L):
                    if tx >= TX:
                        break
                    for a in range(16):
                        m[a] = src[a * plane + j + tx - g * L]
                    for a in range(4):
                        s0[a] = m[a] + m[4 + a] + m[8 + a]
                        s1[a] = m[4 + a] - m[8 + a] - m[12 + a]
                    ox = 2 * tx
                    o = out + (k * OH + oy) * OW + ox
                    o[0] = s0[0] + s0[1] + s0[2] + b
                    if ox + 1 < OW:
                        o[1] = s0[1] - s0[2] - s0[3] + b
                    if oy + 1 < OH:
                        o[OW] = s1[0] + s1[1] + s1[2] + b
                        if ox + 1 < OW:
                            o[OW + 1] = s1[1] - s1[2] - s1[3] + b


cdef int _winograd(const real* x, const real* U, real* out, const real* bias,
                   Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                   Py_ssize_t K, Py_ssize_t Kp, Py_ssize_t OH, Py_ssize_t OW,
                   Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t R, int n_threads) noexcept nogil:
    cdef Py_ssize_t JW = _jw(<real*> NULL), L = JW // 2
    cdef Py_ssize_t TX = (OW + 1) // 2, TY = (OH + 1) // 2
    cdef Py_ssize_t TXp = (TX + L - 1) // L * L
    cdef Py_ssize_t n_rb = (TY + R - 1) // R, n_blocks = N * n_rb
    cdef Py_ssize_t TBp = (R * TXp + JW - 1) // JW * JW
    cdef Py_ssize_t SH = 2 * R + 2, SW = 2 * TXp + 2
    cdef Py_ssize_t ssz = C * SH * SW, vsz = 16 * C * TBp, msz = 16 * Kp * TBp
    cdef Py_ssize_t per_thread = ssz + vsz + msz
    cdef Py_ssize_t n_panels = Kp // CV_GEMM_MR
    # strip columns jx read input column jx - pw: the copied span
    cdef Py_ssize_t jx0 = pw if pw > 0 else 0
    cdef Py_ssize_t ix0 = jx0 - pw
    cdef Py_ssize_t ncopy = min(W - ix0, SW - jx0)
    cdef Py_ssize_t blk, n, rb, ty0, nr, nt, JB, xi, kp, jb, c, i, iy
    cdef real* S
    cdef real* V
    cdef real* M
    cdef real* row
    cdef double chk
    cdef int bad = 0
    cdef real* work = <real*> malloc(n_threads * per_thread * sizeof(real))
    if work == NULL:
        return -1
    with parallel(num_threads=n_threads):
        S = work + omp_get_thread_num() * per_thread
        V = S + ssz
        M = V + vsz
        for blk in prange(n_blocks, schedule='dynamic'):
            n = blk // n_rb
            rb = blk - n * n_rb
            ty0 = rb * R
            nr = TY - ty0
            if nr > R:
                nr = R
            nt = nr * TXp
            JB = (nt + JW - 1) // JW
            # the strip: input rows 2*ty0 - ph .. + 2*nr + 2, zero-padded
            for c in range(C):
                for i in range(2 * nr + 2):
                    row = S + (c * SH + i) * SW
                    iy = 2 * ty0 - ph + i
                    if iy < 0 or iy >= H or ncopy <= 0:
                        memset(row, 0, SW * sizeof(real))
                        continue
                    memset(row, 0, jx0 * sizeof(real))
                    memcpy(row + jx0, x + ((n * C + c) * H + iy) * W + ix0, ncopy * sizeof(real))
                    memset(row + jx0 + ncopy, 0, (SW - jx0 - ncopy) * sizeof(real))
            chk = _input_block(S, V, C, SH, SW, nr, TXp, JB * JW, JW)
            if not (chk - chk == 0):
                bad += 1
            for xi in range(16):
                for kp in range(n_panels):
                    for jb in range(JB):
                        _gemm6(M + (xi * Kp + kp * CV_GEMM_MR) * (JB * JW) + jb * JW, JB * JW,
                               U + (xi * n_panels + kp) * C * CV_GEMM_MR,
                               V + (xi * JB * C + jb * C) * JW, JW, C)
            _output_block(M, out + n * K * OH * OW, bias, K, Kp, OH, OW, TX, TXp, ty0, nr,
                          JB * JW, L)
    free(work)
    return 1 if bad else 0


cdef inline double _pack_one(const real[:, :, :, :] w, real* u, Py_ssize_t k, Py_ssize_t c,
                             Py_ssize_t plane) noexcept nogil:
    """u[xi * plane] = (G w[k, c] G^T)[xi] for the 16 xi; returns their sum."""
    cdef real r[12]
    cdef Py_ssize_t j, i
    cdef double chk = 0
    cdef real a, b, d
    for j in range(3):          # r = G g: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2
        a = w[k, c, 0, j]
        b = w[k, c, 1, j]
        d = w[k, c, 2, j]
        r[j] = a
        r[3 + j] = (a + b + d) * <real> 0.5
        r[6 + j] = (a - b + d) * <real> 0.5
        r[9 + j] = d
    for i in range(4):          # u = r G^T: the same on each row of r
        a = r[3 * i]
        b = r[3 * i + 1]
        d = r[3 * i + 2]
        u[(4 * i) * plane] = a
        u[(4 * i + 1) * plane] = (a + b + d) * <real> 0.5
        u[(4 * i + 2) * plane] = (a - b + d) * <real> 0.5
        u[(4 * i + 3) * plane] = d
        chk += a + b + d
    return chk


def pack3x3(const real[:, :, :, :] w, real[:, :, :, ::1] u, int n_threads):
    """u (16, Kp/6, C, 6) = U = G w G^T of the (K, C, 3, 3) weights w (any strides),
    ``u[a*4+b, p, c, r] = (G w[p*6 + r, c] G^T)[a, b]``, the [C][6] panels the
    micro-kernel broadcasts from; rows k >= K are zero. Returns whether every
    entry is finite. Parallel over output channels: each entry is written by
    one thread, the same values for any thread count."""
    cdef Py_ssize_t K = w.shape[0], C = w.shape[1], P = u.shape[1], k, c, p, r, i
    cdef Py_ssize_t plane = P * C * CV_GEMM_MR
    cdef double chk = 0
    cdef real* base = &u[0, 0, 0, 0]
    if w.shape[2] != 3 or w.shape[3] != 3 or u.shape[0] != 16 or u.shape[2] != C \
            or u.shape[3] != CV_GEMM_MR or P * CV_GEMM_MR < K:
        raise ValueError("pack3x3: w must be (K, C, 3, 3) and u (16, ceil(K/6), C, 6)")
    with nogil:
        for k in prange(P * CV_GEMM_MR, num_threads=n_threads, schedule='static'):
            p = k // CV_GEMM_MR
            r = k - p * CV_GEMM_MR
            for c in range(C):
                if k < K:
                    chk += _pack_one(w, base + (p * C + c) * CV_GEMM_MR + r, k, c, plane)
                else:
                    for i in range(16):
                        base[i * plane + (p * C + c) * CV_GEMM_MR + r] = 0
    return chk - chk == 0


def correlate3x3(const real[:, :, :, ::1] x, const real[:, :, :, ::1] u,
                 real[:, :, :, ::1] out, bias, Py_ssize_t ph, Py_ssize_t pw,
                 Py_ssize_t tile_rows, int n_threads):
    """out = correlation of x (N, C, H, W) with the 3x3 kernel whose Winograd
    transform, packed by convolve._winograd.pack_weight, is u (16, Kp/6, C, 6);
    blocks of `tile_rows` tile rows.

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
                        ph, pw, tile_rows, n_threads)
    if err < 0:
        raise MemoryError("convolve: could not allocate the Winograd workspace")
    return err == 0
