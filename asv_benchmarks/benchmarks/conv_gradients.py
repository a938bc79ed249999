"""Convolution gradients: input gradient and weight gradient of conv2d."""
from .common import Benchmark, params_for


class ConvGradients(Benchmark):
    """``conv2d_input_grad`` / ``conv2d_weight_grad`` vs ``torch.nn.grad.conv2d_*``."""

    params = params_for("conv_gradients")

    def time_conv_gradients(self, dtype, case, library):
        self.fn()
