"""Vector-Jacobian products (gradients) of :func:`convolve.signal.convolve`
and :func:`convolve.signal.correlate`.

Every mode and boundary reduces to one identity: with ``P`` the copy of
`in1` extended along the convolved axes by the boundary rule (``lo`` and
``hi`` extra elements per axis, ``lo = n2 - 1 - start``), the output is

``out = convolve(P, in2, mode='valid')``.

So the gradients are

- ``grad_P = correlate(grad_out, in2, mode='full')`` (the adjoint of a
  'valid' convolution), folded back onto `in1` by the adjoint of the
  extension (each extended position adds its gradient to the element of
  `in1` it copies; the constant part of ``'fill'`` has no gradient);
- ``grad_in2 = convolve(flip(conj(P)), grad_out, mode='valid')``.

Correlation is convolution with ``flip(conj(in2))``. Both are computed by
:mod:`convolve.signal`'s own functions (``method='direct'``).

Complex convention: the gradients are those of PyTorch for complex
tensors, i.e. for a real loss ``L`` whose ``grad_out`` is ``g``,
``dL = Re(vdot(grad_in1, d_in1)) + Re(vdot(grad_in2, d_in2))``. For maps
linear in an input (`in1` of both functions, `in2` of ``convolve``) the
gradient is the adjoint applied to ``g``: ``conj(J).T @ g``, i.e.
``vdot(y, A x) == vdot(A^H y, x)``. ``correlate`` is conjugate-linear in
`in2`; its gradient is ``flip(conj(A^H g))`` with ``A`` the convolution by
``P``, which satisfies the same ``Re(vdot)`` identity.
"""
import numpy as np

from . import signal as _sig

__all__ = ["convolve_vjp", "correlate_vjp"]


def _fold_pad(gp, in_shape_sp, pairs, pad_mode, axes):
    """Adjoint of ``numpy.pad(x, pairs, mode=pad_mode)`` along `axes` of `gp`."""
    g = gp
    for ax, n, (lo, hi) in zip(axes, in_shape_sp, pairs):
        if lo == 0 and hi == 0:
            continue
        if pad_mode == "constant":
            g = g[(slice(None),) * ax + (slice(lo, lo + n),)]
            continue
        idx = np.pad(np.arange(n), (lo, hi), mode=pad_mode)
        gm = np.moveaxis(g, ax, 0)
        res = np.zeros((n,) + gm.shape[1:], dtype=g.dtype)
        np.add.at(res, idx, gm)
        g = np.moveaxis(res, 0, ax)
    return g


def _sum_to(g, shape):
    """Sum `g` over the axes where `shape` has extent 1 (broadcast batch axes)."""
    red = tuple(i for i, (s, t) in enumerate(zip(shape, g.shape)) if s == 1 and t != 1)
    if red:
        g = g.sum(axis=red, keepdims=True)
    return g


def _flip(a, axes):
    return a[tuple(slice(None, None, -1) if i in axes else slice(None)
                   for i in range(a.ndim))]


def _conv_vjp(g, in1, in2, mode, axes, boundary, fillvalue, workers, needs=(True, True)):
    """(grad_in1, grad_in2) of ``convolve(in1, in2, mode, axes=..., boundary=...)``."""
    pad_mode = _sig._check_boundary(boundary)
    _sig._check_mode(mode)
    if in1.ndim != in2.ndim:
        raise ValueError("in1 and in2 should have the same dimensionality")
    if in1.ndim == 0:
        return g * np.conj(in2), g * np.conj(in1)
    axes = _sig._norm_axes(axes, in1.ndim)
    s1 = [in1.shape[i] for i in axes]
    s2 = [in2.shape[i] for i in axes]
    if mode == "valid" and not all(i >= j for i, j in zip(s1, s2)):
        if all(j >= i for i, j in zip(s1, s2)):
            # SciPy swaps the inputs; no boundary is involved in 'valid'
            g2, g1 = _conv_vjp(g, in2, in1, mode, axes, "fill", 0, workers, needs[::-1])
            return g1, g2
        raise ValueError("For 'valid' mode, one must be at least as large as the "
                         "other in every dimension")
    if mode == "valid":
        start = [j - 1 for j in s2]
        length = [i - j + 1 for i, j in zip(s1, s2)]
    elif mode == "full":
        start = [0] * len(s1)
        length = [i + j - 1 for i, j in zip(s1, s2)]
    else:
        start = [(j - 1) // 2 for j in s2]
        length = list(s1)
    lo = [j - 1 - s for j, s in zip(s2, start)]
    hi = [s + n - i for s, n, i in zip(start, length, s1)]
    full_pairs = [(0, 0)] * in1.ndim
    for ax, l, h in zip(axes, lo, hi):
        full_pairs[ax] = (l, h)
    kw = {"constant_values": fillvalue} if pad_mode == "constant" else {}
    P = in1
    if needs[1] and any(lo + hi):
        P = np.pad(in1, full_pairs, mode=pad_mode, **kw)
    g = np.asarray(g)
    if g.ndim != in1.ndim:
        raise ValueError(f"grad_out must have {in1.ndim} dimensions, got {g.ndim}")
    # grad with respect to the extended input P, then folded back onto in1
    g1 = g2 = None
    if needs[0]:
        gP = _sig.correlate(g, in2, mode="full", method="direct", axes=axes, workers=workers)
        g1 = _sum_to(_fold_pad(gP, s1, list(zip(lo, hi)), pad_mode, axes), in1.shape)
    if needs[1]:
        g2 = _sig.convolve(_flip(np.conj(P), axes), g, mode="valid", method="direct",
                           axes=axes, workers=workers)
        g2 = _sum_to(g2, in2.shape)
    return g1, g2


def _prepare(grad_out, in1, in2):
    in1, in2, g = np.asarray(in1), np.asarray(in2), np.asarray(grad_out)
    rt = np.result_type(in1, in2, g)
    if rt.kind in "biu":
        rt = np.dtype(np.float64)
    return g.astype(rt, copy=False), in1.astype(rt, copy=False), in2.astype(rt, copy=False)


def convolve_vjp(grad_out, in1, in2, mode="full", *, axes=None, boundary="fill",
                 fillvalue=0, workers=None):
    """Gradients of :func:`convolve.signal.convolve` with respect to both inputs.

    Given ``out = convolve(in1, in2, mode, axes=axes, boundary=boundary,
    fillvalue=fillvalue)`` and ``grad_out`` (the gradient of a loss with
    respect to ``out``), returns the vector-Jacobian products
    ``(grad_in1, grad_in2)``. The map is linear in each input, so
    ``grad_in1`` is the adjoint (transpose, conjugate transpose for complex)
    of ``x -> convolve(x, in2, ...)`` applied to `grad_out`, and likewise
    for `in2`.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the output; shape of the forward output.
    in1, in2 : array_like
        The forward inputs (same number of dimensions).
    mode : {'full', 'valid', 'same'}, default 'full'
        The forward mode (``'same'`` is centred at ``(n2 - 1) // 2``).
    axes : int or sequence of int, optional
        The forward's convolved axes; other axes are batch axes, and the
        gradient of an input broadcast along one is summed over it.
    boundary : str, default 'fill'
        The forward's extension of `in1` (``'fill'``, ``'wrap'``, ``'symm'``,
        ``'reflect'``, ``'nearest'`` and their aliases). Gradients that land
        on extended positions fold back onto the elements they copy.
    fillvalue : scalar, default 0
        The forward's fill value. The constant part has no gradient, but it
        enters ``grad_in2``.
    workers : int, optional
        Threads.

    Returns
    -------
    grad_in1 : ndarray
        Shape of `in1`.
    grad_in2 : ndarray
        Shape of `in2`.

    Notes
    -----
    Complex inputs follow PyTorch's convention: ``grad = conj(J).T @ grad_out``
    (the adjoint), so that for a real loss
    ``dL = Re(vdot(grad_in1, d_in1) + vdot(grad_in2, d_in2))``.
    Integer inputs are computed in float64.

    See Also
    --------
    correlate_vjp, convolve.operator.ConvOperator

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.signal import convolve_vjp
    >>> x, k = np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0])
    >>> g = np.array([1.0, 0.0, 0.0, 0.0])   # loss = convolve(x, k)[0]
    >>> gx, gk = convolve_vjp(g, x, k)
    >>> gx
    array([1., 0., 0.])
    >>> gk
    array([1., 0.])
    >>> gx, gk = convolve_vjp(np.ones(3), x, k, mode='same', boundary='symm')
    >>> gx                  # sum(out) = x[2] - x[0] with the edge repeated
    array([-1.,  0.,  1.])
    """
    g, in1, in2 = _prepare(grad_out, in1, in2)
    return _conv_vjp(g, in1, in2, mode, axes, boundary, fillvalue, workers)


def correlate_vjp(grad_out, in1, in2, mode="full", *, axes=None, boundary="fill",
                  fillvalue=0, workers=None):
    """Gradients of :func:`convolve.signal.correlate` with respect to both inputs.

    ``correlate(in1, in2) == convolve(in1, flip(conj(in2)))`` along `axes`;
    the gradients follow from :func:`convolve_vjp`.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the output; shape of the forward output.
    in1, in2 : array_like
        The forward inputs.
    mode : {'full', 'valid', 'same'}, default 'full'
        The forward mode.
    axes : int or sequence of int, optional
        The forward's correlated axes; gradients are summed over the batch
        axes an input is broadcast along.
    boundary : str, default 'fill'
        The forward's extension of `in1`.
    fillvalue : scalar, default 0
        The forward's fill value.
    workers : int, optional
        Threads.

    Returns
    -------
    grad_in1, grad_in2 : ndarray
        Shapes of `in1` and `in2`.

    Notes
    -----
    PyTorch's complex convention: for a real loss,
    ``dL = Re(vdot(grad_in1, d_in1) + vdot(grad_in2, d_in2))``. ``grad_in1``
    is the adjoint of ``x -> correlate(x, in2)`` applied to `grad_out`;
    correlation is conjugate-linear in `in2`, and ``grad_in2`` is
    ``flip(conj(.))`` of the adjoint of the convolution by `in1`.

    See Also
    --------
    convolve_vjp

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.signal import correlate_vjp
    >>> x, k = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0])
    >>> gx, gk = correlate_vjp(np.ones(3), x, k, mode='valid')
    >>> gx
    array([1., 2., 2., 1.])
    >>> gk
    array([6., 9.])
    """
    g, in1, in2 = _prepare(grad_out, in1, in2)
    axes_n = _sig._norm_axes(axes, in1.ndim) if in1.ndim else []
    w = _flip(np.conj(in2), axes_n)
    g1, gw = _conv_vjp(g, in1, w, mode, axes, boundary, fillvalue, workers)
    return g1, _flip(np.conj(gw), axes_n)
