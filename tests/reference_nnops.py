"""Independent NumPy oracles for Lp/adaptive/global pooling, max-unpooling,
blur pooling, local response and local contrast normalization, and the
activations: plain loops over output positions written from the documented
formulas, in float64; never imports convolve."""
import itertools
import math

import numpy as np


def _norm(v, nd):
    return (v,) * nd if np.isscalar(v) else tuple(v)


def lp_out_len(L, k, s, ceil_mode):
    num = L - k
    o = (math.ceil(num / s) if ceil_mode else num // s) + 1
    if ceil_mode and (o - 1) * s >= L:
        o -= 1
    return o


def lp_pool(x, p, kernel, stride=None, ceil_mode=False):
    """(sum over the window, clipped to the input, of |x|**p) ** (1/p); inf: max |x|."""
    x = np.asarray(x, np.float64)
    nd = x.ndim - 2
    k = _norm(kernel, nd)
    s = k if stride is None else _norm(stride, nd)
    osp = tuple(lp_out_len(L, ki, si, ceil_mode) for L, ki, si in zip(x.shape[2:], k, s))
    out = np.empty(x.shape[:2] + osp)
    for n, c in itertools.product(*map(range, x.shape[:2])):
        for o in itertools.product(*map(range, osp)):
            win = x[(n, c) + tuple(slice(oi * si, oi * si + ki) for oi, si, ki in zip(o, s, k))]
            a = np.abs(win).ravel()
            out[(n, c) + o] = a.max() if math.isinf(p) else (a ** p).sum() ** (1 / p)
    return out


def adaptive_bounds(i, L, O):
    return (i * L) // O, -((-(i + 1) * L) // O)


def adaptive_avg(x, osp):
    x = np.asarray(x, np.float64)
    sp = x.shape[2:]
    out = np.empty(x.shape[:2] + tuple(osp))
    for o in itertools.product(*map(range, osp)):
        sl = tuple(slice(*adaptive_bounds(i, L, O)) for i, L, O in zip(o, sp, osp))
        out[(Ellipsis,) + o] = x[(Ellipsis,) + sl].mean(axis=tuple(range(2, x.ndim)))
    return out


def adaptive_max(x, osp):
    """(values, flat indices in the plane); first maximum, last NaN (PyTorch)."""
    x = np.asarray(x)
    sp = x.shape[2:]
    out = np.empty(x.shape[:2] + tuple(osp), x.dtype)
    idx = np.empty(out.shape, np.int64)
    for n, c in itertools.product(*map(range, x.shape[:2])):
        for o in itertools.product(*map(range, osp)):
            ranges = [range(*adaptive_bounds(i, L, O)) for i, L, O in zip(o, sp, osp)]
            cells = list(itertools.product(*ranges))
            vals = np.array([x[(n, c) + cell] for cell in cells])
            nan = np.flatnonzero(np.isnan(vals))
            j = nan[-1] if nan.size else int(np.argmax(vals))
            out[(n, c) + o] = vals[j]
            idx[(n, c) + o] = np.ravel_multi_index(cells[j], sp)
    return out, idx


def max_unpool(x, idx, out_sp):
    N, C = x.shape[:2]
    out = np.zeros((N, C, math.prod(out_sp)), x.dtype)
    for n, c in itertools.product(range(N), range(C)):
        for v, j in zip(x[n, c].ravel(), idx[n, c].ravel()):
            out[n, c, j] = v          # later writes win
    return out.reshape((N, C) + tuple(out_sp))


def binomial(f):
    a = np.array([math.comb(f - 1, i) for i in range(f)], np.float64)
    w = np.outer(a, a)
    return w / w.sum()


def blur_pool2d(x, stride=2, filter_size=3, padding_mode="reflect"):
    x = np.asarray(x, np.float64)
    w = binomial(filter_size)
    lo, hi = (filter_size - 1) // 2, filter_size // 2
    mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
            "circular": "wrap"}[padding_mode]
    xp = np.pad(x, ((0, 0), (0, 0), (lo, hi), (lo, hi)), mode=mode)
    H, W = x.shape[2:]
    s = _norm(stride, 2)
    OH, OW = (H - 1) // s[0] + 1, (W - 1) // s[1] + 1
    out = np.zeros(x.shape[:2] + (OH, OW))
    for i, j in itertools.product(range(OH), range(OW)):
        patch = xp[:, :, i * s[0]:i * s[0] + filter_size, j * s[1]:j * s[1] + filter_size]
        out[:, :, i, j] = (patch * w).sum(axis=(2, 3))
    return out


def lrn(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    x = np.asarray(x, np.float64)
    C = x.shape[1]
    out = np.empty_like(x)
    for c in range(C):
        lo, hi = max(c - size // 2, 0), min(c + (size - 1) // 2, C - 1)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, c] = x[:, c] / (k + alpha / size * s) ** beta
    return out


def gaussian(sigma, size):
    r = size // 2
    t = np.arange(-r, r + 1)
    w = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2.0 * sigma ** 2))
    return w / w.sum()


def _weighted_mean(z, w):
    """sum_{c,p,q} w_pq / C * z[c, i+p, j+q], zero padded, per image: (N, H, W)."""
    N, C, H, W = z.shape
    r = w.shape[0] // 2
    zp = np.pad(z, ((0, 0), (0, 0), (r, r), (r, r)))
    out = np.zeros((N, H, W))
    for p, q in itertools.product(range(w.shape[0]), repeat=2):
        out += w[p, q] / C * zp[:, :, p:p + H, q:q + W].sum(axis=1)
    return out


def lcn(x, sigma=1.0, size=None, eps=1e-4):
    x = np.asarray(x, np.float64)
    if size is None:
        size = 2 * math.ceil(2 * sigma) + 1
    w = gaussian(sigma, size)
    v = x - _weighted_mean(x, w)[:, None]
    s = np.sqrt(_weighted_mean(v * v, w))
    d = np.maximum(np.maximum(s.mean(axis=(1, 2), keepdims=True), s), eps)
    return v / d[:, None]


def activation(name, x, k=1.0):
    x = np.asarray(x, np.float64)
    if name == "relu":
        return np.where(x > 0, x, 0.0)
    if name == "sigmoid":
        return np.array([1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
                         for v in x.ravel()]).reshape(x.shape)
    if name == "softplus":
        return np.logaddexp(0.0, k * x) / k
    if name == "abs_rectify":
        return np.abs(x)
    if name == "smooth_abs":
        return np.logaddexp(k * x, -k * x) / k
    raise ValueError(name)


def activation_grad(name, x, k=1.0):
    """f'(x)."""
    x = np.asarray(x, np.float64)
    if name == "relu":
        return (x > 0).astype(np.float64)
    if name == "sigmoid":
        s = activation("sigmoid", x)
        return s * (1 - s)
    if name == "softplus":
        return activation("sigmoid", k * x)
    if name == "abs_rectify":
        return np.sign(x)
    if name == "smooth_abs":
        return np.tanh(k * x)
    raise ValueError(name)
