"""Layer API: one training step (forward, backward, SGD update) of LeNet-5."""
from .common import Benchmark, params_for


class TrainStep(Benchmark):
    """``convolve.models.lenet5()`` vs the same network in PyTorch, batch of 64."""

    params = params_for("layers")

    def time_train_step(self, dtype, case, library):
        self.fn()
