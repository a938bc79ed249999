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


def plane_workspace(out_hw, k_hw, dilation_hw):
    (OH, OW), (KH, KW), (dh, dw) = out_hw, k_hw, dilation_hw
    Wp = OW + (KW - 1) * dw
    Hp = OH + (KH - 1) * dh
    nq_pad = -(-OH * Wp // TW) * TW
    max_off = (KH - 1) * dh * Wp + (KW - 1) * dw
    return nq_pad + max(nq_pad + max_off + 1, Hp * Wp)


def choose_path(out_shape, w_shape, stride, dilation, itemsize):
    """PLANE for stride-1 rows and planes that fit in L2, ROWS otherwise."""
    if stride[1] == 1 and stride[2] == 1:
        ws = plane_workspace(out_shape[3:], w_shape[3:], dilation[1:])
        if ws * itemsize <= PLANE_BYTES_MAX and out_shape[3] > 1:
            return PLANE
    return ROWS


def correlate5(x, w, out, bias, stride, dilation, pad, groups, workers):
    """out[...] = direct correlation of the 5-D blocks (see pyx/_direct.pyx)."""
    macs = out.size * w.shape[1] * w.shape[2] * w.shape[3] * w.shape[4]
    n_threads = resolve_workers(workers, macs)
    path = choose_path(out.shape, w.shape, stride, dilation, x.itemsize)
    _direct.correlate(x, w, out, bias, tuple(stride), tuple(dilation), tuple(pad),
                      groups, n_threads, path)
    return out
