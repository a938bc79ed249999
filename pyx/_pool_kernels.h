/* Row kernels for max and average pooling (pyx/_pool.pyx).
 *
 * One output row of a max pool is computed in two passes over L1-resident
 * scratch:
 *
 *   vertical    s[w] = max over the window's valid input rows (kd, kh) of
 *               x[row][w]        (and ix[w] = flat index of the winner)
 *   horizontal  out[ow] = max over kw of s[ow*sw - pw + kw*dw]
 *
 * `s` is padded with -inf on both sides (index: IX's maximum), so the
 * horizontal pass has no bounds checks. With stride 2 the taps of L
 * consecutive outputs are the even lanes of two vectors (deinterleaved with
 * one shuffle), so a k3s2 window costs three vector maxima per L outputs.
 *
 * The max with indices keeps PyTorch's semantics in any combining order by
 * ranking (value, index) pairs: a NaN beats every number and, among NaNs, the
 * largest index wins (PyTorch takes every NaN it meets in (kd, kh, kw) order,
 * i.e. the last); among equal numbers the smallest index wins (the first
 * occurrence). Padding cells therefore never win unless the window holds no
 * input cell, which the caller excludes. The values-only path uses
 * `v > m || v != v`: the same value, up to the sign of a zero max when +0
 * and -0 tie (the first one in (kw, kh) order rather than (kh, kw)).
 *
 * Average pooling keeps the generic kernels' summation orders exactly.
 * Forward: per output, 0 + taps in (kd, kh, kw) order, the row sweep adding
 * one tap of L outputs at a time. Backward: each window row receives the
 * output row's g = grad / count tap by tap, kw descending, which for any one
 * cell is ow ascending, the order of the per-output loop it replaces.
 */
#ifndef CONVOLVE_POOL_KERNELS_H
#define CONVOLVE_POOL_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#define CV_POOL_VECTOR 1
typedef float cv_pvf __attribute__((vector_size(32), aligned(1), may_alias));
typedef double cv_pvd __attribute__((vector_size(32), aligned(1), may_alias));
typedef int32_t cv_pvi __attribute__((vector_size(32)));
typedef int64_t cv_pvl __attribute__((vector_size(32)));
typedef int32_t cv_pviu __attribute__((vector_size(32), aligned(1), may_alias));
typedef int64_t cv_pvlu __attribute__((vector_size(32), aligned(1), may_alias));
/* int64 indices of one vector of outputs, as computed and as stored */
typedef int64_t cv_pvl8f32 __attribute__((vector_size(64)));
typedef int64_t cv_pvl8f64 __attribute__((vector_size(32)));
typedef int64_t cv_pvl8uf32 __attribute__((vector_size(64), aligned(1), may_alias));
typedef int64_t cv_pvl8uf64 __attribute__((vector_size(32), aligned(1), may_alias));
/* Even lanes of b[0 .. 2L-1], taken from the vectors at b and b + L - 1 (its
 * odd lanes) so that nothing past b[2L - 2], the last cell used, is read. */
#define CV_PEVEN_F32 ((cv_pvi){0, 2, 4, 6, 9, 11, 13, 15})
#define CV_PEVEN_F64 ((cv_pvl){0, 2, 5, 7})
#else
#define CV_POOL_VECTOR 0
#endif

/* The index scratch `ix` holds flat indices in one input plane as IX: int32
 * for float (the caller checks that a plane has fewer than 2^31 cells) so
 * that index lanes line up with value lanes, int64 for double; padding cells
 * hold IX's maximum. */
#define CV_POOL_TAKE(v, m, i, im)                                              \
    (((v) != (v)) ? (((m) == (m)) | ((i) > (im)))                             \
                  : (((v) > (m)) | (((v) == (m)) & ((i) < (im)))))

#define CV_DEFINE_POOL_SCALAR(SFX, T, IX)                                      \
static inline void cv_pool_vmax_idx_tail_##SFX(const T *p, const ptrdiff_t *off,\
        int nr, ptrdiff_t w, ptrdiff_t W, T *s, IX *ix)                       \
{                                                                             \
    for (; w < W; w++) {                                                      \
        T m = p[off[0] + w];                                                  \
        IX im = (IX)(off[0] + w);                                             \
        for (int r = 1; r < nr; r++) {                                        \
            T v = p[off[r] + w];                                              \
            int take = (v > m) | (v != v);                                    \
            m = take ? v : m;                                                 \
            im = take ? (IX)(off[r] + w) : im;                                \
        }                                                                     \
        s[w] = m;                                                             \
        ix[w] = im;                                                           \
    }                                                                         \
}                                                                             \
static inline void cv_pool_hmax_idx_tail_##SFX(const T *s0, const IX *ix0,    \
        T *o, int64_t *io, ptrdiff_t ow, ptrdiff_t OW, ptrdiff_t KW,          \
        ptrdiff_t sw, ptrdiff_t pw, ptrdiff_t dw)                             \
{                                                                             \
    for (; ow < OW; ow++) {                                                   \
        ptrdiff_t j = ow * sw - pw;                                           \
        T m = s0[j];                                                          \
        IX im = ix0[j];                                                       \
        for (ptrdiff_t k = 1; k < KW; k++) {                                  \
            T v = s0[j + k * dw];                                             \
            IX i = ix0[j + k * dw];                                           \
            int take = CV_POOL_TAKE(v, m, i, im);                             \
            m = take ? v : m;                                                 \
            im = take ? i : im;                                               \
        }                                                                     \
        o[ow] = m;                                                            \
        io[ow] = (int64_t)im;                                                 \
    }                                                                         \
}

CV_DEFINE_POOL_SCALAR(f32, float, int32_t)
CV_DEFINE_POOL_SCALAR(f64, double, int64_t)

#if CV_POOL_VECTOR
#define CV_DEFINE_POOL_VEC(SFX, T, V, VI, VIU, IX, L, EVEN, IOTA)              \
static inline V cv_pool_vm_##SFX(V m, V v)                                    \
{                                                                             \
    VI t = (v > m) | (v != v);                                                \
    return (V)((t & (VI)v) | (~t & (VI)m));                                   \
}                                                                             \
static inline V cv_pool_even_##SFX(const T *b)                                \
{                                                                             \
    return __builtin_shuffle(*(const V *)b, *(const V *)(b + L - 1), EVEN);   \
}                                                                             \
/* s[w] = max over rows r of p[off[r] + w]; ix[w] = off[winner] + w. */       \
static inline void cv_pool_vmax_idx_##SFX(const T *p, const ptrdiff_t *off,   \
        int nr, ptrdiff_t W, T *s, IX *ix)                                    \
{                                                                             \
    ptrdiff_t w = 0;                                                          \
    if (sizeof(T) == 8) {                                                     \
        /* row at a time for double, as in cv_pool_vmax */                    \
        for (; w + L <= W; w += L) {                                          \
            *(V *)(s + w) = *(const V *)(p + off[0] + w);                     \
            *(VIU *)(ix + w) = IOTA + (IX)(off[0] + w);                       \
        }                                                                     \
        for (int r = 1; r < nr; r++) {                                        \
            const T *rr = p + off[r];                                         \
            for (ptrdiff_t c = 0; c + L <= w; c += L) {                       \
                V v = *(const V *)(rr + c), m = *(const V *)(s + c);          \
                VI t = (v > m) | (v != v);                                    \
                *(V *)(s + c) = (V)((t & (VI)v) | (~t & (VI)m));              \
                *(VIU *)(ix + c) = (t & (IOTA + (IX)(off[r] + c)))            \
                                 | (~t & *(const VIU *)(ix + c));             \
            }                                                                 \
        }                                                                     \
        cv_pool_vmax_idx_tail_##SFX(p, off, nr, w, W, s, ix);                 \
        return;                                                               \
    }                                                                         \
    for (; w + L <= W; w += L) {                                              \
        V m = *(const V *)(p + off[0] + w);                                   \
        VI im = IOTA + (IX)(off[0] + w);                                      \
        for (int r = 1; r < nr; r++) {                                        \
            V v = *(const V *)(p + off[r] + w);                               \
            VI t = (v > m) | (v != v);                                        \
            m = (V)((t & (VI)v) | (~t & (VI)m));                              \
            im = (t & (IOTA + (IX)(off[r] + w))) | (~t & im);                 \
        }                                                                     \
        *(V *)(s + w) = m;                                                    \
        *(VIU *)(ix + w) = im;                                                \
    }                                                                         \
    cv_pool_vmax_idx_tail_##SFX(p, off, nr, w, W, s, ix);                     \
}                                                                             \
static inline VI cv_pool_evi_##SFX(const IX *b)                               \
{                                                                             \
    return __builtin_shuffle(*(const VIU *)b, *(const VIU *)(b + L - 1), EVEN);\
}                                                                             \
/* L outputs' taps: consecutive (stride 1) or the even lanes of 2L cells */  \
static inline V cv_pool_ldv_##SFX(const T *b, ptrdiff_t sw)                   \
{                                                                             \
    if (sw == 1) return *(const V *)b;                                        \
    return cv_pool_even_##SFX(b);                                             \
}                                                                             \
static inline VI cv_pool_ldi_##SFX(const IX *b, ptrdiff_t sw)                 \
{                                                                             \
    if (sw == 1) return *(const VIU *)b;                                      \
    return cv_pool_evi_##SFX(b);                                              \
}                                                                             \
static inline void cv_pool_hmax_idx_##SFX(const T *s0, const IX *ix0,         \
        T *o, int64_t *io, ptrdiff_t OW, ptrdiff_t KW, ptrdiff_t sw,          \
        ptrdiff_t pw, ptrdiff_t dw)                                           \
{                                                                             \
    ptrdiff_t ow = 0;                                                         \
    if (sw == 1 || sw == 2) {                                                 \
        for (; ow + L <= OW; ow += L) {                                       \
            const T *b = s0 + ow * sw - pw;                                   \
            const IX *bi = ix0 + ow * sw - pw;                                \
            V m = cv_pool_ldv_##SFX(b, sw);                                   \
            VI im = cv_pool_ldi_##SFX(bi, sw);                                \
            for (ptrdiff_t k = 1; k < KW; k++) {                              \
                V v = cv_pool_ldv_##SFX(b + k * dw, sw);                      \
                VI i = cv_pool_ldi_##SFX(bi + k * dw, sw);                    \
                VI nv = v != v, nm = m != m;                                  \
                VI t = (nv & (~nm | (i > im)))                                \
                     | (~nv & ((v > m) | ((v == m) & (i < im))));             \
                m = (V)((t & (VI)v) | (~t & (VI)m));                          \
                im = (t & i) | (~t & im);                                     \
            }                                                                 \
            *(V *)(o + ow) = m;                                               \
            *(cv_pvl8u##SFX *)(io + ow) = __builtin_convertvector(im, cv_pvl8##SFX);\
        }                                                                     \
    }                                                                         \
    cv_pool_hmax_idx_tail_##SFX(s0, ix0, o, io, ow, OW, KW, sw, pw, dw);      \
}                                                                             \
static inline void cv_pool_vmax_##SFX(const T *p, const ptrdiff_t *off, int nr,\
                                      ptrdiff_t W, T *s)                      \
{                                                                             \
    const T *r0 = p + off[0];                                                 \
    if (sizeof(T) == 4) {                                                     \
        /* all rows per block of columns: measured faster for float */        \
        ptrdiff_t w = 0;                                                      \
        for (; w + L <= W; w += L) {                                          \
            V m = *(const V *)(r0 + w);                                       \
            for (int r = 1; r < nr; r++)                                      \
                m = cv_pool_vm_##SFX(m, *(const V *)(p + off[r] + w));        \
            *(V *)(s + w) = m;                                                \
        }                                                                     \
        for (; w < W; w++) {                                                  \
            T m = r0[w];                                                      \
            for (int r = 1; r < nr; r++) {                                    \
                T v = p[off[r] + w];                                          \
                m = ((v > m) | (v != v)) ? v : m;                             \
            }                                                                 \
            s[w] = m;                                                         \
        }                                                                     \
        return;                                                               \
    }                                                                         \
    /* double: one input row at a time, a single sequential stream for the   \
     * prefetchers (blocks of all rows in turn measured 10-20% slower) */     \
    for (ptrdiff_t w = 0; w < W; w++) s[w] = r0[w];                           \
    for (int r = 1; r < nr; r++) {                                            \
        const T *rr = p + off[r];                                             \
        ptrdiff_t w = 0;                                                      \
        for (; w + L <= W; w += L)                                            \
            *(V *)(s + w) = cv_pool_vm_##SFX(*(const V *)(s + w),             \
                                             *(const V *)(rr + w));           \
        for (; w < W; w++) {                                                  \
            T v = rr[w], m = s[w];                                            \
            s[w] = ((v > m) | (v != v)) ? v : m;                              \
        }                                                                     \
    }                                                                         \
}                                                                             \
/* Reads only cells of the windows. */                                       \
static inline void cv_pool_hmax_##SFX(const T *s0, T *o, ptrdiff_t OW,        \
        ptrdiff_t KW, ptrdiff_t sw, ptrdiff_t pw, ptrdiff_t dw)               \
{                                                                             \
    ptrdiff_t ow = 0;                                                         \
    if (sw == 1) {                                                            \
        for (; ow + L <= OW; ow += L) {                                       \
            const T *b = s0 + ow - pw;                                        \
            V m = *(const V *)b;                                              \
            for (ptrdiff_t k = 1; k < KW; k++)                                \
                m = cv_pool_vm_##SFX(m, *(const V *)(b + k * dw));            \
            *(V *)(o + ow) = m;                                               \
        }                                                                     \
    } else if (sw == 2) {                                                     \
        for (; ow + L <= OW; ow += L) {                                       \
            const T *b = s0 + 2 * ow - pw;                                    \
            V m = cv_pool_even_##SFX(b);                                      \
            for (ptrdiff_t k = 1; k < KW; k++)                                \
                m = cv_pool_vm_##SFX(m, cv_pool_even_##SFX(b + k * dw));      \
            *(V *)(o + ow) = m;                                               \
        }                                                                     \
    }                                                                         \
    for (; ow < OW; ow++) {                                                   \
        const T *b = s0 + ow * sw - pw;                                       \
        T m = b[0];                                                           \
        for (ptrdiff_t k = 1; k < KW; k++) {                                  \
            T v = b[k * dw];                                                  \
            m = ((v > m) | (v != v)) ? v : m;                                 \
        }                                                                     \
        o[ow] = m;                                                            \
    }                                                                         \
}                                                                             \
/* o[ow] += r0[ow*sw + k] for k in [0, KW), in k order per output; the vector \
 * loops stop where they would read past r0[n - 1]. */                        \
static inline void cv_pool_hsum_##SFX(const T *r0, T *o, ptrdiff_t OW,        \
                                      ptrdiff_t KW, ptrdiff_t sw, ptrdiff_t n)\
{                                                                             \
    ptrdiff_t ow = 0;                                                         \
    if (sw == 1) {                                                            \
        for (; ow + L <= OW && ow + L + KW - 1 <= n; ow += L) {                                       \
            V a = *(const V *)(o + ow);                                       \
            for (ptrdiff_t k = 0; k < KW; k++) a += *(const V *)(r0 + ow + k);\
            *(V *)(o + ow) = a;                                               \
        }                                                                     \
    } else if (sw == 2) {                                                     \
        for (; ow + L <= OW && 2 * ow + KW + 2 * L - 2 <= n; ow += L) {       \
            V a = *(const V *)(o + ow);                                       \
            for (ptrdiff_t k = 0; k < KW; k++)                                \
                a += cv_pool_even_##SFX(r0 + 2 * ow + k);                     \
            *(V *)(o + ow) = a;                                               \
        }                                                                     \
    }                                                                         \
    for (; ow < OW; ow++) {                                                   \
        T a = o[ow];                                                          \
        for (ptrdiff_t k = 0; k < KW; k++) a += r0[ow * sw + k];              \
        o[ow] = a;                                                            \
    }                                                                         \
}

CV_DEFINE_POOL_VEC(f32, float, cv_pvf, cv_pvi, cv_pviu, int32_t, 8, CV_PEVEN_F32,
                   ((cv_pvi){0, 1, 2, 3, 4, 5, 6, 7}))
CV_DEFINE_POOL_VEC(f64, double, cv_pvd, cv_pvl, cv_pvlu, int64_t, 4, CV_PEVEN_F64,
                   ((cv_pvl){0, 1, 2, 3}))

/* Average pooling's backward along one row: row[ow*sw - a] += g[ow] for ow in
 * [lo, hi) (the caller's range of in-bounds taps). With stride 2 each block
 * adds (g0, 0, g1, 0, ...) to 2L cells: +0 leaves every cell as it was (a
 * gradient that starts at +0 never holds -0). */
#define CV_DEFINE_POOL_SCATTER(SFX, T, V, VI, L, ILO, IHI)                     \
static inline void cv_pool_addrow_##SFX(T *row, const T *g, ptrdiff_t lo,     \
        ptrdiff_t hi, ptrdiff_t sw, ptrdiff_t a, ptrdiff_t W)                 \
{                                                                             \
    ptrdiff_t ow = lo;                                                        \
    if (sw == 1) {                                                            \
        for (; ow + L <= hi; ow += L)                                         \
            *(V *)(row + ow - a) += *(const V *)(g + ow);                     \
    } else if (sw == 2) {                                                     \
        V z = (V){0};                                                         \
        for (; ow + L <= hi && 2 * (ow + L) - a <= W; ow += L) {              \
            V gv = *(const V *)(g + ow);                                      \
            T *b = row + 2 * ow - a;                                          \
            *(V *)b += __builtin_shuffle(gv, z, ILO);                         \
            *(V *)(b + L) += __builtin_shuffle(gv, z, IHI);                   \
        }                                                                     \
    }                                                                         \
    for (; ow < hi; ow++) row[ow * sw - a] += g[ow];                          \
}
CV_DEFINE_POOL_SCATTER(f32, float, cv_pvf, cv_pvi, 8,
                       ((cv_pvi){0, 8, 1, 9, 2, 10, 3, 11}),
                       ((cv_pvi){4, 12, 5, 13, 6, 14, 7, 15}))
CV_DEFINE_POOL_SCATTER(f64, double, cv_pvd, cv_pvl, 4,
                       ((cv_pvl){0, 4, 1, 5}), ((cv_pvl){2, 6, 3, 7}))
#else
#define CV_DEFINE_POOL_PLAIN(SFX, T)                                           \
static inline void cv_pool_vmax_##SFX(const T *p, const ptrdiff_t *off, int nr,\
                                      ptrdiff_t W, T *s)                      \
{                                                                             \
    for (ptrdiff_t w = 0; w < W; w++) {                                       \
        T m = p[off[0] + w];                                                  \
        for (int r = 1; r < nr; r++) {                                        \
            T v = p[off[r] + w];                                              \
            m = ((v > m) | (v != v)) ? v : m;                                 \
        }                                                                     \
        s[w] = m;                                                             \
    }                                                                         \
}                                                                             \
static inline void cv_pool_hmax_##SFX(const T *s0, T *o, ptrdiff_t OW,        \
        ptrdiff_t KW, ptrdiff_t sw, ptrdiff_t pw, ptrdiff_t dw)               \
{                                                                             \
    for (ptrdiff_t ow = 0; ow < OW; ow++) {                                   \
        const T *b = s0 + ow * sw - pw;                                       \
        T m = b[0];                                                           \
        for (ptrdiff_t k = 1; k < KW; k++) {                                  \
            T v = b[k * dw];                                                  \
            m = ((v > m) | (v != v)) ? v : m;                                 \
        }                                                                     \
        o[ow] = m;                                                            \
    }                                                                         \
}                                                                             \
static inline void cv_pool_hsum_##SFX(const T *r0, T *o, ptrdiff_t OW,        \
                                      ptrdiff_t KW, ptrdiff_t sw, ptrdiff_t n)\
{                                                                             \
    (void)n;                                                                  \
    for (ptrdiff_t ow = 0; ow < OW; ow++) {                                   \
        T a = o[ow];                                                          \
        for (ptrdiff_t k = 0; k < KW; k++) a += r0[ow * sw + k];              \
        o[ow] = a;                                                            \
    }                                                                         \
}
CV_DEFINE_POOL_PLAIN(f32, float)
CV_DEFINE_POOL_PLAIN(f64, double)
#define CV_DEFINE_POOL_PLAIN_SCATTER(SFX, T)                                   \
static inline void cv_pool_addrow_##SFX(T *row, const T *g, ptrdiff_t lo,     \
        ptrdiff_t hi, ptrdiff_t sw, ptrdiff_t a, ptrdiff_t W)                 \
{                                                                             \
    (void)W;                                                                  \
    for (ptrdiff_t ow = lo; ow < hi; ow++) row[ow * sw - a] += g[ow];         \
}
CV_DEFINE_POOL_PLAIN_SCATTER(f32, float)
CV_DEFINE_POOL_PLAIN_SCATTER(f64, double)
#define CV_DEFINE_POOL_PLAIN_IDX(SFX, IX)                                      \
static inline void cv_pool_vmax_idx_##SFX(const T *p, const ptrdiff_t *off,   \
        int nr, ptrdiff_t W, T *s, IX *ix)                                    \
{ cv_pool_vmax_idx_tail_##SFX(p, off, nr, 0, W, s, ix); }                     \
static inline void cv_pool_hmax_idx_##SFX(const T *s0, const IX *ix0,         \
        T *o, int64_t *io, ptrdiff_t OW, ptrdiff_t KW, ptrdiff_t sw,          \
        ptrdiff_t pw, ptrdiff_t dw)                                           \
{ cv_pool_hmax_idx_tail_##SFX(s0, ix0, o, io, 0, OW, KW, sw, pw, dw); }
#define T float
CV_DEFINE_POOL_PLAIN_IDX(f32, int32_t)
#undef T
#define T double
CV_DEFINE_POOL_PLAIN_IDX(f64, int64_t)
#undef T
#endif

/* ---- 2x2 windows, stride 2, no padding, no dilation (LeNet's pooling) ----
 *
 * Windows do not overlap, so a strip of output rows is computed in two
 * passes over L1-resident scratch, both branch-free:
 *
 *   pairs     h[j] = max(x[2j], x[2j + 1]) along each input row (flat over
 *             the whole strip when W is even: no pair straddles two rows);
 *   rows      out[oh][ow] = max(h[2 oh][ow], h[2 oh + 1][ow]).
 *
 * Each pairwise step keeps the larger (value, index) pair in the ranking
 * described above (the candidate with the larger index wins when it is NaN or
 * strictly greater), so ties, NaNs and signed zeros resolve as PyTorch's
 * (kh, kw) scan. Results go to scratch rows of any width in full vectors
 * (lanes past a row's end are rewritten by the next row or land in the
 * slack) and are copied out by the caller. `hi` (flat input indices in the
 * plane) and `hk` (the winning kw, 0/1) are computed only when not NULL; the
 * rows pass turns them into indices and into tap codes kh * 2 + kw. */
#define CV_DEFINE_POOL2_SCALAR(SFX, T, IX)                                     \
static inline void cv_pool2_pairs_tail_##SFX(const T *p, IX base, ptrdiff_t j, \
        ptrdiff_t n, T *hv, IX *hi, IX *hk)                                   \
{                                                                             \
    for (; j < n; j++) {                                                      \
        T e = p[2 * j], o = p[2 * j + 1];                                     \
        int t = (o != o) | (o > e);                                           \
        hv[j] = t ? o : e;                                                    \
        if (hi) hi[j] = base + (IX)(2 * j) + (IX)t;                           \
        if (hk) hk[j] = (IX)t;                                                \
    }                                                                         \
}                                                                             \
static inline void cv_pool2_rows_tail_##SFX(const T *a, const IX *ia,          \
        const IX *ka, ptrdiff_t OW, ptrdiff_t ow, T *o, IX *io, IX *ko)       \
{                                                                             \
    for (; ow < OW; ow++) {                                                   \
        T va = a[ow], vb = a[OW + ow];                                        \
        int t = (vb != vb) | (vb > va);                                       \
        o[ow] = t ? vb : va;                                                  \
        if (io) io[ow] = t ? ia[OW + ow] : ia[ow];                            \
        if (ko) ko[ow] = t ? 2 + ka[OW + ow] : ka[ow];                        \
    }                                                                         \
}                                                                             \
/* Backward of one row pair from tap codes: each cell of the two rows' first  \
 * 2 OW columns gets 0 + g of its window when it is the window's winner,     \
 * +0 otherwise (the value the zero-filled scatter-add gives); code 4: no    \
 * winner, the window all +0. */                                             \
static inline void cv_pool2_bwd_tail_##SFX(const T *g, const uint8_t *c,      \
        ptrdiff_t ow, ptrdiff_t OW, T *r0, ptrdiff_t W)                       \
{                                                                             \
    for (; ow < OW; ow++) {                                                   \
        T v = g[ow] + (T)0;                                                   \
        int k = c[ow];                                                        \
        r0[2 * ow] = k == 0 ? v : (T)0;                                       \
        r0[2 * ow + 1] = k == 1 ? v : (T)0;                                   \
        r0[W + 2 * ow] = k == 2 ? v : (T)0;                                   \
        r0[W + 2 * ow + 1] = k == 3 ? v : (T)0;                               \
    }                                                                         \
}
CV_DEFINE_POOL2_SCALAR(f32, float, int32_t)
CV_DEFINE_POOL2_SCALAR(f64, double, int64_t)

#if CV_POOL_VECTOR
typedef uint8_t cv_pvb8 __attribute__((vector_size(8), aligned(1), may_alias));
typedef uint8_t cv_pvb4 __attribute__((vector_size(4), aligned(1), may_alias));
/* L tap codes widened to the lanes of the values (GCC's generic conversion
 * goes byte by byte through the stack) */
#ifdef __AVX2__
#include <immintrin.h>
static inline cv_pvi cv_pool2_codes_f32(const uint8_t *c)
{
    long long u;
    memcpy(&u, c, 8);
    return (cv_pvi)_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(u));
}
static inline cv_pvl cv_pool2_codes_f64(const uint8_t *c)
{
    int u;
    memcpy(&u, c, 4);
    return (cv_pvl)_mm256_cvtepu8_epi64(_mm_cvtsi32_si128(u));
}
/* even and odd lanes of (a, b) in order: two in-lane shuffles and two
 * 64-bit permutes (GCC's generic shuffle makes four vpermd and two blends) */
#define CV_POOL2_EO_f32(a, b, e, o) do {                                       \
        __m256 e_ = _mm256_shuffle_ps((__m256)(a), (__m256)(b), 0x88);         \
        __m256 o_ = _mm256_shuffle_ps((__m256)(a), (__m256)(b), 0xDD);         \
        (e) = (cv_pvf)_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e_), 0xD8));\
        (o) = (cv_pvf)_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o_), 0xD8));\
    } while (0)
#else
static inline cv_pvi cv_pool2_codes_f32(const uint8_t *c)
{ return __builtin_convertvector(*(const cv_pvb8 *)c, cv_pvi); }
static inline cv_pvl cv_pool2_codes_f64(const uint8_t *c)
{ return __builtin_convertvector(*(const cv_pvb4 *)c, cv_pvl); }
#define CV_POOL2_EO_f32(a, b, e, o) do {                                       \
        (e) = __builtin_shuffle((a), (b), ((cv_pvi){0, 2, 4, 6, 8, 10, 12, 14}));\
        (o) = __builtin_shuffle((a), (b), ((cv_pvi){1, 3, 5, 7, 9, 11, 13, 15}));\
    } while (0)
#endif
#define CV_POOL2_EO_f64(a, b, e, o) do {                                       \
        (e) = __builtin_shuffle((a), (b), ((cv_pvl){0, 2, 4, 6}));             \
        (o) = __builtin_shuffle((a), (b), ((cv_pvl){1, 3, 5, 7}));             \
    } while (0)
#define CV_DEFINE_POOL2_VEC(SFX, T, V, VI, VIU, VB, IX, L, EV, OD, IOTA2, ILO, IHI)\
static inline void cv_pool2_pairs_##SFX(const T *p, IX base, ptrdiff_t n,      \
        T *hv, IX *hi, IX *hk)                                                \
{                                                                             \
    ptrdiff_t j = 0;                                                          \
    for (; j + L <= n; j += L) {                                              \
        V a = *(const V *)(p + 2 * j), b = *(const V *)(p + 2 * j + L);       \
        V e, o;                                                               \
        CV_POOL2_EO_##SFX(a, b, e, o);                                        \
        VI t = (o != o) | (o > e);                                            \
        *(V *)(hv + j) = (V)((t & (VI)o) | (~t & (VI)e));                     \
        if (hi) *(VIU *)(hi + j) = (base + (IX)(2 * j)) + IOTA2 - t;          \
        if (hk) *(VIU *)(hk + j) = -t;                                        \
    }                                                                         \
    cv_pool2_pairs_tail_##SFX(p, base, j, n, hv, hi, hk);                     \
}                                                                             \
/* one output row, in full vectors: writes o[0 .. ceil(OW / L) L) */         \
static inline void cv_pool2_rows_##SFX(const T *a, const IX *ia, const IX *ka,\
        ptrdiff_t OW, T *o, IX *io, IX *ko)                                   \
{                                                                             \
    for (ptrdiff_t ow = 0; ow < OW; ow += L) {                                \
        V va = *(const V *)(a + ow), vb = *(const V *)(a + OW + ow);          \
        VI t = (vb != vb) | (vb > va);                                        \
        *(V *)(o + ow) = (V)((t & (VI)vb) | (~t & (VI)va));                   \
        if (io) *(VIU *)(io + ow) = (t & *(const VIU *)(ia + OW + ow))        \
                                  | (~t & *(const VIU *)(ia + ow));           \
        if (ko) *(VIU *)(ko + ow) = (t & (2 + *(const VIU *)(ka + OW + ow)))  \
                                  | (~t & *(const VIU *)(ka + ow));           \
    }                                                                         \
}                                                                             \
/* one row pair of the input gradient, in full vectors: writes r0[0 ..       \
 * 2 L ceil(OW / L)) then r0[W ..  W + 2 L ceil(OW / L)), in that order, so   \
 * that the second row's sweep rewrites whatever the first one spilled */    \
static inline void cv_pool2_bwd_##SFX(const T *g, const uint8_t *c,           \
        ptrdiff_t OW, T *r0, ptrdiff_t W)                                     \
{                                                                             \
    for (int kh = 0; kh < 2; kh++) {                                          \
        T *r = r0 + kh * W;                                                   \
        for (ptrdiff_t ow = 0; ow < OW; ow += L) {                            \
            VI gi = (VI)(*(const V *)(g + ow) + (V){0});                      \
            VI k = cv_pool2_codes_##SFX(c + ow);                              \
            V e = (V)(gi & (k == 2 * kh)), od = (V)(gi & (k == 2 * kh + 1));  \
            *(V *)(r + 2 * ow) = __builtin_shuffle(e, od, ILO);               \
            *(V *)(r + 2 * ow + L) = __builtin_shuffle(e, od, IHI);           \
        }                                                                     \
    }                                                                         \
}
CV_DEFINE_POOL2_VEC(f32, float, cv_pvf, cv_pvi, cv_pviu, cv_pvb8, int32_t, 8,
                    ((cv_pvi){0, 2, 4, 6, 8, 10, 12, 14}),
                    ((cv_pvi){1, 3, 5, 7, 9, 11, 13, 15}),
                    ((cv_pvi){0, 2, 4, 6, 8, 10, 12, 14}),
                    ((cv_pvi){0, 8, 1, 9, 2, 10, 3, 11}),
                    ((cv_pvi){4, 12, 5, 13, 6, 14, 7, 15}))
CV_DEFINE_POOL2_VEC(f64, double, cv_pvd, cv_pvl, cv_pvlu, cv_pvb4, int64_t, 4,
                    ((cv_pvl){0, 2, 4, 6}), ((cv_pvl){1, 3, 5, 7}),
                    ((cv_pvl){0, 2, 4, 6}),
                    ((cv_pvl){0, 4, 1, 5}), ((cv_pvl){2, 6, 3, 7}))
#define CV_POOL2_LANES 8
#else
#define CV_DEFINE_POOL2_PLAIN(SFX, T, IX)                                      \
static inline void cv_pool2_pairs_##SFX(const T *p, IX base, ptrdiff_t n,      \
        T *hv, IX *hi, IX *hk)                                                \
{ cv_pool2_pairs_tail_##SFX(p, base, 0, n, hv, hi, hk); }                     \
static inline void cv_pool2_rows_##SFX(const T *a, const IX *ia, const IX *ka,\
        ptrdiff_t OW, T *o, IX *io, IX *ko)                                   \
{ cv_pool2_rows_tail_##SFX(a, ia, ka, OW, 0, o, io, ko); }                    \
static inline void cv_pool2_bwd_##SFX(const T *g, const uint8_t *c,           \
        ptrdiff_t OW, T *r0, ptrdiff_t W)                                     \
{ cv_pool2_bwd_tail_##SFX(g, c, 0, OW, r0, W); }
CV_DEFINE_POOL2_PLAIN(f32, float, int32_t)
CV_DEFINE_POOL2_PLAIN(f64, double, int64_t)
#define CV_POOL2_LANES 1
#endif

/* Output rows per strip: about 1024 input pairs, forward and backward (the
 * scratch stays in L1). */
static inline ptrdiff_t cv_pool2_strip(ptrdiff_t OH, ptrdiff_t width)
{
    ptrdiff_t r = 1024 / (2 * (width > 0 ? width : 1));
    if (r < 1) r = 1;
    return r < OH ? r : (OH > 0 ? OH : 1);
}

/* Scratch, in elements, of one thread (L lanes of slack on each buffer):
 * forward  hv, hi, hk: 2 R OW + 2L each; os, io, ko: R OW + 2L each;
 * backward gs: R OW + 2L; cs: R OW + 2L bytes; rs: 2 R W + 4L. */
#define CV_DEFINE_POOL2_PLANE(SFX, T, IX)                                      \
/* One plane: out/idx/codes (OH, OW) of x (H, W) with 2 OH <= H, 2 OW <= W;   \
 * idx gets flat indices + ibase, codes kh * 2 + kw; either may be NULL.      \
 * relu (codes only): out = relu(max), and code 4 (no winner: a zero         \
 * gradient for the whole window) where max <= 0 -- max pooling of relu(x),   \
 * whose backward is relu's and the pool's composed, without relu(x). */     \
static inline void cv_pool2_fwd_plane_##SFX(const T *x, ptrdiff_t W,          \
        ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t R, T *out, int64_t *idx,        \
        int64_t ibase, uint8_t *codes, int relu, T *hv, IX *hi, IX *hk, T *os,\
        IX *io, IX *ko)                                                       \
{                                                                             \
    IX *hi_ = idx ? hi : NULL, *hk_ = codes ? hk : NULL;                      \
    IX *io_ = idx ? io : NULL, *ko_ = codes ? ko : NULL;                      \
    for (ptrdiff_t oh0 = 0; oh0 < OH; oh0 += R) {                             \
        ptrdiff_t rr = OH - oh0 < R ? OH - oh0 : R, q;                        \
        if (W % 2 == 0) {                                                     \
            cv_pool2_pairs_##SFX(x + 2 * oh0 * W, (IX)(2 * oh0 * W), rr * W,  \
                                 hv, hi_, hk_);                               \
        } else {                                                              \
            for (ptrdiff_t r = 0; r < 2 * rr; r++)                            \
                cv_pool2_pairs_##SFX(x + (2 * oh0 + r) * W,                   \
                                     (IX)((2 * oh0 + r) * W), OW, hv + r * OW,\
                                     hi_ ? hi_ + r * OW : NULL,               \
                                     hk_ ? hk_ + r * OW : NULL);              \
        }                                                                     \
        for (ptrdiff_t r = 0; r < rr; r++)                                    \
            cv_pool2_rows_##SFX(hv + 2 * r * OW, hi_ ? hi_ + 2 * r * OW : NULL,\
                                hk_ ? hk_ + 2 * r * OW : NULL, OW,            \
                                os + r * OW, io_ ? io_ + r * OW : NULL,       \
                                ko_ ? ko_ + r * OW : NULL);                   \
        if (relu && codes)                                                    \
            for (q = 0; q < rr * OW; q++) {                                   \
                int z = os[q] <= (T)0;                                        \
                os[q] = z ? (T)0 : os[q];                                     \
                ko[q] = z ? (IX)4 : ko[q];                                    \
            }                                                                 \
        memcpy(out + oh0 * OW, os, (size_t)(rr * OW) * sizeof(T));            \
        if (idx)                                                              \
            for (q = 0; q < rr * OW; q++)                                     \
                idx[oh0 * OW + q] = (int64_t)io[q] + ibase;                   \
        if (codes)                                                            \
            for (q = 0; q < rr * OW; q++)                                     \
                codes[oh0 * OW + q] = (uint8_t)ko[q];                         \
    }                                                                         \
}                                                                             \
/* The input gradient (H, W) of one plane from its output gradient and tap   \
 * codes (OH, OW); every cell written (no prior zeroing needed). */          \
static inline void cv_pool2_bwd_plane_##SFX(const T *go, const uint8_t *c,    \
        ptrdiff_t H, ptrdiff_t W, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t R,    \
        T *gi, T *gs, uint8_t *cs, T *rs)                                     \
{                                                                             \
    for (ptrdiff_t oh0 = 0; oh0 < OH; oh0 += R) {                             \
        ptrdiff_t rr = OH - oh0 < R ? OH - oh0 : R;                           \
        /* a strip with at least a vector's worth of outputs after it works  \
         * in place: its vectors' spill and over-reads stay in the plane's    \
         * later rows (rewritten afterwards); the others go through the      \
         * scratch */                                                         \
        int direct = (OH - oh0 - rr) * OW >= CV_POOL2_LANES;                  \
        const T *g0 = direct ? go + oh0 * OW : gs;                            \
        const uint8_t *c0 = direct ? c + oh0 * OW : cs;                       \
        T *d0 = direct ? gi + 2 * oh0 * W : rs;                               \
        if (!direct) {                                                        \
            memcpy(gs, go + oh0 * OW, (size_t)(rr * OW) * sizeof(T));         \
            memcpy(cs, c + oh0 * OW, (size_t)(rr * OW));                      \
        }                                                                     \
        for (ptrdiff_t r = 0; r < rr; r++) {                                  \
            T *r0 = d0 + 2 * r * W;                                           \
            cv_pool2_bwd_##SFX(g0 + r * OW, c0 + r * OW, OW, r0, W);          \
            for (ptrdiff_t w = 2 * OW; w < W; w++)                            \
                r0[w] = r0[W + w] = (T)0;                                     \
        }                                                                     \
        if (!direct)                                                          \
            memcpy(gi + 2 * oh0 * W, rs, (size_t)(2 * rr * W) * sizeof(T));   \
    }                                                                         \
    if (H > 2 * OH)                                                           \
        memset(gi + 2 * OH * W, 0, (size_t)((H - 2 * OH) * W) * sizeof(T));   \
}
CV_DEFINE_POOL2_PLANE(f32, float, int32_t)
CV_DEFINE_POOL2_PLANE(f64, double, int64_t)

#endif
