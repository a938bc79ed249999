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
    jw = 16 if itemsize == 4 else 8
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


def tile_rows(C, K, itemsize, out_hw, N, n_threads, m=2):
    """Tile rows per block: the per-thread workspace (strip, V, M) near
    WORKSPACE_BYTES (WORKSPACE_TOTAL over all threads), and at least two
    blocks per thread when the batch allows."""
    OH, OW = out_hw
    L = lanes(m, itemsize, OW)
    TY, TX = -(-OH // m), -(-OW // m)
    TXp = -(-TX // L) * L
    Kp = -(-K // MR) * MR
    budget = min(WORKSPACE_BYTES, WORKSPACE_TOTAL // max(1, n_threads))
    per_row = ((m + 2) ** 2 * (C + Kp) * TXp + m * C * (m * TXp + 4)) * itemsize
    R = max(1, min(TY, budget // per_row))
    while R > 1 and N * -(-TY // R) < 2 * n_threads:
        R = -(-R // 2)
    return -(-TY // -(-TY // R))       # the same number of blocks, rows balanced


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
        R = tile_rows(C, k1 - k0, x.itemsize, (OH, OW), N, n_threads, m)
        L = lanes(m, x.itemsize, OW)
        work = _scratch.scratch("winograd_work", (_winograd_kernel.work_size(
            C, k1 - k0, OH, OW, R, m, x.itemsize, n_threads, L),), x.dtype)
        if not _winograd_kernel.correlate3x3(x4, u, out4[:, k0:k1],
                                             None if bias is None else bias[k0:k1], work,
                                             pad[1], pad[2], R, n_threads, L):
            return False
    return True
