"""Local response and local contrast normalization, forward and backward:
``convolve.normalization``.

Compared with the independent NumPy oracles in ``tests/reference_nnops.py``
and with ``torch.nn.functional.local_response_norm`` (values and autograd
gradients); finite-difference gradients in float64, 1 vs 2 threads bitwise
equal, argument errors.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convolve import normalization as Nm

try:
    from . import reference_nnops as ref
except ImportError:
    import reference_nnops as ref

DTYPES = [np.float32, np.float64]
# (shape, size, alpha, beta, k): beta 0.75 / 0.5 / 1 take the sqrt fast paths
LRN_CASES = [((2, 7, 5, 6), 5, 1e-4, 0.75, 2.0), ((2, 7, 5, 6), 4, 0.5, 0.75, 1.0),
             ((1, 3, 9), 5, 2.0, 0.5, 1.5), ((2, 6, 3, 2, 4), 3, 1.0, 1.0, 1.0),
             ((2, 9, 4, 4), 2, 0.3, 0.6, 1.2), ((1, 1, 4, 4), 5, 1.0, 0.75, 1.0),
             ((3, 300, 2, 3), 7, 0.01, 0.75, 1.0)]


def _fd(f, x, g, gx, rng, eps=1e-6, rtol=1e-6, atol=1e-9):
    v = rng.standard_normal(x.shape)
    fd = (np.vdot(f(x + eps * v), g) - np.vdot(f(x - eps * v), g)) / (2 * eps)
    np.testing.assert_allclose(fd, np.vdot(gx, v), rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", LRN_CASES, ids=[f"lrn-{i}" for i in range(len(LRN_CASES))])
def test_lrn_reference_and_fd(case, rng, assert_close):
    shape, size, alpha, beta, k = case
    kw = dict(size=size, alpha=alpha, beta=beta, k=k)
    for dtype in DTYPES:
        x = (rng.standard_normal(shape) * 2).astype(dtype)
        y = Nm.local_response_norm(x, **kw)
        assert y.dtype == dtype and y.shape == shape
        assert_close(y, ref.lrn(x, **kw), dtype)
    x = rng.standard_normal(shape) * 2
    g = rng.standard_normal(shape)
    gx = Nm.local_response_norm_backward(g, x, **kw)
    _fd(lambda z: Nm.local_response_norm(z, **kw), x, g, gx, rng)
    g32 = Nm.local_response_norm_backward(g.astype(np.float32), x.astype(np.float32), **kw)
    assert g32.dtype == np.float32
    assert_close(g32, gx, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LRN_CASES, ids=[f"lrn-{i}" for i in range(len(LRN_CASES))])
def test_lrn_torch(case, dtype, rng, torch, assert_close):
    shape, size, alpha, beta, k = case
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.nn.functional.local_response_norm(tx, size, alpha, beta, k)
    y = Nm.local_response_norm(x, size, alpha, beta, k)
    assert_close(y, ty.detach().numpy())
    g = rng.standard_normal(shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    assert_close(Nm.local_response_norm_backward(g, x, size, alpha, beta, k),
                 tx.grad.numpy())


@settings(max_examples=25, deadline=None)
@given(C=st.integers(1, 9), S=st.integers(1, 300), size=st.integers(1, 8),
       beta=st.sampled_from([0.75, 0.5, 1.0, 0.3]), seed=st.integers(0, 2**16))
def test_lrn_hypothesis(C, S, size, beta, seed):
    x = np.random.default_rng(seed).standard_normal((2, C, S))
    np.testing.assert_allclose(Nm.local_response_norm(x, size, 0.5, beta, 1.0),
                               ref.lrn(x, size, 0.5, beta, 1.0), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lrn_threads_bitwise_equal(dtype, rng):
    x = rng.standard_normal((3, 16, 30, 30)).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    for beta in (0.75, 0.6):
        a = Nm.local_response_norm(x, 5, 1e-2, beta, 1.0, workers=1)
        b = Nm.local_response_norm(x, 5, 1e-2, beta, 1.0, workers=2)
        assert a.tobytes() == b.tobytes()
        a = Nm.local_response_norm_backward(g, x, 5, 1e-2, beta, 1.0, workers=1)
        b = Nm.local_response_norm_backward(g, x, 5, 1e-2, beta, 1.0, workers=2)
        assert a.tobytes() == b.tobytes()


def test_lrn_errors_and_dtypes():
    x = np.ones((1, 3, 4, 4))
    with pytest.raises(ValueError, match="size must be a positive int"):
        Nm.local_response_norm(x, size=0)
    with pytest.raises(TypeError, match="size must be an int"):
        Nm.local_response_norm(x, size=2.5)
    with pytest.raises(ValueError, match="x must have at least 3 dimensions"):
        Nm.local_response_norm(np.ones((3, 4)))
    with pytest.raises(ValueError, match="alpha must be finite"):
        Nm.local_response_norm(x, alpha=np.nan)
    with pytest.raises(TypeError, match="beta must be a real"):
        Nm.local_response_norm(x, beta=None)
    with pytest.raises(TypeError, match="NN family"):
        Nm.local_response_norm(x.astype(complex))
    with pytest.raises(ValueError, match="grad_out must have the shape"):
        Nm.local_response_norm_backward(np.ones((1, 3, 4)), x)
    assert Nm.local_response_norm(np.ones((1, 3, 2), int)).dtype == np.float64
    assert Nm.local_response_norm(np.empty((0, 3, 2))).shape == (0, 3, 2)


# ------------------------------------------------------ local contrast normalization
LCN_CASES = [((2, 3, 9, 8), 1.0, None, 1e-4), ((1, 2, 7, 7), 0.7, 3, 1e-4),
             ((2, 1, 6, 10), 2.0, 5, 1e-4), ((1, 4, 5, 6), 1.0, 1, 1e-4),
             ((3, 5, 5), 1.5, None, 1e-4)]


@pytest.mark.parametrize("case", LCN_CASES, ids=[f"lcn-{i}" for i in range(len(LCN_CASES))])
def test_lcn_reference_and_fd(case, rng, assert_close):
    shape, sigma, size, eps = case
    kw = dict(sigma=sigma, size=size, eps=eps)
    unb = len(shape) == 3
    for dtype in DTYPES:
        x = (rng.standard_normal(shape) + 1).astype(dtype)
        y = Nm.local_contrast_norm(x, **kw)
        assert y.dtype == dtype and y.shape == shape
        expected = ref.lcn(x[None] if unb else x, **kw)
        assert_close(y, expected[0] if unb else expected, dtype)
    x = rng.standard_normal(shape) + 1
    g = rng.standard_normal(shape)
    gx = Nm.local_contrast_norm_backward(g, x, **kw)
    assert gx.shape == shape
    _fd(lambda z: Nm.local_contrast_norm(z, **kw), x, g, gx, rng, rtol=1e-5)


def test_lcn_branches(rng):
    # a large eps: the divisor is constant, y = v / eps, a linear map
    x = rng.standard_normal((1, 2, 6, 6))
    g = rng.standard_normal(x.shape)
    kw = dict(sigma=1.0, eps=100.0)
    gx = Nm.local_contrast_norm_backward(g, x, **kw)
    _fd(lambda z: Nm.local_contrast_norm(z, **kw), x, g, gx, rng)
    # one bright spot: mean(sigma) wins away from it, sigma_ij near it
    x = np.zeros((1, 1, 9, 9))
    x[0, 0, 4, 4] = 5.0
    x += rng.standard_normal(x.shape) * 0.01
    g = rng.standard_normal(x.shape)
    gx = Nm.local_contrast_norm_backward(g, x)
    assert np.isfinite(gx).all()
    _fd(Nm.local_contrast_norm, x, g, gx, rng, eps=1e-7, rtol=1e-4)
    # constant input: v = 0 in the interior, every gradient finite
    c = np.full((1, 2, 5, 5), 3.0)
    assert np.isfinite(Nm.local_contrast_norm_backward(np.ones_like(c), c)).all()


def test_lcn_threads_bitwise_equal(rng):
    x = rng.standard_normal((2, 8, 40, 40))
    g = rng.standard_normal(x.shape)
    for f in (lambda w: Nm.local_contrast_norm(x, workers=w),
              lambda w: Nm.local_contrast_norm_backward(g, x, workers=w)):
        assert f(1).tobytes() == f(2).tobytes()


def test_lcn_errors():
    x = np.ones((1, 1, 5, 5))
    with pytest.raises(ValueError, match="sigma must be positive"):
        Nm.local_contrast_norm(x, sigma=0)
    with pytest.raises(ValueError, match="size must be odd"):
        Nm.local_contrast_norm(x, size=4)
    with pytest.raises(ValueError, match="size must be a positive int"):
        Nm.local_contrast_norm(x, size=-1)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        Nm.local_contrast_norm(x, eps=-1.0)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        Nm.local_contrast_norm(np.ones((5, 5)))
    with pytest.raises(TypeError, match="NN family"):
        Nm.local_contrast_norm(x.astype(complex))
    with pytest.raises(ValueError, match="grad_out must have the shape"):
        Nm.local_contrast_norm_backward(np.ones((1, 1, 5, 4)), x)
