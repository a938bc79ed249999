"""Fit the NN-family constants of convolve/_dispatch.py on this machine, and check them.

    PYTHONPATH=. python tools/fit_nn_dispatch.py            # measure, fit, write, check
    PYTHONPATH=. python tools/fit_nn_dispatch.py --recheck  # check on stored measurements

For the forward (``conv*d``), the input gradient and the weight gradient,
each problem is timed twice with one thread: the direct engine (what
``method='auto'`` ran before the FFT path existed: Winograd, GEMM,
batch-lane or direct kernels) and the FFT path (``method='fft'``). Times are
``time.process_time()`` minima over a few runs (the least disturbed on a
shared machine), with the BLAS limited to one thread as well. Problems are drawn at random: 1-D, 2-D and 3-D, batches of
1 to 8, 1 to 64 channels, some grouped or depthwise, strided or dilated,
kernels from 1 tap to most of the input, float32 and float64. Per
operation, method and dtype, the constants minimise the squared *relative*
error of the model (non-negative least squares) and replace the block between
the BEGIN/END NN FITTED CONSTANTS markers of convolve/_dispatch.py. A
held-out grid (another seed) measures how often ``nn_fft_pays`` picks the
faster of the two, and the mean slowdown of its pick over the faster; the
measurements go to tools/nn_dispatch_measurements.json.
"""
import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
from scipy.optimize import nnls
from threadpoolctl import threadpool_limits

import convolve
import fit_dispatch            # tools/ is the script's directory
from convolve import _dispatch
from convolve import functional as F

HERE = pathlib.Path(__file__).resolve().parent
DISPATCH = HERE.parent / "convolve" / "_dispatch.py"
DATA = HERE / "nn_dispatch_measurements.json"
DTYPES = {"f4": np.float32, "f8": np.float64}
MAX_MACS = 1.5e9        # direct work per problem (a few tenths of a second)
MAX_FFT_ELEMS = 4e7     # planes * transform size per problem


def timeit(f):
    """CPU-time minimum (the least disturbed on a shared machine)."""
    return fit_dispatch.timeit(f, budget=0.4, reps=3, min_reps=1, clock=time.process_time)


def draw(rng):
    """One random problem: (op, d, N, C, O, spatial, kernel, stride, dilation, padding, groups)."""
    op = _dispatch.NN_OPS[int(rng.integers(3))]
    d = int(rng.choice([1, 2, 2, 3]))
    N = int(rng.choice([1, 1, 2, 4, 8]))
    chans = [1, 2, 3, 4, 8, 16, 32, 64]
    C = int(rng.choice(chans))
    O = int(rng.choice(chans))
    groups = 1
    r = rng.uniform()
    if r < 0.1:
        groups, O = C, C                    # depthwise
    elif r < 0.2 and math.gcd(C, O) > 1:
        groups = math.gcd(C, O)
    lo, hi = {1: (2.5, 5.5), 2: (1.2, 2.5), 3: (0.9, 1.7)}[d]
    n = int(round(10 ** rng.uniform(lo, hi)))
    kmax = {1: min(n, 1025), 2: min(n, 41), 3: min(n, 13)}[d]
    # most problems in the regime the model decides (NN_FFT_MIN_TAPS taps and
    # more), the others anywhere from 1 tap up
    kmin = math.ceil(_dispatch.NN_FFT_MIN_TAPS ** (1 / d)) if rng.uniform() < 0.7 else 1
    if kmin > kmax:
        kmin = 1
    k = int(round(10 ** rng.uniform(math.log10(kmin), math.log10(kmax))))
    k = max(1, min(k, n))
    stride = 2 if rng.uniform() < 0.15 else 1
    dilation = 2 if rng.uniform() < 0.1 and 2 * (k - 1) + 1 <= n else 1
    padding = ["valid", "same", k // 2][int(rng.integers(3))] if stride == 1 else \
        ["valid", k // 2][int(rng.integers(2))]
    return op, d, N, C, O, (n,) * d, (k,) * d, stride, dilation, padding, groups


def setup(case):
    op, d, N, C, O, sp, kernel, stride, dilation, padding, groups = case
    st = (stride,) * d
    dl = (dilation,) * d
    pairs = F.padding_pairs(padding, sp, kernel, st, dl)
    out = F.output_size(sp, kernel, st, dl, pairs)
    Lp = tuple(n + a + b for n, (a, b) in zip(sp, pairs))
    return (N, C) + sp, (O, C // groups) + kernel, out, st, dl, Lp


def admissible(case):
    op, d, N, C, O, sp, kernel, stride, dilation, padding, groups = case
    x_shape, w_shape, out, st, dl, Lp = setup(case)
    if any(o < 1 for o in out):
        return False
    prob = _dispatch.nn_problem(op, x_shape, w_shape, out, st, dl, groups, Lp)
    return prob["macs"] <= MAX_MACS and prob["planes"] * prob["P"] <= MAX_FFT_ELEMS


def grid(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        c = draw(rng)
        if admissible(c):
            cases.append(c + (list(DTYPES)[len(cases) % 2],))
    return cases


def measure(case, rng):
    op, d, N, C, O, sp, kernel, stride, dilation, padding, groups, key = case
    dt = DTYPES[key]
    x_shape, w_shape, out, st, dl, Lp = setup(case[:-1])
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, workers=1)
    x = rng.standard_normal(x_shape).astype(dt)
    w = rng.standard_normal(w_shape).astype(dt)
    gy = rng.standard_normal((N, O) + tuple(out)).astype(dt)
    fns = {"forward": lambda m: getattr(F, f"conv{d}d")(x, w, method=m, **kw),
           "input_grad": lambda m: getattr(F, f"conv{d}d_input_grad")(gy, w, x_shape,
                                                                      method=m, **kw),
           "weight_grad": lambda m: getattr(F, f"conv{d}d_weight_grad")(x, gy, w_shape,
                                                                       method=m, **kw)}
    f = fns[op]
    saved = _dispatch.nn_fft_pays
    _dispatch.nn_fft_pays = lambda *a, **k: False     # 'auto' = the direct engine
    try:
        t_direct = timeit(lambda: f("auto"))
    finally:
        _dispatch.nn_fft_pays = saved
    t_fft = timeit(lambda: f("fft"))
    return {"op": op, "d": d, "N": N, "C": C, "O": O, "sp": list(sp), "kernel": list(kernel),
            "stride": stride, "dilation": dilation, "padding": padding, "groups": groups,
            "dtype": key, "x_shape": list(x_shape), "w_shape": list(w_shape),
            "out": list(out), "Lp": list(Lp), "times": {"direct": t_direct, "fft": t_fft}}


def problem(r):
    return _dispatch.nn_problem(r["op"], r["x_shape"], r["w_shape"], r["out"],
                                (r["stride"],) * r["d"], (r["dilation"],) * r["d"],
                                r["groups"], r["Lp"])


def fit(rows):
    coeffs = {}
    for op in _dispatch.NN_OPS:
        coeffs[op] = {}
        for m in ("direct", "fft"):
            coeffs[op][m] = {}
            for key in DTYPES:
                # only where the model decides: smaller kernels always go direct
                sel = [r for r in rows if r["op"] == op and r["dtype"] == key
                       and math.prod(r["kernel"]) >= _dispatch.NN_FFT_MIN_TAPS]
                X = np.array([_dispatch.nn_features(m, problem(r)) for r in sel])
                y = np.array([r["times"][m] for r in sel])
                c, _ = nnls(X / y[:, None], np.ones(len(y)))
                coeffs[op][m][key] = tuple(float(f"{v:.3g}") for v in c)
    return coeffs


def write(coeffs, accuracy):
    src = DISPATCH.read_text()
    a = src.index("# BEGIN NN FITTED CONSTANTS")
    b = src.index("# END NN FITTED CONSTANTS")
    lines = ["# BEGIN NN FITTED CONSTANTS",
             "# Fitted by tools/fit_nn_dispatch.py (one thread, development machine);",
             "# keys: operation, method, dtype; values: the c0, c1, ... above, in seconds.",
             "NN_COEFFS = {"]
    for op in _dispatch.NN_OPS:
        lines.append(f'    "{op}": {{')
        for m in ("direct", "fft"):
            lines.append(f'        "{m}": {{')
            for key, c in coeffs[op][m].items():
                lines.append(f'            "{key}": {tuple(c)!r},')
            lines.append("        },")
        lines.append("    },")
    lines.append("}")
    lines.append("# Held-out accuracy (tools/fit_nn_dispatch.py): see docs/guide/methods.rst.")
    lines.append(f"NN_ACCURACY = {accuracy!r}")
    DISPATCH.write_text(src[:a] + "\n".join(lines) + "\n" + src[b:])


def pick(r):
    prob_args = (r["op"], r["x_shape"], r["w_shape"], r["out"], (r["stride"],) * r["d"],
                 (r["dilation"],) * r["d"], r["groups"], DTYPES[r["dtype"]], r["Lp"])
    return "fft" if _dispatch.nn_fft_pays(*prob_args) else "direct"


def check(rows):
    """How often the pick is the faster of direct / FFT, and the slowdown when not."""
    acc = {}
    large = [r for r in rows if math.prod(r["kernel"]) >= _dispatch.NN_FFT_MIN_TAPS]
    for op in _dispatch.NN_OPS + ("all", "large"):
        sel = large if op == "large" else [r for r in rows if op in ("all", r["op"])]
        hits, slow, n_fft, best_fft = 0, [], 0, 0
        for r in sel:
            t = r["times"]
            p = pick(r)
            best = min(t, key=t.get)
            r["pick"], r["best"] = p, best
            hits += p == best
            slow.append(t[p] / t[best])
            n_fft += p == "fft"
            best_fft += best == "fft"
        acc[op] = {"cases": len(sel), "faster": hits / len(sel),
                   "mean_slowdown": float(np.mean(slow)), "worst_slowdown": float(max(slow)),
                   "picks_fft": n_fft, "fft_faster": best_fft}
    return acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recheck", action="store_true",
                    help="refit and check on the stored measurements (no timing)")
    ap.add_argument("--train", type=int, default=240)
    ap.add_argument("--heldout", type=int, default=120)
    args = ap.parse_args()
    rng = np.random.default_rng(1234)
    convolve.set_num_threads(1)
    # one thread everywhere: process_time() counts every thread's CPU, spinning
    # BLAS workers (the weight gradient's GEMM) included
    threadpool_limits(1)
    if args.recheck:
        data = json.loads(DATA.read_text())
        train, held = data["train"], data["heldout"]
    else:
        t0 = time.time()
        train = [measure(c, rng) for c in grid(args.train, seed=11)]
        print(f"training: {len(train)} cases in {time.time() - t0:.0f} s", flush=True)
        t0 = time.time()
        held = [measure(c, rng) for c in grid(args.heldout, seed=29)]
        print(f"held-out: {len(held)} cases in {time.time() - t0:.0f} s", flush=True)
    coeffs = fit(train)
    _dispatch.NN_COEFFS = coeffs
    acc = check(held)
    for op, a in acc.items():
        print(f"{op:12s} {a}")
    write(coeffs, acc)
    DATA.write_text(json.dumps({"train": train, "heldout": held, "accuracy": acc}, indent=0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
