"""The one entry into the direct kernel: picks its loop order and threads.

Callers hand over 5-D C-contiguous blocks ``x (N, C, D, H, W)``,
``w (O, C/groups, KD, KH, KW)`` and the output ``(N, O, OD, OH, OW)``.
"""
import numpy as np

from . import _direct
from ._threads import resolve_workers

# Per-thread workspace the PLANE loop order may use: the flattened output
# plane accumulator and the padded input plane should stay in L2.
PLANE_BYTES_MAX = 384 * 1024
TW = 64
ROWS, PLANE = 0, 1   # loop orders of pyx/_direct.pyx


def plane_workspace(band_rows, out_w, k_hw, dilation_hw):
    """Per-thread elements the PLANE loop order needs for bands of `band_rows` rows
    (mirrors the allocation in pyx/_direct.pyx::_plane)."""
    (KH, KW), (dh, dw) = k_hw, dilation_hw
    Wp = out_w + (KW - 1) * dw
    nq_pad = -(-band_rows * Wp // TW) * TW
    max_off = (KH - 1) * dh * Wp + (KW - 1) * dw
    return nq_pad + max(nq_pad + max_off + 1, (band_rows + (KH - 1) * dh) * Wp)


def choose_path(out_shape, w_shape, stride, dilation, itemsize, n_threads):
    """(loop order, band rows): PLANE with the tallest band whose workspace fits
    in L2 for stride-1 rows; ROWS for strided rows or rows too wide for a band."""
    OH, OW = out_shape[3:]
    if stride[1] != 1 or stride[2] != 1 or OW < 2:
        return ROWS, 0
    budget = PLANE_BYTES_MAX // itemsize
    if plane_workspace(OH, OW, w_shape[3:], dilation[1:]) <= budget:
        bh = OH
    else:
        lo, hi = 0, OH          # largest band that fits (workspace grows with rows)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if plane_workspace(mid, OW, w_shape[3:], dilation[1:]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        bh = lo
        if bh < 4:
            return ROWS, 0
    # enough units to share among threads
    units = out_shape[0] * out_shape[1] * out_shape[2]
    while units * -(-OH // bh) < 2 * n_threads and bh > 8:
        bh = -(-bh // 2)
    return PLANE, bh


def correlate5(x, w, out, bias, stride, dilation, pad, groups, workers):
    """out[...] = direct correlation of the 5-D blocks (see pyx/_direct.pyx)."""
    macs = out.size * w.shape[1] * w.shape[2] * w.shape[3] * w.shape[4]
    n_threads = resolve_workers(workers, macs)
    path, band = choose_path(out.shape, w.shape, stride, dilation, x.itemsize, n_threads)
    _direct.correlate(x, w, out, bias, tuple(stride), tuple(dilation), tuple(pad),
                      groups, n_threads, path, band)
    return out
