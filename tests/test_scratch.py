"""Scratch buffers kept between calls: per slot, per Python thread, never
handed to the caller."""
import threading

import numpy as np
import pytest

from convolve import _scratch
from convolve.functional import conv2d_input_grad, conv2d_weight_grad


def test_slots_reuse_and_do_not_alias():
    a = _scratch.scratch("test_a", (4, 5), np.float32, zero=True)
    assert a.dtype == np.float32 and a.shape == (4, 5) and not a.any()
    assert a.ctypes.data % 64 == 0
    a[...] = 7
    b = _scratch.scratch("test_b", (4, 5), np.float32)
    assert not np.shares_memory(a, b)
    again = _scratch.scratch("test_a", (2, 3), np.float64)
    assert np.shares_memory(a, again)                  # the same buffer, reused
    bigger = _scratch.scratch("test_a", (100, 100), np.float64, zero=True)
    assert not bigger.any()
    _scratch.clear()


def test_threads_have_their_own():
    seen = {}

    def grab(name):
        seen[name] = _scratch.scratch("test_t", (64,), np.float64).ctypes.data

    main = _scratch.scratch("test_t", (64,), np.float64)
    t = threading.Thread(target=grab, args=("other",))
    t.start()
    t.join()
    assert seen["other"] != main.ctypes.data
    _scratch.clear()


def test_too_large_is_fresh(monkeypatch):
    monkeypatch.setattr(_scratch, "SCRATCH_MAX", 1000)
    a = _scratch.scratch("test_l", (1000,), np.float64)
    b = _scratch.scratch("test_l", (1000,), np.float64)
    assert not np.shares_memory(a, b)


def test_results_never_alias_scratch(rng):
    """Gradients computed through scratch temporaries are fresh arrays: a
    second call does not change the first result."""
    x = rng.standard_normal((40, 6, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
    g1 = rng.standard_normal((40, 16, 12, 12)).astype(np.float32)
    g2 = rng.standard_normal((40, 16, 12, 12)).astype(np.float32)
    gw1 = conv2d_weight_grad(x, g1, w.shape, padding=1)
    gx1 = conv2d_input_grad(g1, w, x.shape, padding=1)
    keep_w, keep_x = gw1.copy(), gx1.copy()
    conv2d_weight_grad(x, g2, w.shape, padding=1)
    conv2d_input_grad(g2, w, x.shape, padding=1)
    np.testing.assert_array_equal(gw1, keep_w)
    np.testing.assert_array_equal(gx1, keep_x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B, O, groups, K, jw", [(1, 13, 1, 37, 6), (3, 40, 2, 200, 16),
                                                 (2, 12, 3, 5, 8), (1, 64, 1, 9, 16)])
def test_pack_panels_matches_numpy(B, O, groups, K, jw, dtype, rng):
    """The compiled panel packer (weights and the weight gradient's output
    gradient) against the numpy transpose, ragged panels, any thread count."""
    from convolve import _blocked
    w = rng.standard_normal((B, O, K)).astype(dtype)
    Og = O // groups
    nb = -(-Og // jw)
    ref = np.zeros((B, groups, nb * jw, K), dtype)
    ref[:, :, :Og] = w.reshape(B, groups, Og, K)
    ref = ref.reshape(B, groups, nb, jw, K).transpose(0, 1, 2, 4, 3)
    for threads in (1, 2):
        out = np.full((B, groups, nb, K, jw), np.nan, dtype)
        _blocked.pack_panels(w, out, groups, threads)
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N, W, Np", [(5, 6, 8), (19, 21, 32), (16, 32, 16), (8, 4, 8)])
def test_batch_last_transposes_match_numpy(dtype, N, W, Np, rng):
    """The batch-lane kernel's compiled transposes: every element of the
    destination written (borders and padding lanes zero), any thread count;
    batches and rows with whole register-transpose blocks (8 x 8 floats,
    4 x 4 doubles), with edges of each, and neither."""
    from convolve import _batchlane
    x = rng.standard_normal((N, 3, 2, 4, W)).astype(dtype)
    ref = np.zeros((3, 4, 7, W + 3, Np), dtype)
    ref[:, 1:3, 2:6, 3:, :N] = x.transpose(1, 2, 3, 4, 0)
    for threads in (1, 2):
        xt = np.full(ref.shape, np.nan, dtype)
        _batchlane.to_batch_last(x, xt, (1, 2, 3), threads)
        np.testing.assert_array_equal(xt, ref)
        back = np.full(x.shape, np.nan, dtype)
        _batchlane.from_batch_last(np.ascontiguousarray(ref[:, 1:3, 2:6, 3:]), back, threads)
        np.testing.assert_array_equal(back, x)
