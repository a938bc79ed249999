"""Independent NumPy oracles for max and average pooling (plain loops over
output positions, written from PyTorch's documented semantics; never imports
convolve)."""
import itertools
import math

import numpy as np


def out_len(L, k, s, p, d, ceil_mode):
    num = L + 2 * p - d * (k - 1) - 1
    o = (math.ceil(num / s) if ceil_mode else num // s) + 1
    if ceil_mode and (o - 1) * s >= L + p:
        o -= 1
    return o


def _norm(v, nd):
    return (v,) * nd if np.isscalar(v) else tuple(v)


def max_pool(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """(values, indices) of max pooling over the trailing nd axes of (N, C, *sp)."""
    x = np.asarray(x)
    nd = x.ndim - 2
    k = _norm(kernel, nd)
    s = k if stride is None else _norm(stride, nd)
    p, d = _norm(padding, nd), _norm(dilation, nd)
    sp = x.shape[2:]
    osp = tuple(out_len(*a, ceil_mode) for a in zip(sp, k, s, p, d))
    out = np.empty(x.shape[:2] + osp, x.dtype)
    idx = np.empty(out.shape, np.int64)
    for n, c in itertools.product(*map(range, x.shape[:2])):
        plane = x[n, c].ravel()
        for o in itertools.product(*map(range, osp)):
            taps = []
            for t in itertools.product(*map(range, k)):
                pos = tuple(oi * si - pi + ti * di for oi, si, pi, ti, di in zip(o, s, p, t, d))
                if all(0 <= q < L for q, L in zip(pos, sp)):
                    taps.append(int(np.ravel_multi_index(pos, sp)))
            vals = plane[taps]
            nan = np.flatnonzero(np.isnan(vals))
            j = nan[-1] if nan.size else int(np.argmax(vals))
            out[(n, c) + o] = vals[j]
            idx[(n, c) + o] = taps[j]
    return out, idx


def max_pool_backward(grad_out, indices, input_shape):
    g = np.zeros(input_shape, grad_out.dtype)
    N, C = input_shape[:2]
    flat = g.reshape(N, C, -1)
    for n, c in itertools.product(range(N), range(C)):
        np.add.at(flat[n, c], indices[n, c].ravel(), grad_out[n, c].ravel())
    return g


def avg_matrix(sp, kernel, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Dense matrix A (prod(osp) x prod(sp)) with avg_pool(plane) = A @ plane."""
    nd = len(sp)
    k = _norm(kernel, nd)
    s = k if stride is None else _norm(stride, nd)
    p = _norm(padding, nd)
    osp = tuple(out_len(L, ki, si, pi, 1, ceil_mode) for L, ki, si, pi in zip(sp, k, s, p))
    A = np.zeros((math.prod(osp), math.prod(sp)))
    for r, o in enumerate(itertools.product(*map(range, osp))):
        start = [oi * si - pi for oi, si, pi in zip(o, s, p)]
        # the window clipped to the padded extent [-p, L + p)
        end = [min(a + ki, L + pi) for a, ki, L, pi in zip(start, k, sp, p)]
        inside = [(max(a, 0), min(b, L)) for a, b, L in zip(start, end, sp)]
        cells = list(itertools.product(*[range(a, b) for a, b in inside]))
        if not cells:
            continue
        if divisor_override:
            div = divisor_override
        elif count_include_pad:
            div = math.prod(b - a for a, b in zip(start, end))
        else:
            div = len(cells)
        for cell in cells:
            A[r, np.ravel_multi_index(cell, sp)] += 1.0 / div
    return A, osp


def avg_pool(x, kernel, **kw):
    x = np.asarray(x)
    A, osp = avg_matrix(x.shape[2:], kernel, **kw)
    flat = x.reshape(x.shape[:2] + (-1,)).astype(np.float64)
    return (flat @ A.T).reshape(x.shape[:2] + osp)


def avg_pool_backward(grad_out, input_shape, kernel, **kw):
    A, osp = avg_matrix(tuple(input_shape[2:]), kernel, **kw)
    flat = grad_out.reshape(grad_out.shape[:2] + (-1,)).astype(np.float64)
    return (flat @ A).reshape(input_shape)
