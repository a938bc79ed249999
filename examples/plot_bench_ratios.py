"""Plot the speed ratios of ``python -m convolve bench`` as a bar chart.

Run the benchmark with ``--json``, then plot its rows::

    python -m convolve bench --json bench.json
    python examples/plot_bench_ratios.py bench.json -o docs/_static/bench_ratios.png

One horizontal bar per case: the best peer's time divided by convolve's time,
on a log scale with a line at 1 (right of it, convolve is faster; left of
it, the peer named at the bar is). Cases whose convolve function is missing
are counted under the chart, with the functions they need.
"""
import argparse
import json
import os

import numpy as np
from matplotlib.figure import Figure   # no pyplot: no GUI backend needed


def plot(data, title=None):
    """A :class:`~matplotlib.figure.Figure` of the ratios in `data` (bench's JSON)."""
    rows = [r for r in data["rows"] if "ratio" in r]
    # cases convolve could not run, summarized by the function they lack
    missing = [r for r in data["rows"] if "ours" not in r]
    lacking = sorted({(r.get("missing") or r.get("error") or "?").split(" ")[0]
                      for r in missing})
    names = [r["case"] for r in rows]
    ratios = np.array([r["ratio"] for r in rows])
    note = (f"not timed ({len(missing)} cases), convolve lacks: " + ", ".join(lacking)
            if missing else "")
    height = 1.2 + 0.24 * max(len(rows), 1) + 0.15 * (len(note) // 110 + 1)
    fig = Figure(figsize=(9, height), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    colors = np.where(ratios >= 1, "#2a7f3f", "#b8412c")
    ax.barh(y, ratios - 1.0, left=1.0, color=colors, height=0.7)   # from 1 to the ratio
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(y, names, fontsize=7)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    lo, hi = min(ratios.min(), 0.5), max(ratios.max(), 2.0)
    ax.set_xlim(lo / 1.5, hi * 3)
    for yi, r in zip(y, rows):
        ax.text(max(r["ratio"], 1.0) * 1.08, yi, f"{r['ratio']:.2f}x vs {r['best_peer']}",
                va="center", fontsize=6)
    xlabel = "best peer time / convolve time  (> 1: convolve is faster; log scale)"
    if note:
        words, lines = note.split(" "), [""]
        for word in words:
            if len(lines[-1]) + len(word) > 110:
                lines.append("")
            lines[-1] += word + " "
        xlabel += "\n" + "\n".join(line.rstrip() for line in lines)
    ax.set_xlabel(xlabel, fontsize=8)
    lim = data.get("limits", {})
    ax.set_title(title or (
        f"convolve {data.get('convolve', '')} vs {', '.join(data.get('peers', {})) or 'peers'}"
        f" — {data.get('threads', '?')} threads; GEMM peak "
        f"{lim.get('float32', float('nan')):.0f}/{lim.get('float64', float('nan')):.0f} "
        f"GFLOP/s (f32/f64)"), fontsize=9)
    ax.grid(axis="x", which="both", alpha=0.3)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="file written by python -m convolve bench --json")
    ap.add_argument("-o", "--out", default=os.path.join("docs", "_static", "bench_ratios.png"),
                    help="PNG to write (default: docs/_static/bench_ratios.png)")
    ap.add_argument("--title", help="title of the chart")
    args = ap.parse_args(argv)
    with open(args.json) as f:
        data = json.load(f)
    fig = plot(data, args.title)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
