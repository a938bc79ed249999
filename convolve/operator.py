"""Convolution as a :class:`scipy.sparse.linalg.LinearOperator`.

``ConvOperator`` wraps :func:`convolve.signal.convolve` (or ``correlate``)
with a fixed kernel as a matrix-free linear map on flattened arrays, with
its exact adjoint (:func:`convolve.signal.convolve_vjp` with respect
to the first input), for iterative solvers such as
:func:`scipy.sparse.linalg.lsqr`, ``cg`` or ``gmres`` (deconvolution,
deblurring, regularized inverse problems).
"""
import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import signal as _sig
from ._signal_vjp import _conv_vjp, _flip, _prepare

__all__ = ["ConvOperator"]


class ConvOperator(LinearOperator):
    """Convolution (or correlation) by a fixed kernel as a linear operator.

    ``A @ x.ravel() == convolve(x, kernel, mode, boundary=boundary,
    axes=axes).ravel()`` for ``x`` of shape `input_shape`, and
    ``A.H @ y`` (``rmatvec``) is its exact adjoint.

    Parameters
    ----------
    kernel : array_like
        The kernel (``in2`` of :func:`convolve.signal.convolve`), with as many
        dimensions as `input_shape`. With `axes`, its extent along the other
        (batch) axes must be 1 or equal to the input's.
    input_shape : tuple of int
        Shape of the unflattened input.
    mode : {'full', 'valid', 'same'}, default 'same'
        Output mode, as :func:`convolve.signal.convolve`.
    boundary : str, default 'fill'
        Extension of the input: ``'fill'`` (zeros), ``'wrap'``, ``'symm'``,
        ``'reflect'``, ``'nearest'`` (and aliases). The operator is linear
        for each of them (``'fill'`` uses zeros).
    correlate : bool, default False
        Correlate with the kernel instead of convolving.
    axes : int or sequence of int, optional
        Axes convolved over (default all); the others are batch axes (for
        example channels, each convolved independently).
    dtype : dtype, optional
        Operator dtype; default ``result_type(kernel, float64)``.
    workers : int, optional
        Threads.

    Attributes
    ----------
    input_shape, output_shape : tuple of int
        Unflattened shapes of the operand and the result.
    shape : (int, int)
        ``(prod(output_shape), prod(input_shape))``.

    Notes
    -----
    ``matvec`` and ``rmatvec`` run the direct method of
    :func:`convolve.signal.convolve`; ``matmat`` applies them column by
    column. For complex kernels ``rmatvec`` is the conjugate transpose.

    See Also
    --------
    convolve.signal.convolve, convolve.signal.convolve_vjp

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse.linalg import lsqr
    >>> from convolve.operator import ConvOperator
    >>> k = np.array([0.25, 0.5, 0.25])
    >>> A = ConvOperator(k, (50,), mode='full')
    >>> A.shape
    (52, 50)
    >>> x = np.sin(np.linspace(0, 3, 50))
    >>> x_hat = lsqr(A, A @ x, atol=1e-14, btol=1e-14, iter_lim=500)[0]
    >>> bool(np.allclose(x_hat, x, atol=1e-6))
    True
    """

    def __init__(self, kernel, input_shape, mode="same", boundary="fill", *,
                 correlate=False, axes=None, dtype=None, workers=None):
        kernel = np.asarray(kernel)
        input_shape = tuple(int(n) for n in np.atleast_1d(input_shape))
        if kernel.ndim != len(input_shape):
            raise ValueError(f"kernel has {kernel.ndim} dimensions, input_shape "
                             f"{len(input_shape)}")
        _sig._check_mode(mode)
        _sig._check_boundary(boundary)
        if dtype is None:
            dtype = np.result_type(kernel, np.float64)
        dtype = np.dtype(dtype)
        self.kernel = kernel.astype(np.result_type(kernel, dtype), copy=False)
        self.input_shape = input_shape
        self.mode, self.boundary, self.correlate = mode, boundary, bool(correlate)
        self.axes, self.workers = axes, workers
        probe = np.zeros(input_shape, dtype=dtype)
        self.output_shape = self._forward(probe).shape
        super().__init__(dtype, (int(np.prod(self.output_shape)), int(np.prod(input_shape))))

    def _forward(self, x):
        f = _sig.correlate if self.correlate else _sig.convolve
        return f(x, self.kernel, mode=self.mode, method="direct", axes=self.axes,
                 boundary=self.boundary, workers=self.workers)

    def _matvec(self, x):
        x = np.asarray(x).reshape(self.input_shape)
        return self._forward(x).ravel()

    def _rmatvec(self, y):
        y = np.asarray(y).reshape(self.output_shape)
        x0 = np.zeros(self.input_shape, dtype=np.result_type(y, self.kernel))
        g, x0, k = _prepare(y, x0, self.kernel)
        if self.correlate:
            k = _flip(np.conj(k), _sig._norm_axes(self.axes, k.ndim))
        g1, _ = _conv_vjp(g, x0, k, self.mode, self.axes, self.boundary, 0, self.workers,
                          needs=(True, False))
        return np.broadcast_to(g1, self.input_shape).ravel()

    def _matmat(self, X):
        return np.column_stack([self._matvec(c) for c in np.asarray(X).T])

    def _rmatmat(self, Y):
        return np.column_stack([self._rmatvec(c) for c in np.asarray(Y).T])
