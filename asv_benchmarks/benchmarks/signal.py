"""SciPy-compatible signal family: convolve, convolve2d, oaconvolve, fftconvolve."""
from .common import Benchmark, params_for


class Signal(Benchmark):
    """``convolve.signal`` vs SciPy, NumPy and OpenCV on the same arrays."""

    params = params_for("signal")

    def time_signal(self, dtype, case, library):
        self.fn()


class SignalMemory(Benchmark):
    """Peak memory of the FFT-based cases (transform buffers, overlap-add blocks)."""

    params = params_for("signal", peakmem=True)

    def peakmem_signal(self, dtype, case, library):
        self.fn()
