"""Convolution as a matrix: ``unfold``/``fold`` (im2col/col2im) and ``conv_matrix``.

- ``unfold`` extracts the sliding blocks of a ``(N, C, H, W)`` array into
  columns, as ``torch.nn.functional.unfold``; ``fold`` sums columns back into
  an image, as ``torch.nn.functional.fold``, and is the exact adjoint of
  ``unfold``.
- ``conv_matrix`` builds the sparse matrix ``C`` of any NN-family convolution
  (1-3 spatial axes, stride, dilation, groups, padding and ``padding_mode``,
  ``flip``): ``C @ x.ravel()`` is the convolution, ``C.T @ g.ravel()`` its
  input gradient. Rows that read padding of a non-zero ``padding_mode`` point
  at the input elements that the padding copies.

All three are vectorized over the output positions; they loop only over the
kernel taps.
"""
import itertools

import numpy as np

from . import _igemm
from ._threads import resolve_workers
from ._validate import check_size, int_tuple, nn_dtype

__all__ = ["unfold", "fold", "conv_matrix"]


def _params2d(kernel_size, dilation, padding, stride):
    kernel = int_tuple(kernel_size, 2, "kernel_size", minimum=1)
    dilation = int_tuple(dilation, 2, "dilation", minimum=1)
    padding = int_tuple(padding, 2, "padding", minimum=0)
    stride = int_tuple(stride, 2, "stride", minimum=1)
    return kernel, dilation, padding, stride


def _blocks(sp, kernel, dilation, padding, stride, name):
    out = tuple((n + 2 * p - dl * (k - 1) - 1) // s + 1
                for n, k, dl, p, s in zip(sp, kernel, dilation, padding, stride))
    if any(o < 1 for o in out):
        raise ValueError(f"{name}: kernel_size {kernel} with dilation {dilation} is larger "
                         f"than the padded input {tuple(n + 2 * p for n, p in zip(sp, padding))}")
    return out


def _tap_slices(tap, dilation, stride, out):
    return tuple(slice(t * dl, t * dl + s * (o - 1) + 1, s)
                 for t, dl, s, o in zip(tap, dilation, stride, out))


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding local blocks of a batched image into columns (im2col).

    Matches ``torch.nn.functional.unfold``: block ``l`` (output positions in
    row-major order) of channel ``c`` and kernel tap ``(i, j)`` is stored at
    ``out[n, c * kH * kW + i * kW + j, l]``.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
        Input; float32 and float64 are kept, integers and bools compute in
        float64, float16 in float32.
    kernel_size : int or tuple of 2 ints
        Size ``(kH, kW)`` of the blocks.
    dilation : int or tuple of 2 ints, default 1
        Spacing between the elements of a block.
    padding : int or tuple of 2 ints, default 0
        Zero padding added on both sides of each spatial axis.
    stride : int or tuple of 2 ints, default 1
        Step between blocks.

    Returns
    -------
    ndarray, shape (N, C * kH * kW, L) or (C * kH * kW, L)
        ``L = oH * oW`` with ``oH = (H + 2 * pH - dH * (kH - 1) - 1) // sH + 1``
        (likewise ``oW``).

    Raises
    ------
    ValueError
        If `x` is not 3-D or 4-D, a parameter is out of range, or the kernel
        does not fit in the padded input.
    TypeError
        If a parameter is not an int (or tuple of ints) or `x` is complex.

    See Also
    --------
    fold : the adjoint, which sums columns back into an image.
    conv_matrix : the whole convolution as a sparse matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.functional import unfold
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> unfold(x, 2)
    array([[[0., 1., 3., 4.],
            [1., 2., 4., 5.],
            [3., 4., 6., 7.],
            [4., 5., 7., 8.]]])
    >>> unfold(np.ones((2, 3, 8, 8), np.float32), 3, padding=1, stride=2).shape
    (2, 27, 16)
    """
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"unfold: x must have 4 dimensions (N, C, H, W) or 3 (C, H, W), "
                         f"got {x.ndim}")
    dtype = nn_dtype(x)
    kernel, dilation, padding, stride = _params2d(kernel_size, dilation, padding, stride)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    N, C = x.shape[:2]
    out = _blocks(x.shape[2:], kernel, dilation, padding, stride, "unfold")
    check_size((N, C, kernel[0] * kernel[1], out[0] * out[1]), dtype.itemsize, "unfold")
    xp = np.pad(x.astype(dtype, copy=False), [(0, 0), (0, 0)] + [(p, p) for p in padding])
    cols = np.empty((N, C) + kernel + out, dtype)
    for tap in itertools.product(*(range(k) for k in kernel)):
        cols[(slice(None), slice(None)) + tap] = xp[(Ellipsis,) + _tap_slices(
            tap, dilation, stride, out)]
    cols = cols.reshape(N, C * kernel[0] * kernel[1], out[0] * out[1])
    return cols[0] if unbatched else cols


def fold(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns of sliding blocks back into a batched image (col2im).

    Matches ``torch.nn.functional.fold``; it is the adjoint of `unfold` with
    the same parameters (overlapping blocks add up), so
    ``fold(unfold(x))`` is `x` times the number of blocks covering each
    element.

    Parameters
    ----------
    cols : array_like, shape (N, C * kH * kW, L) or (C * kH * kW, L)
        Columns as produced by `unfold`.
    output_size : int or tuple of 2 ints
        Spatial size ``(H, W)`` of the image.
    kernel_size, dilation, padding, stride : int or tuple of 2 ints
        As in `unfold`.

    Returns
    -------
    ndarray, shape (N, C, H, W) or (C, H, W)

    Raises
    ------
    ValueError
        If `cols` is not 2-D or 3-D, its second-to-last axis is not a multiple
        of ``kH * kW``, its last axis is not the number of blocks ``L``, or a
        parameter is out of range.
    TypeError
        If a parameter is not an int (or tuple of ints) or `cols` is complex.

    See Also
    --------
    unfold : extract the blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.functional import fold, unfold
    >>> ones = np.ones((1, 1, 3, 3))
    >>> fold(unfold(ones, 2), (3, 3), 2)[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    cols = np.asarray(cols)
    if cols.ndim not in (2, 3):
        raise ValueError(f"fold: cols must have 3 dimensions (N, C * kH * kW, L) or 2, "
                         f"got {cols.ndim}")
    dtype = nn_dtype(cols)
    size = int_tuple(output_size, 2, "output_size", minimum=1)
    kernel, dilation, padding, stride = _params2d(kernel_size, dilation, padding, stride)
    unbatched = cols.ndim == 2
    if unbatched:
        cols = cols[None]
    N, CK, L = cols.shape
    K = kernel[0] * kernel[1]
    if CK % K:
        raise ValueError(f"fold: cols.shape[-2] ({CK}) must be a multiple of "
                         f"kernel_size product {K}")
    out = _blocks(size, kernel, dilation, padding, stride, "fold")
    if L != out[0] * out[1]:
        raise ValueError(f"fold: cols.shape[-1] ({L}) must be the number of blocks "
                         f"{out[0]} * {out[1]} = {out[0] * out[1]}")
    C = CK // K
    check_size((N, C) + tuple(n + 2 * p for n, p in zip(size, padding)), dtype.itemsize,
               "fold")
    # the compiled col2im of the input gradient (pyx/_igemm.pyx): each (n, c)
    # image summed tap by tap, padding positions dropped
    x = np.empty((N, C) + tuple(size), dtype)
    _igemm.fold(np.ascontiguousarray(cols, dtype=dtype).reshape(N * C, K, L),
                x.reshape((N, C, 1) + tuple(size)), (1,) + tuple(kernel), (1,) + tuple(out),
                (1,) + tuple(stride), (1,) + tuple(dilation), (0,) + tuple(padding),
                resolve_workers(None, N * C * K * L))
    return x[0] if unbatched else x


def conv_matrix(input_shape, weight, stride=1, padding=0, dilation=1, groups=1,
                padding_mode="zeros", flip=False):
    """The convolution ``conv{d}d(x, weight, ...)`` as a sparse matrix.

    Parameters
    ----------
    input_shape : tuple of int
        ``(N, C, *spatial)`` with 1, 2 or 3 spatial axes (the number of
        spatial axes is ``weight.ndim - 2``), or unbatched ``(C, *spatial)``.
    weight : array_like, shape (O, C / groups, ...)
        Kernel; the matrix has its dtype (float32/float64 kept, integers and
        bools as float64, float16 as float32).
    stride, padding, dilation, groups, padding_mode, flip
        As in `convolve.functional.conv2d` (``padding`` accepts ints,
        ``(lo, hi)`` pairs, ``'valid'``, ``'same'`` and ``'full'``;
        ``padding_mode`` is one of ``'zeros'``, ``'reflect'``,
        ``'replicate'``, ``'circular'``).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (prod(output_shape), prod(input_shape))
        ``C @ x.ravel()`` equals ``conv{d}d(x, weight, ...).ravel()`` and
        ``C.T @ g.ravel()`` equals ``conv{d}d_input_grad(g, weight,
        input_shape, ...).ravel()``. Entries that read a padded copy of an
        input element (non-zero `padding_mode`) are summed onto that
        element's column; duplicates are summed.

    Raises
    ------
    ValueError
        If the shapes or channels do not match, a parameter is out of range,
        the kernel does not fit in the padded input, or the padding is too
        large for ``'reflect'`` (``>= size``) or ``'circular'`` (``> size``).
    TypeError
        If a parameter has the wrong type or `weight` is complex.

    See Also
    --------
    convolve.functional.conv2d : the convolution itself.
    convolve.functional.conv2d_input_grad : the product with ``C.T``.
    unfold : the im2col view (``C`` is the kernel times the unfolded input).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.functional import conv_matrix
    >>> C = conv_matrix((1, 1, 4), np.array([[[1.0, 2.0]]]), padding=1,
    ...                 padding_mode='circular')
    >>> C.toarray()
    array([[2., 0., 0., 1.],
           [1., 2., 0., 0.],
           [0., 1., 2., 0.],
           [0., 0., 1., 2.],
           [2., 0., 0., 1.]])
    >>> C @ np.array([1.0, 2.0, 3.0, 4.0])
    array([ 6.,  5.,  8., 11.,  6.])
    """
    import scipy.sparse as sp

    from ._conv_grad import Setup, pad_index

    w = np.asarray(weight)
    if w.ndim not in (3, 4, 5):
        raise ValueError(f"conv_matrix: weight must have 3, 4 or 5 dimensions "
                         f"(O, C/groups, *kernel), got {w.ndim}")
    d = w.ndim - 2
    dtype = nn_dtype(w)
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__"):
        raise TypeError(f"conv_matrix: input_shape must be a tuple of ints, "
                        f"got {type(input_shape).__name__}")
    if any(k < 1 for k in w.shape):
        raise ValueError(f"conv_matrix: weight must have no empty axis, got shape {w.shape}")
    st = Setup(d, "conv_matrix", tuple(input_shape), w.shape, stride, padding, dilation,
               groups, padding_mode, dtype)
    if padding_mode in ("reflect", "circular"):
        for (lo, hi), n in zip(st.pairs, st.sp):
            if (padding_mode == "reflect" and max(lo, hi) >= n) or max(lo, hi) > n:
                rule = "< input size" if padding_mode == "reflect" else "<= input size"
                raise ValueError(f"padding_mode={padding_mode!r} needs padding {rule} along "
                                 f"each axis; got padding ({lo}, {hi}) for size {n}")
    if flip:
        w = w[(Ellipsis,) + (slice(None, None, -1),) * d]
    w = w.astype(dtype, copy=False)
    N, C = st.x_shape[:2]
    O, Cg = w.shape[:2]
    G = st.groups
    S = int(np.prod(st.sp))
    P = int(np.prod(st.out_sp))
    n_rows, n_cols = N * O * P, N * C * S
    check_size((N, O, Cg, P, int(np.prod(st.kernel))), 8, "conv_matrix")
    # source (input) index of every padded position per axis, -1 for zeros
    mode = st.padding_mode if any(p for pr in st.pairs for p in pr) else "zeros"
    idx = [pad_index(n, lo, hi, mode) for n, (lo, hi) in zip(st.sp, st.pairs)]
    in_strides = [int(np.prod(st.sp[a + 1:])) for a in range(d)]
    nn = np.arange(N, dtype=np.int64)[:, None, None, None]
    oo = np.arange(O, dtype=np.int64)[None, :, None, None]
    cg = np.arange(Cg, dtype=np.int64)[None, None, :, None]
    chan = (oo // (O // G)) * Cg + cg                                # (1, O, Cg, 1)
    rows_base = nn * (O * P) + oo * P                                # (N, O, 1, 1)
    cols_base = nn * (C * S) + chan * S                              # (N, O, Cg, 1)
    prow = np.arange(P, dtype=np.int64)
    rows, cols, vals = [], [], []
    for tap in itertools.product(*(range(k) for k in st.kernel)):
        src = np.zeros((), np.int64)
        valid = np.ones((), bool)
        for a in range(d):
            pos = np.arange(st.out_sp[a]) * st.stride[a] + tap[a] * st.dilation[a]
            s_a = idx[a][pos].reshape((-1,) + (1,) * (d - 1 - a))
            valid = valid & (s_a >= 0)
            src = src + s_a * in_strides[a]
        src = np.broadcast_to(src, st.out_sp).ravel()
        valid = np.broadcast_to(valid, st.out_sp).ravel()
        if not valid.any():
            continue
        p, s = prow[valid], src[valid]
        shape = (N, O, Cg, p.size)
        rows.append(np.broadcast_to(rows_base + p, shape).ravel())
        cols.append(np.broadcast_to(cols_base + s, shape).ravel())
        tv = w[(slice(None), slice(None)) + tap][None, :, :, None]  # (1, O, Cg, 1)
        vals.append(np.broadcast_to(tv, shape).ravel())
    if rows:
        rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        rows = cols = np.zeros(0, np.int64)
        vals = np.zeros(0, dtype)
    m = sp.coo_matrix((vals, (rows, cols)), shape=(n_rows, n_cols), dtype=dtype).tocsr()
    m.sum_duplicates()
    return m
