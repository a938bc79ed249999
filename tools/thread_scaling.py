"""OpenMP scaling of convolve next to PyTorch, and a bitwise check across thread counts.

Usage (from the project root, after ``python setup.py build_ext --inplace``)::

    python tools/thread_scaling.py                       # 1, 2, 4, ... up to the CPUs
    python tools/thread_scaling.py --threads 1,8,16 -k res56 --json out.json

For each case and thread count it times convolve (``convolve.threads(n)``)
and, when installed, PyTorch (``torch.set_num_threads(n)``) in turns and
prints medians, GFLOP/s, each side's speed-up over its own one-thread time
and the ratio (PyTorch time / ours, > 1 = we are faster). Every result of
ours is compared bit for bit with its one-thread result: a row marked
``DIFFERS`` is a bug (results must not depend on the thread count). The
layer shapes are those of ``../shared/bench/peers.py``; this tool is meant
for machines with more cores than the 2 our CI has.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import convolve as cv  # noqa: E402
from convolve import functional as F  # noqa: E402
from convolve._bench_cases import NN_CONV  # noqa: E402  (peers.py's layer shapes)


def median_time(f, min_reps=3, min_time=0.15, max_reps=200):
    f()
    times = []
    end = time.perf_counter() + min_time
    while len(times) < min_reps or (time.perf_counter() < end and len(times) < max_reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def cases(torch, rng):
    """(name, flops, ours(), peer() or None) for every case."""
    out = []
    for dt, tag in ((np.float32, "f32"), (np.float64, "f64")):
        for name, N, C, H, W, O, K, s, p, g in NN_CONV:
            x = rng.standard_normal((N, C, H, W)).astype(dt)
            w = rng.standard_normal((O, C // g, K, K)).astype(dt)
            Ho, Wo = (H + 2 * p - K) // s + 1, (W + 2 * p - K) // s + 1
            gy = rng.standard_normal((N, O, Ho, Wo)).astype(dt)
            flops = 2 * N * O * (C // g) * K * K * Ho * Wo
            kw = dict(stride=s, padding=p, groups=g)
            pk = dict.fromkeys(("fwd", "bwd_input", "bwd_weight"))
            if torch is not None:
                tx, tw, tgy = map(torch.from_numpy, (x, w, gy))
                pk = {"fwd": lambda tx=tx, tw=tw, kw=kw: torch.nn.functional.conv2d(tx, tw, **kw),
                      "bwd_input": lambda s=x.shape, tw=tw, tgy=tgy, kw=kw:
                          torch.nn.grad.conv2d_input(s, tw, tgy, **kw),
                      "bwd_weight": lambda tx=tx, s=w.shape, tgy=tgy, kw=kw:
                          torch.nn.grad.conv2d_weight(tx, s, tgy, **kw)}
            ours = {"fwd": lambda x=x, w=w, kw=kw: F.conv2d(x, w, **kw),
                    "bwd_input": lambda gy=gy, w=w, s=x.shape, kw=kw:
                        F.conv2d_input_grad(gy, w, s, **kw),
                    "bwd_weight": lambda x=x, gy=gy, s=w.shape, kw=kw:
                        F.conv2d_weight_grad(x, gy, s, **kw)}
            for what in ("fwd", "bwd_input", "bwd_weight"):
                out.append((f"conv2d/{name}/{what}/{tag}", flops, ours[what], pk[what]))
        x = rng.standard_normal((2, 16, 32, 32, 32)).astype(dt)
        w = rng.standard_normal((32, 16, 3, 3, 3)).astype(dt)
        out.append((f"conv3d/vol32_16to32_k3/fwd/{tag}", 2 * 2 * 32 * 16 * 27 * 32**3,
                    lambda x=x, w=w: F.conv3d(x, w, padding=1),
                    None if torch is None else lambda tx=torch.from_numpy(x),
                    tw=torch.from_numpy(w): torch.nn.functional.conv3d(tx, tw, padding=1)))
        x = rng.standard_normal((8, 64, 28, 28)).astype(dt)
        w = rng.standard_normal((64, 32, 4, 4)).astype(dt)
        out.append((f"conv_transpose2d/64to32_k4_s2/fwd/{tag}", 2 * 8 * 64 * 32 * 16 * 28 * 28,
                    lambda x=x, w=w: F.conv_transpose2d(x, w, stride=2, padding=1),
                    None if torch is None else lambda tx=torch.from_numpy(x),
                    tw=torch.from_numpy(w): torch.nn.functional.conv_transpose2d(
                        tx, tw, stride=2, padding=1)))
        x = rng.standard_normal((1, 64, 112, 112)).astype(dt)
        w = rng.standard_normal((64, 3, 4, 4)).astype(dt)
        out.append((f"conv_transpose2d/1img_64to3_k4_s2/fwd/{tag}", 2 * 64 * 3 * 16 * 112**2,
                    lambda x=x, w=w: F.conv_transpose2d(x, w, stride=2, padding=1),
                    None if torch is None else lambda tx=torch.from_numpy(x),
                    tw=torch.from_numpy(w): torch.nn.functional.conv_transpose2d(
                        tx, tw, stride=2, padding=1)))
        x = rng.standard_normal((8, 64, 112, 112)).astype(dt)
        out.append((f"max_pool2d/k3s2p1/fwd/{tag}", None,
                    lambda x=x: F.max_pool2d(x, 3, 2, 1),
                    None if torch is None else lambda tx=torch.from_numpy(x):
                        torch.nn.functional.max_pool2d(tx, 3, 2, 1)))
        img = rng.standard_normal((2048, 2048)).astype(dt)
        k5 = rng.standard_normal((5, 5)).astype(dt)
        out.append((f"signal/convolve2d/2048_k5/{tag}", 2 * 25 * 2048**2,
                    lambda img=img, k5=k5: cv.signal.convolve2d(img, k5, mode="same"), None))
    return out


def gemm_gflops(n_threads, dt, n=2048):
    """numpy matmul GFLOP/s on n_threads (threadpoolctl), the machine's reference."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return float("nan")
    a = np.ones((n, n), dt)
    with threadpool_limits(n_threads):
        return 2 * n**3 / median_time(lambda: a @ a) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ncpu = cv._threads.usable_cpus()
    default = [1 << i for i in range(8) if (1 << i) <= ncpu]
    ap.add_argument("--threads", default=",".join(map(str, default)),
                    help="comma-separated thread counts (default: powers of two up to the CPUs)")
    ap.add_argument("-k", action="append", default=[], help="substring a case name must hold")
    ap.add_argument("--no-torch", action="store_true", help="time convolve alone")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_grad_enabled(False)
        except ImportError:
            torch = None
    rows = []
    print(f"CPUs usable: {ncpu}; threads {counts}; torch "
          f"{torch.__version__ if torch is not None else 'absent'}", flush=True)
    for t in counts:
        g32, g64 = gemm_gflops(t, np.float32), gemm_gflops(t, np.float64)
        rows.append(dict(case="numpy_matmul_2048", threads=t, gflops_f32=g32, gflops_f64=g64))
        print(f"{'numpy matmul 2048':44s} t={t:2d} f32 {g32:7.1f} GF/s  f64 {g64:7.1f} GF/s",
              flush=True)
    selected = [c for c in cases(torch, np.random.default_rng(0))
                if all(k in c[0] for k in args.k)]
    bad = 0
    for name, flops, ours, peer in selected:
        ref, base = None, {}
        for t in counts:
            with cv.threads(t):
                res = ours()
                res = res if isinstance(res, tuple) else (res,)
                same = ref is None or all(np.array_equal(a, b, equal_nan=True)
                                          for a, b in zip(ref, res))
                ref = res if ref is None else ref
                tm = {"ours": median_time(ours)}
            if peer is not None:
                torch.set_num_threads(t)
                tm["torch"] = median_time(peer)
            base = base or dict(tm)
            row = dict(case=name, threads=t, bitwise_same=bool(same),
                       **{f"{k}_ms": v * 1e3 for k, v in tm.items()},
                       **{f"{k}_speedup": base[k] / v for k, v in tm.items()})
            line = f"{name:44s} t={t:2d} ours {tm['ours'] * 1e3:9.3f} ms x{row['ours_speedup']:5.2f}"
            if flops:
                row["gflops"] = flops / tm["ours"] / 1e9
                line += f" {row['gflops']:7.1f} GF/s"
            if "torch" in tm:
                row["ratio"] = tm["torch"] / tm["ours"]
                line += (f" | torch {tm['torch'] * 1e3:9.3f} ms x{row['torch_speedup']:5.2f}"
                         f" | ratio {row['ratio']:5.2f}")
            if not same:
                bad += 1
                line += "  DIFFERS from 1 thread"
            rows.append(row)
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(f"{bad} case(s) whose result depends on the thread count")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
