"""Forward convolution, NN family: conv1d, conv2d (the network layers), conv3d."""
from .common import Benchmark, params_for


class ConvForward(Benchmark):
    """``convolve.functional.conv{1,2,3}d`` vs ``torch.nn.functional.conv{1,2,3}d``."""

    params = params_for("conv_forward")

    def time_conv_forward(self, dtype, case, library):
        self.fn()

    def peakmem_conv_forward(self, dtype, case, library):
        self.fn()
