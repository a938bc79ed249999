# The work around the FFTs of the FFT and overlap-add methods.
#
# The transforms themselves come from scipy.fft (pocketfft); everything in
# between is here, on arrays Python has already shaped:
#
# cmul     X[r, f] *= H[r % RH, f]: the pointwise spectral product, complex,
#          in place in the forward transform's output buffer (H broadcast
#          over rows when it has one row). Complex arrays arrive as their
#          interleaved real views, so the compiler vectorizes the product
#          (C99 complex multiplication would call __mulsc3 for its NaN rules).
# cmatmul  Y[f, o, n] = sum_c W[f, o, c] * X[f, c, n]: the channel contraction
#          of the NN family in the frequency domain, one small complex matrix
#          product per frequency.
# gather   overlap-save tiles: dst[c, p, m, q] = x[p, start + c*step + m, q],
#          zero outside x (the tiles of one chunk, ready for a batched rfft).
# scatter  the valid part of every tile into its place in the output:
#          out[b, row0 + c*L + j, u, v] = src[c, b, j, u, v] (rows past the
#          output's end dropped); with one tile it is the final crop.
#
# Every output element is written by exactly one iteration, and every sum
# runs in a fixed order, so results are bitwise the same for any thread count
# and any schedule: the loops are scheduled dynamically, so a thread whose
# core is busy with another process does not hold the others up.

from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from _types cimport real


def cmul(real[:, ::1] X, const real[:, ::1] H, int n_threads):
    """X *= H (complex, as interleaved real views; H's rows broadcast: row r uses r % RH)."""
    cdef Py_ssize_t R = X.shape[0], F2 = X.shape[1], RH = H.shape[0]
    cdef Py_ssize_t BLK = 4096   # reals per work item (a multiple of 2)
    cdef Py_ssize_t nb = (F2 + BLK - 1) // BLK
    cdef Py_ssize_t item, r, f0, f1, f
    cdef real* x
    cdef const real* h
    cdef real xr, xi, hr, hi
    if H.shape[1] != F2 or RH < 1 or R % RH:
        raise ValueError("cmul: shapes do not match")
    if R * F2 < 1 << 16:
        n_threads = 1
    with nogil:
        for item in prange(R * nb, num_threads=n_threads, schedule="dynamic"):
            r = item // nb
            f0 = (item % nb) * BLK
            f1 = f0 + BLK
            if f1 > F2:
                f1 = F2
            x = &X[r, 0]
            h = &H[r % RH, 0]
            for f in range(f0, f1, 2):
                xr = x[f]
                xi = x[f + 1]
                hr = h[f]
                hi = h[f + 1]
                x[f] = xr * hr - xi * hi
                x[f + 1] = xr * hi + xi * hr


def cmatmul(const real[:, :, ::1] W, const real[:, :, ::1] X, real[:, :, ::1] Y,
            int conj_x, int n_threads):
    """Y[f, o, n] = sum_c W[f, o, c] * X[f, c, n] (conj(X) when `conj_x`).

    Complex arrays as interleaved real views: W (F, O, 2C), X (F, C, 2N),
    Y (F, O, 2N). Parallel over frequencies; the sum over c runs in order."""
    cdef Py_ssize_t F = W.shape[0], O = W.shape[1], C = W.shape[2] // 2
    cdef Py_ssize_t N = X.shape[2] // 2
    cdef Py_ssize_t f, o, c, n
    cdef real wr, wi, xr, xi, s = -1 if conj_x else 1
    cdef real* y
    cdef const real* x
    if X.shape[0] != F or X.shape[1] != C or Y.shape[0] != F or Y.shape[1] != O \
            or Y.shape[2] != 2 * N:
        raise ValueError("cmatmul: shapes do not match")
    if F * O * C * N < 1 << 14:
        n_threads = 1
    with nogil:
        for f in prange(F, num_threads=n_threads, schedule="dynamic"):
            for o in range(O):
                y = &Y[f, o, 0]
                memset(y, 0, 2 * N * sizeof(real))
                for c in range(C):
                    wr = W[f, o, 2 * c]
                    wi = W[f, o, 2 * c + 1]
                    x = &X[f, c, 0]
                    for n in range(N):
                        xr = x[2 * n]
                        xi = s * x[2 * n + 1]
                        y[2 * n] = y[2 * n] + (wr * xr - wi * xi)
                        y[2 * n + 1] = y[2 * n + 1] + (wr * xi + wi * xr)


def gather(const real[:, :, ::1] x, real[:, :, :, ::1] dst, Py_ssize_t start,
           Py_ssize_t step, int n_threads):
    """dst[c, p, m, :] = x[p, start + c*step + m, :], zeros outside x.

    x (P, n, Q), dst (C, P, M, Q), both C-contiguous (complex data as real
    views, with Q doubled)."""
    cdef Py_ssize_t C = dst.shape[0], P = dst.shape[1], M = dst.shape[2], Q = dst.shape[3]
    cdef Py_ssize_t n = x.shape[1]
    cdef Py_ssize_t item, c, p, i0, m0, m1
    if C * P * M * Q < 1 << 16:
        n_threads = 1
    with nogil:
        for item in prange(C * P, num_threads=n_threads, schedule="dynamic"):
            c = item // P
            p = item % P
            i0 = start + c * step          # x row of tile row 0
            m0 = -i0 if i0 < 0 else 0
            m1 = n - i0 if n - i0 < M else M
            if m1 <= m0:
                memset(&dst[c, p, 0, 0], 0, M * Q * sizeof(real))
                continue
            if m0 > 0:
                memset(&dst[c, p, 0, 0], 0, m0 * Q * sizeof(real))
            memcpy(&dst[c, p, m0, 0], &x[p, i0 + m0, 0], (m1 - m0) * Q * sizeof(real))
            if m1 < M:
                memset(&dst[c, p, m1, 0], 0, (M - m1) * Q * sizeof(real))


def scatter(const real[:, :, :, :, :] src, real[:, :, :, ::1] out, Py_ssize_t row0,
            int n_threads):
    """out[b, row0 + c*L + j, u, v] = src[c, b, j, u, v] for rows inside out.

    src (C, B, L, U, V) any strides (the cropped inverse transforms), out
    (B, n, U, V) C-contiguous."""
    cdef Py_ssize_t C = src.shape[0], B = src.shape[1], L = src.shape[2]
    cdef Py_ssize_t U = src.shape[3], V = src.shape[4], n = out.shape[1]
    cdef Py_ssize_t sj = src.strides[2] // sizeof(real), sv = src.strides[4] // sizeof(real)
    cdef Py_ssize_t item, c, b, j, u, v, jmax
    cdef real* o
    cdef const real* s
    if C * B * L * U * V < 1 << 16:
        n_threads = 1
    with nogil:
        for item in prange(C * B * U, num_threads=n_threads, schedule="dynamic"):
            c = item // (B * U)
            b = (item // U) % B
            u = item % U
            jmax = n - row0 - c * L
            if jmax > L:
                jmax = L
            if jmax <= 0:
                continue
            o = &out[b, row0 + c * L, u, 0]
            s = &src[c, b, 0, u, 0]
            if V == 1:
                for j in range(jmax):
                    o[j * U] = s[j * sj]
            elif sv == 1:
                for j in range(jmax):
                    memcpy(o + j * U * V, s + j * sj, V * sizeof(real))
            else:
                for j in range(jmax):
                    for v in range(V):
                        o[j * U * V + v] = s[j * sj + v * sv]
