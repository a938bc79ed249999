"""A thin layer API over :mod:`convolve.functional`: layers, losses, optimizers.

Every layer is an object with

- ``forward(x)`` (also ``layer(x)``): computes the output and keeps what the
  backward pass needs;
- ``backward(grad_out)``: returns the gradient with respect to the input of
  the last ``forward`` and *stores* (overwrites, it does not accumulate) the
  gradients of the layer's parameters;
- ``parameters()`` / ``gradients()``: dicts ``name -> ndarray`` with the same
  keys in the same order (``"weight"``, ``"bias"``; ``"0.weight"``,
  ``"3.bias"``, ... in a :class:`Sequential`);
- ``train()`` / ``eval()``: the mode, which changes :class:`Dropout` and
  :class:`BatchNorm2d`.

The arithmetic runs in the compiled kernels of :mod:`convolve.functional`;
this module only keeps state. Parameters are plain NumPy arrays that the
optimizers (:class:`SGD`, :class:`Adam`) update in place, so the dicts of
``parameters()`` stay valid for the life of the model. Initialization is
PyTorch's default (Kaiming-uniform with ``a = sqrt(5)`` for weights, biases
uniform in ``+-1/sqrt(fan_in)``), drawn from an explicit `rng`.

Examples
--------
>>> import numpy as np
>>> from convolve import layers as L
>>> model = L.Sequential(L.Conv2d(1, 4, 3, rng=0), L.ReLU(), L.MaxPool2d(2),
...                      L.Flatten(), L.Linear(4 * 3 * 3, 10, rng=1))
>>> x = np.random.default_rng(2).standard_normal((8, 1, 8, 8), dtype=np.float32)
>>> loss = L.SoftmaxCrossEntropy()
>>> opt = L.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> value = loss.forward(model.forward(x), np.arange(8))
>>> grad_x = model.backward(loss.backward())
>>> opt.step(model.gradients())
>>> list(model.parameters())
['0.weight', '0.bias', '4.weight', '4.bias']
>>> grad_x.shape, grad_x.dtype
((8, 1, 8, 8), dtype('float32'))
"""
import contextlib
import math
import numbers

import numpy as np

from . import functional as F
from . import _nnops
from . import activations as _activations
from . import pooling as _pooling

__all__ = ["Layer", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "MaxPool2d",
           "AvgPool2d", "LPPool2d", "GlobalAvgPool2d", "BlurPool2d", "LocalResponseNorm",
           "LocalContrastNorm", "ReLU", "Sigmoid", "Softplus", "AbsRectify", "SmoothAbs",
           "Flatten", "Linear", "Dropout", "BatchNorm2d", "Sequential",
           "SoftmaxCrossEntropy", "MSELoss", "SGD", "Adam", "save", "load"]


# Products below this many flops run the BLAS on one thread: waking its
# threads costs more than they save there, and on few cores they contend with
# the OpenMP threads of the convolution kernels that have just finished (both
# pools spin while they wait): a 64x400x120 product measured 0.1 ms alone and
# 4-35 ms right after an OpenMP kernel on 2 cores.
SMALL_GEMM_FLOPS = 1 << 26
_blas = None       # the BLAS libraries' threadpoolctl controllers, found on first use


class _BlasOneThread:
    """Context manager: each BLAS library on one thread, then back to its
    setting. Asks each library its thread count (a C call) and changes only
    those above one: threadpoolctl's ``limit`` re-inspects every library on
    each entry and cost 20-30 us per product, more than the small products
    of LeNet's dense layers."""

    __slots__ = ("_saved",)

    def __enter__(self):
        saved = []
        for lib in _blas:
            n = lib.get_num_threads()
            if n is not None and n > 1:
                lib.set_num_threads(1)
                saved.append((lib, n))
        self._saved = saved
        return self

    def __exit__(self, *exc):
        for lib, n in self._saved:
            lib.set_num_threads(n)
        return False


_NULL = contextlib.nullcontext()


def _gemm_threads(flops):
    """Context manager: the BLAS on one thread for a small product (a no-op
    without threadpoolctl, or for a large product)."""
    global _blas
    if flops >= SMALL_GEMM_FLOPS:
        return _NULL
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
            for lib in libs:            # the calls __enter__ makes, tried once
                lib.get_num_threads()
            _blas = libs
        except Exception:  # not installed (an optional dependency) or unusable
            _blas = []
    return _BlasOneThread() if _blas else _NULL


def _pair(v):
    """`v` as a pair of ints (an int repeated), or None: only to recognize a
    configuration; validation stays with the functional API."""
    try:
        if isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
            return (int(v),) * 2
        t = tuple(v)
        if len(t) == 2 and all(isinstance(i, numbers.Integral)
                               and not isinstance(i, (bool, np.bool_)) for i in t):
            return tuple(int(i) for i in t)
    except TypeError:
        pass
    return None


def _generator(rng):
    """A ``numpy.random.Generator`` from a Generator, a seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _uniform(rng, bound, shape, dtype):
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def _kaiming_init(rng, weight_shape, fan_in, bias, dtype):
    """PyTorch's default init: ``kaiming_uniform_(a=sqrt(5))`` gives
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for the weight; the bias has the same
    bound."""
    rng = _generator(rng)
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    w = _uniform(rng, bound, weight_shape, dtype)
    b = _uniform(rng, bound, (weight_shape[0] if bias is True else bias,), dtype) \
        if bias is not False else None
    return w, b


class Layer:
    """Base class: no parameters, identity mode handling.

    Subclasses list their parameter attributes in ``_param_names`` (and
    non-trainable state such as running statistics in ``_buffer_names``),
    write their gradients into ``self._grads`` in ``backward``, and implement
    ``forward`` / ``backward``.

    Attributes
    ----------
    training : bool
        True after :meth:`train` (the default), False after :meth:`eval`.
    needs_input_grad : bool
        When False, :meth:`backward` may skip the gradient with respect to
        the input and return None (a network's first layer, whose input is
        data, as PyTorch does for inputs that do not require a gradient).
    """

    _param_names = ()
    _buffer_names = ()

    def __init__(self):
        self.training = True
        self.needs_input_grad = True
        self._grads = {}

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def parameters(self):
        """Trainable arrays, ``{name: ndarray}`` (the arrays themselves, not copies)."""
        return {n: getattr(self, n) for n in self._param_names
                if getattr(self, n) is not None}

    def gradients(self):
        """Gradients of the last :meth:`backward`, aligned with :meth:`parameters`
        (zeros before the first backward)."""
        out = {}
        for n, p in self.parameters().items():
            g = self._grads.get(n)
            if g is None:
                g = self._grads[n] = np.zeros_like(p)
            out[n] = g
        return out

    def buffers(self):
        """Non-trainable state saved by :func:`save` (e.g. running statistics)."""
        return {n: getattr(self, n) for n in self._buffer_names
                if getattr(self, n) is not None}

    def train(self, mode=True):
        """Training mode (or evaluation mode with ``mode=False``); returns self."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode; returns self."""
        return self.train(False)

    def zero_grad(self):
        """Set the stored gradients to zero."""
        for g in self.gradients().values():
            g[...] = 0

    def _extra_repr(self):
        options = getattr(self, "options", None)
        if options is not None:
            return ", ".join(f"{k}={v!r}" for k, v in options.items())
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in ("p", "k", "size", "sigma")
                         if hasattr(self, k))

    def __repr__(self):
        return f"{type(self).__name__}({self._extra_repr()})"


# ------------------------------------------------------------------ convolution

class _ConvNd(Layer):
    _param_names = ("weight", "bias")
    _d = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", *, rng=None,
                 dtype=np.float32):
        super().__init__()
        d = self._d
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels ({in_channels}) "
                             f"and out_channels ({out_channels})")
        k = (kernel_size,) * d if isinstance(kernel_size, numbers.Integral) \
            else tuple(kernel_size)
        if len(k) != d:
            raise ValueError(f"kernel_size must be an int or {d} ints, got {kernel_size!r}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                            padding_mode=padding_mode)
        dtype = _float_dtype(dtype)
        shape = (out_channels, in_channels // groups) + k
        self.weight, self.bias = _kaiming_init(rng, shape, math.prod(shape[1:]), bias, dtype)
        self._conv = getattr(F, f"conv{d}d")
        self._x = None

    def forward(self, x):
        self._x = x
        return self._conv(x, self.weight, self.bias, **self.options)

    def backward(self, grad_out):
        gx, gw, gb = F.conv_backward(grad_out, self._x, self.weight,
                                     bias=self.bias is not None,
                                     needs=(self.needs_input_grad, True, True),
                                     **self.options)
        self._grads["weight"] = gw
        if gb is not None:
            self._grads["bias"] = gb
        return gx

    def _extra_repr(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"{opts}, bias={self.bias is not None}")


_CONV_DOC = """{d}-D convolution layer over ``(N, C_in, {sp})`` input.

    The forward is :func:`convolve.functional.conv{d}d`, the backward
    :func:`convolve.functional.conv_backward` (which skips the input gradient
    when ``needs_input_grad`` is False).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and the output.
    kernel_size : int or tuple of {d} ints
    stride, padding, dilation, groups, padding_mode
        As :func:`convolve.functional.conv{d}d`.
    bias : bool, default True
    rng : numpy.random.Generator or int, optional
        Source of the initial weights (PyTorch's default init).
    dtype : {{float32, float64}}, default float32

    Attributes
    ----------
    weight : ndarray, shape (out_channels, in_channels / groups, {ksp})
    bias : ndarray, shape (out_channels,) or None

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import Conv{d}d
    >>> conv = Conv{d}d(3, 8, 3, padding=1, rng=0)
    >>> y = conv.forward(np.zeros((2, 3{ones}), dtype=np.float32))
    >>> y.shape
    (2, 8{ones})
    >>> conv.backward(np.ones_like(y)).shape
    (2, 3{ones})
    """


class Conv1d(_ConvNd):
    _d = 1


class Conv2d(_ConvNd):
    _d = 2


class Conv3d(_ConvNd):
    _d = 3


for _cls in (Conv1d, Conv2d, Conv3d):
    _ax = "DHW"[3 - _cls._d:]
    _cls.__doc__ = _CONV_DOC.format(d=_cls._d, sp=", ".join(_ax),
                                    ksp=", ".join("k" + a for a in _ax),
                                    ones=", 5" * _cls._d)
del _cls, _ax


class ConvTranspose2d(Layer):
    """2-D transposed convolution layer (:func:`convolve.functional.conv_transpose2d`).

    Its input gradient is a forward :func:`~convolve.functional.conv2d` of
    `grad_out` with the same weight, its weight gradient the weight gradient
    of that convolution with the roles of input and output exchanged.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding, output_padding, groups, dilation
        As :func:`convolve.functional.conv_transpose2d`.
    bias : bool, default True
    rng : numpy.random.Generator or int, optional
    dtype : {float32, float64}, default float32

    Attributes
    ----------
    weight : ndarray, shape (in_channels, out_channels / groups, kH, kW)
    bias : ndarray, shape (out_channels,) or None

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import ConvTranspose2d
    >>> up = ConvTranspose2d(4, 2, 4, stride=2, padding=1, rng=0)
    >>> up.forward(np.zeros((1, 4, 8, 8), dtype=np.float32)).shape
    (1, 2, 16, 16)
    """

    _param_names = ("weight", "bias")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, *, rng=None,
                 dtype=np.float32):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels ({in_channels}) "
                             f"and out_channels ({out_channels})")
        k = (kernel_size,) * 2 if isinstance(kernel_size, numbers.Integral) \
            else tuple(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.groups, self.dilation = groups, dilation
        shape = (in_channels, out_channels // groups) + k
        # PyTorch takes fan_in from weight.shape[1] here too
        self.weight, self.bias = _kaiming_init(rng, shape, math.prod(shape[1:]),
                                               out_channels if bias else False,
                                               _float_dtype(dtype))
        self._x = None

    def forward(self, x):
        self._x = x
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)

    def backward(self, grad_out):
        opts = dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)
        self._grads["weight"] = F.conv2d_weight_grad(grad_out, self._x, self.weight.shape,
                                                     **opts)
        if self.bias is not None:
            self._grads["bias"] = F.conv_bias_grad(grad_out).astype(self.bias.dtype,
                                                                     copy=False)
        if not self.needs_input_grad:
            return None
        return F.conv2d(grad_out, self.weight, **opts)


# ------------------------------------------------------------------ pooling

class MaxPool2d(Layer):
    """2-D max pooling (:func:`convolve.functional.max_pool2d`); backward by the
    winners' positions (int64 indices, or one byte per output for 2x2 windows
    with stride 2 and no padding).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import MaxPool2d
    >>> pool = MaxPool2d(2)
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> pool.forward(x)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> pool.backward(np.ones((1, 1, 2, 2)))[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.options = dict(kernel_size=kernel_size, stride=stride, padding=padding,
                            dilation=dilation, ceil_mode=ceil_mode)
        self._idx = self._codes = self._shape = self._ws = None
        # 2x2 windows, stride 2, no padding (ceil_mode only adds windows for
        # odd sizes, which the forward checks): the winners are kept as one
        # byte per output (kh * 2 + kw) rather than int64 indices
        self._two = (_pair(kernel_size) == (2, 2) and _pair(2 if stride is None else stride)
                     == (2, 2) and _pair(padding) == (0, 0) and _pair(dilation) == (1, 1))

    def forward(self, x):
        self._shape = np.shape(x)
        self._idx = self._codes = None
        if self._two and not (self.options["ceil_mode"] and len(self._shape) >= 2
                              and (self._shape[-1] % 2 or self._shape[-2] % 2)):
            res = _pooling._max_pool2x2(x)
            if res is not None:
                y, self._codes = res
                return y
        y, self._idx = F.max_pool2d(x, return_indices=True, **self.options)
        return y

    def backward(self, grad_out):
        if self._codes is not None:
            return _pooling._max_pool2x2_backward(grad_out, self._codes, self._shape)
        return F.max_pool2d_backward(grad_out, self._idx, self._shape)

    def _forward_relu(self, x):
        """``forward(relu(x))`` for a Sequential's ReLU-then-pool pair, in one
        pass over `x` and without relu(x) (codes 4 for zero-gradient windows,
        so :meth:`backward` gives relu's and the pool's gradients composed);
        None where the 2x2 path does not apply."""
        if not self._two:
            return None
        shape = np.shape(x)
        if self.options["ceil_mode"] and len(shape) >= 2 and (shape[-1] % 2 or shape[-2] % 2):
            return None
        res = _pooling._max_pool2x2(x, relu=True)
        if res is None:
            return None
        self._shape, self._idx = shape, None
        y, self._codes = res
        return y

    def _backward_ws(self, grad_out):
        """backward into an array the layer keeps and rewrites on the next
        call: for a Sequential whose layers below consume the gradient without
        keeping or returning it (a fresh input gradient's allocation faults
        its pages in, every step)."""
        if self._codes is None:
            return self.backward(grad_out)
        gi = _pooling._max_pool2x2_backward(grad_out, self._codes, self._shape,
                                            out=self._ws)
        self._ws = gi
        return gi


class AvgPool2d(Layer):
    """2-D average pooling (:func:`convolve.functional.avg_pool2d`).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import AvgPool2d
    >>> AvgPool2d(2).forward(np.ones((1, 3, 4, 4))).shape
    (1, 3, 2, 2)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.options = dict(kernel_size=kernel_size, stride=stride, padding=padding,
                            ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                            divisor_override=divisor_override)
        self._shape = None

    def forward(self, x):
        self._shape = np.shape(x)
        return F.avg_pool2d(x, **self.options)

    def backward(self, grad_out):
        return F.avg_pool2d_backward(grad_out, self._shape, **self.options)


class LPPool2d(Layer):
    """2-D power-average pooling, ``(sum |x|**p)**(1/p)`` over each window
    (:func:`convolve.functional.lp_pool2d`; torch's ``LPPool2d`` argument order).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import LPPool2d
    >>> float(LPPool2d(2, 2).forward(np.full((1, 1, 2, 2), 3.0))[0, 0, 0, 0])
    6.0
    """

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride = norm_type, kernel_size, stride
        self.ceil_mode = ceil_mode
        self._x = None

    def forward(self, x):
        self._x = x
        return F.lp_pool2d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def backward(self, grad_out):
        return F.lp_pool2d_backward(grad_out, self._x, self.norm_type, self.kernel_size,
                                    self.stride, self.ceil_mode)


class GlobalAvgPool2d(Layer):
    """Mean over the spatial axes: ``(N, C, H, W) -> (N, C)``, ready for a
    :class:`Linear` layer (:func:`convolve.functional.global_avg_pool`).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import GlobalAvgPool2d
    >>> GlobalAvgPool2d().forward(np.ones((2, 3, 4, 4)))
    array([[1., 1., 1.],
           [1., 1., 1.]])
    """

    def __init__(self):
        super().__init__()
        self._shape = self._out_shape = None

    def forward(self, x):
        self._shape = np.shape(x)
        y = F.global_avg_pool(x)
        self._out_shape = y.shape
        return y.reshape(y.shape[:-2])

    def backward(self, grad_out):
        return F.global_avg_pool_backward(np.reshape(grad_out, self._out_shape), self._shape)


class BlurPool2d(Layer):
    """Anti-aliased downsampling: a binomial low-pass filter, then subsampling
    (:func:`convolve.functional.blur_pool2d`; Zhang, 2019).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import BlurPool2d
    >>> BlurPool2d(stride=2).forward(np.ones((1, 2, 8, 8))).shape
    (1, 2, 4, 4)
    """

    def __init__(self, stride=2, filter_size=3, padding_mode="reflect"):
        super().__init__()
        self.options = dict(stride=stride, filter_size=filter_size, padding_mode=padding_mode)
        self._shape = None

    def forward(self, x):
        self._shape = np.shape(x)
        return F.blur_pool2d(x, **self.options)

    def backward(self, grad_out):
        return F.blur_pool2d_backward(grad_out, self._shape, **self.options)


# ------------------------------------------------------------------ normalization

class LocalResponseNorm(Layer):
    """Local response normalization across channels (AlexNet;
    :func:`convolve.functional.local_response_norm`).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import LocalResponseNorm
    >>> LocalResponseNorm(5).forward(np.ones((1, 8, 4, 4))).shape
    (1, 8, 4, 4)
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self._x = None

    def forward(self, x):
        self._x = x
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def backward(self, grad_out):
        return F.local_response_norm_backward(grad_out, self._x, self.size, self.alpha,
                                              self.beta, self.k)


class LocalContrastNorm(Layer):
    """Local contrast normalization: subtract a Gaussian-weighted local mean,
    divide by the local standard deviation
    (:func:`convolve.functional.local_contrast_norm`).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import LocalContrastNorm
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 9, 9))
    >>> LocalContrastNorm(sigma=1.0).forward(x).shape
    (1, 2, 9, 9)
    """

    def __init__(self, sigma=1.0, size=None, eps=1e-4):
        super().__init__()
        self.sigma, self.size, self.eps = sigma, size, eps
        self._x = None

    def forward(self, x):
        self._x = x
        return F.local_contrast_norm(x, self.sigma, self.size, self.eps)

    def backward(self, grad_out):
        return F.local_contrast_norm_backward(grad_out, self._x, self.sigma, self.size,
                                              self.eps)


# ------------------------------------------------------------------ activations

class _Activation(Layer):
    _fn = None
    _args = ()

    def __init__(self):
        super().__init__()
        self._x = None

    def forward(self, x):
        self._x = x
        return getattr(F, self._fn)(x, *(getattr(self, a) for a in self._args))

    def backward(self, grad_out):
        return getattr(F, self._fn + "_backward")(grad_out, self._x,
                                                  *(getattr(self, a) for a in self._args))


class ReLU(_Activation):
    """``max(x, 0)`` (:func:`convolve.functional.relu`).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import ReLU
    >>> relu = ReLU()
    >>> relu.forward(np.array([[-1.0, 2.0]]))
    array([[0., 2.]])
    >>> relu.backward(np.array([[5.0, 5.0]]))
    array([[0., 5.]])
    """
    _fn = "relu"

    # Inside a Sequential, on an activation no one else holds (the fresh output
    # of the layer before, its fresh input gradient), ReLU works in place: the
    # output y = relu(x) overwrites x and gives backward the same mask
    # (y <= 0 exactly where x <= 0, NaN passing in both), and the gradient
    # overwrites grad_out. Same values as forward/backward, two large arrays
    # fewer per step (their allocation faults pages in).
    def _forward_owned(self, x):
        y = _activations._relu_inplace(x)
        if y is None:
            return self.forward(x)
        self._x = y
        return y

    def _backward_owned(self, grad_out):
        g = _activations._relu_backward_inplace(grad_out, self._x)
        return self.backward(grad_out) if g is None else g


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))`` (:func:`convolve.functional.sigmoid`).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import Sigmoid
    >>> Sigmoid().forward(np.zeros((1, 2)))
    array([[0.5, 0.5]])
    """
    _fn = "sigmoid"


class Softplus(_Activation):
    """``log(1 + exp(k x)) / k``, a smooth ReLU (:func:`convolve.functional.softplus`).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import Softplus
    >>> Softplus(k=1.0).forward(np.zeros((1, 1))).round(4)
    array([[0.6931]])
    """
    _fn = "softplus"
    _args = ("k",)

    def __init__(self, k=1.0):
        super().__init__()
        self.k = k


class AbsRectify(_Activation):
    """``|x|`` (:func:`convolve.functional.abs_rectify`; Jarrett et al., 2009).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import AbsRectify
    >>> AbsRectify().forward(np.array([[-2.0, 3.0]]))
    array([[2., 3.]])
    """
    _fn = "abs_rectify"


class SmoothAbs(_Activation):
    """A smooth ``|x|`` with sharpness `k` (:func:`convolve.functional.smooth_abs`).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import SmoothAbs
    >>> SmoothAbs(k=10.0).forward(np.array([[-2.0, 3.0]])).shape
    (1, 2)
    """
    _fn = "smooth_abs"
    _args = ("k",)

    def __init__(self, k=1.0):
        super().__init__()
        self.k = k


# ------------------------------------------------------------------ dense layers

class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1 * d2 * ...)`` (from `start_dim`), a view.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import Flatten
    >>> Flatten().forward(np.zeros((2, 3, 4, 4))).shape
    (2, 48)
    """

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim
        self._shape = None

    def forward(self, x):
        self._shape = np.shape(x)
        return np.reshape(x, self._shape[:self.start_dim] + (-1,))

    def backward(self, grad_out):
        return np.reshape(grad_out, self._shape)


class Linear(Layer):
    """Fully connected layer, ``y = x @ weight.T + bias`` (the BLAS does the products).

    Products of fewer than ``SMALL_GEMM_FLOPS`` flops run the BLAS on one
    thread (through threadpoolctl, when installed): on few cores its threads
    would otherwise contend with the OpenMP threads of the convolutions.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    rng : numpy.random.Generator or int, optional
    dtype : {float32, float64}, default float32

    Attributes
    ----------
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,) or None

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import Linear
    >>> fc = Linear(4, 3, rng=0)
    >>> y = fc.forward(np.ones((2, 4), dtype=np.float32))
    >>> y.shape, fc.backward(np.ones_like(y)).shape
    ((2, 3), (2, 4))
    >>> sorted(fc.gradients())
    ['bias', 'weight']
    """

    _param_names = ("weight", "bias")

    def __init__(self, in_features, out_features, bias=True, *, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight, self.bias = _kaiming_init(rng, (out_features, in_features), in_features,
                                               bias, _float_dtype(dtype))
        self._x = None

    def _flops(self, x):
        return 2 * (np.size(x) // self.in_features) * self.in_features * self.out_features

    def forward(self, x):
        self._x = x
        with _gemm_threads(self._flops(x)):
            y = np.matmul(x, self.weight.T)
        if self.bias is not None:
            np.add(y, self.bias, out=y)
        return y

    def backward(self, grad_out):
        grad_out = np.asarray(grad_out)
        with _gemm_threads(2 * self._flops(self._x)):
            self._grads["weight"] = np.matmul(grad_out.T, self._x)
            gx = np.matmul(grad_out, self.weight) if self.needs_input_grad else None
        if self.bias is not None:
            self._grads["bias"] = grad_out.sum(axis=0)
        return gx

    def _extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Dropout(Layer):
    """Inverted dropout: in training, zero each element with probability `p`
    and scale the others by ``1 / (1 - p)``; the identity in evaluation mode.

    Parameters
    ----------
    p : float, default 0.5
    rng : numpy.random.Generator or int, optional
        Source of the masks (seed it for reproducible training).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import Dropout
    >>> drop = Dropout(0.5, rng=0)
    >>> y = drop.forward(np.ones((1, 1000)))
    >>> sorted(set(y.ravel().tolist()))
    [0.0, 2.0]
    >>> drop.eval().forward(np.ones((1, 3)))
    array([[1., 1., 1.]])
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = p
        self.rng = _generator(rng)
        self._mask = None

    def forward(self, x):
        if not self.training or self.p == 0:
            self._mask = None
            return x
        x = np.asarray(x)
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self._mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._mask

    def backward(self, grad_out):
        return grad_out if self._mask is None else grad_out * self._mask


class BatchNorm2d(Layer):
    """Batch normalization over ``(N, H, W)`` per channel, as ``torch.nn.BatchNorm2d``.

    In training, normalizes with the batch statistics (biased variance) and
    updates ``running_mean``/``running_var`` (unbiased variance) by
    ``running = (1 - momentum) * running + momentum * batch``; in evaluation
    mode, normalizes with the running statistics.

    Parameters
    ----------
    num_features : int
        Channels C.
    eps : float, default 1e-5
        Added to the variance.
    momentum : float or None, default 0.1
        Weight of the new batch in the running statistics; None averages
        all batches seen so far equally.
    affine : bool, default True
        Learnable ``weight`` (ones) and ``bias`` (zeros).
    dtype : {float32, float64}, default float32

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import BatchNorm2d
    >>> bn = BatchNorm2d(3)
    >>> x = np.random.default_rng(0).normal(5.0, 2.0, (8, 3, 4, 4)).astype(np.float32)
    >>> y = bn.forward(x)
    >>> bool(abs(y.mean()) < 1e-5), bn.running_mean.round(1)
    (True, array([0.5, 0.5, 0.5], dtype=float32))
    """

    _param_names = ("weight", "bias")
    _buffer_names = ("running_mean", "running_var", "num_batches_tracked")

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, *,
                 dtype=np.float32):
        super().__init__()
        dtype = _float_dtype(dtype)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = np.ones(num_features, dtype) if affine else None
        self.bias = np.zeros(num_features, dtype) if affine else None
        self.running_mean = np.zeros(num_features, dtype)
        self.running_var = np.ones(num_features, dtype)
        self.num_batches_tracked = np.zeros((), np.int64)
        self._cache = None

    def forward(self, x):
        x = np.asarray(x)
        C = self.num_features
        if x.ndim != 4 or x.shape[1] != C:
            raise ValueError(f"BatchNorm2d({C}) expects (N, {C}, H, W) input, got {x.shape}")
        shape = (1, C, 1, 1)
        if self.training:
            axes = (0, 2, 3)
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(shape)
            var = np.mean(np.square(xc), axis=axes)
            m = x.size // C
            self.num_batches_tracked += 1
            # momentum=None: cumulative average over the batches seen (as PyTorch)
            f = 1.0 / int(self.num_batches_tracked) if self.momentum is None else self.momentum
            self.running_mean *= 1 - f
            self.running_mean += f * mean
            self.running_var *= 1 - f
            self.running_var += f * var * (m / max(m - 1, 1))
        else:
            xc = x - self.running_mean.reshape(shape)
            var = self.running_var
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        xhat = xc * inv_std.reshape(shape)
        self._cache = (xhat, inv_std, self.training)
        if self.weight is None:
            return xhat
        return xhat * self.weight.reshape(shape) + self.bias.reshape(shape)

    def backward(self, grad_out):
        xhat, inv_std, training = self._cache
        shape = (1, self.num_features, 1, 1)
        axes = (0, 2, 3)
        if self.weight is not None:
            self._grads["weight"] = np.sum(grad_out * xhat, axis=axes)
            self._grads["bias"] = np.sum(grad_out, axis=axes)
            g = grad_out * self.weight.reshape(shape)
        else:
            g = grad_out
        if not self.needs_input_grad:
            return None
        if not training:
            return g * inv_std.reshape(shape)
        # d xhat -> d x through the batch mean and variance
        mean_g = g.mean(axis=axes).reshape(shape)
        mean_gx = (g * xhat).mean(axis=axes).reshape(shape)
        return (g - mean_g - xhat * mean_gx) * inv_std.reshape(shape)


# ------------------------------------------------------------------ containers

class Sequential(Layer):
    """Layers applied in order; parameters named ``"<index>.<name>"``.

    Results are those of calling the layers one by one, bit for bit; arrays
    that only its layers see are reused: a ``ReLU`` followed by a 2x2
    ``MaxPool2d`` runs as one pass (the pool of relu(x), without relu(x)), a
    ``ReLU`` after a ``Conv*d`` or ``Linear`` works in place (and in place on
    its gradient from a ``Linear`` or ``MaxPool2d``), and a 2x2 ``MaxPool2d``
    whose input gradient feeds a ``Conv*d`` or ``Linear`` (through ReLUs)
    writes it into a workspace of its own. The caller's arrays are never
    modified, and returned arrays never overwritten later.

    Parameters
    ----------
    *layers : Layer

    Examples
    --------
    >>> import numpy as np
    >>> from convolve import layers as L
    >>> net = L.Sequential(L.Linear(3, 4, rng=0), L.ReLU(), L.Linear(4, 2, rng=1))
    >>> list(net.parameters()) == list(net.gradients())
    True
    >>> net.forward(np.ones((5, 3), dtype=np.float32)).shape
    (5, 2)
    >>> len(net), type(net[1]).__name__
    (3, 'ReLU')
    """

    def __init__(self, *layers):
        super().__init__()
        for layer in layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes Layer objects, got {type(layer).__name__}")
        self.layers = list(layers)
        self._fused = set()     # the ReLUs the last forward folded into a pool

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    @property
    def needs_input_grad(self):
        return self.layers[0].needs_input_grad if self.layers else True

    @needs_input_grad.setter
    def needs_input_grad(self, value):
        if getattr(self, "layers", None):
            self.layers[0].needs_input_grad = bool(value)

    def forward(self, x):
        # A ReLU followed by a 2x2 MaxPool2d runs as one pass, the pool of
        # relu(x) (MaxPool2d._forward_relu; backward then skips the ReLU).
        # Otherwise an activation that only the next layer sees may be
        # overwritten by it (ReLU._forward_owned): the fresh output of a layer
        # of _FRESH_OUTPUT, unless it is the network's output.
        layers = self.layers
        last = len(layers) - 1
        fused = self._fused = set()
        owned = False
        i = 0
        while i <= last:
            layer = layers[i]
            if type(layer) is ReLU and i < last and type(layers[i + 1]) is MaxPool2d:
                y = layers[i + 1]._forward_relu(x)
                if y is not None:
                    layer._x = None     # its gradient is folded into the pool's
                    fused.add(i)
                    x, owned, i = y, False, i + 2
                    continue
            if owned and i < last and type(layer) is ReLU:
                x = layer._forward_owned(x)
            else:
                x = layer.forward(x)
            owned = type(layer) in _FRESH_OUTPUT
            i += 1
        return x

    def backward(self, grad_out):
        owned = False      # the caller's grad_out is never overwritten
        layers = self.layers
        fused = self._fused
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            if i in fused:
                continue            # ReLU: in the pool's backward (forward above)
            if owned and type(layer) is ReLU:
                grad_out = layer._backward_owned(grad_out)
            elif type(layer) is MaxPool2d and self._consumed_below(i):
                grad_out = layer._backward_ws(grad_out)
            else:
                grad_out = layer.backward(grad_out)
            owned = type(layer) in _FRESH_GRAD
        return grad_out

    def _consumed_below(self, i):
        """The gradient layer i returns reaches, through in-place ReLUs only, a
        layer of _CONSUMES_GRAD: no one keeps it, and it never leaves backward
        (so a workspace may hold it)."""
        j = i - 1
        while j >= 0 and type(self.layers[j]) is ReLU:     # in place, or fused
            j -= 1
        return j >= 0 and type(self.layers[j]) in _CONSUMES_GRAD

    def _collect(self, method):
        out = {}
        for i, layer in enumerate(self.layers):
            for name, arr in getattr(layer, method)().items():
                out[f"{i}.{name}"] = arr
        return out

    def parameters(self):
        return self._collect("parameters")

    def gradients(self):
        return self._collect("gradients")

    def buffers(self):
        return self._collect("buffers")

    def train(self, mode=True):
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def __repr__(self):
        inner = "\n".join(f"  ({i}): {layer!r}".replace("\n", "\n  ")
                          for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"


# Exact layer types (not subclasses, which may keep what they return) whose
# forward returns a new array that the layer does not keep, and whose
# backward returns a new input gradient that it does not keep.
_FRESH_OUTPUT = frozenset({Conv1d, Conv2d, Conv3d, Linear})
_FRESH_GRAD = frozenset({Linear, MaxPool2d})
# ... whose backward reads grad_out and neither keeps nor returns it
_CONSUMES_GRAD = frozenset({Conv1d, Conv2d, Conv3d, Linear})


# ------------------------------------------------------------------ losses

class SoftmaxCrossEntropy:
    """Mean cross-entropy of ``softmax(logits)`` and integer class labels
    (``torch.nn.CrossEntropyLoss``), with a stable log-sum-exp.

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import SoftmaxCrossEntropy
    >>> loss = SoftmaxCrossEntropy()
    >>> round(loss.forward(np.zeros((2, 4)), np.array([0, 3])), 4)   # log(4)
    1.3863
    >>> loss.backward()
    array([[-0.375,  0.125,  0.125,  0.125],
           [ 0.125,  0.125,  0.125, -0.375]])
    """

    def __init__(self):
        self._cache = self._arange = None

    def forward(self, logits, labels):
        """Mean loss (a Python float) of ``logits (N, K)`` and ``labels (N,)`` in ``[0, K)``."""
        z = np.asarray(logits)
        labels = np.asarray(labels)
        if z.ndim != 2 or labels.shape != (z.shape[0],):
            raise ValueError(f"logits must be (N, K) and labels (N,), got {z.shape} and "
                             f"{labels.shape}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"labels must be integers, got {labels.dtype}")
        if z.dtype in (np.float32, np.float64) and z.flags.c_contiguous and z.shape[0]:
            # one compiled pass (sums and logarithms in double); None: a label
            # out of range, left to the NumPy code below
            lab = labels.astype(np.int64, copy=False)
            if not lab.flags.c_contiguous:
                lab = np.ascontiguousarray(lab)
            p = np.empty_like(z)
            value = _nnops.softmax_cross_entropy(z, lab, p)
            if value is not None:
                self._cache = (p, lab, True)
                return float(value)
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = self._rows(z.shape[0])
        logp = shifted[rows, labels] - np.log(s[:, 0])
        np.divide(e, s, out=e)          # the softmax, kept for backward
        self._cache = (e, labels, False)
        return float(-logp.mean())

    def _rows(self, n):
        rows = self._arange
        if rows is None or len(rows) != n:
            rows = self._arange = np.arange(n)
        return rows

    def backward(self):
        """Gradient of the mean loss with respect to the logits, ``(softmax - onehot) / N``."""
        p, labels, compiled = self._cache
        if compiled:                # labels checked in range by the forward kernel
            g = np.empty_like(p)
            _nnops.softmax_cross_entropy_backward(p, labels, g)
            return g
        g = p.copy()
        g[self._rows(len(labels)), labels] -= 1
        g *= g.dtype.type(1.0 / len(labels))
        return g

    __call__ = forward


class MSELoss:
    """Mean squared error, ``mean((pred - target)**2)`` (``torch.nn.MSELoss``).

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import MSELoss
    >>> loss = MSELoss()
    >>> loss.forward(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
    5.0
    >>> loss.backward()
    array([1., 3.])
    """

    def __init__(self):
        self._diff = None

    def forward(self, pred, target):
        """Mean loss (a Python float)."""
        self._diff = np.asarray(pred) - np.asarray(target)
        return float(np.mean(np.square(self._diff)))

    def backward(self):
        """Gradient with respect to `pred`, ``2 (pred - target) / size``."""
        d = self._diff
        return d * d.dtype.type(2.0 / d.size)

    __call__ = forward


# ------------------------------------------------------------------ optimizers

def _param_list(params):
    if isinstance(params, dict):
        return list(params.keys()), list(params.values())
    params = list(params)
    return list(range(len(params))), params


class _Optimizer:
    def __init__(self, params):
        self.names, self.params = _param_list(params)
        for p in self.params:
            if not isinstance(p, np.ndarray):
                raise TypeError("parameters must be NumPy arrays (updated in place)")
        self.step_count = 0

    def _grads(self, grads):
        if isinstance(grads, dict):
            try:
                return [grads[n] for n in self.names]
            except KeyError as e:
                raise ValueError(f"no gradient for parameter {e.args[0]!r}") from None
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"{len(grads)} gradients for {len(self.params)} parameters")
        return grads


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    ``g = grad + weight_decay * p``; ``buf = g`` (first step) else
    ``buf = momentum * buf + g``; ``g = g + momentum * buf`` (Nesterov) or
    ``g = buf``; ``p -= lr * g``, in place.

    Parameters
    ----------
    params : dict of name -> ndarray, or list of ndarray
        The arrays to update, e.g. ``model.parameters()``.
    lr : float
    momentum, weight_decay : float, default 0
    nesterov : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import SGD
    >>> w = np.array([1.0, 2.0])
    >>> opt = SGD({"w": w}, lr=0.1)
    >>> opt.step({"w": np.array([1.0, -1.0])})
    >>> w
    array([0.9, 2.1])
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params)
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError("lr, momentum and weight_decay must be non-negative")
        if nesterov and momentum <= 0:
            raise ValueError("nesterov needs a positive momentum")
        self.lr, self.momentum, self.weight_decay, self.nesterov = \
            lr, momentum, weight_decay, nesterov
        self.buffers = [None] * len(self.params)
        self._tmp = [None] * len(self.params)
        self._flat = None

    def _flat_step(self, grads):
        """Plain momentum (no weight decay, no Nesterov) on C-contiguous
        parameters of one dtype with gradients of that dtype and shape: the
        momentum buffers are views of one flat array, and one compiled call
        (``convolve._nnops.sgd_momentum_step``) updates everything instead of
        four NumPy operations per parameter. The same arithmetic, element by
        element, as the general loop. False (nothing done) otherwise."""
        params = self.params
        if not self.momentum or self.nesterov or self.weight_decay or not params:
            return False
        dt = params[0].dtype
        if dt.kind != "f" or dt.itemsize not in (4, 8):
            return False
        for p, g in zip(params, grads):
            if type(g) is not np.ndarray or g.dtype != dt or g.shape != p.shape \
                    or p.dtype != dt or not p.flags.c_contiguous:
                return False
        flat = self._flat
        if flat is None or flat[0].dtype != dt:
            if any(b is not None for b in self.buffers):
                return False            # buffers of the general loop: stay with it
            sizes = [p.size for p in params]
            n = sum(sizes)
            buf, tmp = np.empty(n, dt), np.empty(n, dt)
            offs = np.cumsum([0] + sizes)
            self.buffers = [buf[a:b].reshape(p.shape)
                            for a, b, p in zip(offs[:-1], offs[1:], params)]
            flat = self._flat = (buf, tmp, [p.reshape(-1) for p in params], [False])
        buf, tmp, pviews, started = flat
        # the products rounded on their own, as the general loop's NumPy
        # operations compute them
        _nnops.sgd_momentum_step(pviews, [g.reshape(-1) for g in grads], buf, tmp,
                                 self.momentum, self.lr, not started[0])
        started[0] = True
        return True

    def step(self, grads):
        """Update every parameter in place from `grads` (aligned with the params)."""
        grads = self._grads(grads)
        if self._flat_step(grads):
            self.step_count += 1
            return
        momentum, nesterov, wd = self.momentum, self.nesterov, self.weight_decay
        bufs, tmps = self.buffers, self._tmp
        for i, (p, g) in enumerate(zip(self.params, grads)):
            g = np.asarray(g)
            if wd:
                g = g + wd * p
            if momentum:
                buf = bufs[i]
                if buf is None:
                    buf = bufs[i] = np.array(g, dtype=p.dtype, copy=True)
                else:
                    np.multiply(buf, momentum, out=buf)
                    np.add(buf, g, out=buf)
                g = g + momentum * buf if nesterov else buf
            # p -= lr * g, the product in a scratch array kept between steps
            t = tmps[i]
            if t is None or t.shape != p.shape or t.dtype != np.result_type(p, g):
                t = tmps[i] = np.empty(p.shape, np.result_type(p, g))
            np.multiply(g, p.dtype.type(self.lr), out=t)
            np.subtract(p, t, out=p)
        self.step_count += 1


class Adam(_Optimizer):
    """Adam, as ``torch.optim.Adam`` (L2 `weight_decay` added to the gradient).

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``,
    ``p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)``.

    Parameters
    ----------
    params : dict of name -> ndarray, or list of ndarray
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.layers import Adam
    >>> w = np.array([1.0, 2.0])
    >>> Adam([w], lr=0.1).step([np.array([3.0, -0.5])])
    >>> w.round(6)     # the first step moves each entry by lr
    array([0.9, 2.1])
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]

    def step(self, grads):
        """Update every parameter in place from `grads` (aligned with the params)."""
        self.step_count += 1
        t = self.step_count
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** t, math.sqrt(1 - b2 ** t)
        for p, g, m, v in zip(self.params, self._grads(grads), self.m, self.v):
            if self.weight_decay:
                g = g + self.weight_decay * p
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * np.square(g)
            denom = np.sqrt(v)
            denom /= c2
            denom += self.eps
            p -= (self.lr / c1) * m / denom


# ------------------------------------------------------------------ persistence

def save(model, path):
    """Write `model`'s parameters and buffers (running statistics) to an ``.npz`` file.

    Examples
    --------
    >>> import os, tempfile
    >>> from convolve.layers import Linear, save, load
    >>> path = os.path.join(tempfile.mkdtemp(), "fc.npz")
    >>> save(Linear(3, 2, rng=0), path)
    >>> fc = load(Linear(3, 2, rng=1), path)
    >>> bool((fc.weight == Linear(3, 2, rng=0).weight).all())
    True
    """
    arrays = dict(model.parameters())
    arrays.update(model.buffers())
    np.savez(path, **arrays)


def load(model, path):
    """Read the arrays :func:`save` wrote into `model`, in place; returns `model`.

    Raises
    ------
    ValueError
        The file's names or shapes do not match the model's.
    """
    targets = dict(model.parameters())
    targets.update(model.buffers())
    with np.load(path) as data:
        if set(data.files) != set(targets):
            raise ValueError(f"{path}: names {sorted(data.files)} do not match the model's "
                             f"{sorted(targets)}")
        for name, arr in targets.items():
            src = data[name]
            if src.shape != arr.shape:
                raise ValueError(f"{path}: {name} has shape {src.shape}, the model "
                                 f"{arr.shape}")
            arr[...] = src
    return model
