# Blocked direct correlation: the output channels as the vector lanes.
#
#   out[n, o, od, oh, ow] = bias[o] + sum_{c, kd, kh, kw} W[o, c, kd, kh, kw] *
#                           xpad[n, g*Cg + c, od*sd + kd*dd, oh*sh + kh*dh, ow*sw + kw*dw]
#
# is a GEMM per image: rows = output pixels, columns = output channels,
# reduction = the K = Cg*KD*KH*KW taps. Its A operand (the im2col matrix) is
# never built: six output pixels' windows are read in place through six
# pointers into a zero-padded copy of the image's rows, one offset per tap,
# and broadcast against the weights packed [K][JW] (JW = 16 floats or 8
# doubles, two vectors of output channels) by the micro-kernel
# cv_pgemm6 of _gemm_kernels.h: a 6 x JW tile of outputs in 12 registers,
# 12 FMAs per tap for 2 vector loads and 6 broadcasts. Any stride, dilation
# and padding costs nothing extra (the pointers step by the stride; the
# copy holds the padding), and output rows of any width fill the tiles
# (pixels are flattened across rows): the layers where the row-flattening
# direct orders waste junk columns (LeNet's 10x10 maps) or rewrite strides
# into zero taps (stride 2) run at the micro-kernel's rate.
#
# A unit is (image, group, band of output rows): a thread copies the band's
# padded input rows for the group's channels into its own buffer, then for
# each block of 6 pixels runs every panel of JW output channels (the
# windows stay in L1 while the weights stream from L2) into the unit's
# accumulator, stored at the end output row by output row (scattering each
# tile would touch 16 output planes per 6 pixels: twice the time at K = 512). Each output is
# computed by one thread, its taps summed in the fixed order (c, kd, kh, kw):
# bitwise identical for any thread count.

from cython.parallel cimport parallel, prange
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from _types cimport real
from _openmp cimport omp_get_thread_num
from _gemm cimport CV_PAIR_PANELS, _jw, _pgemm_panels, _panel_chunk, _unpanel


cdef void _tap_offsets(Py_ssize_t* off, Py_ssize_t n, Py_ssize_t K, tuple kernel,
                       tuple dilation, Py_ssize_t Dp, Py_ssize_t Hp, Py_ssize_t Wp):
    """off[t] = offset of tap t (order (c, kd, kh, kw)) in a (C, Dp, Hp, Wp) block,
    for t < n; taps t >= K repeat the last one (padding a tap block)."""
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t t, m, c, kd, kh, kw
    for t in range(n):
        m = t if t < K else K - 1
        kw = m % KW
        m = m // KW
        kh = m % KH
        m = m // KH
        kd = m % KD
        c = m // KD
        off[t] = ((c * Dp + kd * dd) * Hp + kh * dh) * Wp + kw * dw


def correlate(const real[:, :, :, :, ::1] x, const real[:, :, :, ::1] wpk,
              real[::1] obuf, tuple oshape, tuple ostrides, Py_ssize_t ooff, bias,
              tuple kernel, tuple stride, tuple dilation, tuple pad, Py_ssize_t groups,
              Py_ssize_t band, int n_threads):
    """The output (N, O, OD, OH, OW) of `oshape`, element (n, o, od, oh, ow)
    at ``obuf[ooff + n*s0 + o*s1 + od*s2 + oh*s3 + ow*s4]`` (`ostrides`, in
    elements: a strided window of a larger array, such as one stride phase
    of an input gradient, is written in place), from x (N, C, D, H, W) and
    the weights packed by convolve._engine.pack_lanes, wpk (groups, NOB, K,
    JW); leading padding `pad` (negative: that much of the input skipped;
    the trailing side is implied by the output size); units of `band`
    output rows. Trusts its inputs."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t O = oshape[1], OD = oshape[2], OH = oshape[3], OW = oshape[4]
    cdef Py_ssize_t s0 = ostrides[0], s1 = ostrides[1], s2 = ostrides[2]
    cdef Py_ssize_t s3 = ostrides[3], s4 = ostrides[4]
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t Cg = C // groups, Og = O // groups
    # JW output channels per panel: two vectors (6-pixel tiles) or one (8-pixel tiles)
    cdef Py_ssize_t NOB = wpk.shape[1], K = wpk.shape[2], JW = wpk.shape[3]
    cdef Py_ssize_t NR = 6 if JW == _jw(<real*> NULL) else 8
    cdef Py_ssize_t Dp = (OD - 1) * sd + (KD - 1) * dd + 1
    cdef Py_ssize_t Wp = (OW - 1) * sw + (KW - 1) * dw + 1
    cdef Py_ssize_t Hb = (band - 1) * sh + (KH - 1) * dh + 1
    cdef Py_ssize_t n_bands = (OH + band - 1) // band
    cdef Py_ssize_t n_units = N * groups * n_bands
    cdef Py_ssize_t buf_len = Cg * Dp * Hb * Wp
    cdef Py_ssize_t u, m, n, g, bi, oh0, bhu, npx, blk, q, r, ob, nq, nr, i, o
    cdef Py_ssize_t c, zd, rr, idd, ih, ncp, j0, kd, kh, kw, k
    cdef const real* bp = NULL
    cdef const real[::1] b
    cdef real* buf
    cdef real* acc
    cdef const real* src
    cdef Py_ssize_t npad
    cdef real* dst
    cdef real* row
    cdef const real** ptr
    cdef real bv
    if N * O * OD * OH * OW == 0:
        return
    if bias is not None:
        b = bias
        bp = &b[0]
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef const real* wp = &wpk[0, 0, 0, 0]
    cdef real* op = &obuf[0] + ooff
    cdef Py_ssize_t npx_max = OD * band * OW + NR
    cdef Py_ssize_t ws = buf_len + NOB * npx_max * JW + 16
    cdef real* work = <real*> malloc(n_threads * ws * sizeof(real))
    cdef Py_ssize_t* off = <Py_ssize_t*> malloc(K * sizeof(Py_ssize_t))
    cdef const real** ptr_work = <const real**> malloc(n_threads * 8 * sizeof(real*))
    if work == NULL or off == NULL or ptr_work == NULL:
        free(work)
        free(off)
        free(ptr_work)
        raise MemoryError("convolve: could not allocate the blocked-direct workspace")
    _tap_offsets(off, K, K, kernel, dilation, Dp, Hb, Wp)
    with nogil, parallel(num_threads=n_threads):
        buf = work + omp_get_thread_num() * ws
        acc = buf + buf_len
        ptr = ptr_work + omp_get_thread_num() * 8
        for u in prange(n_units, schedule='static'):
            m = u
            bi = m % n_bands
            m = m // n_bands
            g = m % groups
            n = m // groups
            oh0 = bi * band
            bhu = OH - oh0
            if bhu > band:
                bhu = band
            # the band's padded input rows of the group's channels: columns
            # [j0, j0 + ncp) hold input columns [j0 - pw, ...), zeros around
            j0 = pw if pw > 0 else 0
            ncp = W - (j0 - pw)
            if j0 + ncp > Wp:
                ncp = Wp - j0
            for c in range(Cg):
                for zd in range(Dp):
                    idd = zd - pd
                    for rr in range(Hb):
                        ih = oh0 * sh + rr - ph
                        row = buf + ((c * Dp + zd) * Hb + rr) * Wp
                        if idd < 0 or idd >= D or ih < 0 or ih >= H or ncp <= 0:
                            memset(row, 0, Wp * sizeof(real))
                        else:
                            memset(row, 0, j0 * sizeof(real))
                            memcpy(row + j0, xp + (((n * C + g * Cg + c) * D + idd) * H + ih) * W
                                   + (j0 - pw), ncp * sizeof(real))
                            memset(row + j0 + ncp, 0, (Wp - j0 - ncp) * sizeof(real))
            npx = OD * bhu * OW
            npad = (npx + NR - 1) // NR * NR
            # pixel (od, row in band, ow) of the next tile, stepped (no divisions)
            zd = 0
            rr = 0
            i = 0
            blk = 0
            while blk < npx:
                nr = npx - blk
                if nr > NR:
                    nr = NR
                for r in range(NR):
                    if r < nr:
                        ptr[r] = buf + (zd * sd * Hb + rr * sh) * Wp + i * sw
                        i = i + 1
                        if i == OW:
                            i = 0
                            rr = rr + 1
                            if rr == bhu:
                                rr = 0
                                zd = zd + 1
                    else:
                        ptr[r] = ptr[nr - 1]
                # every panel of output channels while the windows are in L1;
                # the tiles go to the unit's accumulator, [panel][pixel][JW]
                # (panels in pairs: 512-bit registers on AVX-512 builds)
                _pgemm_panels(NR, NOB, acc + blk * JW, npad * JW, JW, ptr, off,
                              wp + g * NOB * K * JW, K * JW, K, 0)
                blk = blk + NR
            # stored transposed, output row by output row: whole cache lines
            # written at once instead of 16 planes touched per tile; rows of
            # contiguous outputs by 8 x 8 / 4 x 4 register transposes
            # (_unpanel), others element by element
            for ob in range(NOB):
                nq = Og - ob * JW
                if nq > JW:
                    nq = JW
                blk = ob * npad
                for zd in range(OD):
                    for rr in range(bhu):
                        if s4 == 1:
                            o = g * Og + ob * JW
                            _unpanel(op + n * s0 + o * s1 + zd * s2 + (oh0 + rr) * s3, s1,
                                     acc + blk * JW, OW, <int> nq, <int> JW,
                                     bp + o if bp != NULL else NULL)
                            blk = blk + OW
                            continue
                        for q in range(nq):
                            o = g * Og + ob * JW + q
                            dst = op + n * s0 + o * s1 + zd * s2 + (oh0 + rr) * s3
                            src = acc + blk * JW + q
                            if bp != NULL:
                                bv = bp[o]
                                for i in range(OW):
                                    dst[i * s4] = src[i * JW] + bv
                            else:
                                for i in range(OW):
                                    dst[i * s4] = src[i * JW]
                        blk = blk + OW
    free(work)
    free(off)
    free(ptr_work)


# Pixels per chunk of the output-gradient panel a thread transposes and then
# streams through all its tap blocks: 2048 x two vectors = 128 KiB (in L2).
DEF WG_PIX = 2048
WEIGHT_GRAD_CHUNK = WG_PIX     # for convolve._conv_grad.weight_grad_panels


def pair_panels():
    """Whether this build multiplies channel panels in pairs on 512-bit
    registers (CV_PAIR_PANELS: built with AVX-512)."""
    return bool(CV_PAIR_PANELS)


def weight_grad(const real[:, :, :, :, ::1] xp, const real[:, :, ::1] gy,
                real[:, :, :, :, :, ::1] tiles, tuple osp, tuple kernel, tuple stride,
                tuple dilation, Py_ssize_t nchunks, int n_threads, Py_ssize_t panels=1):
    """Weight-gradient tiles by the same micro-kernel, roles swapped: six (or
    eight) taps are the rows, read in place through pointers into the padded
    input ``xp (N, C, Dp, Hp, Wp)``; the output pixels are the reduction, one
    offset per pixel; the output gradient ``gy (N, O, P)`` is read as
    pixel-major panels of JW channels, transposed by each thread chunk by
    chunk (WG_PIX pixels) into its own buffer (zero lanes past Og) and
    streamed from there through the unit's tap blocks:

        tiles[s, g, ob, tb, r, j] = sum_{n in group s} sum_p
            xp[n, g*Cg + c, window(p) + tap(tb*NR + r)] * gy[n, g*Og + ob*JW + j, p]

    with the taps in the order (c, kd, kh, kw) (the last block repeats the
    last tap) and the images in S = tiles.shape[0] even groups (the caller
    adds the S partial gradients in order). A unit is an image group,
    `panels` channel panels and one of `nchunks` even runs of the tap
    blocks; each tap block's input windows, read once from L3, feed the
    unit's panels from L2. Every
    tile sums its images in order, the pixels in order (a chunk continues
    the previous one's sums in registers' order): bitwise identical for any
    thread count and any `nchunks`. Trusts its inputs."""
    cdef Py_ssize_t N = xp.shape[0], C = xp.shape[1], Dp = xp.shape[2], Hp = xp.shape[3]
    cdef Py_ssize_t Wp = xp.shape[4]
    cdef Py_ssize_t S = tiles.shape[0], G = tiles.shape[1], NOB = tiles.shape[2]
    cdef Py_ssize_t NTB = tiles.shape[3], NR = tiles.shape[4], JW = tiles.shape[5]
    cdef Py_ssize_t O = gy.shape[1], P = gy.shape[2], Og = O // G
    cdef Py_ssize_t OD = osp[0], OH = osp[1], OW = osp[2]
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t Cg = C // G, KK = KD * KH * KW, K = Cg * KK
    cdef Py_ssize_t img = C * Dp * Hp * Wp, gplane = Cg * Dp * Hp * Wp
    cdef Py_ssize_t NPU = panels if panels < NOB else NOB
    cdef Py_ssize_t NUB = (NOB + NPU - 1) // NPU      # units of panels per group
    cdef Py_ssize_t n_units = S * G * NUB * nchunks
    cdef Py_ssize_t PB = WG_PIX if P > WG_PIX else P
    cdef Py_ssize_t u, m, g, ob, ch, tb, tb1, n, r, t, c, kd, kh, kw, od, oh, ow, p0, pn
    cdef Py_ssize_t sg, n0, n1, ob0, nob, q
    cdef int nj
    cdef const real** ptr
    cdef real* buf
    if N == 0 or tiles.size == 0:
        return
    cdef const real* x = &xp[0, 0, 0, 0, 0]
    cdef const real* gp = &gy[0, 0, 0]
    cdef real* tp = &tiles[0, 0, 0, 0, 0, 0]
    cdef Py_ssize_t* toff = <Py_ssize_t*> malloc(NTB * NR * sizeof(Py_ssize_t))
    cdef Py_ssize_t* poff = <Py_ssize_t*> malloc(P * sizeof(Py_ssize_t))
    cdef const real** ptr_work = <const real**> malloc(n_threads * 8 * sizeof(real*))
    cdef real* buf_work = <real*> malloc(n_threads * NPU * PB * JW * sizeof(real))
    if toff == NULL or poff == NULL or ptr_work == NULL or buf_work == NULL:
        free(toff)
        free(poff)
        free(ptr_work)
        free(buf_work)
        raise MemoryError("convolve: could not allocate the blocked weight-gradient tables")
    _tap_offsets(toff, NTB * NR, K, kernel, dilation, Dp, Hp, Wp)
    for od in range(OD):
        for oh in range(OH):
            for ow in range(OW):
                poff[(od * OH + oh) * OW + ow] = ((od * sd) * Hp + oh * sh) * Wp + ow * sw
    with nogil, parallel(num_threads=n_threads):
        ptr = ptr_work + omp_get_thread_num() * 8
        buf = buf_work + omp_get_thread_num() * NPU * PB * JW
        for u in prange(n_units, schedule='static'):
            m = u
            ch = m % nchunks
            m = m // nchunks
            ob0 = (m % NUB) * NPU
            m = m // NUB
            g = m % G
            sg = m // G
            n0 = sg * N // S
            n1 = (sg + 1) * N // S
            tb1 = (ch + 1) * NTB // nchunks
            nob = NOB - ob0
            if nob > NPU:
                nob = NPU
            # zero lanes past Og stay zero: _panel_chunk writes nj lanes
            if Og - (ob0 + nob - 1) * JW < JW:
                memset(buf + (nob - 1) * PB * JW, 0, PB * JW * sizeof(real))
            for n in range(n0, n1):
                p0 = 0
                while p0 < P:
                    pn = P - p0
                    if pn > PB:
                        pn = PB
                    for q in range(nob):
                        ob = ob0 + q
                        nj = <int> (Og - ob * JW)
                        if nj > JW:
                            nj = <int> JW
                        _panel_chunk(buf + q * PB * JW, gp + (n * O + g * Og + ob * JW) * P + p0,
                                     P, pn, nj, <int> JW)
                    for tb in range(ch * NTB // nchunks, tb1):
                        for r in range(NR):
                            ptr[r] = x + n * img + g * gplane + toff[tb * NR + r]
                        _pgemm_panels(NR, nob,
                                      tp + (((sg * G + g) * NOB + ob0) * NTB + tb) * NR * JW,
                                      NTB * NR * JW, JW, ptr, poff + p0, buf, PB * JW, pn,
                                      n > n0 or p0 > 0)
                    p0 = p0 + PB
    free(toff)
    free(poff)
    free(ptr_work)
    free(buf_work)


def pack_panels(const real[:, :, ::1] w, real[:, :, :, :, ::1] out, Py_ssize_t groups,
                int n_threads=1):
    """out[i, g, b, t, j] = w[i, g*Og + b*JW + j, t] (zero for b*JW + j >= Og):
    the rows of each (O, K) matrix w[i], group by group, as panels of JW rows
    stored tap-major, the layout the micro-kernels stream (JW = 6 for the
    6-channel tiles and the implicit GEMM, two vectors for the blocked
    kernel's weights; the blocked weight gradient transposes its output
    gradient chunk by chunk instead, see weight_grad). One pass writing each
    panel in order, its JW rows read as JW sequential streams, panels shared
    among threads (numpy's zero fill, copy and transposed copy had cost
    0.2-0.75 ms for 3x3 layers of 64-256 channels)."""
    cdef Py_ssize_t B = w.shape[0], O = w.shape[1], K = w.shape[2]
    cdef Py_ssize_t NB = out.shape[2], JW = out.shape[4]
    cdef Py_ssize_t Og = O // groups, u, i, g, b, t, j, nj
    cdef real* dst
    cdef const real* r0
    if out.shape[0] != B or out.shape[1] != groups or out.shape[3] != K or NB * JW < Og \
            or Og * groups != O or JW > 32:
        raise ValueError("pack_panels: out must be (B, groups, ceil(Og/JW), K, JW), JW <= 32")
    if B == 0 or O == 0 or K == 0:
        return
    cdef real* base = &out[0, 0, 0, 0, 0]
    cdef const real* src = &w[0, 0, 0]
    with nogil:
        for u in prange(B * groups * NB, num_threads=n_threads, schedule='static'):
            b = u % NB
            g = (u // NB) % groups
            i = u // (NB * groups)
            dst = base + u * K * JW
            nj = Og - b * JW
            if nj > JW:
                nj = JW
            r0 = src + (i * O + g * Og + b * JW) * K      # row j of the panel: r0 + j*K
            if nj == JW:
                for t in range(K):
                    for j in range(JW):
                        dst[j] = r0[j * K + t]
                    dst = dst + JW
            else:
                for t in range(K):
                    for j in range(nj):
                        dst[j] = r0[j * K + t]
                    for j in range(nj, JW):
                        dst[j] = 0
                    dst = dst + JW
