"""Fit the constants of convolve/_dispatch.py on this machine, and check them.

    PYTHONPATH=. python tools/fit_dispatch.py            # measure, fit, write, check
    PYTHONPATH=. python tools/fit_dispatch.py --check    # only the held-out check

Training grid: 1-D, 2-D and 3-D signals and kernels (plus batched 1-D), the
four compute dtypes, modes 'full' and 'same'; each method timed with one
thread (best of a few runs: on a shared machine the minimum is the least
disturbed). Per method and dtype, the constants minimise the squared
*relative* error of the model by non-negative least squares, and replace
the block between the BEGIN/END FITTED CONSTANTS markers of
convolve/_dispatch.py. The held-out grid (other shapes, drawn at random with
another seed, modes 'full'/'same'/'valid') measures how often the chosen
method is the fastest, and how much slower the choice is when it is not;
the measurements go to tools/dispatch_measurements.json for the docs plot.
"""
import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
from scipy.optimize import nnls

import convolve
from convolve import _dispatch
from convolve import signal as S
from convolve._threads import usable_cpus

HERE = pathlib.Path(__file__).resolve().parent
DISPATCH = HERE.parent / "convolve" / "_dispatch.py"
DATA = HERE / "dispatch_measurements.json"
DTYPES = {"f4": np.float32, "f8": np.float64, "c8": np.complex64, "c16": np.complex128}
METHODS = ("direct", "fft", "oa")
MAX_DIRECT_MACS = 2e9      # slower cases are never near a crossover


def timeit(f, budget=0.15, reps=5, min_reps=2, clock=time.perf_counter):
    """Best of up to `reps` timed calls (at least `min_reps`) within `budget`
    seconds, after one warm-up call."""
    f()
    best, spent, n = math.inf, 0.0, 0
    while n < reps and (spent < budget or n < min_reps):
        t = clock()
        f()
        dt = clock() - t
        best, spent, n = min(best, dt), spent + dt, n + 1
    return best


def rand(rng, shape, key):
    dt = DTYPES[key]
    x = rng.standard_normal(shape)
    if key[0] == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dt)


def window(sa, sb, mode):
    if mode == "full":
        return [0] * len(sa), [i + j - 1 for i, j in zip(sa, sb)]
    if mode == "same":
        return [(j - 1) // 2 for j in sb], list(sa)
    return [j - 1 for j in sb], [i - j + 1 for i, j in zip(sa, sb)]


def measure(case, rng):
    sa, sb, batch, key, mode = case
    a = rand(rng, ((batch,) if batch > 1 else ()) + sa, key)
    b = rand(rng, ((1,) if batch > 1 else ()) + sb, key)
    axes = list(range(1, 1 + len(sa))) if batch > 1 else None
    start, length = window(sa, sb, mode)
    macs = batch * math.prod(length) * math.prod(sb)
    times = {}
    for m in METHODS:
        if m == "direct" and macs * (4 if key[0] == "c" else 1) > MAX_DIRECT_MACS:
            continue
        forced = "fft1" if m == "fft" else m     # one FFT block, not the engine's choice
        times[m] = timeit(lambda: S.convolve(a, b, mode=mode, method=forced, axes=axes,
                                             workers=1))
    return {"sa": list(sa), "sb": list(sb), "batch": batch, "dtype": key, "mode": mode,
            "start": start, "length": length, "times": times}


def training_grid():
    cases = []
    for key in DTYPES:
        for n in (256, 4096, 65536, 1 << 20):
            for k in (3, 9, 33, 129, 513, 2049):
                if k <= n:
                    cases.append(((n,), (k,), 1, key, "full"))
        for n in (1024, 16384):
            for k in (9, 65, 257):
                cases.append(((n,), (k,), 16, key, "same"))
        for n in (32, 128, 512, 1024):
            for k in (3, 5, 9, 17, 33, 65):
                if k <= n and not (n == 1024 and k < 9):
                    cases.append(((n, n), (k, k), 1, key, "same"))
        for n in (16, 32, 64, 128):
            for k in (3, 5, 7, 11, 17):
                if k <= n and not (n == 128 and k > 11):
                    cases.append(((n, n, n), (k, k, k), 1, key, "same"))
    return cases


def heldout_grid(count=72, seed=7):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        nd = int(rng.integers(1, 4))
        key = list(DTYPES)[int(rng.integers(4))]
        total = 10 ** rng.uniform(3, {1: 6.3, 2: 6.0, 3: 6.0}[nd])
        n = max(4, int(round(total ** (1 / nd))))
        sa = tuple(max(4, int(n * rng.uniform(0.6, 1.4))) for _ in range(nd))
        kmax = min(sa) if nd > 1 else min(sa[0], 4096)
        k = int(round(10 ** rng.uniform(math.log10(2), math.log10(max(3, kmax)))))
        sb = tuple(max(1, min(s, int(k * rng.uniform(0.7, 1.3)))) for s in sa)
        mode = ("full", "same", "valid")[int(rng.integers(3))]
        cases.append((sa, sb, 1, key, mode))
    return cases


def fit(rows):
    coeffs = {}
    for m in METHODS:
        coeffs[m] = {}
        for key in DTYPES:
            X, y = [], []
            for r in rows:
                if r["dtype"] != key or m not in r["times"]:
                    continue
                f = _dispatch.features(m, r["sa"], r["sb"], r["start"], r["length"],
                                       r["batch"], 1, key[0] == "c",
                                       8 if key in ("f4", "c8") else 16, usable_cpus())
                X.append(f)
                y.append(r["times"][m])
            X, y = np.array(X), np.array(y)
            c, _ = nnls(X / y[:, None], np.ones(len(y)))
            coeffs[m][key] = tuple(float(f"{v:.3g}") for v in c)
    return coeffs


def write(coeffs, accuracy=None):
    src = DISPATCH.read_text()
    a = src.index("COEFFS = {")
    b = src.index("# END FITTED CONSTANTS")
    lines = ["COEFFS = {"]
    for m in METHODS:
        lines.append(f'    "{m}": {{')
        for key, c in coeffs[m].items():
            lines.append(f'        "{key}": {tuple(c)!r},')
        lines.append("    },")
    lines.append("}")
    lines.append("# Held-out accuracy (tools/fit_dispatch.py --check): see docs/guide/methods.rst.")
    lines.append(f"ACCURACY = {accuracy!r}")
    DISPATCH.write_text(src[:a] + "\n".join(lines) + "\n" + src[b:])


def check(rows):
    """Share of held-out cases where the model picks the fastest measured method."""
    hits, regrets, near, family = 0, [], 0, 0
    for r in rows:
        t = r["times"]
        key = r["dtype"]
        costs = _dispatch.estimate_costs(r["sa"], r["sb"], r["length"], DTYPES[key], 1,
                                         start=r["start"])
        pick = min((m for m in t), key=costs.get)
        best = min(t, key=t.get)
        r["pick"], r["best"] = pick, best
        hits += pick == best
        regrets.append(t[pick] / t[best])
        near += t[pick] <= 1.2 * t[best]
        family += (pick == "direct") == (best == "direct")
    n = len(rows)
    return {"cases": n, "fastest": hits / n, "within_20pct": near / n,
            "direct_vs_fft": family / n,
            "mean_slowdown": float(np.mean(regrets)), "worst_slowdown": float(max(regrets))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only the held-out check")
    ap.add_argument("--recheck", action="store_true",
                    help="the held-out check on the stored measurements (no timing)")
    args = ap.parse_args()
    rng = np.random.default_rng(1234)
    convolve.set_num_threads(1)
    data = json.loads(DATA.read_text()) if DATA.exists() else {}
    if not (args.check or args.recheck):
        t0 = time.time()
        train = [measure(c, rng) for c in training_grid()]
        print(f"training: {len(train)} cases in {time.time() - t0:.0f} s", flush=True)
        coeffs = fit(train)
        _dispatch.COEFFS = coeffs
        data["train"] = train
        write(coeffs)
    t0 = time.time()
    if args.recheck:
        held = data["heldout"]
    else:
        held = [measure(c, rng) for c in heldout_grid()]
    acc = check(held)
    print(f"held-out: {acc} ({time.time() - t0:.0f} s)")
    data["heldout"], data["accuracy"] = held, acc
    write(_dispatch.COEFFS, acc)
    DATA.write_text(json.dumps(data, indent=0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
