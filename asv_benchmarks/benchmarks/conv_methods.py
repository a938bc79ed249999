"""Forward convolution with each algorithm forced (method='direct', 'gemm',
'blocked', 'winograd2x2', 'winograd4x4'): shows which method a commit moved;
'auto' is ConvForward."""
from .common import Benchmark, params_for


class ConvMethods(Benchmark):
    """``convolve.functional.conv2d(..., method=m)`` on the network layer shapes."""

    params = params_for("conv_methods")

    def time_conv_method(self, dtype, case, library):
        self.fn()
