"""Scratch arrays kept between calls, per Python thread.

The kernels' internal temporaries (a transposed copy of the output gradient,
the batch-lane transposes, zero-padded copies) are as large as the data. A
fresh large NumPy array is a fresh ``mmap`` whose pages the kernel then
faults in one by one, and on virtual machines a page fault costs several
microseconds: 1500 faults (6 MB) took 5 ms where the arithmetic takes 1 ms.
So each use site keeps its buffer (a named *slot*) for the next call of the
same thread, up to :data:`SCRATCH_MAX` bytes per slot.

Rules that keep it safe: a scratch array never leaves the library (results
returned to the caller are always fresh arrays or the caller's ``out=``);
each use site has its own slot name, and no slot is used again before its
previous array is dead (the holders do not call each other); each Python
thread has its own slots, so concurrent calls from several threads do not
share buffers.
"""
import math
import threading

import numpy as np

# Largest buffer kept per slot (larger temporaries are allocated per call)
SCRATCH_MAX = 64 << 20

_local = threading.local()


def scratch(slot, shape, dtype, zero=False):
    """An array of `shape` and `dtype` backed by the calling thread's buffer for
    `slot` (grown as needed); uninitialized unless `zero`."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > SCRATCH_MAX:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    buf = bufs.get(slot)
    if buf is None or buf.nbytes < nbytes:
        # 64-byte aligned (whole cache lines for the vector kernels)
        raw = np.empty(nbytes + 64, np.uint8)
        start = -raw.ctypes.data % 64
        buf = bufs[slot] = raw[start:start + nbytes]
    out = buf[:nbytes].view(dtype).reshape(shape)
    if zero:
        out.fill(0)
    return out


def clear():
    """Release the calling thread's scratch buffers."""
    _local.bufs = {}
