/* Register-blocked micro-kernels for direct convolution.
 *
 * One operation, used by every direct path:
 *
 *     acc[i] += sum_t  w[t] * src[off[t] + i]      for i in [0, TILE)
 *
 * (or `=` with from_zero), a tile of TILE consecutive outputs accumulating
 * `ntaps` taps whose input
 * offsets are given (kw * dw along a row; kh * dh * Wp + kw * dw over a
 * flattened padded plane). The tile's accumulators are held in vector
 * registers for all taps: 8 vectors of 8 floats (64 outputs) or 8 vectors
 * of 4 doubles (32 outputs) — 8 independent FMA chains hide the FMA latency
 * with 2 FMA ports, and leave registers for the broadcast weight and load.
 *
 * GCC/Clang vector extensions keep this portable (AVX2, AVX-512 with
 * 256-bit vectors, NEON emulated as 2x128); other compilers get the plain
 * loop, which they vectorize themselves. Unaligned loads go through vector
 * types declared with alignment 1 (the idiom of GCC's own avxintrin.h).
 */
#ifndef CONVOLVE_MICROKERNELS_H
#define CONVOLVE_MICROKERNELS_H

#include <stddef.h>

#define CV_TILE_F32 64
#define CV_TILE_F64 32

#if defined(__GNUC__) || defined(__clang__)
typedef float cv_vf __attribute__((vector_size(32), aligned(1), may_alias));
typedef double cv_vd __attribute__((vector_size(32), aligned(1), may_alias));

/* Broadcast as an initializer: `(V){0} + x` costs a scalar add before the
 * broadcast (0 + x is not x for x = -0 without -ffast-math). */
#define CV_SPLAT_F32(x) ((cv_vf){(x), (x), (x), (x), (x), (x), (x), (x)})
#define CV_SPLAT_F64(x) ((cv_vd){(x), (x), (x), (x)})

#define CV_DEFINE_TILE(NAME, T, V, L, SPLAT)                                   \
static inline void NAME(T *acc, const T *src, const ptrdiff_t *off,           \
                        const T *w, ptrdiff_t ntaps, int from_zero)           \
{                                                                             \
    V a0 = (V){0}, a1 = (V){0}, a2 = (V){0}, a3 = (V){0};                     \
    V a4 = (V){0}, a5 = (V){0}, a6 = (V){0}, a7 = (V){0};                     \
    if (!from_zero) {                                                         \
        a0 = *(const V *)(acc + 0 * L); a1 = *(const V *)(acc + 1 * L);       \
        a2 = *(const V *)(acc + 2 * L); a3 = *(const V *)(acc + 3 * L);       \
        a4 = *(const V *)(acc + 4 * L); a5 = *(const V *)(acc + 5 * L);       \
        a6 = *(const V *)(acc + 6 * L); a7 = *(const V *)(acc + 7 * L);       \
    }                                                                         \
    for (ptrdiff_t t = 0; t < ntaps; t++) {                                   \
        const T *s = src + off[t];                                            \
        V wv = SPLAT(w[t]);                                                   \
        a0 += wv * *(const V *)(s + 0 * L); a1 += wv * *(const V *)(s + 1 * L);\
        a2 += wv * *(const V *)(s + 2 * L); a3 += wv * *(const V *)(s + 3 * L);\
        a4 += wv * *(const V *)(s + 4 * L); a5 += wv * *(const V *)(s + 5 * L);\
        a6 += wv * *(const V *)(s + 6 * L); a7 += wv * *(const V *)(s + 7 * L);\
    }                                                                         \
    *(V *)(acc + 0 * L) = a0; *(V *)(acc + 1 * L) = a1;                       \
    *(V *)(acc + 2 * L) = a2; *(V *)(acc + 3 * L) = a3;                       \
    *(V *)(acc + 4 * L) = a4; *(V *)(acc + 5 * L) = a5;                       \
    *(V *)(acc + 6 * L) = a6; *(V *)(acc + 7 * L) = a7;                       \
}
CV_DEFINE_TILE(cv_tile_f32, float, cv_vf, 8, CV_SPLAT_F32)
CV_DEFINE_TILE(cv_tile_f64, double, cv_vd, 4, CV_SPLAT_F64)

/* Four output channels at once: acc[j][i] += sum_t w_j[t] * src[off[t] + i]
 * for j < 4 channels (weights w0..w3) and a tile of 2 vectors (16 floats or
 * 8 doubles). Each input vector loaded feeds 4 FMAs from registers, so the
 * input a tile reads (2 vectors per tap) stays in L1 even for hundreds of
 * taps: the arithmetic intensity channel-heavy layers need. */
#define CV_DEFINE_TILE4(NAME, T, V, L, SPLAT)                                  \
static inline void NAME(T *acc, const T *src, const ptrdiff_t *off,           \
                        const T *w0, const T *w1, const T *w2, const T *w3,   \
                        ptrdiff_t ntaps)                                      \
{                                                                             \
    V a00 = (V){0}, a01 = (V){0}, a10 = (V){0}, a11 = (V){0};                 \
    V a20 = (V){0}, a21 = (V){0}, a30 = (V){0}, a31 = (V){0};                 \
    for (ptrdiff_t t = 0; t < ntaps; t++) {                                   \
        const T *s = src + off[t];                                            \
        V x0 = *(const V *)(s), x1 = *(const V *)(s + L);                     \
        V v;                                                                  \
        v = SPLAT(w0[t]); a00 += v * x0; a01 += v * x1;                     \
        v = SPLAT(w1[t]); a10 += v * x0; a11 += v * x1;                     \
        v = SPLAT(w2[t]); a20 += v * x0; a21 += v * x1;                     \
        v = SPLAT(w3[t]); a30 += v * x0; a31 += v * x1;                     \
    }                                                                         \
    *(V *)(acc + 0 * L) = a00; *(V *)(acc + 1 * L) = a01;                     \
    *(V *)(acc + 2 * L) = a10; *(V *)(acc + 3 * L) = a11;                     \
    *(V *)(acc + 4 * L) = a20; *(V *)(acc + 5 * L) = a21;                     \
    *(V *)(acc + 6 * L) = a30; *(V *)(acc + 7 * L) = a31;                     \
}
CV_DEFINE_TILE4(cv_tile4_f32, float, cv_vf, 8, CV_SPLAT_F32)
CV_DEFINE_TILE4(cv_tile4_f64, double, cv_vd, 4, CV_SPLAT_F64)

/* Six output channels at once, weights packed as wp[t][6] (one stream):
 * acc[j][i] = sum_t wp[t][j] * src[off[t] + i], j < 6, a tile of 2 vectors.
 * 12 accumulators (2 FMA ports x latency 4 need 8: headroom), 2 input loads
 * and 6 broadcasts per 12 FMAs. */
#define CV_DEFINE_TILE6(NAME, T, V, L, SPLAT)                                  \
static inline void NAME##_acc(T *acc, const T *src, const ptrdiff_t *off,     \
                              const T *wp, ptrdiff_t ntaps, int accumulate)   \
{                                                                             \
    V a00 = (V){0}, a01 = (V){0}, a10 = (V){0}, a11 = (V){0};                 \
    V a20 = (V){0}, a21 = (V){0}, a30 = (V){0}, a31 = (V){0};                 \
    V a40 = (V){0}, a41 = (V){0}, a50 = (V){0}, a51 = (V){0};                 \
    if (accumulate) {                                                         \
        a00 = *(V *)(acc + 0 * L); a01 = *(V *)(acc + 1 * L);                 \
        a10 = *(V *)(acc + 2 * L); a11 = *(V *)(acc + 3 * L);                 \
        a20 = *(V *)(acc + 4 * L); a21 = *(V *)(acc + 5 * L);                 \
        a30 = *(V *)(acc + 6 * L); a31 = *(V *)(acc + 7 * L);                 \
        a40 = *(V *)(acc + 8 * L); a41 = *(V *)(acc + 9 * L);                 \
        a50 = *(V *)(acc + 10 * L); a51 = *(V *)(acc + 11 * L);               \
    }                                                                         \
    for (ptrdiff_t t = 0; t < ntaps; t++, wp += 6) {                          \
        const T *s = src + off[t];                                            \
        V x0 = *(const V *)(s), x1 = *(const V *)(s + L);                     \
        V v;                                                                  \
        v = SPLAT(wp[0]); a00 += v * x0; a01 += v * x1;                       \
        v = SPLAT(wp[1]); a10 += v * x0; a11 += v * x1;                       \
        v = SPLAT(wp[2]); a20 += v * x0; a21 += v * x1;                       \
        v = SPLAT(wp[3]); a30 += v * x0; a31 += v * x1;                       \
        v = SPLAT(wp[4]); a40 += v * x0; a41 += v * x1;                       \
        v = SPLAT(wp[5]); a50 += v * x0; a51 += v * x1;                       \
    }                                                                         \
    *(V *)(acc + 0 * L) = a00; *(V *)(acc + 1 * L) = a01;                     \
    *(V *)(acc + 2 * L) = a10; *(V *)(acc + 3 * L) = a11;                     \
    *(V *)(acc + 4 * L) = a20; *(V *)(acc + 5 * L) = a21;                     \
    *(V *)(acc + 6 * L) = a30; *(V *)(acc + 7 * L) = a31;                     \
    *(V *)(acc + 8 * L) = a40; *(V *)(acc + 9 * L) = a41;                     \
    *(V *)(acc + 10 * L) = a50; *(V *)(acc + 11 * L) = a51;                   \
}                                                                             \
static inline void NAME(T *acc, const T *src, const ptrdiff_t *off,           \
                        const T *wp, ptrdiff_t ntaps)                         \
{ NAME##_acc(acc, src, off, wp, ntaps, 0); }
CV_DEFINE_TILE6(cv_tile6_f32, float, cv_vf, 8, CV_SPLAT_F32)
CV_DEFINE_TILE6(cv_tile6_f64, double, cv_vd, 4, CV_SPLAT_F64)

/* One input plane, dilation 1: four output rows x two vectors (16 floats,
 * 8 doubles) of a padded plane with rows Wp apart, a KH x KW kernel w:
 *
 *     acc[j][i] = sum_{kh, kw} w[kh][kw] * src[(j + kh) * Wp + kw + i]
 *
 * Input row r's shifted vectors are loaded once and feed every output row
 * j = r - kh they reach (up to 4 FMAs per load, where cv_tile's flattened
 * tile does one: a 5 x 5 filter of one plane was load-bound at ~40 % of the
 * FMA peak). Each output sums its taps in (kh, kw) order from zero, as
 * cv_tile does: the same bits. */
#define CV_ROW4_FMA(V, SPLAT, u, wr, a0, a1, a2, a3)                          \
    if (u) { V v = SPLAT(wr); a0 += v * x0; a1 += v * x1; a2 += v * x2; a3 += v * x3; }
#define CV_DEFINE_TILE_ROWS4(NAME, T, V, L, SPLAT)                             \
static __attribute__((noinline)) void NAME(T *acc, const T *src, ptrdiff_t Wp, \
                                           const T *w, ptrdiff_t KH, ptrdiff_t KW)\
{                                                                             \
    V a00 = (V){0}, a01 = (V){0}, a02 = (V){0}, a03 = (V){0};                 \
    V a10 = (V){0}, a11 = (V){0}, a12 = (V){0}, a13 = (V){0};                 \
    V a20 = (V){0}, a21 = (V){0}, a22 = (V){0}, a23 = (V){0};                 \
    V a30 = (V){0}, a31 = (V){0}, a32 = (V){0}, a33 = (V){0};                 \
    for (ptrdiff_t r = 0; r < KH + 3; r++) {                                  \
        const T *row = src + r * Wp;                                          \
        const int u0 = r < KH, u1 = r >= 1 && r - 1 < KH;                     \
        const int u2 = r >= 2 && r - 2 < KH, u3 = r >= 3 && r - 3 < KH;       \
        for (ptrdiff_t kw = 0; kw < KW; kw++) {                               \
            const T *s = row + kw;                                            \
            const V x0 = *(const V *)(s), x1 = *(const V *)(s + L);           \
            const V x2 = *(const V *)(s + 2 * L), x3 = *(const V *)(s + 3 * L);\
            CV_ROW4_FMA(V, SPLAT, u0, w[r * KW + kw], a00, a01, a02, a03)               \
            CV_ROW4_FMA(V, SPLAT, u1, w[(r - 1) * KW + kw], a10, a11, a12, a13)         \
            CV_ROW4_FMA(V, SPLAT, u2, w[(r - 2) * KW + kw], a20, a21, a22, a23)         \
            CV_ROW4_FMA(V, SPLAT, u3, w[(r - 3) * KW + kw], a30, a31, a32, a33)         \
        }                                                                     \
    }                                                                         \
    *(V *)(acc + 0 * L) = a00; *(V *)(acc + 1 * L) = a01;                     \
    *(V *)(acc + 2 * L) = a02; *(V *)(acc + 3 * L) = a03;                     \
    *(V *)(acc + 4 * L) = a10; *(V *)(acc + 5 * L) = a11;                     \
    *(V *)(acc + 6 * L) = a12; *(V *)(acc + 7 * L) = a13;                     \
    *(V *)(acc + 8 * L) = a20; *(V *)(acc + 9 * L) = a21;                     \
    *(V *)(acc + 10 * L) = a22; *(V *)(acc + 11 * L) = a23;                   \
    *(V *)(acc + 12 * L) = a30; *(V *)(acc + 13 * L) = a31;                   \
    *(V *)(acc + 14 * L) = a32; *(V *)(acc + 15 * L) = a33;                   \
}
CV_DEFINE_TILE_ROWS4(cv_tile_rows4_f32, float, cv_vf, 8, CV_SPLAT_F32)
CV_DEFINE_TILE_ROWS4(cv_tile_rows4_f64, double, cv_vd, 4, CV_SPLAT_F64)
#define CONVOLVE_VECTOR_EXT 1
#else
#define CV_DEFINE_TILE(NAME, T, TILE)                                          \
static inline void NAME(T *acc, const T *src, const ptrdiff_t *off,           \
                        const T *w, ptrdiff_t ntaps, int from_zero)           \
{                                                                             \
    if (from_zero) for (ptrdiff_t i = 0; i < TILE; i++) acc[i] = 0;           \
    for (ptrdiff_t t = 0; t < ntaps; t++) {                                   \
        const T *s = src + off[t];                                            \
        const T wt = w[t];                                                    \
        for (ptrdiff_t i = 0; i < TILE; i++) acc[i] += wt * s[i];             \
    }                                                                         \
}
CV_DEFINE_TILE(cv_tile_f32, float, CV_TILE_F32)
CV_DEFINE_TILE(cv_tile_f64, double, CV_TILE_F64)
#define CV_DEFINE_TILE4(NAME, T, TILE)                                         \
static inline void NAME(T *acc, const T *src, const ptrdiff_t *off,           \
                        const T *w0, const T *w1, const T *w2, const T *w3,   \
                        ptrdiff_t ntaps)                                      \
{                                                                             \
    const T *ws[4] = {w0, w1, w2, w3};                                        \
    for (ptrdiff_t i = 0; i < 4 * TILE; i++) acc[i] = 0;                      \
    for (ptrdiff_t t = 0; t < ntaps; t++) {                                   \
        const T *s = src + off[t];                                            \
        for (int j = 0; j < 4; j++) {                                         \
            const T wt = ws[j][t];                                            \
            for (ptrdiff_t i = 0; i < TILE; i++) acc[j * TILE + i] += wt * s[i];\
        }                                                                     \
    }                                                                         \
}
CV_DEFINE_TILE4(cv_tile4_f32, float, 16)
CV_DEFINE_TILE4(cv_tile4_f64, double, 8)
#define CV_DEFINE_TILE6(NAME, T, TILE)                                         \
static inline void NAME##_acc(T *acc, const T *src, const ptrdiff_t *off,     \
                              const T *wp, ptrdiff_t ntaps, int accumulate)   \
{                                                                             \
    if (!accumulate) for (ptrdiff_t i = 0; i < 6 * TILE; i++) acc[i] = 0;     \
    for (ptrdiff_t t = 0; t < ntaps; t++) {                                   \
        const T *s = src + off[t];                                            \
        for (int j = 0; j < 6; j++)                                           \
            for (ptrdiff_t i = 0; i < TILE; i++) acc[j * TILE + i] += wp[6 * t + j] * s[i];\
    }                                                                         \
} \
static inline void NAME(T *acc, const T *src, const ptrdiff_t *off,           \
                        const T *wp, ptrdiff_t ntaps)                         \
{ NAME##_acc(acc, src, off, wp, ntaps, 0); }
CV_DEFINE_TILE6(cv_tile6_f32, float, 16)
CV_DEFINE_TILE6(cv_tile6_f64, double, 8)
#define CV_DEFINE_TILE_ROWS4(NAME, T, TWO)                                    \
static void NAME(T *acc, const T *src, ptrdiff_t Wp, const T *w, ptrdiff_t KH, \
                 ptrdiff_t KW)                                                \
{                                                                             \
    for (int j = 0; j < 4; j++)                                               \
        for (int i = 0; i < TWO; i++) {                                       \
            T a = 0;                                                          \
            for (ptrdiff_t kh = 0; kh < KH; kh++)                             \
                for (ptrdiff_t kw = 0; kw < KW; kw++)                         \
                    a += w[kh * KW + kw] * src[(j + kh) * Wp + kw + i];       \
            acc[j * TWO + i] = a;                                             \
        }                                                                     \
}
CV_DEFINE_TILE_ROWS4(cv_tile_rows4_f32, float, 32)
CV_DEFINE_TILE_ROWS4(cv_tile_rows4_f64, double, 16)
#define CONVOLVE_VECTOR_EXT 0
#endif

#endif
