"""The layer API (convolve.layers, convolve.models): gradients by finite
differences, agreement with PyTorch, optimizers, training, persistence."""
import numpy as np
import pytest

from convolve import functional as F
from convolve import layers as L
from convolve.models import lenet5, small_cnn

EPS = 1e-6


def needs_F(*names):
    """Skip while convolve.functional lacks one of `names` (ops added separately)."""
    missing = [n for n in names if not hasattr(F, n)]
    return pytest.mark.skipif(bool(missing), reason=f"convolve.functional lacks {missing}")


def _fd_check(f, arr, analytic, rng, max_entries=40, rtol=1e-5, atol=1e-7):
    """Central differences of the scalar ``f()`` with respect to `arr` (changed
    in place and restored) against `analytic`, on up to `max_entries` entries."""
    flat = arr.reshape(-1)
    idx = np.arange(flat.size) if flat.size <= max_entries else \
        rng.choice(flat.size, max_entries, replace=False)
    num = np.empty(len(idx))
    for j, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + EPS
        fp = f()
        flat[i] = old - EPS
        fm = f()
        flat[i] = old
        num[j] = (fp - fm) / (2 * EPS)
    np.testing.assert_allclose(np.asarray(analytic).reshape(-1)[idx], num, rtol=rtol,
                               atol=atol * max(1.0, np.abs(num).max()))


def check_layer(layer, x, rng):
    """Input and parameter gradients of ``sum(layer(x) * g)`` against finite differences."""
    y = layer.forward(x)
    g = rng.standard_normal(y.shape)

    def f():
        return float(np.sum(layer.forward(x) * g))

    layer.forward(x)
    gx = layer.backward(g)
    grads = {k: v.copy() for k, v in layer.gradients().items()}
    assert gx.shape == x.shape and gx.dtype == np.float64
    _fd_check(f, x, gx, rng)
    params = layer.parameters()
    assert list(params) == list(grads)
    for name, p in params.items():
        assert grads[name].shape == p.shape, name
        _fd_check(f, p, grads[name], rng)


D64 = dict(dtype=np.float64)

LAYERS = {  # name: (factory, input shape, functional ops it needs)
    "conv1d": (lambda r: L.Conv1d(2, 3, 3, stride=2, padding=1, rng=r, **D64), (2, 2, 9), ()),
    "conv2d": (lambda r: L.Conv2d(2, 4, 3, padding=1, dilation=1, rng=r, **D64),
               (2, 2, 6, 5), ()),
    "conv2d_groups_reflect": (lambda r: L.Conv2d(4, 2, 3, stride=2, padding=1, groups=2,
                                                 padding_mode="reflect", rng=r, **D64),
                              (2, 4, 7, 6), ()),
    "conv2d_nobias_dilated": (lambda r: L.Conv2d(2, 3, 3, dilation=2, bias=False, rng=r, **D64),
                              (1, 2, 8, 8), ()),
    "conv3d": (lambda r: L.Conv3d(2, 3, 2, padding=1, rng=r, **D64), (1, 2, 3, 4, 3), ()),
    "conv_transpose2d": (lambda r: L.ConvTranspose2d(3, 2, 3, stride=2, padding=1,
                                                     output_padding=1, rng=r, **D64),
                         (2, 3, 4, 3), ()),
    "max_pool2d": (lambda r: L.MaxPool2d(2), (2, 3, 6, 6), ()),
    "max_pool2d_k3s2p1": (lambda r: L.MaxPool2d(3, 2, 1, ceil_mode=True), (1, 2, 7, 6), ()),
    "avg_pool2d": (lambda r: L.AvgPool2d(3, 2, 1, count_include_pad=False), (1, 2, 7, 6), ()),
    "lp_pool2d": (lambda r: L.LPPool2d(2, 2), (1, 2, 6, 6), ("lp_pool2d",)),
    "lp_pool2d_p3": (lambda r: L.LPPool2d(3, 3, 2), (1, 2, 7, 7), ("lp_pool2d",)),
    "global_avg_pool2d": (lambda r: L.GlobalAvgPool2d(), (2, 3, 4, 5), ("global_avg_pool",)),
    "blur_pool2d": (lambda r: L.BlurPool2d(2), (1, 2, 8, 8), ("blur_pool2d",)),
    "local_response_norm": (lambda r: L.LocalResponseNorm(3, alpha=0.1, beta=0.75, k=1.0),
                            (2, 5, 3, 3), ("local_response_norm",)),
    "local_contrast_norm": (lambda r: L.LocalContrastNorm(1.0), (1, 2, 7, 7),
                            ("local_contrast_norm",)),
    "relu": (lambda r: L.ReLU(), (2, 3, 4, 4), ("relu",)),
    "sigmoid": (lambda r: L.Sigmoid(), (2, 3, 4, 4), ("sigmoid",)),
    "softplus": (lambda r: L.Softplus(2.0), (2, 3, 4, 4), ("softplus",)),
    "abs_rectify": (lambda r: L.AbsRectify(), (2, 3, 4, 4), ("abs_rectify",)),
    "smooth_abs": (lambda r: L.SmoothAbs(3.0), (2, 3, 4, 4), ("smooth_abs",)),
    "flatten": (lambda r: L.Flatten(), (2, 3, 2, 2), ()),
    "linear": (lambda r: L.Linear(6, 4, rng=r, **D64), (5, 6), ()),
    "batchnorm2d_train": (lambda r: L.BatchNorm2d(3, **D64), (4, 3, 3, 2), ()),
    "batchnorm2d_eval": (lambda r: _bn_eval(), (4, 3, 3, 2), ()),
    "sequential": (lambda r: L.Sequential(L.Conv2d(2, 3, 3, rng=r, **D64), L.Flatten(),
                                          L.Linear(3 * 4 * 4, 2, rng=r, **D64)),
                   (2, 2, 6, 6), ()),
}


def _bn_eval():
    bn = L.BatchNorm2d(3, **D64)
    bn.running_mean[:] = [0.5, -1.0, 2.0]
    bn.running_var[:] = [2.0, 0.5, 1.5]
    bn.weight[:] = [1.5, -0.5, 2.0]
    return bn.eval()


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_gradients_fd(name, rng):
    factory, shape, ops = LAYERS[name]
    missing = [n for n in ops if not hasattr(F, n)]
    if missing:
        pytest.skip(f"convolve.functional lacks {missing}")
    layer = factory(rng)
    if name == "batchnorm2d_train":  # non-trivial affine parameters
        layer.weight[:] = rng.uniform(0.5, 1.5, 3)
        layer.bias[:] = rng.standard_normal(3)
    x = rng.standard_normal(shape)
    if name == "lp_pool2d_p3":
        x = np.abs(x) + 0.1    # |x|**p is smooth away from 0
    check_layer(layer, x, rng)


def test_network_parameter_gradients_fd(rng):
    net = L.Sequential(L.Conv2d(1, 3, 3, rng=rng, **D64), L.BatchNorm2d(3, **D64),
                       L.MaxPool2d(2), L.Conv2d(3, 4, 2, padding=1, rng=rng, **D64),
                       L.AvgPool2d(2), L.Flatten(), L.Linear(16, 5, rng=rng, **D64))
    x = rng.standard_normal((4, 1, 10, 10))
    labels = np.array([0, 3, 4, 1])
    loss = L.SoftmaxCrossEntropy()

    def f():
        return loss.forward(net.forward(x), labels)

    f()
    gx = net.backward(loss.backward())
    grads = {k: v.copy() for k, v in net.gradients().items()}
    params = net.parameters()
    assert list(params) == list(grads) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                           "3.weight", "3.bias", "6.weight", "6.bias"]
    for name, p in params.items():
        _fd_check(f, p, grads[name], rng, max_entries=20)
    _fd_check(f, x, gx, rng, max_entries=20)


def test_losses_fd(rng):
    z = rng.standard_normal((5, 4)) * 3
    labels = rng.integers(0, 4, 5)
    ce = L.SoftmaxCrossEntropy()
    ce.forward(z, labels)
    _fd_check(lambda: ce.forward(z, labels), z, ce.backward(), rng)
    t = rng.standard_normal((5, 4))
    mse = L.MSELoss()
    mse.forward(z, t)
    _fd_check(lambda: mse.forward(z, t), z, mse.backward(), rng)


def test_cross_entropy_stable():
    z = np.array([[1000.0, 0.0], [-1000.0, 0.0]])
    ce = L.SoftmaxCrossEntropy()
    assert np.isclose(ce.forward(z, np.array([0, 0])), 500.0)
    assert np.isfinite(ce.backward()).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_against_reference(dtype, rng):
    """Against float64 NumPy (log-sum-exp), with int32 and int64 labels; NaN
    logits give a NaN loss; a label out of range is an IndexError, a
    negative one counts from the end (NumPy indexing, as before)."""
    z = (rng.standard_normal((64, 10)) * 5).astype(dtype)
    y = rng.integers(0, 10, 64)
    z64 = z.astype(np.float64)
    shifted = z64 - z64.max(axis=1, keepdims=True)
    logs = np.log(np.exp(shifted).sum(axis=1))
    expected = -np.mean(shifted[np.arange(64), y] - logs)
    soft = np.exp(shifted - logs[:, None])
    onehot = np.eye(10)[y]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for labels in (y, y.astype(np.int32)):
        ce = L.SoftmaxCrossEntropy()
        assert abs(ce.forward(z, labels) - expected) <= tol * max(1.0, abs(expected))
        g = ce.backward()
        assert g.dtype == dtype
        np.testing.assert_allclose(g, (soft - onehot) / 64, rtol=tol * 10, atol=tol / 64)
    zn = z.copy()
    zn[3, 4] = np.nan
    assert np.isnan(L.SoftmaxCrossEntropy().forward(zn, y))
    with pytest.raises(IndexError):
        L.SoftmaxCrossEntropy().forward(z, np.full(64, 10))
    ce = L.SoftmaxCrossEntropy()
    assert ce.forward(z, y - 10) == pytest.approx(expected, rel=tol * 10)
    np.testing.assert_allclose(ce.backward(), (soft - onehot) / 64, rtol=tol * 10,
                               atol=tol / 64)


# ------------------------------------------------------------------ PyTorch

def _torch_copy(torch, ours, theirs):
    """Copy our parameters (and BatchNorm buffers) into the torch module."""
    state = {k: torch.from_numpy(np.array(v)) for k, v in ours.parameters().items()}
    state.update({k: torch.from_numpy(np.array(v)) for k, v in ours.buffers().items()})
    theirs.load_state_dict(state)


@needs_F("relu", "relu_backward")
def test_lenet5_matches_torch(torch, rng):
    nn = torch.nn
    ours = lenet5(rng=rng, dtype=np.float64)
    ours.needs_input_grad = True
    theirs = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10)).double()
    _torch_copy(torch, ours, theirs)
    x = rng.standard_normal((6, 1, 32, 32))
    y = rng.integers(0, 10, 6)
    loss = L.SoftmaxCrossEntropy()
    value = loss.forward(ours.forward(x), y)
    gx = ours.backward(loss.backward())

    tx = torch.from_numpy(x).requires_grad_(True)
    tloss = nn.functional.cross_entropy(theirs(tx), torch.from_numpy(y))
    tloss.backward()
    np.testing.assert_allclose(value, tloss.item(), rtol=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    tgrads = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    ograds = ours.gradients()
    assert list(ograds) == list(tgrads)
    for k in tgrads:
        np.testing.assert_allclose(ograds[k], tgrads[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_batchnorm_network_matches_torch(torch, rng):
    nn = torch.nn
    ours = L.Sequential(L.Conv2d(2, 4, 3, padding=1, bias=False, rng=rng, **D64),
                        L.BatchNorm2d(4, momentum=0.2, **D64), L.AvgPool2d(2),
                        L.Flatten(), L.Linear(4 * 4 * 4, 3, rng=rng, **D64))
    ours[1].weight[:] = rng.uniform(0.5, 2, 4)
    ours[1].bias[:] = rng.standard_normal(4)
    theirs = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False),
                           nn.BatchNorm2d(4, momentum=0.2), nn.AvgPool2d(2), nn.Flatten(),
                           nn.Linear(64, 3)).double()
    _torch_copy(torch, ours, theirs)
    mse = L.MSELoss()
    for step in range(2):  # train mode: batch statistics, running stats updated
        x = rng.standard_normal((5, 2, 8, 8)) * 2 + 1
        t = rng.standard_normal((5, 3))
        value = mse.forward(ours.forward(x), t)
        ours.backward(mse.backward())
        theirs.zero_grad()
        tloss = nn.functional.mse_loss(theirs(torch.from_numpy(x)), torch.from_numpy(t))
        tloss.backward()
        np.testing.assert_allclose(value, tloss.item(), rtol=1e-10)
        for k, p in theirs.named_parameters():
            np.testing.assert_allclose(ours.gradients()[k], p.grad.numpy(), rtol=1e-8,
                                       atol=1e-12, err_msg=k)
    np.testing.assert_allclose(ours[1].running_mean, theirs[1].running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours[1].running_var, theirs[1].running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((3, 2, 8, 8))
    with torch.no_grad():
        np.testing.assert_allclose(ours.forward(x), theirs(torch.from_numpy(x)).numpy(),
                                   rtol=1e-10, atol=1e-12)


def test_batchnorm_cumulative_momentum_matches_torch(torch, rng):
    ours = L.BatchNorm2d(3, momentum=None, eps=1e-3, dtype=np.float64)
    theirs = torch.nn.BatchNorm2d(3, momentum=None, eps=1e-3).double()
    for _ in range(3):
        x = rng.normal(2.0, 3.0, (4, 3, 5, 5))
        np.testing.assert_allclose(ours.forward(x), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["sgd", "sgd_nesterov", "adam"])
def test_optimizers_match_torch(kind, torch, rng):
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params.values()]
    if kind == "adam":
        opt = L.Adam(params, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
        topt = torch.optim.Adam(tparams, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                                weight_decay=0.1)
    else:
        nesterov = kind == "sgd_nesterov"
        opt = L.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=nesterov)
        topt = torch.optim.SGD(tparams, lr=0.1, momentum=0.9, weight_decay=0.01,
                               nesterov=nesterov)
    arrays = list(params.values())
    for _ in range(4):
        grads = {k: rng.standard_normal(p.shape) for k, p in params.items()}
        for tp, g in zip(tparams, grads.values()):
            tp.grad = torch.from_numpy(g.copy())
        opt.step(grads)
        topt.step()
    for p, arr, tp in zip(params.values(), arrays, tparams):
        assert p is arr                    # updated in place
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_optimizer_float32_in_place(rng):
    w = rng.standard_normal(4).astype(np.float32)
    opt = L.Adam([w], lr=0.1)
    opt.step([np.ones(4, np.float32)])
    assert w.dtype == np.float32
    with pytest.raises(ValueError, match="gradients"):
        opt.step([])


# ------------------------------------------------------------------ API behaviour

def test_init_like_torch():
    conv = L.Conv2d(6, 16, 5, rng=0)
    bound = 1 / np.sqrt(6 * 25)
    assert conv.weight.dtype == np.float32 and conv.weight.shape == (16, 6, 5, 5)
    assert np.abs(conv.weight).max() <= bound and np.abs(conv.bias).max() <= bound
    assert np.isclose(conv.weight.std(), bound / np.sqrt(3), rtol=0.1)
    assert np.array_equal(L.Conv2d(6, 16, 5, rng=0).weight, conv.weight)
    fc = L.Linear(100, 10, rng=np.random.default_rng(1), dtype=np.float64)
    assert fc.weight.dtype == np.float64 and np.abs(fc.weight).max() <= 0.1
    up = L.ConvTranspose2d(4, 6, 3, rng=0)  # fan_in from weight.shape[1] as torch
    assert np.abs(up.weight).max() <= 1 / np.sqrt(6 * 9)
    with pytest.raises(TypeError, match="dtype"):
        L.Linear(2, 2, dtype=np.int32)


def test_gradients_aligned_before_backward():
    net = lenet5(rng=0)
    params, grads = net.parameters(), net.gradients()
    assert list(params) == list(grads)
    assert all(grads[k].shape == p.shape and not grads[k].any() for k, p in params.items())
    assert "12.weight" not in params and "11.bias" in params


@needs_F("relu", "relu_backward")
def test_first_layer_skips_input_grad(rng):
    net = lenet5(input_size=16, rng=0)
    x = rng.standard_normal((2, 1, 16, 16)).astype(np.float32)
    y = net.forward(x)
    assert net.backward(np.ones_like(y)) is None
    net.needs_input_grad = True
    assert net.backward(np.ones_like(y)).shape == x.shape


def test_linear_small_gemm_restores_blas_threads(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info()
              if i["user_api"] == "blas"]
    fc = L.Linear(40, 30, rng=0, dtype=np.float64)
    x = rng.standard_normal((8, 40))
    y = fc.forward(x)
    np.testing.assert_allclose(y, x @ fc.weight.T + fc.bias, rtol=1e-12)
    fc.backward(np.ones_like(y))
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info()
             if i["user_api"] == "blas"]
    assert after == before


def test_linear_small_gemm_runs_blas_on_one_thread(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    real_matmul = np.matmul

    def spy(*args, **kwargs):
        seen.append([i["num_threads"] for i in threadpoolctl.threadpool_info()
                     if i["user_api"] == "blas"])
        return real_matmul(*args, **kwargs)

    fc = L.Linear(40, 30, rng=0)
    x = rng.standard_normal((8, 40)).astype(np.float32)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        L.np.matmul = spy
        try:
            y = fc.forward(x)
            fc.backward(np.ones_like(y))
        finally:
            L.np.matmul = real_matmul
        after = [i["num_threads"] for i in threadpoolctl.threadpool_info()
                 if i["user_api"] == "blas"]
    assert len(seen) == 3 and all(n == 1 for s in seen for n in s)
    assert all(n == 2 for n in after)


@pytest.mark.parametrize("shape, options", [
    ((4, 3, 10, 10), {}), ((4, 3, 7, 9), {}), ((3, 7, 9), {}),
    ((4, 3, 7, 9), dict(ceil_mode=True)), ((4, 3, 8, 6), dict(ceil_mode=True)),
    ((4, 3, 8, 8), dict(stride=(2, 2), padding=0, dilation=(1, 1))),
    ((4, 3, 8, 8), dict(stride=1)), ((4, 3, 9, 9), dict(kernel_size=3, stride=2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_layer_equals_functional(shape, options, dtype, rng):
    """2x2 windows keep tap codes rather than indices: same output and input
    gradient, bit for bit, as max_pool2d and max_pool2d_backward."""
    options = dict(options)
    k = options.pop("kernel_size", 2)
    x = rng.integers(-3, 3, shape).astype(dtype)
    x.reshape(-1)[::7] = np.nan
    pool = L.MaxPool2d(k, **options)
    y = pool.forward(x)
    ry, idx = F.max_pool2d(x, k, return_indices=True, **options)
    assert y.tobytes() == ry.tobytes() and y.shape == ry.shape
    g = rng.standard_normal(y.shape).astype(dtype)
    g.reshape(-1)[::5] = -0.0
    gx = pool.backward(g)
    assert gx.tobytes() == F.max_pool2d_backward(g, idx, x.shape).tobytes()
    assert pool.backward(g.astype(np.float64)).dtype == np.float64


@needs_F("relu", "relu_backward")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequential_in_place_activations_change_nothing(dtype, rng):
    """Inside a Sequential, ReLU overwrites the activations and gradients that
    only it sees: the same outputs, gradients and parameter gradients as the
    layers called one by one, and the caller's arrays untouched."""
    net = lenet5(input_size=16, rng=0, dtype=dtype)
    net.needs_input_grad = True
    x = rng.standard_normal((3, 1, 16, 16)).astype(dtype)
    x0 = x.copy()
    y = net.forward(x)
    g = rng.standard_normal(y.shape).astype(dtype)
    g0 = g.copy()
    gx = net.backward(g)
    grads = {k: v.copy() for k, v in net.gradients().items()}
    assert np.array_equal(x, x0) and np.array_equal(g, g0)
    a = x
    for layer in net:
        a = layer.forward(a)
    assert a.tobytes() == y.tobytes()
    b = g
    for layer in reversed(net.layers):
        b = layer.backward(b)
    assert b.tobytes() == gx.tobytes()
    for k, v in net.gradients().items():
        assert v.tobytes() == grads[k].tobytes(), k
    # the pools' workspaces never reach the caller: a second backward leaves
    # the first one's result as it was
    gx0 = gx.copy()
    net.forward(x + 1)
    net.backward(g * 2)
    assert gx.tobytes() == gx0.tobytes()
    net = L.Sequential(L.MaxPool2d(2), L.Flatten(), L.Linear(4, 2, rng=0, dtype=dtype))
    x = rng.standard_normal((2, 1, 4, 4)).astype(dtype)
    gx = net.backward(np.ones((2, 2), dtype)) if net.forward(x) is not None else None
    gx0 = gx.copy()
    net.forward(x)
    net.backward(np.full((2, 2), 3, dtype))
    assert gx.tobytes() == gx0.tobytes()
    # a ReLU last: its output is the caller's, never overwritten later
    net = L.Sequential(L.Linear(4, 3, rng=0, dtype=dtype), L.ReLU())
    x = rng.standard_normal((5, 4)).astype(dtype)
    y = net.forward(x)
    y0 = y.copy()
    g = np.ones_like(y)
    net.backward(g)
    net.forward(x + 1)
    assert np.array_equal(y, y0) and np.array_equal(g, np.ones_like(y))


@needs_F("relu", "relu_backward")
@pytest.mark.parametrize("shape", [(3, 4, 10, 10), (2, 3, 7, 9), (3, 9, 8)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequential_relu_pool_pair_is_relu_then_pool(shape, dtype, rng):
    """A ReLU followed by a 2x2 MaxPool2d runs as one pass in a Sequential
    (the pool of relu(x)): the values and the input gradient of relu then
    max_pool2d, bit for bit, with ties of +-0, NaNs and -0 gradients."""
    x = rng.integers(-2, 3, shape).astype(dtype)
    zero = x == 0
    x[zero] = rng.choice([0.0, -0.0], int(zero.sum()))
    x.reshape(-1)[::11] = np.nan
    x0 = x.copy()
    net = L.Sequential(L.ReLU(), L.MaxPool2d(2))
    y = net.forward(x)
    r = F.relu(x)
    ry, idx = F.max_pool2d(r, 2, return_indices=True)
    assert y.tobytes() == ry.tobytes()
    g = rng.standard_normal(y.shape).astype(dtype)
    g.reshape(-1)[::3] = -0.0
    g0 = g.copy()
    gx = net.backward(g)
    expected = F.relu_backward(F.max_pool2d_backward(g, idx, x.shape), x)
    assert gx.tobytes() == expected.tobytes()
    assert x.tobytes() == x0.tobytes() and g.tobytes() == g0.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mixed_step", [None, 0, 2])
def test_sgd_in_place_update_is_the_formula(mixed_step, dtype, rng):
    """SGD's update (one flat momentum buffer when every gradient matches its
    parameter, the per-parameter loop otherwise, or both in turn) gives the
    bits of ``buf = momentum * buf + g; p -= lr * buf``."""
    ps = [rng.standard_normal(s).astype(dtype) for s in [(5, 7), (3,), (2, 1, 4)]]
    qs = [p.copy() for p in ps]
    opt = L.SGD(ps, lr=0.1, momentum=0.9)
    bufs = [None] * len(ps)
    for step in range(4):
        gs = [rng.standard_normal(p.shape).astype(dtype) for p in ps]
        # a gradient of the other dtype sends this step through the general loop
        other = np.float32 if dtype == np.float64 else np.float64
        gs = [g.astype(other) if step == mixed_step and i == 1 else g
              for i, g in enumerate(gs)]
        opt.step(gs)
        for i, g in enumerate(gs):
            if bufs[i] is None:
                bufs[i] = g.astype(dtype)
            else:
                bufs[i] *= 0.9
                bufs[i] += g
            qs[i] -= dtype(0.1) * bufs[i]
        for p, q in zip(ps, qs):
            assert p.tobytes() == q.tobytes(), step


def test_dropout_train_eval():
    drop = L.Dropout(0.25, rng=7)
    x = np.ones((200, 50), dtype=np.float32)
    y = drop.forward(x)
    assert y.dtype == np.float32
    zero = y == 0
    assert 0.2 < zero.mean() < 0.3
    assert np.allclose(y[~zero], 1 / 0.75)
    g = drop.backward(np.full_like(x, 2.0))
    assert np.array_equal(g == 0, zero) and np.allclose(g[~zero], 2 / 0.75)
    assert not np.array_equal(drop.forward(x), y)              # a fresh mask per call
    assert np.array_equal(L.Dropout(0.25, rng=7).forward(x), y)  # seeded
    drop.eval()
    assert drop.forward(x) is x and drop.backward(x) is x


def test_batchnorm_train_eval(rng):
    bn = L.BatchNorm2d(2, dtype=np.float64)
    x = rng.normal(3.0, 2.0, (16, 2, 5, 5))
    y = bn.forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    m = x.size // 2
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(bn.running_var,
                               0.9 + 0.1 * x.var(axis=(0, 2, 3)) * m / (m - 1))
    assert int(bn.num_batches_tracked) == 1
    before = bn.running_mean.copy()
    bn.eval()
    y = bn.forward(x)
    assert np.array_equal(bn.running_mean, before)            # eval: no update
    expected = (x - before[None, :, None, None]) / np.sqrt(
        bn.running_var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected)


def test_save_load_roundtrip(tmp_path, rng):
    net = small_cnn(width=4, rng=1)
    net.layers[1].running_mean[:] = rng.standard_normal(4)
    path = tmp_path / "model.npz"
    L.save(net, path)
    other = small_cnn(width=4, rng=2)
    params = other.parameters()
    L.load(other, path)
    assert all(params[k] is v for k, v in other.parameters().items())  # in place
    for k, v in net.parameters().items():
        assert np.array_equal(other.parameters()[k], v), k
    assert np.array_equal(other.layers[1].running_mean, net.layers[1].running_mean)
    with pytest.raises(ValueError, match="names"):
        L.load(lenet5(rng=0), path)


def test_sequential_nested_names():
    net = L.Sequential(L.Sequential(L.Linear(2, 3, rng=0), L.ReLU()), L.Linear(3, 1, rng=1))
    assert list(net.parameters()) == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]
    assert list(net.gradients()) == list(net.parameters())
    net.eval()
    assert not net[0][0].training


@needs_F("relu", "relu_backward")
def test_lenet5_shapes():
    net = lenet5(num_classes=7, in_channels=3, input_size=28, rng=0)
    assert net.forward(np.zeros((2, 3, 28, 28), np.float32)).shape == (2, 7)
    with pytest.raises(ValueError, match="input_size"):
        lenet5(input_size=12)


# ------------------------------------------------------------------ training

@needs_F("relu", "relu_backward")
def test_training_reduces_loss():
    """LeNet-5 on 800 digits (8x8 doubled to 16x16), 8 epochs of Adam: the loss
    falls by more than 4x and the held-out accuracy is far above chance (0.1)."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    sel = np.random.default_rng(1).permutation(len(digits.images))[:1000]
    X = np.kron(digits.images[sel], np.ones((2, 2))).astype(np.float32)[:, None]
    X = (X - X.mean()) / X.std()
    y = digits.target[sel]
    Xtr, ytr, Xte, yte = X[:800], y[:800], X[800:], y[800:]
    rng = np.random.default_rng(0)
    net = lenet5(input_size=16, rng=rng)
    loss = L.SoftmaxCrossEntropy()
    opt = L.Adam(net.parameters(), lr=3e-3)
    losses = []
    for epoch in range(8):
        net.train()
        perm = rng.permutation(len(Xtr))
        total = 0.0
        for i in range(0, len(perm), 50):
            b = perm[i:i + 50]
            total += loss.forward(net.forward(Xtr[b]), ytr[b]) * len(b)
            net.backward(loss.backward())
            opt.step(net.gradients())
        losses.append(total / len(Xtr))
    net.eval()
    accuracy = float(np.mean(net.forward(Xte).argmax(axis=1) == yte))
    assert losses[-1] < 0.25 * losses[0], losses
    assert accuracy > 0.8, accuracy


# ------------------------------------------------------------------ the demo

@needs_F("relu", "relu_backward")
def test_lenet_demo_one_epoch(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    from convolve.__main__ import DEMOS, lenet_demo
    assert list(DEMOS)[0] == "lenet"
    res = lenet_demo(tmp_path, seed=1, epochs=1, verbose=False)
    assert len(res["history"]["loss"]) == 1 and res["images_per_s"] > 0
    assert 0 <= res["test_accuracy"] <= 1    # learning itself: test_training_reduces_loss
    for key in ("training", "filters"):
        with open(res["paths"][key], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    restored = L.load(lenet5(rng=2), res["paths"]["weights"])
    assert list(restored.parameters()) == list(lenet5(rng=0).parameters())


def test_demo_epochs_option(monkeypatch, tmp_path):
    from convolve import __main__ as cli
    calls = []
    monkeypatch.setitem(cli.DEMOS, "lenet", lambda out, seed, **kw: calls.append(kw))
    assert cli.main(["demo", "--only", "lenet", "--epochs", "3", "--out", str(tmp_path)]) == 0
    assert calls == [{"epochs": 3}]
    with pytest.raises(SystemExit):
        cli.main(["demo", "--epochs", "0"])
