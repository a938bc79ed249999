"""Thread control: ``workers=``, :func:`set_num_threads`, :func:`threads`.

The thread count is resolved once in Python and passed to the kernels as a
plain int (scikit-learn's pattern); kernels then cap it by the amount of
work, so tiny problems run on one thread.
"""
import contextlib
import functools
import math
import os
import threading

__all__ = ["get_num_threads", "set_num_threads", "threads"]

_global_threads = None          # None: the default (environment and CPUs)
_local = threading.local()      # threads() overrides, per Python thread

# Each thread should get at least this many multiply-adds; below it,
# starting a parallel region costs more than it saves.
MIN_WORK_PER_THREAD = 1 << 16


def _cgroup_cpus():
    """CPUs granted by a cgroup v2/v1 CPU quota, or None when unlimited."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        if quota > 0 and period > 0:
            return max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        pass
    return None


@functools.lru_cache(maxsize=None)
def usable_cpus():
    """CPUs this process may run on: affinity mask and cgroup quota, not ``os.cpu_count()``.

    Read once per process (reading cgroup files costs more than a small
    convolution)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpus()
    return max(1, min(n, quota) if quota else n)


@functools.lru_cache(maxsize=None)
def _env_threads():
    """OMP_NUM_THREADS's first entry, read once per process like the OpenMP
    runtime does (os.environ.get cost 4 us, on every call of every op)."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n > 0 else None


def _default_threads():
    return _env_threads() or usable_cpus()


def get_num_threads():
    """Number of threads the next call will use when ``workers=None``.

    Returns
    -------
    int
        The innermost :func:`threads` setting of this Python thread, else the
        value given to :func:`set_num_threads`, else ``OMP_NUM_THREADS``, else
        the number of CPUs this process may use (affinity and cgroup quota).

    Examples
    --------
    >>> import convolve
    >>> convolve.get_num_threads() >= 1
    True
    """
    stack = getattr(_local, "stack", None)
    if stack:
        return stack[-1]
    if _global_threads is not None:
        return _global_threads
    return _default_threads()


def _check(n, name):
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"{name} must be an int or None, got {type(n).__name__}")
    n = int(n.__index__())
    if n == 0:
        raise ValueError(f"{name} must be a positive int, or negative to count back "
                         f"from the number of CPUs (-1 = all), got 0")
    if n < 0:
        n = usable_cpus() + 1 + n
        if n < 1:
            raise ValueError(f"{name}={n} leaves no CPU: there are {usable_cpus()}")
    return n


def set_num_threads(n):
    """Set the default thread count of every convolve function.

    Parameters
    ----------
    n : int or None
        Positive: that many threads; -1: all usable CPUs (-2 all but one, ...);
        None: back to the default (``OMP_NUM_THREADS`` or the usable CPUs).

    Raises
    ------
    ValueError
        If `n` is 0.
    TypeError
        If `n` is not an int or None.

    Examples
    --------
    >>> import convolve
    >>> convolve.set_num_threads(1)
    >>> convolve.get_num_threads()
    1
    >>> convolve.set_num_threads(None)
    """
    global _global_threads
    _global_threads = None if n is None else _check(n, "n")


@contextlib.contextmanager
def threads(n):
    """Context manager: use `n` threads inside the block (this Python thread only).

    Parameters
    ----------
    n : int
        As for :func:`set_num_threads`.

    Examples
    --------
    >>> import numpy as np, convolve
    >>> with convolve.threads(1):
    ...     y = convolve.convolve(np.ones(5), np.ones(3))
    >>> y
    array([1., 2., 3., 3., 3., 2., 1.])
    """
    n = _check(n, "n")
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(n)
    try:
        yield n
    finally:
        stack.pop()


def resolve_workers(workers, work=None):
    """The thread count for one call: ``workers`` resolved, then capped by ``work``.

    `work` is the number of multiply-adds; each thread gets at least
    ``MIN_WORK_PER_THREAD`` of them.
    """
    n = get_num_threads() if workers is None else _check(workers, "workers")
    if work is not None:
        n = max(1, min(n, int(work // MIN_WORK_PER_THREAD)))
    return n
