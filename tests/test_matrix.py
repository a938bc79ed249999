"""Convolution as a matrix: unfold/fold vs PyTorch, adjointness, conv_matrix."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convolve import functional as F
from convolve._matrix import conv_matrix, fold, unfold

GRID = list(itertools.product([1, 2, (2, 3)], [1, (1, 2)], [0, 1, (2, 0)], [1, 2, (1, 3)]))


def _torch_unfold(torch, x, k, dl, p, s):
    return torch.nn.functional.unfold(torch.from_numpy(x), k, dilation=dl, padding=p,
                                      stride=s).numpy()


def _torch_fold(torch, c, size, k, dl, p, s):
    return torch.nn.functional.fold(torch.from_numpy(c), size, k, dilation=dl, padding=p,
                                    stride=s).numpy()


@pytest.mark.parametrize("k,dl,p,s", GRID)
def test_unfold_fold_match_torch(torch, rng, assert_close, k, dl, p, s):
    x = rng.standard_normal((2, 3, 7, 8))
    cols = unfold(x, k, dl, p, s)
    ref = _torch_unfold(torch, x, k, dl, p, s)
    assert cols.dtype == np.float64
    np.testing.assert_array_equal(cols, ref)       # a copy: exact
    c = rng.standard_normal(cols.shape)
    assert_close(fold(c, (7, 8), k, dl, p, s), _torch_fold(torch, c, (7, 8), k, dl, p, s))


@pytest.mark.parametrize("k,dl,p,s", GRID[::5])
def test_unbatched_and_float32(torch, rng, assert_close, k, dl, p, s):
    x = rng.standard_normal((3, 6, 9)).astype(np.float32)
    cols = unfold(x, k, dl, p, s)
    assert cols.dtype == np.float32
    np.testing.assert_array_equal(cols, _torch_unfold(torch, x, k, dl, p, s))
    back = fold(cols, (6, 9), k, dl, p, s)
    assert back.dtype == np.float32 and back.shape == x.shape
    assert_close(back, _torch_fold(torch, cols, (6, 9), k, dl, p, s))


@pytest.mark.parametrize("k,dl,p,s", GRID)
def test_fold_unfold_is_overlap_count(rng, k, dl, p, s):
    x = rng.standard_normal((2, 2, 7, 8))
    count = fold(unfold(np.ones_like(x), k, dl, p, s), (7, 8), k, dl, p, s)
    np.testing.assert_allclose(fold(unfold(x, k, dl, p, s), (7, 8), k, dl, p, s), x * count,
                               rtol=1e-14, atol=0)


@pytest.mark.parametrize("k,dl,p,s", GRID)
def test_unfold_fold_dot_test(rng, k, dl, p, s):
    x = rng.standard_normal((2, 3, 7, 8))
    cols = unfold(x, k, dl, p, s)
    y = rng.standard_normal(cols.shape)
    lhs, rhs = np.vdot(cols, y), np.vdot(x, fold(y, (7, 8), k, dl, p, s))
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), abs(rhs))


MODES = ["zeros", "reflect", "replicate", "circular"]
CASES = [  # (d, input_shape, weight_shape, options)
    (1, (2, 4, 9), (6, 2, 3), dict(stride=2, padding=2, dilation=1, groups=2)),
    (1, (1, 3, 8), (2, 3, 4), dict(padding="same", dilation=2)),
    (1, (3, 7), (4, 3, 3), dict(padding=((1, 2),), stride=1)),          # unbatched
    (2, (2, 2, 6, 7), (4, 1, 3, 2), dict(stride=(2, 1), padding=(1, 2), groups=2)),
    (2, (1, 3, 7, 6), (2, 3, 3, 3), dict(padding="same", dilation=(1, 2))),
    (2, (1, 2, 5, 6), (3, 2, 2, 3), dict(padding=((0, 1), (2, 1)), stride=(1, 2))),
    (2, (1, 1, 7, 6), (2, 1, 3, 2), dict(padding="same", stride=2)),
    (2, (1, 1, 4, 5), (1, 1, 2, 2), dict(padding="full", dilation=(2, 1))),
    (3, (1, 2, 4, 5, 4), (2, 2, 2, 3, 2), dict(padding=1, stride=(1, 2, 1))),
    (3, (2, 2, 4, 4, 5), (2, 1, 3, 2, 2), dict(padding="same", groups=2)),
]


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("d,xs,ws,opts", CASES)
def test_conv_matrix_matches_conv_and_input_grad(rng, assert_close, d, xs, ws, opts, mode,
                                                 flip):
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    conv = getattr(F, f"conv{d}d")
    grad = getattr(F, f"conv{d}d_input_grad")
    C = conv_matrix(xs, w, padding_mode=mode, flip=flip, **opts)
    assert isinstance(C, sp.csr_matrix) and C.dtype == np.float64
    y = conv(x, w, padding_mode=mode, flip=flip, **opts)
    assert C.shape == (y.size, x.size)
    assert_close(C @ x.ravel(), y.ravel())
    g = rng.standard_normal(y.shape)
    gx = grad(g, w, xs, padding_mode=mode, flip=flip, **opts)
    assert_close(C.T @ g.ravel(), gx.ravel())
    # dot-test of the matrix itself
    lhs, rhs = np.vdot(C @ x.ravel(), g.ravel()), np.vdot(x.ravel(), C.T @ g.ravel())
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), abs(rhs))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_conv_matrix_hypothesis(data, assert_close):
    d = data.draw(st.integers(1, 2), "d")
    groups = data.draw(st.integers(1, 2), "groups")
    C, O = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    sp_ = tuple(data.draw(st.integers(3, 6)) for _ in range(d))
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(d))
    dl = tuple(data.draw(st.integers(1, 2)) for _ in range(d))
    s = tuple(data.draw(st.integers(1, 3)) for _ in range(d))
    pad = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in range(d))
    mode = data.draw(st.sampled_from(MODES))
    flip = data.draw(st.booleans())
    if any(dd * (kk - 1) + 1 > n + lo + hi for dd, kk, n, (lo, hi) in zip(dl, k, sp_, pad)):
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    xs = (2, C) + sp_
    x, w = rng.standard_normal(xs), rng.standard_normal((O, C // groups) + k)
    opts = dict(stride=s, padding=pad, dilation=dl, groups=groups, padding_mode=mode,
                flip=flip)
    M = conv_matrix(xs, w, **opts)
    y = getattr(F, f"conv{d}d")(x, w, **opts)
    assert_close(M @ x.ravel(), y.ravel())
    g = rng.standard_normal(y.shape)
    assert_close(M.T @ g.ravel(),
                 getattr(F, f"conv{d}d_input_grad")(g, w, xs, **opts).ravel())


def test_conv_matrix_float32_and_dense_equivalence(rng, assert_close):
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    x = rng.standard_normal((1, 1, 5, 5)).astype(np.float32)
    C = conv_matrix(x.shape, w, padding=1)
    assert C.dtype == np.float32
    assert_close(C @ x.ravel(), F.conv2d(x, w, padding=1).ravel())
    # no duplicates left: each (row, col) appears once
    assert C.nnz == C.tocoo().nnz and C.has_canonical_format


def test_conv_matrix_replicate_folds_onto_edge():
    C = conv_matrix((1, 1, 3), np.ones((1, 1, 3)), padding=2, padding_mode="replicate")
    # first output reads x[0] three times (two padded copies + itself)
    np.testing.assert_array_equal(C.toarray()[0], [3.0, 0.0, 0.0])


@pytest.mark.parametrize("call,exc,match", [
    (lambda: unfold(np.ones((2, 2)), 2), ValueError, "x must have"),
    (lambda: unfold(np.ones((1, 1, 3, 3)), 0), ValueError, "kernel_size"),
    (lambda: unfold(np.ones((1, 1, 3, 3)), 2, stride=0), ValueError, "stride"),
    (lambda: unfold(np.ones((1, 1, 3, 3)), 2, padding=-1), ValueError, "padding"),
    (lambda: unfold(np.ones((1, 1, 3, 3)), 2, dilation=(1, 1, 1)), ValueError, "dilation"),
    (lambda: unfold(np.ones((1, 1, 3, 3)), 2.5), TypeError, "kernel_size"),
    (lambda: unfold(np.ones((1, 1, 3, 3)), 4), ValueError, "larger"),
    (lambda: unfold(np.ones((1, 1, 3, 3), complex), 2), TypeError, "complex"),
    (lambda: fold(np.ones(4), (3, 3), 2), ValueError, "cols must have"),
    (lambda: fold(np.ones((1, 5, 4)), (3, 3), 2), ValueError, "multiple"),
    (lambda: fold(np.ones((1, 4, 5)), (3, 3), 2), ValueError, "number of blocks"),
    (lambda: fold(np.ones((1, 4, 4)), "3", 2), ValueError, "output_size"),
    (lambda: conv_matrix((1, 1, 5), np.ones((1, 1))), ValueError, "weight must have"),
    (lambda: conv_matrix(5, np.ones((1, 1, 3))), TypeError, "input_shape"),
    (lambda: conv_matrix((1, 2, 5), np.ones((1, 1, 3))), ValueError, "channels"),
    (lambda: conv_matrix((1, 1, 5), np.ones((1, 1, 3)), stride=0), ValueError, "stride"),
    (lambda: conv_matrix((1, 1, 2), np.ones((1, 1, 3))), ValueError, "kernel"),
    (lambda: conv_matrix((1, 1, 5), np.ones((1, 1, 3)), padding_mode="wrap"), ValueError,
     "padding_mode"),
    (lambda: conv_matrix((1, 1, 3), np.ones((1, 1, 3)), padding=3, padding_mode="reflect"),
     ValueError, "reflect"),
    (lambda: conv_matrix((1, 1, 3), np.ones((1, 1, 3)), padding=4, padding_mode="circular"),
     ValueError, "circular"),
    (lambda: conv_matrix((1, 1, 5), np.ones((1, 1, 3), complex)), TypeError, "complex"),
    (lambda: conv_matrix((1, 1, 5), np.ones((1, 1, 3)), padding="bad"), ValueError,
     "padding"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
