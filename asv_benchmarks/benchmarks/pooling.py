"""Pooling: max (with and without indices, and its backward), average, Lp and
adaptive average."""
from .common import Benchmark, params_for


class Pooling(Benchmark):
    """``convolve.functional`` pools vs ``torch.nn.functional`` on (8, 64, 112, 112)."""

    params = params_for("pooling")

    def time_pooling(self, dtype, case, library):
        self.fn()

    def peakmem_pooling(self, dtype, case, library):
        self.fn()
