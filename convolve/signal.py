"""SciPy-compatible signal family: ``convolve``, ``correlate``, ``convolve2d``, ...

Same signatures, modes, output dtypes, 'same'-mode centring and error types
as :mod:`scipy.signal`, so ``from convolve import signal`` can replace
``from scipy import signal`` for these names. Beyond SciPy: ``workers=``
(threads), ``axes=`` with broadcast batch axes on every function,
``boundary=`` modes for any number of dimensions, and ``out=``.

The direct method runs in the library's compiled kernel (``pyx/_direct.pyx``).
The FFT method and overlap-add (``convolve/_fft.py``) take their transforms
from :mod:`scipy.fft` (pocketfft, single precision for float32) and do the
rest compiled (``pyx/_spectral.pyx``). ``method='auto'`` follows the cost
model of ``convolve/_dispatch.py``, fitted on measurements.
"""
import math
import numbers
import operator
import time

import numpy as np

from . import _engine
from . import _dispatch
from . import _fft as _fftmod
from ._threads import resolve_workers, usable_cpus
from ._validate import check_out

__all__ = ["convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve",
           "oaconvolve", "choose_conv_method"]

_MODES = ("full", "same", "valid")
# boundary name -> numpy.pad mode
_BOUNDARY = {
    "fill": "constant", "pad": "constant", "constant": "constant",
    "wrap": "wrap", "circular": "wrap",
    "symm": "symmetric", "symmetric": "symmetric",
    "reflect": "reflect", "mirror": "reflect",
    "nearest": "edge", "edge": "edge", "replicate": "edge",
}
_BOUNDARY_2D = ("fill", "pad", "wrap", "circular", "symm", "symmetric")


# ----------------------------------------------------------------- helpers
def _dtypes(in1, in2):
    """(result dtype as SciPy, dtype the kernel computes in)."""
    rt = np.result_type(in1, in2)
    if rt.kind in "biu":
        # exact: integers run in uint64 (wrap-around is defined there), whose
        # low bits equal exact integer arithmetic; cast back to the result dtype
        return rt, np.dtype(np.uint64)
    if rt.kind == "f" and rt.itemsize <= 8:
        return rt, np.dtype(np.float32 if rt.itemsize <= 4 else np.float64)
    if rt.kind == "c" and rt.itemsize <= 16:
        return rt, rt
    raise TypeError(f"dtype {rt} is not supported: use integer, float32/float64 or "
                    f"complex64/complex128 arrays")


def _exact_in_float64(a, b):
    """True when integer convolution of `a` and `b` is exact in float64: every
    partial sum is bounded by max|a| * sum|b| < 2**53, so no rounding ever
    happens (vectorized float kernels then give the exact integers)."""
    if a.dtype == np.uint64 or b.dtype == np.uint64:
        return False   # values up to 2**64 do not fit a float64 mantissa
    amax = int(np.abs(a.astype(np.int64, copy=False)).max(initial=0)) if a.size else 0
    bsum = int(np.abs(b.astype(np.int64, copy=False)).sum(dtype=np.float64)) if b.size else 0
    bmax = int(np.abs(b.astype(np.int64, copy=False)).max(initial=0)) if b.size else 0
    asum = int(np.abs(a.astype(np.int64, copy=False)).sum(dtype=np.float64)) if a.size else 0
    return min(amax * bsum, bmax * asum) < 2**52


def _as_compute(a, cdt):
    if cdt == np.uint64:
        return a.astype(np.int64, copy=False).view(np.uint64) if a.dtype != np.uint64 else a
    return a.astype(cdt, copy=False)


def _check_mode(mode):
    if mode not in _MODES:
        raise ValueError("Acceptable mode flags are 'valid', 'same', or 'full'.")


def _norm_axes(axes, ndim):
    if axes is None:
        return list(range(ndim))
    if isinstance(axes, (numbers.Integral, np.integer)):
        axes = [axes]
    out = []
    axes = list(axes)
    if not axes:
        raise ValueError("when provided, axes cannot be empty")
    for ax in axes:
        try:
            ax = operator.index(ax)
        except TypeError:
            raise ValueError(f"axes must be integers, got {ax!r}") from None
        if not -ndim <= ax < ndim:
            raise ValueError(f"axes: axis {ax} is out of bounds for {ndim} dimensions")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axes must be unique, got {axes!r}")
    return out


def _check_boundary(boundary, allowed=None):
    if boundary not in _BOUNDARY or (allowed is not None and boundary not in allowed):
        names = allowed or tuple(_BOUNDARY)
        raise ValueError(f"boundary must be one of {names}, got {boundary!r}")
    return _BOUNDARY[boundary]


# ----------------------------------------------------------------- engine
def _corr_window(x, w, pad, out_sp, batch, workers):
    """Correlate `x` (batch + spatial) with `w` (batch + kernel), implicit zero
    padding `pad` (lo per spatial axis, may be negative), output extent `out_sp`.

    `batch` = (B, a_varies, w_varies): the broadcast batch shape and whether
    each operand varies along it. Any number of spatial axes: more than 3 are
    reduced to 3 by looping over the leading axis' taps.
    """
    k = len(out_sp)
    B, x_var, w_var = batch
    if k > 3:
        # out[j] = sum_t corr_rest(x[j + t - pad0], w[t]): one kernel call per tap
        nb = len(B)
        res = np.zeros(B + tuple(out_sp), dtype=x.dtype)
        n0, K0 = x.shape[nb], w.shape[nb]
        for j in range(out_sp[0]):
            for t in range(K0):
                i = j + t - pad[0]
                if 0 <= i < n0:
                    res[(Ellipsis, j) + (slice(None),) * (k - 1)] += _corr_window(
                        x[(slice(None),) * nb + (i,)], w[(slice(None),) * nb + (t,)],
                        pad[1:], out_sp[1:], batch, workers)
        return res
    P = math.prod(B)
    sp, ks = x.shape[len(B):], w.shape[len(B):]
    lift = (1,) * (3 - k)
    if not w_var:
        x5 = np.broadcast_to(x, B + sp).reshape((P, 1) + lift + sp)
        w5 = w.reshape((1, 1) + lift + ks)
        groups, shape5 = 1, (P, 1)
    elif not x_var:
        x5 = x.reshape((1, 1) + lift + sp)
        w5 = np.broadcast_to(w, B + ks).reshape((P, 1) + lift + ks)
        groups, shape5 = 1, (1, P)
    else:
        x5 = np.broadcast_to(x, B + sp).reshape((1, P) + lift + sp)
        w5 = np.broadcast_to(w, B + ks).reshape((P, 1) + lift + ks)
        groups, shape5 = P, (1, P)
    x5 = np.ascontiguousarray(x5)
    w5 = np.ascontiguousarray(w5)
    out = np.empty(shape5 + lift + tuple(out_sp), dtype=x.dtype)
    if out.size:
        _engine.correlate5(x5, w5, out, None, (1, 1, 1), (1, 1, 1),
                           (0,) * (3 - k) + tuple(pad), groups, workers)
    return out.reshape(B + tuple(out_sp))


def _empty_result(in1, in2, mode, axes, rdt):
    """Zeros (empty sums) of the shape the mode gives, when an input is empty:
    'same' has in1's shape; 'valid' keeps the size rule; 'full' has extent
    n1 + n2 - 1, or 0 along an axis where an input is empty."""
    s1 = [in1.shape[i] for i in axes]
    s2 = [in2.shape[i] for i in axes]
    if mode == "same":
        ext = s1
    elif mode == "valid":
        if not (all(i >= j for i, j in zip(s1, s2)) or all(j >= i for i, j in zip(s1, s2))):
            raise ValueError("For 'valid' mode, one must be at least as large as the "
                             "other in every dimension")
        ext = [abs(i - j) + 1 for i, j in zip(s1, s2)]
    else:
        ext = [0 if 0 in (i, j) else i + j - 1 for i, j in zip(s1, s2)]
    batch = [np.broadcast_shapes((in1.shape[i],), (in2.shape[i],))[0]
             if i not in axes else None for i in range(in1.ndim)]
    shape = list(batch)
    for ax, e in zip(axes, ext):
        shape[ax] = e
    return np.zeros(shape, dtype=rdt)


def _direct_cost(sa, sb):
    """Multiply-adds of the full convolution with `sa` as data and `sb` as taps,
    counting the padded row length the direct kernel runs over."""
    full = [i + j - 1 for i, j in zip(sa, sb)]
    return math.prod(full[:-1]) * (full[-1] + sb[-1] - 1) * math.prod(sb)


def _convolve_nd(in1, in2, mode, axes, boundary, fillvalue, workers, method,
                 correlate=False, same_start=lambda k: (k - 1) // 2, fft_dtypes=False):
    """True convolution (or correlation) along `axes`, with SciPy's semantics.

    ``fft_dtypes``: the dtypes of scipy.signal.fftconvolve (integers give
    unrounded floats; empty inputs give ``array([])``) instead of convolve's.
    """
    in1, in2 = np.asarray(in1), np.asarray(in2)
    _check_mode(mode)
    # 'fft1' (one block) and 'oa' (tiles): the two FFT algorithms, forced (private);
    # 'fft' lets the cost model pick between them
    if method not in ("auto", "direct", "fft", "fft1", "oa"):
        raise ValueError("Acceptable method flags are 'auto', 'direct', or 'fft'.")
    pad_mode = _check_boundary(boundary)
    if in1.ndim == in2.ndim == 0:
        return in1 * (in2.conj() if correlate else in2)
    if in1.ndim != in2.ndim:
        raise ValueError("in1 and in2 should have the same dimensionality")
    rdt, cdt = _dtypes(in1, in2)
    axes = _norm_axes(axes, in1.ndim)
    if in1.size == 0 or in2.size == 0:
        return np.array([]) if fft_dtypes else _empty_result(in1, in2, mode, axes, rdt)
    if correlate:
        in2 = in2[tuple(slice(None, None, -1) if i in axes else slice(None)
                        for i in range(in2.ndim))].conj()
    nb = in1.ndim - len(axes)
    a = np.moveaxis(in1, axes, range(nb, in1.ndim))
    b = np.moveaxis(in2, axes, range(nb, in2.ndim))
    try:
        B = np.broadcast_shapes(a.shape[:nb], b.shape[:nb])
    except ValueError:
        raise ValueError(f"in1 and in2 must have equal or size-1 extents along the axes "
                         f"not convolved; got shapes {in1.shape} and {in2.shape} "
                         f"with axes={axes}") from None
    sa, sb = a.shape[nb:], b.shape[nb:]
    fill_zero = pad_mode == "constant" and fillvalue == 0

    if mode == "valid":
        if all(i >= j for i, j in zip(sa, sb)):
            pass
        elif all(j >= i for i, j in zip(sa, sb)):
            a, b, sa, sb = b, a, sb, sa
        else:
            raise ValueError("For 'valid' mode, one must be at least as large as the "
                             "other in every dimension")
        start, length = [j - 1 for j in sb], [i - j + 1 for i, j in zip(sa, sb)]
    elif mode == "full":
        # convolution commutes: take as taps the operand that costs less work
        # (rows x padded row length x taps, as the direct kernel computes it)
        if fill_zero and _direct_cost(sb, sa) < _direct_cost(sa, sb):
            a, b, sa, sb = b, a, sb, sa
        start, length = [0] * len(sa), [i + j - 1 for i, j in zip(sa, sb)]
    else:
        start, length = [same_start(j) for j in sb], list(sa)

    # An axis along which one operand has extent 1 convolves nothing: the output
    # there is that operand times the other's window. Such axes become batch
    # axes (thin shapes like (1000, 1) * (1, 1000) are an outer product, not a
    # 1000 x 1000 FFT or a 1000-tap loop per output). With a non-zero boundary
    # only kernel axes of extent 1 qualify (in1 is extended along the others).
    deg = [i for i in range(len(sa)) if sb[i] == 1 or (sa[i] == 1 and fill_zero)]
    if deg:
        sl_a, sl_b = [slice(None)] * a.ndim, [slice(None)] * b.ndim
        for i in deg:
            if sb[i] == 1:
                sl_a[nb + i] = slice(start[i], start[i] + length[i])
            else:
                sl_b[nb + i] = slice(start[i], start[i] + length[i])
        keep = [i for i in range(len(sa)) if i not in deg]
        perm = list(range(nb)) + [nb + i for i in deg] + [nb + i for i in keep]
        a2, b2 = a[tuple(sl_a)].transpose(perm), b[tuple(sl_b)].transpose(perm)
        if keep:
            nb2 = nb + len(deg)
            res = _convolve_nd(a2, b2, mode, list(range(nb2, a2.ndim)), boundary, fillvalue,
                               workers, method, same_start=same_start, fft_dtypes=fft_dtypes)
        else:
            res = np.multiply(a2, b2)
            if not fft_dtypes:
                res = res.astype(rdt, copy=False)
        res = res.transpose(np.argsort(perm))
        return np.moveaxis(res, range(nb, in1.ndim), axes)

    if method == "auto":
        method = _choose(rdt, a, b, nb, start, length)
    if method in ("fft", "fft1", "oa"):
        res = _fft_window(a, b, nb, start, length, pad_mode, fillvalue, workers,
                          overlap_add={"fft": None, "fft1": False, "oa": True}[method],
                          round_ints=not fft_dtypes)
        if fft_dtypes:
            return np.moveaxis(res, range(nb, in1.ndim), axes)
    else:
        # out[j] = sum_t a[j - t] b[t] = sum_u a[j - (K-1) + u] flip(b)[u]
        pad = [j - 1 - s for j, s in zip(sb, start)]
        if not fill_zero:
            lo = [max(0, p) for p in pad]
            hi = [max(0, s + n - 1 - (i - 1)) for s, n, i in zip(start, length, sa)]
            kw = {"constant_values": fillvalue} if pad_mode == "constant" else {}
            a = np.pad(a, [(0, 0)] * nb + list(zip(lo, hi)), mode=pad_mode, **kw)
            pad = [p - q for p, q in zip(pad, lo)]
        if cdt == np.uint64 and _exact_in_float64(a, b):
            cdt = np.dtype(np.float64)
        x = _as_compute(a, cdt)
        w = _as_compute(b[(Ellipsis,) + (slice(None, None, -1),) * len(sb)], cdt)
        batch = (B, math.prod(a.shape[:nb]) > 1, math.prod(b.shape[:nb]) > 1)
        res = _corr_window(x, w, pad, length, batch, workers)
        if cdt == np.uint64:
            res = res.view(np.int64)
        elif rdt.kind in "biu":
            # every partial sum was an integer below 2**53: exact; back to int64
            res = res.astype(np.int64)
    res = res.astype(rdt, copy=False) if res.dtype != rdt else res
    return np.moveaxis(res, range(nb, in1.ndim), axes)


def _fft_window(a, b, nb, start, length, pad_mode, fillvalue, workers, overlap_add=False,
                round_ints=True):
    """The window of the full convolution through the FFT engine (convolve/_fft.py):
    one pruned transform, or overlap-save tiles with ``overlap_add`` (None: the
    cheaper of the two by the cost model)."""
    sa, sb = a.shape[nb:], b.shape[nb:]
    if not (pad_mode == "constant" and fillvalue == 0):
        lo = [max(0, j - 1 - s) for j, s in zip(sb, start)]
        hi = [max(0, s + n - 1 - (i - 1)) for s, n, i in zip(start, length, sa)]
        kw = {"constant_values": fillvalue} if pad_mode == "constant" else {}
        a = np.pad(a, [(0, 0)] * nb + list(zip(lo, hi)), mode=pad_mode, **kw)
        start = [s + q for s, q in zip(start, lo)]
    rt = np.result_type(a, b)
    # as scipy.fft transforms each input: integers and bools in float64,
    # float16 in float32; the spectra then combine (bool with float32 -> float64)
    cdt = np.result_type(*[np.float64 if x.dtype.kind in "biu" else
                           np.float32 if x.dtype.kind == "f" and x.dtype.itemsize <= 4 else
                           x.dtype for x in (a, b)])
    a, b = a.astype(cdt, copy=False), b.astype(cdt, copy=False)
    one_kernel = math.prod(b.shape[:nb]) == 1
    if overlap_add is None and one_kernel:
        # predicted for the machine's CPUs, not `workers`: the choice (and so
        # the bits) must not depend on the thread count
        costs = _dispatch.estimate_costs(
            a.shape[nb:], b.shape[nb:], length, cdt, usable_cpus(), start=start,
            batch=math.prod(np.broadcast_shapes(a.shape[:nb], b.shape[:nb])))
        overlap_add = costs["oa"] < costs["fft"]
    if overlap_add and one_kernel:
        res = _fftmod.oa_window(a, b, nb, start, length, workers)
    else:
        res = _fftmod.fft_window(a, b, nb, start, length, workers)
    if rt.kind in "biu" and round_ints:
        res = np.around(res, out=res)
    return res


def _int_fft_ok(a, b):
    """SciPy's integer-precision guard: the FFT (then rounded) may serve integer
    inputs only while ``max|a| * max|b| * min(a.size, b.size)`` fits the
    float64 mantissa."""
    if a.dtype == np.uint64 or b.dtype == np.uint64 or a.dtype.kind == "b":
        return False
    bound = int(np.abs(a.astype(np.int64, copy=False)).max(initial=0)) * \
        int(np.abs(b.astype(np.int64, copy=False)).max(initial=0)) * min(a.size, b.size)
    return bound <= 2**52 - 1


def _choose(rdt, a, b, nb, start, length):
    """'direct', 'fft' or 'oa' for method='auto' (convolve/_dispatch.py)."""
    if rdt.kind in "biu":
        if not _int_fft_ok(a, b):
            return "direct"
        rdt = np.dtype(np.float64)
    B = math.prod(np.broadcast_shapes(a.shape[:nb], b.shape[:nb]))
    # the machine's CPUs, not `workers`: methods round differently, so a choice
    # that followed the thread count would change the bits with it
    m = _dispatch.choose_method(a.shape[nb:], b.shape[nb:], start, length, rdt, usable_cpus(),
                                batch=B, kernel_batch=math.prod(b.shape[:nb]))
    return "fft1" if m == "fft" else m


def _finish(res, out):
    if out is None:
        return res
    check_out(out, res.shape, res.dtype)
    out[...] = res
    return out


# ----------------------------------------------------------------- public
_COMMON = """
    Parameters
    ----------
    in1 : array_like
        First input.
    in2 : array_like
        Second input, with the same number of dimensions as `in1`.
    mode : {{'full', 'valid', 'same'}}, default 'full'
        ``'full'``: the whole linear {what}, extent ``n1 + n2 - 1`` per axis.
        ``'valid'``: only outputs that do not depend on the boundary, extent
        ``max(n1, n2) - min(n1, n2) + 1``; one input must be at least as large
        as the other along every axis (they are swapped if needed, as SciPy does).
        ``'same'``: extent ``n1``, centred on the ``'full'`` output, starting at
        index ``(n2 - 1) // 2``.
    method : {{'auto', 'direct', 'fft'}}, default 'auto'
        ``'direct'``: the compiled direct kernel; exact for integers.
        ``'fft'``: through FFTs (transforms by :mod:`scipy.fft`): one block, or
        overlap-save tiles where the cost model finds them cheaper.
        ``'auto'``: a fitted cost model picks among direct, FFT and overlap-add
        (see :doc:`/guide/methods`); integers take an FFT only while the
        result is exactly representable (SciPy's guard), else go direct.
    axes : int or sequence of int, optional
        Axes to {what2} along (default: all). The other axes are batch axes:
        extents must be equal or 1 (broadcast), and each batch entry is
        computed independently, in parallel.
    boundary : str, default 'fill'
        How `in1` is extended beyond its edges: ``'fill'`` (the value
        `fillvalue`), ``'wrap'``/``'circular'`` (periodic), ``'symm'``/
        ``'symmetric'`` (mirror, edge repeated), ``'reflect'``/``'mirror'``
        (mirror, edge not repeated), ``'nearest'``/``'edge'`` (edge value).
    fillvalue : scalar, default 0
        The value for ``boundary='fill'``.
    workers : int, optional
        Threads: None uses :func:`convolve.get_num_threads`, -1 all CPUs.
    out : ndarray, optional
        Written with the result and returned (shape and dtype must match).

    Returns
    -------
    ndarray
        dtype ``numpy.result_type(in1, in2)``; integer results are exact
        (computed in 64-bit, then cast to that dtype as SciPy does).

    Raises
    ------
    ValueError
        `in1` and `in2` with different numbers of dimensions; unknown `mode`,
        `method` or `boundary`; ``'valid'`` with neither input at least as large
        as the other; batch extents that do not broadcast.
    TypeError
        Object, float128 or other unsupported dtypes.
"""


def convolve(in1, in2, mode="full", method="auto", *, axes=None, boundary="fill",
             fillvalue=0, workers=None, out=None):
    return _finish(_convolve_nd(in1, in2, mode, axes, boundary, fillvalue, workers, method),
                   out)


def correlate(in1, in2, mode="full", method="auto", *, axes=None, boundary="fill",
              fillvalue=0, workers=None, out=None):
    return _finish(_convolve_nd(in1, in2, mode, axes, boundary, fillvalue, workers, method,
                                correlate=True), out)


convolve.__doc__ = """Convolve two N-dimensional arrays (as :func:`scipy.signal.convolve`).

    ``out[j] = sum_k in1[j - k] * in2[k]``.
""" + _COMMON.format(what="convolution", what2="convolve") + """
    See Also
    --------
    correlate : Cross-correlation.
    convolve2d : The 2-D function with SciPy's boundary handling.
    fftconvolve : Always through FFTs.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import signal
    >>> signal.convolve([1, 2, 3], [0, 1, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> signal.convolve(np.array([1, 2, 3]), np.array([1, 1]), mode='same')
    array([1, 3, 5])
    >>> x = np.arange(12.0).reshape(3, 4)
    >>> signal.convolve(x, np.array([[1.0, -1.0]]), mode='valid', axes=1)
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]])
"""

correlate.__doc__ = """Cross-correlate two N-dimensional arrays (as :func:`scipy.signal.correlate`).

    ``out[j] = sum_k in1[j + k] * conj(in2[k])`` (shifted so that ``'full'``
    starts at the first overlap); equal to ``convolve(in1, in2[::-1].conj())``.
""" + _COMMON.format(what="correlation", what2="correlate") + """
    See Also
    --------
    convolve : Convolution.
    correlate2d : The 2-D function with SciPy's boundary handling.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import signal
    >>> signal.correlate(np.array([1, 2, 3]), np.array([0, 1, 0.5]))
    array([0.5, 2. , 3.5, 3. , 0. ])
    >>> signal.correlate([1, 2, 3, 4], [1, 1], mode='valid')
    array([3, 5, 7])
"""


def _check_2d(in1, in2):
    in1, in2 = np.asarray(in1), np.asarray(in2)
    if not in1.ndim == in2.ndim == 2:
        raise ValueError("convolve2d inputs must both be 2-D arrays")
    return in1, in2


def _check_fillvalue(fillvalue, in1, in2):
    fv = np.asarray(fillvalue)
    if fv.size != 1:
        raise ValueError("fillvalue must be scalar")
    rdt = np.result_type(in1, in2)
    if fv.dtype.kind == "c" and rdt.kind != "c":
        raise ValueError("fillvalue must be real when the inputs are real, got "
                         f"{fillvalue!r}")
    v = fv.item()
    if rdt.kind in "iu":
        # as SciPy: truncated to the integer type, but never wrapped around
        info = np.iinfo(rdt)
        if not np.isfinite(v) or not info.min <= int(v) <= info.max:
            raise ValueError(f"could not cast fillvalue={fillvalue!r} to the output type {rdt}")
        v = int(v)
    return v


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, workers=None,
               out=None):
    """Convolve two 2-D arrays (as :func:`scipy.signal.convolve2d`).

    Parameters
    ----------
    in1, in2 : array_like, 2-D
        Inputs.
    mode : {'full', 'valid', 'same'}, default 'full'
        Output extents ``n1 + n2 - 1``, ``max - min + 1`` or ``n1`` (centred,
        starting at index ``(n2 - 1) // 2`` of the full output).
    boundary : {'fill', 'wrap', 'symm'}, default 'fill'
        Extension of `in1`: constant `fillvalue`, periodic, or mirrored with
        the edge repeated (``'circular'`` and ``'symmetric'`` are accepted too).
    fillvalue : scalar, default 0
        Value used with ``boundary='fill'``.
    workers : int, optional
        Threads (None: :func:`convolve.get_num_threads`).
    out : ndarray, optional
        Written with the result and returned.

    Returns
    -------
    ndarray, 2-D
        dtype ``numpy.result_type(in1, in2)``.

    Raises
    ------
    ValueError
        Inputs not 2-D, unknown `mode` or `boundary`, non-scalar `fillvalue`,
        ``'valid'`` with neither input at least as large as the other.

    See Also
    --------
    correlate2d, convolve, convolve.kernels.separable_conv2d

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import signal
    >>> img = np.arange(16.0).reshape(4, 4)
    >>> signal.convolve2d(img, np.ones((3, 3)) / 9, mode='same', boundary='symm')[1:3, 1:3]
    array([[ 5.,  6.],
           [ 9., 10.]])
    """
    in1, in2 = _check_2d(in1, in2)
    fv = _check_fillvalue(fillvalue, in1, in2)
    _check_boundary(boundary, _BOUNDARY_2D)
    return _finish(_convolve_nd(in1, in2, mode, None, boundary, fv, workers, "direct"), out)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, workers=None,
                out=None):
    """Cross-correlate two 2-D arrays (as :func:`scipy.signal.correlate2d`).

    ``out[i, j] = sum_{k, l} in1[i + k, j + l] * conj(in2[k, l])``, shifted as
    in SciPy.

    Parameters
    ----------
    in1, in2 : array_like, 2-D
        Inputs.
    mode : {'full', 'valid', 'same'}, default 'full'
        As :func:`convolve2d`, except that ``'same'`` starts at index
        ``n2 // 2`` of the full correlation (SciPy's rule for this function,
        which differs from :func:`correlate` for even kernel sizes).
    boundary : {'fill', 'wrap', 'symm'}, default 'fill'
        Extension of `in1`.
    fillvalue : scalar, default 0
        Value used with ``boundary='fill'``.
    workers : int, optional
        Threads.
    out : ndarray, optional
        Written with the result and returned.

    Returns
    -------
    ndarray, 2-D
        dtype ``numpy.result_type(in1, in2)``.

    Raises
    ------
    ValueError
        As :func:`convolve2d`.

    See Also
    --------
    convolve2d, correlate

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import signal
    >>> signal.correlate2d(np.eye(3, dtype=int), np.array([[1, 2], [3, 4]]), mode='valid')
    array([[5, 3],
           [2, 5]])
    """
    in1, in2 = _check_2d(in1, in2)
    fv = _check_fillvalue(fillvalue, in1, in2)
    _check_boundary(boundary, _BOUNDARY_2D)
    return _finish(_convolve_nd(in1, in2, mode, None, boundary, fv, workers, "direct",
                                correlate=True, same_start=lambda k: k // 2), out)


def fftconvolve(in1, in2, mode="full", axes=None, *, workers=None):
    """Convolve two N-dimensional arrays using FFTs (as :func:`scipy.signal.fftconvolve`).

    One pruned transform of the whole problem (or overlap-save tiles, as
    :func:`oaconvolve`, where the cost model finds them cheaper): transforms by :mod:`scipy.fft`
    (pocketfft, with `workers` threads) at the fast sizes
    (:func:`scipy.fft.next_fast_len`) that hold the mode's window free of
    wrap-around, the spectral product compiled and in place; batch axes
    broadcast; float32 input gives float32 output (single-precision
    transforms).

    Parameters
    ----------
    in1, in2 : array_like
        Inputs with the same number of dimensions.
    mode : {'full', 'valid', 'same'}, default 'full'
        As :func:`convolve`, except that in ``'valid'`` an axis where either
        input has extent 1 broadcasts instead of being convolved, as in
        SciPy (``(3, 2)`` with ``(11, 1)`` gives ``(9, 2)``).
    axes : int or sequence of int, optional
        Axes to convolve over; the others must broadcast.
    workers : int, optional
        Threads for the transforms.

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        As :func:`scipy.signal.fftconvolve`.

    See Also
    --------
    convolve, oaconvolve

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import signal
    >>> np.round(signal.fftconvolve([1.0, 2.0, 3.0], [0.0, 1.0, 0.5]), 12) + 0.0
    array([0. , 1. , 2.5, 4. , 1.5])
    """
    in1, in2, axes = _fft_valid_axes(in1, in2, mode, axes)
    if mode == "valid" and axes == []:     # every axis broadcast: the product
        return in1 * in2
    return _convolve_nd(in1, in2, mode, axes, "fill", 0, workers, "fft", fft_dtypes=True)


def _fft_valid_axes(in1, in2, mode, axes):
    """scipy.signal.fftconvolve's and oaconvolve's rule for ``'valid'``: an
    axis where either input has extent 1 is not convolved but broadcast
    (``(3, 2)`` with ``(11, 1)`` gives ``(9, 2)``, where :func:`convolve`
    raises: neither input is as large as the other in every dimension).
    For 'full' and 'same' the rule changes no result, so only 'valid'
    applies it. Returns the arrays and the axes to convolve (``[]``: none,
    the result is the product)."""
    in1, in2 = np.asarray(in1), np.asarray(in2)
    if mode != "valid" or in1.ndim != in2.ndim or in1.ndim == 0 or in1.size == 0 \
            or in2.size == 0:
        return in1, in2, axes
    conv = [a for a in _norm_axes(axes, in1.ndim) if in1.shape[a] != 1 and in2.shape[a] != 1]
    return in1, in2, conv


def oaconvolve(in1, in2, mode="full", axes=None, *, workers=None):
    """Convolve two N-dimensional arrays by overlap-add (as :func:`scipy.signal.oaconvolve`).

    Overlap-save tiles along the first convolved axis, of a size chosen by a
    cost model, transformed a chunk at a time by `workers` threads: the
    extra memory is a few chunks (about a MiB each), not a padded copy of the
    input, so a 1e8-sample signal with a 1001-tap filter needs only the
    output and ~10 MB more. Falls back to one FFT when a single tile is
    cheapest, or when the kernel varies along batch axes.

    Parameters
    ----------
    in1, in2 : array_like
        Inputs with the same number of dimensions.
    mode : {'full', 'valid', 'same'}, default 'full'
        As :func:`fftconvolve`.
    axes : int or sequence of int, optional
        Axes to convolve over.
    workers : int, optional
        Threads for the transforms.

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        As :func:`scipy.signal.oaconvolve`.

    See Also
    --------
    fftconvolve, convolve

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import signal
    >>> np.round(signal.oaconvolve(np.ones(6), np.ones(2)), 12) + 0.0
    array([1., 2., 2., 2., 2., 2., 1.])
    """
    in1, in2, axes = _fft_valid_axes(in1, in2, mode, axes)
    if mode == "valid" and axes == []:     # every axis broadcast: the product
        return in1 * in2
    return _convolve_nd(in1, in2, mode, axes, "fill", 0, workers, "oa", fft_dtypes=True)


def choose_conv_method(in1, in2, mode="full", measure=False):
    """The method :func:`convolve` with ``method='auto'`` uses (as SciPy's).

    Parameters
    ----------
    in1, in2 : array_like
        Inputs as for :func:`convolve`.
    mode : {'full', 'valid', 'same'}, default 'full'
        Output mode.
    measure : bool, default False
        Time both methods and return the faster, with the timings.

    Returns
    -------
    method : {'direct', 'fft'}
    times : dict
        Only with ``measure=True``: median seconds of each method.

    Raises
    ------
    ValueError
        Unknown `mode`.

    Notes
    -----
    The predicted seconds of the direct kernel, one FFT and overlap-add come
    from operation counts times per-dtype constants fitted on measurements
    (``tools/fit_dispatch.py``, stored in ``convolve/_dispatch.py``); on a
    held-out grid of shapes it picks the fastest method in about three cases
    out of four and one within 20 % of the fastest in nine out of ten (see
    :doc:`/guide/methods`). ``'fft'`` is returned for both FFT methods. A
    single FFT whose spectra would exceed 2 GiB is never chosen. Integer
    inputs take an FFT only while ``max|in1| * max|in2| * min(sizes)`` stays
    below ``2**52`` (SciPy's guard); the result is then rounded back, exact.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import signal
    >>> signal.choose_conv_method(np.ones(1000), np.ones(5))
    'direct'
    >>> signal.choose_conv_method(np.ones((512, 512)), np.ones((64, 64)))
    'fft'
    """
    in1, in2 = np.asarray(in1), np.asarray(in2)
    _check_mode(mode)
    if measure:
        times = {}
        for m in ("fft", "direct"):
            ts = []
            for _ in range(3):
                t = time.perf_counter()
                convolve(in1, in2, mode=mode, method=m)
                ts.append(time.perf_counter() - t)
            times[m] = float(np.median(ts))
        return min(times, key=times.get), times
    if in1.ndim != in2.ndim or in1.ndim == 0 or in1.size == 0 or in2.size == 0:
        return "direct"
    rdt, _ = _dtypes(in1, in2)
    a, b = in1, in2
    if mode == "valid":
        if not all(i >= j for i, j in zip(a.shape, b.shape)):
            a, b = b, a
        start = [j - 1 for j in b.shape]
        length = [abs(i - j) + 1 for i, j in zip(a.shape, b.shape)]
    elif mode == "full":
        if b.size > a.size:
            a, b = b, a
        start, length = [0] * a.ndim, [i + j - 1 for i, j in zip(a.shape, b.shape)]
    else:
        start, length = [(j - 1) // 2 for j in b.shape], list(a.shape)
    return "direct" if _choose(rdt, a, b, 0, start, length) == "direct" else "fft"


# Vector-Jacobian products (adjoints); at the end: _signal_vjp builds on the above.
from ._signal_vjp import convolve_vjp, correlate_vjp  # noqa: E402

__all__ += ["convolve_vjp", "correlate_vjp"]
