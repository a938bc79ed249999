"""Classic image-filter kernels and a separable 2-D filter.

Every kernel is a plain NumPy array meant to be used with **true
convolution** (:func:`convolve.signal.convolve2d`, :func:`convolve.convolve`),
as in SciPy: the array is the filter's impulse response, so that
``convolve2d(delta, k, mode='same')`` returns ``k`` itself. Index ``[i, j]``
of a kernel of size ``(2r + 1, 2r + 1)`` holds the response at row offset
``y = i - r`` (rows grow downwards, as in images) and column offset
``x = j - r``. For the cross-correlation convention of deep-learning
libraries (:func:`convolve.functional.conv2d`, :func:`convolve.correlate2d`),
flip the kernel: ``k[::-1, ::-1]``; the symmetric kernels (``box``,
``gaussian``, ``sharpen``, ``laplacian``) are their own flips.

Kernels are float64 by default; ``dtype=`` picks another floating type, and
the integer-valued ones (:func:`sobel`, :func:`laplacian`) also accept an
integer dtype, which keeps integer filtering exact.
"""
import math
import numbers

import numpy as np

__all__ = ["box", "gaussian", "sobel", "sharpen", "laplacian", "gabor", "separable_conv2d"]


# ----------------------------------------------------------------------------
# argument checks (each error names the argument and the rule)
# ----------------------------------------------------------------------------

def _check_int(value, name, *, odd=False, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        rule = "a positive odd integer" if odd else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    value = int(value)
    if value < minimum or (odd and value % 2 == 0):
        rule = "a positive odd integer" if odd else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {rule}, got {value}")
    return value


def _check_real(value, name, *, positive=False, nonnegative=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _check_dtype(dtype, *, integer_ok=False):
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be a NumPy dtype, got {dtype!r}") from exc
    kinds = "fiu" if integer_ok else "f"
    if dt.kind not in kinds:
        rule = "a real floating or integer dtype" if integer_ok else "a real floating dtype"
        raise ValueError(f"dtype must be {rule}, got {dt}")
    return dt


def _default_size(sigma):
    # +-3 sigma holds 99.7 % of a Gaussian's mass
    return 2 * int(math.ceil(3.0 * sigma)) + 1


# ----------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------

def box(size, ndim=2, *, dtype=np.float64):
    """Box (moving-average) kernel: every weight ``1 / size**ndim``.

    Parameters
    ----------
    size : int
        Extent along every axis, ``>= 1``. Even sizes are allowed; their
        ``'same'``-mode output is centred by SciPy's rule (the centre is
        element ``(size - 1) // 2`` of the flipped kernel).
    ndim : int, default 2
        Number of dimensions of the kernel (1 for the separable form).
    dtype : data-type, default float64
        A real floating dtype.

    Returns
    -------
    ndarray, shape ``(size,) * ndim``
        Weights summing to 1.

    Raises
    ------
    ValueError
        `size` or `ndim` not a positive integer; `dtype` not floating.

    See Also
    --------
    gaussian : Smoother low-pass kernel.
    separable_conv2d : Apply ``box(size, ndim=1)`` along rows then columns.

    Examples
    --------
    >>> from convolve import kernels
    >>> kernels.box(3)
    array([[0.11111111, 0.11111111, 0.11111111],
           [0.11111111, 0.11111111, 0.11111111],
           [0.11111111, 0.11111111, 0.11111111]])
    >>> kernels.box(4, ndim=1)
    array([0.25, 0.25, 0.25, 0.25])
    """
    size = _check_int(size, "size")
    ndim = _check_int(ndim, "ndim")
    dt = _check_dtype(dtype)
    return np.full((size,) * ndim, 1.0 / size ** ndim, dtype=dt)


def gaussian(sigma, size=None, ndim=2, *, dtype=np.float64):
    """Sampled Gaussian kernel, normalized to sum 1.

    ``k[i] ~ exp(-(i - r)**2 / (2 * sigma**2))`` along each axis, with
    ``r = (size - 1) // 2``; the N-D kernel is the outer product of the 1-D
    ones (the Gaussian is separable), normalized so that its weights sum to 1.

    Parameters
    ----------
    sigma : float
        Standard deviation in samples, ``> 0``.
    size : int, optional
        Extent along every axis, a positive odd integer. Default
        ``2 * ceil(3 * sigma) + 1`` (+-3 sigma).
    ndim : int, default 2
        Number of dimensions of the kernel (1 for the separable form).
    dtype : data-type, default float64
        A real floating dtype.

    Returns
    -------
    ndarray, shape ``(size,) * ndim``
        Symmetric weights summing to 1.

    Raises
    ------
    ValueError
        `sigma` not a finite number ``> 0``; `size` not a positive odd
        integer; `ndim` not a positive integer; `dtype` not floating.

    See Also
    --------
    box : Flat low-pass kernel.
    gabor : Gaussian envelope times a cosine wave.
    separable_conv2d : Apply ``gaussian(sigma, ndim=1)`` along rows then columns.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import kernels
    >>> k = kernels.gaussian(1.0)
    >>> k.shape
    (7, 7)
    >>> print(round(float(k.sum()), 12))
    1.0
    >>> np.round(kernels.gaussian(1.0, size=3, ndim=1), 4)
    array([0.2741, 0.4519, 0.2741])
    """
    sigma = _check_real(sigma, "sigma", positive=True)
    size = _default_size(sigma) if size is None else _check_int(size, "size", odd=True)
    ndim = _check_int(ndim, "ndim")
    dt = _check_dtype(dtype)
    r = (size - 1) // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    k = g
    for _ in range(ndim - 1):
        k = np.multiply.outer(k, g)
    # renormalize after the outer products so the N-D sum is 1 to rounding
    k = k / k.sum()
    return k.astype(dt, copy=False)


def sobel(axis=0, *, dtype=np.float64):
    """3 x 3 Sobel kernel: derivative along `axis`, smoothing across it.

    Orientation: with true convolution (``convolve2d(image, sobel(axis),
    mode='same')``) the response is positive where the intensity *increases*
    with the index along `axis`:

    - ``axis=0`` (vertical gradient, y, rows grow downwards)::

          [[ 1,  2,  1],
           [ 0,  0,  0],
           [-1, -2, -1]]

    - ``axis=1`` (horizontal gradient, x, columns grow to the right)::

          [[ 1,  0, -1],
           [ 2,  0, -2],
           [ 1,  0, -1]]

    This equals :func:`scipy.ndimage.sobel` with the same `axis` (which
    correlates with the flipped array). The weights are not normalized
    (divide by 8 for a unit-slope response).

    Parameters
    ----------
    axis : {0, 1, -1, -2}, default 0
        Axis of differentiation.
    dtype : data-type, default float64
        A real floating or integer dtype.

    Returns
    -------
    ndarray, shape (3, 3)

    Raises
    ------
    ValueError
        `axis` not one of 0, 1, -1, -2; `dtype` not real.

    See Also
    --------
    laplacian : Second-derivative kernel.
    scipy.ndimage.sobel : The same filter in SciPy.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import kernels, signal
    >>> kernels.sobel(1, dtype=int)
    array([[ 1,  0, -1],
           [ 2,  0, -2],
           [ 1,  0, -1]])
    >>> ramp = np.tile(np.arange(5.0), (5, 1))   # increases along columns
    >>> signal.convolve2d(ramp, kernels.sobel(1), mode='valid')
    array([[8., 8., 8.],
           [8., 8., 8.],
           [8., 8., 8.]])
    """
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral) \
            or axis not in (0, 1, -1, -2):
        raise ValueError(f"axis must be 0 or 1 (or -2, -1) for a 2-D kernel, got {axis!r}")
    dt = _check_dtype(dtype, integer_ok=True)
    k = np.outer([1, 0, -1], [1, 2, 1])
    if axis % 2 == 1:
        k = k.T
    return np.ascontiguousarray(k, dtype=dt)


def laplacian(diagonal=False, *, dtype=np.float64):
    """3 x 3 discrete Laplacian (sum of second derivatives).

    ``diagonal=False`` (4-neighbour)::

        [[0,  1, 0],
         [1, -4, 1],
         [0,  1, 0]]

    ``diagonal=True`` (8-neighbour, also uses the diagonals)::

        [[1,  1, 1],
         [1, -8, 1],
         [1,  1, 1]]

    Both are symmetric (convolution and correlation agree) and sum to 0.

    Parameters
    ----------
    diagonal : bool, default False
        Include the diagonal neighbours.
    dtype : data-type, default float64
        A real floating or integer dtype.

    Returns
    -------
    ndarray, shape (3, 3)

    Raises
    ------
    ValueError
        `dtype` not real.

    See Also
    --------
    sharpen : Identity minus a multiple of this kernel.
    scipy.ndimage.laplace : The 4-neighbour filter in SciPy.

    Examples
    --------
    >>> from convolve import kernels
    >>> kernels.laplacian(dtype=int)
    array([[ 0,  1,  0],
           [ 1, -4,  1],
           [ 0,  1,  0]])
    >>> int(kernels.laplacian(diagonal=True).sum())
    0
    """
    dt = _check_dtype(dtype, integer_ok=True)
    if diagonal:
        k = np.ones((3, 3))
        k[1, 1] = -8
    else:
        k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    return np.asarray(k, dtype=dt)


def sharpen(amount=1.0, *, dtype=np.float64):
    """3 x 3 sharpening kernel: identity minus `amount` times the Laplacian.

    ``sharpen(a) = delta - a * laplacian()``, i.e.::

        [[ 0,     -a,  0],
         [-a, 1 + 4a, -a],
         [ 0,     -a,  0]]

    ``amount=1`` is the classic ``[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]``;
    ``amount=0`` is the identity. The weights sum to 1, so flat regions are
    unchanged.

    Parameters
    ----------
    amount : float, default 1.0
        Strength, a finite number ``>= 0``.
    dtype : data-type, default float64
        A real floating dtype.

    Returns
    -------
    ndarray, shape (3, 3)

    Raises
    ------
    ValueError
        `amount` negative, not finite or not a number; `dtype` not floating.

    See Also
    --------
    laplacian : The kernel subtracted.

    Examples
    --------
    >>> from convolve import kernels
    >>> kernels.sharpen()
    array([[ 0., -1.,  0.],
           [-1.,  5., -1.],
           [ 0., -1.,  0.]])
    >>> kernels.sharpen(0.5)
    array([[ 0. , -0.5,  0. ],
           [-0.5,  3. , -0.5],
           [ 0. , -0.5,  0. ]])
    """
    amount = _check_real(amount, "amount", nonnegative=True)
    dt = _check_dtype(dtype)
    k = -amount * np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
    k[1, 1] += 1.0
    return k.astype(dt) + 0.0  # + 0.0 turns -0.0 into 0.0


def gabor(sigma, theta, wavelength, phase=0.0, gamma=1.0, size=None, *, dtype=np.float64):
    """Real part of a 2-D Gabor kernel (Gaussian envelope times a cosine).

    With column offset ``x``, row offset ``y`` (rows grow downwards),
    ``x' = x cos(theta) + y sin(theta)`` and
    ``y' = -x sin(theta) + y cos(theta)``::

        k[y, x] = exp(-(x'**2 + gamma**2 * y'**2) / (2 sigma**2))
                  * cos(2 pi x' / wavelength + phase)

    The wave travels along ``x'``: ``theta=0`` gives vertical stripes
    (responds to intensity changes along x), ``theta=pi/2`` horizontal ones.
    This is the formula of OpenCV's ``cv2.getGaborKernel``, whose array is
    the flip ``k[::-1, ::-1]`` of this one (OpenCV filters by correlation).
    The kernel is not normalized.

    Parameters
    ----------
    sigma : float
        Standard deviation of the envelope along ``x'``, in samples, ``> 0``.
    theta : float
        Orientation of the wave vector, radians, counter-clockwise from the
        x axis as displayed with rows going down.
    wavelength : float
        Period of the cosine in samples, ``> 0``.
    phase : float, default 0
        Phase offset of the cosine in radians (0: even/symmetric kernel,
        ``-pi/2``: odd kernel).
    gamma : float, default 1
        Spatial aspect ratio, ``> 0``: the envelope's standard deviation
        along ``y'`` is ``sigma / gamma``.
    size : int, optional
        Extent of the square kernel, a positive odd integer. Default
        ``2 * ceil(3 * max(sigma, sigma / gamma)) + 1`` (+-3 standard
        deviations along the longer axis of the envelope).
    dtype : data-type, default float64
        A real floating dtype.

    Returns
    -------
    ndarray, shape (size, size)

    Raises
    ------
    ValueError
        `sigma`, `wavelength` or `gamma` not a finite number ``> 0``; `theta`
        or `phase` not finite; `size` not a positive odd integer; `dtype` not
        floating.

    See Also
    --------
    gaussian : The envelope alone.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import kernels
    >>> k = kernels.gabor(sigma=2.0, theta=0.0, wavelength=4.0)
    >>> k.shape
    (13, 13)
    >>> np.round(k[6, 4:9], 3)     # central row: cos(2 pi x / 4) * envelope
    array([-0.607,  0.   ,  1.   ,  0.   , -0.607])
    >>> bool(np.allclose(k, k.T)), bool(np.allclose(k, k[::-1, ::-1]))
    (False, True)
    """
    sigma = _check_real(sigma, "sigma", positive=True)
    theta = _check_real(theta, "theta")
    wavelength = _check_real(wavelength, "wavelength", positive=True)
    phase = _check_real(phase, "phase")
    gamma = _check_real(gamma, "gamma", positive=True)
    if size is None:
        size = _default_size(max(sigma, sigma / gamma))
    else:
        size = _check_int(size, "size", odd=True)
    dt = _check_dtype(dtype)
    r = (size - 1) // 2
    y, x = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    c, s = math.cos(theta), math.sin(theta)
    xr = x * c + y * s
    yr = -x * s + y * c
    k = np.exp(-(xr ** 2 + (gamma * yr) ** 2) / (2.0 * sigma ** 2)) \
        * np.cos(2.0 * math.pi * xr / wavelength + phase)
    return k.astype(dt, copy=False)


# ----------------------------------------------------------------------------
# separable filtering
# ----------------------------------------------------------------------------

def _as_1d(kernel, name):
    k = np.asarray(kernel)
    if k.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {k.shape}")
    if k.size == 0:
        raise ValueError(f"{name} must not be empty")
    return k


def separable_conv2d(image, row_kernel, col_kernel, mode="same", boundary="fill",
                     fillvalue=0, *, workers=None):
    """Convolve a 2-D image with a separable kernel: rows first, then columns.

    Equal (to rounding) to ``convolve2d(image, np.outer(col_kernel,
    row_kernel), mode, boundary, fillvalue)`` but costs ``kh + kw`` instead of
    ``kh * kw`` multiply-adds per output pixel. Each pass is one call to
    :func:`convolve.signal.convolve` with ``axes=``, so it is multi-threaded
    and handles every boundary that function does.

    Parameters
    ----------
    image : array_like, shape (H, W)
        Input image.
    row_kernel : array_like, shape (kw,)
        Kernel applied along each row (axis 1, x).
    col_kernel : array_like, shape (kh,)
        Kernel applied along each column (axis 0, y).
    mode : {'full', 'valid', 'same'}, default 'same'
        Output size as in :func:`scipy.signal.convolve2d`: ``(H + kh - 1,
        W + kw - 1)``, ``(|H - kh| + 1, |W - kw| + 1)`` or ``(H, W)`` (centred
        as SciPy does, also for even kernels).
    boundary : str, default 'fill'
        ``'fill'`` (pad with `fillvalue`), ``'wrap'``, ``'symm'``, and the
        other boundaries of :func:`convolve.signal.convolve` (``'reflect'``,
        ``'nearest'`` and their aliases).
    fillvalue : scalar, default 0
        Pad value for ``boundary='fill'``.
    workers : int, optional
        Threads: None = default (:func:`convolve.get_num_threads`), -1 = all
        usable CPUs, n > 0.

    Returns
    -------
    ndarray
        dtype ``np.result_type(image, row_kernel, col_kernel)`` (integers
        exact).

    Raises
    ------
    ValueError
        `image` not 2-D; `row_kernel` or `col_kernel` not 1-D or empty;
        ``mode='valid'`` with neither the image nor the kernel at least as
        large as the other along both axes; unknown `mode` or `boundary`
        (from :func:`convolve.signal.convolve`).

    See Also
    --------
    convolve.signal.convolve2d : The general (non-separable) 2-D convolution.
    gaussian, box : Separable kernels (``ndim=1`` gives the 1-D factor).
    scipy.signal.sepfir2d : SciPy's separable filter (symmetric boundary only).

    Notes
    -----
    With ``boundary='fill'`` the column pass pads with
    ``fillvalue * sum(row_kernel)``: that is what the row pass makes of the
    rows that lie wholly in the padding, so the result equals the 2-D
    convolution for any `fillvalue`.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import kernels, signal
    >>> rng = np.random.default_rng(0)
    >>> image = rng.random((64, 80))
    >>> g = kernels.gaussian(1.5, ndim=1)
    >>> fast = kernels.separable_conv2d(image, g, g, boundary='symm')
    >>> slow = signal.convolve2d(image, np.outer(g, g), mode='same', boundary='symm')
    >>> fast.shape, bool(np.allclose(fast, slow))
    ((64, 80), True)
    >>> kernels.separable_conv2d(np.ones((3, 4), dtype=int), [1, 1], [1, 2, 1], mode='valid')
    array([[8, 8, 8]])
    """
    from .signal import convolve  # late: kernels must import without the engine

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D array, got shape {image.shape}")
    row = _as_1d(row_kernel, "row_kernel")
    col = _as_1d(col_kernel, "col_kernel")
    if mode == "valid":
        (h, w), kh, kw = image.shape, col.size, row.size
        if not ((h >= kh and w >= kw) or (h <= kh and w <= kw)):
            raise ValueError(
                "for mode='valid', either image or the kernel (col_kernel.size, "
                f"row_kernel.size) = {(kh, kw)} must be at least as large as the other "
                f"along both axes; image has shape {image.shape}")
    col_fill = fillvalue
    if isinstance(boundary, str) and boundary == "fill" and np.any(np.asarray(fillvalue) != 0):
        col_fill = np.asarray(fillvalue) * row.sum()
        col_fill = col_fill.item()
    tmp = convolve(image, row.reshape(1, -1), mode=mode, axes=1, boundary=boundary,
                   fillvalue=fillvalue, workers=workers)
    return convolve(tmp, col.reshape(-1, 1), mode=mode, axes=0, boundary=boundary,
                    fillvalue=col_fill, workers=workers)
