"""Tests of the signal-family gradients (``convolve._signal_vjp``) and of
``convolve.operator.ConvOperator``.

Dot-tests check each vector-Jacobian product as the exact adjoint of the
forward map it differentiates (``<A x, y> == <x, A^H y>`` to 1e-12
relative), for every mode x boundary x 1-D/2-D, with batch axes; central
differences check the gradients of a nonlinear scalar loss; the operator is
checked for adjointness and with ``lsqr``.
"""
import importlib.util
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import cg, gmres, lsqr

from convolve import signal as cs
from convolve._signal_vjp import convolve_vjp, correlate_vjp
from convolve.operator import ConvOperator

MODES = ("full", "same", "valid")
BOUNDARIES = ("fill", "wrap", "symm", "reflect", "nearest")
FUNCS = {"convolve": (cs.convolve, convolve_vjp), "correlate": (cs.correlate, correlate_vjp)}
# (in1 shape, in2 shape, axes): 1-D, 2-D, 2-D with an even kernel, batched
# with broadcasting on either side, kernel larger than the signal ('valid' swap)
CASES = [
    ((9,), (3,), None),
    ((7,), (4,), None),
    ((6, 7), (3, 2), None),
    ((5, 6), (2, 3), (0, 1)),
    ((3, 8), (1, 3), 1),                 # batch: kernel broadcast over rows
    ((1, 8), (4, 3), -1),                # batch: signal broadcast over rows
    ((2, 6, 5), (2, 3, 3), (1, 2)),      # batch, equal extents
    ((3,), (7,), None),                  # kernel longer than the signal
    ((3, 4), (5, 6), None),
]


def rnd(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def rel_close(a, b, tol=1e-12):
    assert abs(a - b) <= tol * max(1.0, abs(a), abs(b)), (a, b)


@pytest.mark.parametrize("fname", sorted(FUNCS))
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("mode,boundary", list(itertools.product(MODES, BOUNDARIES)))
@pytest.mark.parametrize("case", range(len(CASES)))
def test_dot_test(fname, dtype, mode, boundary, case):
    f, vjp = FUNCS[fname]
    s1, s2, axes = CASES[case]
    x, k = rnd(s1, dtype, 1), rnd(s2, dtype, 2)
    kw = dict(mode=mode, axes=axes, boundary=boundary)
    out = f(x, k, **kw)
    y = rnd(out.shape, dtype, 3)
    gx, gk = vjp(y, x, k, **kw)
    assert gx.shape == x.shape and gk.shape == k.shape
    # linear in in1: <A x, y> == <x, A^H y> (complex: vdot)
    rel_close(np.vdot(y, f(x, k, **kw)), np.vdot(gx, x))
    if fname == "convolve" or np.dtype(dtype).kind == "f":
        rel_close(np.vdot(y, f(x, k, **kw)), np.vdot(gk, k))
    else:
        # correlate is conjugate-linear in in2: the real parts agree
        rel_close(np.vdot(y, f(x, k, **kw)).real, np.vdot(gk, k).real)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_dot_test_hypothesis(data):
    """Random shapes (1-3 convolved axes, a broadcast batch axis), modes,
    boundaries, functions and dtypes."""
    d = data.draw(st.integers(1, 3))
    n1 = [data.draw(st.integers(1, 6)) for _ in range(d)]
    n2 = [data.draw(st.integers(1, 4)) for _ in range(d)]
    mode = data.draw(st.sampled_from(MODES))
    if mode == "valid":
        big = [max(i, j) for i, j in zip(n1, n2)]
        small = [min(i, j) for i, j in zip(n1, n2)]
        n1, n2 = (small, big) if data.draw(st.booleans()) else (big, small)
    boundary = data.draw(st.sampled_from(BOUNDARIES + ("circular", "edge", "mirror")))
    fname = data.draw(st.sampled_from(sorted(FUNCS)))
    dtype = data.draw(st.sampled_from([np.float64, np.complex128]))
    b1, b2 = data.draw(st.sampled_from([(1, 1), (3, 1), (1, 3), (2, 2)]))
    s1, s2 = [b1] + n1, [b2] + n2
    axes = list(range(1, d + 1))
    f, vjp = FUNCS[fname]
    x, k = rnd(s1, dtype, 23), rnd(s2, dtype, 24)
    kw = dict(mode=mode, axes=axes, boundary=boundary)
    out = f(x, k, **kw)
    y = rnd(out.shape, dtype, 25)
    gx, gk = vjp(y, x, k, **kw)
    assert gx.shape == x.shape and gk.shape == k.shape
    ref = np.vdot(y, out)
    rel_close(ref, np.vdot(gx, x))
    rel_close(ref.real, np.vdot(gk, k).real)


@pytest.mark.parametrize("fname", sorted(FUNCS))
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_fill_value_gradient(fname, boundary):
    """fillvalue != 0: affine in in1 (constant part has no gradient), and
    the kernel gradient sees the fill values."""
    f, vjp = FUNCS[fname]
    x, k = rnd((6, 5), np.float64, 4), rnd((3, 2), np.float64, 5)
    kw = dict(mode="full", boundary=boundary, fillvalue=2.5)
    y = rnd(f(x, k, **kw).shape, np.float64, 6)
    gx, gk = vjp(y, x, k, **kw)
    rel_close(np.vdot(y, f(x, k, **kw) - f(np.zeros_like(x), k, **kw)), np.vdot(gx, x))
    rel_close(np.vdot(y, f(x, k, **kw)), np.vdot(gk, k))


@pytest.mark.parametrize("fname", sorted(FUNCS))
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("mode,boundary", [("full", "fill"), ("same", "symm"),
                                           ("same", "wrap"), ("valid", "fill"),
                                           ("full", "reflect"), ("same", "nearest")])
def test_finite_differences(fname, dtype, mode, boundary):
    """Central differences of L = sum(|out|^2 * w) against the VJP with
    grad_out = 2 w out (dL = Re vdot(grad, d) for complex, PyTorch's rule)."""
    f, vjp = FUNCS[fname]
    x, k = rnd((2, 6, 5), dtype, 7), rnd((1, 3, 2), dtype, 8)
    kw = dict(mode=mode, boundary=boundary, axes=(1, 2), fillvalue=0.5)
    out = f(x, k, **kw)
    w = np.abs(rnd(out.shape, np.float64, 9))

    def loss(a, b):
        return float(np.sum(np.abs(f(a, b, **kw)) ** 2 * w))

    gx, gk = vjp(2 * w * out, x, k, **kw)
    h = 1e-6
    for arr, grad, which in ((x, gx, 0), (k, gk, 1)):
        d = rnd(arr.shape, dtype, 10 + which)
        args_p = [x, k]
        args_m = [x, k]
        args_p[which] = arr + h * d
        args_m[which] = arr - h * d
        fd = (loss(*args_p) - loss(*args_m)) / (2 * h)
        an = np.vdot(grad, d).real
        assert abs(fd - an) <= 1e-6 * max(1.0, abs(an)), (which, fd, an)


def test_zero_dim_and_int():
    gx, gk = convolve_vjp(np.array(2.0), np.array(3.0), np.array(4.0))
    assert gx == 8.0 and gk == 6.0
    gx, gk = convolve_vjp(np.ones(4), np.array([1, 2, 3]), np.array([1, 1]))
    assert gx.dtype == np.float64
    np.testing.assert_array_equal(gx, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(gk, [6.0, 6.0])


# ---------------------------------------------------------------- operator
@pytest.mark.parametrize("correlate", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("mode,boundary", list(itertools.product(MODES, BOUNDARIES)))
def test_operator_adjoint(correlate, dtype, mode, boundary):
    k = rnd((3, 4), dtype, 11)
    A = ConvOperator(k, (7, 6), mode=mode, boundary=boundary, correlate=correlate)
    x = rnd((7, 6), dtype, 12)
    f = cs.correlate if correlate else cs.convolve
    expect = f(x, k, mode=mode, boundary=boundary)
    assert A.output_shape == expect.shape
    assert A.shape == (expect.size, x.size)
    np.testing.assert_allclose(A @ x.ravel(), expect.ravel(), rtol=1e-13, atol=1e-13)
    y = rnd(A.shape[0], dtype, 13)
    rel_close(np.vdot(y, A.matvec(x.ravel())), np.vdot(A.rmatvec(y), x.ravel()))
    X = rnd((x.size, 2), dtype, 14)
    np.testing.assert_allclose(A.matmat(X)[:, 1], A.matvec(X[:, 1]), rtol=1e-13)
    np.testing.assert_allclose((A.H @ A.matmat(X))[:, 0], A.rmatvec(A.matvec(X[:, 0])),
                               rtol=1e-12, atol=1e-12)


def test_operator_batched_channels():
    k = rnd((1, 3, 3), np.float64, 15)
    A = ConvOperator(k, (3, 8, 9), mode="same", boundary="symm", axes=(1, 2))
    x = rnd((3, 8, 9), np.float64, 16)
    np.testing.assert_allclose((A @ x.ravel()).reshape(3, 8, 9),
                               cs.convolve(x, k, mode="same", boundary="symm", axes=(1, 2)),
                               rtol=1e-13, atol=1e-13)
    y = rnd(A.shape[0], np.float64, 17)
    rel_close(np.vdot(y, A @ x.ravel()), np.vdot(A.T @ y, x.ravel()))


def test_operator_solvers_recover_signal():
    # well conditioned: identity plus a small smoothing kernel (no zeros in
    # its transfer function), 'full' mode
    k = np.zeros((3, 3))
    k[1, 1] = 1.0
    k += 0.05 * rnd((3, 3), np.float64, 18)
    x = rnd((12, 10), np.float64, 19)
    A = ConvOperator(k, x.shape, mode="full")
    b = A @ x.ravel()
    x_hat = lsqr(A, b, atol=1e-14, btol=1e-14, iter_lim=500)[0]
    np.testing.assert_allclose(x_hat, x.ravel(), atol=1e-8)
    # square, 'same' + wrap: gmres on A, cg on the normal equations
    A = ConvOperator(k, x.shape, mode="same", boundary="wrap")
    b = A @ x.ravel()
    x_hat, info = gmres(A, b, rtol=1e-12, atol=0, restart=200, maxiter=500)
    assert info == 0
    np.testing.assert_allclose(x_hat, x.ravel(), atol=1e-8)
    N = A.H @ A
    x_hat, info = cg(N, A.rmatvec(b), rtol=1e-13, atol=0, maxiter=500)
    assert info == 0
    np.testing.assert_allclose(x_hat, x.ravel(), atol=1e-8)


def test_operator_errors():
    with pytest.raises(ValueError):
        ConvOperator(np.ones(3), (4, 4))
    with pytest.raises(ValueError):
        ConvOperator(np.ones((3, 3)), (4, 4), mode="bogus")
    with pytest.raises(ValueError):
        ConvOperator(np.ones((3, 3)), (4, 4), boundary="bogus")


# ---------------------------------------------------------------- example
@pytest.mark.skipif(importlib.util.find_spec("skimage") is None
                    or importlib.util.find_spec("matplotlib") is None,
                    reason="needs scikit-image and matplotlib")
def test_deblur_example_runs(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(root, "examples", "deblur_camera.py")
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, script, "--out", str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "PSNR" in r.stdout
    assert any(p.suffix == ".png" for p in tmp_path.iterdir())


# ---------------------------------------------------------------- torch
def _torch_forward(torch, x, k, mode, boundary, fillvalue, correlate):
    """Independent oracle: extend x by the boundary rule (gather by the
    numpy.pad index map), then sum the kernel's shifted taps -- autograd
    differentiates it."""
    from convolve.signal import _BOUNDARY
    pad_mode = _BOUNDARY[boundary]
    if correlate:
        k = torch.flip(k.conj(), dims=tuple(range(k.ndim)))
    n, K = x.shape, k.shape
    start = {"full": [0] * len(n), "valid": [j - 1 for j in K],
             "same": [(j - 1) // 2 for j in K]}[mode]
    length = {"full": [i + j - 1 for i, j in zip(n, K)],
              "valid": [i - j + 1 for i, j in zip(n, K)], "same": list(n)}[mode]
    lo = [j - 1 - s for j, s in zip(K, start)]
    hi = [s + m - i for s, m, i in zip(start, length, n)]
    if pad_mode == "constant":
        P = torch.full([i + a + b for i, a, b in zip(n, lo, hi)], fillvalue, dtype=x.dtype)
        P[tuple(slice(a, a + i) for a, i in zip(lo, n))] = x
    else:
        P = x
        for ax, (i, a, b) in enumerate(zip(n, lo, hi)):
            idx = torch.as_tensor(np.pad(np.arange(i), (a, b), mode=pad_mode))
            P = torch.index_select(P, ax, idx)
    out = 0
    for t in itertools.product(*(range(j) for j in K)):
        out = out + k[t] * P[tuple(slice(j - 1 - tt, j - 1 - tt + m)
                                   for j, tt, m in zip(K, t, length))]
    return out


@pytest.mark.parametrize("fname", sorted(FUNCS))
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("mode,boundary", list(itertools.product(MODES, BOUNDARIES)))
def test_against_torch_autograd(fname, dtype, mode, boundary):
    torch = pytest.importorskip("torch")
    f, vjp = FUNCS[fname]
    x, k = rnd((7, 6), dtype, 20), rnd((3, 2), dtype, 21)
    kw = dict(mode=mode, boundary=boundary, fillvalue=1.5)
    xt = torch.tensor(x, requires_grad=True)
    kt = torch.tensor(k, requires_grad=True)
    out = _torch_forward(torch, xt, kt, mode, boundary, 1.5, fname == "correlate")
    np.testing.assert_allclose(out.detach().resolve_conj().numpy(), f(x, k, **kw),
                               rtol=1e-12, atol=1e-12)
    y = rnd(out.shape, dtype, 22)
    out.backward(torch.tensor(y))
    gx, gk = vjp(y, x, k, **kw)
    np.testing.assert_allclose(gx, xt.grad.resolve_conj().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gk, kt.grad.resolve_conj().numpy(), rtol=1e-12, atol=1e-12)
