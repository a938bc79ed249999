"""Method choice for convolution: predicted seconds of direct, FFT and overlap-add.

:func:`estimate_costs` returns the predicted time of each method from
operation counts times constants fitted on measurements
(``tools/fit_dispatch.py``); :func:`choose_method` takes the cheapest that
fits in memory. ``method='auto'`` of :func:`convolve.convolve` and
:func:`convolve.correlate` use it; the NN family can call it with its own
batch and channel counts.

Models (``B``: batch entries computed, ``taps``: kernel elements, ``N``:
padded transform size, ``T`` tiles of ``S`` elements for overlap-add):

- direct: ``c0 + c1 * B * rows * ceil(n_last / 64) * 64 * taps``, the
  multiply-adds the direct kernel really runs (tiles of 64 outputs along the
  last axis);
- fft: ``c0 + c1 * (2 B + B_kernel) * N log2 N + c2 * B * N``;
- oa: ``c0 + c1 * (2 B T S log2 S + S log2 S) + c2 * B * T * S``;

each divided by the parallel speedup ``1 / ((1 - p) + p / threads)``.
"""
import math

import numpy as np

from . import _fft
from ._threads import resolve_workers, usable_cpus

__all__ = ["estimate_costs", "choose_method"]

# Fitted by tools/fit_dispatch.py on the development machine (AMD EPYC,
# 2 cores shared with other jobs), one thread, every dtype: non-negative least
# squares of relative errors over 1-D, 2-D and 3-D shapes and kernels.
# Keys: compute dtype; values: the c0, c1(, c2) above, in seconds.
# BEGIN FITTED CONSTANTS
COEFFS = {
    "direct": {
        "f4": (7.75e-05, 3.69e-11),
        "f8": (9.91e-05, 8.18e-11),
        "c8": (9.66e-05, 2.62e-10),
        "c16": (0.000121, 4.35e-10),
    },
    "fft": {
        "f4": (0.00016, 2.42e-10, 0.0),
        "f8": (0.000188, 4.86e-10, 0.0),
        "c8": (0.000151, 6.04e-10, 1.73e-09),
        "c16": (0.000172, 9.16e-10, 4.55e-10),
    },
    "oa": {
        "f4": (0.000207, 1.51e-10, 4.73e-09),
        "f8": (0.00025, 3.59e-10, 5.06e-09),
        "c8": (0.000265, 0.0, 2.64e-08),
        "c16": (0.000258, 0.0, 3.43e-08),
    },
}
# Held-out accuracy (tools/fit_dispatch.py --check): see docs/guide/methods.rst.
ACCURACY = {'cases': 72, 'fastest': 0.7638888888888888, 'within_20pct': 0.9027777777777778, 'direct_vs_fft': 0.9027777777777778, 'mean_slowdown': 1.074654523369677, 'worst_slowdown': 2.2131754551723963}
# END FITTED CONSTANTS

# Parallel fraction per method (Amdahl): the direct kernel splits its outputs;
# pocketfft threads multi-axis transforms but its copies and the per-call
# overhead stay serial; overlap-add tiles split over a pool.
PARALLEL = {"direct": 0.95, "fft": 0.7, "oa": 0.9}

# Largest workspace (bytes) the single-block FFT may take before 'auto' avoids
# it (overlap-add keeps a few tiles instead).
FFT_MEMORY_MAX = 2 << 30


def dtype_key(dtype):
    dt = np.dtype(dtype)
    if dt.kind == "c":
        return "c8" if dt.itemsize <= 8 else "c16"
    if dt.kind == "f" and dt.itemsize <= 4:
        return "f4"
    return "f8"


def features(method, sa, sb, start, length, batch=1, kernel_batch=1, cplx=False, itemsize=16,
             threads=1):
    """The operation counts each model multiplies by its constants (None: not applicable)."""
    if method == "direct":
        rows = math.prod(length[:-1])
        last = -(-length[-1] // 64) * 64
        return [1.0, float(batch) * rows * last * math.prod(sb)]
    if method == "fft":
        M = _fft.window_sizes(sa, sb, start, length, cplx)
        N = math.prod(M)
        nlog = N * max(1.0, math.log2(N))
        return [1.0, (2.0 * batch + kernel_batch) * nlog, float(batch) * N]
    if kernel_batch > 1:
        return None
    M0, L, T, M_rest = _fft.oa_plan(sa, sb, start, length, cplx, itemsize=itemsize,
                                    threads=threads)
    S = M0 * math.prod(M_rest)
    slog = S * max(1.0, math.log2(S))
    return [1.0, 2.0 * batch * T * slog + slog, float(batch) * T * S]


def estimate_costs(sa, sb, length=None, dtype=np.float64, threads=None, *, start=None,
                   batch=1, kernel_batch=1):
    """Predicted seconds of each method for one convolution.

    Parameters
    ----------
    sa, sb : tuple of int
        Spatial shapes of the data and of the kernel.
    length, start : list of int, optional
        The output window of the full convolution (default: all of it).
    dtype : dtype
        The compute dtype (float32, float64, complex64, complex128).
    threads : int, optional
        Threads (``workers`` convention; None: the default).
    batch, kernel_batch : int
        Independent signals computed, and distinct kernels among them.

    Returns
    -------
    dict
        ``{'direct': s, 'fft': s, 'oa': s}`` (``inf`` where a method does not
        apply).
    """
    sa, sb = tuple(sa), tuple(sb)
    if length is None:
        length = [i + j - 1 for i, j in zip(sa, sb)]
    if start is None:
        start = [0] * len(sa)
    n = resolve_workers(threads)
    key = dtype_key(dtype)
    cplx = key[0] == "c"
    out = {}
    for m in ("direct", "fft", "oa"):
        f = features(m, sa, sb, start, length, batch, kernel_batch, cplx,
                     8 if key in ("f4", "c8") else 16, usable_cpus())
        if f is None:
            out[m] = math.inf
            continue
        t = sum(c * x for c, x in zip(COEFFS[m][key], f))
        p = PARALLEL[m]
        out[m] = t * ((1 - p) + p / n)
    return out


def fft_workspace(sa, sb, start, length, dtype, batch=1):
    """Bytes the single-block FFT holds: input and kernel spectra."""
    M = _fft.window_sizes(sa, sb, start, length, np.dtype(dtype).kind == "c")
    isz = np.dtype(dtype).itemsize * (1 if np.dtype(dtype).kind == "c" else 2)
    return 2 * (batch + 1) * math.prod(M[:-1]) * (M[-1] // 2 + 1) * isz


def choose_method(sa, sb, start, length, dtype, threads=None, batch=1, kernel_batch=1):
    """'direct', 'fft' or 'oa': the cheapest predicted method whose memory fits."""
    costs = estimate_costs(sa, sb, length, dtype, threads, start=start, batch=batch,
                           kernel_batch=kernel_batch)
    if fft_workspace(sa, sb, start, length, dtype, batch) > FFT_MEMORY_MAX:
        costs["fft"] = math.inf
    return min(costs, key=costs.get)
