"""Base class of the convolve asv suites.

Every suite is parameterized over ``dtype`` x ``case`` x ``library``: the
cases and their shapes come from ``convolve/_bench_cases.py``, the table
``python -m convolve bench`` reads too, and ``library`` is ``"convolve"``
plus each peer that has a counterpart for the family (``torch``, ``scipy``,
``numpy``, ``cv2``), so the dashboard draws our line beside theirs for the
same work.

The table is loaded from *this working tree*, not from the convolve being
measured: asv imports the benchmarks from here while it installs older
commits into its environments, and the parameters (and so the names of the
results) must stay the same across the history. ``setup`` raises
``NotImplementedError`` (asv shows the combination as skipped, never as
failed) when a peer is not installed, when a peer has no counterpart of the
case, or when the commit being measured lacks the function.

Threads are fixed for convolve and for every peer to ``CONVOLVE_BENCH_THREADS``
(default: the CPUs this process may use), so the lines compare like with like.
"""
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

SEED = 1234


def _load_case_table():
    """``convolve/_bench_cases.py`` of this working tree, else of the installed convolve."""
    path = Path(__file__).resolve().parents[2] / "convolve" / "_bench_cases.py"
    name = "_convolve_bench_cases"
    if name in sys.modules:
        return sys.modules[name]
    if path.is_file():
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module      # before exec: the module's classes need it
        spec.loader.exec_module(module)
        return module
    try:
        from convolve import _bench_cases
    except ImportError:
        return None
    return _bench_cases


bc = _load_case_table()


def n_threads():
    """The fixed thread count of every benchmark."""
    value = os.environ.get("CONVOLVE_BENCH_THREADS")
    if value:
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def params_for(family, peakmem=None):
    """``[dtypes, case names, libraries]`` of `family` (only its ``peakmem`` cases
    when `peakmem` is True)."""
    if bc is None:   # no case table anywhere: one placeholder that setup skips
        return [["float32"], ["unavailable"], ["convolve"]]
    selected = bc.cases(family, peakmem=peakmem)
    return [list(bc.DTYPES), [c.name for c in selected], bc.libraries(selected)]


# asv re-runs setup before every timed sample. The last parameter set's
# inputs and callable are kept, so that a re-run costs nothing: building some
# inputs (10**7 samples, max-pool indices) takes longer than the call
# measured, and any pause between two calls lets the OpenMP workers fall
# asleep, whose wake-up would then be timed with a sub-millisecond call.
_last = {"key": None, "fn": None}


def _fix_threads(library):
    n = n_threads()
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)          # BLAS and OpenMP pools of every library loaded
    except ImportError:
        pass
    if library == "convolve":
        import convolve
        if hasattr(convolve, "set_num_threads"):
            convolve.set_num_threads(n)
    elif library == "torch":
        import torch
        torch.set_num_threads(n)
    elif library == "cv2":
        import cv2
        cv2.setNumThreads(n)


class Benchmark:
    """Base of every suite: ``setup`` builds ``self.fn`` for one parameter set."""

    param_names = ["dtype", "case", "library"]
    timeout = 300
    # asv's default is two processes of up to 5 samples; one process of up to
    # 10 keeps a run over many commits affordable on a small machine
    rounds = 1
    repeat = (3, 10, 10.0)

    def setup(self, dtype, case, library):
        key = (dtype, case, library)
        if _last["key"] == key:
            self.fn = _last["fn"]
            return
        _last["key"], _last["fn"] = None, None     # free the previous inputs first
        self.fn = _prepare(dtype, case, library)
        _last["key"], _last["fn"] = key, self.fn


def _prepare(dtype, case, library):
    """The callable timed for one parameter set, after one checking call."""
    if bc is None:
        raise NotImplementedError("convolve/_bench_cases.py is not available")
    c = bc.get_case(case)
    if dtype not in c.dtypes:
        raise NotImplementedError(f"{case} is not defined for {dtype}")
    if library == "convolve":
        try:
            import convolve
        except ImportError as e:
            raise NotImplementedError(f"convolve does not import: {e}") from None
        make_fn = lambda inputs: c.ours(convolve, inputs)   # noqa: E731 (MissingAPI)
    else:
        peer = c.peer(library)                     # NotImplementedError when none
        if importlib.util.find_spec(library) is None:
            raise NotImplementedError(f"{library} is not installed")
        make_fn = peer.factory                     # MissingPeer: NotImplementedError
    _fix_threads(library)
    fn = make_fn(c.make(np.random.default_rng(SEED), dtype))
    # one call, so that an option this commit does not support yet (an
    # unexpected keyword) is a skip, not a failure; it also warms up
    try:
        fn()
    except TypeError as e:
        if "unexpected keyword" in str(e) or "positional argument" in str(e):
            raise NotImplementedError(f"not supported in this version: {e}") from None
        raise
    return fn
