"""Winograd F(2x2, 3x3) for 3x3, stride-1, dilation-1, ungrouped 2-D correlations.

The kernel is in pyx/_winograd.pyx; this module transforms and packs the
weights (U = G g G^T, a small array) and sizes the tile blocks.
"""
import numpy as np

from . import _winograd_kernel

MR = 6                       # output channels per micro-kernel panel
# G of F(2, 3) (Lavin & Gray): U = G g G^T; entries 0, 1 and 1/2 (exact):
# G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
# Per-thread workspace target: V (16 x C x TB) and M (16 x Kp x TB), at most
# WORKSPACE_TOTAL over all threads (the bounded-memory rule of the engine).
WORKSPACE_BYTES = 2 << 20
WORKSPACE_TOTAL = 24 << 20
# method='auto' takes Winograd from this many input and output channels on
# (below, the transforms cost more than the multiplications they save).
MIN_CHANNELS = 16


def pack_weight(w, n_threads=1):
    """(K, C, 3, 3) weights -> (U packed as (16, Kp/6, C, 6), all finite?), Kp = K
    rounded up to 6.

    ``U[a*4+b, p, c, r] = (G w[p*6 + r, c] G^T)[a, b]``: the [C][6] panels the
    micro-kernel broadcasts from (zero rows pad K). Computed by the compiled
    kernel (numpy's strided 3-element slices had cost 18 ms for 256x256
    weights, as much as the convolution)."""
    K, C = w.shape[:2]
    u = np.empty((16, -(-K // MR), C, MR), w.dtype)
    return u, _winograd_kernel.pack3x3(w, u, n_threads)


def pays(C, K, out_hw):
    """Whether method='auto' takes Winograd for C input and K output channels."""
    return C >= MIN_CHANNELS and K >= MIN_CHANNELS and min(out_hw) >= 4


def tile_rows(C, K, itemsize, out_hw, N, n_threads):
    """Tile rows per block: the per-thread workspace (strip, V, M) near
    WORKSPACE_BYTES (WORKSPACE_TOTAL over all threads), and at least two
    blocks per thread when the batch allows."""
    L = 8 if itemsize == 4 else 4
    OH, OW = out_hw
    TY, TX = -(-OH // 2), -(-OW // 2)
    TXp = -(-TX // L) * L
    Kp = -(-K // MR) * MR
    budget = min(WORKSPACE_BYTES, WORKSPACE_TOTAL // max(1, n_threads))
    per_row = (16 * (C + Kp) * TXp + 2 * C * (2 * TXp + 2)) * itemsize
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


def correlate(x, w, out, bias, pad, n_threads):
    """out (N, K, 1, OH, OW) = correlation of x (N, C, 1, H, W) with w (K, C, 1, 3, 3).

    Returns False when the input is not finite (the caller runs the direct
    kernel instead: the transforms would turn one inf into NaNs around it)."""
    N, C, _, H, W = x.shape
    K = w.shape[0]
    OH, OW = out.shape[3:]
    u, finite = pack_weight(w[:, :, 0], n_threads)
    if not finite:
        return False
    R = tile_rows(C, K, x.itemsize, (OH, OW), N, n_threads)
    return _winograd_kernel.correlate3x3(x.reshape(N, C, H, W), u, out.reshape(N, K, OH, OW),
                                         bias, pad[1], pad[2], R, n_threads)
