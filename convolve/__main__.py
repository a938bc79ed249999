"""Command line: ``python -m convolve {demo,info,bench}``.

- ``demo [--out DIR] [--seed N] [--only NAME ...]``: runs the demos on data
  that ships with scikit-image / scikit-learn (no downloads) and writes their
  figures to DIR (default ``./convolve-demo``). Each demo is one function
  ``<name>_demo(out, seed)`` registered in ``DEMOS``.
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


def _need_demo_deps():
    missing = []
    for module, package in (("matplotlib", "matplotlib"), ("skimage", "scikit-image")):
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
    "filters": filter_demo,
}


# ----------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------

def _cmd_demo(args):
    names = args.only or list(DEMOS)
    try:
        for name in names:
            DEMOS[name](args.out, args.seed)
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


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m convolve",
        description="convolve: fast CPU convolution for NumPy (Cython + OpenMP).")
    sub = parser.add_subparsers(dest="command", metavar="{demo,info,bench}")
    sub.required = True

    demo = sub.add_parser(
        "demo", help="run the demos on built-in data and write figures",
        description="Filter scikit-image's camera image with classic kernels, time "
                    "convolve against SciPy and write the figures (needs "
                    f"{DEMO_EXTRA}).")
    demo.add_argument("--out", default="convolve-demo", metavar="DIR",
                      help="directory for the figures (default: ./convolve-demo)")
    demo.add_argument("--seed", type=int, default=0, metavar="N",
                      help="random seed (default: 0)")
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
