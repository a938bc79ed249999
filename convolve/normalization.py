"""Local normalization, forward and backward: ``local_response_norm`` (AlexNet,
across channels) and ``local_contrast_norm`` (Jarrett et al. 2009, over a
Gaussian neighbourhood in space and across channels).

Local response normalization, window of channel ``c`` (zero padded)::

    channels   0   1   2   3   4   5   6            size = 5
                       [ c-2 ... c ... c+2 ]        c - size//2 .. c + (size-1)//2
    y_c = x_c / (k + alpha/size * sum_{j in window} x_j**2) ** beta

Local contrast normalization, for (N, C, H, W) input, with ``w`` a Gaussian
window over space (``size x size``, normalized to sum 1) and the sum over
``(c, p, q)`` weighted ``w_pq / C`` (so all weights sum to 1)::

    v      = x - sum_{c,p,q} w_pq / C * x[c, i+p, j+q]          subtractive
    sigma  = sqrt(sum_{c,p,q} w_pq / C * v[c, i+p, j+q]**2)
    y      = v / max(mean_ij(sigma), sigma_ij, eps)            divisive

``local_response_norm`` runs in ``convolve._nnops`` (one pass over the data,
parallel over (image, block of positions)); ``local_contrast_norm`` composes
:func:`convolve.functional.conv2d` and its adjoint.
"""
import math
import numbers

import numpy as np

from . import _nnops
from ._threads import resolve_workers
from ._validate import nn_dtype

__all__ = ["local_response_norm", "local_response_norm_backward",
           "local_contrast_norm", "local_contrast_norm_backward"]


def _array(x, name):
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    x = np.asarray(x)
    if x.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got dtype object")
    return x


def _real(v, name, positive=False):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.floating,
                                                             np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if positive and v <= 0:
        raise ValueError(f"{name} must be positive, got {v}")
    return v


def _int(v, name):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    v = int(v)
    if v < 1:
        raise ValueError(f"{name} must be a positive int, got {v}")
    return v


def _lrn_args(x, size, alpha, beta, k):
    if x.ndim < 3:
        raise ValueError(f"x must have at least 3 dimensions (N, C, *spatial), got shape "
                         f"{x.shape}")
    return _int(size, "size"), _real(alpha, "alpha"), _real(beta, "beta"), _real(k, "k")


def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0, workers=None):
    """Local response normalization across channels (PyTorch's, AlexNet's).

    ``y[:, c] = x[:, c] / (k + alpha/size * sum_j x[:, j]**2) ** beta`` with
    ``j`` over ``c - size//2 .. c + (size-1)//2`` clipped to the channels
    (the squares are zero padded).

    Parameters
    ----------
    x : array_like
        Shape (N, C, \\*spatial), at least 3 dimensions. float32/float64 kept;
        integers compute in float64.
    size : int, optional
        Number of channels in the window.
    alpha, beta, k : float, optional
        The scale, exponent and additive constant.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    y : ndarray
        Shape and dtype of `x` (after the dtype rule).

    Raises
    ------
    ValueError
        Fewer than 3 dimensions, ``size < 1``, non-finite parameters.
    TypeError
        Non-integer `size`, non-real parameters, complex or non-numeric input.

    See Also
    --------
    local_response_norm_backward, local_contrast_norm

    Notes
    -----
    Matches ``torch.nn.functional.local_response_norm``. Computed in one pass
    per (image, block of spatial positions); the window sum is re-added for
    every channel in a fixed order (no running sum that could drift), and
    ``beta`` in {0.5, 0.75, 1} avoids ``pow``. A base ``k + ...`` that is
    negative or zero gives NaN or inf, as ``pow`` does.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.normalization import local_response_norm
    >>> x = np.ones((1, 3, 1, 1))
    >>> local_response_norm(x, size=3, alpha=3.0, beta=1.0, k=1.0).ravel()
    array([0.33333333, 0.25      , 0.33333333])
    """
    x = _array(x, "x")
    dt = nn_dtype(x)
    size, alpha, beta, k = _lrn_args(x, size, alpha, beta, k)
    N, C = x.shape[:2]
    x3 = np.ascontiguousarray(x, dtype=dt).reshape(N, C, math.prod(x.shape[2:]))
    out = np.empty(x3.shape, dtype=dt)
    n = resolve_workers(workers, x3.size * (size + 8))
    _nnops.lrn_forward(x3, out, size, alpha, beta, k, n)
    return out.reshape(x.shape)


def local_response_norm_backward(grad_out, x, size=5, alpha=1e-4, beta=0.75, k=2.0,
                                 workers=None):
    """Gradient of `local_response_norm` with respect to its input `x`.

    With ``t_c = k + alpha/size * sum_{j in win(c)} x_j**2``::

        grad_x_j = grad_out_j * t_j**-beta
                   - 2*alpha*beta/size * x_j
                     * sum_{c: j in win(c)} grad_out_c x_c t_c**(-beta-1)

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the output; shape of `x`.
    x : array_like
        The forward input.
    size, alpha, beta, k
        As given to `local_response_norm`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape of `x`.

    Raises
    ------
    ValueError, TypeError
        As `local_response_norm`, and `grad_out` not of the shape of `x`.

    See Also
    --------
    local_response_norm

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.normalization import local_response_norm_backward
    >>> g = local_response_norm_backward(np.ones((1, 1, 1)), np.ones((1, 1, 1)),
    ...                                  size=1, alpha=1.0, beta=1.0, k=1.0)
    >>> g.ravel()    # d/dx x / (1 + x**2) at x = 1
    array([0.])
    """
    g = _array(grad_out, "grad_out")
    x = _array(x, "x")
    dt = nn_dtype(g, x)
    size, alpha, beta, k = _lrn_args(x, size, alpha, beta, k)
    if g.shape != x.shape:
        raise ValueError(f"grad_out must have the shape of x {x.shape}, got {g.shape}")
    N, C = x.shape[:2]
    x3 = np.ascontiguousarray(x, dtype=dt).reshape(N, C, math.prod(x.shape[2:]))
    g3 = np.ascontiguousarray(g, dtype=dt).reshape(x3.shape)
    gx = np.empty(x3.shape, dtype=dt)
    n = resolve_workers(workers, x3.size * (2 * size + 12))
    _nnops.lrn_backward(g3, x3, gx, size, alpha, beta, k, n)
    return gx.reshape(x.shape)


# ----------------------------------------------------- local contrast normalization
def _lcn_args(x, sigma, size, eps, name="x"):
    if x.ndim not in (3, 4):
        raise ValueError(f"{name} must have 4 dimensions (N, C, H, W) or 3 (C, H, W), got "
                         f"shape {x.shape}")
    sigma = _real(sigma, "sigma", positive=True)
    eps = _real(eps, "eps")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if size is None:
        size = 2 * math.ceil(2 * sigma) + 1
    size = _int(size, "size")
    if size % 2 == 0:
        raise ValueError(f"size must be odd (a centred window), got {size}")
    r = size // 2
    t = np.arange(-r, r + 1, dtype=np.float64)
    g1 = np.exp(-t * t / (2 * sigma * sigma))
    w = np.outer(g1, g1)
    w /= w.sum()
    return w, r, eps


class _LCN:
    """The pieces of the forward pass, kept for the backward."""

    def __init__(self, x, sigma, size, eps, workers):
        from . import functional as F
        self.F = F
        self.workers = workers
        w, r, eps = _lcn_args(x, sigma, size, eps)
        dt = nn_dtype(x)
        self.unbatched = x.ndim == 3
        x = np.asarray(x, dtype=dt)
        self.x = x[None] if self.unbatched else x
        self.w = w.astype(dt).reshape(1, 1, *w.shape)
        self.r, self.eps = r, eps
        self.m = self.A(self.x)
        self.v = self.x - self.m
        self.sig = np.sqrt(np.maximum(self.A(self.v * self.v), 0))
        self.msig = self.sig.mean(axis=(2, 3), keepdims=True)
        self.d = np.maximum(np.maximum(self.msig, self.sig), dt.type(eps))

    def A(self, z):
        """(N, C, H, W) -> (N, 1, H, W): the Gaussian-weighted mean over (c, p, q)."""
        return self.F.conv2d(z.mean(axis=1, keepdims=True), self.w, padding=self.r,
                             workers=self.workers)

    def AT(self, g):
        """The adjoint of `A`: (N, 1, H, W) -> (N, C, H, W) (broadcast)."""
        N, C, H, W = self.x.shape
        t = self.F.conv2d_input_grad(g, self.w, (N, 1, H, W), padding=self.r,
                                     workers=self.workers)
        return t / C

    def forward(self):
        y = self.v / self.d
        return y[0] if self.unbatched else y

    def backward(self, gy):
        gy = gy[None] if self.unbatched else gy
        v, d, sig, msig = self.v, self.d, self.sig, self.msig
        H, W = v.shape[2:]
        gv = gy / d
        gd = -(gy * v).sum(axis=1, keepdims=True) / (d * d)
        # the branch that max() took; ties go to sigma_ij, then to the mean
        local = (sig >= msig) & (sig >= self.eps)
        mean = ~local & (msig >= self.eps)
        gsig = np.where(local, gd, 0) + np.where(mean, gd, 0).sum(
            axis=(2, 3), keepdims=True) / (H * W)
        pos = sig > 0
        gs2 = np.where(pos, gsig / np.where(pos, 2 * sig, 1), 0).astype(v.dtype)
        gv = gv + 2 * v * self.AT(gs2)
        gx = gv - self.AT(gv.sum(axis=1, keepdims=True))
        return gx[0] if self.unbatched else gx


def local_contrast_norm(x, sigma=1.0, size=None, eps=1e-4, workers=None):
    """Local contrast normalization (Jarrett et al. 2009): subtract a Gaussian
    weighted local mean, then divide by the local standard deviation.

    Parameters
    ----------
    x : array_like
        Shape (N, C, H, W), or unbatched (C, H, W). float32/float64 kept;
        integers compute in float64.
    sigma : float, optional
        Standard deviation (pixels) of the Gaussian window, ``> 0``.
    size : int, optional
        Odd window width; default ``2*ceil(2*sigma) + 1``.
    eps : float, optional
        Floor of the divisor, ``>= 0``.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    y : ndarray
        Shape of `x`.

    Raises
    ------
    ValueError
        Wrong number of dimensions, ``sigma <= 0``, even or non-positive
        `size`, negative `eps`.
    TypeError
        Non-real parameters, complex or non-numeric input.

    See Also
    --------
    local_contrast_norm_backward, local_response_norm

    Notes
    -----
    With ``w`` the ``size x size`` Gaussian normalized to sum 1, and sums
    over all channels ``c`` and window offsets ``(p, q)`` (zero padding,
    'same' output)::

        v_cij   = x_cij - sum_{c,p,q} w_pq / C * x_{c,i+p,j+q}
        s_ij    = sqrt(sum_{c,p,q} w_pq / C * v_{c,i+p,j+q}**2)
        y_cij   = v_cij / max(mean_ij(s), s_ij, eps)

    ``mean_ij(s)`` is taken per image. Near the border the zero padding
    lowers both sums (the weights are not renormalized).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.normalization import local_contrast_norm
    >>> x = np.random.default_rng(0).standard_normal((1, 3, 8, 8))
    >>> y = local_contrast_norm(x, sigma=1.0)
    >>> y.shape, bool(np.abs(y).max() < 10)
    ((1, 3, 8, 8), True)
    >>> float(np.abs(local_contrast_norm(np.full((1, 1, 5, 5), 7.0), size=1)).max())
    0.0
    """
    x = _array(x, "x")
    nn_dtype(x)
    return _LCN(x, sigma, size, eps, workers).forward()


def local_contrast_norm_backward(grad_out, x, sigma=1.0, size=None, eps=1e-4, workers=None):
    """Gradient of `local_contrast_norm` with respect to its input `x` (exact).

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the output; shape of `x`.
    x : array_like
        The forward input.
    sigma, size, eps
        As given to `local_contrast_norm`.
    workers : int, optional
        Threads (None: the default, -1: all usable CPUs).

    Returns
    -------
    grad_x : ndarray
        Shape of `x`.

    Raises
    ------
    ValueError, TypeError
        As `local_contrast_norm`, and `grad_out` not of the shape of `x`.

    See Also
    --------
    local_contrast_norm

    Notes
    -----
    The divisor ``max(mean(s), s_ij, eps)`` is differentiated along the branch
    it takes; at a tie the subgradient of the first of ``s_ij``, ``mean(s)``
    (in that order) that attains the maximum is used, and none (a constant
    divisor) when ``eps`` alone is the maximum. Where ``s_ij = 0`` the square
    root's infinite derivative is replaced by 0.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.normalization import local_contrast_norm_backward
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 6, 6))
    >>> local_contrast_norm_backward(np.ones_like(x), x).shape
    (1, 2, 6, 6)
    """
    g = _array(grad_out, "grad_out")
    x = _array(x, "x")
    dt = nn_dtype(g, x)
    if g.shape != x.shape:
        raise ValueError(f"grad_out must have the shape of x {x.shape}, got {g.shape}")
    lcn = _LCN(np.asarray(x, dtype=dt), sigma, size, eps, workers)
    return lcn.backward(np.asarray(g, dtype=dt))
