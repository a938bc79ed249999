/* Register-blocked micro-kernels for direct convolution.
 *
 * One operation, used by every direct path:
 *
 *     acc[i] += sum_t  w[t] * src[off[t] + i]      for i in [0, TILE)
 *
 * a tile of TILE consecutive outputs accumulating `ntaps` taps whose input
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

#define CV_DEFINE_TILE(NAME, T, V, L)                                          \
static inline void NAME(T *acc, const T *src, const ptrdiff_t *off,           \
                        const T *w, ptrdiff_t ntaps)                          \
{                                                                             \
    V a0 = *(const V *)(acc + 0 * L), a1 = *(const V *)(acc + 1 * L);          \
    V a2 = *(const V *)(acc + 2 * L), a3 = *(const V *)(acc + 3 * L);          \
    V a4 = *(const V *)(acc + 4 * L), a5 = *(const V *)(acc + 5 * L);          \
    V a6 = *(const V *)(acc + 6 * L), a7 = *(const V *)(acc + 7 * L);          \
    for (ptrdiff_t t = 0; t < ntaps; t++) {                                   \
        const T *s = src + off[t];                                            \
        V wv = (V){0} + w[t];                                                 \
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
CV_DEFINE_TILE(cv_tile_f32, float, cv_vf, 8)
CV_DEFINE_TILE(cv_tile_f64, double, cv_vd, 4)
#define CONVOLVE_VECTOR_EXT 1
#else
#define CV_DEFINE_TILE(NAME, T, TILE)                                          \
static inline void NAME(T *acc, const T *src, const ptrdiff_t *off,           \
                        const T *w, ptrdiff_t ntaps)                          \
{                                                                             \
    for (ptrdiff_t t = 0; t < ntaps; t++) {                                   \
        const T *s = src + off[t];                                            \
        const T wt = w[t];                                                    \
        for (ptrdiff_t i = 0; i < TILE; i++) acc[i] += wt * s[i];             \
    }                                                                         \
}
CV_DEFINE_TILE(cv_tile_f32, float, CV_TILE_F32)
CV_DEFINE_TILE(cv_tile_f64, double, CV_TILE_F64)
#define CONVOLVE_VECTOR_EXT 0
#endif

#endif
