"""Activations, Lp / adaptive / global pooling, max-unpooling and blur pooling,
forward and backward: ``convolve.activations`` and ``convolve.pooling``.

Compared with the independent NumPy oracles in ``tests/reference_nnops.py``
and with ``torch.nn.functional`` (values, indices, autograd gradients);
finite-difference gradients in float64 for every backward, adjoint
(dot-product) identities for the linear ones, 1 vs 2 threads bitwise equal,
NaN propagation and argument errors.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convolve import activations as A
from convolve import functional as F
from convolve import pooling as P

try:
    from . import reference_nnops as ref
except ImportError:
    import reference_nnops as ref

DTYPES = [np.float32, np.float64]
ACTS = ["relu", "sigmoid", "softplus", "abs_rectify", "smooth_abs"]
WITH_K = {"softplus", "smooth_abs"}


def _fd(f, x, g, gx, rng, eps=1e-6, rtol=1e-6, atol=1e-9):
    """Central difference of <f(x), g> along a random direction against <gx, v>."""
    v = rng.standard_normal(x.shape)
    fd = (np.vdot(f(x + eps * v), g) - np.vdot(f(x - eps * v), g)) / (2 * eps)
    np.testing.assert_allclose(fd, np.vdot(gx, v), rtol=rtol, atol=atol)


def _call(name, x, k=None, **kw):
    f = getattr(A, name)
    return f(x, k=k, **kw) if name in WITH_K and k is not None else f(x, **kw)


def _call_bwd(name, g, x, k=None, **kw):
    f = getattr(A, name + "_backward")
    return f(g, x, k=k, **kw) if name in WITH_K and k is not None else f(g, x, **kw)


# ----------------------------------------------------------------- activations
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTS)
def test_activation_reference(name, dtype, rng, assert_close):
    x = (rng.standard_normal((3, 4, 5)) * 4).astype(dtype)
    x.flat[:3] = [0.0, -0.0, 30.0]
    k = 1.7 if name in WITH_K else None
    y = _call(name, x, k)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, ref.activation(name, x, k or 1.0), dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    gx = _call_bwd(name, g, x, k)
    assert gx.dtype == dtype
    assert_close(gx, g * ref.activation_grad(name, x, k or 1.0), dtype)


@pytest.mark.parametrize("name", ACTS)
def test_activation_torch(name, rng, torch, assert_close):
    x = rng.standard_normal((2, 3, 7)) * 3
    x[0, 0, :2] = [0.0, 25.0]
    k = 1.5
    tF = torch.nn.functional
    tfn = {"relu": tF.relu, "sigmoid": torch.sigmoid,
           "softplus": lambda t: tF.softplus(t, beta=k, threshold=1e9),
           "abs_rectify": torch.abs,
           "smooth_abs": lambda t: torch.logaddexp(k * t, -k * t) / k}[name]
    tx = torch.from_numpy(x).requires_grad_()
    ty = tfn(tx)
    g = rng.standard_normal(x.shape)
    ty.backward(torch.from_numpy(g))
    kk = k if name in WITH_K else None
    assert_close(_call(name, x, kk), ty.detach().numpy())
    assert_close(_call_bwd(name, g, x, kk), tx.grad.numpy())


@pytest.mark.parametrize("name", ACTS)
def test_activation_finite_differences(name, rng):
    x = rng.standard_normal((4, 6)) * 2
    x[np.abs(x) < 1e-3] = 0.5     # away from the kinks of relu and abs
    k = 0.8 if name in WITH_K else None
    g = rng.standard_normal(x.shape)
    _fd(lambda z: _call(name, z, k), x, g, _call_bwd(name, g, x, k), rng)


def test_activation_stability_and_nan():
    x = np.array([-1e4, -800.0, 0.0, 800.0, 1e4, np.nan])
    for name in ACTS:
        y = _call(name, x)
        assert np.isfinite(y[:-1]).all(), name
        assert np.isnan(y[-1]), name
    np.testing.assert_array_equal(A.sigmoid(x[:5]), [0.0, 0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(A.softplus(x[:5], k=2.0), [0, 0, math.log(2) / 2, 800, 1e4])
    np.testing.assert_allclose(A.smooth_abs(x[:5]), [1e4, 800, math.log(2), 800, 1e4])
    # tiny sigmoid values keep relative precision
    np.testing.assert_allclose(A.sigmoid(np.array([-700.0])), [math.exp(-700)], rtol=1e-12)
    np.testing.assert_array_equal(A.abs_rectify_backward(np.ones(3), np.array([-1.0, 0, 2])),
                                  [-1, 0, 1])
    np.testing.assert_array_equal(A.relu_backward(np.ones(2), np.array([0.0, -0.0])), [0, 0])


def test_activation_out_and_dtypes(rng):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    expected = A.sigmoid(x)
    out = np.empty_like(x)
    assert A.sigmoid(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    y = x.copy()
    A.sigmoid(y, out=y)                          # in place
    np.testing.assert_array_equal(y, expected)
    outT = np.empty((7, 5), np.float32).T        # non-contiguous out
    A.relu(x, out=outT)
    np.testing.assert_array_equal(outT, np.maximum(x, 0))
    assert A.relu(np.array([-1, 2])).dtype == np.float64          # ints -> float64
    assert A.relu(np.array([-1, 2], np.float16)).dtype == np.float32
    np.testing.assert_array_equal(A.relu(x[:, ::2]), np.maximum(x[:, ::2], 0))  # strided
    assert A.relu(np.float64(-3.0)).shape == ()
    assert A.relu(np.empty((0, 3))).shape == (0, 3)


def test_activation_errors():
    x = np.ones(3)
    with pytest.raises(TypeError, match="NN family"):
        A.relu(x.astype(complex))
    with pytest.raises(ValueError, match="k must be positive"):
        A.softplus(x, k=0)
    with pytest.raises(ValueError, match="k must be positive"):
        A.smooth_abs(x, k=float("inf"))
    with pytest.raises(TypeError, match="k must be a real"):
        A.softplus(x, k="2")
    with pytest.raises(ValueError, match="grad_out must have the shape"):
        A.sigmoid_backward(np.ones(2), x)
    with pytest.raises(ValueError, match="out has dtype"):
        A.relu(x, out=np.empty(3, np.float32))
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        A.relu(x, out=[0, 0, 0])
    with pytest.raises(TypeError, match="x must be an array"):
        A.relu(None)


# ------------------------------------------------------------------- Lp pooling
LP = {1: P.lp_pool1d, 2: P.lp_pool2d, 3: P.lp_pool3d}
LP_BWD = {1: P.lp_pool1d_backward, 2: P.lp_pool2d_backward, 3: P.lp_pool3d_backward}
# (spatial shape, kernel, stride, ceil_mode)
LP_CASES = [((9,), 3, 2, False), ((10,), 3, 2, True), ((7,), 2, None, True),
            ((6, 7), 3, 2, True), ((5, 6), (2, 3), (1, 2), False), ((6, 6), 2, None, False),
            ((4, 5, 5), 2, (1, 2, 2), True), ((3, 4, 4), (2, 1, 2), None, False)]
PS = [1, 2, 3.5, 0.5, math.inf]


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("case", LP_CASES, ids=[f"{len(c[0])}d-{i}" for i, c in
                                                 enumerate(LP_CASES)])
def test_lp_pool_reference(case, p, rng, assert_close):
    sp, k, s, ceil = case
    nd = len(sp)
    for dtype in DTYPES:
        x = rng.standard_normal((2, 3) + sp).astype(dtype)
        y = LP[nd](x, p, k, s, ceil)
        assert y.dtype == dtype
        assert_close(y, ref.lp_pool(x, p, k, s, ceil), dtype)
    # finite differences (|x| bounded away from 0, where p < 1 is singular)
    x = rng.standard_normal((2, 3) + sp)
    x += np.sign(x) * 0.2
    g = rng.standard_normal(y.shape)
    gx = LP_BWD[nd](g, x, p, k, s, ceil)
    _fd(lambda z: LP[nd](z, p, k, s, ceil), x, g, gx, rng, rtol=1e-5)


@pytest.mark.parametrize("p", [1, 2, 3.5, 0.5])
@pytest.mark.parametrize("case", [c for c in LP_CASES if not c[3]] + [((8, 6), 2, 2, True)])
def test_lp_pool_torch(case, p, rng, torch, assert_close):
    sp, k, s, ceil = case
    nd = len(sp)
    x = np.abs(rng.standard_normal((2, 3) + sp)) + 0.1    # torch uses x**p, not |x|**p
    tf = getattr(torch.nn.functional, f"lp_pool{nd}d")
    tx = torch.from_numpy(x).requires_grad_()
    ty = tf(tx, p, k, stride=s, ceil_mode=ceil)
    y = LP[nd](x, p, k, s, ceil)
    assert_close(y, ty.detach().numpy())
    g = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(g))
    assert_close(LP_BWD[nd](g, x, p, k, s, ceil), tx.grad.numpy())


def test_lp_pool_zero_windows_and_nan():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = [[1.0, -2.0], [0.0, 3.0]]
    for p in PS:
        gx = P.lp_pool2d_backward(np.ones((1, 1, 2, 2)), x, p, 2)
        assert np.isfinite(gx).all(), p
        assert (gx[0, 0, :2, :2] == 0).all() and gx[0, 0, 3, 2] == 0
    gi = P.lp_pool2d_backward(np.ones((1, 1, 2, 2)), x, math.inf, 2)
    assert gi[0, 0, 3, 3] == 1 and gi.sum() == 1
    np.testing.assert_array_equal(P.lp_pool2d(x, math.inf, 2), [[[[0, 0], [0, 3]]]])
    x[0, 0, 0, 1] = np.nan
    for p in PS:
        y = P.lp_pool2d(x, p, 2)
        assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1, 1]), p


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(L=st.integers(1, 9), k=st.integers(1, 4), s=st.integers(1, 3), ceil=st.booleans(),
       p=st.sampled_from([1.0, 2.0, 0.7, 3.0, math.inf]), seed=st.integers(0, 2**16))
def test_lp_pool_hypothesis(L, k, s, ceil, p, seed):
    if k > L:
        return
    x = np.random.default_rng(seed).standard_normal((1, 2, L))
    np.testing.assert_allclose(P.lp_pool1d(x, p, k, s, ceil), ref.lp_pool(x, p, k, s, ceil),
                               rtol=1e-12)


# ------------------------------------------------------------ adaptive pooling
AAVG = {1: P.adaptive_avg_pool1d, 2: P.adaptive_avg_pool2d, 3: P.adaptive_avg_pool3d}
AAVG_BWD = {1: P.adaptive_avg_pool1d_backward, 2: P.adaptive_avg_pool2d_backward,
            3: P.adaptive_avg_pool3d_backward}
AMAX = {1: P.adaptive_max_pool1d, 2: P.adaptive_max_pool2d, 3: P.adaptive_max_pool3d}
AMAX_BWD = {1: P.adaptive_max_pool1d_backward, 2: P.adaptive_max_pool2d_backward,
            3: P.adaptive_max_pool3d_backward}
AD_CASES = [((10,), 3), ((7,), 7), ((5,), 8), ((9, 7), (4, 3)), ((6, 5), (None, 2)),
            ((5, 5), 1), ((3, 4), (5, 6)), ((5, 6, 7), (2, 3, 4)), ((4, 3, 5), (None, 2, 3))]


def _osp(sp, o):
    o = (o,) * len(sp) if np.isscalar(o) else o
    return tuple(L if oi is None else oi for L, oi in zip(sp, o))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AD_CASES, ids=[f"{len(c[0])}d-{i}" for i, c in
                                                 enumerate(AD_CASES)])
def test_adaptive_reference_and_torch(case, dtype, rng, torch, assert_close):
    sp, o = case
    nd = len(sp)
    x = rng.standard_normal((2, 3) + sp).astype(dtype)
    osp = _osp(sp, o)
    y = AAVG[nd](x, o)
    assert y.dtype == dtype and y.shape == (2, 3) + osp
    assert_close(y, ref.adaptive_avg(x, osp), dtype)
    ym, im = AMAX[nd](x, o, return_indices=True)
    rm, ri = ref.adaptive_max(x, osp)
    np.testing.assert_array_equal(ym, rm)
    np.testing.assert_array_equal(im, ri)
    np.testing.assert_array_equal(AMAX[nd](x, o), ym)
    tF = torch.nn.functional
    tx = torch.from_numpy(x).requires_grad_()
    ta = getattr(tF, f"adaptive_avg_pool{nd}d")(tx, o)
    assert_close(y, ta.detach().numpy())
    g = rng.standard_normal(y.shape).astype(dtype)
    ta.backward(torch.from_numpy(g))
    assert_close(AAVG_BWD[nd](g, x.shape), tx.grad.numpy())
    tx.grad = None
    tm, tidx = getattr(tF, f"adaptive_max_pool{nd}d")(tx, o, return_indices=True)
    np.testing.assert_array_equal(ym, tm.detach().numpy())
    np.testing.assert_array_equal(im, tidx.numpy())
    tm.backward(torch.from_numpy(g))
    assert_close(AMAX_BWD[nd](g, im, x.shape), tx.grad.numpy())


@pytest.mark.parametrize("case", AD_CASES, ids=[f"{len(c[0])}d-{i}" for i, c in
                                                 enumerate(AD_CASES)])
def test_adaptive_adjoint_and_finite_differences(case, rng):
    sp, o = case
    nd = len(sp)
    x = rng.standard_normal((2, 2) + sp)
    y = AAVG[nd](x, o)
    g = rng.standard_normal(y.shape)
    gx = AAVG_BWD[nd](g, x.shape)
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, gx), rtol=1e-12)
    ym, im = AMAX[nd](x, o, return_indices=True)
    _fd(lambda z: AMAX[nd](z, o), x, g, AMAX_BWD[nd](g, im, x.shape), rng)


@settings(max_examples=25, deadline=None)
@given(H=st.integers(1, 8), W=st.integers(1, 8), oh=st.integers(1, 9), ow=st.integers(1, 9),
       seed=st.integers(0, 2**16))
def test_adaptive_hypothesis(H, W, oh, ow, seed):
    x = np.random.default_rng(seed).standard_normal((1, 2, H, W))
    np.testing.assert_allclose(P.adaptive_avg_pool2d(x, (oh, ow)),
                               ref.adaptive_avg(x, (oh, ow)), rtol=1e-12, atol=1e-15)
    y, i = P.adaptive_max_pool2d(x, (oh, ow), return_indices=True)
    ry, ri = ref.adaptive_max(x, (oh, ow))
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(i, ri)


def test_adaptive_unbatched_and_nan(rng):
    x = rng.standard_normal((3, 6, 5))
    np.testing.assert_array_equal(P.adaptive_avg_pool2d(x, 2),
                                  P.adaptive_avg_pool2d(x[None], 2)[0])
    x[1, 4, 4] = np.nan
    x[1, 5, 4] = np.nan
    y, i = P.adaptive_max_pool2d(x, 2, return_indices=True)
    # PyTorch's rule (val > maxval || isnan(val)): the last NaN's index
    assert np.isnan(y[1, 1, 1]) and i[1, 1, 1] == 5 * 5 + 4 and not np.isnan(y[1, 0, 0])
    assert np.isnan(P.adaptive_avg_pool2d(x, 2)[1, 1, 1])


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_adaptive_and_global_max_nan_index_as_torch(nd, rng, torch):
    """Several NaNs in a window: the last one's index, as PyTorch."""
    x = rng.standard_normal((2, 3) + (4,) * nd)
    flat = x.reshape(2, 3, -1)
    flat[0, 1, [1, 3]] = np.nan
    flat[1, 2, [0, flat.shape[2] - 1]] = np.nan
    for o in (1, 2):
        y, i = AMAX[nd](x, o, return_indices=True)
        ty, ti = getattr(torch.nn.functional, f"adaptive_max_pool{nd}d")(
            torch.from_numpy(x), o, return_indices=True)
        np.testing.assert_array_equal(y, ty.numpy())
        np.testing.assert_array_equal(i, ti.numpy())
    y, i = P.global_max_pool(x, return_indices=True)
    ty, ti = getattr(torch.nn.functional, f"adaptive_max_pool{nd}d")(
        torch.from_numpy(x), 1, return_indices=True)
    np.testing.assert_array_equal(i, ti.numpy())


# -------------------------------------------------------------- global pooling
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_global_pools(nd, rng, torch):
    sp = (5, 4, 3)[:nd]
    x = rng.standard_normal((2, 3) + sp)
    axes = tuple(range(2, 2 + nd))
    y = P.global_avg_pool(x)
    assert y.shape == (2, 3) + (1,) * nd
    np.testing.assert_allclose(y, x.mean(axis=axes, keepdims=True), rtol=1e-13)
    m, i = P.global_max_pool(x, return_indices=True)
    np.testing.assert_array_equal(m, x.max(axis=axes, keepdims=True))
    np.testing.assert_array_equal(i.reshape(2, 3), x.reshape(2, 3, -1).argmax(axis=2))
    g = rng.standard_normal(y.shape)
    gx = P.global_avg_pool_backward(g, x.shape)
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, gx), rtol=1e-12)
    gm = P.global_max_pool_backward(g, i, x.shape)
    _fd(lambda z: P.global_max_pool(z), x, g, gm, rng)
    tF = torch.nn.functional
    tm, ti = getattr(tF, f"adaptive_max_pool{nd}d")(torch.from_numpy(x), 1,
                                                    return_indices=True)
    np.testing.assert_array_equal(i, ti.numpy())
    f32 = P.global_avg_pool(x.astype(np.float32))
    assert f32.dtype == np.float32


# ----------------------------------------------------------------- max unpool
UNPOOL = {1: P.max_unpool1d, 2: P.max_unpool2d, 3: P.max_unpool3d}
UNPOOL_BWD = {1: P.max_unpool1d_backward, 2: P.max_unpool2d_backward,
              3: P.max_unpool3d_backward}
MAXP = {1: P.max_pool1d, 2: P.max_pool2d, 3: P.max_pool3d}
# (input spatial, kernel, stride, padding, output_size or None)
UN_CASES = [((9,), 2, None, 0, None), ((9,), 3, 2, 1, (9,)), ((8, 7), 2, None, 0, (8, 7)),
            ((7, 9), 3, 2, 1, None), ((6, 6), (2, 3), (2, 3), 0, None),
            ((4, 6, 5), 2, None, 0, (4, 6, 5)), ((5, 4, 6), (3, 2, 2), 2, (1, 0, 1), None)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", UN_CASES, ids=[f"{len(c[0])}d-{i}" for i, c in
                                                 enumerate(UN_CASES)])
def test_max_unpool_reference_and_torch(case, dtype, rng, torch):
    sp, k, s, p, osz = case
    nd = len(sp)
    x = rng.standard_normal((2, 3) + sp).astype(dtype)
    y, idx = MAXP[nd](x, k, s, p, return_indices=True)
    u = UNPOOL[nd](y, idx, k, s, p, output_size=osz)
    def t(v):
        return (v,) * nd if np.isscalar(v) else tuple(v)

    ks = t(k)
    ss = ks if s is None else t(s)
    default = tuple((L - 1) * si - 2 * pi + ki
                    for L, si, pi, ki in zip(y.shape[2:], ss, t(p), ks))
    osp = default if osz is None else osz
    assert u.dtype == dtype and u.shape == (2, 3) + osp
    np.testing.assert_array_equal(u, ref.max_unpool(y, idx, osp))
    tF = torch.nn.functional
    ty = torch.from_numpy(y).requires_grad_()
    tkw = {} if s is None else {"stride": s}
    tu = getattr(tF, f"max_unpool{nd}d")(ty, torch.from_numpy(idx), k, padding=p,
                                          output_size=osz, **tkw)
    np.testing.assert_array_equal(u, tu.detach().numpy())
    g = rng.standard_normal(u.shape).astype(dtype)
    tu.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(UNPOOL_BWD[nd](g, idx), ty.grad.numpy())


def test_max_unpool_adjoint_and_overlap(rng):
    x = rng.standard_normal((2, 3, 8, 8))
    y, idx = P.max_pool2d(x, 2, return_indices=True)      # distinct indices
    u = P.max_unpool2d(y, idx, 2)
    g = rng.standard_normal(u.shape)
    np.testing.assert_allclose(np.vdot(u, g), np.vdot(y, P.max_unpool2d_backward(g, idx)),
                               rtol=1e-12)
    # overlapping windows repeat indices: the later value wins (no sum)
    y, idx = P.max_pool2d(x, 3, 1, return_indices=True)
    u = P.max_unpool2d(y, idx, 3, 1)
    np.testing.assert_array_equal(u, ref.max_unpool(y, idx, (8, 8)))
    nz = u != 0
    np.testing.assert_array_equal(u[nz], x[nz])


def test_max_unpool_skips_empty_window_index(rng):
    """Index -1 (max pooling's mark for a window without input elements)
    places nothing and gathers 0; the other indices as usual."""
    x = rng.standard_normal((1, 2, 4, 4))
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    idx[0, 1, 1, 0] = -1
    u = P.max_unpool2d(y, idx, 2)
    keep = idx != -1
    want = np.zeros_like(u).reshape(1, 2, 16)
    for c in range(2):
        want[0, c, idx[0, c][keep[0, c]]] = y[0, c][keep[0, c]]
    np.testing.assert_array_equal(u, want.reshape(u.shape))
    g = rng.standard_normal(u.shape)
    gb = P.max_unpool2d_backward(g, idx)
    assert gb[0, 1, 1, 0] == 0
    for c in range(2):
        np.testing.assert_array_equal(gb[0, c][keep[0, c]],
                                      g[0, c].ravel()[idx[0, c][keep[0, c]]])


def test_max_unpool_errors(rng):
    y, idx = P.max_pool2d(rng.standard_normal((1, 1, 4, 4)), 2, return_indices=True)
    with pytest.raises(ValueError, match="output_size"):
        P.max_unpool2d(y, idx, 2, output_size=(6, 4))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\)"):
        P.max_unpool2d(y, idx + 16, 2)
    with pytest.raises(TypeError, match="indices must be an integer"):
        P.max_unpool2d(y, idx.astype(float), 2)
    with pytest.raises(ValueError, match="indices must have the shape"):
        P.max_unpool2d(y, idx[..., :1], 2)
    with pytest.raises(ValueError, match="indices must lie"):
        P.max_unpool2d_backward(np.ones((1, 1, 4, 4)), idx + 100)


# ------------------------------------------------------------------ blur pool
@pytest.mark.parametrize("mode", ["reflect", "zeros", "replicate", "circular"])
@pytest.mark.parametrize("f", [1, 2, 3, 4, 5, 7])
def test_blur_pool2d(f, mode, rng, assert_close):
    for dtype, stride, shape in ((np.float64, 2, (2, 3, 9, 8)),
                                 (np.float32, (1, 3), (1, 2, 8, 9))):
        x = rng.standard_normal(shape).astype(dtype)
        y = P.blur_pool2d(x, stride, f, mode)
        assert y.dtype == dtype
        assert_close(y, ref.blur_pool2d(x, stride, f, mode), dtype)
        g = rng.standard_normal(y.shape)
        gx = P.blur_pool2d_backward(g, x.shape, stride, f, mode)
        assert gx.shape == x.shape
        if dtype == np.float64:
            np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, gx), rtol=1e-11)
    xu = rng.standard_normal((3, 8, 8))
    np.testing.assert_allclose(P.blur_pool2d(xu, 2, f, mode),
                               P.blur_pool2d(xu[None], 2, f, mode)[0])


def test_blur_pool2d_constant_and_errors():
    np.testing.assert_allclose(P.blur_pool2d(np.full((1, 2, 7, 6), 3.0)), 3.0)
    x = np.ones((1, 1, 6, 6))
    with pytest.raises(ValueError, match="filter_size must be in 1..7"):
        P.blur_pool2d(x, filter_size=8)
    with pytest.raises(TypeError, match="filter_size must be an int"):
        P.blur_pool2d(x, filter_size=3.0)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        P.blur_pool2d(x, padding_mode="symmetric")
    with pytest.raises(ValueError, match="stride must be positive"):
        P.blur_pool2d(x, stride=0)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        P.blur_pool2d(np.ones((6, 6)))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        P.blur_pool2d_backward(np.ones((1, 1, 2, 2)), x.shape)


# ------------------------------------------------------------ threads and errors
@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bitwise_equal(dtype, rng):
    x = rng.standard_normal((4, 16, 40, 40)).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)

    def same(f):
        assert f(1).tobytes() == f(2).tobytes()

    for name in ACTS:
        same(lambda w: _call(name, x, workers=w))
        same(lambda w: _call_bwd(name, g, x, workers=w))
    for p in (2, 1.5, math.inf):
        same(lambda w: P.lp_pool2d(x, p, 3, 2, workers=w))
        gy = rng.standard_normal(P.lp_pool2d(x, p, 3, 2).shape).astype(dtype)
        same(lambda w: P.lp_pool2d_backward(gy, x, p, 3, 2, workers=w))
    same(lambda w: P.adaptive_avg_pool2d(x, 7, workers=w))
    same(lambda w: P.adaptive_max_pool2d(x, 7, True, workers=w)[1])
    gy = rng.standard_normal((4, 16, 7, 7)).astype(dtype)
    same(lambda w: P.adaptive_avg_pool2d_backward(gy, x.shape, workers=w))
    same(lambda w: P.global_avg_pool(x, workers=w))
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    same(lambda w: P.max_unpool2d(y, idx, 2, workers=w))
    same(lambda w: P.max_unpool2d_backward(x, idx, workers=w))
    same(lambda w: P.blur_pool2d(x, workers=w))


def test_pool_errors():
    x = np.ones((1, 2, 6, 6))
    with pytest.raises(ValueError, match="p must be positive"):
        P.lp_pool2d(x, 0, 2)
    with pytest.raises(ValueError, match="p must be positive"):
        P.lp_pool2d(x, float("nan"), 2)
    with pytest.raises(TypeError, match="p must be a real"):
        P.lp_pool2d(x, "2", 2)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        P.lp_pool2d(x, 2, 0)
    with pytest.raises(ValueError, match="x must have 3 .* or 4 dimensions"):
        P.lp_pool2d(np.ones((6, 6)), 2, 2)
    with pytest.raises(ValueError, match="output size is too small"):
        P.lp_pool2d(x, 2, 7)
    with pytest.raises(TypeError, match="NN family"):
        P.lp_pool2d(x.astype(complex), 2, 2)
    with pytest.raises(ValueError, match="grad_out must have shape"):
        P.lp_pool2d_backward(np.ones((1, 2, 2, 2)), x, 2, 2)
    with pytest.raises(ValueError, match="output_size must be positive"):
        P.adaptive_avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="output_size must have 2 entries"):
        P.adaptive_max_pool2d(x, (2, 2, 2))
    with pytest.raises(TypeError, match="output_size must hold ints"):
        P.adaptive_avg_pool2d(x, (2.5, 2))
    with pytest.raises(ValueError, match="non-empty spatial"):
        P.adaptive_avg_pool2d(np.ones((1, 1, 0, 3)), 2)
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        P.global_avg_pool(np.ones((2, 3)))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        P.global_avg_pool_backward(np.ones((1, 3, 1, 1)), x.shape)
    with pytest.raises(TypeError, match="NN family"):
        P.global_max_pool(x.astype(complex))


def test_functional_reexports():
    for name in ("lp_pool2d", "adaptive_avg_pool3d", "global_max_pool", "max_unpool1d",
                 "blur_pool2d_backward", "relu", "smooth_abs_backward",
                 "local_response_norm", "local_contrast_norm_backward"):
        assert name in F.__all__ and callable(getattr(F, name)), name
