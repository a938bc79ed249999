"""The benchmark case table: the one place where the benchmark shapes live.

Read by ``python -m convolve bench`` (:mod:`convolve._bench`) and by the asv
suites in ``asv_benchmarks/benchmarks/``, so that both tell the same story.
The shapes mirror the project's fixed peer suite (``shared/bench/peers.py``):
case names are the same, without the dtype tag that ``bench`` appends
(``conv2d/res56/fwd`` + ``/f32``).

This module imports nothing but NumPy at import time, so that asv can load
it from the working tree while it measures an older commit of the package
(whose API may lack a case's function: that case is then *missing*, never an
error). Each :class:`Case` holds

- ``make(rng, dtype)``: builds the inputs (a dict of arrays);
- ``ours(cv, inputs)``: returns a zero-argument callable running convolve
  (``cv`` is the imported :mod:`convolve` package); raises
  :class:`MissingAPI` when the package lacks the function;
- ``peers``: :class:`Peer` entries, each a library name (``torch``, ``scipy``,
  ``numpy``, ``cv2``), a label and a factory ``factory(inputs) -> callable``
  that imports its library lazily and raises :class:`MissingPeer` when it is
  not installed. The first entry of a library is the one asv times for its
  ``library`` parameter; ``bench`` times them all and reports the best;
- ``flops`` (compute-bound cases: share of the GEMM peak) or ``items``
  (memory-bound cases: input elements, times the item size gives the bytes
  for the share of the copy bandwidth);
- ``quick``: in the ``bench --quick`` subset (float32 only there);
- ``peakmem``: asv also records the peak memory of the case.
"""
import importlib

import numpy as np

__all__ = ["Case", "Peer", "MissingAPI", "MissingPeer", "CASES", "DTYPES", "FAMILIES",
           "LIBRARIES", "TAGS", "cases", "get_case", "libraries", "peer_versions"]

DTYPES = ("float32", "float64")
TAGS = {"float32": "f32", "float64": "f64"}
LIBRARIES = ("torch", "scipy", "numpy", "cv2")     # the peers, in display order
FAMILIES = ("conv_forward", "conv_methods", "conv_gradients", "conv_transpose", "signal",
            "pooling", "normalization", "layers")


class MissingAPI(NotImplementedError):
    """The convolve being measured has no such function (an older commit)."""


class MissingPeer(NotImplementedError):
    """The peer library is not installed."""


class Peer:
    """One peer implementation of a case: ``library``, ``label``, ``factory``."""

    __slots__ = ("library", "label", "factory")

    def __init__(self, library, label, factory):
        self.library, self.label, self.factory = library, label, factory

    def __repr__(self):
        return f"Peer({self.label!r})"


class Case:
    """One benchmark case; see the module docstring for the fields."""

    __slots__ = ("name", "family", "make", "ours", "peers", "flops", "items", "quick",
                 "peakmem", "dtypes")

    def __init__(self, name, family, make, ours, peers=(), *, flops=None, items=None,
                 quick=False, peakmem=False, dtypes=DTYPES):
        assert family in FAMILIES, family
        self.name, self.family, self.make, self.ours = name, family, make, ours
        self.peers = tuple(peers)
        self.flops, self.items = flops, items
        self.quick, self.peakmem, self.dtypes = quick, peakmem, tuple(dtypes)

    def full_name(self, dtype):
        """``name/f32``: the name ``bench`` and ``peers.py`` print."""
        return f"{self.name}/{TAGS[np.dtype(dtype).name]}"

    def nbytes(self, dtype):
        """Bytes of the input (memory-bound cases), else None."""
        return None if self.items is None else self.items * np.dtype(dtype).itemsize

    def peer(self, library):
        """The first peer entry of `library`; NotImplementedError when there is none."""
        for p in self.peers:
            if p.library == library:
                return p
        raise NotImplementedError(f"{library} has no counterpart of {self.name}")

    def __repr__(self):
        return f"Case({self.name!r})"


# ------------------------------------------------------------------ helpers

def api(cv, path):
    """``cv.<path>`` (dotted), or :class:`MissingAPI` when this convolve lacks it."""
    obj = cv
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:  # a submodule that the package does not import eagerly
                obj = importlib.import_module(f"{obj.__name__}.{part}")
            except (ImportError, AttributeError):
                raise MissingAPI(f"convolve.{path} does not exist in this version") from None
    return obj


def _lib(name):
    try:
        module = importlib.import_module(name)
    except ImportError:
        raise MissingPeer(f"{name} is not installed") from None
    if name == "torch":
        module.set_grad_enabled(False)   # inference timings, as peers.py does
    return module


def _torch():
    return _lib("torch")


def peer_versions():
    """``{library: version}`` of the installed peers (imports them)."""
    out = {}
    for name in LIBRARIES:
        try:
            module = importlib.import_module(name)
        except Exception:  # an installed but broken peer is not offered
            continue
        out[name] = str(getattr(module, "__version__", "?"))
    return out


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape, dtype=np.dtype(dtype).type)


def _tensors(inputs, *keys):
    torch = _torch()
    return [torch.from_numpy(inputs[k]) for k in keys]


# ------------------------------------------------------------------ NN convolution
NN_CONV = [  # name, N, C, H, W, O, K, stride, pad, groups  (== peers.py NN_CONV)
    ("lenet1", 64, 1, 32, 32, 6, 5, 1, 0, 1),
    ("lenet2", 64, 6, 14, 14, 16, 5, 1, 0, 1),
    ("res56", 8, 64, 56, 56, 64, 3, 1, 1, 1),
    ("res28", 8, 128, 28, 28, 128, 3, 1, 1, 1),
    ("res14", 8, 256, 14, 14, 256, 3, 1, 1, 1),
    ("pw14", 8, 256, 14, 14, 64, 1, 1, 0, 1),
    ("s2_56", 8, 64, 56, 56, 128, 3, 2, 1, 1),
    ("stem", 8, 3, 224, 224, 64, 7, 2, 3, 1),
    ("dw56", 8, 64, 56, 56, 64, 3, 1, 1, 64),
]
# small enough for `bench --quick` (fwd, float32)
QUICK_CONV = {"lenet1", "lenet2", "res28", "pw14", "dw56"}


def _conv2d_cases(spec):
    name, N, C, H, W, O, K, s, p, g = spec
    Ho, Wo = (H + 2 * p - K) // s + 1, (W + 2 * p - K) // s + 1
    flops = 2 * N * O * (C // g) * K * K * Ho * Wo
    kw = dict(stride=s, padding=p, groups=g)
    x_shape, w_shape = (N, C, H, W), (O, C // g, K, K)

    def make(rng, dtype, grad=False):
        inputs = {"x": _rand(rng, x_shape, dtype), "w": _rand(rng, w_shape, dtype)}
        if grad:
            inputs["gy"] = _rand(rng, (N, O, Ho, Wo), dtype)
        return inputs

    def make_grad(rng, dtype):
        return make(rng, dtype, grad=True)

    def fwd(cv, a):
        f = api(cv, "functional.conv2d")
        return lambda: f(a["x"], a["w"], **kw)

    def fwd_torch(a):
        torch = _torch()
        tx, tw = _tensors(a, "x", "w")
        return lambda: torch.nn.functional.conv2d(tx, tw, **kw)

    def bwd_input(cv, a):
        f = api(cv, "functional.conv2d_input_grad")
        return lambda: f(a["gy"], a["w"], x_shape, **kw)

    def bwd_input_torch(a):
        torch = _torch()
        tw, tgy = _tensors(a, "w", "gy")
        return lambda: torch.nn.grad.conv2d_input(x_shape, tw, tgy, **kw)

    def bwd_weight(cv, a):
        f = api(cv, "functional.conv2d_weight_grad")
        return lambda: f(a["x"], a["gy"], w_shape, **kw)

    def bwd_weight_torch(a):
        torch = _torch()
        tx, tgy = _tensors(a, "x", "gy")
        return lambda: torch.nn.grad.conv2d_weight(tx, w_shape, tgy, **kw)

    def fwd_method(method):
        def ours(cv, a):
            f = api(cv, "functional.conv2d")
            return lambda: f(a["x"], a["w"], method=method, **kw)
        return ours

    # each algorithm forced, so the dashboard shows which one moved
    methods = ["direct"] + (["gemm", "blocked"] if O // g >= 6 else []) + (
        ["winograd2x2", "winograd4x4"] if K == 3 and s == 1 and g == 1 else [])
    return [
        Case(f"conv2d/{name}/fwd/{m}", "conv_methods", make, fwd_method(m), [], flops=flops,
             dtypes=("float32",) if m == "winograd4x4" else DTYPES)
        for m in methods
    ] + [
        Case(f"conv2d/{name}/fwd", "conv_forward", make, fwd,
             [Peer("torch", "torch", fwd_torch)], flops=flops, quick=name in QUICK_CONV,
             peakmem=True),
        Case(f"conv2d/{name}/bwd_input", "conv_gradients", make_grad, bwd_input,
             [Peer("torch", "torch", bwd_input_torch)], flops=flops, quick=name == "lenet2"),
        Case(f"conv2d/{name}/bwd_weight", "conv_gradients", make_grad, bwd_weight,
             [Peer("torch", "torch", bwd_weight_torch)], flops=flops, quick=name == "lenet2"),
    ]


def _nn_case(name, family, fn, x_shape, w_shape, kw, flops, quick=False, peakmem=False):
    """One ``F.<fn>(x, w, **kw)`` case with ``torch.nn.functional.<fn>`` as the peer."""

    def make(rng, dtype):
        return {"x": _rand(rng, x_shape, dtype), "w": _rand(rng, w_shape, dtype)}

    def ours(cv, a):
        f = api(cv, f"functional.{fn}")
        return lambda: f(a["x"], a["w"], **kw)

    def torch_peer(a):
        torch = _torch()
        f = getattr(torch.nn.functional, fn)
        tx, tw = _tensors(a, "x", "w")
        return lambda: f(tx, tw, **kw)

    return Case(name, family, make, ours, [Peer("torch", "torch", torch_peer)], flops=flops,
                quick=quick, peakmem=peakmem)


def _other_conv_cases():
    """1-D long signal, 3-D volume, transposed convolution (== peers.py)."""
    return [
        _nn_case("conv1d/signal1e6_k101/fwd", "conv_forward", "conv1d",
                 (1, 1, 1_000_000), (1, 1, 101), dict(padding=100), 2 * 101 * 1_000_100,
                 quick=True, peakmem=True),
        _nn_case("conv3d/vol32_16to32_k3/fwd", "conv_forward", "conv3d",
                 (2, 16, 32, 32, 32), (32, 16, 3, 3, 3), dict(padding=1),
                 2 * 2 * 32 * 16 * 27 * 32**3, peakmem=True),
        _nn_case("conv_transpose2d/64to32_k4_s2/fwd", "conv_transpose", "conv_transpose2d",
                 (8, 64, 28, 28), (64, 32, 4, 4), dict(stride=2, padding=1),
                 2 * 8 * 64 * 32 * 16 * 28 * 28, quick=True),
        # one image to 3 channels (a decoder's last layer, a deblurring
        # adjoint): one (image, channel block), so row bands make the units
        _nn_case("conv_transpose2d/1img_64to3_k4_s2/fwd", "conv_transpose", "conv_transpose2d",
                 (1, 64, 112, 112), (64, 3, 4, 4), dict(stride=2, padding=1),
                 2 * 64 * 3 * 16 * 112 * 112),
    ]


# ------------------------------------------------------------------ pooling, normalization
POOL_X = (8, 64, 112, 112)
POOL_ITEMS = int(np.prod(POOL_X))


def _make_pool_x(rng, dtype):
    return {"x": _rand(rng, POOL_X, dtype)}


def _pool_case(name, family, ours_call, torch_call, quick=False):
    """``ours_call(F, x)`` / ``torch_call(TF, tx)`` on the (8, 64, 112, 112) input."""

    def ours(cv, a):
        F = api(cv, "functional")
        api(cv, f"functional.{name.split('/')[0]}")   # missing function => MissingAPI
        return lambda: ours_call(F, a["x"])

    def torch_peer(a):
        torch = _torch()
        (tx,) = _tensors(a, "x")
        return lambda: torch_call(torch.nn.functional, tx)

    return Case(name, family, _make_pool_x, ours, [Peer("torch", "torch", torch_peer)],
                items=POOL_ITEMS, quick=quick, peakmem=True)


def _max_pool_indices(x, k, s, p):
    """Max-pool (k, s, p) of an (N, C, H, W) array: values and flat ``h * W + w``
    indices into each input plane (PyTorch's convention), in plain NumPy."""
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * p, W + 2 * p), -np.inf, dtype=x.dtype)
    xp[:, :, p:p + H, p:p + W] = x
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    Ho, Wo = win.shape[2:4]
    flat = win.reshape(N, C, Ho, Wo, k * k)
    arg = flat.argmax(axis=-1)
    kh, kw = np.divmod(arg, k)
    h = np.arange(Ho)[:, None] * s - p + kh
    w = np.arange(Wo)[None, :] * s - p + kw
    return np.take_along_axis(flat, arg[..., None], -1)[..., 0], (h * W + w).astype(np.int64)


def _max_pool_backward_case():
    k, s, p = 3, 2, 1

    def make(rng, dtype):
        x = _rand(rng, POOL_X, dtype)
        y, idx = _max_pool_indices(x, k, s, p)
        return {"x": x, "idx": idx, "gy": _rand(rng, y.shape, dtype)}

    def ours(cv, a):
        f = api(cv, "functional.max_pool2d_backward")
        return lambda: f(a["gy"], a["idx"], a["x"].shape)

    def torch_peer(a):
        torch = _torch()
        tx, tidx, tgy = _tensors(a, "x", "idx", "gy")
        op = torch.ops.aten.max_pool2d_with_indices_backward
        return lambda: op(tgy, tx, [k, k], [s, s], [p, p], [1, 1], False, tidx)

    return Case("max_pool2d/k3s2p1/bwd", "pooling", make, ours,
                [Peer("torch", "torch", torch_peer)], items=POOL_ITEMS)


def _pool_cases():
    return [
        _pool_case("max_pool2d/k3s2p1/fwd", "pooling",
                   lambda F, x: F.max_pool2d(x, 3, 2, 1),
                   lambda TF, x: TF.max_pool2d(x, 3, 2, 1), quick=True),
        _pool_case("max_pool2d/k2s2_indices/fwd", "pooling",
                   lambda F, x: F.max_pool2d(x, 2, 2, return_indices=True),
                   lambda TF, x: TF.max_pool2d(x, 2, 2, return_indices=True)),
        _pool_case("avg_pool2d/k2s2/fwd", "pooling",
                   lambda F, x: F.avg_pool2d(x, 2, 2),
                   lambda TF, x: TF.avg_pool2d(x, 2, 2)),
        _max_pool_backward_case(),
        _pool_case("local_response_norm/n5/fwd", "normalization",
                   lambda F, x: F.local_response_norm(x, 5),
                   lambda TF, x: TF.local_response_norm(x, 5, 1e-4, 0.75, 2.0), quick=True),
        _lrn_backward_case(),
        _pool_case("lp_pool2d/p2_k2s2/fwd", "pooling",
                   lambda F, x: F.lp_pool2d(x, 2, 2, 2),
                   lambda TF, x: TF.lp_pool2d(x, 2, 2, 2)),
        _pool_case("adaptive_avg_pool2d/o7/fwd", "pooling",
                   lambda F, x: F.adaptive_avg_pool2d(x, 7),
                   lambda TF, x: TF.adaptive_avg_pool2d(x, 7)),
        _pool_case("relu/fwd", "normalization",
                   lambda F, x: F.relu(x),
                   lambda TF, x: TF.relu(x)),
    ]


def _lrn_backward_case():
    """Input gradient of local_response_norm(x, 5); PyTorch's is the autograd
    backward of its composite forward (graph built once, backward timed)."""

    def make(rng, dtype):
        return {"x": _rand(rng, POOL_X, dtype), "gy": _rand(rng, POOL_X, dtype)}

    def ours(cv, a):
        f = api(cv, "functional.local_response_norm_backward")
        return lambda: f(a["gy"], a["x"], 5)

    def torch_peer(a):
        torch = _torch()
        tx, tgy = _tensors(a, "x", "gy")
        tx = tx.clone().requires_grad_()
        with torch.enable_grad():
            ty = torch.nn.functional.local_response_norm(tx, 5, 1e-4, 0.75, 2.0)

        def run():
            tx.grad = None
            ty.backward(tgy, retain_graph=True)
        return run

    return Case("local_response_norm/n5/bwd", "normalization", make, ours,
                [Peer("torch", "torch", torch_peer)], items=POOL_ITEMS, peakmem=True)


# ------------------------------------------------------------------ signal family

def _signal_case(name, fn, shapes, call_kw, peers, flops=None, quick=False, peakmem=False):
    """``convolve.signal.<fn>(a, b, **call_kw)``; peers are ``(library, label, f)`` with
    ``f(a, b)`` the peer's call (imports inside ``f``'s factory below)."""

    def make(rng, dtype):
        return {"a": _rand(rng, shapes[0], dtype), "b": _rand(rng, shapes[1], dtype)}

    def ours(cv, inp):
        f = api(cv, f"signal.{fn}")
        return lambda: f(inp["a"], inp["b"], **call_kw)

    def factory(library, build):
        def make_peer(inp):
            mod = _lib(library)
            return build(mod, inp["a"], inp["b"])
        return make_peer

    return Case(name, "signal", make, ours,
                [Peer(lib, label, factory(lib, build)) for lib, label, build in peers],
                flops=flops, quick=quick, peakmem=peakmem)


def _ss():
    return importlib.import_module("scipy.signal")


def _nd():
    return importlib.import_module("scipy.ndimage")


def _cv2_filter2d(cv2, a, b):
    # filter2D correlates: flip the kernel to convolve; zero border as 'same' with fill
    bf = np.ascontiguousarray(b[::-1, ::-1])
    return lambda: cv2.filter2D(a, -1, bf, borderType=cv2.BORDER_CONSTANT)


def _signal_cases():
    return [
        _signal_case(
            "signal/convolve2d/1024_k5", "convolve2d", ((1024, 1024), (5, 5)),
            dict(mode="same"),
            [("scipy", "scipy.convolve2d",
              lambda m, a, b: (lambda: _ss().convolve2d(a, b, mode="same"))),
             ("scipy", "ndimage.convolve",
              lambda m, a, b: (lambda: _nd().convolve(a, b, mode="constant"))),
             ("cv2", "cv2.filter2D", _cv2_filter2d)],
            flops=2 * 25 * 1024**2, quick=True),
        _signal_case(
            "signal/convolve/1024_k31", "convolve", ((1024, 1024), (31, 31)),
            dict(mode="same"),
            [("scipy", "scipy.convolve",
              lambda m, a, b: (lambda: _ss().convolve(a, b, mode="same"))),
             ("scipy", "scipy.oaconvolve",
              lambda m, a, b: (lambda: _ss().oaconvolve(a, b, mode="same")))],
            flops=2 * 961 * 1024**2, peakmem=True),
        _signal_case(
            "signal/convolve/1d_1e6_k101", "convolve", ((1_000_000,), (101,)), {},
            [("numpy", "numpy.convolve", lambda m, a, b: (lambda: m.convolve(a, b))),
             ("scipy", "scipy.convolve", lambda m, a, b: (lambda: _ss().convolve(a, b)))],
            flops=2 * 101 * 1_000_100, quick=True),
        _signal_case(
            "signal/oaconvolve/1d_1e7_k1001", "oaconvolve", ((10_000_000,), (1001,)), {},
            [("scipy", "scipy.oaconvolve", lambda m, a, b: (lambda: _ss().oaconvolve(a, b))),
             ("scipy", "scipy.convolve", lambda m, a, b: (lambda: _ss().convolve(a, b)))],
            peakmem=True),
        _signal_case(
            "signal/fftconvolve/3d_128_k7", "fftconvolve", ((128, 128, 128), (7, 7, 7)),
            dict(mode="same"),
            [("scipy", "scipy.fftconvolve",
              lambda m, a, b: (lambda: _ss().fftconvolve(a, b, mode="same")))],
            quick=True, peakmem=True),
    ]


# ------------------------------------------------------------------ layers: a training step
LENET_BATCH = 64


def _lenet5_make(rng, dtype):
    return {"x": _rand(rng, (LENET_BATCH, 1, 32, 32), dtype),
            "y": rng.integers(0, 10, LENET_BATCH)}


def _lenet5_ours(cv, a):
    """One SGD step of ``convolve.models.lenet5()`` on a batch of 32x32 images.

    Written against the layer API of DESIGN.md (forward/backward objects,
    ``SoftmaxCrossEntropy``, ``SGD`` with momentum); adjust this adapter if
    the real API differs."""
    models, layers = api(cv, "models"), api(cv, "layers")
    model = models.lenet5()
    loss = layers.SoftmaxCrossEntropy()
    opt = layers.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = a["x"], a["y"]
    model.train()

    def step():
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        opt.step(model.gradients())
    return step


def _lenet5_torch(a):
    torch = _torch()
    nn = torch.nn
    dtype = torch.float32 if a["x"].dtype == np.float32 else torch.float64
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.from_numpy(a["x"]), torch.from_numpy(a["y"])
    loss_fn = nn.CrossEntropyLoss()

    def step():
        with torch.enable_grad():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    return step


def _layer_cases():
    # LeNet-5 forward + backward: the two convolutions dominate
    flops = 3 * 2 * LENET_BATCH * (6 * 25 * 28 * 28 + 16 * 6 * 25 * 10 * 10)
    return [Case("layers/lenet5/train_step", "layers", _lenet5_make, _lenet5_ours,
                 [Peer("torch", "torch", _lenet5_torch)], flops=flops)]


# ------------------------------------------------------------------ the table

def _all_cases():
    out = []
    for spec in NN_CONV:
        out += _conv2d_cases(spec)
    out += _other_conv_cases()
    out += _pool_cases()
    out += _signal_cases()
    out += _layer_cases()
    return out


CASES = _all_cases()
_BY_NAME = {c.name: c for c in CASES}
assert len(_BY_NAME) == len(CASES), "case names must be unique"


def get_case(name):
    """The :class:`Case` called `name` (without dtype tag)."""
    return _BY_NAME[name]


def cases(family=None, *, quick=None, peakmem=None):
    """The cases of `family` (all when None), optionally only quick / peakmem ones."""
    return [c for c in CASES
            if (family is None or c.family == family)
            and (quick is None or c.quick == quick)
            and (peakmem is None or c.peakmem == peakmem)]


def libraries(selected):
    """``['convolve', <peer libraries of these cases>]`` in :data:`LIBRARIES` order."""
    used = {p.library for c in selected for p in c.peers}
    return ["convolve"] + [lib for lib in LIBRARIES if lib in used]
