"""Argument validation and normalization shared by every public function.

Every check raises ``TypeError``/``ValueError`` whose message names the
argument and the rule, so that no bad input reaches a kernel.
"""
import numbers
import operator

import numpy as np


def int_tuple(value, d, name, minimum=None):
    """`value` (int or sequence of `d` ints) as a tuple of `d` Python ints."""
    if type(value) is int:          # the common cases, without the ABC checks below
        values = (value,) * d
    elif type(value) is tuple and len(value) == d and all(type(v) is int for v in value):
        values = value
    elif isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * d
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(f"{name} must be an int or a sequence of {d} ints, "
                            f"got {type(value).__name__}") from None
        if len(values) != d:
            raise ValueError(f"{name} must have {d} entries (one per spatial axis), "
                             f"got {len(values)}")
        out = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
                if isinstance(v, float) and v != v:
                    raise ValueError(f"{name} must be integers, got NaN")
                raise TypeError(f"{name} must be integers, got {v!r}")
            out.append(int(v))
        values = tuple(out)
    if minimum is not None and any(v < minimum for v in values):
        rule = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return values


def positive_int(value, name):
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if v < 1:
        raise ValueError(f"{name} must be a positive int, got {v}")
    return v


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def nn_dtype(*arrays):
    """Compute dtype of the NN family: float32/float64 kept, NumPy promotion between
    them; integers and bools promote to float64, float16 to float32; complex and
    anything else is a TypeError."""
    dts = [a.dtype for a in arrays if a is not None]
    if dts[0] in _FLOATS and all(dt == dts[0] for dt in dts):
        return dts[0]               # the common case, without result_type
    for dt in dts:
        if dt.kind not in "biuf":
            raise TypeError(f"the NN family computes on real floats; got dtype {dt} "
                            f"(complex data: use convolve.signal)")
    dt = np.result_type(*dts)
    if dt.kind in "biu":
        return np.dtype(np.float64)
    if dt.itemsize < 4:
        return np.dtype(np.float32)
    if dt.itemsize > 8:
        raise TypeError(f"dtype {dt} is not supported; use float32 or float64")
    return dt


def check_out(out, shape, dtype, name="out"):
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise ValueError(f"{name} has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return out


def check_size(shape, itemsize, name):
    """Refuse shapes whose element count or byte size overflows a signed 64-bit index."""
    n = 1
    for s in shape:
        n *= int(s)
    if n * itemsize >= 2**63:
        raise ValueError(f"{name}: shape {tuple(shape)} is too large (size overflows int64)")
    return n
