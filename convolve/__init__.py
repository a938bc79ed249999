"""convolve: fast CPU convolution, correlation and their gradients for NumPy.

Two front doors over one compiled engine:

- :mod:`convolve.signal` — SciPy-compatible ``convolve``, ``correlate``,
  ``convolve2d``, ``correlate2d``, ``fftconvolve``, ``oaconvolve``,
  ``choose_conv_method`` (re-exported here);
- :mod:`convolve.functional` — PyTorch-compatible ``conv1d``, ``conv2d``,
  ``conv3d`` on ``(N, C, *spatial)`` arrays.

Threads: ``workers=`` on every function, :func:`set_num_threads`,
:func:`get_num_threads` and the :func:`threads` context manager.
"""
try:
    from importlib.metadata import version as _version, PackageNotFoundError
    try:
        __version__ = _version("convolve")
    except PackageNotFoundError:
        __version__ = "0.1.0"
except ImportError:  # pragma: no cover
    __version__ = "0.1.0"

from . import functional, operator, signal
from ._threads import get_num_threads, set_num_threads, threads
from .signal import (choose_conv_method, convolve, convolve2d, correlate, correlate2d,
                     fftconvolve, oaconvolve)

__all__ = [
    "signal", "functional", "kernels", "operator",
    "convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "oaconvolve",
    "choose_conv_method",
    "get_num_threads", "set_num_threads", "threads", "show_config",
]


def __getattr__(name):
    # kernels and show_config import lazily (kernels pulls in nothing heavy,
    # but keeping `import convolve` minimal keeps its start-up fast)
    if name == "kernels":
        # importlib, not `from . import kernels`: that form looks the name up
        # on this module first, which would call __getattr__ again
        import importlib
        return importlib.import_module(".kernels", __name__)
    if name == "show_config":
        from ._config import show_config
        return show_config
    raise AttributeError(f"module 'convolve' has no attribute {name!r}")
