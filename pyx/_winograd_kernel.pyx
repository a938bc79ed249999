# Winograd F(2x2, 3x3) and F(4x4, 3x3) correlation (Lavin & Gray 2016) for
# 3x3, stride-1, dilation-1, ungrouped 2-D layers: the channel-heavy case of
# CNNs. Written below for F(2x2); F(4x4) is the same with 6x6 input tiles, 36
# planes and 4x4 output tiles (its transforms follow _winograd).
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
# thread in its own part of the caller's workspace (strip, V: 16 x C x TB,
# M: 16 x Kg x TB for the Kg output channels of a unit's group, sized by
# Python to stay near L2), so each output is computed by one thread in a fixed
# order: results are bitwise identical for any thread count.
#
# All coefficients of F(2x2)'s B, G and A are 0, +-1 and 1/2 (exact in
# binary), so the error is that of the additions; F(4x4)'s B and A are dyadic,
# its G (thirds, fifteenths) is applied in float64: measured in
# docs/guide/engine.rst.

from cython.parallel cimport parallel, prange
from libc.string cimport memset, memcpy

from _types cimport real
from _gemm cimport CV_GEMM_MR, _gemm6, _gemm6_pair, _jw
from _openmp cimport omp_get_thread_num

cdef extern from "_gemm_kernels.h" nogil:
    double cv_wino_in_f32(const float* s, Py_ssize_t W, float* v, Py_ssize_t plane)
    double cv_wino_in_f64(const double* s, Py_ssize_t W, double* v, Py_ssize_t plane)
    void cv_wino_out_f32(const float* m, Py_ssize_t plane, float b, float* o, Py_ssize_t OW)
    void cv_wino_out_f64(const double* m, Py_ssize_t plane, double b, double* o,
                         Py_ssize_t OW)
    double cv_wino4_in_f32(const float* s, Py_ssize_t W, float* v, Py_ssize_t plane)
    double cv_wino4_in4_f32(const float* s, Py_ssize_t W, float* v, Py_ssize_t plane)
    void cv_wino4_out4_f32(const float* m, Py_ssize_t plane, float b, float* o, Py_ssize_t OW,
                           int nrows, int ncols)
    void cv_wino4_out_f32(const float* m, Py_ssize_t plane, float b, float* o, Py_ssize_t OW,
                          int nrows, int ncols)
    double cv_wino_pack_f32(const double (*g)[8], const double* G, int n, float* u,
                            Py_ssize_t plane)
    double cv_wino_pack_f64(const double (*g)[8], const double* G, int n, double* u,
                            Py_ssize_t plane)
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


cdef inline void _zero_tiles(real* V, Py_ssize_t C, Py_ssize_t c, Py_ssize_t nt,
                             Py_ssize_t TBp, Py_ssize_t JW, Py_ssize_t L, Py_ssize_t P,
                             Py_ssize_t plane) noexcept nogil:
    """Zero channel c of tiles nt .. TBp (the block's padding) in the P planes of V."""
    cdef Py_ssize_t j = nt, i
    cdef real* dst
    while j < TBp:
        dst = V + ((j // JW) * C + c) * JW + j % JW
        for i in range(P):
            memset(dst + i * plane, 0, L * sizeof(real))
        j += L


cdef inline double _input_block(const real* strip, real* V, Py_ssize_t C, Py_ssize_t SH,
                                Py_ssize_t SW, Py_ssize_t nr, Py_ssize_t TXp,
                                Py_ssize_t TBp, Py_ssize_t JW, Py_ssize_t L,
                                Py_ssize_t m) noexcept nogil:
    """V[xi][jb][c][jl] = (B^T d B)[xi] of F(m x m)'s tile j = jb*JW + jl =
    r*TXp + tx (for F(4x4) in 8-lane groups, lanes interleaved: _lane), whose
    patch starts at row m*r, column m*tx of the strip; tiles nr*TXp..TBp are
    zero. Returns the sum of all results, finite iff the input was."""
    cdef Py_ssize_t plane = (TBp // JW) * C * JW
    cdef Py_ssize_t c, r, g, j, nt = nr * TXp
    cdef double chk = 0
    cdef const real* src
    cdef real* dst
    for c in range(C):
        for r in range(nr):
            for g in range(TXp // L):
                j = r * TXp + g * L
                src = strip + (c * SH + m * r) * SW + m * g * L
                dst = V + ((j // JW) * C + c) * JW + j % JW
                if m == 4:
                    if real is float and CV_WINO_VECTOR and L == 4:
                        chk += cv_wino4_in4_f32(src, SW, dst, plane)
                    elif real is float and CV_WINO_VECTOR:
                        chk += cv_wino4_in_f32(src, SW, dst, plane)
                    else:
                        chk += _in4_scalar(src, SW, dst, plane, L)
                elif not CV_WINO_VECTOR:
                    chk += _in_scalar(src, SW, dst, plane, L)
                elif real is float:
                    chk += cv_wino_in_f32(src, SW, dst, plane)
                else:
                    chk += cv_wino_in_f64(src, SW, dst, plane)
        _zero_tiles(V, C, c, nt, TBp, JW, L, (m + 2) * (m + 2), plane)
    return chk


cdef inline void _output_block(const real* M, real* out, const real* bias,
                               Py_ssize_t k0, Py_ssize_t k1, Py_ssize_t Km, Py_ssize_t OH,
                               Py_ssize_t OW, Py_ssize_t TX, Py_ssize_t TXp, Py_ssize_t ty0,
                               Py_ssize_t nr, Py_ssize_t TBp, Py_ssize_t L) noexcept nogil:
    """out[k, 2ty + p, 2tx + q] = (A^T M A)[p, q] (+ bias) for the block's tiles
    and channels k0 <= k < k1."""
    cdef Py_ssize_t k, r, g, j, a, tx, oy, ox, plane = Km * TBp
    cdef real m[16]
    cdef real s0[4]
    cdef real s1[4]
    cdef real b, y00, y01, y10, y11
    cdef real* o
    cdef const real* src
    for k in range(k0, k1):
        b = bias[k] if bias != NULL else 0
        src = M + (k - k0) * TBp
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


# F(4x4, 3x3): points 0, 1, -1, 1/2, -2, inf. B^T and A^T (dyadic entries):
#   B^T = [[1, -3/2, -2, 3/2, 1, 0], [0, -1, 1/2, 5/2, 1, 0], [0, 1, -5/2, 1/2, 1, 0],
#          [0, -2, -1, 2, 1, 0], [0, 1/2, -1, -1/2, 1, 0], [0, 1, -3/2, -2, 3/2, 1]]
#   A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 1/2, -2, 0], [0, 1, 1, 1/4, 4, 0],
#          [0, 1, -1, 1/8, -8, 1]]
# (G, with thirds and fifteenths, is applied to the weights in float64 by
# pack3x3.) The vector transforms are cv_wino4_in_f32 / cv_wino4_out_f32 in
# _gemm_kernels.h; the scalar ones below serve builds without vector
# extensions and use the same interleaved tile order within groups of L.

cdef inline Py_ssize_t _lane(Py_ssize_t l, Py_ssize_t L) noexcept nogil:
    """Where tile l of a group of L sits in the vector transforms' lane order
    (0, 2, 4, .., 1, 3, 5, .. for 8 lanes; tile order for 4)."""
    if L == 4:
        return l
    return (l % 2) * (L // 2) + l // 2


cdef inline void _bt6(const real* d, Py_ssize_t sd, real* v, Py_ssize_t sv) noexcept nogil:
    """v[a * sv] = (B^T d)[a] of F(4, 3), d[i * sd] the six inputs."""
    cdef real d0 = d[0], d1 = d[sd], d2 = d[2 * sd], d3 = d[3 * sd], d4 = d[4 * sd]
    cdef real d5 = d[5 * sd]
    v[0] = d0 - <real> 1.5 * d1 - <real> 2 * d2 + <real> 1.5 * d3 + d4
    v[sv] = <real> 0.5 * d2 - d1 + <real> 2.5 * d3 + d4
    v[2 * sv] = d1 - <real> 2.5 * d2 + <real> 0.5 * d3 + d4
    v[3 * sv] = <real> 2 * (d3 - d1) - d2 + d4
    v[4 * sv] = <real> 0.5 * (d1 - d3) - d2 + d4
    v[5 * sv] = d1 - <real> 1.5 * d2 - <real> 2 * d3 + <real> 1.5 * d4 + d5


cdef inline void _at6(const real* m, Py_ssize_t sm, real* y, Py_ssize_t sy) noexcept nogil:
    """y[p * sy] = (A^T m)[p] of F(4, 3), m[a * sm] the six values."""
    cdef real p12 = m[sm] + m[2 * sm], m12 = m[sm] - m[2 * sm], m3 = m[3 * sm], m4 = m[4 * sm]
    y[0] = p12 + m[0] + m3 + m4
    y[sy] = m12 + <real> 0.5 * m3 - <real> 2 * m4
    y[2 * sy] = p12 + <real> 0.25 * m3 + <real> 4 * m4
    y[3 * sy] = m12 + <real> 0.125 * m3 - <real> 8 * m4 + m[5 * sm]


cdef inline double _in4_scalar(const real* s, Py_ssize_t W, real* v, Py_ssize_t plane,
                               Py_ssize_t L) noexcept nogil:
    """The F(4x4) input transform of L tiles, one at a time."""
    cdef Py_ssize_t l, i, a, b, o
    cdef real h[36]
    cdef real t[36]
    cdef double chk = 0
    for l in range(L):
        for i in range(6):          # h[i][b] = (B^T row_i)[b]
            _bt6(s + i * W + 4 * l, 1, h + 6 * i, 1)
        for b in range(6):          # t[a][b] = (B^T h[:, b])[a]
            _bt6(h + b, 6, t + b, 6)
        o = _lane(l, L)
        for a in range(36):
            v[a * plane + o] = t[a]
            chk += t[a]
    return chk


cdef inline void _output_block4(const real* M, real* out, const real* bias,
                                Py_ssize_t k0, Py_ssize_t k1, Py_ssize_t Km, Py_ssize_t OH,
                                Py_ssize_t OW, Py_ssize_t TX, Py_ssize_t TXp, Py_ssize_t ty0,
                                Py_ssize_t nr, Py_ssize_t TBp, Py_ssize_t L) noexcept nogil:
    """F(4x4): out[k, 4ty + p, 4tx + q] = (A^T M A)[p, q] (+ bias) for
    k0 <= k < k1, the part inside the output."""
    cdef Py_ssize_t k, r, g, j, a, l, p, q, tx, oy, ox, plane = Km * TBp
    cdef Py_ssize_t nrows, ncols
    cdef real m[36]
    cdef real t[24]
    cdef real y[16]
    cdef real b
    cdef const real* src
    for k in range(k0, k1):
        b = bias[k] if bias != NULL else 0
        src = M + (k - k0) * TBp
        for r in range(nr):
            oy = 4 * (ty0 + r)
            nrows = min(4, OH - oy)
            for g in range(TXp // L):
                j = r * TXp + g * L
                ncols = min(4 * L, OW - 4 * g * L)
                if ncols <= 0:
                    break
                if real is float and CV_WINO_VECTOR and L == 4:
                    cv_wino4_out4_f32(src + j, plane, b, out + (k * OH + oy) * OW + 4 * g * L,
                                      OW, <int> nrows, <int> ncols)
                    continue
                if real is float and CV_WINO_VECTOR:
                    cv_wino4_out_f32(src + j, plane, b, out + (k * OH + oy) * OW + 4 * g * L,
                                     OW, <int> nrows, <int> ncols)
                    continue
                for l in range(L):
                    tx = g * L + l
                    if tx >= TX:
                        break
                    for a in range(36):
                        m[a] = src[a * plane + j + _lane(l, L)]
                    for a in range(6):          # t[p][b] = (A^T m[:, b])[p]
                        _at6(m + a, 6, t + a, 6)
                    for p in range(4):          # y[p][q] = (A^T t[p, :])[q]
                        _at6(t + 6 * p, 1, y + 4 * p, 1)
                    ox = 4 * tx
                    for p in range(nrows):
                        for q in range(min(4, OW - ox)):
                            out[(k * OH + oy + p) * OW + ox + q] = y[4 * p + q] + b


cdef Py_ssize_t _per_thread(Py_ssize_t C, Py_ssize_t Km, Py_ssize_t OH, Py_ssize_t OW,
                            Py_ssize_t R, Py_ssize_t m, Py_ssize_t JW,
                            Py_ssize_t L) noexcept nogil:
    """Elements of one thread's workspace: strip, V and M (see _winograd)."""
    cdef Py_ssize_t P = (m + 2) * (m + 2)
    cdef Py_ssize_t TXp = ((OW + m - 1) // m + L - 1) // L * L
    cdef Py_ssize_t TBp = (R * TXp + JW - 1) // JW * JW
    return C * (m * R + 2) * (m * TXp + (4 if m == 4 else 2)) + P * (C + Km) * TBp


def work_size(Py_ssize_t C, Py_ssize_t K, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t tile_rows,
              Py_ssize_t m, Py_ssize_t itemsize, int n_threads, Py_ssize_t lanes=0,
              Py_ssize_t k_groups=1):
    """Elements of the workspace correlate3x3 needs (all threads): M holds
    one group's output-channel panels."""
    cdef Py_ssize_t n_panels = (K + CV_GEMM_MR - 1) // CV_GEMM_MR
    cdef Py_ssize_t Km = (n_panels + k_groups - 1) // k_groups * CV_GEMM_MR
    cdef Py_ssize_t JW = 16 if itemsize == 4 else 8
    return n_threads * _per_thread(C, Km, OH, OW, tile_rows, m, JW, lanes or JW // 2)


cdef int _winograd(const real* x, const real* U, real* out, Py_ssize_t out_ns,
                   const real* bias, real* work,
                   Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                   Py_ssize_t K, Py_ssize_t Kp, Py_ssize_t OH, Py_ssize_t OW,
                   Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t R, Py_ssize_t m,
                   Py_ssize_t L, Py_ssize_t KG, int n_threads) noexcept nogil:
    """F(m x m, 3x3), m = 2 or 4: tiles of (m + 2)^2 inputs, P = (m + 2)^2 planes;
    `work` holds n_threads * _per_thread(..) elements. A unit of work is a
    block of R tile rows of one image and one of KG groups of output-channel
    panels (KG > 1 when there are too few blocks for the threads: each group
    transforms the block's input again, about 1 % of its multiplications)."""
    cdef Py_ssize_t JW = _jw(<real*> NULL), P = (m + 2) * (m + 2)
    cdef Py_ssize_t TX = (OW + m - 1) // m, TY = (OH + m - 1) // m
    cdef Py_ssize_t TXp = (TX + L - 1) // L * L
    cdef Py_ssize_t n_rb = (TY + R - 1) // R, n_blocks = N * n_rb * KG
    cdef Py_ssize_t TBp = (R * TXp + JW - 1) // JW * JW
    # F(4x4)'s vector transform reads two columns past the last patch
    cdef Py_ssize_t SH = m * R + 2, SW = m * TXp + (4 if m == 4 else 2)
    cdef Py_ssize_t ssz = C * SH * SW, vsz = P * C * TBp
    cdef Py_ssize_t n_panels = Kp // CV_GEMM_MR
    cdef Py_ssize_t ppg = (n_panels + KG - 1) // KG       # panels per group
    cdef Py_ssize_t Km = ppg * CV_GEMM_MR                 # rows of M: one group's
    cdef Py_ssize_t per_thread = _per_thread(C, Km, OH, OW, R, m, JW, L)
    # strip columns jx read input column jx - pw: the copied span
    cdef Py_ssize_t jx0 = pw if pw > 0 else 0
    cdef Py_ssize_t ix0 = jx0 - pw
    cdef Py_ssize_t ncopy = min(W - ix0, SW - jx0)
    cdef Py_ssize_t blk, n, rb, ty0, nr, nt, JB, xi, kp, jb, c, i, iy, p0, p1
    cdef real* S
    cdef real* V
    cdef real* M
    cdef real* row
    cdef double chk
    cdef int bad = 0
    with parallel(num_threads=n_threads):
        S = work + omp_get_thread_num() * per_thread
        V = S + ssz
        M = V + vsz
        for blk in prange(n_blocks, schedule='dynamic'):
            # groups of one block adjacent: their threads read the same input rows
            p0 = (blk % KG) * ppg
            p1 = min(p0 + ppg, n_panels)
            if p0 >= p1:
                continue
            n = blk // KG // n_rb
            rb = blk // KG - n * n_rb
            ty0 = rb * R
            nr = TY - ty0
            if nr > R:
                nr = R
            nt = nr * TXp
            JB = (nt + JW - 1) // JW
            # the strip: input rows m*ty0 - ph .. + m*nr + 2, zero-padded
            for c in range(C):
                for i in range(m * nr + 2):
                    row = S + (c * SH + i) * SW
                    iy = m * ty0 - ph + i
                    if iy < 0 or iy >= H or ncopy <= 0:
                        memset(row, 0, SW * sizeof(real))
                        continue
                    memset(row, 0, jx0 * sizeof(real))
                    memcpy(row + jx0, x + ((n * C + c) * H + iy) * W + ix0, ncopy * sizeof(real))
                    memset(row + jx0 + ncopy, 0, (SW - jx0 - ncopy) * sizeof(real))
            chk = _input_block(S, V, C, SH, SW, nr, TXp, JB * JW, JW, L, m)
            if not (chk - chk == 0):
                bad += 1
            # column blocks outer: V's block (C x JW) stays in L1 while the
            # weight panels stream past (panels outer had reread every block
            # from L2 per panel: 2-10 % slower in float64, equal in float32)
            # (column blocks in pairs: one pass of 512-bit registers on
            # AVX-512 builds, _gemm6_pair)
            for xi in range(P):
                jb = 0
                while jb + 1 < JB:
                    for kp in range(p0, p1):
                        row = M + (xi * Km + (kp - p0) * CV_GEMM_MR) * (JB * JW) + jb * JW
                        _gemm6_pair(row, row + JW, JB * JW,
                                    U + (xi * n_panels + kp) * C * CV_GEMM_MR,
                                    V + (xi * JB * C + jb * C) * JW,
                                    V + (xi * JB * C + (jb + 1) * C) * JW, JW, C, 0)
                    jb = jb + 2
                if jb < JB:
                    for kp in range(p0, p1):
                        _gemm6(M + (xi * Km + (kp - p0) * CV_GEMM_MR) * (JB * JW) + jb * JW,
                               JB * JW,
                               U + (xi * n_panels + kp) * C * CV_GEMM_MR,
                               V + (xi * JB * C + jb * C) * JW, JW, C)
            if m == 4:
                _output_block4(M, out + n * out_ns, bias, p0 * CV_GEMM_MR,
                               min(p1 * CV_GEMM_MR, K), Km, OH, OW, TX, TXp, ty0, nr,
                               JB * JW, L)
            else:
                _output_block(M, out + n * out_ns, bias, p0 * CV_GEMM_MR,
                              min(p1 * CV_GEMM_MR, K), Km, OH, OW, TX, TXp, ty0, nr,
                              JB * JW, L)
    return 1 if bad else 0


cdef inline double _pack_panel(const real[:, :, :, :] w, const double* G, Py_ssize_t n,
                               real* u, Py_ssize_t k0, Py_ssize_t nk, Py_ssize_t c,
                               Py_ssize_t plane) noexcept nogil:
    """u[(a*n + b) * plane + l] = (G w[k0 + l, c] G^T)[a, b] for the six output
    channels l of a panel (zero for l >= nk) and the n x n entries (G is n x 3
    row-major, n <= 6), computed in float64 and rounded once (cv_wino_pack_*
    in _gemm_kernels.h: vectors across the channels; the loops below serve
    builds without vector extensions); returns a sum of the entries."""
    cdef Py_ssize_t a, b, i, l
    cdef double g[9][8]
    cdef double r[18][CV_GEMM_MR]
    cdef double part[36]
    cdef double acc
    for i in range(9):
        for l in range(8):
            g[i][l] = w[k0 + l, c, i // 3, i % 3] if l < nk else 0
    if CV_WINO_VECTOR:
        if real is float:
            return cv_wino_pack_f32(g, G, <int> n, u, plane)
        else:
            return cv_wino_pack_f64(g, G, <int> n, u, plane)
    for a in range(n):          # r = G g
        for i in range(3):
            for l in range(CV_GEMM_MR):
                r[3 * a + i][l] = (G[3 * a] * g[i][l] + G[3 * a + 1] * g[3 + i][l]
                                   + G[3 * a + 2] * g[6 + i][l])
    for a in range(n):          # u = r G^T
        for b in range(n):
            part[a * n + b] = 0
            for l in range(CV_GEMM_MR):
                acc = (r[3 * a][l] * G[3 * b] + r[3 * a + 1][l] * G[3 * b + 1]
                       + r[3 * a + 2][l] * G[3 * b + 2])
                u[(a * n + b) * plane + l] = <real> acc
                part[a * n + b] += acc
    # the sum as short independent chains (one long chain had cost 4x the
    # arithmetic): only its finiteness is used
    for i in range(n * n, 36):
        part[i] = 0
    for i in range(6):
        part[i] = part[i] + part[6 + i] + part[12 + i] + part[18 + i] + part[24 + i] + part[30 + i]
    return (part[0] + part[1]) + (part[2] + part[3]) + (part[4] + part[5])


def pack3x3(const real[:, :, :, :] w, const double[:, ::1] G, real[:, :, :, ::1] u,
            int n_threads):
    """u (n*n, Kp/6, C, 6) = U = G w G^T of the (K, C, 3, 3) weights w (any
    strides) for the n x 3 matrix G of F(n-2 x n-2, 3x3),
    ``u[a*n+b, p, c, r] = (G w[p*6 + r, c] G^T)[a, b]``, the [C][6] panels the
    micro-kernel broadcasts from; rows k >= K are zero. Returns whether every
    entry is finite. Parallel over panels of six output channels (a unit
    writes six adjacent values per plane): each entry is written by one
    thread, the same values for any thread count."""
    cdef Py_ssize_t K = w.shape[0], C = w.shape[1], P = u.shape[1], c, p, i
    cdef Py_ssize_t n = G.shape[0], plane = P * C * CV_GEMM_MR
    cdef double chk = 0
    cdef double Gl[18]
    cdef real* base = &u[0, 0, 0, 0]
    if w.shape[2] != 3 or w.shape[3] != 3 or G.shape[1] != 3 or n > 6 \
            or u.shape[0] != n * n or u.shape[2] != C \
            or u.shape[3] != CV_GEMM_MR or P * CV_GEMM_MR < K:
        raise ValueError("pack3x3: w must be (K, C, 3, 3), G (n, 3) with n <= 6 and "
                         "u (n*n, ceil(K/6), C, 6)")
    for i in range(3 * n):
        Gl[i] = G[i // 3, i % 3]
    with nogil:
        for p in prange(P, num_threads=n_threads, schedule='static'):
            for c in range(C):
                chk += _pack_panel(w, Gl, n, base + (p * C + c) * CV_GEMM_MR, p * CV_GEMM_MR,
                                   min(CV_GEMM_MR, K - p * CV_GEMM_MR), c, plane)
    return chk - chk == 0


def correlate3x3(const real[:, :, :, ::1] x, const real[:, :, :, ::1] u,
                 real[:, :, :, :] out, bias, real[::1] work, Py_ssize_t ph, Py_ssize_t pw,
                 Py_ssize_t tile_rows, int n_threads, Py_ssize_t lanes=0,
                 Py_ssize_t k_groups=1):
    """out = correlation of x (N, C, H, W) with the 3x3 kernel whose Winograd
    transform, packed by convolve._winograd.pack_weight, is u ((m+2)^2, Kp/6, C,
    6): F(2x2, 3x3) for 16 planes, F(4x4, 3x3) for 36; blocks of `tile_rows`
    tile rows; `out` may be a slice of channels of a larger array (each image
    contiguous); `lanes`: tiles per vector transform, 8 or, for F(4x4) in
    float32, 4 (0: 8 for float32, 4 for float64); `work` holds at least
    work_size(..) elements (the caller keeps it
    between calls: fresh pages would be faulted in on every call);
    `k_groups`: the output-channel panels split into this many groups, each
    a separate unit of work (more units than images x tile blocks, for many
    threads; the results do not depend on it).

    Returns False (out partly written) when the input holds inf or NaN, which
    the transforms would smear over neighbouring outputs: the caller then
    runs the direct kernel. Trusts its inputs otherwise."""
    cdef const real[::1] b
    cdef const real* bp = NULL
    cdef int err
    cdef Py_ssize_t m = 4 if u.shape[0] == 36 else 2
    if u.shape[0] != (m + 2) * (m + 2):
        raise ValueError("correlate3x3: u must hold 16 or 36 planes")
    if out.size == 0:
        return True
    if out.strides[0] % sizeof(real) or out.strides[3] != sizeof(real) \
            or out.strides[1] != out.shape[2] * out.shape[3] * sizeof(real) \
            or out.strides[2] != out.shape[3] * sizeof(real):
        raise ValueError("correlate3x3: out must be contiguous within each image")
    cdef Py_ssize_t L = lanes or _jw(<real*> NULL) // 2
    if L != _jw(<real*> NULL) // 2 and not (real is float and m == 4 and L == 4):
        raise ValueError("correlate3x3: lanes=4 is for F(4x4) in float32")
    if k_groups < 1:
        raise ValueError("correlate3x3: k_groups must be >= 1")
    if work.shape[0] < work_size(x.shape[1], out.shape[1], out.shape[2], out.shape[3],
                                 tile_rows, m, sizeof(real), n_threads, L, k_groups):
        raise ValueError("correlate3x3: work is smaller than work_size(..)")
    if bias is not None:
        b = bias
        bp = &b[0]
    with nogil:
        err = _winograd(&x[0, 0, 0, 0], &u[0, 0, 0, 0], &out[0, 0, 0, 0],
                        out.strides[0] // sizeof(real), bp, &work[0],
                        x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                        out.shape[1], u.shape[1] * CV_GEMM_MR, out.shape[2], out.shape[3],
                        ph, pw, tile_rows, m, L, k_groups, n_threads)
    return err == 0
