/* A GEMM micro-kernel for the Winograd path (pyx/_winograd.pyx).
 *
 *     C[r][0:JW] = sum_k A[k][r] * B[k][0:JW]      r in [0, 6)
 *
 * with A packed as [K][6] (a panel of 6 rows of the transformed weights) and
 * B as [K][JW] rows ldb apart (JW = 16 floats or 8 doubles: two vectors):
 * packed (ldb = JW), or read in place from a matrix whose rows are long. The 6 x JW
 * block of C lives in 12 vector registers for the whole reduction; each step
 * loads two vectors of B and broadcasts 6 values of A: 12 independent FMA
 * chains (2 FMA ports x latency 4 need at least 8), 8 loads per 12 FMAs,
 * and 15 of the 16 ymm registers in use (the layout BLIS uses on Zen).
 * The reduction order over k is fixed, so results do not depend on threads.
 */
#ifndef CONVOLVE_GEMM_KERNELS_H
#define CONVOLVE_GEMM_KERNELS_H

/* Out of line: a micro-kernel inlined into a large caller (an OpenMP
 * region with its own live values) can lose its accumulators or its B
 * vectors to the stack; see cv_pgemm6 and cv_gemm6_panels below. */
#if defined(__GNUC__) || defined(__clang__)
#define CV_NOINLINE __attribute__((noinline))
#else
#define CV_NOINLINE
#endif

#include <stddef.h>

#define CV_GEMM_MR 6
#define CV_GEMM_JW_F32 16
#define CV_GEMM_JW_F64 8

#if defined(__GNUC__) || defined(__clang__)
typedef float cv_gvf __attribute__((vector_size(32), aligned(1), may_alias));
typedef double cv_gvd __attribute__((vector_size(32), aligned(1), may_alias));
typedef int cv_gvi __attribute__((vector_size(32)));
typedef long long cv_gvl __attribute__((vector_size(32)));

/* Broadcasts written as initializers: `(V){0} + x` would cost a scalar add
 * (0 + x is not x for x = -0 without -ffast-math) before the broadcast. */
#define CV_BCAST_F32(x) ((cv_gvf){(x), (x), (x), (x), (x), (x), (x), (x)})
#define CV_BCAST_F64(x) ((cv_gvd){(x), (x), (x), (x)})

/* The 6 x 2-vector block of C in 12 registers: declared zero, loaded,
 * updated by one k step (two vectors of B, six broadcast values of A),
 * stored. Shared by the packed and the in-place micro-kernels below. */
#define CV_C6X2_ZERO(V)                                                       \
    V c00 = (V){0}, c01 = (V){0}, c10 = (V){0}, c11 = (V){0};                 \
    V c20 = (V){0}, c21 = (V){0}, c30 = (V){0}, c31 = (V){0};                 \
    V c40 = (V){0}, c41 = (V){0}, c50 = (V){0}, c51 = (V){0}
#define CV_C6X2_LOAD(V, L, c, ldc)                                            \
    c00 = *(V *)(c + 0 * ldc); c01 = *(V *)(c + 0 * ldc + L);                 \
    c10 = *(V *)(c + 1 * ldc); c11 = *(V *)(c + 1 * ldc + L);                 \
    c20 = *(V *)(c + 2 * ldc); c21 = *(V *)(c + 2 * ldc + L);                 \
    c30 = *(V *)(c + 3 * ldc); c31 = *(V *)(c + 3 * ldc + L);                 \
    c40 = *(V *)(c + 4 * ldc); c41 = *(V *)(c + 4 * ldc + L);                 \
    c50 = *(V *)(c + 5 * ldc); c51 = *(V *)(c + 5 * ldc + L)
#define CV_C6X2_STEP(V, L, BCAST, b, a0, a1, a2, a3, a4, a5)                  \
    do {                                                                      \
        const V b0 = *(const V *)(b), b1 = *(const V *)(b + L);               \
        V v;                                                                  \
        v = BCAST(a0); c00 += v * b0; c01 += v * b1;                          \
        v = BCAST(a1); c10 += v * b0; c11 += v * b1;                          \
        v = BCAST(a2); c20 += v * b0; c21 += v * b1;                          \
        v = BCAST(a3); c30 += v * b0; c31 += v * b1;                          \
        v = BCAST(a4); c40 += v * b0; c41 += v * b1;                          \
        v = BCAST(a5); c50 += v * b0; c51 += v * b1;                          \
    } while (0)
#define CV_C6X2_STORE(V, L, c, ldc)                                           \
    *(V *)(c + 0 * ldc) = c00; *(V *)(c + 0 * ldc + L) = c01;                 \
    *(V *)(c + 1 * ldc) = c10; *(V *)(c + 1 * ldc + L) = c11;                 \
    *(V *)(c + 2 * ldc) = c20; *(V *)(c + 2 * ldc + L) = c21;                 \
    *(V *)(c + 3 * ldc) = c30; *(V *)(c + 3 * ldc + L) = c31;                 \
    *(V *)(c + 4 * ldc) = c40; *(V *)(c + 4 * ldc + L) = c41;                 \
    *(V *)(c + 5 * ldc) = c50; *(V *)(c + 5 * ldc + L) = c51

#define CV_DEFINE_GEMM6(NAME, T, V, L, BCAST)                                 \
static inline void NAME(T *c, ptrdiff_t ldc, const T *a, const T *b,          \
                        ptrdiff_t ldb, ptrdiff_t K)                           \
{                                                                             \
    CV_C6X2_ZERO(V);                                                          \
    for (ptrdiff_t k = 0; k < K; k++, a += 6, b += ldb)                       \
        CV_C6X2_STEP(V, L, BCAST, b, a[0], a[1], a[2], a[3], a[4], a[5]);     \
    CV_C6X2_STORE(V, L, c, ldc);                                              \
}
CV_DEFINE_GEMM6(cv_gemm6_f32, float, cv_gvf, 8, CV_BCAST_F32)
CV_DEFINE_GEMM6(cv_gemm6_f64, double, cv_gvd, 4, CV_BCAST_F64)
/* ... adding to C when `accumulate` (a reduction split into chunks: the
 * terms are added in the same order as in one call, so the bits match) */
#define CV_DEFINE_GEMM6_ACC(NAME, T, V, L, BCAST)                             \
static inline void NAME(T *c, ptrdiff_t ldc, const T *a, const T *b,          \
                        ptrdiff_t ldb, ptrdiff_t K, int accumulate)           \
{                                                                             \
    CV_C6X2_ZERO(V);                                                          \
    if (accumulate) {                                                         \
        CV_C6X2_LOAD(V, L, c, ldc);                                           \
    }                                                                         \
    for (ptrdiff_t k = 0; k < K; k++, a += 6, b += ldb)                       \
        CV_C6X2_STEP(V, L, BCAST, b, a[0], a[1], a[2], a[3], a[4], a[5]);     \
    CV_C6X2_STORE(V, L, c, ldc);                                              \
}
CV_DEFINE_GEMM6_ACC(cv_gemm6_acc_f32, float, cv_gvf, 8, CV_BCAST_F32)
CV_DEFINE_GEMM6_ACC(cv_gemm6_acc_f64, double, cv_gvd, 4, CV_BCAST_F64)

/* The same 6 x JW block with A read in place instead of packed:
 *
 *     C[r][0:JW] (+)= sum_k p_r[off[k]] * B[k][0:JW]      r in [0, 6)
 *
 * six row pointers p_r and one offset per k. The blocked direct convolution
 * (pyx/_blocked.pyx) uses it both ways round: for the forward, p_r are six
 * output pixels' windows and off[k] the taps (channel, kd, kh, kw) of the
 * window, B the weights packed [K][JW] output channels; for the weight
 * gradient, p_r are six taps and off[k] the pixels, B the output gradient
 * transposed to [pixel][JW]. Each k: two vector loads of B, six broadcasts
 * straight from the input (x86 addressing base + index * 4, no gather), one
 * offset load, 12 FMAs. `accumulate` adds to C instead of overwriting it. */
#define CV_DEFINE_PGEMM6(NAME, T, V, L, BCAST)                                \
static CV_NOINLINE void NAME(T *c, ptrdiff_t ldc, const T *const *p,               \
                        const ptrdiff_t *off, const T *b, ptrdiff_t K,        \
                        int accumulate)                                       \
{                                                                             \
    const T *p0 = p[0], *p1 = p[1], *p2 = p[2];                               \
    const T *p3 = p[3], *p4 = p[4], *p5 = p[5];                               \
    CV_C6X2_ZERO(V);                                                          \
    if (accumulate) {                                                         \
        CV_C6X2_LOAD(V, L, c, ldc);                                           \
    }                                                                         \
    for (ptrdiff_t k = 0; k < K; k++, b += 2 * L) {                           \
        const ptrdiff_t o = off[k];                                           \
        CV_C6X2_STEP(V, L, BCAST, b, p0[o], p1[o], p2[o], p3[o], p4[o], p5[o]);\
    }                                                                         \
    CV_C6X2_STORE(V, L, c, ldc);                                              \
}
CV_DEFINE_PGEMM6(cv_pgemm6_f32, float, cv_gvf, 8, CV_BCAST_F32)
CV_DEFINE_PGEMM6(cv_pgemm6_f64, double, cv_gvd, 4, CV_BCAST_F64)

/* The narrow variant for few output channels: 8 pointers x one vector
 * (8 floats, 4 doubles) of channels, C[r][0:L] (+)= sum_k p_r[off[k]] * B[k][0:L]
 * with B packed [K][L]: 8 FMAs per tap for 1 vector load and 8 broadcasts. */
#define CV_DEFINE_PGEMM8(NAME, T, V, L, BCAST)                                 \
static CV_NOINLINE void NAME(T *c, ptrdiff_t ldc, const T *const *p,               \
                        const ptrdiff_t *off, const T *b, ptrdiff_t K,        \
                        int accumulate)                                       \
{                                                                             \
    const T *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];                   \
    const T *p4 = p[4], *p5 = p[5], *p6 = p[6], *p7 = p[7];                   \
    V c0 = (V){0}, c1 = (V){0}, c2 = (V){0}, c3 = (V){0};                     \
    V c4 = (V){0}, c5 = (V){0}, c6 = (V){0}, c7 = (V){0};                     \
    if (accumulate) {                                                         \
        c0 = *(V *)(c + 0 * ldc); c1 = *(V *)(c + 1 * ldc);                   \
        c2 = *(V *)(c + 2 * ldc); c3 = *(V *)(c + 3 * ldc);                   \
        c4 = *(V *)(c + 4 * ldc); c5 = *(V *)(c + 5 * ldc);                   \
        c6 = *(V *)(c + 6 * ldc); c7 = *(V *)(c + 7 * ldc);                   \
    }                                                                         \
    for (ptrdiff_t k = 0; k < K; k++) {                                       \
        const ptrdiff_t o = off[k];                                           \
        const V b0 = *(const V *)(b);                                         \
        c0 += BCAST(p0[o]) * b0; c1 += BCAST(p1[o]) * b0;                     \
        c2 += BCAST(p2[o]) * b0; c3 += BCAST(p3[o]) * b0;                     \
        c4 += BCAST(p4[o]) * b0; c5 += BCAST(p5[o]) * b0;                     \
        c6 += BCAST(p6[o]) * b0; c7 += BCAST(p7[o]) * b0;                     \
        b += L;                                                               \
    }                                                                         \
    *(V *)(c + 0 * ldc) = c0; *(V *)(c + 1 * ldc) = c1;                       \
    *(V *)(c + 2 * ldc) = c2; *(V *)(c + 3 * ldc) = c3;                       \
    *(V *)(c + 4 * ldc) = c4; *(V *)(c + 5 * ldc) = c5;                       \
    *(V *)(c + 6 * ldc) = c6; *(V *)(c + 7 * ldc) = c7;                       \
}
CV_DEFINE_PGEMM8(cv_pgemm8_f32, float, cv_gvf, 8, CV_BCAST_F32)
CV_DEFINE_PGEMM8(cv_pgemm8_f64, double, cv_gvd, 4, CV_BCAST_F64)

/* Input transform of L consecutive interior tiles of one tile row (vectors
 * across tiles): d[i][q] of tile l is s[i*W + 2l + q], read as the even and
 * odd lanes of two vectors; v[xi * plane] receives (B^T d B)[xi] for the L
 * tiles. Returns the lane sums of the 16 results (finite iff the input is). */
#define CV_DEFINE_WINO_IN(NAME, T, V, L, EVEN, ODD)                            \
static inline V NAME(const T *s, ptrdiff_t W, T *v, ptrdiff_t plane)          \
{                                                                             \
    V d[4][4], t[4][4], chk = (V){0};                                         \
    for (int i = 0; i < 4; i++) {                                             \
        const T *r = s + i * W;                                               \
        V a = *(const V *)(r), b = *(const V *)(r + L);                       \
        V a2 = *(const V *)(r + 2), b2 = *(const V *)(r + 2 + L);             \
        d[i][0] = __builtin_shuffle(a, b, EVEN);                              \
        d[i][1] = __builtin_shuffle(a, b, ODD);                               \
        d[i][2] = __builtin_shuffle(a2, b2, EVEN);                            \
        d[i][3] = __builtin_shuffle(a2, b2, ODD);                             \
    }                                                                         \
    for (int q = 0; q < 4; q++) {                                             \
        t[0][q] = d[0][q] - d[2][q];                                          \
        t[1][q] = d[1][q] + d[2][q];                                          \
        t[2][q] = d[2][q] - d[1][q];                                          \
        t[3][q] = d[1][q] - d[3][q];                                          \
    }                                                                         \
    for (int i = 0; i < 4; i++) {                                             \
        V v0 = t[i][0] - t[i][2], v1 = t[i][1] + t[i][2];                     \
        V v2 = t[i][2] - t[i][1], v3 = t[i][1] - t[i][3];                     \
        *(V *)(v + (4 * i + 0) * plane) = v0;                                 \
        *(V *)(v + (4 * i + 1) * plane) = v1;                                 \
        *(V *)(v + (4 * i + 2) * plane) = v2;                                 \
        *(V *)(v + (4 * i + 3) * plane) = v3;                                 \
        chk += v0 + v1 + v2 + v3;                                             \
    }                                                                         \
    return chk;                                                               \
}
CV_DEFINE_WINO_IN(cv_wino_in_f32v, float, cv_gvf, 8,
                  ((cv_gvi){0, 2, 4, 6, 8, 10, 12, 14}), ((cv_gvi){1, 3, 5, 7, 9, 11, 13, 15}))
CV_DEFINE_WINO_IN(cv_wino_in_f64v, double, cv_gvd, 4,
                  ((cv_gvl){0, 2, 4, 6}), ((cv_gvl){1, 3, 5, 7}))

static inline double cv_wino_in_f32(const float *s, ptrdiff_t W, float *v, ptrdiff_t plane)
{
    cv_gvf c = cv_wino_in_f32v(s, W, v, plane);
    return (double)c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7];
}
static inline double cv_wino_in_f64(const double *s, ptrdiff_t W, double *v, ptrdiff_t plane)
{
    cv_gvd c = cv_wino_in_f64v(s, W, v, plane);
    return c[0] + c[1] + c[2] + c[3];
}

/* Output transform of L consecutive tiles of one tile row whose 2x2 outputs
 * all lie inside the output: m[xi * plane] holds M[xi] for the L tiles;
 * rows 2ty and 2ty + 1 of the 2L outputs are stored at o and o + OW. */
#define CV_DEFINE_WINO_OUT(NAME, T, V, L, BCAST, LO, HI)                       \
static inline void NAME(const T *m, ptrdiff_t plane, T b, T *o, ptrdiff_t OW) \
{                                                                             \
    V s0[4], s1[4];                                                           \
    for (int a = 0; a < 4; a++) {                                             \
        V m0 = *(const V *)(m + a * plane), m1 = *(const V *)(m + (4 + a) * plane);\
        V m2 = *(const V *)(m + (8 + a) * plane), m3 = *(const V *)(m + (12 + a) * plane);\
        s0[a] = m0 + m1 + m2;                                                 \
        s1[a] = m1 - m2 - m3;                                                 \
    }                                                                         \
    V bv = BCAST(b);                                                          \
    V y00 = s0[0] + s0[1] + s0[2] + bv, y01 = s0[1] - s0[2] - s0[3] + bv;     \
    V y10 = s1[0] + s1[1] + s1[2] + bv, y11 = s1[1] - s1[2] - s1[3] + bv;     \
    *(V *)(o) = __builtin_shuffle(y00, y01, LO);                              \
    *(V *)(o + L) = __builtin_shuffle(y00, y01, HI);                          \
    *(V *)(o + OW) = __builtin_shuffle(y10, y11, LO);                         \
    *(V *)(o + OW + L) = __builtin_shuffle(y10, y11, HI);                     \
}
CV_DEFINE_WINO_OUT(cv_wino_out_f32, float, cv_gvf, 8, CV_BCAST_F32,
                   ((cv_gvi){0, 8, 1, 9, 2, 10, 3, 11}), ((cv_gvi){4, 12, 5, 13, 6, 14, 7, 15}))
CV_DEFINE_WINO_OUT(cv_wino_out_f64, double, cv_gvd, 4, CV_BCAST_F64,
                   ((cv_gvl){0, 4, 1, 5}), ((cv_gvl){2, 6, 3, 7}))

/* Winograd F(4x4, 3x3) in float32 (points 0, 1, -1, 1/2, -2, inf: about 3x
 * more accurate than 0, +-1, +-2 in float32; every coefficient of B and A
 * is dyadic, exact in binary). Eight tiles of one tile row per call, one
 * tile per lane, in the interleaved lane order 0, 2, 4, 6, 1, 3, 5, 7: the
 * order that in-lane 4 x 4 transposes (unpack and shufps, no lane crossing)
 * give when they turn the contiguous columns of the eight tiles into one
 * vector per tile column. The output transform undoes the same transposes,
 * so the order never leaves these two functions and the GEMMs between them
 * (the tiles are independent columns there). */
#define CV_W4_BT(d, v)                                                        \
    do {                                                                      \
        v[0] = d[0] - 1.5f * d[1] - 2.0f * d[2] + 1.5f * d[3] + d[4];        \
        v[1] = 0.5f * d[2] - d[1] + 2.5f * d[3] + d[4];                       \
        v[2] = d[1] - 2.5f * d[2] + 0.5f * d[3] + d[4];                       \
        v[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];                            \
        v[4] = 0.5f * (d[1] - d[3]) - d[2] + d[4];                            \
        v[5] = d[1] - 1.5f * d[2] - 2.0f * d[3] + 1.5f * d[4] + d[5];        \
    } while (0)
#define CV_W4_AT(V, m, y)                                                     \
    do {                                                                      \
        V p12 = m[1] + m[2], m12 = m[1] - m[2];                               \
        y[0] = p12 + m[0] + m[3] + m[4];                                      \
        y[1] = m12 + 0.5f * m[3] - 2.0f * m[4];                               \
        y[2] = p12 + 0.25f * m[3] + 4.0f * m[4];                              \
        y[3] = m12 + 0.125f * m[3] - 8.0f * m[4] + m[5];                      \
    } while (0)
#define CV_UNPACKLO ((cv_gvi){0, 8, 1, 9, 4, 12, 5, 13})
#define CV_UNPACKHI ((cv_gvi){2, 10, 3, 11, 6, 14, 7, 15})
#define CV_MOVELH ((cv_gvi){0, 1, 8, 9, 4, 5, 12, 13})
#define CV_MOVEHL ((cv_gvi){2, 3, 10, 11, 6, 7, 14, 15})

/* v[xi * plane] = (B^T d B)[xi], xi in 6 x 6, of the eight tiles whose 6 x 6
 * patches start at columns 0, 4, .., 28 of the rows s, s + W, .. (reads
 * columns 0 .. 35). Returns the lane sums (finite iff the input is). */
static inline double cv_wino4_in_f32(const float *s, ptrdiff_t W, float *v, ptrdiff_t plane)
{
    cv_gvf h[6][6], chk = (cv_gvf){0};
    for (int i = 0; i < 6; i++) {
        const float *r = s + i * W;
        cv_gvf d[6];
        cv_gvf a0 = *(const cv_gvf *)(r), a1 = *(const cv_gvf *)(r + 8);
        cv_gvf a2 = *(const cv_gvf *)(r + 16), a3 = *(const cv_gvf *)(r + 24);
        cv_gvf t0 = __builtin_shuffle(a0, a1, CV_UNPACKLO), t1 = __builtin_shuffle(a0, a1, CV_UNPACKHI);
        cv_gvf t2 = __builtin_shuffle(a2, a3, CV_UNPACKLO), t3 = __builtin_shuffle(a2, a3, CV_UNPACKHI);
        d[0] = __builtin_shuffle(t0, t2, CV_MOVELH);
        d[1] = __builtin_shuffle(t0, t2, CV_MOVEHL);
        d[2] = __builtin_shuffle(t1, t3, CV_MOVELH);
        d[3] = __builtin_shuffle(t1, t3, CV_MOVEHL);
        /* columns 4 and 5 of tile l are columns 0 and 1 of tile l + 1 */
        a0 = *(const cv_gvf *)(r + 4); a1 = *(const cv_gvf *)(r + 12);
        a2 = *(const cv_gvf *)(r + 20); a3 = *(const cv_gvf *)(r + 28);
        t0 = __builtin_shuffle(a0, a1, CV_UNPACKLO);
        t2 = __builtin_shuffle(a2, a3, CV_UNPACKLO);
        d[4] = __builtin_shuffle(t0, t2, CV_MOVELH);
        d[5] = __builtin_shuffle(t0, t2, CV_MOVEHL);
        CV_W4_BT(d, h[i]);
    }
    for (int b = 0; b < 6; b++) {
        cv_gvf d[6], o[6];
        for (int i = 0; i < 6; i++) d[i] = h[i][b];
        CV_W4_BT(d, o);
        for (int a = 0; a < 6; a++) {
            *(cv_gvf *)(v + (6 * a + b) * plane) = o[a];
            chk += o[a];
        }
    }
    return (double)chk[0] + chk[1] + chk[2] + chk[3] + chk[4] + chk[5] + chk[6] + chk[7];
}

/* The 4 x 4 outputs (A^T M A) + b of eight tiles: m[xi * plane] holds M[xi]
 * in the lane order above; rows 0 .. nrows-1 and columns 0 .. ncols-1 of
 * the 4 x 32 block at o (rows OW apart) are stored. */
static inline void cv_wino4_out_f32(const float *m, ptrdiff_t plane, float b, float *o,
                                    ptrdiff_t OW, int nrows, int ncols)
{
    cv_gvf t[4][6], bv = CV_BCAST_F32(b);
    float tmp[4][32];
    for (int b6 = 0; b6 < 6; b6++) {
        cv_gvf c[6], y[4];
        for (int a = 0; a < 6; a++) c[a] = *(const cv_gvf *)(m + (6 * a + b6) * plane);
        CV_W4_AT(cv_gvf, c, y);
        for (int p = 0; p < 4; p++) t[p][b6] = y[p];
    }
    for (int p = 0; p < 4 && p < nrows; p++) {
        cv_gvf y[4];
        CV_W4_AT(cv_gvf, t[p], y);
        y[0] += bv; y[1] += bv; y[2] += bv; y[3] += bv;
        /* back to contiguous columns: the same in-lane transposes */
        cv_gvf t0 = __builtin_shuffle(y[0], y[1], CV_UNPACKLO), t1 = __builtin_shuffle(y[0], y[1], CV_UNPACKHI);
        cv_gvf t2 = __builtin_shuffle(y[2], y[3], CV_UNPACKLO), t3 = __builtin_shuffle(y[2], y[3], CV_UNPACKHI);
        cv_gvf r0 = __builtin_shuffle(t0, t2, CV_MOVELH), r1 = __builtin_shuffle(t0, t2, CV_MOVEHL);
        cv_gvf r2 = __builtin_shuffle(t1, t3, CV_MOVELH), r3 = __builtin_shuffle(t1, t3, CV_MOVEHL);
        float *dst = ncols >= 32 ? o + p * OW : tmp[p];
        *(cv_gvf *)(dst) = r0; *(cv_gvf *)(dst + 8) = r1;
        *(cv_gvf *)(dst + 16) = r2; *(cv_gvf *)(dst + 24) = r3;
        if (ncols < 32)
            for (int q = 0; q < ncols; q++) o[p * OW + q] = tmp[p][q];
    }
}

/* The same F(4x4) transforms for four tiles in 128-bit vectors, lanes in
 * tile order (one 4 x 4 transpose: no interleaving): for maps whose tile
 * rows hold four tiles or fewer per group of eight (14 x 14: four tiles per
 * row would leave half of every 8-lane group empty). */
typedef float cv_gv4f __attribute__((vector_size(16), aligned(1), may_alias));
typedef int cv_gv4i __attribute__((vector_size(16)));
#define CV_T4(a0, a1, a2, a3, c0, c1, c2, c3)                                 \
    do {                                                                      \
        cv_gv4f t0 = __builtin_shuffle(a0, a1, ((cv_gv4i){0, 4, 1, 5}));      \
        cv_gv4f t1 = __builtin_shuffle(a0, a1, ((cv_gv4i){2, 6, 3, 7}));      \
        cv_gv4f t2 = __builtin_shuffle(a2, a3, ((cv_gv4i){0, 4, 1, 5}));      \
        cv_gv4f t3 = __builtin_shuffle(a2, a3, ((cv_gv4i){2, 6, 3, 7}));      \
        c0 = __builtin_shuffle(t0, t2, ((cv_gv4i){0, 1, 4, 5}));              \
        c1 = __builtin_shuffle(t0, t2, ((cv_gv4i){2, 3, 6, 7}));              \
        c2 = __builtin_shuffle(t1, t3, ((cv_gv4i){0, 1, 4, 5}));              \
        c3 = __builtin_shuffle(t1, t3, ((cv_gv4i){2, 3, 6, 7}));              \
    } while (0)
static inline double cv_wino4_in4_f32(const float *s, ptrdiff_t W, float *v, ptrdiff_t plane)
{
    cv_gv4f h[6][6], chk = (cv_gv4f){0};
    for (int i = 0; i < 6; i++) {
        const float *r = s + i * W;
        cv_gv4f d[6], x;
        CV_T4(*(const cv_gv4f *)(r), *(const cv_gv4f *)(r + 4), *(const cv_gv4f *)(r + 8),
              *(const cv_gv4f *)(r + 12), d[0], d[1], d[2], d[3]);
        /* columns 4 and 5 of tile l are columns 0 and 1 of tile l + 1 */
        CV_T4(*(const cv_gv4f *)(r + 4), *(const cv_gv4f *)(r + 8), *(const cv_gv4f *)(r + 12),
              *(const cv_gv4f *)(r + 16), d[4], d[5], x, x);
        (void)x;
        CV_W4_BT(d, h[i]);
    }
    for (int b = 0; b < 6; b++) {
        cv_gv4f d[6], o[6];
        for (int i = 0; i < 6; i++) d[i] = h[i][b];
        CV_W4_BT(d, o);
        for (int a = 0; a < 6; a++) {
            *(cv_gv4f *)(v + (6 * a + b) * plane) = o[a];
            chk += o[a];
        }
    }
    return ((double)chk[0] + chk[1]) + ((double)chk[2] + chk[3]);
}
static inline void cv_wino4_out4_f32(const float *m, ptrdiff_t plane, float b, float *o,
                                     ptrdiff_t OW, int nrows, int ncols)
{
    cv_gv4f t[4][6], bv = {b, b, b, b};
    float tmp[16];
    for (int b6 = 0; b6 < 6; b6++) {
        cv_gv4f c[6], y[4];
        for (int a = 0; a < 6; a++) c[a] = *(const cv_gv4f *)(m + (6 * a + b6) * plane);
        CV_W4_AT(cv_gv4f, c, y);
        for (int p = 0; p < 4; p++) t[p][b6] = y[p];
    }
    for (int p = 0; p < 4 && p < nrows; p++) {
        cv_gv4f y[4], r0, r1, r2, r3;
        CV_W4_AT(cv_gv4f, t[p], y);
        CV_T4(y[0] + bv, y[1] + bv, y[2] + bv, y[3] + bv, r0, r1, r2, r3);
        float *dst = ncols >= 16 ? o + p * OW : tmp;
        *(cv_gv4f *)(dst) = r0; *(cv_gv4f *)(dst + 4) = r1;
        *(cv_gv4f *)(dst + 8) = r2; *(cv_gv4f *)(dst + 12) = r3;
        if (ncols < 16)
            for (int q = 0; q < ncols; q++) o[p * OW + q] = tmp[q];
    }
}

/* The weight transform of one panel: u[(a*n + b) * plane + l] = (G g_l G^T)[a, b]
 * for the six output channels l of the panel, g[i][l] (i = 3 x 3 taps; lanes
 * 6 and 7 unused) and G n x 3 row-major, in float64 (vectors across the
 * channels) and rounded once. Returns a sum of all entries (finite iff they
 * are), in short chains. */
#define CV_DEFINE_WINO_PACK(NAME, T)                                           \
static inline double NAME(const double (*g)[8], const double *G, int n, T *u,  \
                          ptrdiff_t plane)                                     \
{                                                                             \
    cv_gvd g0[9], g1[9], r0[18], r1[18], chk0 = (cv_gvd){0}, chk1 = (cv_gvd){0};\
    for (int i = 0; i < 9; i++) {                                             \
        g0[i] = *(const cv_gvd *)g[i];                                        \
        g1[i] = *(const cv_gvd *)(g[i] + 4);                                  \
    }                                                                         \
    for (int a = 0; a < n; a++)                                               \
        for (int i = 0; i < 3; i++) {                                         \
            cv_gvd c0 = CV_BCAST_F64(G[3 * a]), c1 = CV_BCAST_F64(G[3 * a + 1]);\
            cv_gvd c2 = CV_BCAST_F64(G[3 * a + 2]);                           \
            r0[3 * a + i] = c0 * g0[i] + c1 * g0[3 + i] + c2 * g0[6 + i];     \
            r1[3 * a + i] = c0 * g1[i] + c1 * g1[3 + i] + c2 * g1[6 + i];     \
        }                                                                     \
    for (int b = 0; b < n; b++) {                                             \
        cv_gvd c0 = CV_BCAST_F64(G[3 * b]), c1 = CV_BCAST_F64(G[3 * b + 1]);  \
        cv_gvd c2 = CV_BCAST_F64(G[3 * b + 2]);                               \
        for (int a = 0; a < n; a++) {                                         \
            cv_gvd a0 = r0[3 * a] * c0 + r0[3 * a + 1] * c1 + r0[3 * a + 2] * c2;\
            cv_gvd a1 = r1[3 * a] * c0 + r1[3 * a + 1] * c1 + r1[3 * a + 2] * c2;\
            T *o = u + (a * n + b) * plane;                                   \
            o[0] = (T)a0[0]; o[1] = (T)a0[1]; o[2] = (T)a0[2]; o[3] = (T)a0[3];\
            o[4] = (T)a1[0]; o[5] = (T)a1[1];                                 \
            chk0 += a0; chk1 += a1;                                           \
        }                                                                     \
    }                                                                         \
    return ((chk0[0] + chk0[1]) + (chk0[2] + chk0[3])) + (chk1[0] + chk1[1]); \
}
CV_DEFINE_WINO_PACK(cv_wino_pack_f32, float)
CV_DEFINE_WINO_PACK(cv_wino_pack_f64, double)
#define CV_WINO_VECTOR 1
#else
#define CV_DEFINE_GEMM6(NAME, T, JW)                                           \
static inline void NAME(T *c, ptrdiff_t ldc, const T *a, const T *b,          \
                        ptrdiff_t ldb, ptrdiff_t K)                           \
{                                                                             \
    T acc[6][JW] = {{0}};                                                     \
    for (ptrdiff_t k = 0; k < K; k++)                                         \
        for (int r = 0; r < 6; r++)                                           \
            for (int j = 0; j < JW; j++) acc[r][j] += a[6 * k + r] * b[ldb * k + j];\
    for (int r = 0; r < 6; r++)                                               \
        for (int j = 0; j < JW; j++) c[r * ldc + j] = acc[r][j];              \
}
CV_DEFINE_GEMM6(cv_gemm6_f32, float, CV_GEMM_JW_F32)
CV_DEFINE_GEMM6(cv_gemm6_f64, double, CV_GEMM_JW_F64)
#define CV_DEFINE_GEMM6_ACC(NAME, T, JW)                                       \
static inline void NAME(T *c, ptrdiff_t ldc, const T *a, const T *b,          \
                        ptrdiff_t ldb, ptrdiff_t K, int accumulate)           \
{                                                                             \
    T acc[6][JW];                                                             \
    for (int r = 0; r < 6; r++)                                               \
        for (int j = 0; j < JW; j++) acc[r][j] = accumulate ? c[r * ldc + j] : 0;\
    for (ptrdiff_t k = 0; k < K; k++)                                         \
        for (int r = 0; r < 6; r++)                                           \
            for (int j = 0; j < JW; j++) acc[r][j] += a[6 * k + r] * b[ldb * k + j];\
    for (int r = 0; r < 6; r++)                                               \
        for (int j = 0; j < JW; j++) c[r * ldc + j] = acc[r][j];              \
}
CV_DEFINE_GEMM6_ACC(cv_gemm6_acc_f32, float, CV_GEMM_JW_F32)
CV_DEFINE_GEMM6_ACC(cv_gemm6_acc_f64, double, CV_GEMM_JW_F64)
#define CV_DEFINE_PGEMM6(NAME, T, JW)                                          \
static inline void NAME(T *c, ptrdiff_t ldc, const T *const *p,               \
                        const ptrdiff_t *off, const T *b, ptrdiff_t K,        \
                        int accumulate)                                       \
{                                                                             \
    T acc[6][JW] = {{0}};                                                     \
    if (accumulate)                                                           \
        for (int r = 0; r < 6; r++)                                           \
            for (int j = 0; j < JW; j++) acc[r][j] = c[r * ldc + j];          \
    for (ptrdiff_t k = 0; k < K; k++)                                         \
        for (int r = 0; r < 6; r++)                                           \
            for (int j = 0; j < JW; j++) acc[r][j] += p[r][off[k]] * b[JW * k + j];\
    for (int r = 0; r < 6; r++)                                               \
        for (int j = 0; j < JW; j++) c[r * ldc + j] = acc[r][j];              \
}
CV_DEFINE_PGEMM6(cv_pgemm6_f32, float, CV_GEMM_JW_F32)
CV_DEFINE_PGEMM6(cv_pgemm6_f64, double, CV_GEMM_JW_F64)
/* the narrow variant: 8 pointers, one vector of channels (8 floats, 4 doubles) */
static inline void cv_pgemm8_f32(float *c, ptrdiff_t ldc, const float *const *p,
                                 const ptrdiff_t *off, const float *b, ptrdiff_t K,
                                 int accumulate)
{
    for (int r = 0; r < 8; r++) {
        float acc[8];
        for (int j = 0; j < 8; j++) acc[j] = accumulate ? c[r * ldc + j] : 0;
        for (ptrdiff_t k = 0; k < K; k++)
            for (int j = 0; j < 8; j++) acc[j] += p[r][off[k]] * b[8 * k + j];
        for (int j = 0; j < 8; j++) c[r * ldc + j] = acc[j];
    }
}
static inline void cv_pgemm8_f64(double *c, ptrdiff_t ldc, const double *const *p,
                                 const ptrdiff_t *off, const double *b, ptrdiff_t K,
                                 int accumulate)
{
    for (int r = 0; r < 8; r++) {
        double acc[4];
        for (int j = 0; j < 4; j++) acc[j] = accumulate ? c[r * ldc + j] : 0;
        for (ptrdiff_t k = 0; k < K; k++)
            for (int j = 0; j < 4; j++) acc[j] += p[r][off[k]] * b[4 * k + j];
        for (int j = 0; j < 4; j++) c[r * ldc + j] = acc[j];
    }
}
/* no vector extensions: the Cython code never calls the vector transforms */
#define CV_WINO_VECTOR 0
static inline double cv_wino_in_f32(const float *s, ptrdiff_t W, float *v, ptrdiff_t plane)
{ (void)s; (void)W; (void)v; (void)plane; return 0; }
static inline double cv_wino_in_f64(const double *s, ptrdiff_t W, double *v, ptrdiff_t plane)
{ (void)s; (void)W; (void)v; (void)plane; return 0; }
static inline void cv_wino_out_f32(const float *m, ptrdiff_t plane, float b, float *o, ptrdiff_t OW)
{ (void)m; (void)plane; (void)b; (void)o; (void)OW; }
static inline void cv_wino_out_f64(const double *m, ptrdiff_t plane, double b, double *o, ptrdiff_t OW)
{ (void)m; (void)plane; (void)b; (void)o; (void)OW; }
static inline double cv_wino4_in_f32(const float *s, ptrdiff_t W, float *v, ptrdiff_t plane)
{ (void)s; (void)W; (void)v; (void)plane; return 0; }
static inline double cv_wino4_in4_f32(const float *s, ptrdiff_t W, float *v, ptrdiff_t plane)
{ (void)s; (void)W; (void)v; (void)plane; return 0; }
static inline void cv_wino4_out4_f32(const float *m, ptrdiff_t plane, float b, float *o,
                                     ptrdiff_t OW, int nrows, int ncols)
{ (void)m; (void)plane; (void)b; (void)o; (void)OW; (void)nrows; (void)ncols; }
static inline double cv_wino_pack_f32(const double (*g)[8], const double *G, int n, float *u,
                                      ptrdiff_t plane)
{ (void)g; (void)G; (void)n; (void)u; (void)plane; return 0; }
static inline double cv_wino_pack_f64(const double (*g)[8], const double *G, int n, double *u,
                                      ptrdiff_t plane)
{ (void)g; (void)G; (void)n; (void)u; (void)plane; return 0; }
static inline void cv_wino4_out_f32(const float *m, ptrdiff_t plane, float b, float *o,
                                    ptrdiff_t OW, int nrows, int ncols)
{ (void)m; (void)plane; (void)b; (void)o; (void)OW; (void)nrows; (void)ncols; }
#endif

/* Two channel panels at once: the six pointer rows of cv_pgemm6 times the
 * panels b0 and b1 (each [K][JW]) into c0 and c1 (rows ldc apart):
 *
 *     c_q[r][0:JW] (+)= sum_k p_r[off[k]] * b_q[k][0:JW]      q in {0, 1}
 *
 * With AVX-512 a panel's JW lanes (16 floats, 8 doubles) are one register:
 * each k is six broadcasts, two loads and 12 FMAs on 512-bit registers,
 * twice the work of cv_pgemm6's step for the same instructions. Cores with
 * two 512-bit FMA units (Intel Xeon) need this to pass half of their peak;
 * Zen 4 runs 512-bit FMAs as two halves, at cv_pgemm6's rate. Each lane's
 * sum is the same chain of FMAs as cv_pgemm6's, so the bits are the same;
 * without AVX-512 the pair is two cv_pgemm6 calls. */
#if defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
#define CV_PAIR_PANELS 1
typedef float cv_zvf __attribute__((vector_size(64), aligned(1), may_alias));
typedef double cv_zvd __attribute__((vector_size(64), aligned(1), may_alias));
#define CV_ZBCAST_F32(x) ((cv_zvf){(x), (x), (x), (x), (x), (x), (x), (x),            \
                                   (x), (x), (x), (x), (x), (x), (x), (x)})
#define CV_ZBCAST_F64(x) ((cv_zvd){(x), (x), (x), (x), (x), (x), (x), (x)})
#define CV_DEFINE_PGEMM6P(NAME, T, V, JW, BCAST)                               \
static CV_NOINLINE void NAME(T *c0, T *c1, ptrdiff_t ldc, const T *const *p,  \
                             const ptrdiff_t *off, const T *b0, const T *b1,  \
                             ptrdiff_t K, int accumulate)                     \
{                                                                             \
    const T *p0 = p[0], *p1 = p[1], *p2 = p[2];                               \
    const T *p3 = p[3], *p4 = p[4], *p5 = p[5];                               \
    V c00 = (V){0}, c01 = (V){0}, c10 = (V){0}, c11 = (V){0};                 \
    V c20 = (V){0}, c21 = (V){0}, c30 = (V){0}, c31 = (V){0};                 \
    V c40 = (V){0}, c41 = (V){0}, c50 = (V){0}, c51 = (V){0};                 \
    if (accumulate) {                                                         \
        c00 = *(V *)(c0); c10 = *(V *)(c0 + ldc); c20 = *(V *)(c0 + 2 * ldc);  \
        c30 = *(V *)(c0 + 3 * ldc); c40 = *(V *)(c0 + 4 * ldc);               \
        c50 = *(V *)(c0 + 5 * ldc);                                           \
        c01 = *(V *)(c1); c11 = *(V *)(c1 + ldc); c21 = *(V *)(c1 + 2 * ldc);  \
        c31 = *(V *)(c1 + 3 * ldc); c41 = *(V *)(c1 + 4 * ldc);               \
        c51 = *(V *)(c1 + 5 * ldc);                                           \
    }                                                                         \
    for (ptrdiff_t k = 0; k < K; k++, b0 += JW, b1 += JW) {                   \
        const ptrdiff_t o = off[k];                                           \
        const V u = *(const V *)(b0), w = *(const V *)(b1);                   \
        V v;                                                                  \
        v = BCAST(p0[o]); c00 += v * u; c01 += v * w;                         \
        v = BCAST(p1[o]); c10 += v * u; c11 += v * w;                         \
        v = BCAST(p2[o]); c20 += v * u; c21 += v * w;                         \
        v = BCAST(p3[o]); c30 += v * u; c31 += v * w;                         \
        v = BCAST(p4[o]); c40 += v * u; c41 += v * w;                         \
        v = BCAST(p5[o]); c50 += v * u; c51 += v * w;                         \
    }                                                                         \
    *(V *)(c0) = c00; *(V *)(c0 + ldc) = c10; *(V *)(c0 + 2 * ldc) = c20;     \
    *(V *)(c0 + 3 * ldc) = c30; *(V *)(c0 + 4 * ldc) = c40;                   \
    *(V *)(c0 + 5 * ldc) = c50;                                               \
    *(V *)(c1) = c01; *(V *)(c1 + ldc) = c11; *(V *)(c1 + 2 * ldc) = c21;     \
    *(V *)(c1 + 3 * ldc) = c31; *(V *)(c1 + 4 * ldc) = c41;                   \
    *(V *)(c1 + 5 * ldc) = c51;                                               \
}
CV_DEFINE_PGEMM6P(cv_pgemm6p_f32, float, cv_zvf, CV_GEMM_JW_F32, CV_ZBCAST_F32)
CV_DEFINE_PGEMM6P(cv_pgemm6p_f64, double, cv_zvd, CV_GEMM_JW_F64, CV_ZBCAST_F64)
/* The packed-A micro-kernel (cv_gemm6_acc) for two blocks of B (b0, b1,
 * rows ldb apart) into two blocks of C (c0, c1, rows ldc apart). */
#define CV_DEFINE_GEMM6P(NAME, T, V, BCAST)                                    \
static CV_NOINLINE void NAME(T *c0, T *c1, ptrdiff_t ldc, const T *a,         \
                             const T *b0, const T *b1, ptrdiff_t ldb,         \
                             ptrdiff_t K, int accumulate)                     \
{                                                                             \
    V c00 = (V){0}, c01 = (V){0}, c10 = (V){0}, c11 = (V){0};                 \
    V c20 = (V){0}, c21 = (V){0}, c30 = (V){0}, c31 = (V){0};                 \
    V c40 = (V){0}, c41 = (V){0}, c50 = (V){0}, c51 = (V){0};                 \
    if (accumulate) {                                                         \
        c00 = *(V *)(c0); c10 = *(V *)(c0 + ldc); c20 = *(V *)(c0 + 2 * ldc);  \
        c30 = *(V *)(c0 + 3 * ldc); c40 = *(V *)(c0 + 4 * ldc);               \
        c50 = *(V *)(c0 + 5 * ldc);                                           \
        c01 = *(V *)(c1); c11 = *(V *)(c1 + ldc); c21 = *(V *)(c1 + 2 * ldc);  \
        c31 = *(V *)(c1 + 3 * ldc); c41 = *(V *)(c1 + 4 * ldc);               \
        c51 = *(V *)(c1 + 5 * ldc);                                           \
    }                                                                         \
    for (ptrdiff_t k = 0; k < K; k++, a += 6, b0 += ldb, b1 += ldb) {         \
        const V u = *(const V *)(b0), w = *(const V *)(b1);                   \
        V v;                                                                  \
        v = BCAST(a[0]); c00 += v * u; c01 += v * w;                          \
        v = BCAST(a[1]); c10 += v * u; c11 += v * w;                          \
        v = BCAST(a[2]); c20 += v * u; c21 += v * w;                          \
        v = BCAST(a[3]); c30 += v * u; c31 += v * w;                          \
        v = BCAST(a[4]); c40 += v * u; c41 += v * w;                          \
        v = BCAST(a[5]); c50 += v * u; c51 += v * w;                          \
    }                                                                         \
    *(V *)(c0) = c00; *(V *)(c0 + ldc) = c10; *(V *)(c0 + 2 * ldc) = c20;     \
    *(V *)(c0 + 3 * ldc) = c30; *(V *)(c0 + 4 * ldc) = c40;                   \
    *(V *)(c0 + 5 * ldc) = c50;                                               \
    *(V *)(c1) = c01; *(V *)(c1 + ldc) = c11; *(V *)(c1 + 2 * ldc) = c21;     \
    *(V *)(c1 + 3 * ldc) = c31; *(V *)(c1 + 4 * ldc) = c41;                   \
    *(V *)(c1 + 5 * ldc) = c51;                                               \
}
CV_DEFINE_GEMM6P(cv_gemm6p_f32, float, cv_zvf, CV_ZBCAST_F32)
CV_DEFINE_GEMM6P(cv_gemm6p_f64, double, cv_zvd, CV_ZBCAST_F64)
#else
#define CV_PAIR_PANELS 0
static inline void cv_pgemm6p_f32(float *c0, float *c1, ptrdiff_t ldc, const float *const *p,
                                  const ptrdiff_t *off, const float *b0, const float *b1,
                                  ptrdiff_t K, int accumulate)
{
    cv_pgemm6_f32(c0, ldc, p, off, b0, K, accumulate);
    cv_pgemm6_f32(c1, ldc, p, off, b1, K, accumulate);
}
static inline void cv_pgemm6p_f64(double *c0, double *c1, ptrdiff_t ldc,
                                  const double *const *p, const ptrdiff_t *off,
                                  const double *b0, const double *b1, ptrdiff_t K,
                                  int accumulate)
{
    cv_pgemm6_f64(c0, ldc, p, off, b0, K, accumulate);
    cv_pgemm6_f64(c1, ldc, p, off, b1, K, accumulate);
}
static CV_NOINLINE void cv_gemm6p_f32(float *c0, float *c1, ptrdiff_t ldc, const float *a,
                                 const float *b0, const float *b1, ptrdiff_t ldb, ptrdiff_t K,
                                 int accumulate)
{
    cv_gemm6_acc_f32(c0, ldc, a, b0, ldb, K, accumulate);
    cv_gemm6_acc_f32(c1, ldc, a, b1, ldb, K, accumulate);
}
static CV_NOINLINE void cv_gemm6p_f64(double *c0, double *c1, ptrdiff_t ldc, const double *a,
                                 const double *b0, const double *b1, ptrdiff_t ldb,
                                 ptrdiff_t K, int accumulate)
{
    cv_gemm6_acc_f64(c0, ldc, a, b0, ldb, K, accumulate);
    cv_gemm6_acc_f64(c1, ldc, a, b1, ldb, K, accumulate);
}
#endif


/* np consecutive panels of A (a_stride apart) times one block of B into (or,
 * with `accumulate`, onto) 6 x JW blocks of C with rows ldc apart, panel p
 * at c + 6 p ldc. Kept out of line: inlined into a large
 * caller (the fused GEMM + fold), GCC had spilled the 12 accumulators to the
 * stack and the loop ran 1.4x slower. */
static CV_NOINLINE void cv_gemm6_panels_f32(float *c, ptrdiff_t ldc, const float *a,
                                           ptrdiff_t a_stride, const float *b, ptrdiff_t ldb,
                                           ptrdiff_t K, ptrdiff_t np, int accumulate)
{
    for (ptrdiff_t p = 0; p < np; p++)
        cv_gemm6_acc_f32(c + p * 6 * ldc, ldc, a + p * a_stride, b, ldb, K, accumulate);
}
static CV_NOINLINE void cv_gemm6_panels_f64(double *c, ptrdiff_t ldc, const double *a,
                                           ptrdiff_t a_stride, const double *b, ptrdiff_t ldb,
                                           ptrdiff_t K, ptrdiff_t np, int accumulate)
{
    for (ptrdiff_t p = 0; p < np; p++)
        cv_gemm6_acc_f64(c + p * 6 * ldc, ldc, a + p * a_stride, b, ldb, K, accumulate);
}

/* Register transposes: d[m * ld + k] = s[k * ls + m] (+ bias[m] when bias is
 * not NULL) for k, m < 8 (float) or < 4 (double): eight (four) vectors
 * loaded, shuffled, stored. */
#if CV_WINO_VECTOR
#define CV_LO128 ((cv_gvi){0, 1, 2, 3, 8, 9, 10, 11})
#define CV_HI128 ((cv_gvi){4, 5, 6, 7, 12, 13, 14, 15})
static inline void cv_tr8_f32(const float *s, ptrdiff_t ls, float *d, ptrdiff_t ld,
                              const float *bias)
{
    const cv_gvf r0 = *(const cv_gvf *)(s), r1 = *(const cv_gvf *)(s + ls);
    const cv_gvf r2 = *(const cv_gvf *)(s + 2 * ls), r3 = *(const cv_gvf *)(s + 3 * ls);
    const cv_gvf r4 = *(const cv_gvf *)(s + 4 * ls), r5 = *(const cv_gvf *)(s + 5 * ls);
    const cv_gvf r6 = *(const cv_gvf *)(s + 6 * ls), r7 = *(const cv_gvf *)(s + 7 * ls);
    const cv_gvf t0 = __builtin_shuffle(r0, r1, CV_UNPACKLO);
    const cv_gvf t1 = __builtin_shuffle(r0, r1, CV_UNPACKHI);
    const cv_gvf t2 = __builtin_shuffle(r2, r3, CV_UNPACKLO);
    const cv_gvf t3 = __builtin_shuffle(r2, r3, CV_UNPACKHI);
    const cv_gvf t4 = __builtin_shuffle(r4, r5, CV_UNPACKLO);
    const cv_gvf t5 = __builtin_shuffle(r4, r5, CV_UNPACKHI);
    const cv_gvf t6 = __builtin_shuffle(r6, r7, CV_UNPACKLO);
    const cv_gvf t7 = __builtin_shuffle(r6, r7, CV_UNPACKHI);
    const cv_gvf u0 = __builtin_shuffle(t0, t2, CV_MOVELH);
    const cv_gvf u1 = __builtin_shuffle(t0, t2, CV_MOVEHL);
    const cv_gvf u2 = __builtin_shuffle(t1, t3, CV_MOVELH);
    const cv_gvf u3 = __builtin_shuffle(t1, t3, CV_MOVEHL);
    const cv_gvf u4 = __builtin_shuffle(t4, t6, CV_MOVELH);
    const cv_gvf u5 = __builtin_shuffle(t4, t6, CV_MOVEHL);
    const cv_gvf u6 = __builtin_shuffle(t5, t7, CV_MOVELH);
    const cv_gvf u7 = __builtin_shuffle(t5, t7, CV_MOVEHL);
    cv_gvf o[8] = {__builtin_shuffle(u0, u4, CV_LO128), __builtin_shuffle(u1, u5, CV_LO128),
                   __builtin_shuffle(u2, u6, CV_LO128), __builtin_shuffle(u3, u7, CV_LO128),
                   __builtin_shuffle(u0, u4, CV_HI128), __builtin_shuffle(u1, u5, CV_HI128),
                   __builtin_shuffle(u2, u6, CV_HI128), __builtin_shuffle(u3, u7, CV_HI128)};
    for (int m = 0; m < 8; m++) {
        if (bias)
            o[m] += CV_BCAST_F32(bias[m]);
        *(cv_gvf *)(d + m * ld) = o[m];
    }
}
static inline void cv_tr4_f64(const double *s, ptrdiff_t ls, double *d, ptrdiff_t ld,
                              const double *bias)
{
    const cv_gvd r0 = *(const cv_gvd *)(s), r1 = *(const cv_gvd *)(s + ls);
    const cv_gvd r2 = *(const cv_gvd *)(s + 2 * ls), r3 = *(const cv_gvd *)(s + 3 * ls);
    const cv_gvd t0 = __builtin_shuffle(r0, r1, (cv_gvl){0, 4, 2, 6});
    const cv_gvd t1 = __builtin_shuffle(r0, r1, (cv_gvl){1, 5, 3, 7});
    const cv_gvd t2 = __builtin_shuffle(r2, r3, (cv_gvl){0, 4, 2, 6});
    const cv_gvd t3 = __builtin_shuffle(r2, r3, (cv_gvl){1, 5, 3, 7});
    cv_gvd o[4] = {__builtin_shuffle(t0, t2, (cv_gvl){0, 1, 4, 5}),
                   __builtin_shuffle(t1, t3, (cv_gvl){0, 1, 4, 5}),
                   __builtin_shuffle(t0, t2, (cv_gvl){2, 3, 6, 7}),
                   __builtin_shuffle(t1, t3, (cv_gvl){2, 3, 6, 7})};
    for (int m = 0; m < 4; m++) {
        if (bias)
            o[m] += CV_BCAST_F64(bias[m]);
        *(cv_gvd *)(d + m * ld) = o[m];
    }
}
#else
#define CV_DEFINE_TR(NAME, T, B)                                               \
static inline void NAME(const T *s, ptrdiff_t ls, T *d, ptrdiff_t ld, const T *bias)\
{                                                                             \
    for (int m = 0; m < B; m++)                                               \
        for (int k = 0; k < B; k++)                                           \
            d[m * ld + k] = bias ? s[k * ls + m] + bias[m] : s[k * ls + m];   \
}
CV_DEFINE_TR(cv_tr8_f32, float, 8)
CV_DEFINE_TR(cv_tr4_f64, double, 4)
#endif

/* A chunk of a pixel-major panel: buf[q * JW + j] = src[j * P + q] for
 * q < pn, j < nj (lanes j >= nj are left as they are):
 * nj rows of a channel-major matrix with rows P apart, transposed. Full
 * panels go through B x B register transposes (8 float, 4 double) instead
 * of one scalar move per element (the blocked weight gradient's output
 * gradient: 25 MB for the ResNet stem). */
#define CV_DEFINE_PANEL_CHUNK(NAME, T, JWC, B, TR)                             \
static inline void NAME(T *buf, const T *src, ptrdiff_t P, ptrdiff_t pn, int nj,\
                        int JW)                                               \
{                                                                             \
    ptrdiff_t q = 0;                                                          \
    if (nj == JW && JW == JWC)                                                \
        for (; q + B <= pn; q += B)                                           \
            for (int h = 0; h < 2; h++)                                       \
                TR(src + B * h * P + q, P, buf + q * JW + B * h, JW, NULL);   \
    for (; q < pn; q++)                                                       \
        for (int j = 0; j < nj; j++)                                          \
            buf[q * JW + j] = src[j * P + q];                                 \
}
CV_DEFINE_PANEL_CHUNK(cv_panel_chunk_f32, float, CV_GEMM_JW_F32, 8, cv_tr8_f32)
CV_DEFINE_PANEL_CHUNK(cv_panel_chunk_f64, double, CV_GEMM_JW_F64, 4, cv_tr4_f64)

/* The inverse, for the blocked forward's output: dst[j * ld + i] =
 * src[i * JW + j] (+ bias[j] when bias is not NULL) for i < n, j < nj: a run
 * of n pixels of a pixel-major tile buffer stored as nj channel rows ld
 * apart. Scalar, these moves read one cache line per element and had cost
 * 7 % of a 3-D layer's time (perf). */
#define CV_DEFINE_UNPANEL(NAME, T, JWC, B, TR)                                 \
static inline void NAME(T *dst, ptrdiff_t ld, const T *src, ptrdiff_t n, int nj,\
                        int JW, const T *bias)                                \
{                                                                             \
    ptrdiff_t i = 0;                                                          \
    if (nj == JW && JW == JWC)                                                \
        for (; i + B <= n; i += B)                                            \
            for (int h = 0; h < 2; h++)                                       \
                TR(src + i * JW + B * h, JW, dst + B * h * ld + i, ld,        \
                   bias ? bias + B * h : NULL);                               \
    for (int j = 0; j < nj; j++)                                              \
        for (ptrdiff_t k = i; k < n; k++)                                     \
            dst[j * ld + k] = bias ? src[k * JW + j] + bias[j] : src[k * JW + j];\
}
CV_DEFINE_UNPANEL(cv_unpanel_f32, float, CV_GEMM_JW_F32, 8, cv_tr8_f32)
CV_DEFINE_UNPANEL(cv_unpanel_f64, double, CV_GEMM_JW_F64, 4, cv_tr4_f64)
#endif

/* Dot product of two row-structured blocks for the weight gradient:
 * sum over r < rows, i < cols of a[r*lda + i] * b[r*ldb + i], with vector
 * accumulators carried across rows and the row tails summed apart; the
 * order is fixed (lanes, accumulators, tail), so the result does not depend
 * on which thread computes it. */
#ifndef CONVOLVE_DOT_KERNELS
#define CONVOLVE_DOT_KERNELS
#if defined(__GNUC__) || defined(__clang__)
#define CV_DEFINE_DOT(NAME, T, V, L)                                           \
static inline T NAME(const T *a, ptrdiff_t lda, const T *b, ptrdiff_t ldb,    \
                     ptrdiff_t rows, ptrdiff_t cols)                          \
{                                                                             \
    V s0 = (V){0}, s1 = (V){0}, s2 = (V){0}, s3 = (V){0};                     \
    T tail = 0;                                                               \
    for (ptrdiff_t r = 0; r < rows; r++, a += lda, b += ldb) {                \
        ptrdiff_t i = 0;                                                      \
        for (; i + 4 * L <= cols; i += 4 * L) {                               \
            s0 += *(const V *)(a + i) * *(const V *)(b + i);                  \
            s1 += *(const V *)(a + i + L) * *(const V *)(b + i + L);          \
            s2 += *(const V *)(a + i + 2 * L) * *(const V *)(b + i + 2 * L);  \
            s3 += *(const V *)(a + i + 3 * L) * *(const V *)(b + i + 3 * L);  \
        }                                                                     \
        if (i + 2 * L <= cols) {                                              \
            s2 += *(const V *)(a + i) * *(const V *)(b + i);                  \
            s3 += *(const V *)(a + i + L) * *(const V *)(b + i + L);          \
            i += 2 * L;                                                       \
        }                                                                     \
        if (i + L <= cols) {                                                  \
            s1 += *(const V *)(a + i) * *(const V *)(b + i);                  \
            i += L;                                                           \
        }                                                                     \
        for (; i < cols; i++) tail += a[i] * b[i];                            \
    }                                                                         \
    V s = (s0 + s1) + (s2 + s3);                                              \
    T r = 0;                                                                  \
    for (int l = 0; l < L; l++) r += s[l];                                    \
    return r + tail;                                                          \
}
CV_DEFINE_DOT(cv_dot_f32, float, cv_gvf, 8)
CV_DEFINE_DOT(cv_dot_f64, double, cv_gvd, 4)

/* K dot products sharing their first operand: res[k] = sum a . (b + k*bstep)
 * over the same rows, each loaded vector of `a` feeding K FMAs (1 + K loads
 * per K FMAs instead of 2 per 1), two sets of K accumulators for latency.
 * The weight gradient's neighbouring taps of one kernel row. */
#define CV_DEFINE_DOTK(NAME, T, V, L, K)                                       \
static inline void NAME(const T *a, ptrdiff_t lda, const T *b, ptrdiff_t ldb, \
                        ptrdiff_t bstep, ptrdiff_t rows, ptrdiff_t cols, T *res)\
{                                                                             \
    V s0[K], s1[K];                                                           \
    T tail[K];                                                                \
    for (int k = 0; k < K; k++) { s0[k] = (V){0}; s1[k] = (V){0}; tail[k] = 0; }\
    for (ptrdiff_t r = 0; r < rows; r++, a += lda, b += ldb) {                \
        ptrdiff_t i = 0;                                                      \
        for (; i + 2 * L <= cols; i += 2 * L) {                               \
            const V a0 = *(const V *)(a + i), a1 = *(const V *)(a + i + L);   \
            for (int k = 0; k < K; k++) {                                     \
                s0[k] += a0 * *(const V *)(b + k * bstep + i);                \
                s1[k] += a1 * *(const V *)(b + k * bstep + i + L);            \
            }                                                                 \
        }                                                                     \
        for (; i + L <= cols; i += L) {                                       \
            const V a0 = *(const V *)(a + i);                                 \
            for (int k = 0; k < K; k++) s0[k] += a0 * *(const V *)(b + k * bstep + i);\
        }                                                                     \
        for (; i < cols; i++)                                                 \
            for (int k = 0; k < K; k++) tail[k] += a[i] * b[k * bstep + i];   \
    }                                                                         \
    for (int k = 0; k < K; k++) {                                             \
        V s = s0[k] + s1[k];                                                  \
        T t = 0;                                                              \
        for (int l = 0; l < L; l++) t += s[l];                                \
        res[k] = t + tail[k];                                                 \
    }                                                                         \
}
#define CV_DOTK_ALL(T, V, L, SUF)                                              \
    CV_DEFINE_DOTK(cv_dot2_##SUF, T, V, L, 2) CV_DEFINE_DOTK(cv_dot3_##SUF, T, V, L, 3) \
    CV_DEFINE_DOTK(cv_dot4_##SUF, T, V, L, 4) CV_DEFINE_DOTK(cv_dot5_##SUF, T, V, L, 5) \
    CV_DEFINE_DOTK(cv_dot6_##SUF, T, V, L, 6) CV_DEFINE_DOTK(cv_dot7_##SUF, T, V, L, 7)
CV_DOTK_ALL(float, cv_gvf, 8, f32)
CV_DOTK_ALL(double, cv_gvd, 4, f64)
#else
#define CV_DEFINE_DOT(NAME, T)                                                 \
static inline T NAME(const T *a, ptrdiff_t lda, const T *b, ptrdiff_t ldb,    \
                     ptrdiff_t rows, ptrdiff_t cols)                          \
{                                                                             \
    T r = 0;                                                                  \
    for (ptrdiff_t j = 0; j < rows; j++)                                      \
        for (ptrdiff_t i = 0; i < cols; i++) r += a[j * lda + i] * b[j * ldb + i];\
    return r;                                                                 \
}
CV_DEFINE_DOT(cv_dot_f32, float)
CV_DEFINE_DOT(cv_dot_f64, double)
#endif

/* cv_dotk_*: dispatch on the number of taps (1..7) */
#if defined(__GNUC__) || defined(__clang__)
#define CV_DEFINE_DOTK_DISPATCH(T, SUF)                                        \
static inline void cv_dotk_##SUF(const T *a, ptrdiff_t lda, const T *b,       \
                                 ptrdiff_t ldb, ptrdiff_t bstep, ptrdiff_t rows,\
                                 ptrdiff_t cols, int K, T *res)               \
{                                                                             \
    switch (K) {                                                              \
    case 2: cv_dot2_##SUF(a, lda, b, ldb, bstep, rows, cols, res); return;    \
    case 3: cv_dot3_##SUF(a, lda, b, ldb, bstep, rows, cols, res); return;    \
    case 4: cv_dot4_##SUF(a, lda, b, ldb, bstep, rows, cols, res); return;    \
    case 5: cv_dot5_##SUF(a, lda, b, ldb, bstep, rows, cols, res); return;    \
    case 6: cv_dot6_##SUF(a, lda, b, ldb, bstep, rows, cols, res); return;    \
    case 7: cv_dot7_##SUF(a, lda, b, ldb, bstep, rows, cols, res); return;    \
    default:                                                                  \
        for (int k = 0; k < K; k++)                                           \
            res[k] = cv_dot_##SUF(a, lda, b + k * bstep, ldb, rows, cols);    \
    }                                                                         \
}
#else
#define CV_DEFINE_DOTK_DISPATCH(T, SUF)                                        \
static inline void cv_dotk_##SUF(const T *a, ptrdiff_t lda, const T *b,       \
                                 ptrdiff_t ldb, ptrdiff_t bstep, ptrdiff_t rows,\
                                 ptrdiff_t cols, int K, T *res)               \
{                                                                             \
    for (int k = 0; k < K; k++)                                               \
        res[k] = cv_dot_##SUF(a, lda, b + k * bstep, ldb, rows, cols);        \
}
#endif
CV_DEFINE_DOTK_DISPATCH(float, f32)
CV_DEFINE_DOTK_DISPATCH(double, f64)
#endif
