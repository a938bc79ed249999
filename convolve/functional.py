"""NN family: PyTorch-compatible convolution on ``(N, C, *spatial)`` arrays.

Results match ``torch.nn.functional.conv1d/2d/3d`` for the same arguments;
the default is cross-correlation, as in deep-learning libraries, and
``flip=True`` computes true convolution.
"""
import numbers

import numpy as np

from . import _dispatch, _engine
from ._validate import check_out, check_size, int_tuple, nn_dtype, positive_int

__all__ = ["conv1d", "conv2d", "conv3d", "output_size", "padding_pairs",
           "conv1d_input_grad", "conv2d_input_grad", "conv3d_input_grad",
           "conv1d_weight_grad", "conv2d_weight_grad", "conv3d_weight_grad",
           "conv_bias_grad", "conv_backward",
           "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]

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
          workers, method="auto"):
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
    lift = (1,) * (3 - d)
    _engine.check_method(method, (N, C) + lift + x.shape[2:], weight.shape[:2] + lift + kernel,
                         lift + stride, lift + dilation, groups, dtype, name)

    if padding_mode != "zeros" and any(p for pr in pairs for p in pr):
        x = _pad_mode(x, pairs, padding_mode, d)
        pairs = [(0, 0)] * d
    if flip:
        weight = weight[(Ellipsis,) + (slice(None, None, -1),) * d]
    if method == "auto" and _dispatch.nn_fft_pays(
            "forward", x.shape, weight.shape, out_sp, stride, dilation, groups, dtype,
            tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pairs))) \
            and np.isfinite(x).all() and np.isfinite(weight).all():
        # large kernels: the model predicts the FFT faster (finite inputs only:
        # a transform would spread an inf or NaN over every output)
        method = "fft"
    if method == "fft":
        # frequency-domain correlation of the zero-padded input (convolve._fft)
        from . import _fft
        xp = np.ascontiguousarray(x, dtype=dtype)
        if any(p for pr in pairs for p in pr):
            xp = np.pad(xp, [(0, 0), (0, 0)] + [tuple(pr) for pr in pairs])
        res = _fft.conv_fft(xp, np.ascontiguousarray(weight, dtype=dtype),
                            None if bias is None else np.asarray(bias, dtype=dtype),
                            stride, dilation, groups, workers)
        res = res[0] if unbatched else res
        if out is not None:
            out[...] = res
            return out
        return res
    # ascontiguousarray with an explicit native dtype also byte-swaps and copies
    # read-only or strided views; a contiguous input of the right dtype is used as is.
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
                       groups, workers, method)
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
    method : {{'auto', 'direct', 'blocked', 'winograd', 'winograd2x2', 'winograd4x4', 'gemm', 'batch', 'fft'}}, default 'auto'
        Algorithm. ``'blocked'``: output channels as vector lanes, the
        windows read in place (no im2col, no zero taps for strides), any
        options. ``'winograd'`` computes 2-D layers with a 3x3 kernel,
        stride 1, dilation 1 and one group by Winograd's minimal filtering:
        F(4x4, 3x3) (4x fewer multiplications) in float32 on maps where its
        tiles are well used (28x28 and larger), else F(2x2, 3x3) (2.25x
        fewer); ``'winograd2x2'`` and ``'winograd4x4'`` force the tile
        (F(4x4) is float32 only). Rounding errors, measured in the engine
        guide: F(2x2) below the direct method's, F(4x4) 2-3x above it in
        float32; inputs holding inf or NaN take the direct kernel (the
        transforms would spread them). ``'gemm'`` is an implicit GEMM (no im2col
        buffer), any options. ``'batch'`` vectorizes across the batch (small
        maps, large batches), any options. ``'auto'``: ``'winograd'`` for such
        3x3 layers with at least 16 input and output channels; the blocked
        kernel for non-1x1 layers whose output channels per group fill
        panels of 16 (float64: 8) three-quarters, with 96+ taps; the batch
        kernel for batches of 32+ with rows of at most 32 outputs where
        the kernel is at least a fifth of the padded row; the GEMM for
        strided or 1x1 layers with many channels per group; else direct --
        unless the kernel is large (50 taps or more: never a 1x1 ... 7x7
        layer), the inputs are finite and the fitted cost model of
        ``convolve._dispatch`` predicts the FFT clearly faster (see the
        methods guide), where it takes ``'fft'``. ``'fft'`` transforms the
        zero-padded input and the kernel and contracts the channels per
        frequency: for large kernels. The methods agree to rounding.

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
    over output blocks; Winograd: ``pyx/_winograd_kernel.pyx``, parallel over
    blocks of tiles. Each output is summed by one thread in a fixed order,
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
           padding_mode="zeros", flip=False, out=None, workers=None, method="auto"):
    return _conv(1, x, weight, bias, stride, padding, dilation, groups, padding_mode, flip,
                 out, workers, method)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", flip=False, out=None, workers=None, method="auto"):
    return _conv(2, x, weight, bias, stride, padding, dilation, groups, padding_mode, flip,
                 out, workers, method)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", flip=False, out=None, workers=None, method="auto"):
    return _conv(3, x, weight, bias, stride, padding, dilation, groups, padding_mode, flip,
                 out, workers, method)


for _d, _f in ((1, conv1d), (2, conv2d), (3, conv3d)):
    _sp = ", ".join("DHW"[3 - _d:])
    _f.__doc__ = _CONV_DOC.format(
        d=_d, sp=_sp, ksp=", ".join("k" + a for a in "DHW"[3 - _d:]),
        osp=", ".join("O" + a for a in "DHW"[3 - _d:]),
        others="\n    ".join(f"conv{e}d : The {e}-D version." for e in (1, 2, 3) if e != _d),
        ones=", 4" * _d, kones=", 3" * _d, oshape=", 4" * _d, val=f"{3.0 ** _d}")
del _d, _f, _sp


# ------------------------------------------------------------------ gradients
from . import _conv_grad  # noqa: E402  (after the forward, which it builds on)

_INPUT_GRAD_DOC = """Gradient of :func:`conv{d}d` with respect to its input.

    ``grad_x[n, c, i] = sum_{{o, k, p: p*stride + k*dilation - lo = i}}
    grad_out[n, o, p] * weight[o, c, k]`` -- the adjoint of the forward: for
    stride 1 a correlation with the flipped, channel-transposed kernel; for
    stride ``s`` (and layers with few input channels against at least 32
    output channels, an RGB stem) the GEMM ``weight^T grad_out`` with its
    columns folded onto the input as they are computed (PyTorch's col2im,
    without storing the columns); grouped strided layers run ``s**{d}``
    stride-1 correlations, one per phase of the input (no zero-stuffed
    array). The gradient of a
    non-zero `padding_mode` folds back onto the input elements the padding
    copied.

    Parameters
    ----------
    grad_out : array_like, shape (N, O, {osp})
        Gradient of the loss with respect to the forward output.
    weight : array_like, shape (O, C/groups, {ksp})
        The forward's filters.
    input_shape : tuple of int
        ``(N, C, {sp})`` (or without N) of the forward's input.
    stride, padding, dilation, groups, padding_mode, flip
        The forward's options (see :func:`conv{d}d`).
    workers : int, optional
        Threads.
    method : {{'auto', 'fft'}}, default 'auto'
        ``'fft'`` computes it in the frequency domain (large kernels);
        ``'auto'`` uses the direct kernels (Winograd, GEMM, batch lanes
        where they apply), or the FFT where the forward's rule (see
        :func:`conv{d}d`) predicts it faster for this gradient's shapes.

    Returns
    -------
    ndarray, shape `input_shape`

    Raises
    ------
    ValueError
        Shapes that do not match the forward, as :func:`conv{d}d` would raise,
        or a `grad_out` of the wrong shape.

    See Also
    --------
    conv{d}d, conv{d}d_weight_grad, conv_backward, conv_transpose{d}d

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.functional import conv{d}d, conv{d}d_input_grad
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3{xs})); w = rng.standard_normal((4, 3{ks}))
    >>> y = conv{d}d(x, w, stride=2, padding=1)
    >>> g = rng.standard_normal(y.shape)
    >>> gx = conv{d}d_input_grad(g, w, x.shape, stride=2, padding=1)
    >>> bool(np.isclose(np.vdot(y, g), np.vdot(x, gx)))   # the adjoint identity
    True
    """

_WEIGHT_GRAD_DOC = """Gradient of :func:`conv{d}d` with respect to its weight.

    ``grad_w[o, c, k] = sum_{{n, p}} grad_out[n, o, p] *
    xpad[n, g*C/groups + c, p*stride + k*dilation]``, computed as a
    correlation of the (padded) input with `grad_out`; each ``(o, c)`` block is
    summed by one thread in a fixed order (identical for any thread count).

    Parameters
    ----------
    x : array_like, shape (N, C, {sp})
        The forward's input.
    grad_out : array_like, shape (N, O, {osp})
        Gradient of the loss with respect to the forward output.
    weight_shape : tuple of int
        ``(O, C/groups, {ksp})``.
    stride, padding, dilation, groups, padding_mode, flip
        The forward's options (see :func:`conv{d}d`).
    workers : int, optional
        Threads.
    method : {{'auto', 'fft'}}, default 'auto'
        ``'fft'`` computes it in the frequency domain (large kernels);
        ``'auto'`` uses the direct kernels (Winograd, GEMM, batch lanes
        where they apply), or the FFT where the forward's rule (see
        :func:`conv{d}d`) predicts it faster for this gradient's shapes.

    Returns
    -------
    ndarray, shape `weight_shape`

    Raises
    ------
    ValueError
        Shapes that do not match the forward.

    See Also
    --------
    conv{d}d, conv{d}d_input_grad, conv_backward

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.functional import conv{d}d, conv{d}d_weight_grad
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3{xs})); w = rng.standard_normal((4, 3{ks}))
    >>> g = rng.standard_normal(conv{d}d(x, w, padding='same').shape)
    >>> gw = conv{d}d_weight_grad(x, g, w.shape, padding='same')
    >>> bool(np.isclose(np.vdot(conv{d}d(x, w, padding='same'), g), np.vdot(w, gw)))
    True
    """

_TRANSPOSE_DOC = """{d}-D transposed convolution ("deconvolution"), as ``torch.nn.functional.conv_transpose{d}d``.

    It is the input gradient of :func:`conv{d}d` (one kernel serves both:
    ``conv_transpose{d}d(x, w) == conv{d}d_input_grad(x, w, ...)``).

    Parameters
    ----------
    x : array_like, shape (N, C_in, {sp}) or (C_in, {sp})
        Input.
    weight : array_like, shape (C_in, C_out/groups, {ksp})
        Filters (PyTorch's layout for transposed convolution).
    bias : array_like, shape (C_out,), optional
        Added to each output channel.
    stride, padding, output_padding, groups, dilation : int or tuple
        As PyTorch; `output_padding` must be smaller than `stride` or `dilation`.
    workers : int, optional
        Threads.

    Returns
    -------
    ndarray, shape (N, C_out, {osp})
        ``out = (in - 1) * stride - 2 * padding + dilation * (k - 1) +
        output_padding + 1`` per axis.

    Raises
    ------
    ValueError
        Channel mismatch, `groups` not dividing the channels, `output_padding`
        too large, a non-positive output size.

    See Also
    --------
    conv{d}d_input_grad, conv{d}d

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.functional import conv_transpose{d}d
    >>> x = np.ones((1, 2{ones}), dtype=np.float32)
    >>> conv_transpose{d}d(x, np.ones((2, 3{kones}), dtype=np.float32), stride=2).shape
    (1, 3{oshape})
    """


def _grad_fns(d):
    def input_grad(grad_out, weight, input_shape, stride=1, padding=0, dilation=1, groups=1,
                   padding_mode="zeros", flip=False, workers=None, method="auto"):
        return _conv_grad.input_grad(d, grad_out, weight, input_shape, stride, padding,
                                     dilation, groups, padding_mode, flip, workers, method)

    def weight_grad(x, grad_out, weight_shape, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", flip=False, workers=None, method="auto"):
        return _conv_grad.weight_grad(d, x, grad_out, weight_shape, stride, padding,
                                      dilation, groups, padding_mode, flip, workers, method)

    def transpose(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                  dilation=1, workers=None):
        return _conv_grad.conv_transpose(d, x, weight, bias, stride, padding, output_padding,
                                         groups, dilation, workers)

    axes = "DHW"[3 - d:]
    fmt = dict(d=d, sp=", ".join(axes), ksp=", ".join("k" + a for a in axes),
               osp=", ".join("O" + a for a in axes), xs=", 7" * d, ks=", 3" * d,
               ones=", 4" * d, kones=", 3" * d, oshape=", 9" * d)
    for f, doc, name in ((input_grad, _INPUT_GRAD_DOC, f"conv{d}d_input_grad"),
                         (weight_grad, _WEIGHT_GRAD_DOC, f"conv{d}d_weight_grad"),
                         (transpose, _TRANSPOSE_DOC, f"conv_transpose{d}d")):
        f.__doc__ = doc.format(**fmt)
        f.__name__ = f.__qualname__ = name
        f.__module__ = __name__
    return input_grad, weight_grad, transpose


conv1d_input_grad, conv1d_weight_grad, conv_transpose1d = _grad_fns(1)
conv2d_input_grad, conv2d_weight_grad, conv_transpose2d = _grad_fns(2)
conv3d_input_grad, conv3d_weight_grad, conv_transpose3d = _grad_fns(3)


def conv_bias_grad(grad_out):
    """Gradient of a convolution's bias: ``grad_out`` summed over batch and space.

    Parameters
    ----------
    grad_out : array_like, shape (N, O, ...)

    Returns
    -------
    ndarray, shape (O,)

    Examples
    --------
    >>> import numpy as np
    >>> conv_bias_grad(np.ones((2, 3, 4, 4)))
    array([32., 32., 32.])
    """
    g = np.asarray(grad_out)
    if g.ndim < 3:
        raise ValueError(f"grad_out must have shape (N, O, *spatial), got {g.shape}")
    return g.sum(axis=(0,) + tuple(range(2, g.ndim)))


def conv_backward(grad_out, x, weight, *, bias=False, stride=1, padding=0, dilation=1,
                  groups=1, padding_mode="zeros", flip=False, needs=(True, True, True),
                  workers=None):
    """All gradients of :func:`conv1d`/:func:`conv2d`/:func:`conv3d` in one call.

    Parameters
    ----------
    grad_out : array_like, shape (N, O, ...)
        Gradient of the loss with respect to the forward output.
    x : array_like, shape (N, C, ...)
        The forward's input.
    weight : array_like, shape (O, C/groups, ...)
        The forward's filters; its number of dimensions gives the rank.
    bias : bool, default False
        Whether the forward had a bias (then its gradient is returned).
    stride, padding, dilation, groups, padding_mode, flip
        The forward's options.
    needs : tuple of 3 bool, default (True, True, True)
        Which of (grad_x, grad_weight, grad_bias) to compute.
    workers : int, optional
        Threads.

    Returns
    -------
    grad_x, grad_weight, grad_bias : ndarray or None
        None where not needed; `grad_bias` is None when ``bias=False``.

    Raises
    ------
    ValueError
        As the per-gradient functions.

    See Also
    --------
    conv2d_input_grad, conv2d_weight_grad, conv_bias_grad

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((1, 1, 5, 5)); w = np.ones((2, 1, 3, 3))
    >>> gx, gw, gb = conv_backward(np.ones((1, 2, 3, 3)), x, w, bias=True)
    >>> gx.shape, gw.shape, gb
    ((1, 1, 5, 5), (2, 1, 3, 3), array([9., 9.]))
    """
    return _conv_grad.backward(grad_out, x, weight, bias, stride, padding, dilation, groups,
                               padding_mode, flip, needs, workers)


# ------------------------------------------------------- convolution as a matrix
from ._matrix import conv_matrix, fold, unfold  # noqa: E402

for _f in (conv_matrix, fold, unfold):
    _f.__module__ = __name__
del _f
__all__ += ["unfold", "fold", "conv_matrix"]


# ------------------------------------------------------------------- pooling
from . import pooling as _pooling  # noqa: E402
from .pooling import *  # noqa: E402,F401,F403

__all__ += list(_pooling.__all__)


# ------------------------------------------- normalization and activations
from . import activations as _activations  # noqa: E402
from . import normalization as _normalization  # noqa: E402
from .activations import *  # noqa: E402,F401,F403
from .normalization import *  # noqa: E402,F401,F403

__all__ += list(_normalization.__all__) + list(_activations.__all__)
