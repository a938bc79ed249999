"""Independent NumPy oracle for the SciPy-compatible signal family.

Never imports ``convolve`` nor ``scipy.signal``: every result comes from
plain loops over the kernel taps (one shifted, scaled copy of `in1` per tap
of `in2`, accumulated into a zero array), so it can judge both.

Arithmetic
----------
- integer and bool inputs accumulate in Python ints (object arrays): exact;
  the exact result is then reduced modulo ``2**bits`` into the result dtype,
  which is what SciPy (and NumPy's ``np.convolve``) return: the result dtype
  is ``np.result_type(in1, in2)`` and sums that do not fit wrap around.
  Bool results are ``exact_sum != 0`` (NumPy's bool dot: OR of ANDs).
- real floats accumulate in float64, complex in complex128, then are cast
  to the result dtype (so float32 inputs give float32 results).

Definitions (n1, n2: extents of `in1`, `in2` along one convolved axis)
-----------------------------------------------------------------------
- full convolution: ``out[j] = sum_k in1[j - k] * in2[k]``, extent ``n1 + n2 - 1``.
- correlation = convolution of `in1` with `in2` reversed along the
  convolved axes and conjugated (``out[j] = sum_k in1[j + k - (n2 - 1)] *
  conj(in2[k])``).
- ``'valid'``: ``full[min(n1, n2) - 1 : max(n1, n2)]``, extent
  ``max - min + 1``; one input must be at least as large as the other along
  every convolved axis (SciPy swaps them when `in2` is the larger; the
  convolution commutes, so this is simply the central part of ``full``).
- ``'same'``: extent ``n1``, a window of the full output that starts at

  * ``(n2 - 1) // 2`` for ``scipy.signal.convolve``, ``scipy.signal.correlate``
    (every method) and ``scipy.signal.convolve2d``;
  * ``n2 // 2`` for ``scipy.signal.correlate2d``.

  The two rules differ only for EVEN ``n2``: e.g. n1 = 7, n2 = 4:
  convolve/correlate/convolve2d take ``full[1:8]``, correlate2d takes
  ``full[2:9]``. Verified against SciPy 1.17.1 for n2 = 2, 3, 4, 6, for
  ``n2 > n1`` as well (n1 = 3, n2 = 6: start 2, resp. 3), along each axis
  independently in 2-D/3-D, real and complex; the test suite re-checks the
  oracle against SciPy for every case it uses (``test_oracle_*``).
- boundary extension (``'fill'`` with `fillvalue`, ``'wrap'``, ``'symm'``,
  ``'reflect'``, ``'nearest'``): `in1` is extended by ``n2 - 1`` samples on
  both sides of every convolved axis with :func:`numpy.pad` (``constant``,
  ``wrap``, ``symmetric``, ``reflect``, ``edge``), which repeats the pattern
  when ``n2 - 1 > n1``; the result is the ``'valid'`` convolution of the
  extended array with `in2` (which has exactly the ``'full'`` extent), cut to
  the mode's window. ``'valid'`` never reads the extension. For ``'fill'``,
  ``'wrap'`` and ``'symm'`` in 2-D this equals ``scipy.signal.convolve2d``
  and ``correlate2d`` (re-checked by the tests).

Known SciPy quirk (SciPy 1.17.1): ``scipy.signal.correlate2d(in1, in2,
'valid')`` with `in2` larger than `in1` and complex data returns the complex
CONJUGATE of the correlation (it swaps the inputs and reverses the output but
does not conjugate back); ``scipy.signal.correlate`` does conjugate back. The
oracle follows the mathematical definition (= ``scipy.signal.correlate``).
"""
import itertools

import numpy as np

__all__ = ["result_dtype", "full_convolve", "convolve", "correlate", "convolve2d",
           "correlate2d", "same_start", "PAD_MODE", "BOUNDARY_ALIASES"]

# canonical boundary name -> numpy.pad mode
PAD_MODE = {"fill": "constant", "wrap": "wrap", "symm": "symmetric",
            "reflect": "reflect", "nearest": "edge"}
# every accepted spelling -> canonical name (the library's documented aliases)
BOUNDARY_ALIASES = {"fill": "fill", "wrap": "wrap", "circular": "wrap",
                    "symm": "symm", "symmetric": "symm", "reflect": "reflect",
                    "mirror": "reflect", "nearest": "nearest", "edge": "nearest"}


def result_dtype(in1, in2):
    return np.result_type(np.asarray(in1), np.asarray(in2))


def _accumulator(a, rdt):
    """`a` converted to the oracle's accumulation type for result dtype `rdt`."""
    a = np.asarray(a)
    if rdt.kind in "biu":
        # Python ints: no overflow whatever the sizes
        return (a.astype(np.int64) if a.dtype.kind == "b" else a).astype(object)
    return a.astype(np.complex128 if rdt.kind == "c" else np.float64)


def _to_result(acc, rdt):
    """Accumulated values -> result dtype; integers wrap modulo 2**bits as NumPy does."""
    if rdt.kind == "b":
        return (acc != 0).astype(bool)
    if rdt.kind in "iu":
        bits = 8 * rdt.itemsize
        m = 1 << bits
        flat = [int(v) % m for v in acc.ravel()]
        if rdt.kind == "i":
            flat = [v - m if v >= m >> 1 else v for v in flat]
        return np.array(flat, dtype=rdt).reshape(acc.shape) if flat else \
            np.zeros(acc.shape, dtype=rdt)
    return acc.astype(rdt)


def full_convolve(a, b):
    """Full linear convolution of two accumulator arrays of equal ndim (all axes)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.ndim == b.ndim
    shape = tuple(i + j - 1 for i, j in zip(a.shape, b.shape))
    # object zeros are Python int 0; no tap is skipped, so NaN/inf propagate as IEEE says
    out = np.zeros(shape, dtype=object if a.dtype == object else np.result_type(a, b))
    for k in itertools.product(*(range(j) for j in b.shape)):
        tap = b[k]
        win = tuple(slice(t, t + n) for t, n in zip(k, a.shape))
        out[win] = out[win] + a * tap
    return out


def same_start(n2, rule="convolve"):
    """Start of the 'same' window in the full output ('convolve' or 'correlate2d' rule)."""
    return (n2 - 1) // 2 if rule == "convolve" else n2 // 2


def _conv_core(a, b, mode, boundary, fillvalue, same_rule):
    """Convolve accumulator arrays over all their axes (shapes already checked)."""
    s1, s2 = a.shape, b.shape
    if mode == "valid":
        if not (all(i >= j for i, j in zip(s1, s2)) or all(j >= i for i, j in zip(s1, s2))):
            raise ValueError("valid: neither input is at least as large as the other")
        full = full_convolve(a, b)
        return full[tuple(slice(min(i, j) - 1, max(i, j)) for i, j in zip(s1, s2))]
    boundary = BOUNDARY_ALIASES[boundary]
    if boundary == "fill" and fillvalue == 0:
        full = full_convolve(a, b)
    else:
        pads = [(j - 1, j - 1) for j in s2]
        kw = {"constant_values": fillvalue} if boundary == "fill" else {}
        ext = np.pad(a, pads, mode=PAD_MODE[boundary], **kw)
        if ext.dtype == object:
            # np.pad stores the constant as np.int64, which could overflow later
            ext = np.frompyfunc(int, 1, 1)(ext)
        big = full_convolve(ext, b)
        # 'valid' part of the extended convolution == the full extent
        full = big[tuple(slice(j - 1, j - 1 + i + j - 1) for i, j in zip(s1, s2))]
    if mode == "full":
        return full
    if mode == "same":
        return full[tuple(slice(same_start(j, same_rule), same_start(j, same_rule) + i)
                          for i, j in zip(s1, s2))]
    raise ValueError(f"bad mode {mode!r}")


def _flip_conj(b, axes):
    b = b[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(b.ndim))]
    return np.conj(b) if b.dtype.kind == "c" else b


def convolve(in1, in2, mode="full", *, axes=None, boundary="fill", fillvalue=0,
             _correlate=False, _same_rule="convolve"):
    """N-D convolution along `axes` (default all); other axes broadcast as batch axes.

    Returns an array of dtype ``np.result_type(in1, in2)``; 0-d inputs give
    ``in1 * in2`` (conjugated `in2` for correlation), as SciPy.
    """
    in1, in2 = np.asarray(in1), np.asarray(in2)
    rdt = result_dtype(in1, in2)
    if in1.ndim == 0 and in2.ndim == 0:
        v = _accumulator(in1, rdt) * (np.conj(_accumulator(in2, rdt)) if _correlate
                                      else _accumulator(in2, rdt))
        return _to_result(np.asarray(v, dtype=object if rdt.kind in "biu" else None),
                          rdt)[()]
    if in1.ndim != in2.ndim:
        raise ValueError("in1 and in2 should have the same dimensionality")
    nd = in1.ndim
    axes = list(range(nd)) if axes is None else sorted(
        {int(a) % nd for a in ([axes] if np.ndim(axes) == 0 else axes)})
    a = _accumulator(in1, rdt)
    b = _accumulator(in2, rdt)
    if _correlate:
        b = _flip_conj(b, axes)
    batch_axes = [i for i in range(nd) if i not in axes]
    a = np.moveaxis(a, batch_axes, range(len(batch_axes)))
    b = np.moveaxis(b, batch_axes, range(len(batch_axes)))
    nb = len(batch_axes)
    B = np.broadcast_shapes(a.shape[:nb], b.shape[:nb])
    a = np.broadcast_to(a, B + a.shape[nb:])
    b = np.broadcast_to(b, B + b.shape[nb:])
    pieces = [_conv_core(a[idx], b[idx], mode, boundary, fillvalue, _same_rule)
              for idx in np.ndindex(*B)]
    out = np.stack(pieces).reshape(B + pieces[0].shape) if pieces else None
    out = _to_result(out, rdt)
    return np.moveaxis(out, range(nb), batch_axes)


def correlate(in1, in2, mode="full", *, axes=None, boundary="fill", fillvalue=0):
    """N-D cross-correlation: convolution with `in2` reversed and conjugated."""
    return convolve(in1, in2, mode, axes=axes, boundary=boundary, fillvalue=fillvalue,
                    _correlate=True)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """As ``scipy.signal.convolve2d`` ('same' starts at ``(n2 - 1) // 2``)."""
    assert np.ndim(in1) == np.ndim(in2) == 2
    return convolve(in1, in2, mode, boundary=boundary, fillvalue=fillvalue)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """As ``scipy.signal.correlate2d`` ('same' starts at ``n2 // 2``), mathematically
    conjugated in the swapped complex 'valid' case (see the module docstring)."""
    assert np.ndim(in1) == np.ndim(in2) == 2
    return convolve(in1, in2, mode, boundary=boundary, fillvalue=fillvalue,
                    _correlate=True, _same_rule="correlate2d")
