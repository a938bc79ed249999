"""Winograd F(2x2, 3x3) and F(4x4, 3x3) for 3x3, stride-1, dilation-1,
ungrouped 2-D correlations.

The kernel is in pyx/_winograd_kernel.pyx; this module chooses the tile,
transforms and packs the weights (U = G g G^T, a small array) and sizes the
tile blocks.
"""
import numpy as np

from . import _scratch, _winograd_kernel

MR = 6                       # output channels per micro-kernel panel
# G of F(2, 3) (Lavin & Gray): U = G g G^T; entries 0, 1 and 1/2 (exact).
G2 = np.array([[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]])
# G of F(4, 3) on the points 0, 1, -1, 1/2, -2 (and infinity): in float32
# about 3x more accurate than the usual 0, +-1, +-2 on ResNet-like layers
# (max error 1.6e-6 against 5.3e-6 relative to the largest output, 64
# channels); its thirds and fifteenths are applied in float64 and the
# transformed weights rounded once. B^T and A^T are in the kernel.
G4 = np.array([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [-1 / 3, 1 / 3, -1 / 3],
               [-16 / 15, -8 / 15, -4 / 15], [1 / 15, -2 / 15, 4 / 15], [0, 0, 1]])
# Per-thread workspace target: V (16 x C x TB) and M (16 x Kp x TB), at most
# WORKSPACE_TOTAL over all threads (the bounded-memory rule of the engine).
WORKSPACE_BYTES = 2 << 20
WORKSPACE_TOTAL = 24 << 20
# method='auto' takes Winograd from this many input and output channels on
# (below, the transforms cost more than the multiplications they save).
MIN_CHANNELS = 16
# Largest packed transformed weights (U) per call: more output channels run
# in chunks (the input transform is repeated per chunk).
U_BYTES = 16 << 20
# method='winograd' takes F(4x4) in float32 when its padded GEMM work is below
# this share of F(2x2)'s (its transforms cost more per tile). Measured, one
# thread, F(4x4) / F(2x2) time against the estimated work ratio: 56x56 0.65
# (0.56), 28x28 0.71 (0.64), 14x14 with four-tile transforms 0.74 (0.56),
# 16x16 0.80 (0.56), 7x7 1.45 (1.13).
TILE4_GAIN = 0.77


def pack_weight(w, n_threads=1, m=2):
    """(K, C, 3, 3) weights -> (U packed as ((m+2)^2, Kp/6, C, 6), all finite?),
    Kp = K rounded up to 6, for F(m x m, 3x3).

    ``U[a*(m+2)+b, p, c, r] = (G w[p*6 + r, c] G^T)[a, b]``: the [C][6] panels
    the micro-kernel broadcasts from (zero rows pad K). Computed by the
    compiled kernel (numpy's strided 3-element slices had cost 18 ms for
    256x256 weights, as much as the convolution)."""
    K, C = w.shape[:2]
    G = G4 if m == 4 else G2
    u = _scratch.scratch("winograd_u", (len(G) ** 2, -(-K // MR), C, MR), w.dtype)
    return u, _winograd_kernel.pack3x3(w, G, u, n_threads)


def _jw(itemsize):
    """Columns (tiles) of the GEMM micro-kernel's block (CV_GEMM_JW_F32/F64 of
    pyx/_gemm_kernels.h, the same for every build)."""
    return 16 if itemsize == 4 else 8


def lanes(m, itemsize, OW):
    """Tiles per vector transform: two vectors' worth (8 float32, 4 float64),
    or for F(4x4) in float32 four (128-bit transforms) when that pads tile
    rows by a quarter or more (14 x 14: four tiles a row, half of an 8-tile
    group empty); the 4-tile transforms do half the work per instruction."""
    L = 8 if itemsize == 4 else 4
    TX = -(-OW // m)
    if m == 4 and itemsize == 4 and 4 * (-(-TX // 8) * 8) >= 5 * (-(-TX // 4) * 4):
        return 4
    return L


def _planes_work(m, out_hw, itemsize=4):
    """Transformed values one channel pair multiplies under F(m x m): planes
    times an image's tiles, each tile row padded to the transforms' lanes
    (:func:`lanes`) and the image's tiles to the GEMM's column blocks (16
    float32, 8 float64: a 7 x 7 map has 8 F(4x4) tiles in a block of 16)."""
    OH, OW = out_hw
    L = lanes(m, itemsize, OW)
    jw = _jw(itemsize)
    tiles = -(-OH // m) * (-(-(-(-OW // m)) // L) * L)
    return (m + 2) ** 2 * (-(-tiles // jw) * jw)


def tile(dtype, out_hw, method="winograd"):
    """The output tile m of F(m x m, 3x3) for `method` ('winograd' chooses).

    float32: F(4x4) when its GEMM work (:func:`_planes_work`) is below
    TILE4_GAIN of F(2x2)'s: 56x56 (0.56), 28x28 (0.64) and 14x14 maps (0.56,
    with four-tile transforms), not 7x7 (1.13: 8 tiles in a column block of
    16; measured 1.45x slower).
    float64 keeps F(2x2), whose coefficients are exact and whose error stays
    at float64 rounding (F(4x4)'s does not: see the engine guide)."""
    if method == "winograd2x2":
        return 2
    if method == "winograd4x4":
        return 4
    if dtype != np.float32:
        return 2
    return 4 if _planes_work(4, out_hw) < TILE4_GAIN * _planes_work(2, out_hw) else 2


def pays(C, K, out_hw):
    """Whether method='auto' takes Winograd for C input and K output channels."""
    return C >= MIN_CHANNELS and K >= MIN_CHANNELS and min(out_hw) >= 4


def blocking(C, K, itemsize, out_hw, N, n_threads, m=2):
    """(R, KG): tile rows per block and groups of output-channel panels.

    A unit of work is R tile rows of one image and one of KG groups of
    output-channel panels; its workspace (strip, V, and M for the group's
    channels) stays near WORKSPACE_BYTES (WORKSPACE_TOTAL over all threads).
    R shrinks until there are two units per thread, but not below a GEMM
    column block of tiles (16 float32, 8 float64: one 14 x 14 map's tile row
    under F(4x4) is 4 tiles, and blocks of one row had multiplied 16 columns
    for 4, so 16 threads ran res14 slower than 4, tools/thread_scaling.py);
    the output channels are then split (:func:`k_groups`)."""
    OH, OW = out_hw
    L = lanes(m, itemsize, OW)
    TY, TX = -(-OH // m), -(-OW // m)
    TXp = -(-TX // L) * L
    n_panels = -(-K // MR)
    budget = min(WORKSPACE_BYTES, WORKSPACE_TOTAL // max(1, n_threads))

    def fits(kg):          # tile rows whose workspace fits, kg groups
        km = -(-n_panels // kg) * MR
        per_row = ((m + 2) ** 2 * (C + km) * TXp + m * C * (m * TXp + 4)) * itemsize
        return max(1, min(TY, budget // per_row))

    def units(r, kg):
        return N * -(-TY // r) * kg

    R = fits(1)
    r_min = min(TY, -(-_jw(itemsize) // TXp))
    while R > r_min and units(R, 1) < 2 * n_threads:
        R = max(r_min, -(-R // 2))
    KG = k_groups(K, N, TY, R, n_threads)
    if R < r_min:          # a group's smaller M may leave room for a column block
        R = min(r_min, fits(KG))
        KG = k_groups(K, N, TY, R, n_threads)
    return -(-TY // -(-TY // R)), KG    # the same number of blocks, rows balanced


def k_groups(K, N, TY, R, n_threads):
    """Groups of output-channel panels: enough units of work for two per
    thread when images x tile blocks fall short, at least four panels (24
    channels) a group so each transformed input block is reused."""
    blocks = N * -(-TY // R)
    n_panels = -(-K // MR)
    if blocks >= 2 * n_threads or n_panels < 8:
        return 1
    kg = min(-(-2 * n_threads // blocks), n_panels // 4)
    return -(-n_panels // -(-n_panels // kg))     # no empty group


def applies(x_shape, w_shape, stride, dilation, groups, dtype):
    """Whether the 5-D problem is one this kernel computes (float 2-D 3x3, stride 1,
    dilation 1, one group)."""
    return (dtype in (np.float32, np.float64) and x_shape[2] == 1 and w_shape[2] == 1
            and w_shape[3] == 3 and w_shape[4] == 3 and groups == 1
            and tuple(stride[1:]) == (1, 1) and tuple(dilation[1:]) == (1, 1))


def correlate(x, w, out, bias, pad, n_threads, method="winograd"):
    """out (N, K, 1, OH, OW) = correlation of x (N, C, 1, H, W) with w (K, C, 1, 3, 3).

    Returns False when the input is not finite (the caller runs the direct
    kernel instead: the transforms would turn one inf into NaNs around it)."""
    N, C, _, H, W = x.shape
    K = w.shape[0]
    OH, OW = out.shape[3:]
    m = tile(x.dtype, (OH, OW), method)
    # output channels in chunks whose transformed weights fit U_BYTES (they
    # are (m+2)^2 / 9 times the weights: the memory bound of the engine)
    Kc = max(MR, U_BYTES // ((m + 2) ** 2 * C * x.itemsize) // MR * MR)
    out4 = out.reshape(N, K, OH, OW)
    x4 = x.reshape(N, C, H, W)
    for k0 in range(0, K, Kc):
        k1 = min(K, k0 + Kc)
        u, finite = pack_weight(w[k0:k1, :, 0], n_threads, m)
        if not finite:
            return False
        R, KG = blocking(C, k1 - k0, x.itemsize, (OH, OW), N, n_threads, m)
        L = lanes(m, x.itemsize, OW)
        work = _scratch.scratch("winograd_work", (_winograd_kernel.work_size(
            C, k1 - k0, OH, OW, R, m, x.itemsize, n_threads, L, KG),), x.dtype)
        if not _winograd_kernel.correlate3x3(x4, u, out4[:, k0:k1],
                                             None if bias is None else bias[k0:k1], work,
                                             pad[1], pad[2], R, n_threads, L, KG):
            return False
    return True
