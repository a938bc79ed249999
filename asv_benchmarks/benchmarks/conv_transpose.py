"""Transposed convolution (deconvolution)."""
from .common import Benchmark, params_for


class ConvTranspose(Benchmark):
    """``convolve.functional.conv_transpose2d`` vs ``torch.nn.functional.conv_transpose2d``."""

    params = params_for("conv_transpose")

    def time_conv_transpose(self, dtype, case, library):
        self.fn()
