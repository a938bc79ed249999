"""Local normalization (local response normalization, forward and backward) and
elementwise activations."""
from .common import Benchmark, params_for


class Normalization(Benchmark):
    """``local_response_norm`` vs ``torch.nn.functional.local_response_norm``."""

    params = params_for("normalization")

    def time_normalization(self, dtype, case, library):
        self.fn()

    def peakmem_normalization(self, dtype, case, library):
        self.fn()
