"""Method choice for convolution: predicted seconds of direct, FFT and overlap-add.

:func:`estimate_costs` returns the predicted time of each method from
operation counts times constants fitted on measurements
(``tools/fit_dispatch.py``); :func:`choose_method` takes the cheapest that
fits in memory. ``method='auto'`` of :func:`convolve.convolve` and
:func:`convolve.correlate` use it. The NN family (forward, input and weight
gradients) has its own model, :func:`nn_fft_pays` (constants from
``tools/fit_nn_dispatch.py``).

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
ACCURACY = {'cases': 72, 'fastest': 0.7638888888888888, 'within_20pct': 0.8888888888888888, 'direct_vs_fft': 0.9166666666666666, 'mean_slowdown': 1.0865510859303282, 'worst_slowdown': 2.3058236560674277}
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


# ------------------------------------------------------------------ NN family
# The NN family's forward (convolve.functional.conv*d) and its input and
# weight gradients choose between the direct engine (the Winograd, GEMM,
# batch-lane and direct kernels its own 'auto' picks) and the FFT path
# (convolve._fft.conv_fft, conv_fft_weight_grad). Each operation has its own
# shape arithmetic (nn_problem) and its own constants, fitted by
# tools/fit_nn_dispatch.py with one thread:
#
# - direct: c0 + c1 * macs + c2 * written + c3 * read + c4 * macs / reuse
#   + c5 * N * prod(k) + (c6 [d >= 2] + c7 [d == 3]) * macs, where ``macs`` are
#   the multiply-adds ``N * Cout * Cin/groups * prod(out) * prod(k)`` (for
#   the input gradient, those of the correlation over the whole input that
#   its direct path runs), ``written``/``read`` the elements of
#   the result and of the inputs (per-element overheads dominate thin
#   layers), ``reuse`` the output channels per group (the input gradient:
#   input channels; the forward's register tiles: at most 8) that share each
#   load of an input or lowered element (few of them starve the register
#   tiles and the GEMM), the fifth the weight gradient's tap-by-tap
#   lowering, the last the extra cost per multiply-add of 2-D and 3-D
#   problems (shorter rows, more loop levels; measured: 3-D weight gradients
#   run at a third of the 1-D rate); so the rate depends on the shape;
# - fft: c0 + c1 * planes * P log2 P + c2 * N * Cout * Cin/groups * F
#   + c3 * planes * P + c4 * groups * F, with ``planes`` the transforms
#   (N*Cin inputs, Cout*Cin/groups kernels, N*Cout inverses, each way round
#   for the gradients), ``P`` the padded transform size, ``F`` its half
#   spectrum, the third term the per-frequency complex channel contraction.
#
# FFT is chosen only when its predicted time times NN_FFT_MARGIN is below
# the direct engine's, the kernel has at least NN_FFT_MIN_TAPS taps (every
# 1x1 ... 7x7 CNN layer stays direct whatever the model says), and its
# spectra fit in NN_FFT_MEMORY_MAX bytes. The decision uses one-thread
# predictions: it does not depend on `workers`, so neither do the results.
# BEGIN NN FITTED CONSTANTS
# Fitted by tools/fit_nn_dispatch.py (one thread, development machine);
# keys: operation, method, dtype; values: the c0, c1, ... above, in seconds.
NN_COEFFS = {
    "forward": {
        "direct": {
            "f4": (0.000101, 2.81e-11, 1.04e-10, 2.4e-09, 9.17e-12, 1.79e-08, 0.0, 3.09e-12),
            "f8": (0.000133, 4.34e-11, 0.0, 2.15e-09, 4.14e-11, 0.0, 3.83e-12, 6.69e-12),
        },
        "fft": {
            "f4": (0.000219, 3.27e-10, 6.1e-10, 3.07e-09, 0.0),
            "f8": (0.000251, 6.07e-10, 2.36e-09, 7.61e-10, 1.17e-08),
        },
    },
    "input_grad": {
        "direct": {
            "f4": (0.000224, 2.78e-11, 0.0, 2.29e-10, 1.58e-11, 9.54e-08, 5.81e-13, 2.45e-11),
            "f8": (0.000108, 4.38e-11, 1.52e-09, 2.05e-09, 4.16e-11, 4.31e-07, 0.0, 2.09e-11),
        },
        "fft": {
            "f4": (0.000311, 1.05e-10, 4.4e-09, 3.76e-09, 1.27e-08),
            "f8": (0.00021, 5.23e-10, 1.03e-09, 5e-09, 0.0),
        },
    },
    "weight_grad": {
        "direct": {
            "f4": (7.51e-05, 1.81e-11, 2.61e-09, 2.53e-10, 8.02e-11, 0.0, 6.81e-12, 0.0),
            "f8": (9.66e-05, 3.56e-11, 2.07e-09, 2.28e-09, 5.89e-11, 8.43e-08, 7.63e-12, 4.31e-12),
        },
        "fft": {
            "f4": (0.000207, 4.23e-10, 7.8e-10, 1.15e-09, 2.93e-09),
            "f8": (0.000207, 7.86e-10, 3.04e-10, 0.0, 0.0),
        },
    },
}
# Held-out accuracy (tools/fit_nn_dispatch.py): see docs/guide/methods.rst.
NN_ACCURACY = {'forward': {'cases': 64, 'faster': 0.953125, 'mean_slowdown': 1.0228334298915163, 'worst_slowdown': 1.9645732135623764, 'picks_fft': 10, 'fft_faster': 13}, 'input_grad': {'cases': 71, 'faster': 0.9154929577464789, 'mean_slowdown': 1.0263316335844677, 'worst_slowdown': 1.5566988463972076, 'picks_fft': 3, 'fft_faster': 5}, 'weight_grad': {'cases': 65, 'faster': 0.7384615384615385, 'mean_slowdown': 1.4137084199248455, 'worst_slowdown': 6.803731250758484, 'picks_fft': 13, 'fft_faster': 26}, 'all': {'cases': 200, 'faster': 0.87, 'mean_slowdown': 1.1511096639633462, 'worst_slowdown': 6.803731250758484, 'picks_fft': 26, 'fft_faster': 44}, 'large': {'cases': 168, 'faster': 0.8452380952380952, 'mean_slowdown': 1.1798924570992215, 'worst_slowdown': 6.803731250758484, 'picks_fft': 26, 'fft_faster': 44}}
# END NN FITTED CONSTANTS

NN_FFT_MARGIN = 1.25
NN_FFT_MIN_TAPS = 50
NN_FFT_MEMORY_MAX = 1 << 30
NN_OPS = ("forward", "input_grad", "weight_grad")


def nn_problem(op, x_shape, w_shape, out_sp, stride, dilation, groups, padded_sp=None):
    """Operation counts of one NN-family convolution, for `op` in
    ``('forward', 'input_grad', 'weight_grad')``.

    Parameters
    ----------
    x_shape : tuple
        ``(N, Cin, *spatial)`` of the forward's (unpadded) input.
    w_shape : tuple
        ``(Cout, Cin/groups, *k)``.
    out_sp : tuple
        The forward's output extent.
    stride, dilation : tuple
    groups : int
    padded_sp : tuple, optional
        The padded input extent (default: `x_shape`'s).

    Returns
    -------
    dict
        ``M`` (transform sizes), ``planes``, ``contraction``, ``macs``,
        ``written``, ``read``.
    """
    N, C = x_shape[:2]
    O, Cg = w_shape[:2]
    kernel, sp = tuple(w_shape[2:]), tuple(x_shape[2:])
    Lp = tuple(padded_sp) if padded_sp is not None else sp
    taps, out_n = math.prod(kernel), math.prod(out_sp)
    macs = N * O * Cg * out_n * taps
    planes = N * C + O * Cg + N * O
    # output channels sharing each load of an input (forward: tiles of up to 8)
    # or lowered (weight gradient: the GEMM's rows) element
    reuse = min(O // groups, 8)
    tap_passes = N * taps      # the weight gradient lowers tap by tap, image block by block
    if op == "forward":
        M = [_fft.fast_len(n) for n in Lp]
        written, read = N * O * out_n, N * C * math.prod(Lp)
    elif op == "input_grad":
        # the stride-stuffed output gradient, padded by the dilated kernel extent
        M = [_fft.fast_len((o - 1) * s + 1 + 2 * dl * (k - 1))
             for o, s, dl, k in zip(out_sp, stride, dilation, kernel)]
        written, read = N * C * math.prod(sp), N * O * out_n
        # what the direct engine runs: a correlation over the whole (stride 1:
        # unpadded, else padded, split in phases) input, zero taps included
        L = sp if all(s == 1 for s in stride) else Lp
        macs = N * C * (O // groups) * math.prod(n * k / s for n, k, s in zip(L, kernel, stride))
        reuse = min(Cg, 8)
    elif op == "weight_grad":
        M = [_fft.fast_len(n) for n in Lp]
        written, read = O * Cg * taps, N * C * math.prod(Lp) + N * O * out_n
        reuse = O // groups
    else:
        raise ValueError(f"op must be one of {NN_OPS}, got {op!r}")
    F = math.prod(M[:-1]) * (M[-1] // 2 + 1)
    return {"M": M, "P": math.prod(M), "F": F, "planes": planes, "reuse": reuse,
            "tap_passes": tap_passes, "d": len(kernel),
            "contraction": N * O * Cg * F, "groups_F": groups * F, "macs": macs,
            "written": written, "read": read}


def nn_features(method, prob):
    """The operation counts each NN model multiplies by its constants."""
    if method == "direct":
        return [1.0, float(prob["macs"]), float(prob["written"]), float(prob["read"]),
                float(prob["macs"]) / prob["reuse"], float(prob["tap_passes"]),
                float(prob["macs"]) * (prob["d"] >= 2), float(prob["macs"]) * (prob["d"] == 3)]
    P = prob["P"]
    return [1.0, float(prob["planes"]) * P * max(1.0, math.log2(P)),
            float(prob["contraction"]), float(prob["planes"]) * P, float(prob["groups_F"])]


def nn_costs(op, x_shape, w_shape, out_sp, stride, dilation, groups, dtype,
            padded_sp=None):
    """Predicted one-thread seconds ``{'direct': s, 'fft': s}`` of an NN-family
    convolution (arguments as :func:`nn_problem`)."""
    prob = nn_problem(op, x_shape, w_shape, out_sp, stride, dilation, groups, padded_sp)
    key = dtype_key(dtype)
    return {m: sum(c * f for c, f in zip(NN_COEFFS[op][m][key], nn_features(m, prob)))
            for m in ("direct", "fft")}


def nn_fft_workspace(op, x_shape, w_shape, out_sp, stride, dilation, groups, dtype,
            padded_sp=None):
    """Bytes of the FFT path's spectra: inputs, kernels and outputs."""
    prob = nn_problem(op, x_shape, w_shape, out_sp, stride, dilation, groups, padded_sp)
    return prob["planes"] * prob["F"] * 2 * np.dtype(dtype).itemsize


def nn_fft_pays(op, x_shape, w_shape, out_sp, stride, dilation, groups, dtype,
            padded_sp=None):
    """Whether ``method='auto'`` takes the FFT path for this NN-family
    convolution: a kernel of at least NN_FFT_MIN_TAPS taps, spectra within
    NN_FFT_MEMORY_MAX bytes, and a predicted FFT time NN_FFT_MARGIN times
    below the direct engine's (one thread; arguments as :func:`nn_problem`)."""
    if NN_COEFFS is None or math.prod(w_shape[2:]) < NN_FFT_MIN_TAPS:
        return False
    if math.prod(x_shape) == 0 or math.prod(w_shape) == 0 or math.prod(out_sp) == 0:
        return False
    if nn_fft_workspace(op, x_shape, w_shape, out_sp, stride, dilation, groups, dtype,
                        padded_sp) > NN_FFT_MEMORY_MAX:
        return False
    c = nn_costs(op, x_shape, w_shape, out_sp, stride, dilation, groups, dtype, padded_sp)
    return c["fft"] * NN_FFT_MARGIN < c["direct"]
