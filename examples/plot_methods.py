"""Where direct, FFT and overlap-add win: measured on this machine, and the model.

Reads the timings that ``tools/fit_dispatch.py`` stored in
``tools/dispatch_measurements.json`` (one thread, best of a few runs) and
draws, for 1-D signals ('full' mode) and square 2-D images ('same' mode) in
float64 and float32:

- the background: the method the fitted cost model of
  ``convolve/_dispatch.py`` predicts fastest, over a fine grid of signal and
  kernel sizes;
- the markers: the method that was measured fastest at each grid point.

Where the markers' colour matches the background, ``method='auto'`` picks
the fastest method::

    PYTHONPATH=. python examples/plot_methods.py -o docs/_static/methods.png
"""
import argparse
import json
import pathlib

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure   # no pyplot: no GUI backend needed

from convolve import _dispatch

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parent / "tools" / "dispatch_measurements.json"
METHODS = ("direct", "fft", "oa")
COLORS = ("#4c72b0", "#dd8452", "#55a868")
DTYPES = {"f4": np.float32, "f8": np.float64}


def model_map(nd, key, ns, ks):
    """Index of the predicted fastest method per (kernel, signal) size."""
    z = np.zeros((len(ks), len(ns)))
    for i, k in enumerate(ks):
        for j, n in enumerate(ns):
            if k > n:
                z[i, j] = np.nan
                continue
            sa, sb = (n,) * nd, (k,) * nd
            if nd == 1:
                start, length = [0], [n + k - 1]
            else:
                start, length = [(k - 1) // 2] * nd, [n] * nd
            c = _dispatch.estimate_costs(sa, sb, length, DTYPES[key], 1, start=start)
            z[i, j] = METHODS.index(min(c, key=c.get))
    return z


def plot(data):
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    axes = fig.subplots(2, 2)
    cmap = ListedColormap(COLORS)
    panels = [(1, "f8", "1-D, float64, mode='full'"), (1, "f4", "1-D, float32, mode='full'"),
              (2, "f8", "2-D (n x n), float64, mode='same'"),
              (2, "f4", "2-D (n x n), float32, mode='same'")]
    for ax, (nd, key, title) in zip(axes.ravel(), panels):
        rows = [r for r in data["train"] if len(r["sa"]) == nd and r["dtype"] == key
                and r["batch"] == 1]
        nmax = max(r["sa"][0] for r in rows)
        kmax = max(r["sb"][0] for r in rows)
        ns = np.geomspace(min(r["sa"][0] for r in rows) / 1.5, nmax * 1.5, 90).astype(int)
        ks = np.unique(np.geomspace(2, kmax * 1.5, 70).astype(int))
        z = model_map(nd, key, ns, ks)
        ax.pcolormesh(ns, ks, z, cmap=cmap, vmin=-0.5, vmax=2.5, alpha=0.35, shading="nearest")
        for r in rows:
            t = r["times"]
            best = min(t, key=t.get)
            ax.scatter(r["sa"][0], r["sb"][0], color=COLORS[METHODS.index(best)],
                       edgecolor="black", s=45, zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("signal size n (per axis)")
        ax.set_ylabel("kernel size k (per axis)")
        ax.set_title(title, fontsize=10)
    handles = [axes[0, 0].scatter([], [], color=c, edgecolor="black", s=45, label=m)
               for m, c in zip(("direct", "FFT", "overlap-add"), COLORS)]
    acc = data.get("accuracy", {})
    fig.legend(handles=handles, loc="outside upper center", ncols=3,
               title="dots: measured fastest (1 thread); background: cost model's choice")
    if acc:
        fig.text(0.5, -0.01, f"held-out grid ({acc['cases']} shapes, 1-3 D, 4 dtypes): "
                 f"fastest picked {100 * acc['fastest']:.0f}%, within 20% of fastest "
                 f"{100 * acc['within_20pct']:.0f}%, direct-vs-FFT right "
                 f"{100 * acc.get('direct_vs_fft', float('nan')):.0f}%",
                 ha="center", fontsize=9)
    return fig


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("-o", "--output", default="methods.png")
    args = ap.parse_args()
    data = json.loads(pathlib.Path(args.data).read_text())
    plot(data).savefig(args.output, dpi=110, bbox_inches="tight")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
