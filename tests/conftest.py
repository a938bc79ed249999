"""Shared fixtures of the test suite.

- ``rng``: a seeded ``numpy.random.Generator`` (a fresh one per test, so
  tests do not depend on their order);
- ``tols`` / ``assert_close``: dtype-aware tolerances, rtol 1e-4 and atol 1e-5
  for float32 (float16 inputs compute in float32), 1e-10 for float64; atol is
  relative to the largest magnitude of the expected array (at least 1), since
  the rounding error of a sum grows with the size of its terms;
- ``torch``: PyTorch, or a clean skip where it is not installed (it is an
  optional peer, never a dependency).
"""
import numpy as np
import pytest

SEED = 20240531


def tolerances(dtype):
    """``dict(rtol=..., atol=...)`` for results of `dtype`."""
    if np.dtype(dtype).itemsize <= 4:
        return {"rtol": 1e-4, "atol": 1e-5}
    return {"rtol": 1e-10, "atol": 1e-10}


def _assert_close(actual, expected, dtype=None):
    """`actual` equals `expected` within the tolerances of `dtype`
    (default: ``actual.dtype``); shapes must match exactly."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    t = tolerances(actual.dtype if dtype is None else dtype)
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=t["rtol"], atol=t["atol"] * scale)


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)


@pytest.fixture
def tols():
    return tolerances


@pytest.fixture
def assert_close():
    return _assert_close


@pytest.fixture
def torch():
    return pytest.importorskip("torch")
