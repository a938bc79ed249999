"""Ready-made networks built from :mod:`convolve.layers`.

- :func:`lenet5`: LeCun et al.'s LeNet-5 (1998) with ReLU and max pooling,
  layer for layer the network of the PyTorch tutorials;
- :func:`small_cnn`: a small modern network (BatchNorm, anti-aliased
  downsampling, global average pooling).
"""
import numpy as np

from . import layers as L

__all__ = ["lenet5", "small_cnn"]


def lenet5(num_classes=10, in_channels=1, input_size=32, rng=None, dtype=np.float32):
    """LeNet-5: C1(6, 5x5) - S2 - C3(16, 5x5) - S4 - C5(120) - F6(84) - output.

    Convolutions without padding, ReLU after every layer but the last, 2x2 max
    pooling; C5 is a fully connected layer on the flattened ``16 x 5 x 5``
    maps (for 32x32 input), as in ``torch.nn`` versions of the network.

    Parameters
    ----------
    num_classes : int, default 10
    in_channels : int, default 1
    input_size : int, default 32
        Height and width of the input images (at least 16).
    rng : numpy.random.Generator or int, optional
        Source of the initial weights (PyTorch's default initialization).
    dtype : {float32, float64}, default float32

    Returns
    -------
    convolve.layers.Sequential
        Input ``(N, in_channels, input_size, input_size)``, output logits
        ``(N, num_classes)``. Its first layer computes no input gradient
        (``needs_input_grad = False``, the input being data); set
        ``model.needs_input_grad = True`` to get one from ``backward``.

    Raises
    ------
    ValueError
        `input_size` too small for two 5x5 convolutions and two poolings.

    See Also
    --------
    small_cnn

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.models import lenet5
    >>> net = lenet5(rng=0)
    >>> net.forward(np.zeros((2, 1, 32, 32), dtype=np.float32)).shape
    (2, 10)
    >>> sum(p.size for p in net.parameters().values())
    61706
    """
    s = ((input_size - 4) // 2 - 4) // 2
    if s < 1:
        raise ValueError(f"input_size must be at least 16 for LeNet-5, got {input_size}")
    rng = L._generator(rng)
    kw = dict(rng=rng, dtype=dtype)
    model = L.Sequential(
        L.Conv2d(in_channels, 6, 5, **kw), L.ReLU(), L.MaxPool2d(2),
        L.Conv2d(6, 16, 5, **kw), L.ReLU(), L.MaxPool2d(2),
        L.Flatten(),
        L.Linear(16 * s * s, 120, **kw), L.ReLU(),
        L.Linear(120, 84, **kw), L.ReLU(),
        L.Linear(84, num_classes, **kw))
    model.needs_input_grad = False
    return model


def small_cnn(num_classes=10, in_channels=1, width=16, rng=None, dtype=np.float32):
    """A small modern CNN: conv-BN-ReLU blocks, BlurPool downsampling, global average pooling.

    ``[Conv3x3(w) BN ReLU] BlurPool [Conv3x3(2w) BN ReLU] BlurPool
    [Conv3x3(4w) BN ReLU] GlobalAvgPool Linear``, padding ``'same'`` so that
    any input size of at least 8 works.

    Parameters
    ----------
    num_classes : int, default 10
    in_channels : int, default 1
    width : int, default 16
        Channels of the first block.
    rng : numpy.random.Generator or int, optional
    dtype : {float32, float64}, default float32

    Returns
    -------
    convolve.layers.Sequential

    See Also
    --------
    lenet5

    Examples
    --------
    >>> import numpy as np
    >>> from convolve.models import small_cnn
    >>> net = small_cnn(width=4, rng=0)
    >>> net.forward(np.zeros((2, 1, 16, 16), dtype=np.float32)).shape
    (2, 10)
    """
    rng = L._generator(rng)
    kw = dict(rng=rng, dtype=dtype)
    w = width
    model = L.Sequential(
        L.Conv2d(in_channels, w, 3, padding=1, bias=False, **kw), L.BatchNorm2d(w, dtype=dtype),
        L.ReLU(), L.BlurPool2d(2),
        L.Conv2d(w, 2 * w, 3, padding=1, bias=False, **kw),
        L.BatchNorm2d(2 * w, dtype=dtype), L.ReLU(), L.BlurPool2d(2),
        L.Conv2d(2 * w, 4 * w, 3, padding=1, bias=False, **kw),
        L.BatchNorm2d(4 * w, dtype=dtype), L.ReLU(),
        L.GlobalAvgPool2d(),
        L.Linear(4 * w, num_classes, **kw))
    model.needs_input_grad = False
    return model
