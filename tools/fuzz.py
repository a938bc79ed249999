"""Differential fuzzing: random problems against the NumPy references, and
bit-for-bit thread independence, for as long as you give it.

Usage (from the project root, after ``python setup.py build_ext --inplace``)::

    python tools/fuzz.py --minutes 5                # both samplers, in turns
    python tools/fuzz.py --only layers --seed 7     # one sampler

``layers``: random NN layers with the channel counts of real networks (so
that ``method='auto'`` reaches the wide-layer kernels: blocked, implicit
GEMM, GEMM + fold, Winograd, batch lanes), every stride, dilation, padding
and groups, 1-3 D, float32 and float64: forward, input and weight gradients
against ``tests/reference.py`` (the same sampler as
``tests/test_conv_grad.py::test_random_wide_layers_against_references``,
which runs 400 of them in the suite).

``threads``: random calls of the NN family (forward, backward, transposed
convolution, pooling) and the signal family (every method and mode, 1-3 D,
real, complex and integer) on 1 thread and on 2, 3 and 4: the results must
be the same bits.

Each failure prints one line with the problem, enough to rebuild it; the
exit status is 1 if any failed. The tests keep a fixed sample; this tool is
for longer runs before a stop, or after a change to a kernel or a dispatch
rule. (Its first runs found a wrong grouped strided input gradient and a
signal-family choice that followed the thread count.)
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from convolve import functional as F  # noqa: E402
from convolve import pooling as P  # noqa: E402
from convolve import signal as S  # noqa: E402
from reference import conv_nd_ref, input_grad_ref, weight_grad_ref  # noqa: E402
from test_conv_grad import _random_wide_layer  # noqa: E402


def layers(rng):
    """One random wide layer; the failures as strings."""
    xs, ws, s, p, dl, groups = _random_wide_layer(rng)
    d = len(ws) - 2
    pairs = [(pp, pp) for pp in p]
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = conv_nd_ref(x, w, None, s, pairs, dl, groups)
    g = rng.standard_normal(y.shape)
    dtype = np.float32 if rng.random() < 0.5 else np.float64
    kw = dict(stride=s, padding=p, dilation=dl, groups=groups)
    conv = getattr(F, f"conv{d}d")
    checks = (("forward", lambda: conv(x.astype(dtype), w.astype(dtype), **kw), lambda: y),
              ("input grad", lambda: getattr(F, f"conv{d}d_input_grad")(
                  g.astype(dtype), w.astype(dtype), xs, **kw),
               lambda: input_grad_ref(g, w, xs, s, pairs, dl, groups)),
              ("weight grad", lambda: getattr(F, f"conv{d}d_weight_grad")(
                  x.astype(dtype), g.astype(dtype), ws, **kw),
               lambda: weight_grad_ref(x, g, ws, s, pairs, dl, groups)))
    tol = 2e-4 if dtype == np.float32 else 1e-10
    bad = []
    for name, ours, ref in checks:
        want = ref()
        try:
            got = ours()
        except Exception as e:  # noqa: BLE001 -- report any failure of a valid call
            bad.append(f"{name} x{xs} w{ws} {kw} {dtype.__name__}: {e!r}")
            continue
        err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
        if got.shape != want.shape or not err <= tol:
            bad.append(f"{name} x{xs} w{ws} {kw} {dtype.__name__}: relative error {err:.3g}")
    return bad


def _same_bits(call, label):
    try:
        want = call(1)
    except (ValueError, TypeError):
        return []           # an invalid combination: rejected alike on any thread count
    for workers in (2, 3, 4):
        got = call(workers)
        for a, b in zip(want if isinstance(want, tuple) else (want,),
                        got if isinstance(got, tuple) else (got,)):
            if a is not None and not np.array_equal(a, b, equal_nan=True):
                return [f"{label}: workers={workers} differs from workers=1"]
    return []


def threads(rng):
    """One random NN problem and one signal problem on 1-4 threads."""
    bad = []
    xs, ws, s, p, dl, groups = _random_wide_layer(rng)
    d = len(ws) - 2
    dtype = np.float32 if rng.random() < 0.5 else np.float64
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    kw = dict(stride=s, padding=p, dilation=dl, groups=groups)
    method = str(rng.choice(["auto", "direct", "blocked", "gemm", "batch", "fft", "winograd"]))
    conv = getattr(F, f"conv{d}d")
    bad += _same_bits(lambda t: conv(x, w, method=method, workers=t, **kw),
                      f"conv{d}d method={method} x{xs} w{ws} {kw} {dtype.__name__}")
    y = conv(x, w, **kw)
    g = rng.standard_normal(y.shape).astype(dtype)
    bad += _same_bits(lambda t: F.conv_backward(g, x, w, bias=True, workers=t, **kw),
                      f"conv_backward x{xs} w{ws} {kw} {dtype.__name__}")
    k = int(rng.integers(1, 4))
    ceil = bool(rng.random() < 0.5)
    bad += _same_bits(lambda t: getattr(P, f"max_pool{d}d")(
        x, k, padding=k // 2, ceil_mode=ceil, return_indices=True, workers=t),
        f"max_pool{d}d x{xs} k={k} ceil_mode={ceil}")
    bad += _same_bits(lambda t: getattr(P, f"avg_pool{d}d")(x, k, padding=k // 2, workers=t),
                      f"avg_pool{d}d x{xs} k={k}")
    wt = rng.standard_normal((xs[1], 8) + ws[2:]).astype(dtype)
    bad += _same_bits(lambda t: getattr(F, f"conv_transpose{d}d")(
        x, wt, stride=s, dilation=dl, workers=t), f"conv_transpose{d}d x{xs} w{wt.shape} s={s}")
    # signal family
    sd = int(rng.integers(1, 4))
    sa = tuple(int(rng.integers(1, {1: 3000, 2: 80, 3: 18}[sd])) for _ in range(sd))
    sb = tuple(int(rng.integers(1, {1: 150, 2: 14, 3: 6}[sd])) for _ in range(sd))
    kind = int(rng.integers(0, 4))
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    if kind == 0:
        a, b = a.astype(np.float32), b.astype(np.float32)
    elif kind == 1:
        a, b = a + 1j * rng.standard_normal(sa), b + 1j * rng.standard_normal(sb)
    elif kind == 2:
        a, b = (a * 100).astype(np.int32), (b * 100).astype(np.int32)
    mode = str(rng.choice(["full", "same", "valid"]))
    for m in ("auto", "direct", "fft"):
        bad += _same_bits(lambda t: S.convolve(a, b, mode=mode, method=m, workers=t),
                          f"signal.convolve {sa} {sb} {a.dtype} mode={mode} method={m}")
    bad += _same_bits(lambda t: S.oaconvolve(a, b, mode=mode, workers=t),
                      f"signal.oaconvolve {sa} {sb} {a.dtype} mode={mode}")
    return bad


SAMPLERS = {"layers": layers, "threads": threads}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="how long (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=sorted(SAMPLERS), help="one sampler (default: both)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    names = [args.only] if args.only else sorted(SAMPLERS)
    end = time.monotonic() + 60 * args.minutes
    count = {n: 0 for n in names}
    failures = 0
    while time.monotonic() < end:
        for name in names:
            for line in SAMPLERS[name](rng):
                failures += 1
                print(f"FAIL {name}: {line}", flush=True)
            count[name] += 1
    print(f"{failures} failures; problems: "
          + ", ".join(f"{n} {c}" for n, c in count.items()) + f" (seed {args.seed})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
