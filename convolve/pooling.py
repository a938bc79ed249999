"""Pooling in 1-D, 2-D and 3-D, and its gradients (NCHW): max, average, Lp
(power-average), adaptive average and max, global average and max,
max-unpooling, and anti-aliased (blur) pooling.

PyTorch's semantics: the same output sizes, ``ceil_mode`` rules (a window
that would start in the right padding is dropped), average divisors, index
layout of ``return_indices``, adaptive windows and NaN propagation (the
deliberate differences of Lp pooling are listed on ``lp_pool2d``). Python
validates and shapes every problem as a 5-D block (N, C, D, H, W);
``convolve._pool`` and ``convolve._nnops`` only compute.

Output size along each spatial axis, for input length ``L``, kernel ``k``,
stride ``s``, padding ``p`` and dilation ``d`` (``d = 1`` for average
pooling)::

    out = floor((L + 2*p - d*(k - 1) - 1) / s) + 1          ceil_mode=False
    out = ceil((L + 2*p - d*(k - 1) - 1) / s) + 1           ceil_mode=True,
          minus 1 when (out - 1)*s >= L + p  (the last window would start
          in the right padding)

          p |<------------- L ------------->| p
        . . x x x x x x x x x x x x x x x x x . .
        [ window 0 ]    (start 0*s - p)
              [ window 1 ]  (start 1*s - p) ...
"""
import math
import numbers

import numpy as np

from . import _pool
from ._threads import resolve_workers
from ._validate import int_tuple, nn_dtype

__all__ = [f"{op}{n}d{suffix}" for op in ("max_pool", "avg_pool")
           for n in (1, 2, 3) for suffix in ("", "_backward")]


def _out_len(L, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape: floor (or ceil) of span / s, plus one,
    rounding toward minus infinity for a negative span (a window longer than
    the padded input: one output in ceil mode when it overhangs by less than
    a stride), the last window starting inside the input or its leading
    padding."""
    span = L + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= L + p:
        out -= 1
    return max(out, 0)


def _as_array(x, name):
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    x = np.asarray(x)
    if x.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got dtype object")
    return x


def _spatial_args(nd, kernel_size, stride, padding, dilation):
    k = int_tuple(kernel_size, nd, "kernel_size", minimum=1)
    if stride is None or (not np.isscalar(stride) and len(tuple(stride)) == 0):
        s = k
    else:
        s = int_tuple(stride, nd, "stride", minimum=1)
    p = int_tuple(padding, nd, "padding", minimum=0)
    d = int_tuple(dilation, nd, "dilation", minimum=1)
    for ki, pi in zip(k, p):
        if pi > ki // 2:
            raise ValueError(f"padding must be at most half of kernel_size, got "
                             f"padding={p} and kernel_size={k}")
    return k, s, p, d


def _split_shape(shape, nd, name):
    """(batched, N, C, spatial) of an (N, C, *sp) or unbatched (C, *sp) shape."""
    if len(shape) not in (nd + 1, nd + 2):
        raise ValueError(f"{name} must have {nd + 1} (unbatched) or {nd + 2} dimensions "
                         f"(N, C, *spatial) for {nd}-D pooling, got shape {tuple(shape)}")
    batched = len(shape) == nd + 2
    N, C = (shape[0], shape[1]) if batched else (1, shape[0])
    return batched, N, C, tuple(shape[-nd:])


def _out_shape(sp, k, s, p, d, ceil_mode, name):
    osp = tuple(_out_len(L, ki, si, pi, di, ceil_mode)
                for L, ki, si, pi, di in zip(sp, k, s, p, d))
    if any(o < 1 for o in osp) and all(L > 0 for L in sp):
        raise ValueError(f"output size is too small: {name} spatial shape {sp}, "
                         f"kernel_size={k}, padding={p}, dilation={d} give {osp}")
    return tuple(max(o, 0) for o in osp)


def _five(t, fill):
    return (fill,) * (3 - len(t)) + tuple(t)


def _work(N, C, osp, k):
    return N * C * math.prod(osp) * math.prod(k)


def _divisor(divisor_override):
    if divisor_override is None:
        return 0
    if isinstance(divisor_override, (bool, float)) or not isinstance(
            divisor_override, (int, np.integer)):
        raise TypeError(f"divisor_override must be an int or None, got {divisor_override!r}")
    if divisor_override == 0:
        raise ValueError("divisor_override must be non-zero, got 0")
    if divisor_override < 0:
        raise ValueError(f"divisor_override must be positive, got {divisor_override}")
    return int(divisor_override)


def _max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              workers):
    x = _as_array(x, "x")
    dt = nn_dtype(x)
    k, s, p, d = _spatial_args(nd, kernel_size, stride, padding, dilation)
    batched, N, C, sp = _split_shape(x.shape, nd, "x")
    osp = _out_shape(sp, k, s, p, d, bool(ceil_mode), "x")
    x5 = np.ascontiguousarray(x, dtype=dt).reshape((N, C) + _five(sp, 1))
    out = np.empty((N, C) + _five(osp, 1), dtype=dt)
    idx = np.empty(out.shape, dtype=np.int64) if return_indices else None
    n = resolve_workers(workers, _work(N, C, osp, k))
    _pool.max_pool_forward(x5, out, idx, _five(k, 1), _five(s, 1), _five(p, 0),
                           _five(d, 1), n)
    if return_indices:
        _mark_empty_windows(idx.reshape((N, C) + osp), sp, k, s, p, d)
    shape = ((N, C) if batched else (C,)) + osp
    return (out.reshape(shape), idx.reshape(shape)) if return_indices else out.reshape(shape)


def _mark_empty_windows(idx, sp, k, s, p, d):
    """idx[..., o] = -1 where window o holds no input element (dilated taps
    stepping over the whole input from the padding; the value is -inf).
    PyTorch's index there lies outside the input and its backward writes
    out of bounds; -1 is skipped by the backward and the unpooling."""
    empty = None
    for ax, (L, kk, ss, pp, dd) in enumerate(zip(sp, k, s, p, d)):
        start = np.arange(idx.shape[2 + ax]) * ss - pp
        pos = start[:, None] + dd * np.arange(kk)
        e = ~((pos >= 0) & (pos < L)).any(axis=1)
        if e.any():
            e = e.reshape((-1,) + (1,) * (len(sp) - 1 - ax))
            empty = e if empty is None else empty | e
    if empty is not None:
        idx[..., np.broadcast_to(empty, idx.shape[2:])] = -1


def _max_pool_backward(nd, grad_out, indices, input_shape, workers):
    g = _as_array(grad_out, "grad_out")
    idx = _as_array(indices, "indices")
    dt = nn_dtype(g)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
    if g.shape != idx.shape:
        raise ValueError(f"indices must have the shape of grad_out {g.shape}, "
                         f"got {idx.shape}")
    in_shape = int_tuple(input_shape, len(tuple(input_shape)), "input_shape", minimum=0)
    batched, N, C, sp = _split_shape(in_shape, nd, "input_shape")
    gb, gN, gC, _ = _split_shape(g.shape, nd, "grad_out")
    if (gb, gN, gC) != (batched, N, C):
        raise ValueError(f"grad_out shape {g.shape} does not match input_shape "
                         f"{in_shape} in its batch and channel axes")
    P, Q = math.prod(sp), math.prod(g.shape[-nd:])
    g2 = np.ascontiguousarray(g, dtype=dt).reshape(N * C, Q)
    i2 = np.ascontiguousarray(idx, dtype=np.int64).reshape(N * C, Q)
    gi = np.empty((N * C, P), dtype=dt)  # zeroed plane by plane by the kernel
    bad = np.zeros(N * C, dtype=np.int8)
    n = resolve_workers(workers, N * C * Q)
    _pool.max_pool_backward(g2, i2, gi, bad, n)
    if bad.any():
        raise ValueError(f"indices must lie in [0, {P}) (flat positions in one input "
                         f"plane of spatial shape {sp})")
    return gi.reshape(in_shape)


def _max_pool2x2(x, workers=None, relu=False):
    """2x2 max pooling with stride 2 and no padding of an (N, C, H, W) or
    (C, H, W) array, as ``max_pool2d(x, 2)``, with each window's winner kept
    as a tap code ``kh * 2 + kw`` (uint8, the output's shape) instead of
    int64 indices: the state :class:`convolve.layers.MaxPool2d` keeps for its
    backward (:func:`_max_pool2x2_backward`). None when `x` is not such an
    array of at least 2x2 maps (the caller takes the general path).

    ``relu=True``: ``max_pool2d(relu(x), 2)`` (= relu of the window maxima,
    bit for bit, NaNs and signed zeros included), the code 4 marking windows
    whose maximum is <= 0: their gradient, relu's and the pool's composed, is
    zero, so the backward from these codes is that of ``relu`` then the pool,
    bit for bit, without relu(x) ever being formed."""
    x = _as_array(x, "x")
    if x.ndim not in (3, 4) or x.shape[-2] < 2 or x.shape[-1] < 2:
        return None
    dt = nn_dtype(x)
    H, W = x.shape[-2:]
    OH, OW = H // 2, W // 2
    P = math.prod(x.shape[:-2])
    out = np.empty(x.shape[:-2] + (OH, OW), dtype=dt)
    codes = np.empty(out.shape, dtype=np.uint8)
    n = resolve_workers(workers, 4 * out.size)
    _pool.max_pool2x2_forward(np.ascontiguousarray(x, dtype=dt).reshape(P, H, W),
                              out.reshape(P, OH, OW), codes.reshape(P, OH, OW), n, relu)
    return out, codes


def _max_pool2x2_backward(grad_out, codes, input_shape, workers=None, out=None):
    """Input gradient of :func:`_max_pool2x2` from its tap codes; bitwise the
    result of ``max_pool2d_backward`` with the equivalent indices. `out`: a
    C-contiguous array of the result's shape and dtype to write it into."""
    g = _as_array(grad_out, "grad_out")
    dt = nn_dtype(g)
    if g.shape != codes.shape:
        raise ValueError(f"grad_out must have the shape of the pooled output {codes.shape}, "
                         f"got {g.shape}")
    H, W = input_shape[-2:]
    OH, OW = codes.shape[-2:]
    P = math.prod(codes.shape[:-2])
    if out is not None and out.shape == tuple(input_shape) and out.dtype == dt \
            and out.flags.c_contiguous and out.flags.writeable:
        gi = out
    else:
        gi = np.empty(input_shape, dtype=dt)
    n = resolve_workers(workers, 4 * codes.size)
    _pool.max_pool2x2_backward(np.ascontiguousarray(g, dtype=dt).reshape(P, OH, OW),
                               codes.reshape(P, OH, OW), gi.reshape(P, H, W), n)
    return gi


def _avg_args(nd, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, name):
    k, s, p, d = _spatial_args(nd, kernel_size, stride, padding, 1)
    div = _divisor(divisor_override)
    batched, N, C, sp = _split_shape(x_shape, nd, name)
    osp = _out_shape(sp, k, s, p, d, bool(ceil_mode), name)
    return k, s, p, div, batched, N, C, sp, osp


def _avg_pool(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, workers):
    x = _as_array(x, "x")
    dt = nn_dtype(x)
    k, s, p, div, batched, N, C, sp, osp = _avg_args(
        nd, x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
        divisor_override, "x")
    x5 = np.ascontiguousarray(x, dtype=dt).reshape((N, C) + _five(sp, 1))
    out = np.empty((N, C) + _five(osp, 1), dtype=dt)
    n = resolve_workers(workers, _work(N, C, osp, k))
    _pool.avg_pool_forward(x5, out, _five(k, 1), _five(s, 1), _five(p, 0),
                           bool(count_include_pad), div, n)
    return out.reshape(((N, C) if batched else (C,)) + osp)


def _avg_pool_backward(nd, grad_out, input_shape, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override, workers):
    g = _as_array(grad_out, "grad_out")
    dt = nn_dtype(g)
    in_shape = int_tuple(input_shape, len(tuple(input_shape)), "input_shape", minimum=0)
    k, s, p, div, batched, N, C, sp, osp = _avg_args(
        nd, in_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
        divisor_override, "input_shape")
    expected = ((N, C) if batched else (C,)) + osp
    if g.shape != expected:
        raise ValueError(f"grad_out must have shape {expected} (the output of the forward "
                         f"pooling of input_shape {in_shape}), got {g.shape}")
    g5 = np.ascontiguousarray(g, dtype=dt).reshape((N, C) + _five(osp, 1))
    gi = np.empty((N, C) + _five(sp, 1), dtype=dt)  # zeroed plane by plane by the kernel
    n = resolve_workers(workers, _work(N, C, osp, k))
    _pool.avg_pool_backward(g5, gi, _five(k, 1), _five(s, 1), _five(p, 0),
                            bool(count_include_pad), div, n)
    return gi.reshape(in_shape)


_SHAPES = {1: ("(N, C, L)", "L"), 2: ("(N, C, H, W)", "H, W"), 3: ("(N, C, D, H, W)", "D, H, W")}
_OUT = {1: "(N, C, L_out)", 2: "(N, C, H_out, W_out)", 3: "(N, C, D_out, H_out, W_out)"}
_EX_SHAPE = {1: (1, 1, 6), 2: (1, 1, 4, 4), 3: (1, 1, 2, 4, 4)}
_EX_MAX = {
    1: ">>> y, idx = max_pool1d(x, 2, return_indices=True)\n"
       "    >>> y\n    array([[[1., 3., 5.]]])\n"
       "    >>> idx\n    array([[[1, 3, 5]]])",
    2: ">>> y, idx = max_pool2d(x, 2, return_indices=True)\n"
       "    >>> y\n    array([[[[ 5.,  7.],\n             [13., 15.]]]])\n"
       "    >>> idx\n    array([[[[ 5,  7],\n             [13, 15]]]])",
    3: ">>> y, idx = max_pool3d(x, 2, return_indices=True)\n"
       "    >>> y.shape, idx.ravel()\n    ((1, 1, 1, 2, 2), array([21, 23, 29, 31]))",
}
_EX_AVG = {
    1: ">>> avg_pool1d(x, 2)\n    array([[[0.5, 2.5, 4.5]]])",
    2: ">>> avg_pool2d(x, 2)\n    array([[[[ 2.5,  4.5],\n             [10.5, 12.5]]]])",
    3: ">>> avg_pool3d(x, 2).ravel()\n    array([10.5, 12.5, 18.5, 20.5])",
}

_OUT_FORMULA = """\
    Each output length follows PyTorch::

        out = floor((L + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1

    with ``ceil`` instead of ``floor`` when `ceil_mode` is true, minus one if the
    last window would then start in the right padding
    (``(out - 1)*stride >= L + padding``)."""

_MAX_DOC = """{n}-D max pooling over the spatial axes of `x` ({shape}).

    Parameters
    ----------
    x : array_like
        Input of shape {shape}, or unbatched (C, {sp}). float32 and float64 are
        kept; integers compute in float64.
    kernel_size : int or tuple of {n} ints
        Window size.
    stride : int or tuple of {n} ints, optional
        Window step; default `kernel_size`.
    padding : int or tuple of {n} ints, optional
        Implicit ``-inf`` padding on both sides; at most ``kernel_size // 2``.
    dilation : int or tuple of {n} ints, optional
        Spacing between window taps.
    ceil_mode : bool, optional
        Round the output size up (see Notes).
    return_indices : bool, optional
        Also return the position of each maximum.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    out : ndarray
        Shape {out} (no N axis for unbatched input).
    indices : ndarray of int64
        Only if `return_indices`: the flat index of each maximum within its
        (n, c) input {plane} (PyTorch's layout); -1 for a window that holds
        no input element (dilation can step over the whole input from the
        padding; its value is ``-inf``, and PyTorch's index there lies
        outside the input).

    Raises
    ------
    ValueError
        Wrong number of dimensions, non-positive kernel/stride/dilation,
        negative padding or padding over half the kernel, empty output.
    TypeError
        Complex or non-numeric input, non-integer sizes.

    See Also
    --------
    max_pool{n}d_backward, avg_pool{n}d

    Notes
    -----
{formula}

    A NaN in a window is its maximum (the last NaN's index), as in PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import max_pool{n}d
    >>> x = np.arange({size}, dtype=np.float64).reshape({exshape})
    {example}
    """

_MAX_BWD_DOC = """Gradient of `max_pool{n}d` with respect to its input.

    Each ``grad_out`` element is added to the input position named by
    ``indices`` (as returned by ``max_pool{n}d(..., return_indices=True)``).

    Parameters
    ----------
    grad_out : array_like
        Gradient of the loss with respect to the pooled output, shape {out}
        or unbatched.
    indices : array_like of int
        Same shape as `grad_out`: flat positions within one input {plane};
        -1 (a window without input elements) adds nowhere.
    input_shape : tuple of ints
        Shape of the forward input, {shape} or unbatched.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape `input_shape`, dtype of `grad_out`.

    Raises
    ------
    ValueError
        Shapes that disagree, indices outside the input {plane}.
    TypeError
        Non-integer indices, complex gradients.

    See Also
    --------
    max_pool{n}d

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import max_pool{n}d, max_pool{n}d_backward
    >>> x = np.arange({size}, dtype=np.float64).reshape({exshape})
    >>> y, idx = max_pool{n}d(x, 2, return_indices=True)
    >>> g = max_pool{n}d_backward(np.ones_like(y), idx, x.shape)
    >>> g.shape == x.shape, bool(g.sum() == y.size)
    (True, True)
    """

_AVG_DOC = """{n}-D average pooling over the spatial axes of `x` ({shape}).

    Parameters
    ----------
    x : array_like
        Input of shape {shape}, or unbatched (C, {sp}). float32 and float64 are
        kept; integers compute in float64.
    kernel_size : int or tuple of {n} ints
        Window size.
    stride : int or tuple of {n} ints, optional
        Window step; default `kernel_size`.
    padding : int or tuple of {n} ints, optional
        Implicit zero padding on both sides; at most ``kernel_size // 2``.
    ceil_mode : bool, optional
        Round the output size up (see Notes).
    count_include_pad : bool, optional
        Count the padding zeros in the divisor.
    divisor_override : int, optional
        Divide every window sum by this instead.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    out : ndarray
        Shape {out} (no N axis for unbatched input).

    Raises
    ------
    ValueError
        Wrong number of dimensions, non-positive kernel/stride, negative
        padding or padding over half the kernel, empty output, zero
        `divisor_override`.
    TypeError
        Complex or non-numeric input, non-integer sizes.

    See Also
    --------
    avg_pool{n}d_backward, max_pool{n}d

    Notes
    -----
{formula}

    (``dilation = 1`` here.) The divisor is PyTorch's: with
    `count_include_pad`, the window clipped to the padded input (the part
    of a ``ceil_mode`` window beyond the right padding is not counted);
    without it, the number of input elements in the window.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import avg_pool{n}d
    >>> x = np.arange({size}, dtype=np.float64).reshape({exshape})
    {example}
    """

_AVG_BWD_DOC = """Gradient (adjoint) of `avg_pool{n}d` with respect to its input.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the pooled output, shape {out} or unbatched;
        must equal the forward output shape for `input_shape`.
    input_shape : tuple of ints
        Shape of the forward input, {shape} or unbatched.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As given to `avg_pool{n}d`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape `input_shape`, dtype of `grad_out`.

    Raises
    ------
    ValueError
        `grad_out` not of the forward output shape, and the errors of
        `avg_pool{n}d`.
    TypeError
        Complex or non-numeric gradients, non-integer sizes.

    See Also
    --------
    avg_pool{n}d

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import avg_pool{n}d_backward
    >>> g = avg_pool{n}d_backward(np.ones({outex}), {exshape}, 2)
    >>> float(g.min()), float(g.max())
    ({inv}, {inv})
    """


def _fmt(template, n, example=""):
    shape, sp = _SHAPES[n]
    exshape = _EX_SHAPE[n]
    plane = {1: "row", 2: "plane", 3: "volume"}[n]
    outex = exshape[:2] + tuple(L // 2 for L in exshape[2:])
    return template.format(n=n, shape=shape, sp=sp, out=_OUT[n], plane=plane,
                           formula=_OUT_FORMULA, example=example, size=math.prod(exshape),
                           exshape=exshape, outex=outex, inv=0.5 ** n)


def _make(n):
    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False, workers=None):
        return _max_pool(n, x, kernel_size, stride, padding, dilation, ceil_mode,
                         return_indices, workers)

    def max_pool_backward(grad_out, indices, input_shape, workers=None):
        return _max_pool_backward(n, grad_out, indices, input_shape, workers)

    def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None, workers=None):
        return _avg_pool(n, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override, workers)

    def avg_pool_backward(grad_out, input_shape, kernel_size, stride=None, padding=0,
                          ceil_mode=False, count_include_pad=True, divisor_override=None,
                          workers=None):
        return _avg_pool_backward(n, grad_out, input_shape, kernel_size, stride, padding,
                                  ceil_mode, count_include_pad, divisor_override, workers)

    fns = {
        f"max_pool{n}d": (max_pool, _fmt(_MAX_DOC, n, _EX_MAX[n])),
        f"max_pool{n}d_backward": (max_pool_backward, _fmt(_MAX_BWD_DOC, n)),
        f"avg_pool{n}d": (avg_pool, _fmt(_AVG_DOC, n, _EX_AVG[n])),
        f"avg_pool{n}d_backward": (avg_pool_backward, _fmt(_AVG_BWD_DOC, n)),
    }
    for name, (fn, doc) in fns.items():
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = doc
        fn.__module__ = __name__
        globals()[name] = fn


for _n in (1, 2, 3):
    _make(_n)
del _n


# =====================================================================
# Lp, global and adaptive pooling, max-unpooling, anti-aliased pooling
# =====================================================================
from . import _nnops  # noqa: E402

__all__ += [f"{op}{n}d{suffix}" for op in ("lp_pool", "adaptive_avg_pool",
                                            "adaptive_max_pool")
            for n in (1, 2, 3) for suffix in ("", "_backward")]
__all__ += [f"max_unpool{n}d{suffix}" for n in (1, 2, 3) for suffix in ("", "_backward")]
__all__ += ["global_avg_pool", "global_max_pool", "global_avg_pool_backward",
            "global_max_pool_backward", "blur_pool2d", "blur_pool2d_backward"]


def _lp_p(p):
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer,
                                                             np.floating)):
        raise TypeError(f"p must be a real number, got {type(p).__name__}")
    p = float(p)
    if not p > 0:   # also NaN
        raise ValueError(f"p must be positive (or inf), got {p}")
    mode = 3 if math.isinf(p) else 1 if p == 1 else 2 if p == 2 else 0
    return p, mode


def _lp_args(nd, shape, kernel_size, stride, ceil_mode, name):
    k, s, p, d = _spatial_args(nd, kernel_size, stride, 0, 1)
    batched, N, C, sp = _split_shape(shape, nd, name)
    osp = _out_shape(sp, k, s, p, d, bool(ceil_mode), name)
    return k, s, batched, N, C, sp, osp


def _lp_pool(nd, x, p, kernel_size, stride, ceil_mode, workers):
    x = _as_array(x, "x")
    dt = nn_dtype(x)
    p, mode = _lp_p(p)
    k, s, batched, N, C, sp, osp = _lp_args(nd, x.shape, kernel_size, stride, ceil_mode,
                                            "x")
    x5 = np.ascontiguousarray(x, dtype=dt).reshape((N, C) + _five(sp, 1))
    out = np.empty((N, C) + _five(osp, 1), dtype=dt)
    n = resolve_workers(workers, _work(N, C, osp, k))
    _nnops.lp_pool_forward(x5, out, _five(k, 1), _five(s, 1), p, mode, n)
    return out.reshape(((N, C) if batched else (C,)) + osp)


def _lp_pool_backward(nd, grad_out, x, p, kernel_size, stride, ceil_mode, workers):
    g = _as_array(grad_out, "grad_out")
    x = _as_array(x, "x")
    dt = nn_dtype(g, x)
    p, mode = _lp_p(p)
    k, s, batched, N, C, sp, osp = _lp_args(nd, x.shape, kernel_size, stride, ceil_mode,
                                            "x")
    expected = ((N, C) if batched else (C,)) + osp
    if g.shape != expected:
        raise ValueError(f"grad_out must have shape {expected} (the output of the forward "
                         f"pooling of x {x.shape}), got {g.shape}")
    x5 = np.ascontiguousarray(x, dtype=dt).reshape((N, C) + _five(sp, 1))
    g5 = np.ascontiguousarray(g, dtype=dt).reshape((N, C) + _five(osp, 1))
    gx = np.zeros(x5.shape, dtype=dt)
    n = resolve_workers(workers, 2 * _work(N, C, osp, k))
    _nnops.lp_pool_backward(g5, x5, gx, _five(k, 1), _five(s, 1), p, mode, n)
    return gx.reshape(x.shape)


def _adaptive_out(nd, sp, output_size):
    if output_size is None:
        raise TypeError("output_size must be an int or a sequence of ints/None, got None")
    if isinstance(output_size, (numbers.Integral, np.integer)) and not isinstance(
            output_size, bool):
        vals = (output_size,) * nd
    else:
        try:
            vals = tuple(output_size)
        except TypeError:
            raise TypeError(f"output_size must be an int or a sequence of {nd} ints/None, "
                            f"got {type(output_size).__name__}") from None
        if len(vals) != nd:
            raise ValueError(f"output_size must have {nd} entries (one per spatial axis), "
                             f"got {len(vals)}")
    out = []
    for v, L in zip(vals, sp):
        if v is None:
            out.append(L)
            continue
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"output_size must hold ints or None, got {v!r}")
        if v < 1:
            raise ValueError(f"output_size must be positive, got {output_size!r}")
        out.append(int(v))
    return tuple(out)


def _adaptive_args(nd, shape, output_size, name):
    batched, N, C, sp = _split_shape(shape, nd, name)
    if any(L < 1 for L in sp):
        raise ValueError(f"{name} must have non-empty spatial axes for adaptive pooling, "
                         f"got shape {tuple(shape)}")
    osp = _adaptive_out(nd, sp, output_size)
    return batched, N, C, sp, osp


def _adaptive_work(N, C, sp, osp):
    # each output reads about prod(ceil(L / O) + 1) elements
    return N * C * math.prod(o * (-(-L // o) + 1) for L, o in zip(sp, osp))


def _adaptive_avg(nd, x, output_size, workers=None):
    x = _as_array(x, "x")
    dt = nn_dtype(x)
    batched, N, C, sp, osp = _adaptive_args(nd, x.shape, output_size, "x")
    x5 = np.ascontiguousarray(x, dtype=dt).reshape((N, C) + _five(sp, 1))
    out = np.empty((N, C) + _five(osp, 1), dtype=dt)
    _nnops.adaptive_avg_forward(x5, out, resolve_workers(workers,
                                                         _adaptive_work(N, C, sp, osp)))
    return out.reshape(((N, C) if batched else (C,)) + osp)


def _input_shape(input_shape):
    try:
        n = len(tuple(input_shape))
    except TypeError:
        raise TypeError(f"input_shape must be a sequence of ints, "
                        f"got {type(input_shape).__name__}") from None
    return int_tuple(input_shape, n, "input_shape", minimum=0)


def _adaptive_avg_backward(nd, grad_out, input_shape, workers=None):
    g = _as_array(grad_out, "grad_out")
    dt = nn_dtype(g)
    in_shape = _input_shape(input_shape)
    batched, N, C, sp = _split_shape(in_shape, nd, "input_shape")
    if any(L < 1 for L in sp):
        raise ValueError(f"input_shape must have non-empty spatial axes, got {in_shape}")
    gb, gN, gC, osp = _split_shape(g.shape, nd, "grad_out")
    if (gb, gN, gC) != (batched, N, C) or any(o < 1 for o in osp):
        raise ValueError(f"grad_out shape {g.shape} does not match input_shape {in_shape}")
    g5 = np.ascontiguousarray(g, dtype=dt).reshape((N, C) + _five(osp, 1))
    gx = np.zeros((N, C) + _five(sp, 1), dtype=dt)
    _nnops.adaptive_avg_backward(g5, gx, resolve_workers(workers,
                                                         _adaptive_work(N, C, sp, osp)))
    return gx.reshape(in_shape)


def _adaptive_max(nd, x, output_size, return_indices, workers=None):
    x = _as_array(x, "x")
    dt = nn_dtype(x)
    batched, N, C, sp, osp = _adaptive_args(nd, x.shape, output_size, "x")
    x5 = np.ascontiguousarray(x, dtype=dt).reshape((N, C) + _five(sp, 1))
    out = np.empty((N, C) + _five(osp, 1), dtype=dt)
    idx = np.empty(out.shape, dtype=np.int64)
    _nnops.adaptive_max_forward(x5, out, idx, resolve_workers(
        workers, _adaptive_work(N, C, sp, osp)))
    shape = ((N, C) if batched else (C,)) + osp
    return (out.reshape(shape), idx.reshape(shape)) if return_indices else out.reshape(shape)


# ----------------------------------------------------------------- max unpool
def _unpool_default(L, k, s, p):
    return (L - 1) * s - 2 * p + k


def _max_unpool(nd, x, indices, kernel_size, stride, padding, output_size, workers=None):
    x = _as_array(x, "x")
    idx = _as_array(indices, "indices")
    dt = nn_dtype(x)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
    if idx.shape != x.shape:
        raise ValueError(f"indices must have the shape of x {x.shape}, got {idx.shape}")
    k = int_tuple(kernel_size, nd, "kernel_size", minimum=1)
    s = k if stride is None else int_tuple(stride, nd, "stride", minimum=1)
    p = int_tuple(padding, nd, "padding", minimum=0)
    batched, N, C, sp = _split_shape(x.shape, nd, "x")
    default = tuple(_unpool_default(L, ki, si, pi) for L, ki, si, pi in zip(sp, k, s, p))
    if output_size is None:
        osp = default
    else:
        osz = tuple(output_size)
        if len(osz) == len(x.shape):
            osz = osz[-nd:]
        osp = int_tuple(osz, nd, "output_size", minimum=0)
        for o, dflt, si in zip(osp, default, s):
            if not dflt - si < o < dflt + si:
                raise ValueError(f"output_size {tuple(output_size)} is not valid: each "
                                 f"spatial size must lie strictly between the default "
                                 f"{default} -/+ stride {s}")
    if any(o < 1 for o in osp):
        raise ValueError(f"output size {osp} of max_unpool{nd}d is empty (x spatial shape "
                         f"{sp}, kernel_size={k}, stride={s}, padding={p})")
    P, Q = math.prod(osp), math.prod(sp)
    x2 = np.ascontiguousarray(x, dtype=dt).reshape(N * C, Q)
    i2 = np.ascontiguousarray(idx, dtype=np.int64).reshape(N * C, Q)
    out = np.zeros((N * C, P), dtype=dt)
    bad = np.zeros(N * C, dtype=np.int8)
    _nnops.unpool_scatter(x2, i2, out, bad, resolve_workers(workers, N * C * Q))
    if bad.any():
        raise ValueError(f"indices must lie in [0, {P}) (flat positions in one output "
                         f"plane of spatial shape {osp})")
    return out.reshape(((N, C) if batched else (C,)) + osp)


def _max_unpool_backward(nd, grad_out, indices, workers=None):
    g = _as_array(grad_out, "grad_out")
    idx = _as_array(indices, "indices")
    dt = nn_dtype(g)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
    gb, N, C, osp = _split_shape(g.shape, nd, "grad_out")
    ib, iN, iC, sp = _split_shape(idx.shape, nd, "indices")
    if (gb, N, C) != (ib, iN, iC):
        raise ValueError(f"indices shape {idx.shape} does not match grad_out {g.shape} in "
                         f"its batch and channel axes")
    P, Q = math.prod(osp), math.prod(sp)
    g2 = np.ascontiguousarray(g, dtype=dt).reshape(N * C, P)
    i2 = np.ascontiguousarray(idx, dtype=np.int64).reshape(N * C, Q)
    out = np.empty((N * C, Q), dtype=dt)
    bad = np.zeros(N * C, dtype=np.int8)
    _nnops.unpool_gather(g2, i2, out, bad, resolve_workers(workers, N * C * Q))
    if bad.any():
        raise ValueError(f"indices must lie in [0, {P}) (flat positions in one plane of "
                         f"grad_out, spatial shape {osp})")
    return out.reshape(idx.shape)

# -------------------------------------------------------------- global pooling
def _global_split(shape, name):
    if len(shape) < 3:
        raise ValueError(f"{name} must have at least 3 dimensions (N, C, *spatial), "
                         f"got shape {tuple(shape)}")
    N, C, sp = shape[0], shape[1], tuple(shape[2:])
    return N, C, sp, math.prod(sp)


def global_avg_pool(x, workers=None):
    """Mean over all spatial axes of `x` (N, C, \\*spatial), keeping them as size 1.

    Parameters
    ----------
    x : array_like
        Input of shape (N, C, \\*spatial) with at least one spatial axis.
        float32 and float64 are kept; integers compute in float64.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    out : ndarray
        Shape (N, C, 1, ..., 1): ``x.mean(axis=(2, 3, ...), keepdims=True)``,
        summed in a fixed order (bitwise the same for any thread count).

    Raises
    ------
    ValueError
        Fewer than 3 dimensions, or empty spatial axes.
    TypeError
        Complex or non-numeric input.

    See Also
    --------
    global_avg_pool_backward, global_max_pool, adaptive_avg_pool2d

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import global_avg_pool
    >>> global_avg_pool(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[[[1.5]],
    <BLANKLINE>
            [[5.5]]]])
    """
    x = _as_array(x, "x")
    dt = nn_dtype(x)
    N, C, sp, P = _global_split(x.shape, "x")
    if P == 0:
        raise ValueError(f"x must have non-empty spatial axes, got shape {x.shape}")
    x5 = np.ascontiguousarray(x, dtype=dt).reshape(N, C, 1, 1, P)
    out = np.empty((N, C, 1, 1, 1), dtype=dt)
    _nnops.adaptive_avg_forward(x5, out, resolve_workers(workers, N * C * P))
    return out.reshape((N, C) + (1,) * len(sp))


def global_avg_pool_backward(grad_out, input_shape, workers=None):
    """Gradient (adjoint) of `global_avg_pool`: ``grad_out / prod(spatial)`` spread
    over every spatial position.

    Parameters
    ----------
    grad_out : array_like
        Shape (N, C, 1, ..., 1) (or (N, C)).
    input_shape : tuple of ints
        Shape of the forward input (N, C, \\*spatial).
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape `input_shape`, dtype of `grad_out`.

    Raises
    ------
    ValueError
        `grad_out` holding other than N*C values, bad `input_shape`.
    TypeError
        Complex or non-numeric gradients.

    See Also
    --------
    global_avg_pool

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import global_avg_pool_backward
    >>> global_avg_pool_backward(np.ones((1, 1, 1, 1)), (1, 1, 2, 2))
    array([[[[0.25, 0.25],
             [0.25, 0.25]]]])
    """
    g = _as_array(grad_out, "grad_out")
    dt = nn_dtype(g)
    in_shape = _input_shape(input_shape)
    N, C, sp, P = _global_split(in_shape, "input_shape")
    if P == 0:
        raise ValueError(f"input_shape must have non-empty spatial axes, got {in_shape}")
    if g.size != N * C or g.shape[:2] != (N, C):
        raise ValueError(f"grad_out must have shape {(N, C) + (1,) * len(sp)}, got {g.shape}")
    g5 = np.ascontiguousarray(g, dtype=dt).reshape(N, C, 1, 1, 1)
    gx = np.zeros((N, C, 1, 1, P), dtype=dt)
    _nnops.adaptive_avg_backward(g5, gx, resolve_workers(workers, N * C * P))
    return gx.reshape(in_shape)


def global_max_pool(x, return_indices=False, workers=None):
    """Maximum over all spatial axes of `x` (N, C, \\*spatial), keeping them as size 1.

    Parameters
    ----------
    x : array_like
        Input of shape (N, C, \\*spatial). float32 and float64 are kept;
        integers compute in float64.
    return_indices : bool, optional
        Also return the flat position of each maximum within its (n, c)
        spatial block (the layout `max_pool2d` uses).
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    out : ndarray
        Shape (N, C, 1, ..., 1).
    indices : ndarray of int64
        Only if `return_indices`; same shape.

    Raises
    ------
    ValueError
        Fewer than 3 dimensions, or empty spatial axes.
    TypeError
        Complex or non-numeric input.

    See Also
    --------
    global_max_pool_backward, global_avg_pool, adaptive_max_pool2d

    Notes
    -----
    A NaN anywhere in a block is its maximum (the index of the last NaN);
    among equal maxima the first position wins, as in PyTorch's
    ``adaptive_max_pool``.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import global_max_pool
    >>> y, idx = global_max_pool(np.array([[[[1., 4.], [3., 2.]]]]), return_indices=True)
    >>> y, idx
    (array([[[[4.]]]]), array([[[[1]]]]))
    """
    x = _as_array(x, "x")
    dt = nn_dtype(x)
    N, C, sp, P = _global_split(x.shape, "x")
    if P == 0:
        raise ValueError(f"x must have non-empty spatial axes, got shape {x.shape}")
    x5 = np.ascontiguousarray(x, dtype=dt).reshape(N, C, 1, 1, P)
    out = np.empty((N, C, 1, 1, 1), dtype=dt)
    idx = np.empty(out.shape, dtype=np.int64)
    _nnops.adaptive_max_forward(x5, out, idx, resolve_workers(workers, N * C * P))
    shape = (N, C) + (1,) * len(sp)
    return (out.reshape(shape), idx.reshape(shape)) if return_indices else out.reshape(shape)


def global_max_pool_backward(grad_out, indices, input_shape, workers=None):
    """Gradient of `global_max_pool`: each ``grad_out`` value goes to its maximum.

    Parameters
    ----------
    grad_out : array_like
        Shape (N, C, 1, ..., 1).
    indices : array_like of int
        As returned by ``global_max_pool(x, return_indices=True)``.
    input_shape : tuple of ints
        Shape of the forward input (N, C, \\*spatial).
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape `input_shape`, dtype of `grad_out`.

    Raises
    ------
    ValueError
        Shapes that disagree, indices outside the spatial block.
    TypeError
        Non-integer indices, complex gradients.

    See Also
    --------
    global_max_pool

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import global_max_pool, global_max_pool_backward
    >>> x = np.array([[[[1., 4.], [3., 2.]]]])
    >>> y, idx = global_max_pool(x, return_indices=True)
    >>> global_max_pool_backward(np.ones_like(y), idx, x.shape)
    array([[[[0., 1.],
             [0., 0.]]]])
    """
    g = _as_array(grad_out, "grad_out")
    idx = _as_array(indices, "indices")
    dt = nn_dtype(g)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
    in_shape = _input_shape(input_shape)
    N, C, sp, P = _global_split(in_shape, "input_shape")
    if g.size != N * C or g.shape[:2] != (N, C):
        raise ValueError(f"grad_out must have shape {(N, C) + (1,) * len(sp)}, got {g.shape}")
    if idx.shape != g.shape:
        raise ValueError(f"indices must have the shape of grad_out {g.shape}, got {idx.shape}")
    gi = np.empty((N * C, P), dtype=dt)  # zeroed by the kernel
    bad = np.zeros(N * C, dtype=np.int8)
    _pool.max_pool_backward(np.ascontiguousarray(g, dtype=dt).reshape(N * C, 1),
                            np.ascontiguousarray(idx, dtype=np.int64).reshape(N * C, 1),
                            gi, bad, resolve_workers(workers, N * C))
    if bad.any():
        raise ValueError(f"indices must lie in [0, {P}) (flat positions in one spatial "
                         f"block of shape {sp})")
    return gi.reshape(in_shape)


# ------------------------------------------------------------ blur (anti-aliased)
_BLUR_MODES = ("zeros", "reflect", "replicate", "circular")


def _blur_args(shape, stride, filter_size, padding_mode, name):
    if len(shape) not in (3, 4):
        raise ValueError(f"{name} must have 4 dimensions (N, C, H, W) or 3 (C, H, W), "
                         f"got shape {tuple(shape)}")
    s = int_tuple(stride, 2, "stride", minimum=1)
    if isinstance(filter_size, bool) or not isinstance(filter_size,
                                                       (numbers.Integral, np.integer)):
        raise TypeError(f"filter_size must be an int, got {filter_size!r}")
    if not 1 <= filter_size <= 7:
        raise ValueError(f"filter_size must be in 1..7, got {filter_size}")
    if not isinstance(padding_mode, str) or padding_mode not in _BLUR_MODES:
        raise ValueError(f"padding_mode must be one of {_BLUR_MODES}, got {padding_mode!r}")
    f = int(filter_size)
    a = np.array([math.comb(f - 1, i) for i in range(f)], dtype=np.float64)
    w2 = np.outer(a, a)
    w2 /= w2.sum()
    C = shape[-3]
    pad = ((f - 1) // 2, f // 2)
    if padding_mode == "reflect" and any(L <= max(pad) for L in shape[-2:]):
        raise ValueError(f"padding_mode='reflect' needs H and W larger than the padding "
                         f"{max(pad)}, got {name} shape {tuple(shape)}")
    return s, w2, C, (pad, pad)


def blur_pool2d(x, stride=2, filter_size=3, padding_mode="reflect", workers=None):
    """Anti-aliased downsampling (Zhang 2019, "Making convolutional networks
    shift-invariant again"): a depthwise binomial low-pass filter, then
    subsampling by `stride`.

    Parameters
    ----------
    x : array_like
        Input of shape (N, C, H, W), or unbatched (C, H, W).
    stride : int or (int, int), optional
        Subsampling factor (default 2).
    filter_size : int, optional
        Binomial filter size 1..7: the outer product of row ``filter_size - 1``
        of Pascal's triangle with itself, normalized to sum 1 (3: ``[1, 2, 1]
        x [1, 2, 1] / 16``; 1: no blur, plain subsampling).
    padding_mode : {'reflect', 'zeros', 'replicate', 'circular'}, optional
        How the input is padded by ``(filter_size - 1) // 2`` before and
        ``filter_size // 2`` after, on H and W.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    out : ndarray
        Shape (N, C, H_out, W_out), ``H_out = floor((H - 1) / stride) + 1``
        (likewise W).

    Raises
    ------
    ValueError
        Wrong number of dimensions, filter_size outside 1..7, unknown
        padding_mode, input smaller than the reflect padding.
    TypeError
        Complex or non-numeric input, non-integer sizes.

    See Also
    --------
    blur_pool2d_backward, avg_pool2d, convolve.functional.conv2d

    Notes
    -----
    Computed by :func:`convolve.functional.conv2d` with ``groups=C``. Zhang's
    BlurPool uses the same filters and reflect padding.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import blur_pool2d
    >>> x = np.zeros((1, 1, 4, 4)); x[0, 0, 1, 1] = 16.0
    >>> blur_pool2d(x, padding_mode="zeros")   # the impulse reaches every output
    array([[[[1., 1.],
             [1., 1.]]]])
    >>> blur_pool2d(np.ones((1, 1, 5, 5))).shape
    (1, 1, 3, 3)
    """
    from . import functional as F
    x = _as_array(x, "x")
    dt = nn_dtype(x)
    s, w2, C, pad = _blur_args(x.shape, stride, filter_size, padding_mode, "x")
    w = np.ascontiguousarray(np.broadcast_to(w2, (C, 1) + w2.shape), dtype=dt)
    x4 = np.asarray(x, dtype=dt)
    y = F.conv2d(x4 if x4.ndim == 4 else x4[None], w, stride=s, padding=pad, groups=C,
                 padding_mode=padding_mode, workers=workers)
    return y if x4.ndim == 4 else y[0]


def blur_pool2d_backward(grad_out, input_shape, stride=2, filter_size=3,
                         padding_mode="reflect", workers=None):
    """Gradient (adjoint) of `blur_pool2d` with respect to its input.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the output of `blur_pool2d`.
    input_shape : tuple of ints
        Shape of the forward input, (N, C, H, W) or (C, H, W).
    stride, filter_size, padding_mode
        As given to `blur_pool2d`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape `input_shape`.

    Raises
    ------
    ValueError, TypeError
        As `blur_pool2d`, and a `grad_out` not of the forward output shape.

    See Also
    --------
    blur_pool2d, convolve.functional.conv2d_input_grad

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import blur_pool2d_backward
    >>> g = blur_pool2d_backward(np.ones((1, 1, 2, 2)), (1, 1, 4, 4))
    >>> g.shape, float(g.sum())
    ((1, 1, 4, 4), 4.0)
    """
    from . import functional as F
    g = _as_array(grad_out, "grad_out")
    dt = nn_dtype(g)
    in_shape = _input_shape(input_shape)
    s, w2, C, pad = _blur_args(in_shape, stride, filter_size, padding_mode, "input_shape")
    expected = in_shape[:-2] + tuple((L - 1) // si + 1 for L, si in zip(in_shape[-2:], s))
    if g.shape != expected:
        raise ValueError(f"grad_out must have shape {expected} (the output of blur_pool2d "
                         f"for input_shape {in_shape}), got {g.shape}")
    w = np.ascontiguousarray(np.broadcast_to(w2, (C, 1) + w2.shape), dtype=dt)
    batched = len(in_shape) == 4
    g4 = np.asarray(g, dtype=dt) if batched else np.asarray(g, dtype=dt)[None]
    shape4 = in_shape if batched else (1,) + in_shape
    gx = F.conv2d_input_grad(g4, w, shape4, stride=s, padding=pad, groups=C,
                             padding_mode=padding_mode, workers=workers)
    return gx.reshape(in_shape)


# ------------------------------------------------- n-D public functions and docs
_LP_DOC = """{n}-D power-average (Lp) pooling of `x` ({shape}).

    ``out = (sum over the window of |x|**p) ** (1/p)``; ``p = inf`` gives the
    window's maximum of ``|x|``.

    Parameters
    ----------
    x : array_like
        Input of shape {shape}, or unbatched (C, {sp}). float32 and float64 are
        kept; integers compute in float64.
    p : float
        Any ``p > 0``, or ``inf``. 1 and 2 take exact fast paths.
    kernel_size : int or tuple of {n} ints
        Window size.
    stride : int or tuple of {n} ints, optional
        Window step; default `kernel_size`.
    ceil_mode : bool, optional
        Round the output size up; the last window is then clipped to the input.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    out : ndarray
        Shape {out} (no N axis for unbatched input).

    Raises
    ------
    ValueError
        ``p <= 0`` or NaN, wrong number of dimensions, non-positive
        kernel/stride, empty output.
    TypeError
        Non-real `p`, complex or non-numeric input, non-integer sizes.

    See Also
    --------
    lp_pool{n}d_backward, avg_pool{n}d, max_pool{n}d

    Notes
    -----
    Output sizes are those of `max_pool{n}d` with no padding and dilation 1::

        out = floor((L - kernel_size) / stride) + 1          (ceil with ceil_mode)

    Differences from ``torch.nn.functional.lp_pool{n}d``: PyTorch raises ``x``
    (not ``|x|``) to the power ``p``, so the two agree for ``x >= 0`` (and for
    even integer ``p``); and with `ceil_mode` PyTorch scales a clipped last
    window's sum by ``kernel volume / window volume`` (it is computed as an
    average times the kernel volume), where this function returns the plain
    sum over the clipped window. A NaN in a window gives NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import lp_pool{n}d
    >>> x = np.full({exshape}, -3.0)
    >>> lp_pool{n}d(x, 1, 2).ravel()[:2]     # sum of |x| over 2**{n} elements
    array([{ex2}., {ex2}.])
    >>> lp_pool{n}d(x, float("inf"), 2).ravel()[:2]
    array([3., 3.])
    """

_LP_BWD_DOC = """Gradient of `lp_pool{n}d` with respect to its input `x`.

    ``d out / d x_i = sign(x_i) * (|x_i| / out) ** (p - 1)`` summed over the
    windows that hold ``x_i``.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the pooled output, shape {out} or unbatched.
    x : array_like
        The forward input.
    p, kernel_size, stride, ceil_mode
        As given to `lp_pool{n}d`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape of `x`.

    Raises
    ------
    ValueError, TypeError
        As `lp_pool{n}d`, and a `grad_out` not of the forward output shape.

    See Also
    --------
    lp_pool{n}d

    Notes
    -----
    Safe where the formula is not: a window whose norm is 0 passes no
    gradient (0, not NaN), and for ``p < 1`` an element ``x_i = 0`` gets 0
    (its one-sided derivative is infinite). For ``p = inf`` the gradient goes
    to the first position of the window's largest ``|x|``, times its sign.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import lp_pool{n}d_backward
    >>> x = np.full({exshape}, -3.0)
    >>> g = lp_pool{n}d_backward(np.ones({outex}), x, 1, 2)
    >>> float(g.min()), float(g.max())
    (-1.0, -1.0)
    """

_AAVG_DOC = """{n}-D adaptive average pooling of `x` ({shape}) to a given output size.

    Parameters
    ----------
    x : array_like
        Input of shape {shape}, or unbatched (C, {sp}); spatial axes non-empty.
    output_size : int or tuple of {n} (int or None)
        Output spatial size; ``None`` keeps that axis' input size.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    out : ndarray
        Shape {out}.

    Raises
    ------
    ValueError
        Non-positive output sizes, wrong number of dimensions, empty input.
    TypeError
        Non-integer output sizes, complex or non-numeric input.

    See Also
    --------
    adaptive_avg_pool{n}d_backward, adaptive_max_pool{n}d, global_avg_pool

    Notes
    -----
    Output ``i`` of an axis of length ``L`` with ``O`` outputs averages the
    window (PyTorch's)::

        start = floor(i * L / O),    end = ceil((i + 1) * L / O)

    Windows may overlap by one element when ``O`` does not divide ``L``.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import adaptive_avg_pool{n}d
    >>> x = np.arange({size}, dtype=np.float64).reshape({exshape})
    >>> adaptive_avg_pool{n}d(x, 1).ravel()
    array([{mean}])
    """

_AAVG_BWD_DOC = """Gradient (adjoint) of `adaptive_avg_pool{n}d` with respect to its input.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the pooled output, shape {out} or unbatched.
    input_shape : tuple of ints
        Shape of the forward input; the output size is read from `grad_out`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape `input_shape`.

    Raises
    ------
    ValueError
        Shapes that disagree.
    TypeError
        Complex or non-numeric gradients.

    See Also
    --------
    adaptive_avg_pool{n}d

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import adaptive_avg_pool{n}d_backward
    >>> g = adaptive_avg_pool{n}d_backward(np.ones({ones}), {exshape})
    >>> float(g.max()) == 1 / {size}
    True
    """

_AMAX_DOC = """{n}-D adaptive max pooling of `x` ({shape}) to a given output size.

    Parameters
    ----------
    x : array_like
        Input of shape {shape}, or unbatched (C, {sp}); spatial axes non-empty.
    output_size : int or tuple of {n} (int or None)
        Output spatial size; ``None`` keeps that axis' input size.
    return_indices : bool, optional
        Also return the flat position of each maximum within its (n, c) input
        {plane} (the layout of `max_pool{n}d`).
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    out : ndarray
        Shape {out}.
    indices : ndarray of int64
        Only if `return_indices`.

    Raises
    ------
    ValueError
        Non-positive output sizes, wrong number of dimensions, empty input.
    TypeError
        Non-integer output sizes, complex or non-numeric input.

    See Also
    --------
    adaptive_max_pool{n}d_backward, adaptive_avg_pool{n}d, global_max_pool

    Notes
    -----
    Windows as in `adaptive_avg_pool{n}d`: ``start = floor(i * L / O)``,
    ``end = ceil((i + 1) * L / O)``. A NaN is a window's maximum (the last
    NaN's index); among equal maxima the first wins, as in PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import adaptive_max_pool{n}d
    >>> x = np.arange({size}, dtype=np.float64).reshape({exshape})
    >>> y, idx = adaptive_max_pool{n}d(x, 1, return_indices=True)
    >>> y.ravel(), idx.ravel()
    (array([{last}.]), array([{last}]))
    """

_AMAX_BWD_DOC = """Gradient of `adaptive_max_pool{n}d` with respect to its input.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the pooled output.
    indices : array_like of int
        As returned by ``adaptive_max_pool{n}d(..., return_indices=True)``.
    input_shape : tuple of ints
        Shape of the forward input.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape `input_shape`: each ``grad_out`` element added at its index.

    Raises
    ------
    ValueError
        Shapes that disagree, indices outside the input {plane}.
    TypeError
        Non-integer indices, complex gradients.

    See Also
    --------
    adaptive_max_pool{n}d, max_pool{n}d_backward

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import adaptive_max_pool{n}d, adaptive_max_pool{n}d_backward
    >>> x = np.arange({size}, dtype=np.float64).reshape({exshape})
    >>> y, idx = adaptive_max_pool{n}d(x, 1, return_indices=True)
    >>> g = adaptive_max_pool{n}d_backward(np.ones_like(y), idx, x.shape)
    >>> float(g.ravel()[-1]), float(g.sum())
    (1.0, 1.0)
    """

_UNPOOL_DOC = """{n}-D max-unpooling: the partial inverse of `max_pool{n}d` (PyTorch's
    ``max_unpool{n}d``).

    Places every value of `x` at the position its index names in a zero
    output, ``out[n, c].flat[indices[n, c, ...]] = x[n, c, ...]``.

    Parameters
    ----------
    x : array_like
        Pooled values, shape {shape} or unbatched.
    indices : array_like of int
        Same shape: flat positions within one output {plane}, as returned by
        ``max_pool{n}d(..., return_indices=True)``; -1 (a window without
        input elements) places nothing.
    kernel_size, stride, padding : int or tuple of {n} ints
        Those of the max pooling being inverted (stride default `kernel_size`).
    output_size : tuple of ints, optional
        Output spatial size ({n} entries, or the full shape); default
        ``(L - 1)*stride - 2*padding + kernel_size``. It must lie strictly
        within ``stride`` of the default (the sizes max pooling maps back
        to the shape of `x`).
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    out : ndarray
        Shape {out} with the output spatial size.

    Raises
    ------
    ValueError
        Indices outside the output {plane}, shapes that disagree, a bad
        `output_size`.
    TypeError
        Non-integer indices, complex or non-numeric values.

    See Also
    --------
    max_pool{n}d, max_unpool{n}d_backward

    Notes
    -----
    When two entries name the same position (overlapping pooling windows that
    picked the same maximum) the later one in C order wins, as in PyTorch's
    CPU kernel -- here deterministically, since each (n, c) {plane} is
    written by one thread in order. Unpooling adds nothing: it is not the
    adjoint of max pooling where indices repeat (that is
    `max_pool{n}d_backward`, which sums).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import max_pool{n}d, max_unpool{n}d
    >>> x = np.arange({size}, dtype=np.float64).reshape({exshape})
    >>> y, idx = max_pool{n}d(x, 2, return_indices=True)
    >>> u = max_unpool{n}d(y, idx, 2)
    >>> u.shape == x.shape, bool((u.ravel()[idx.ravel()] == y.ravel()).all())
    (True, True)
    """

_UNPOOL_BWD_DOC = """Gradient of `max_unpool{n}d` with respect to its values `x`.

    ``grad_x[n, c, ...] = grad_out[n, c].flat[indices[n, c, ...]]`` (a gather;
    PyTorch's autograd formula).

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the unpooled output.
    indices : array_like of int
        The indices given to `max_unpool{n}d`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape of `indices`.

    Raises
    ------
    ValueError
        Indices outside the {plane}, shapes that disagree.
    TypeError
        Non-integer indices, complex gradients.

    See Also
    --------
    max_unpool{n}d

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.pooling import max_unpool{n}d_backward
    >>> g = np.arange({size}, dtype=np.float64).reshape({exshape})
    >>> max_unpool{n}d_backward(g, np.zeros({ones}, dtype=np.int64)).ravel()
    array([0.])
    """


def _fmt2(template, n):
    shape, sp = _SHAPES[n]
    exshape = _EX_SHAPE[n]
    size = math.prod(exshape)
    outex = exshape[:2] + tuple(L // 2 for L in exshape[2:])
    return template.format(n=n, shape=shape, sp=sp, out=_OUT[n],
                           plane={1: "row", 2: "plane", 3: "volume"}[n],
                           exshape=exshape, outex=outex, size=size, last=size - 1,
                           mean=(size - 1) / 2, ones=(1, 1) + (1,) * n,
                           ex2=3 * 2 ** n)


def _make2(n):
    def lp_pool(x, p, kernel_size, stride=None, ceil_mode=False, workers=None):
        return _lp_pool(n, x, p, kernel_size, stride, ceil_mode, workers)

    def lp_pool_backward(grad_out, x, p, kernel_size, stride=None, ceil_mode=False,
                         workers=None):
        return _lp_pool_backward(n, grad_out, x, p, kernel_size, stride, ceil_mode,
                                 workers)

    def adaptive_avg_pool(x, output_size, workers=None):
        return _adaptive_avg(n, x, output_size, workers)

    def adaptive_avg_pool_backward(grad_out, input_shape, workers=None):
        return _adaptive_avg_backward(n, grad_out, input_shape, workers)

    def adaptive_max_pool(x, output_size, return_indices=False, workers=None):
        return _adaptive_max(n, x, output_size, return_indices, workers)

    def adaptive_max_pool_backward(grad_out, indices, input_shape, workers=None):
        return _max_pool_backward(n, grad_out, indices, input_shape, workers)

    def max_unpool(x, indices, kernel_size, stride=None, padding=0, output_size=None,
                   workers=None):
        return _max_unpool(n, x, indices, kernel_size, stride, padding, output_size,
                           workers)

    def max_unpool_backward(grad_out, indices, workers=None):
        return _max_unpool_backward(n, grad_out, indices, workers)

    fns = {
        f"lp_pool{n}d": (lp_pool, _LP_DOC),
        f"lp_pool{n}d_backward": (lp_pool_backward, _LP_BWD_DOC),
        f"adaptive_avg_pool{n}d": (adaptive_avg_pool, _AAVG_DOC),
        f"adaptive_avg_pool{n}d_backward": (adaptive_avg_pool_backward, _AAVG_BWD_DOC),
        f"adaptive_max_pool{n}d": (adaptive_max_pool, _AMAX_DOC),
        f"adaptive_max_pool{n}d_backward": (adaptive_max_pool_backward, _AMAX_BWD_DOC),
        f"max_unpool{n}d": (max_unpool, _UNPOOL_DOC),
        f"max_unpool{n}d_backward": (max_unpool_backward, _UNPOOL_BWD_DOC),
    }
    for name, (fn, doc) in fns.items():
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = _fmt2(doc, n)
        fn.__module__ = __name__
        globals()[name] = fn


for _n in (1, 2, 3):
    _make2(_n)
del _n
