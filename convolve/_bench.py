"""``python -m convolve bench``: convolve side by side with every installed peer.

Usage::

    python -m convolve bench --quick              # the quick subset (< 1 minute)
    python -m convolve bench                      # every case, float32 and float64
    python -m convolve bench --case res56,res28 --case f32 --json rows.json
    python -m convolve bench --list               # the case names

The cases come from :mod:`convolve._bench_cases`, the table the asv suites
read too. Each case times convolve and each peer in turns (ours, peer, ours,
peer, ... for ``--rounds`` rounds) and reports the median of the per-round
medians, as ``shared/bench/peers.py`` does. ``ratio`` is
``best_peer_time / our_time``: above 1, convolve is faster. The last column
is the share of the machine's measured limit that convolve reached: the GEMM
peak (``numpy`` matmul of 1536 x 1536 matrices) for compute-bound cases, the
copy bandwidth (``np.copyto`` of 2**24 doubles) for memory-bound ones.
A case whose convolve function does not exist yet is reported as missing.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from . import _bench_cases as bc

# (min_reps, min_time per round in s, max time of one round in s)
BUDGET = {"full": (5, 0.1, 1.0), "quick": (3, 0.04, 0.3)}


def median_time(f, min_reps, min_time, max_round, first=None):
    """Median of at least `min_reps` calls (fewer when one call takes over
    `max_round` / `min_reps`), repeating for at least `min_time` seconds."""
    if first is not None and first * min_reps > max_round:
        min_reps = max(1, int(max_round / first))
    times = []
    end = time.perf_counter() + min_time
    while len(times) < min_reps or (time.perf_counter() < end and len(times) < 500):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def interleaved(fns, rounds, budget):
    """``{key: median of per-round medians}``; every callable timed in turn each round.

    Each callable runs once first (warm-up, and its time sets how many calls a
    round affords)."""
    first = {}
    for k, f in fns.items():
        t = time.perf_counter()
        f()
        first[k] = time.perf_counter() - t
    out = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            out[k].append(median_time(f, *budget, first=first[k]))
    return {k: float(np.median(v)) for k, v in out.items()}


def machine_limits():
    """GEMM GFLOP/s (float32, float64) and copy bandwidth GB/s, measured now."""
    rng = np.random.default_rng(0)
    n = 1536
    lim = {}
    for dt in (np.float32, np.float64):
        a = rng.standard_normal((n, n), dtype=dt)
        b = rng.standard_normal((n, n), dtype=dt)
        lim[np.dtype(dt).name] = 2 * n**3 / interleaved({0: lambda: a @ b}, 1,
                                                          (3, 0.2, 2.0))[0] / 1e9
    src = np.ones(2**24)
    dst = np.empty_like(src)
    t = interleaved({0: lambda: np.copyto(dst, src)}, 1, (5, 0.2, 2.0))[0]
    lim["bandwidth"] = 2 * src.nbytes / t / 1e9   # read + write
    return lim


def select(args):
    """``[(case, dtype), ...]`` chosen by ``--quick`` and ``--case``."""
    chosen = []
    for case in bc.CASES:
        if args.quick and not case.quick:
            continue
        for dtype in case.dtypes:
            if args.quick and dtype != "float32":
                continue
            name = case.full_name(dtype)
            # every --case must match; a comma inside one means "any of these"
            if all(any(s in name for s in group.split(",")) for group in args.case):
                chosen.append((case, dtype))
    return chosen


def set_threads(n, cv):
    """Give convolve and every peer the same thread count."""
    if cv is not None and hasattr(cv, "set_num_threads"):
        cv.set_num_threads(n)
    for name, call in (("torch", "set_num_threads"), ("cv2", "setNumThreads")):
        if name in sys.modules:
            getattr(sys.modules[name], call)(n)


def run_case(cv, case, dtype, limits, rounds, budget):
    """Time one case; returns its row (a dict)."""
    row = {"case": case.full_name(dtype), "dtype": dtype}
    rng = np.random.default_rng(1234)
    inputs = case.make(rng, dtype)
    fns = {}
    if cv is None:
        row["missing"] = "convolve does not import"
    else:
        try:
            fns["ours"] = case.ours(cv, inputs)
        except NotImplementedError as e:   # MissingAPI: not in this version
            row["missing"] = str(e)
    for p in case.peers:
        try:
            fns[p.label] = p.factory(inputs)
        except NotImplementedError:        # MissingPeer: not installed
            pass
    # a first call, to report errors instead of hiding them
    for k in list(fns):
        try:
            fns[k]()
        except Exception as e:
            msg = f"{type(e).__name__}: {e}"[:160]
            if k == "ours":
                row["error"] = msg
            else:
                row.setdefault("peer_errors", {})[k] = msg
            del fns[k]
    t = interleaved(fns, rounds, budget) if fns else {}
    row.update(t)
    peer_t = {k: v for k, v in t.items() if k != "ours"}
    if peer_t:
        best = min(peer_t, key=peer_t.get)
        row["best_peer"] = best
        if "ours" in t:
            row["ratio"] = peer_t[best] / t["ours"]
    if "ours" in t and case.flops:
        row["gflops"] = case.flops / t["ours"] / 1e9
        row["of_peak"] = row["gflops"] / limits[dtype]
    if "ours" in t and case.items:
        row["gbs"] = case.nbytes(dtype) / t["ours"] / 1e9
        row["of_bw"] = row["gbs"] / limits["bandwidth"]
    return row


HEADER = (f"{'case':44s} {'ours ms':>9s}  {'best peer':18s} {'peer ms':>9s} {'ratio':>6s}"
          f"  of the machine's limit")


def fmt(r):
    s = f"{r['case']:44s} "
    if "ours" in r:
        s += f"{r['ours'] * 1e3:9.3f}  "
    else:
        s += f"{'MISSING' if 'missing' in r else 'ERROR':>9s}  "
    if "best_peer" in r:
        s += f"{r['best_peer']:18s} {r[r['best_peer']] * 1e3:9.3f} "
        s += f"{r['ratio']:6.2f}" if "ratio" in r else f"{'-':>6s}"
    else:
        s += f"{'(no peer)':18s} {'':9s} {'-':>6s}"
    if "of_peak" in r:
        s += f"  {r['gflops']:7.1f} GFLOP/s {100 * r['of_peak']:5.1f}% of GEMM peak"
    if "of_bw" in r:
        s += f"  {r['gbs']:7.2f} GB/s {100 * r['of_bw']:5.1f}% of copy bandwidth"
    if "ours" not in r:
        s += f"  [{r.get('missing') or r.get('error')}]"
    return s


class _Progress:
    """tqdm on stderr when installed, else a plain counter on stderr."""

    def __init__(self, total, enabled):
        self.total, self.n, self.bar = total, 0, None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, unit="case", file=sys.stderr, leave=False,
                                dynamic_ncols=True)
            except ImportError:
                pass

    def start(self, name):
        if self.bar is not None:
            self.bar.set_description(name, refresh=True)
        elif self.enabled:
            end = "\r" if sys.stderr.isatty() else "\n"
            print(f"[{self.n + 1}/{self.total}] {name}", end=end, file=sys.stderr,
                  flush=True)

    def write(self, line):
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            if self.enabled and sys.stderr.isatty():
                print(" " * 79, end="\r", file=sys.stderr, flush=True)
            print(line, flush=True)

    def done_one(self):
        self.n += 1
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _parser():
    ap = argparse.ArgumentParser(
        prog="python -m convolve bench",
        description="Time convolve against every installed peer (PyTorch, SciPy, NumPy, "
                    "OpenCV) on the shared case table; ratio = best peer time / our time, "
                    "> 1 means convolve is faster.")
    ap.add_argument("--quick", action="store_true",
                    help="only the quick subset, float32, shorter timing (< 1 minute)")
    ap.add_argument("--case", nargs="+", action="extend", default=[], metavar="SUBSTR",
                    help="keep cases whose name (e.g. conv2d/res56/fwd/f32) holds every "
                         "SUBSTR; 'a,b' in one SUBSTR means a or b")
    ap.add_argument("--json", metavar="FILE", help="also write the rows to FILE")
    ap.add_argument("--threads", type=int, metavar="N",
                    help="threads for convolve and the peers (default: convolve's default)")
    ap.add_argument("--rounds", type=int, default=3, metavar="R",
                    help="interleaved timing rounds (default: 3)")
    ap.add_argument("--list", action="store_true", help="list the selected case names")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def main(argv=None):
    """Entry point of ``python -m convolve bench``; returns the exit status."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.threads is not None and args.threads < 1:
        print("--threads must be >= 1", file=sys.stderr)
        return 2
    chosen = select(args)
    if args.list:
        print("\n".join(case.full_name(dtype) for case, dtype in chosen))
        return 0
    if not chosen:
        print("no case matches --case " + " ".join(args.case), file=sys.stderr)
        return 2
    try:
        import convolve as cv
    except Exception as e:  # report and still time the peers
        print(f"convolve does not import: {e}", file=sys.stderr)
        cv = None

    peers = bc.peer_versions()
    if cv is not None and hasattr(cv, "get_num_threads"):
        n_threads = args.threads or cv.get_num_threads()
    else:
        n_threads = args.threads or (len(os.sched_getaffinity(0))
                                     if hasattr(os, "sched_getaffinity") else os.cpu_count())
    set_threads(n_threads, cv)
    try:  # BLAS (the GEMM peak, SciPy) and OpenMP pools get the same count
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(n_threads)
    except ImportError:
        limiter = None
    try:
        limits = machine_limits()
        version = getattr(cv, "__version__", "?") if cv is not None else "not importable"
        print(f"convolve {version}; threads: {n_threads}; peers: "
              + (", ".join(f"{k} {v}" for k, v in peers.items()) or "none"))
        print(f"machine limits: GEMM float32 {limits['float32']:.1f} GFLOP/s, "
              f"float64 {limits['float64']:.1f} GFLOP/s; copy bandwidth "
              f"{limits['bandwidth']:.1f} GB/s")
        print(f"ratio = best peer time / convolve time (> 1: convolve is faster); "
              f"median of {args.rounds} interleaved rounds")
        print(HEADER)
        budget = BUDGET["quick" if args.quick else "full"]
        progress = _Progress(len(chosen), not args.no_progress)
        rows = []
        t0 = time.perf_counter()
        try:
            for case, dtype in chosen:
                progress.start(case.full_name(dtype))
                row = run_case(cv, case, dtype, limits, args.rounds, budget)
                rows.append(row)
                progress.write(fmt(row))
                progress.done_one()
        finally:
            progress.close()
    finally:
        if limiter is not None:
            limiter.restore_original_limits()

    ratios = [r["ratio"] for r in rows if "ratio" in r]
    missing = sum("missing" in r for r in rows)
    errors = sum("error" in r for r in rows)
    summary = f"{len(rows)} cases in {time.perf_counter() - t0:.0f} s"
    if ratios:
        g = float(np.exp(np.mean(np.log(ratios))))
        summary += (f"; geometric mean ratio {g:.2f} over {len(ratios)}, "
                    f"slowest {min(ratios):.2f}, fastest {max(ratios):.2f}")
    summary += f"; missing {missing}; errors {errors}"
    print(summary)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"limits": limits, "threads": n_threads, "peers": peers,
                       "convolve": version, "quick": args.quick, "rows": rows}, f, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
