# The 6 x JW GEMM micro-kernel of _gemm_kernels.h for the fused float types,
# shared by the Winograd and implicit-GEMM kernels.
from _types cimport real

cdef extern from "_gemm_kernels.h" nogil:
    void cv_gemm6_f32(float* c, Py_ssize_t ldc, const float* a, const float* b,
                      Py_ssize_t ldb, Py_ssize_t K)
    void cv_gemm6_f64(double* c, Py_ssize_t ldc, const double* a, const double* b,
                      Py_ssize_t ldb, Py_ssize_t K)
    void cv_gemm6_panels_f32(float* c, Py_ssize_t ldc, const float* a, Py_ssize_t a_stride,
                             const float* b, Py_ssize_t ldb, Py_ssize_t K, Py_ssize_t np,
                             int accumulate)
    void cv_gemm6_panels_f64(double* c, Py_ssize_t ldc, const double* a, Py_ssize_t a_stride,
                             const double* b, Py_ssize_t ldb, Py_ssize_t K, Py_ssize_t np,
                             int accumulate)
    void cv_pgemm6_f32(float* c, Py_ssize_t ldc, const float* const* p, const Py_ssize_t* off,
                       const float* b, Py_ssize_t K, int accumulate)
    void cv_pgemm6_f64(double* c, Py_ssize_t ldc, const double* const* p,
                       const Py_ssize_t* off, const double* b, Py_ssize_t K, int accumulate)
    void cv_pgemm8_f32(float* c, Py_ssize_t ldc, const float* const* p, const Py_ssize_t* off,
                       const float* b, Py_ssize_t K, int accumulate)
    void cv_pgemm8_f64(double* c, Py_ssize_t ldc, const double* const* p,
                       const Py_ssize_t* off, const double* b, Py_ssize_t K, int accumulate)
    void cv_pgemm6p_f32(float* c0, float* c1, Py_ssize_t ldc, const float* const* p,
                        const Py_ssize_t* off, const float* b0, const float* b1, Py_ssize_t K,
                        int accumulate)
    void cv_pgemm6p_f64(double* c0, double* c1, Py_ssize_t ldc, const double* const* p,
                        const Py_ssize_t* off, const double* b0, const double* b1,
                        Py_ssize_t K, int accumulate)
    void cv_gemm6p_f32(float* c0, float* c1, Py_ssize_t ldc, const float* a, const float* b0,
                       const float* b1, Py_ssize_t ldb, Py_ssize_t K, int accumulate)
    void cv_gemm6p_f64(double* c0, double* c1, Py_ssize_t ldc, const double* a,
                       const double* b0, const double* b1, Py_ssize_t ldb, Py_ssize_t K,
                       int accumulate)
    void cv_panel_chunk_f32(float* buf, const float* src, Py_ssize_t P, Py_ssize_t pn, int nj,
                            int JW)
    void cv_panel_chunk_f64(double* buf, const double* src, Py_ssize_t P, Py_ssize_t pn,
                            int nj, int JW)
    void cv_unpanel_f32(float* dst, Py_ssize_t ld, const float* src, Py_ssize_t n, int nj,
                        int JW, const float* bias)
    void cv_unpanel_f64(double* dst, Py_ssize_t ld, const double* src, Py_ssize_t n, int nj,
                        int JW, const double* bias)
    enum:
        CV_PAIR_PANELS
        CV_GEMM_MR
        CV_GEMM_JW_F32
        CV_GEMM_JW_F64


cdef inline Py_ssize_t _jw(real* dummy) noexcept nogil:
    """Outputs per micro-kernel row: two vectors (16 floats, 8 doubles)."""
    if real is float:
        return CV_GEMM_JW_F32
    else:
        return CV_GEMM_JW_F64


cdef inline void _gemm6(real* c, Py_ssize_t ldc, const real* a, const real* b,
                        Py_ssize_t ldb, Py_ssize_t K) noexcept nogil:
    """C[6][JW] (row stride ldc) = sum_k A[k][0:6] (x) B[k][0:JW] (row stride ldb)."""
    if real is float:
        cv_gemm6_f32(c, ldc, a, b, ldb, K)
    else:
        cv_gemm6_f64(c, ldc, a, b, ldb, K)


cdef inline void _gemm6_panels(real* c, Py_ssize_t ldc, const real* a, Py_ssize_t a_stride,
                               const real* b, Py_ssize_t ldb, Py_ssize_t K, Py_ssize_t np,
                               int accumulate) noexcept nogil:
    """np panels of A (a_stride apart) times one block of B into (onto, with
    `accumulate`) 6 x JW blocks of C with rows ldc apart, panel p at row 6p
    (an out-of-line loop: keeps the accumulators in registers inside large
    callers)."""
    if real is float:
        cv_gemm6_panels_f32(c, ldc, a, a_stride, b, ldb, K, np, accumulate)
    else:
        cv_gemm6_panels_f64(c, ldc, a, a_stride, b, ldb, K, np, accumulate)


cdef inline void _pgemm(Py_ssize_t nr, real* c, Py_ssize_t ldc, const real** p,
                        const Py_ssize_t* off, const real* b, Py_ssize_t K,
                        int accumulate) noexcept nogil:
    """C[nr][:] (+)= sum_k p[r][off[k]] (x) B[k][:] with A read in place: nr = 6
    rows of two vectors (JW) or nr = 8 rows of one vector (JW / 2)."""
    if real is float:
        if nr == 6:
            cv_pgemm6_f32(c, ldc, <const float* const*> p, off, b, K, accumulate)
        else:
            cv_pgemm8_f32(c, ldc, <const float* const*> p, off, b, K, accumulate)
    else:
        if nr == 6:
            cv_pgemm6_f64(c, ldc, <const double* const*> p, off, b, K, accumulate)
        else:
            cv_pgemm8_f64(c, ldc, <const double* const*> p, off, b, K, accumulate)


cdef inline void _pgemm_pair(real* c0, real* c1, Py_ssize_t ldc, const real** p,
                             const Py_ssize_t* off, const real* b0, const real* b1,
                             Py_ssize_t K, int accumulate) noexcept nogil:
    """_pgemm(6, ..) for two panels b0, b1 into c0, c1: one pass of 512-bit
    registers where the build has AVX-512 (CV_PAIR_PANELS), else two calls;
    the same bits either way."""
    if real is float:
        cv_pgemm6p_f32(c0, c1, ldc, <const float* const*> p, off, b0, b1, K, accumulate)
    else:
        cv_pgemm6p_f64(c0, c1, ldc, <const double* const*> p, off, b0, b1, K, accumulate)


cdef inline void _pgemm_panels(Py_ssize_t nr, Py_ssize_t np, real* c, Py_ssize_t c_step,
                               Py_ssize_t ldc, const real** p, const Py_ssize_t* off,
                               const real* b, Py_ssize_t b_step, Py_ssize_t K,
                               int accumulate) noexcept nogil:
    """_pgemm(nr, ..) for np panels, panel q's C at c + q*c_step and B at
    b + q*b_step: six-row tiles in pairs (_pgemm_pair), the odd one alone."""
    cdef Py_ssize_t q = 0
    if nr == 6:
        while q + 1 < np:
            _pgemm_pair(c + q * c_step, c + (q + 1) * c_step, ldc, p, off, b + q * b_step,
                        b + (q + 1) * b_step, K, accumulate)
            q = q + 2
    while q < np:
        _pgemm(nr, c + q * c_step, ldc, p, off, b + q * b_step, K, accumulate)
        q = q + 1


cdef inline void _gemm6_pair(real* c0, real* c1, Py_ssize_t ldc, const real* a,
                             const real* b0, const real* b1, Py_ssize_t ldb, Py_ssize_t K,
                             int accumulate) noexcept nogil:
    """_gemm6 (with `accumulate`) of one packed panel of A by two blocks of B
    into two blocks of C: one pass of 512-bit registers where the build has
    AVX-512, else two calls; the same bits either way."""
    if real is float:
        cv_gemm6p_f32(c0, c1, ldc, a, b0, b1, ldb, K, accumulate)
    else:
        cv_gemm6p_f64(c0, c1, ldc, a, b0, b1, ldb, K, accumulate)


cdef inline void _panel_chunk(real* buf, const real* src, Py_ssize_t P, Py_ssize_t pn, int nj,
                              int JW) noexcept nogil:
    """buf[q * JW + j] = src[j * P + q] for q < pn, j < nj (a chunk of a
    pixel-major panel: JW channel rows P apart, transposed)."""
    if real is float:
        cv_panel_chunk_f32(buf, src, P, pn, nj, JW)
    else:
        cv_panel_chunk_f64(buf, src, P, pn, nj, JW)


cdef inline void _unpanel(real* dst, Py_ssize_t ld, const real* src, Py_ssize_t n, int nj,
                          int JW, const real* bias) noexcept nogil:
    """dst[j * ld + i] = src[i * JW + j] (+ bias[j] unless bias is NULL) for
    i < n, j < nj: pixel-major tiles stored as channel rows."""
    if real is float:
        cv_unpanel_f32(dst, ld, src, n, nj, JW, bias)
    else:
        cv_unpanel_f64(dst, ld, src, n, nj, JW, bias)
