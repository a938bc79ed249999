"""Max and average pooling in 1-D, 2-D and 3-D, and their gradients (NCHW).

PyTorch's semantics: the same output sizes, ``ceil_mode`` rules (a window
that would start in the right padding is dropped), average divisors, index
layout of ``return_indices`` and NaN propagation. Python validates and
shapes every problem as a 5-D block (N, C, D, H, W); ``convolve._pool`` only
computes.

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

import numpy as np

from . import _pool
from ._threads import resolve_workers
from ._validate import int_tuple, nn_dtype

__all__ = [f"{op}{n}d{suffix}" for op in ("max_pool", "avg_pool")
           for n in (1, 2, 3) for suffix in ("", "_backward")]


def _out_len(L, k, s, p, d, ceil_mode):
    span = L + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= L + p:
        out -= 1
    return out


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
    shape = ((N, C) if batched else (C,)) + osp
    return (out.reshape(shape), idx.reshape(shape)) if return_indices else out.reshape(shape)


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
    gi = np.zeros((N * C, P), dtype=dt)
    bad = np.zeros(N * C, dtype=np.int8)
    n = resolve_workers(workers, N * C * Q)
    _pool.max_pool_backward(g2, i2, gi, bad, n)
    if bad.any():
        raise ValueError(f"indices must lie in [0, {P}) (flat positions in one input "
                         f"plane of spatial shape {sp})")
    return gi.reshape(in_shape)


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
    gi = np.zeros((N, C) + _five(sp, 1), dtype=dt)
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
        (n, c) input {plane} (PyTorch's layout).

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
        Same shape as `grad_out`: flat positions within one input {plane}.
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
