# Max and average pooling, forward and backward, on 5-D C-contiguous blocks
# (N, C, D, H, W); 1-D and 2-D problems carry size-1 axes, with kernel 1,
# stride 1, padding 0 and dilation 1 there.
#
# Window of output o along one axis (PyTorch's rules, which Python already
# applied when it chose the output size):
#
#   start = o*s - p,  taps start + k*d for k in [0, K), those outside [0, L)
#   skipped (max) or counted as zeros (avg).
#
# Average pooling's divisor, per output (PyTorch's CPU kernel):
#   end  = min(start + K, L + p)      window clipped to the right padding
#   size = prod over axes of (end - start)           count_include_pad=True
#   then start, end clipped to [0, L); an empty clipped window gives 0;
#   divisor = divisor_override if > 0, else size (count_include_pad) or the
#   number of real elements inside the clipped window.
#
# Window bounds are computed inline, not by a helper writing through
# pointers: Cython would not privatize variables whose address is taken.
#
# The forward kernels and average pooling's backward work row by row in vector
# registers (pyx/_pool_kernels.h, which draws the scheme); max pooling falls
# back to the generic tap sweep for rows with a window that holds no input
# cell (average pooling's windows always hold one: pad <= kernel / 2).
#
# Forward kernels are parallel over output rows (n, c, od, oh); backward ones
# over (n, c) planes, since windows overlap and a plane's gradient is a
# scatter-add. Each output element is written by exactly one thread in a fixed
# order, so results are bitwise identical for any thread count.

from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t, INT32_MAX, INT64_MAX
from libc.math cimport INFINITY
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memset

from _types cimport real


cdef extern from "_pool_kernels.h" nogil:
    void cv_pool_vmax_f32(const float* p, const Py_ssize_t* off, int nr, Py_ssize_t W,
                          float* s)
    void cv_pool_vmax_f64(const double* p, const Py_ssize_t* off, int nr, Py_ssize_t W,
                          double* s)
    void cv_pool_vmax_idx_f32(const float* p, const Py_ssize_t* off, int nr, Py_ssize_t W,
                              float* s, int32_t* ix)
    void cv_pool_vmax_idx_f64(const double* p, const Py_ssize_t* off, int nr, Py_ssize_t W,
                              double* s, int64_t* ix)
    void cv_pool_hmax_f32(const float* s0, float* o, Py_ssize_t OW, Py_ssize_t KW,
                          Py_ssize_t sw, Py_ssize_t pw, Py_ssize_t dw)
    void cv_pool_hmax_f64(const double* s0, double* o, Py_ssize_t OW, Py_ssize_t KW,
                          Py_ssize_t sw, Py_ssize_t pw, Py_ssize_t dw)
    void cv_pool_hmax_idx_f32(const float* s0, const int32_t* ix0, float* o, int64_t* io,
                              Py_ssize_t OW, Py_ssize_t KW, Py_ssize_t sw, Py_ssize_t pw,
                              Py_ssize_t dw)
    void cv_pool_hmax_idx_f64(const double* s0, const int64_t* ix0, double* o, int64_t* io,
                              Py_ssize_t OW, Py_ssize_t KW, Py_ssize_t sw, Py_ssize_t pw,
                              Py_ssize_t dw)
    void cv_pool_hsum_f32(const float* r0, float* o, Py_ssize_t OW, Py_ssize_t KW,
                          Py_ssize_t sw, Py_ssize_t n)
    void cv_pool_hsum_f64(const double* r0, double* o, Py_ssize_t OW, Py_ssize_t KW,
                          Py_ssize_t sw, Py_ssize_t n)
    void cv_pool_addrow_f32(float* row, const float* g, Py_ssize_t lo, Py_ssize_t hi,
                            Py_ssize_t sw, Py_ssize_t a, Py_ssize_t W)
    void cv_pool_addrow_f64(double* row, const double* g, Py_ssize_t lo, Py_ssize_t hi,
                            Py_ssize_t sw, Py_ssize_t a, Py_ssize_t W)
    Py_ssize_t cv_pool2_strip(Py_ssize_t OH, Py_ssize_t width)
    void cv_pool2_fwd_plane_f32(const float* x, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t R, float* out, int64_t* idx, int64_t ibase,
                                uint8_t* codes, int relu, float* hv, int32_t* hi, int32_t* hk,
                                float* os, int32_t* io, int32_t* ko)
    void cv_pool2_fwd_plane_f64(const double* x, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t R, double* out, int64_t* idx, int64_t ibase,
                                uint8_t* codes, int relu, double* hv, int64_t* hi, int64_t* hk,
                                double* os, int64_t* io, int64_t* ko)
    void cv_pool2_bwd_plane_f32(const float* go, const uint8_t* c, Py_ssize_t H, Py_ssize_t W,
                                Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t R, float* gi,
                                float* gs, uint8_t* cs, float* rs)
    void cv_pool2_bwd_plane_f64(const double* go, const uint8_t* c, Py_ssize_t H,
                                Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t R,
                                double* gi, double* gs, uint8_t* cs, double* rs)

# Scratch slack past a padded row: the stride-2 vector loads read up to two
# vectors (16 floats) beyond a block's first tap.
DEF SLACK = 32


cdef inline Py_ssize_t _right_pad(Py_ssize_t W, Py_ssize_t OW, Py_ssize_t KW,
                                  Py_ssize_t sw, Py_ssize_t pw, Py_ssize_t dw) noexcept nogil:
    """Cells past the input's right edge that the last window reaches."""
    cdef Py_ssize_t r = (OW - 1) * sw - pw + (KW - 1) * dw - (W - 1)
    return r if r > 0 else 0


cdef inline bint _windows_hit(Py_ssize_t W, Py_ssize_t OW, Py_ssize_t KW,
                              Py_ssize_t sw, Py_ssize_t pw, Py_ssize_t dw) noexcept nogil:
    """Every window along this axis holds at least one input cell."""
    cdef Py_ssize_t o, k, j
    cdef bint hit
    for o in range(OW):
        hit = False
        for k in range(KW):
            j = o * sw - pw + k * dw
            if 0 <= j < W:
                hit = True
                break
        if not hit:
            return False
    return True


cdef void _max_row_generic(const real* plane, real* orow, int64_t* irow,
                           Py_ssize_t d0, Py_ssize_t h0,
                           Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, Py_ssize_t OW,
                           Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
                           Py_ssize_t sw, Py_ssize_t pw,
                           Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    """One output row, any window: taps outermost, outputs of the row
    innermost. For each tap the outputs whose window holds it in bounds form
    one range [lo, hi), swept with branch-free updates; each output still sees
    its taps in PyTorch's (kd, kh, kw) order, so ties and NaNs resolve alike."""
    cdef Py_ssize_t ow, kd, kh, kw, w0, idd, ih, iw, rowbase, a, b, lo, hi
    cdef bint take
    cdef const real* row
    cdef real v, vmax
    for ow in range(OW):
        w0 = ow * sw - pw
        # PyTorch's initial index: the first in-bounds tap of each axis
        idd = d0
        while idd < 0:
            idd = idd + dd
        ih = h0
        while ih < 0:
            ih = ih + dh
        iw = w0
        while iw < 0:
            iw = iw + dw
        if irow != NULL:
            irow[ow] = (idd * H + ih) * W + iw
        orow[ow] = -INFINITY
    for kd in range(KD):
        idd = d0 + kd * dd
        if idd < 0 or idd >= D:
            continue
        for kh in range(KH):
            ih = h0 + kh * dh
            if ih < 0 or ih >= H:
                continue
            rowbase = (idd * H + ih) * W
            row = plane + rowbase
            for kw in range(KW):
                a = pw - kw * dw
                lo = 0 if a <= 0 else (a + sw - 1) // sw
                b = W - 1 + a
                hi = 0 if b < 0 else b // sw + 1
                if hi > OW:
                    hi = OW
                if irow == NULL:
                    for ow in range(lo, hi):
                        v = row[ow * sw - a]
                        vmax = orow[ow]
                        take = (v > vmax) | (v != v)
                        orow[ow] = v if take else vmax
                else:
                    for ow in range(lo, hi):
                        iw = ow * sw - a
                        v = row[iw]
                        vmax = orow[ow]
                        # a NaN wins (and the last NaN's index), as in PyTorch
                        take = (v > vmax) | (v != v)
                        orow[ow] = v if take else vmax
                        irow[ow] = rowbase + iw if take else irow[ow]


cdef int _max_fwd(const real* x, real* out, int64_t* idx,
                  Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                  Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
                  Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
                  Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                  Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                  int n_threads) noexcept nogil:
    """Row by row: the fast path (pyx/_pool_kernels.h: vertical max of the
    window's rows into a padded scratch row, then the horizontal windows in
    vector registers) wherever every window of the row holds an input cell;
    the generic tap sweep elsewhere."""
    cdef Py_ssize_t n_units = N * C * OD * OH
    cdef Py_ssize_t u, m, oh, od, nc, kd, kh, idd, ih, j
    cdef Py_ssize_t d0, h0, lpad = pw, slen
    cdef bint fast = _windows_hit(W, OW, KW, sw, pw, dw)
    cdef int nr
    cdef const real* plane
    cdef real* orow
    cdef int64_t* irow
    cdef real* sbuf
    cdef void* ibuf
    cdef Py_ssize_t* off
    # float's index scratch is int32, lane for lane with the values
    if real is float and idx != NULL and D * H * W >= INT32_MAX:
        fast = False
    slen = lpad + W + _right_pad(W, OW, KW, sw, pw, dw) + SLACK
    if n_threads > n_units:
        n_threads = <int> n_units if n_units > 0 else 1
    with parallel(num_threads=n_threads):
        sbuf = <real*> malloc(slen * sizeof(real))
        ibuf = malloc(slen * sizeof(real))
        off = <Py_ssize_t*> malloc(KD * KH * sizeof(Py_ssize_t))
        if sbuf != NULL and ibuf != NULL:
            for j in range(slen):
                sbuf[j] = -INFINITY
                if real is float:
                    (<int32_t*> ibuf)[j] = INT32_MAX
                else:
                    (<int64_t*> ibuf)[j] = INT64_MAX
        for u in prange(n_units, schedule='static'):
            oh = u % OH
            m = u // OH
            od = m % OD
            nc = m // OD
            plane = x + nc * D * H * W
            orow = out + u * OW
            irow = NULL if idx == NULL else idx + u * OW
            d0 = od * sd - pd
            h0 = oh * sh - ph
            nr = 0
            if off != NULL:
                for kd in range(KD):
                    idd = d0 + kd * dd
                    if idd < 0 or idd >= D:
                        continue
                    for kh in range(KH):
                        ih = h0 + kh * dh
                        if 0 <= ih < H:
                            off[nr] = (idd * H + ih) * W
                            nr = nr + 1
            if not fast or nr == 0 or sbuf == NULL or ibuf == NULL:
                _max_row_generic(plane, orow, irow, d0, h0, D, H, W, OW, KD, KH, KW,
                                 sw, pw, dd, dh, dw)
            elif irow == NULL:
                if real is float:
                    cv_pool_vmax_f32(plane, off, nr, W, sbuf + lpad)
                    cv_pool_hmax_f32(sbuf + lpad, orow, OW, KW, sw, pw, dw)
                else:
                    cv_pool_vmax_f64(plane, off, nr, W, sbuf + lpad)
                    cv_pool_hmax_f64(sbuf + lpad, orow, OW, KW, sw, pw, dw)
            else:
                if real is float:
                    cv_pool_vmax_idx_f32(plane, off, nr, W, sbuf + lpad,
                                         <int32_t*> ibuf + lpad)
                    cv_pool_hmax_idx_f32(sbuf + lpad, <int32_t*> ibuf + lpad, orow, irow,
                                         OW, KW, sw, pw, dw)
                else:
                    cv_pool_vmax_idx_f64(plane, off, nr, W, sbuf + lpad,
                                         <int64_t*> ibuf + lpad)
                    cv_pool_hmax_idx_f64(sbuf + lpad, <int64_t*> ibuf + lpad, orow, irow,
                                         OW, KW, sw, pw, dw)
        free(sbuf)
        free(ibuf)
        free(off)
    return 0


cdef int _max2_fwd(const real* x, real* out, int64_t* idx, uint8_t* codes, int relu,
                   Py_ssize_t NP, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                   Py_ssize_t OH, Py_ssize_t OW, int n_threads) noexcept nogil:
    """2x2 windows, stride 2, no padding (pyx/_pool_kernels.h): NP planes of
    (H, W), plane u being depth u % D of its (n, c) volume (the base of its
    flat indices). idx (flat indices) and codes (kh * 2 + kw) may be NULL;
    relu (with codes): pool relu(x) (pyx/_pool_kernels.h).
    Parallel over planes; -1 when the scratch cannot be allocated.

    Without indices and with H even, G consecutive planes are one plane of
    G * H rows (no window straddles two planes; only indices would differ):
    small maps (LeNet's 10x10) then pay the per-plane overheads once per
    group. Each output is computed alike whatever the grouping."""
    cdef Py_ssize_t G = _pool2_group(NP, H, W, OH, idx == NULL, n_threads)
    cdef Py_ssize_t NU = (NP + G - 1) // G
    cdef Py_ssize_t R = cv_pool2_strip(G * OH, OW)
    cdef Py_ssize_t nf = 2 * R * OW + SLACK, no = R * OW + SLACK
    # hv, hi, hk, os, io, ko: the index scratch has real's width (int32 for
    # float, int64 for double)
    cdef Py_ssize_t per = 3 * nf + 3 * no, u, p0, rows
    cdef real* buf
    cdef real* b
    n_threads = _units_threads(NU, n_threads)
    buf = <real*> calloc(n_threads * per, sizeof(real))
    if buf == NULL:
        return -1
    with parallel(num_threads=n_threads):
        b = buf + threadid() * per
        for u in prange(NU, schedule='static'):
            p0 = u * G
            rows = (G if NP - p0 > G else NP - p0) * OH
            if real is float:
                cv_pool2_fwd_plane_f32(x + p0 * H * W, W, rows, OW, R, out + p0 * OH * OW,
                                       NULL if idx == NULL else idx + p0 * OH * OW,
                                       (p0 % D) * H * W,
                                       NULL if codes == NULL else codes + p0 * OH * OW,
                                       relu, b, <int32_t*> (b + nf), <int32_t*> (b + 2 * nf),
                                       b + 3 * nf, <int32_t*> (b + 3 * nf + no),
                                       <int32_t*> (b + 3 * nf + 2 * no))
            else:
                cv_pool2_fwd_plane_f64(x + p0 * H * W, W, rows, OW, R, out + p0 * OH * OW,
                                       NULL if idx == NULL else idx + p0 * OH * OW,
                                       (p0 % D) * H * W,
                                       NULL if codes == NULL else codes + p0 * OH * OW,
                                       relu, b, <int64_t*> (b + nf), <int64_t*> (b + 2 * nf),
                                       b + 3 * nf, <int64_t*> (b + 3 * nf + no),
                                       <int64_t*> (b + 3 * nf + 2 * no))
    free(buf)
    return 0


cdef inline int _units_threads(Py_ssize_t NU, int n_threads) noexcept nogil:
    """Threads for NU work units: no more threads than units, at least one."""
    if n_threads > NU:
        return <int> NU if NU > 0 else 1
    return n_threads


cdef inline Py_ssize_t _pool2_group(Py_ssize_t NP, Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                                    bint mergeable, int n_threads) noexcept nogil:
    """Planes per work unit of the 2x2 kernels: enough for some 4096 input
    cells, while every thread keeps a few units; 1 where planes cannot merge
    (indices wanted, or an odd height whose last row is in no window)."""
    cdef Py_ssize_t G
    if not mergeable or H != 2 * OH or H * W <= 0:
        return 1
    G = 4096 // (H * W)
    if G > NP // (4 * n_threads):
        G = NP // (4 * n_threads)
    return G if G > 1 else 1


cdef int _max2_bwd(const real* go, const uint8_t* codes, real* gi,
                   Py_ssize_t NP, Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                   int n_threads) noexcept nogil:
    """Input gradient of _max2_fwd from its tap codes, plane by plane; every
    input cell is written (+0 off the winners). Planes grouped as in
    _max2_fwd when H is even. -1: no scratch."""
    cdef Py_ssize_t G = _pool2_group(NP, H, W, OH, True, n_threads)
    cdef Py_ssize_t NU = (NP + G - 1) // G
    cdef Py_ssize_t R = cv_pool2_strip(G * OH, W)
    cdef Py_ssize_t ng = R * OW + SLACK, nr = 2 * R * W + 2 * SLACK
    # gs and rs in reals, cs in bytes (rounded up to whole reals)
    cdef Py_ssize_t nc = (ng + <Py_ssize_t> sizeof(real) - 1) // <Py_ssize_t> sizeof(real)
    cdef Py_ssize_t per = ng + nc + nr, u, p0, n
    cdef real* buf
    cdef real* b
    n_threads = _units_threads(NU, n_threads)
    buf = <real*> calloc(n_threads * per, sizeof(real))
    if buf == NULL:
        return -1
    with parallel(num_threads=n_threads):
        b = buf + threadid() * per
        for u in prange(NU, schedule='static'):
            p0 = u * G
            n = G if NP - p0 > G else NP - p0
            if real is float:
                cv_pool2_bwd_plane_f32(go + p0 * OH * OW, codes + p0 * OH * OW, n * H, W,
                                       n * OH, OW, R, gi + p0 * H * W, b,
                                       <uint8_t*> (b + ng), b + ng + nc)
            else:
                cv_pool2_bwd_plane_f64(go + p0 * OH * OW, codes + p0 * OH * OW, n * H, W,
                                       n * OH, OW, R, gi + p0 * H * W, b,
                                       <uint8_t*> (b + ng), b + ng + nc)
    free(buf)
    return 0


cdef int _max_bwd(const real* go, const int64_t* idx, real* gi, char* bad,
                  Py_ssize_t NC, Py_ssize_t P, Py_ssize_t Q, int n_threads) noexcept nogil:
    """gi[nc] = 0, then gi[nc, idx[nc, q]] += go[nc, q]; P input elements, Q
    outputs per plane. Each plane is zeroed by the thread that scatters into
    it, while it sits in cache (the caller passes np.empty memory): with
    np.zeros, calloc either memsets the whole block first (heap memory, one
    more pass) or leaves the pages to be faulted in by the scatter itself,
    both measured 1.5-1.6x slower with 2 threads.
    bad[nc] = 1 where plane nc has an index outside [0, P) (skipped), except
    -1: a window without input elements (convolve.pooling._mark_empty_windows)."""
    cdef Py_ssize_t nc, q
    cdef uint64_t j
    cdef real* g
    cdef const int64_t* ix
    cdef const real* gq
    cdef char b
    if n_threads > NC:
        n_threads = <int> NC if NC > 0 else 1
    with parallel(num_threads=n_threads):
        for nc in prange(NC, schedule='static'):
            g = gi + nc * P
            ix = idx + nc * Q
            gq = go + nc * Q
            memset(g, 0, P * sizeof(real))
            b = 0
            for q in range(Q):
                # one unsigned compare catches negative indices too
                j = <uint64_t> ix[q]
                if j < <uint64_t> P:
                    g[j] += gq[q]
                elif ix[q] != -1:
                    b = 1
            bad[nc] = b
    return 0


cdef struct Window:
    Py_ssize_t lo, hi, full


cdef inline Window _avg_window(Py_ssize_t o, Py_ssize_t s, Py_ssize_t p, Py_ssize_t K,
                               Py_ssize_t n) noexcept nogil:
    """Avg-pool window of output `o` along one axis, PyTorch's rule: `full` is
    its size clipped to the padded input (count_include_pad's count), [lo, hi)
    the part inside the input. Returned by value: each thread keeps its copy
    (a variable whose address is taken would be shared inside prange)."""
    cdef Window r
    r.lo = o * s - p
    r.hi = r.lo + K
    if r.hi > n + p:
        r.hi = n + p
    r.full = r.hi - r.lo
    if r.lo < 0:
        r.lo = 0
    if r.hi > n:
        r.hi = n
    return r


cdef inline int* _avg_wcounts(Py_ssize_t OW, Py_ssize_t sw, Py_ssize_t pw, Py_ssize_t KW,
                              Py_ssize_t W, bint include_pad) noexcept nogil:
    """malloc'd W factor of each output column's divisor count: the window
    clipped to the padded input (count_include_pad) or to the input; every
    window holds an input cell (PyTorch's output-size rule), so none is 0.
    NULL when the allocation fails; the caller frees it."""
    cdef Py_ssize_t ow
    cdef Window win
    cdef int* wcnt = <int*> malloc((OW if OW > 0 else 1) * sizeof(int))
    if wcnt != NULL:
        for ow in range(OW):
            win = _avg_window(ow, sw, pw, KW, W)
            wcnt[ow] = <int> (win.full if include_pad else win.hi - win.lo)
    return wcnt


cdef int _avg_fwd(const real* x, real* out,
                  Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                  Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
                  Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
                  Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                  bint include_pad, Py_ssize_t divisor, int n_threads) noexcept nogil:
    """Window sums swept row by row (each output adds its cells in (d, h, w)
    order, from 0; pyx/_pool_kernels.h sums L outputs of one tap at a time),
    then one division per output by its count. Rows are read in place, or
    through a zero-padded scratch copy when windows reach the padding."""
    cdef Py_ssize_t n_units = N * C * OD * OH
    cdef Py_ssize_t u, m, oh, od, nc, ow, idd, ih, iw, j
    cdef Py_ssize_t d_lo, d_hi, d_full, h_lo, h_hi, h_full, fac
    cdef Py_ssize_t rpad = _right_pad(W, OW, KW, sw, pw, 1), slen = pw + W + rpad + SLACK
    cdef bint copy = pw > 0 or rpad > 0
    cdef Window win
    cdef const real* plane
    cdef const real* row
    cdef real* orow
    cdef real* zbuf
    cdef int* wcnt = _avg_wcounts(OW, sw, pw, KW, W, include_pad)
    if wcnt == NULL:
        return -1
    if n_threads > n_units:
        n_threads = <int> n_units if n_units > 0 else 1
    with parallel(num_threads=n_threads):
        zbuf = NULL
        if copy:
            zbuf = <real*> malloc(slen * sizeof(real))
            if zbuf != NULL:
                for j in range(slen):
                    zbuf[j] = 0
        for u in prange(n_units, schedule='static'):
            oh = u % OH
            m = u // OH
            od = m % OD
            nc = m // OD
            plane = x + nc * D * H * W
            orow = out + u * OW
            win = _avg_window(od, sd, pd, KD, D)
            d_lo, d_hi, d_full = win.lo, win.hi, win.full
            win = _avg_window(oh, sh, ph, KH, H)
            h_lo, h_hi, h_full = win.lo, win.hi, win.full
            for ow in range(OW):
                orow[ow] = 0
            if d_lo >= d_hi or h_lo >= h_hi or (copy and zbuf == NULL):
                continue
            for idd in range(d_lo, d_hi):
                for ih in range(h_lo, h_hi):
                    row = plane + (idd * H + ih) * W
                    if copy:
                        for iw in range(W):
                            zbuf[pw + iw] = row[iw]
                        if real is float:
                            cv_pool_hsum_f32(zbuf, orow, OW, KW, sw, slen)
                        else:
                            cv_pool_hsum_f64(zbuf, orow, OW, KW, sw, slen)
                    else:
                        if real is float:
                            cv_pool_hsum_f32(row, orow, OW, KW, sw, W)
                        else:
                            cv_pool_hsum_f64(row, orow, OW, KW, sw, W)
            if divisor > 0:
                for ow in range(OW):
                    orow[ow] = orow[ow] / <real> divisor
            else:
                fac = d_full * h_full if include_pad else (d_hi - d_lo) * (h_hi - h_lo)
                for ow in range(OW):
                    orow[ow] = orow[ow] / <real> (<int> fac * wcnt[ow])
        free(zbuf)
    free(wcnt)
    return 0


cdef int _avg_bwd(const real* go, real* gi,
                  Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                  Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
                  Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
                  Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                  bint include_pad, Py_ssize_t divisor, int n_threads) noexcept nogil:
    """Per output row: g = grad_out / count, then for each input row of the
    window and each tap kw (descending), the row's in-bounds range of
    outputs added in one vector sweep. A cell still receives its terms in
    (od, oh, ow) order: kw descending is ow ascending for a fixed cell."""
    cdef Py_ssize_t NC = N * C
    cdef Py_ssize_t nc, od, oh, ow, idd, ih, kw, a, b, lo, hi, fac
    cdef Py_ssize_t d_lo, d_hi, d_full, h_lo, h_hi, h_full
    cdef Window win
    cdef real* plane
    cdef real* row
    cdef const real* grow
    cdef real* g
    cdef int* wcnt = _avg_wcounts(OW, sw, pw, KW, W, include_pad)
    if wcnt == NULL:
        return -1
    if n_threads > NC:
        n_threads = <int> NC if NC > 0 else 1
    # one scratch row per thread, allocated here: a thread could not skip its
    # planes on a failed allocation (they are zeroed by it, below)
    cdef real* gbuf = <real*> malloc(n_threads * (OW if OW > 0 else 1) * sizeof(real))
    if gbuf == NULL:
        free(wcnt)
        return -1
    with parallel(num_threads=n_threads):
        g = gbuf + threadid() * (OW if OW > 0 else 1)
        for nc in prange(NC, schedule='static'):
            plane = gi + nc * D * H * W
            # zeroed here, in cache, rather than by np.zeros (one pass fewer)
            memset(plane, 0, D * H * W * sizeof(real))
            for od in range(OD):
                win = _avg_window(od, sd, pd, KD, D)
                d_lo, d_hi, d_full = win.lo, win.hi, win.full
                for oh in range(OH):
                    win = _avg_window(oh, sh, ph, KH, H)
                    h_lo, h_hi, h_full = win.lo, win.hi, win.full
                    if d_lo >= d_hi or h_lo >= h_hi:
                        continue
                    grow = go + ((nc * OD + od) * OH + oh) * OW
                    if divisor > 0:
                        for ow in range(OW):
                            g[ow] = grow[ow] / <real> divisor
                    else:
                        fac = d_full * h_full if include_pad else (d_hi - d_lo) * (h_hi - h_lo)
                        for ow in range(OW):
                            g[ow] = grow[ow] / <real> (<int> fac * wcnt[ow])
                    for idd in range(d_lo, d_hi):
                        for ih in range(h_lo, h_hi):
                            row = plane + (idd * H + ih) * W
                            for kw in range(KW - 1, -1, -1):
                                a = pw - kw
                                lo = 0 if a <= 0 else (a + sw - 1) // sw
                                b = W - 1 + a
                                hi = 0 if b < 0 else b // sw + 1
                                if hi > OW:
                                    hi = OW
                                if real is float:
                                    cv_pool_addrow_f32(row, g, lo, hi, sw, a, W)
                                else:
                                    cv_pool_addrow_f64(row, g, lo, hi, sw, a, W)
    free(gbuf)
    free(wcnt)
    return 0


def max_pool_forward(const real[:, :, :, :, ::1] x, real[:, :, :, :, ::1] out,
                     int64_t[:, :, :, :, ::1] idx, tuple k, tuple s, tuple p, tuple d,
                     int n_threads):
    """Fill `out` and `idx` (shape (N, C, OD, OH, OW)) with window maxima of `x` and
    their flat positions in the (n, c) input volume; `idx` None: values only."""
    cdef int64_t* ip = NULL
    cdef Py_ssize_t KD = k[0], KH = k[1], KW = k[2]
    cdef Py_ssize_t sd = s[0], sh = s[1], sw = s[2]
    cdef Py_ssize_t pd = p[0], ph = p[1], pw = p[2]
    cdef Py_ssize_t dd = d[0], dh = d[1], dw = d[2]
    if out.size == 0:
        return
    if idx is not None:
        ip = &idx[0, 0, 0, 0, 0]
    cdef Py_ssize_t D = x.shape[2], H = x.shape[3], W = x.shape[4]
    cdef Py_ssize_t OH = out.shape[3], OW = out.shape[4]
    cdef int rc
    if (KD == 1 and sd == 1 and pd == 0 and KH == 2 and KW == 2 and sh == 2 and sw == 2
            and ph == 0 and pw == 0 and dh == 1 and dw == 1 and out.shape[2] == D
            and 2 * OH <= H and 2 * OW <= W and H * W < INT32_MAX):
        with nogil:
            rc = _max2_fwd(&x[0, 0, 0, 0, 0], &out[0, 0, 0, 0, 0], ip, NULL, 0,
                           x.shape[0] * x.shape[1] * D, D, H, W, OH, OW, n_threads)
        if rc == 0:
            return
    with nogil:
        _max_fwd(&x[0, 0, 0, 0, 0], &out[0, 0, 0, 0, 0], ip,
                 x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4],
                 out.shape[2], out.shape[3], out.shape[4],
                 KD, KH, KW, sd, sh, sw, pd, ph, pw, dd, dh, dw, n_threads)


def max_pool2x2_forward(const real[:, :, ::1] x, real[:, :, ::1] out,
                        uint8_t[:, :, ::1] codes, int n_threads, bint relu=False):
    """2x2 max pooling, stride 2, no padding, of (P, H, W) planes into `out`
    (P, H // 2, W // 2), with each window's winner as a tap code kh * 2 + kw
    in `codes` (same shape); PyTorch's ties and NaNs. relu: of relu(x), the
    code 4 marking windows whose gradient is zero (max <= 0)."""
    cdef Py_ssize_t P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t OH = out.shape[1], OW = out.shape[2]
    cdef int rc
    if (out.shape[0] != P or codes.shape[0] != P or codes.shape[1] != OH
            or codes.shape[2] != OW or 2 * OH > H or 2 * OW > W):
        raise ValueError("max_pool2x2_forward: inconsistent shapes")
    if out.size == 0:
        return
    with nogil:
        rc = _max2_fwd(&x[0, 0, 0], &out[0, 0, 0], NULL, &codes[0, 0, 0], relu, P, 1, H, W,
                       OH, OW, n_threads)
    if rc != 0:
        raise MemoryError("max_pool2x2_forward: no memory for the scratch rows")


def max_pool2x2_backward(const real[:, :, ::1] grad_out, const uint8_t[:, :, ::1] codes,
                         real[:, :, ::1] grad_in, int n_threads):
    """Fill `grad_in` (P, H, W) (need not be initialized) with the gradient of
    max_pool2x2_forward from `grad_out` and `codes` (P, OH, OW): the
    zero-filled scatter-add's values, bit for bit."""
    cdef Py_ssize_t P = grad_in.shape[0], H = grad_in.shape[1], W = grad_in.shape[2]
    cdef Py_ssize_t OH = grad_out.shape[1], OW = grad_out.shape[2]
    cdef int rc
    if (grad_out.shape[0] != P or codes.shape[0] != P or codes.shape[1] != OH
            or codes.shape[2] != OW or 2 * OH > H or 2 * OW > W):
        raise ValueError("max_pool2x2_backward: inconsistent shapes")
    if grad_in.size == 0:
        return
    if grad_out.size == 0:
        grad_in[:, :, :] = 0
        return
    with nogil:
        rc = _max2_bwd(&grad_out[0, 0, 0], &codes[0, 0, 0], &grad_in[0, 0, 0], P, H, W, OH,
                       OW, n_threads)
    if rc != 0:
        raise MemoryError("max_pool2x2_backward: no memory for the scratch rows")


def max_pool_backward(const real[:, ::1] grad_out, const int64_t[:, ::1] idx,
                      real[:, ::1] grad_in, char[::1] bad, int n_threads):
    """grad_in[nc] = scatter-add of grad_out[nc, q] at idx[nc, q] on (N*C, Q) /
    (N*C, P) blocks; grad_in need not be initialized. bad[nc] set to 1 where
    plane nc holds an index outside [0, P)."""
    if grad_in.size == 0:
        return
    if grad_out.size == 0:
        grad_in[:, :] = 0
        return
    with nogil:
        _max_bwd(&grad_out[0, 0], &idx[0, 0], &grad_in[0, 0], &bad[0],
                 grad_in.shape[0], grad_in.shape[1], grad_out.shape[1], n_threads)


def avg_pool_forward(const real[:, :, :, :, ::1] x, real[:, :, :, :, ::1] out,
                     tuple k, tuple s, tuple p, bint include_pad, Py_ssize_t divisor,
                     int n_threads):
    """Fill `out` (N, C, OD, OH, OW) with window means of `x`; divisor 0: none."""
    cdef Py_ssize_t KD = k[0], KH = k[1], KW = k[2]
    cdef Py_ssize_t sd = s[0], sh = s[1], sw = s[2]
    cdef Py_ssize_t pd = p[0], ph = p[1], pw = p[2]
    if out.size == 0:
        return
    cdef int rc
    with nogil:
        rc = _avg_fwd(&x[0, 0, 0, 0, 0], &out[0, 0, 0, 0, 0],
                      x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4],
                      out.shape[2], out.shape[3], out.shape[4],
                      KD, KH, KW, sd, sh, sw, pd, ph, pw, include_pad, divisor, n_threads)
    if rc != 0:
        raise MemoryError("avg_pool: no memory for the count table")


def avg_pool_backward(const real[:, :, :, :, ::1] grad_out, real[:, :, :, :, ::1] grad_in,
                      tuple k, tuple s, tuple p, bint include_pad, Py_ssize_t divisor,
                      int n_threads):
    """Fill `grad_in` ((N, C, D, H, W), need not be initialized) with the adjoint
    of avg_pool_forward."""
    cdef Py_ssize_t KD = k[0], KH = k[1], KW = k[2]
    cdef Py_ssize_t sd = s[0], sh = s[1], sw = s[2]
    cdef Py_ssize_t pd = p[0], ph = p[1], pw = p[2]
    if grad_in.size == 0:
        return
    if grad_out.size == 0:
        grad_in[...] = 0
        return
    cdef int rc
    with nogil:
        rc = _avg_bwd(&grad_out[0, 0, 0, 0, 0], &grad_in[0, 0, 0, 0, 0],
                      grad_in.shape[0], grad_in.shape[1], grad_in.shape[2],
                      grad_in.shape[3], grad_in.shape[4], grad_out.shape[2],
                      grad_out.shape[3], grad_out.shape[4],
                      KD, KH, KW, sd, sh, sw, pd, ph, pw, include_pad, divisor, n_threads)
    if rc != 0:
        raise MemoryError("avg_pool_backward: no memory for the scratch rows")
