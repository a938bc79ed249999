"""NN family: PyTorch-compatible convolution on ``(N, C, *spatial)`` arrays.

Results match ``torch.nn.functional.conv1d/2d/3d`` for the same arguments;
the default is cross-correlation, as in deep-learning libraries, and
``flip=True`` computes true convolution.
"""
import numbers

import numpy as np

from . import _engine
from ._validate import check_out, check_size, int_tuple, nn_dtype, positive_int

__all__ = ["conv1d", "conv2d", "conv3d", "output_size", "padding_pairs"]

PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def padding_pairs(padding, in_shape, kernel, stride, dilation):
    """Normalize `padding` to one ``(lo, hi)`` pair per spatial axis.

    Parameters
    ----------
    padding : int, tuple of int, tuple of (int, int), or {'valid', 'same', 'full'}
        ``'same'`` with stride 1 pads ``dilation * (k - 1)`` in total, the
        extra element on the high side (as PyTorch). With stride > 1 it follows
        TensorFlow: the output has ``ceil(in / stride)`` elements and the total
        padding ``max((out - 1) * stride + dilation * (k - 1) + 1 - in, 0)`` is
        split as ``lo = total // 2``, ``hi = total - lo``. ``'full'`` pads
        ``dilation * (k - 1)`` on both sides.
    in_shape, kernel, stride, dilation : tuple of int
        Per spatial axis.

    Returns
    -------
    list of (int, int)

    Examples
    --------
    >>> padding_pairs('same', (10,), (4,), (1,), (1,))
    [(1, 2)]
    >>> padding_pairs('same', (10,), (3,), (2,), (1,))
    [(0, 1)]
    >>> padding_pairs(((0, 1), (2, 3)), (5, 5), (3, 3), (1, 1), (1, 1))
    [(0, 1), (2, 3)]
    """
    d = len(in_shape)
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * d
        if padding == "full":
            return [(dl * (k - 1),) * 2 for k, dl in zip(kernel, dilation)]
        if padding == "same":
            pairs = []
            for n, k, s, dl in zip(in_shape, kernel, stride, dilation):
                out = -(-n // s)
                total = max((out - 1) * s + dl * (k - 1) + 1 - n, 0)
                pairs.append((total // 2, total - total // 2))
            return pairs
        raise ValueError(f"padding must be an int, a tuple, or one of 'valid', 'same', "
                         f"'full'; got {padding!r}")
    if isinstance(padding, (numbers.Integral, np.integer)) and not isinstance(padding, bool):
        pairs = [(int(padding),) * 2] * d
    else:
        try:
            items = list(padding)
        except TypeError:
            raise TypeError(f"padding must be an int, a tuple or a string, "
                            f"got {type(padding).__name__}") from None
        if len(items) != d:
            raise ValueError(f"padding must have {d} entries (one per spatial axis), "
                             f"got {len(items)}")
        pairs = []
        for p in items:
            if isinstance(p, (tuple, list)):
                if len(p) != 2:
                    raise ValueError(f"padding pairs must be (lo, hi), got {p!r}")
                pairs.append(int_tuple(p, 2, "padding"))
            else:
                pairs.append(int_tuple(p, 1, "padding") * 2)
    if any(v < 0 for pr in pairs for v in pr):
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return [tuple(p) for p in pairs]


def output_size(in_shape, kernel, stride, dilation, pairs):
    """Output extent per axis: ``floor((in + lo + hi - dilation * (k - 1) - 1) / stride) + 1``.

    Examples
    --------
    >>> output_size((32, 32), (5, 5), (1, 1), (1, 1), [(0, 0), (0, 0)])
    (28, 28)
    >>> output_size((56,), (3,), (2,), (1,), [(1, 1)])
    (28,)
    """
    return tuple((n + lo + hi - dl * (k - 1) - 1) // s + 1
                 for n, k, s, dl, (lo, hi) in zip(in_shape, kernel, stride, dilation, pairs))


def _pad_mode(x, pairs, mode, d):
    """Apply a non-zero `padding_mode` by a padded copy (PyTorch's rules on sizes)."""
    spatial = x.shape[2:]
    for (lo, hi), n in zip(pairs, spatial):
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"padding_mode='reflect' needs padding < input size along "
                             f"each axis; got padding ({lo}, {hi}) for size {n}")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"padding_mode='circular' needs padding <= input size along "
                             f"each axis; got padding ({lo}, {hi}) for size {n}")
    width = [(0, 0), (0, 0)] + [tuple(p) for p in pairs]
    return np.pad(x, width, mode=PADDING_MODES[mode])


def _conv(d, x, weight, bias, stride, padding, dilation, groups, padding_mode, flip, out,
          workers):
    name = f"conv{d}d"
    x = np.asarray(x)
    weight = np.asarray(weight)
    bias = None if bias is None else np.asarray(bias)
    if x.ndim not in (d + 1, d + 2):
        raise ValueError(f"{name}: x must have {d + 2} dimensions (N, C, *spatial) or "
                         f"{d + 1} (C, *spatial), got {x.ndim}")
    if weight.ndim != d + 2:
        raise ValueError(f"{name}: weight must have {d + 2} dimensions "
                         f"(O, C/groups, *kernel), got {weight.ndim}")
    dtype = nn_dtype(x, weight, bias)
    unbatched = x.ndim == d + 1
    if unbatched:
        x = x[None]
    groups = positive_int(groups, "groups")
    N, C = x.shape[:2]
    O = weight.shape[0]
    if C % groups or O % groups:
        raise ValueError(f"{name}: groups={groups} must divide the input channels ({C}) "
                         f"and the output channels ({O})")
    if weight.shape[1] * groups != C:
        raise ValueError(f"{name}: weight expects {weight.shape[1] * groups} input channels "
                         f"(weight.shape[1] * groups), x has {C}")
    if bias is not None and bias.shape != (O,):
        raise ValueError(f"{name}: bias must have shape ({O},), got {bias.shape}")
    stride = int_tuple(stride, d, "stride", minimum=1)
    dilation = int_tuple(dilation, d, "dilation", minimum=1)
    kernel = weight.shape[2:]
    if any(k < 1 for k in kernel):
        raise ValueError(f"{name}: weight's kernel size must be positive, got {kernel}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {sorted(PADDING_MODES)}, "
                         f"got {padding_mode!r}")
    pairs = padding_pairs(padding, x.shape[2:], kernel, stride, dilation)
    out_sp = output_size(x.shape[2:], kernel, stride, dilation, pairs)
    if any(o < 1 for o in out_sp):
        raise ValueError(f"{name}: kernel size {tuple(kernel)} with dilation {dilation} is "
                         f"larger than the padded input {tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pairs))}")
    out_shape = (N, O) + out_sp
    check_size(out_shape, dtype.itemsize, name)
    check_out(out, out_shape[1:] if unbatched else out_shape, dtype)

    if padding_mode != "zeros" and any(p for pr in pairs for p in pr):
        x = _pad_mode(x, pairs, padding_mode, d)
        pairs = [(0, 0)] * d
    if flip:
        weight = weight[(Ellipsis,) + (slice(None, None, -1),) * d]
    # ascontiguousarray with an explicit native dtype also byte-swaps and copies
    # read-only or strided views; a contiguous input of the right dtype is used as is.
    lift = (1,) * (3 - d)
    x5 = np.ascontiguousarray(x, dtype=dtype).reshape((N, C) + lift + x.shape[2:])
    w5 = np.ascontiguousarray(weight, dtype=dtype).reshape(weight.shape[:2] + lift + kernel)
    b = None if bias is None else np.ascontiguousarray(bias, dtype=dtype)
    # out= is written directly only when contiguous and not overlapping an
    # input the kernel still reads (else through a temporary)
    target = out if out is not None and out.flags.c_contiguous and not any(
        np.may_share_memory(out, a) for a in (x5, w5, b) if a is not None) else None
    res = np.empty(out_shape, dtype) if target is None else target.reshape(out_shape)
    _engine.correlate5(x5, w5, res.reshape((N, O) + lift + out_sp), b,
                       lift + stride, lift + dilation, (0,) * (3 - d) + tuple(lo for lo, _ in pairs),
                       groups, workers)
    if unbatched:
        res = res[0]
    if out is not None and target is None:
        out[...] = res
        return out
    return out if out is not None else res


_CONV_DOC = """{d}-D convolution (cross-correlation by default) of ``(N, C, {sp})`` input.

    ``out[n, o] = bias[o] + sum_c sum_k x[n, g*C/groups + c, p*stride + k*dilation - lo]
    * weight[o, c, k]``, summed over the input channels ``c`` of the group ``g``
    of output channel ``o``; matches ``torch.nn.functional.conv{d}d``.

    Parameters
    ----------
    x : array_like, shape (N, C, {sp}) or (C, {sp})
        Input. An unbatched input gives an unbatched output.
    weight : array_like, shape (O, C/groups, {ksp})
        Filters.
    bias : array_like, shape (O,), optional
        Added to each output channel.
    stride : int or tuple of {d} ints, default 1
        Step between output positions; positive.
    padding : int, tuple, tuple of (lo, hi) pairs, or {{'valid', 'same', 'full'}}, default 0
        Padding per side; see :func:`padding_pairs` for the string forms
        (``'same'`` with stride > 1 follows TensorFlow).
    dilation : int or tuple of {d} ints, default 1
        Spacing between kernel taps; positive.
    groups : int, default 1
        Channel groups; ``groups == C`` is a depthwise convolution.
    padding_mode : {{'zeros', 'reflect', 'replicate', 'circular'}}, default 'zeros'
        How the padding is filled (PyTorch's modes).
    flip : bool, default False
        True computes true convolution: the kernel is flipped along every
        spatial axis.
    out : ndarray, optional
        Written with the result and returned; must have the output's shape and dtype.
    workers : int, optional
        Threads: None uses :func:`convolve.get_num_threads`, -1 all CPUs.

    Returns
    -------
    ndarray, shape (N, O, {osp})
        Per spatial axis ``out = floor((in + lo + hi - dilation * (k - 1) - 1)
        / stride) + 1``. dtype: float32 or float64 as the inputs (NumPy
        promotion; integers compute in float64, float16 in float32).

    Raises
    ------
    ValueError
        Wrong number of dimensions, channels not matching ``weight.shape[1] *
        groups``, `groups` not dividing the channels, non-positive `stride` or
        `dilation`, negative `padding`, a kernel larger than the padded input,
        unknown `padding` string or `padding_mode`, `bias` or `out` of the wrong
        shape.
    TypeError
        Complex or non-numeric dtypes; non-integer sizes.

    See Also
    --------
    {others}
    convolve.signal.convolve : SciPy-compatible convolution of arbitrary arrays.

    Notes
    -----
    Direct method: a register-blocked kernel (``pyx/_direct.pyx``) parallel
    over output blocks; each output is summed by one thread in a fixed order,
    so results are identical for any thread count.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.functional import conv{d}d
    >>> x = np.ones((1, 1{ones}), dtype=np.float32)
    >>> w = np.ones((2, 1{kones}), dtype=np.float32)
    >>> conv{d}d(x, w, padding='same').shape
    (1, 2{oshape})
    >>> float(conv{d}d(x, w)[0, 0].ravel()[0])
    {val}
    """


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", flip=False, out=None, workers=None):
    return _conv(1, x, weight, bias, stride, padding, dilation, groups, padding_mode, flip,
                 out, workers)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", flip=False, out=None, workers=None):
    return _conv(2, x, weight, bias, stride, padding, dilation, groups, padding_mode, flip,
                 out, workers)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", flip=False, out=None, workers=None):
    return _conv(3, x, weight, bias, stride, padding, dilation, groups, padding_mode, flip,
                 out, workers)


for _d, _f in ((1, conv1d), (2, conv2d), (3, conv3d)):
    _sp = ", ".join("DHW"[3 - _d:])
    _f.__doc__ = _CONV_DOC.format(
        d=_d, sp=_sp, ksp=", ".join("k" + a for a in "DHW"[3 - _d:]),
        osp=", ".join("O" + a for a in "DHW"[3 - _d:]),
        others="\n    ".join(f"conv{e}d : The {e}-D version." for e in (1, 2, 3) if e != _d),
        ones=", 4" * _d, kones=", 3" * _d, oshape=", 4" * _d, val=f"{3.0 ** _d}")
del _d, _f, _sp
