"""Command line: ``python -m convolve {demo,info,bench}``.

- ``demo [--out DIR] [--seed N] [--epochs N] [--only NAME ...]``: runs the
  demos on data that ships with scikit-image / scikit-learn (no downloads)
  and writes their figures to DIR (default ``./convolve-demo``): ``lenet``
  (the main job: LeNet-5 trained on the digits, :func:`lenet_demo`), then
  ``filters``. Each demo is one function ``<name>_demo(out, seed)``
  registered in ``DEMOS``; ``DEMO_OPTIONS`` names the command-line options a
  demo also takes (``--epochs`` for ``lenet``).
- ``info``: :func:`convolve._config.show_config` (version, OpenMP, threads,
  compiler flags, SIMD, BLAS and FFT backends).
- ``bench [ARGS ...]``: forwards ``ARGS`` to ``convolve._bench.main``.
"""
import argparse
import os
import sys
import time

DEMO_EXTRA = "pip install .[demo]"   # or: pip install "convolve[demo]"


class MissingExtra(Exception):
    """An optional dependency of a command is not installed."""


# (module, package) pairs each demo imports beyond NumPy and SciPy
DEMO_DEPS = {
    "lenet": (("matplotlib", "matplotlib"), ("sklearn", "scikit-learn"), ("tqdm", "tqdm")),
    "filters": (("matplotlib", "matplotlib"), ("skimage", "scikit-image")),
}


def _need_demo_deps(needed=DEMO_DEPS["filters"]):
    missing = []
    for module, package in dict.fromkeys(needed):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise MissingExtra(
            f"python -m convolve demo needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed.\n"
            f"Install the demo extra: {DEMO_EXTRA}")


# ----------------------------------------------------------------------------
# LeNet-5 demo
# ----------------------------------------------------------------------------

LENET_EPOCHS = 20     # default --epochs of the lenet demo
LENET_SHIFT = 3       # random translations of the training images, in pixels


def _digits_32(seed):
    """scikit-learn's 8x8 digits upsampled to 32x32 and normalized, split 80/20
    (stratified, seeded): ``(x_train, y_train, x_test, y_test)``."""
    import numpy as np
    from scipy import ndimage
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # bilinear upsampling (x4) then a light blur: smooth 32x32 strokes like MNIST's
    images = ndimage.zoom(digits.images.astype(np.float32) / 16.0, (1, 4, 4), order=1)
    images = ndimage.gaussian_filter(images, (0, 1.0, 1.0))
    x_train, x_test, y_train, y_test = train_test_split(
        images[:, None], digits.target, test_size=0.2, stratify=digits.target,
        random_state=seed)
    mean, std = x_train.mean(), x_train.std()
    return ((x_train - mean) / std).astype(np.float32), y_train, \
        ((x_test - mean) / std).astype(np.float32), y_test


def _random_shift(x, rng, m):
    """Each image of ``x (N, C, H, W)`` translated by up to `m` pixels along each
    axis (edge-extended), offsets drawn from `rng`."""
    import numpy as np
    n, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    dy, dx = rng.integers(0, 2 * m + 1, n), rng.integers(0, 2 * m + 1, n)
    return np.ascontiguousarray(windows[np.arange(n), :, dy, dx])


def _accuracy(model, x, y, batch=256):
    import numpy as np
    model.eval()
    pred = np.concatenate([model.forward(x[i:i + batch]).argmax(axis=1)
                           for i in range(0, len(x), batch)])
    model.train()
    return float(np.mean(pred == y))


def lenet_demo(out, seed=0, *, epochs=None, batch_size=64, lr=0.05, weight_decay=5e-4,
               shift=LENET_SHIFT, verbose=True):
    """Train LeNet-5 on scikit-learn's handwritten digits with the layer API.

    The 1797 8x8 digits are upsampled to 32x32 (LeNet-5's input size),
    normalized and split 80/20 (stratified, `seed`). The network of
    :func:`convolve.models.lenet5` trains with :class:`convolve.layers.SGD`
    (momentum 0.9, `weight_decay`, `lr` decayed by a cosine schedule) on
    mini-batches of `batch_size`, each image translated at random by up to
    `shift` pixels, in float32; every convolution, pooling, activation and
    their gradients run in convolve's kernels. The throughput counts the
    forward, backward and update steps. Writes ``training.png`` (loss and accuracy per
    epoch), ``lenet_filters.png`` (the six first-layer filters and their
    feature maps on a test digit) and the trained weights ``lenet5.npz``.

    Parameters
    ----------
    out : str or path
        Directory for the files (created if needed).
    seed : int
        Seed of the split, the initial weights and the batch order.
    epochs : int, optional
        Passes over the training set (default ``LENET_EPOCHS``).
    batch_size : int
    lr : float
        Initial learning rate.
    weight_decay : float
        L2 penalty of the optimizer.
    shift : int
        Largest random translation of the training images (0: none).
    verbose : bool
        Progress bar and summary on the terminal.

    Returns
    -------
    dict
        ``test_accuracy``, ``images_per_s`` (training throughput),
        ``train_seconds``, ``history`` (per epoch: ``loss``, ``train_accuracy``,
        ``test_accuracy``) and ``paths``.

    Raises
    ------
    MissingExtra
        matplotlib, scikit-learn or tqdm is not installed.
    """
    _need_demo_deps(DEMO_DEPS["lenet"])
    import math

    import numpy as np
    from tqdm import tqdm

    from . import layers as L
    from ._threads import get_num_threads
    from .models import lenet5

    epochs = LENET_EPOCHS if epochs is None else int(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    os.makedirs(out, exist_ok=True)
    x_train, y_train, x_test, y_test = _digits_32(seed)
    rng = np.random.default_rng(seed)
    model = lenet5(rng=rng)
    loss_fn = L.SoftmaxCrossEntropy()
    opt = L.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    n = len(x_train)
    steps = math.ceil(n / batch_size)
    if verbose:
        print(f"LeNet-5 on sklearn digits (8x8 -> 32x32): {n} train / {len(x_test)} test "
              f"images, batch {batch_size}, {epochs} epochs, shifts <= {shift} px, float32, "
              f"{get_num_threads()} threads")

    history = {"loss": [], "train_accuracy": [], "test_accuracy": []}
    train_seconds = 0.0
    model.train()
    for epoch in range(epochs):
        # cosine decay of the learning rate, per epoch
        opt.lr = 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs))
        perm = rng.permutation(n)
        total, correct = 0.0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1:>2}/{epochs}", unit="batch",
                   leave=verbose, disable=not verbose, ncols=90)
        for i in bar:
            idx = perm[i * batch_size:(i + 1) * batch_size]
            xb = _random_shift(x_train[idx], rng, shift) if shift else x_train[idx]
            t0 = time.perf_counter()
            logits = model.forward(xb)
            value = loss_fn.forward(logits, y_train[idx])
            model.backward(loss_fn.backward())
            opt.step(model.gradients())
            train_seconds += time.perf_counter() - t0
            total += value * len(idx)
            correct += int(np.sum(logits.argmax(axis=1) == y_train[idx]))
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)   # drawn at tqdm's own pace
        history["loss"].append(total / n)
        history["train_accuracy"].append(correct / n)
        history["test_accuracy"].append(_accuracy(model, x_test, y_test))
        bar.set_postfix(loss=f"{total / n:.3f}", test_acc=f"{history['test_accuracy'][-1]:.3f}")
        bar.close()

    images_per_s = epochs * n / train_seconds
    paths = {"training": os.path.join(out, "training.png"),
             "filters": os.path.join(out, "lenet_filters.png"),
             "weights": os.path.join(out, "lenet5.npz")}
    L.save(model, paths["weights"])
    _plot_training(paths["training"], history)
    _plot_lenet_filters(paths["filters"], model, x_test, y_test)
    accuracy = history["test_accuracy"][-1]
    if verbose:
        print(f"test accuracy {accuracy:.2%} ({round(accuracy * len(x_test))}/{len(x_test)}); "
              f"training {train_seconds:.1f} s, {images_per_s:.0f} images/s")
        print("wrote " + ", ".join(paths.values()))
    return {"test_accuracy": accuracy, "images_per_s": images_per_s,
            "train_seconds": train_seconds, "history": history, "paths": paths}


def _plot_training(path, history):
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    epochs = range(1, len(history["loss"]) + 1)
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, history["loss"], "o-")
    ax1.set_yscale("log")
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_xlabel("epoch")
    ax1.set_title("training loss (cross-entropy)")
    ax2.plot(epochs, history["train_accuracy"], "o-", label="train (shifted batches)")
    ax2.plot(epochs, history["test_accuracy"], "s-", label="test")
    ax2.set_xlabel("epoch")
    ax2.set_title("accuracy")
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.suptitle("LeNet-5 (convolve.layers) on scikit-learn's digits")
    fig.savefig(path, dpi=80)


def _plot_lenet_filters(path, model, x_test, y_test):
    """The first layer's six 5x5 filters and their ReLU feature maps on one test digit."""
    from matplotlib.figure import Figure
    conv1, relu1 = model[0], model[1]
    image = x_test[:1]
    maps = relu1.forward(conv1.forward(image))[0]
    pred = int(model.eval().forward(image).argmax())
    model.train()
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(2, 7)
    axes[0, 0].imshow(image[0, 0], cmap="gray")
    axes[0, 0].set_title(f"input: {int(y_test[0])}\npredicted: {pred}", fontsize=9)
    axes[1, 0].set_visible(False)
    for j in range(6):
        w = conv1.weight[j, 0]
        v = float(abs(w).max()) or 1.0
        axes[0, j + 1].imshow(w, cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
        axes[0, j + 1].set_title(f"C1 filter {j}", fontsize=9)
        axes[1, j + 1].imshow(maps[j], cmap="magma")
        axes[1, j + 1].set_title(f"feature map {j}", fontsize=9)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle("LeNet-5 first layer: learnt 5x5 filters and their ReLU responses")
    fig.savefig(path, dpi=80)


# ----------------------------------------------------------------------------
# filter demo
# ----------------------------------------------------------------------------

def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def _filter_bank(seed):
    """``[(name, kernel), ...]`` of the kernels the demo applies (2-D arrays)."""
    import numpy as np

    from .kernels import box, gabor, gaussian, laplacian, sharpen, sobel
    return [
        ("box 7x7", box(7)),
        ("gaussian s=2", gaussian(2.0)),
        ("sobel x", sobel(axis=1)),
        ("sobel y", sobel(axis=0)),
        ("sharpen", sharpen(1.0)),
        ("laplacian", laplacian(diagonal=True)),
        ("gabor 45deg", gabor(sigma=4.0, theta=np.pi / 4, wavelength=8.0)),
    ]


def filter_demo(out, seed=0, *, repeats=3, verbose=True):
    """Filter scikit-image's ``camera`` with the classic kernels; write a PNG grid.

    Every filter runs through :func:`convolve.signal.convolve2d` and
    :func:`scipy.signal.convolve2d` (``mode='same'``, ``boundary='symm'``); the
    timings are medians of `repeats` runs after one warm-up run. The last
    panel adds Gaussian noise drawn with `seed` and smooths it with the
    separable Gaussian (:func:`convolve.kernels.separable_conv2d`).

    Parameters
    ----------
    out : str or path
        Directory for ``filters.png`` (created if needed).
    seed : int
        Seed of the noise in the last panel.
    repeats : int
        Timed runs per filter and library.
    verbose : bool
        Print the timing table.

    Returns
    -------
    dict
        ``path`` (the PNG written) and ``rows``: one dict per filter with
        ``name``, ``kernel_shape``, ``ours_s``, ``scipy_s``, ``max_abs_diff``.

    Raises
    ------
    MissingExtra
        matplotlib or scikit-image is not installed.
    """
    _need_demo_deps()
    import numpy as np
    import scipy.signal
    from matplotlib.figure import Figure   # no pyplot: no GUI backend, no global state
    from skimage import data

    from . import signal
    from ._threads import get_num_threads
    from .kernels import gaussian, separable_conv2d

    os.makedirs(out, exist_ok=True)
    image = data.camera().astype(np.float64) / 255.0
    opts = dict(mode="same", boundary="symm")

    rows, results = [], {}
    if verbose:
        print(f"filtering skimage.data.camera() {image.shape}, mode='same', "
              f"boundary='symm', {get_num_threads()} threads, median of {repeats} runs")
        print(f"{'filter':<22}{'kernel':>8}{'convolve':>12}{'scipy':>12}{'speed-up':>10}"
              f"{'max |diff|':>12}")

    def record(name, shape, ours, ref, run_ours, run_ref):
        row = {"name": name, "kernel_shape": shape,
               "ours_s": _median_time(run_ours, repeats),
               "scipy_s": _median_time(run_ref, repeats),
               "max_abs_diff": float(np.max(np.abs(ours - ref)))}
        rows.append(row)
        if verbose:
            kshape = "x".join(map(str, shape))
            print(f"{name:<22}{kshape:>8}{row['ours_s'] * 1e3:>10.2f}ms"
                  f"{row['scipy_s'] * 1e3:>10.2f}ms"
                  f"{row['scipy_s'] / max(row['ours_s'], 1e-12):>9.1f}x"
                  f"{row['max_abs_diff']:>12.2e}")

    for name, k in _filter_bank(seed):
        def run_ours(k=k):
            return signal.convolve2d(image, k, **opts)

        def run_ref(k=k):
            return scipy.signal.convolve2d(image, k, **opts)
        ours, ref = run_ours(), run_ref()   # the warm-up runs
        results[name] = ours
        record(name, k.shape, ours, ref, run_ours, run_ref)

    # denoising with the separable Gaussian: two 1-D passes instead of one 2-D
    rng = np.random.default_rng(seed)
    noisy = image + rng.normal(0.0, 0.1, image.shape)
    g = gaussian(1.5, ndim=1)

    def run_sep():
        return separable_conv2d(noisy, g, g, **opts)

    def run_sep_ref():
        return scipy.signal.convolve2d(noisy, np.outer(g, g), **opts)
    ours, ref = run_sep(), run_sep_ref()
    results["noisy"] = noisy
    results["denoised"] = ours
    record("gaussian (separable)", (g.size, g.size), ours, ref, run_sep, run_sep_ref)

    magnitude = np.hypot(results["sobel x"], results["sobel y"])
    panels = [
        ("camera (input)", image, (0, 1)),
        ("box 7x7", results["box 7x7"], (0, 1)),
        ("gaussian sigma=2", results["gaussian s=2"], (0, 1)),
        ("sobel |gradient|", magnitude, (0, np.percentile(magnitude, 99.5))),
        ("sharpen", results["sharpen"], (0, 1)),
        ("laplacian (8-neighbour)", results["laplacian"], None),
        ("gabor theta=45deg", results["gabor 45deg"], None),
        (f"noisy (seed {seed})", noisy, (0, 1)),
        ("separable gaussian of noisy", results["denoised"], (0, 1)),
    ]
    fig = Figure(figsize=(10.5, 11), layout="constrained")
    axes = fig.subplots(3, 3)
    for ax, (title, img, limits) in zip(axes.ravel(), panels):
        if limits is None:  # signed responses: symmetric limits around 0
            v = float(np.percentile(np.abs(img), 99.5)) or 1.0
            limits = (-v, v)
        ax.imshow(img, cmap="gray", vmin=limits[0], vmax=limits[1], interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.suptitle("convolve.signal.convolve2d(camera, kernel, mode='same', boundary='symm')")
    path = os.path.join(out, "filters.png")
    fig.savefig(path, dpi=80)
    if verbose:
        print(f"wrote {path}")
    return {"path": path, "rows": rows}


# Demos run by `python -m convolve demo`, in this order; each takes (out, seed).
DEMOS = {
    "lenet": lenet_demo,
    "filters": filter_demo,
}
# Command-line options that a demo takes as keyword arguments.
DEMO_OPTIONS = {"lenet": ("epochs",)}


# ----------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------

def _cmd_demo(args):
    names = args.only or list(DEMOS)
    try:
        # every missing extra is reported before a demo starts (not after training)
        _need_demo_deps(tuple(dep for name in names for dep in DEMO_DEPS.get(name, ())))
        for name in names:
            options = {k: getattr(args, k) for k in DEMO_OPTIONS.get(name, ())
                       if getattr(args, k, None) is not None}
            DEMOS[name](args.out, args.seed, **options)
    except MissingExtra as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _cmd_info(args):
    from ._config import show_config
    show_config()
    return 0


def _cmd_bench(argv):
    try:
        from ._bench import main as bench_main
    except ModuleNotFoundError as exc:
        if exc.name in ("convolve._bench", __package__ + "._bench"):
            print("python -m convolve bench: the benchmark module (convolve/_bench.py) "
                  "is not part of this installation.", file=sys.stderr)
        else:
            print(f"python -m convolve bench needs {exc.name!r}, which is not installed.\n"
                  "Install the bench extra: pip install .[bench]", file=sys.stderr)
        return 1
    rc = bench_main(argv)
    return rc if isinstance(rc, int) else 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m convolve",
        description="convolve: fast CPU convolution for NumPy (Cython + OpenMP).")
    sub = parser.add_subparsers(dest="command", metavar="{demo,info,bench}")
    sub.required = True

    demo = sub.add_parser(
        "demo", help="run the demos on built-in data and write figures",
        description="Train LeNet-5 on scikit-learn's handwritten digits with "
                    "convolve.layers (progress bar, test accuracy, images/s), filter "
                    "scikit-image's camera image with classic kernels timed against SciPy, "
                    f"and write the figures (needs {DEMO_EXTRA}).")
    demo.add_argument("--out", default="convolve-demo", metavar="DIR",
                      help="directory for the figures (default: ./convolve-demo)")
    demo.add_argument("--seed", type=int, default=0, metavar="N",
                      help="random seed (default: 0)")
    demo.add_argument("--epochs", type=_positive_int, metavar="N",
                      help=f"training epochs of the lenet demo (default: {LENET_EPOCHS})")
    demo.add_argument("--only", nargs="+", choices=list(DEMOS), metavar="NAME",
                      help=f"run only these demos ({', '.join(DEMOS)})")
    demo.set_defaults(func=_cmd_demo)

    info = sub.add_parser("info", help="print version, OpenMP, threads, SIMD, BLAS, FFT",
                          description="Print the build and runtime configuration.")
    info.set_defaults(func=_cmd_info)

    # listed for --help only: main() hands everything after `bench` to _bench.main
    sub.add_parser("bench", add_help=False,
                   help="compare against installed peers (PyTorch, SciPy, OpenCV); "
                        "`bench --help` for its options")
    return parser


def main(argv=None):
    """Entry point of ``python -m convolve``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":
        return _cmd_bench(argv[1:])
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
