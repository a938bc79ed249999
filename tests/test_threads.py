"""Threads: results independent of the thread count, thread settings, OpenMP
present in the build, and the GIL released during the computation.

The shapes are big enough that the kernels really split the work over
threads (each thread gets far more than the minimum work per thread).
"""
import hashlib
import json
import os
import pathlib
import threading
import time

import numpy as np
import pytest

import convolve
from convolve import functional as cf

try:
    from . import reference as ref
except ImportError:
    import reference as ref

CONV = {1: cf.conv1d, 2: cf.conv2d, 3: cf.conv3d}

# (x shape, weight shape) per rank
BIG = {1: ((4, 8, 4096), (8, 8, 5)),
       2: ((4, 8, 64, 64), (8, 8, 3, 3)),
       3: ((2, 4, 16, 24, 24), (8, 4, 3, 3, 3))}

OPTIONS = {
    "default": {},
    "same-bias": {"padding": "same", "bias": True},
    "stride2-dilated": {"stride": 2, "dilation": 2, "padding": "full"},
    "depthwise-reflect": {"groups": True, "padding": 1, "padding_mode": "reflect"},
}


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def make(d, dtype, options, seed=0):
    rng = np.random.default_rng(seed)
    xs, ws = BIG[d]
    opts = dict(options)
    if opts.get("groups"):   # depthwise: one filter per input channel
        opts["groups"] = xs[1]
        ws = (xs[1], 1) + ws[2:]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if opts.pop("bias", False) else None
    return x, w, b, opts


@pytest.mark.parametrize("case", list(OPTIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_bitwise_identical_any_thread_count(d, dtype, case, assert_close):
    x, w, b, opts = make(d, dtype, OPTIONS[case])
    conv = CONV[d]
    one = conv(x, w, b, workers=1, **opts)
    assert_close(one, ref.conv_ref(x, w, b, **opts))
    for workers in (2, 3, -1):
        np.testing.assert_array_equal(conv(x, w, b, workers=workers, **opts), one)
    with convolve.threads(1):
        a = conv(x, w, b, **opts)
    with convolve.threads(2):
        c = conv(x, w, b, **opts)
    np.testing.assert_array_equal(a, one)
    np.testing.assert_array_equal(c, one)
    out = np.empty_like(one)
    conv(x, w, b, workers=2, out=out, **opts)
    np.testing.assert_array_equal(out, one)


def test_get_set_num_threads_round_trip():
    default = convolve.get_num_threads()
    assert isinstance(default, int) and default >= 1
    try:
        convolve.set_num_threads(1)
        assert convolve.get_num_threads() == 1
        convolve.set_num_threads(3)
        assert convolve.get_num_threads() == 3
        with convolve.threads(2):
            assert convolve.get_num_threads() == 2
            with convolve.threads(1):
                assert convolve.get_num_threads() == 1
            assert convolve.get_num_threads() == 2
        assert convolve.get_num_threads() == 3
        convolve.set_num_threads(-1)
        assert 1 <= convolve.get_num_threads() <= usable_cpus()
    finally:
        convolve.set_num_threads(None)
    assert convolve.get_num_threads() == default


def test_threads_context_restores_on_error():
    before = convolve.get_num_threads()
    with pytest.raises(RuntimeError):
        with convolve.threads(1):
            raise RuntimeError
    assert convolve.get_num_threads() == before


def test_zero_threads_is_value_error():
    x, w, _, _ = make(1, np.float64, {})
    with pytest.raises(ValueError, match="(?i)workers"):
        cf.conv1d(x, w, workers=0)
    with pytest.raises(ValueError):
        convolve.set_num_threads(0)
    with pytest.raises(ValueError):
        with convolve.threads(0):
            pass
    # and the valid counts are accepted
    np.testing.assert_array_equal(cf.conv1d(x, w, workers=-1), cf.conv1d(x, w, workers=1))


def test_build_has_openmp():
    """A build that silently lacks OpenMP ships prange loops that run on one
    thread; fail unless that is explicitly allowed."""
    if os.environ.get("CONVOLVE_ALLOW_NO_OPENMP") == "1":
        pytest.skip("CONVOLVE_ALLOW_NO_OPENMP=1")
    path = pathlib.Path(convolve.__file__).with_name("_build_info.json")
    assert path.exists(), f"{path} is missing: the build did not record its OpenMP status"
    with open(path) as f:
        info = json.load(f)
    assert info.get("openmp") is True, (
        "convolve was built without OpenMP (set CONVOLVE_ALLOW_NO_OPENMP=1 to accept)")


# (x shape, weight shape) for one call of the GIL test: tens of milliseconds
GIL_SHAPES = {1: ((8, 32, 16384), (32, 32, 9)),
              2: ((8, 32, 96, 96), (32, 32, 5, 5)),
              3: ((4, 16, 24, 48, 48), (16, 16, 3, 3, 3))}


def concurrency_ratio(fn, reps):
    """Wall time of `reps` calls of `fn` in each of two Python threads at once,
    over the best time of `reps` calls in one thread."""
    def serial():
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        return time.perf_counter() - t

    single = min(serial(), serial())
    barrier = threading.Barrier(3)

    def job():
        barrier.wait()
        for _ in range(reps):
            fn()

    ts = [threading.Thread(target=job) for _ in range(2)]
    for t in ts:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in ts:
        t.join()
    return (time.perf_counter() - start) / single


@pytest.mark.skipif(usable_cpus() < 2, reason="needs 2 CPUs")
@pytest.mark.parametrize("d", [1, 2, 3])
def test_gil_released(d):
    """Two Python threads each running single-threaded convolutions finish in
    much less than twice the time of one: the GIL is released in the kernel.

    With the GIL held the two would run one after the other (ratio >= 2.0);
    released, ideally ~1.0. The bound 1.9 is deliberately generous, and the
    best of three attempts is kept, because the machine is shared and noisy
    (timing assertions are otherwise banned from the suite: this one checks
    a yes/no property with a wide margin). As a control, SHA-256 of a large
    buffer (which releases the GIL in CPython) is timed the same way; when
    even the control cannot run two threads in parallel, the machine is too
    busy to tell and the test skips rather than fail.
    """
    rng = np.random.default_rng(0)
    xs, ws = GIL_SHAPES[d]
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    conv = CONV[d]
    expected = conv(x, w, workers=1)
    results = {}   # the latest result of each Python thread

    def call():
        results[threading.get_ident()] = conv(x, w, workers=1)

    t = time.perf_counter()
    call()
    reps = max(1, int(np.ceil(0.2 / (time.perf_counter() - t))))   # ~0.2 s per job
    data = b"\0" * (32 << 20)
    ratios, controls = [], []
    for _ in range(3):
        ratios.append(concurrency_ratio(call, reps))
        if ratios[-1] < 1.9:
            break
        controls.append(concurrency_ratio(lambda: hashlib.sha256(data).digest(), 2))
    assert len(results) >= 2
    for r in results.values():   # concurrent calls computed the right numbers
        np.testing.assert_array_equal(r, expected)
    if min(ratios) >= 1.9 and min(controls) >= 1.6:
        pytest.skip(f"machine too busy: even the GIL-free control ran at {controls} x")
    assert min(ratios) < 1.9, f"2 threads took {ratios} x one call: is the GIL held?"


@pytest.mark.parametrize("method", ["auto", "fft"])
def test_signal_method_choice_ignores_workers(method):
    """The signal family's cost model picks direct, one FFT block or
    overlap-save tiles for the machine's CPUs, never for ``workers``: the
    methods round differently, so the bits stay the same for any thread
    count (these shapes once switched method between 2 and 3 threads)."""
    from convolve import signal
    rng = np.random.default_rng(3)
    for sa, sb in (((254,), (2,)), ((13, 15), (4, 3)), ((21, 13), (3, 4)),
                   ((12, 7, 3), (4, 1, 2)), ((3000,), (40,)), ((64, 64), (9, 9))):
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        want = signal.convolve(a, b, method=method, workers=1)
        for workers in (2, 3, 4, 8):
            np.testing.assert_array_equal(
                signal.convolve(a, b, method=method, workers=workers), want)
