"""Elementwise activations and their gradients: ``relu``, ``sigmoid``,
``softplus``, ``abs_rectify``, ``smooth_abs``.

Each ``<name>_backward(grad_out, x, ...)`` takes the forward *input* ``x``
and returns ``grad_out * f'(x)``. Any shape; float32 and float64 are kept,
integers and bools compute in float64, float16 in float32 (the NN family's
dtype rule); ``out=`` may name a C-contiguous array of the result's shape
and dtype (``x`` itself is allowed: in-place). ``convolve._nnops`` computes
in parallel chunks, each element independently, so results do not depend on
the thread count.

====================  ====================================  ==========================
function              f(x)                                  f'(x)
====================  ====================================  ==========================
``relu``              ``max(x, 0)``                         ``1 if x > 0 else 0``
``sigmoid``           ``1 / (1 + exp(-x))``                 ``s (1 - s)``
``softplus``          ``log(1 + exp(k x)) / k``             ``sigmoid(k x)``
``abs_rectify``       ``|x|``                               ``sign(x)`` (0 at 0)
``smooth_abs``        ``log(exp(k x) + exp(-k x)) / k``     ``tanh(k x)``
====================  ====================================  ==========================
"""
import numbers

import numpy as np

from . import _nnops
from ._threads import resolve_workers
from ._validate import check_out, nn_dtype

__all__ = ["relu", "sigmoid", "softplus", "abs_rectify", "smooth_abs",
           "relu_backward", "sigmoid_backward", "softplus_backward",
           "abs_rectify_backward", "smooth_abs_backward"]

# op codes of pyx/_nnops.pyx
_RELU, _SIGMOID, _SOFTPLUS, _ABS, _SMOOTH_ABS = range(5)
# elementwise transcendental work is worth about this many multiply-adds
_COST = {_RELU: 1, _SIGMOID: 16, _SOFTPLUS: 32, _ABS: 1, _SMOOTH_ABS: 32}


def _array(x, name):
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    x = np.asarray(x)
    if x.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got dtype object")
    return x


def _k(k):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (numbers.Real, np.floating,
                                                             np.integer)):
        raise TypeError(f"k must be a real number, got {type(k).__name__}")
    k = float(k)
    if not (k > 0 and np.isfinite(k)):
        raise ValueError(f"k must be positive and finite, got {k}")
    return k


def _target(out, shape, dt):
    check_out(out, shape, dt)
    if out is not None and out.flags.c_contiguous:
        return out, out.reshape(-1)
    buf = np.empty(shape, dtype=dt)
    return out, buf.reshape(-1)


def _forward(op, x, k, out, workers):
    x = _array(x, "x")
    dt = nn_dtype(x)
    xf = np.ascontiguousarray(x, dtype=dt).reshape(-1)
    out, flat = _target(out, x.shape, dt)
    _nnops.activation_forward(xf, flat, op, k, resolve_workers(workers, xf.size * _COST[op]))
    if out is None:
        return flat.reshape(x.shape)
    if not np.shares_memory(out, flat):
        out[...] = flat.reshape(x.shape)
    return out


def _backward(op, grad_out, x, k, out, workers):
    g = _array(grad_out, "grad_out")
    x = _array(x, "x")
    if g.shape != x.shape:
        raise ValueError(f"grad_out must have the shape of x {x.shape}, got {g.shape}")
    dt = nn_dtype(g, x)
    gf = np.ascontiguousarray(g, dtype=dt).reshape(-1)
    xf = np.ascontiguousarray(x, dtype=dt).reshape(-1)
    out, flat = _target(out, x.shape, dt)
    _nnops.activation_backward(gf, xf, flat, op, k,
                               resolve_workers(workers, xf.size * _COST[op]))
    if out is None:
        return flat.reshape(x.shape)
    if not np.shares_memory(out, flat):
        out[...] = flat.reshape(x.shape)
    return out


def _plain(a):
    """`a` is a C-contiguous, writeable float32/float64 ndarray (what the
    in-place helpers below need; they leave anything else to the checked API)."""
    return (type(a) is np.ndarray and a.dtype.kind == "f" and a.dtype.itemsize in (4, 8)
            and a.flags.c_contiguous and a.flags.writeable)


def _relu_inplace(x):
    """``relu(x, out=x)`` without the argument handling, for arrays that pass
    :func:`_plain`; None for anything else (the caller takes the checked path).
    For :class:`convolve.layers.Sequential`, on activations that no one else holds."""
    if not _plain(x):
        return None
    flat = x.reshape(-1)
    _nnops.activation_forward(flat, flat, _RELU, 1.0, resolve_workers(None, flat.size))
    return x


def _relu_backward_inplace(grad_out, y):
    """``relu_backward(grad_out, y, out=grad_out)`` without the argument handling
    (`y` = relu(x) gives the same mask as x); None unless both pass
    :func:`_plain` with one shape and dtype."""
    if not (_plain(grad_out) and type(y) is np.ndarray and y.dtype == grad_out.dtype
            and y.shape == grad_out.shape and y.flags.c_contiguous):
        return None
    g = grad_out.reshape(-1)
    _nnops.activation_backward(g, y.reshape(-1), g, _RELU, 1.0,
                               resolve_workers(None, g.size))
    return grad_out


def relu(x, out=None, workers=None):
    """Rectified linear unit, ``max(x, 0)``, elementwise.

    Parameters
    ----------
    x : array_like
        Any shape. float32/float64 kept; integers and bools compute in float64.
    out : ndarray, optional
        Where to write the result (shape of `x`, the compute dtype); may be `x`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    y : ndarray

    Raises
    ------
    TypeError
        Complex or non-numeric input, `out` not an ndarray.
    ValueError
        `out` of the wrong shape or dtype.

    See Also
    --------
    relu_backward, softplus

    Notes
    -----
    NaN passes through (``relu(nan) = nan``), as in PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import relu
    >>> relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    return _forward(_RELU, x, 1.0, out, workers)


def relu_backward(grad_out, x, out=None, workers=None):
    """Gradient of `relu`: ``grad_out`` where ``x > 0``, else 0 (0 at ``x = 0``).

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to ``relu(x)``; shape of `x`.
    x : array_like
        The forward input.
    out : ndarray, optional
        Where to write the result.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray

    Raises
    ------
    ValueError
        Shapes that differ, a bad `out`.
    TypeError
        Complex or non-numeric input.

    See Also
    --------
    relu

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import relu_backward
    >>> relu_backward(np.ones(3), np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 1.])
    """
    return _backward(_RELU, grad_out, x, 1.0, out, workers)


def sigmoid(x, out=None, workers=None):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, elementwise, stable for any ``x``.

    Parameters
    ----------
    x : array_like
        Any shape. float32/float64 kept; integers and bools compute in float64.
    out : ndarray, optional
        Where to write the result; may be `x`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    y : ndarray
        Values in [0, 1].

    Raises
    ------
    TypeError
        Complex or non-numeric input.
    ValueError
        A bad `out`.

    See Also
    --------
    sigmoid_backward, softplus

    Notes
    -----
    ``exp`` is only ever taken of ``-|x|``: for ``x < 0`` the value is
    ``e / (1 + e)`` with ``e = exp(x)``, so nothing overflows and tiny
    results keep their relative precision.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import sigmoid
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    return _forward(_SIGMOID, x, 1.0, out, workers)


def sigmoid_backward(grad_out, x, out=None, workers=None):
    """Gradient of `sigmoid`: ``grad_out * s * (1 - s)``, ``s = sigmoid(x)``.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to ``sigmoid(x)``; shape of `x`.
    x : array_like
        The forward input.
    out : ndarray, optional
        Where to write the result.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray

    Raises
    ------
    ValueError
        Shapes that differ, a bad `out`.
    TypeError
        Complex or non-numeric input.

    See Also
    --------
    sigmoid

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import sigmoid_backward
    >>> sigmoid_backward(np.ones(1), np.zeros(1))
    array([0.25])
    """
    return _backward(_SIGMOID, grad_out, x, 1.0, out, workers)


def softplus(x, k=1.0, out=None, workers=None):
    """Softplus ``log(1 + exp(k x)) / k``, elementwise, computed stably.

    Parameters
    ----------
    x : array_like
        Any shape. float32/float64 kept; integers and bools compute in float64.
    k : float, optional
        Sharpness, ``k > 0`` (PyTorch's `beta`); ``k -> inf`` tends to `relu`.
    out : ndarray, optional
        Where to write the result; may be `x`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    y : ndarray

    Raises
    ------
    ValueError
        ``k <= 0`` or not finite, a bad `out`.
    TypeError
        Non-real `k`, complex or non-numeric input.

    See Also
    --------
    softplus_backward, relu, smooth_abs

    Notes
    -----
    Computed as ``(log1p(exp(-|k x|)) + max(k x, 0)) / k``: no overflow for
    large ``|x|`` and full precision where it is tiny. Unlike
    ``torch.nn.functional.softplus(x, beta=k)`` there is no ``threshold``
    (PyTorch returns ``x`` itself once ``k x > 20``; the two differ there by
    less than ``exp(-20) / k``).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import softplus
    >>> softplus(np.array([0.0, 1000.0]))
    array([6.93147181e-01, 1.00000000e+03])
    """
    return _forward(_SOFTPLUS, x, _k(k), out, workers)


def softplus_backward(grad_out, x, k=1.0, out=None, workers=None):
    """Gradient of `softplus`: ``grad_out * sigmoid(k x)``.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to ``softplus(x, k)``; shape of `x`.
    x : array_like
        The forward input.
    k : float, optional
        As given to `softplus`.
    out : ndarray, optional
        Where to write the result.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray

    Raises
    ------
    ValueError
        Shapes that differ, a bad `k` or `out`.
    TypeError
        Complex or non-numeric input.

    See Also
    --------
    softplus

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import softplus_backward
    >>> softplus_backward(np.ones(1), np.zeros(1), k=2.0)
    array([0.5])
    """
    return _backward(_SOFTPLUS, grad_out, x, _k(k), out, workers)


def abs_rectify(x, out=None, workers=None):
    """Absolute-value rectification ``|x|`` (Jarrett et al. 2009), elementwise.

    Parameters
    ----------
    x : array_like
        Any shape. float32/float64 kept; integers and bools compute in float64.
    out : ndarray, optional
        Where to write the result; may be `x`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    y : ndarray

    Raises
    ------
    TypeError
        Complex or non-numeric input.
    ValueError
        A bad `out`.

    See Also
    --------
    abs_rectify_backward, smooth_abs

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import abs_rectify
    >>> abs_rectify(np.array([-2.0, 0.0, 3.0]))
    array([2., 0., 3.])
    """
    return _forward(_ABS, x, 1.0, out, workers)


def abs_rectify_backward(grad_out, x, out=None, workers=None):
    """Gradient of `abs_rectify`: ``grad_out * sign(x)``, 0 at ``x = 0``.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to ``|x|``; shape of `x`.
    x : array_like
        The forward input.
    out : ndarray, optional
        Where to write the result.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray

    Raises
    ------
    ValueError
        Shapes that differ, a bad `out`.
    TypeError
        Complex or non-numeric input.

    See Also
    --------
    abs_rectify

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import abs_rectify_backward
    >>> abs_rectify_backward(np.ones(3), np.array([-2.0, 0.0, 3.0]))
    array([-1.,  0.,  1.])
    """
    return _backward(_ABS, grad_out, x, 1.0, out, workers)


def smooth_abs(x, k=1.0, out=None, workers=None):
    """Smooth absolute value ``log(exp(k x) + exp(-k x)) / k``, elementwise.

    Parameters
    ----------
    x : array_like
        Any shape. float32/float64 kept; integers and bools compute in float64.
    k : float, optional
        Sharpness, ``k > 0``; ``k -> inf`` tends to ``|x|``.
    out : ndarray, optional
        Where to write the result; may be `x`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    y : ndarray
        ``>= |x|``; ``log(2) / k`` at 0.

    Raises
    ------
    ValueError
        ``k <= 0`` or not finite, a bad `out`.
    TypeError
        Non-real `k`, complex or non-numeric input.

    See Also
    --------
    smooth_abs_backward, abs_rectify, softplus

    Notes
    -----
    Computed as ``|x| + log1p(exp(-2 k |x|)) / k``, which never overflows;
    ``smooth_abs(x, k) = log(2 cosh(k x)) / k = softplus(2 x, k) - x``.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import smooth_abs
    >>> smooth_abs(np.array([-1000.0, 0.0]))
    array([1.00000000e+03, 6.93147181e-01])
    """
    return _forward(_SMOOTH_ABS, x, _k(k), out, workers)


def smooth_abs_backward(grad_out, x, k=1.0, out=None, workers=None):
    """Gradient of `smooth_abs`: ``grad_out * tanh(k x)``.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to ``smooth_abs(x, k)``; shape of `x`.
    x : array_like
        The forward input.
    k : float, optional
        As given to `smooth_abs`.
    out : ndarray, optional
        Where to write the result.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray

    Raises
    ------
    ValueError
        Shapes that differ, a bad `k` or `out`.
    TypeError
        Complex or non-numeric input.

    See Also
    --------
    smooth_abs

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.activations import smooth_abs_backward
    >>> smooth_abs_backward(np.ones(2), np.array([-1000.0, 0.0]))
    array([-1.,  0.])
    """
    return _backward(_SMOOTH_ABS, grad_out, x, _k(k), out, workers)
