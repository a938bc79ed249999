"""Independent NumPy oracle for the NN family (``convolve.functional.conv1d/2d/3d``).

Nothing here imports :mod:`convolve`: the oracle is written from the API
contract and PyTorch's documented semantics only, as plain loops over kernel
taps with NumPy slicing and ``einsum``, accumulating in float64. It is meant
to be obviously right rather than fast, so keep the shapes you feed it small.

The pieces:

- :func:`same_pairs`, :func:`padding_to_pairs` turn every padding form of the
  contract (int, tuple of ints, tuple of ``(lo, hi)`` pairs, ``'valid'``,
  ``'same'`` with TensorFlow's rule for strides > 1, ``'full'``) into one
  ``(lo, hi)`` pair per spatial axis;
- :func:`pad_ref` pads the spatial axes with PyTorch's ``F.pad`` modes
  (``zeros``, ``reflect``, ``replicate``, ``circular``) through ``np.pad``;
- :func:`conv_nd_ref` is the convolution itself, for 1, 2 or 3 spatial axes;
- :func:`conv_ref` is the whole public signature (padding forms, modes,
  flip, unbatched input) on top of the three above.

The mode tables, for one axis ``a b c d`` padded by 2 on each side::

    zeros      0 0 | a b c d | 0 0
    reflect    c b | a b c d | c b      (mirror, edge not repeated)
    replicate  a a | a b c d | d d      (edge value repeated)
    circular   c d | a b c d | a b      (periodic)
"""
import itertools

import numpy as np

__all__ = ["as_tuple", "same_pairs", "padding_to_pairs", "pad_ref", "output_shape_ref",
           "conv_nd_ref", "conv_ref", "NP_PAD_MODES"]

#: PyTorch padding mode -> ``np.pad`` mode.
NP_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
                "circular": "wrap"}


def as_tuple(value, d):
    """An int or a sequence of `d` ints, as a tuple of `d` Python ints.

    >>> as_tuple(2, 3)
    (2, 2, 2)
    >>> as_tuple((1, 2), 2)
    (1, 2)
    """
    if np.ndim(value) == 0:
        return (int(value),) * d
    value = tuple(int(v) for v in value)
    assert len(value) == d, (value, d)
    return value


def same_pairs(in_shape, kernel, stride, dilation):
    """``(lo, hi)`` pairs of ``padding='same'`` (TensorFlow's rule).

    Per axis the output has ``ceil(in / stride)`` elements; the total padding
    is ``max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0)``, of which
    the low side gets ``total // 2`` and the high side the rest. With stride 1
    this is PyTorch's ``'same'`` (total ``dilation * (k - 1)``, extra element
    on the high side).

    >>> same_pairs((10,), (4,), (1,), (1,))
    [(1, 2)]
    >>> same_pairs((10, 7), (3, 3), (2, 3), (1, 1))
    [(0, 1), (1, 1)]
    """
    pairs = []
    for n, k, s, dl in zip(in_shape, kernel, stride, dilation):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * dl + 1 - n, 0)
        pairs.append((total // 2, total - total // 2))
    return pairs


def padding_to_pairs(padding, in_shape, kernel, stride=1, dilation=1):
    """Every padding form of the contract as a list of ``(lo, hi)`` per spatial axis.

    Parameters
    ----------
    padding : int, tuple of int, tuple of (int, int), or {'valid', 'same', 'full'}
        ``'valid'`` is no padding, ``'full'`` is ``dilation * (k - 1)`` on
        both sides, ``'same'`` is :func:`same_pairs`; an int pads every side
        by it, a tuple of ints gives the per-axis symmetric padding and a
        tuple of pairs gives each side explicitly.
    in_shape, kernel : tuple of int
        Spatial input and kernel sizes.
    stride, dilation : int or tuple of int

    >>> padding_to_pairs('full', (9, 9), (3, 2), 1, (2, 1))
    [(4, 4), (1, 1)]
    >>> padding_to_pairs((1, (0, 2)), (5, 5), (3, 3))
    [(1, 1), (0, 2)]
    """
    d = len(in_shape)
    stride, dilation = as_tuple(stride, d), as_tuple(dilation, d)
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * d
        if padding == "full":
            return [((k - 1) * dl,) * 2 for k, dl in zip(kernel, dilation)]
        if padding == "same":
            return same_pairs(in_shape, kernel, stride, dilation)
        raise ValueError(f"unknown padding {padding!r}")
    if isinstance(padding, (int, np.integer)):
        return [(int(padding),) * 2] * d
    pairs = []
    assert len(padding) == d, (padding, d)
    for p in padding:
        if isinstance(p, (int, np.integer)):
            pairs.append((int(p), int(p)))
        else:
            lo, hi = p
            pairs.append((int(lo), int(hi)))
    return pairs


def pad_ref(x, pairs, mode="zeros"):
    """Pad the last ``len(pairs)`` axes of `x` with a PyTorch padding mode.

    Parameters
    ----------
    x : ndarray
        Any leading axes (batch, channels) are left alone.
    pairs : sequence of (lo, hi)
        One pair per trailing (spatial) axis, in axis order.
    mode : {'zeros', 'reflect', 'replicate', 'circular'}
        PyTorch's ``F.pad`` modes: ``constant`` (0), ``reflect`` (mirror
        without repeating the edge), ``replicate`` (repeat the edge value),
        ``circular`` (periodic); see the module table.

    >>> pad_ref(np.arange(4.0), [(2, 2)], 'reflect')
    array([2., 1., 0., 1., 2., 3., 2., 1.])
    >>> pad_ref(np.arange(4.0), [(2, 1)], 'circular')
    array([2., 3., 0., 1., 2., 3., 0.])
    >>> pad_ref(np.arange(4.0), [(1, 2)], 'replicate')
    array([0., 0., 1., 2., 3., 3., 3.])
    """
    pairs = [tuple(int(v) for v in p) for p in pairs]
    width = [(0, 0)] * (x.ndim - len(pairs)) + pairs
    return np.pad(x, width, mode=NP_PAD_MODES[mode])


def output_shape_ref(in_shape, kernel, stride, dilation, pairs):
    """Per axis ``floor((in + lo + hi - dilation * (k - 1) - 1) / stride) + 1``.

    >>> output_shape_ref((7,), (3,), (2,), (1,), [(1, 1)])
    (4,)
    """
    return tuple((n + lo + hi - dl * (k - 1) - 1) // s + 1
                 for n, k, s, dl, (lo, hi) in zip(in_shape, kernel, stride, dilation, pairs))


def conv_nd_ref(x, w, bias=None, stride=1, padding_pairs=None, dilation=1, groups=1,
                padding_mode="zeros"):
    """Cross-correlation of ``(N, C, *spatial)`` `x` with ``(O, C/groups, *k)`` `w`.

    ``out[n, o, p] = bias[o] + sum_{c, k} xpad[n, g*Cg + c, p*stride + k*dilation]
    * w[o, c, k]`` where ``g = o // (O / groups)``, ``Cg = C / groups`` and
    ``xpad`` is `x` padded by `padding_pairs` with `padding_mode`.

    Written as a loop over the kernel taps: for each tap ``k`` the strided
    slice of the padded input that this tap sees for every output position is
    contracted over the group's input channels with ``einsum``. Everything is
    computed in float64 and returned in float64.

    Parameters
    ----------
    x : ndarray, shape (N, C, *spatial)
    w : ndarray, shape (O, C/groups, *kernel)
        The number of spatial axes is ``w.ndim - 2`` (1, 2 or 3).
    bias : ndarray, shape (O,), optional
    stride, dilation : int or tuple of int
    padding_pairs : sequence of (lo, hi), optional
        Explicit padding per spatial axis; None is no padding.
    groups : int
    padding_mode : str
        See :func:`pad_ref`.

    Returns
    -------
    ndarray, float64, shape (N, O, *out)

    Examples
    --------
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> conv_nd_ref(x, np.array([[[1.0, -1.0]]]))
    array([[[-1., -1., -1., -1.]]])
    """
    d = w.ndim - 2
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    assert x.ndim == d + 2, (x.shape, w.shape)
    stride, dilation = as_tuple(stride, d), as_tuple(dilation, d)
    pairs = [(0, 0)] * d if padding_pairs is None else [tuple(p) for p in padding_pairs]
    xp = pad_ref(x, pairs, padding_mode)
    N, C = x.shape[:2]
    O, Cg = w.shape[:2]
    kernel = w.shape[2:]
    assert C == Cg * groups and O % groups == 0, (x.shape, w.shape, groups)
    Og = O // groups
    out_sp = output_shape_ref(x.shape[2:], kernel, stride, dilation, pairs)
    assert all(o >= 1 for o in out_sp), out_sp
    out = np.zeros((N, O) + out_sp)
    for taps in itertools.product(*(range(k) for k in kernel)):
        # the input positions tap `taps` reads for every output position
        view = tuple(slice(t * dl, t * dl + (o - 1) * s + 1, s)
                     for t, dl, o, s in zip(taps, dilation, out_sp, stride))
        xs = xp[(slice(None), slice(None)) + view]
        for g in range(groups):
            wk = w[(slice(g * Og, (g + 1) * Og), slice(None)) + taps]   # (Og, Cg)
            out[:, g * Og:(g + 1) * Og] += np.einsum(
                "nc...,oc->no...", xs[:, g * Cg:(g + 1) * Cg], wk)
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64).reshape((1, O) + (1,) * d)
    return out


def input_grad_ref(g, w, in_shape, stride=1, padding_pairs=None, dilation=1, groups=1):
    """Input gradient of :func:`conv_nd_ref` with zero padding, by scattering:
    for each kernel tap, the output gradient contracted with the tap's
    weights over the group's output channels is added at the input positions
    the tap read (the padded positions dropped). float64.

    >>> g = np.ones((1, 1, 4))
    >>> input_grad_ref(g, np.array([[[1.0, -1.0]]]), (1, 1, 5))
    array([[[ 1.,  0.,  0.,  0., -1.]]])
    """
    d = w.ndim - 2
    g = np.asarray(g, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    stride, dilation = as_tuple(stride, d), as_tuple(dilation, d)
    pairs = [(0, 0)] * d if padding_pairs is None else [tuple(p) for p in padding_pairs]
    N, C = in_shape[:2]
    O, Cg = w.shape[:2]
    Og = O // groups
    out_sp = g.shape[2:]
    gxp = np.zeros((N, C) + tuple(n + lo + hi for n, (lo, hi) in zip(in_shape[2:], pairs)))
    for taps in itertools.product(*(range(k) for k in w.shape[2:])):
        view = tuple(slice(t * dl, t * dl + (o - 1) * s + 1, s)
                     for t, dl, o, s in zip(taps, dilation, out_sp, stride))
        for gr in range(groups):
            wk = w[(slice(gr * Og, (gr + 1) * Og), slice(None)) + taps]   # (Og, Cg)
            gxp[(slice(None), slice(gr * Cg, (gr + 1) * Cg)) + view] += np.einsum(
                "no...,oc->nc...", g[:, gr * Og:(gr + 1) * Og], wk)
    return gxp[(Ellipsis,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(in_shape[2:], pairs))]


def weight_grad_ref(x, g, w_shape, stride=1, padding_pairs=None, dilation=1, groups=1):
    """Weight gradient of :func:`conv_nd_ref` with zero padding: for each
    kernel tap, the output gradient contracted with the input positions the
    tap read over images and positions. float64.

    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> weight_grad_ref(x, np.ones((1, 1, 4)), (1, 1, 2))
    array([[[ 6., 10.]]])
    """
    d = len(w_shape) - 2
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    stride, dilation = as_tuple(stride, d), as_tuple(dilation, d)
    pairs = [(0, 0)] * d if padding_pairs is None else [tuple(p) for p in padding_pairs]
    xp = pad_ref(x, pairs)
    N = x.shape[0]
    O, Cg = w_shape[:2]
    Og = O // groups
    gw = np.zeros(w_shape)
    for taps in itertools.product(*(range(k) for k in w_shape[2:])):
        view = tuple(slice(t * dl, t * dl + (o - 1) * s + 1, s)
                     for t, dl, o, s in zip(taps, dilation, g.shape[2:], stride))
        xs = xp[(slice(None), slice(None)) + view]
        for gr in range(groups):
            gw[(slice(gr * Og, (gr + 1) * Og), slice(None)) + taps] = np.einsum(
                "nop,ncp->oc", g[:, gr * Og:(gr + 1) * Og].reshape(N, Og, -1),
                xs[:, gr * Cg:(gr + 1) * Cg].reshape(N, Cg, -1))
    return gw


def conv_ref(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1,
             padding_mode="zeros", flip=False):
    """The full public signature of ``convolve.functional.conv{d}d`` in float64.

    Accepts every padding form (see :func:`padding_to_pairs`), ``flip=True``
    (true convolution: `w` reversed along every spatial axis) and unbatched
    ``(C, *spatial)`` input (giving ``(O, *out)``).

    >>> conv_ref(np.arange(4.0)[None], np.array([[[1.0, 2.0]]]), padding='full', flip=True)
    array([[0., 1., 4., 7., 6.]])
    """
    d = np.ndim(w) - 2
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    unbatched = x.ndim == d + 1
    if unbatched:
        x = x[None]
    if flip:
        w = w[(Ellipsis,) + (slice(None, None, -1),) * d]
    pairs = padding_to_pairs(padding, x.shape[2:], w.shape[2:], stride, dilation)
    res = conv_nd_ref(x, w, bias, stride, pairs, dilation, groups, padding_mode)
    return res[0] if unbatched else res
