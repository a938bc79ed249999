"""Tests of convolve.kernels, convolve._config and the ``python -m convolve`` CLI.

Oracles: closed-form formulas written out here, hand-written arrays, and SciPy
(``scipy.ndimage``, ``scipy.signal.convolve2d``, ``scipy.signal.sepfir2d``) or
OpenCV (``cv2.getGaborKernel``) where installed.
"""
import io
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as ss

import convolve
import convolve.kernels as K
from convolve import _config, signal

REPO_ROOT = pathlib.Path(convolve.__file__).resolve().parent.parent


# ----------------------------------------------------------------------------
# box
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("size, ndim", [(1, 2), (3, 2), (4, 2), (5, 1), (3, 3)])
def test_box_values(size, ndim):
    k = K.box(size, ndim)
    assert k.shape == (size,) * ndim and k.dtype == np.float64
    np.testing.assert_array_equal(k, np.full(k.shape, 1.0 / size ** ndim))
    assert k.sum() == pytest.approx(1.0, rel=1e-14)


def test_box_dtype():
    assert K.box(3, dtype=np.float32).dtype == np.float32


# ----------------------------------------------------------------------------
# gaussian
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [0.3, 0.5, 1.0, 1.3, 2.0, 3.7])
def test_gaussian_default_size_and_sum(sigma):
    k = K.gaussian(sigma)
    size = 2 * math.ceil(3 * sigma) + 1
    assert k.shape == (size, size)
    assert k.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(k, k.T, rtol=0, atol=0)          # isotropic
    np.testing.assert_allclose(k, k[::-1, ::-1], rtol=0, atol=0)
    assert k.argmax() == k.size // 2                           # peak at the centre


@pytest.mark.parametrize("sigma, size", [(1.0, None), (1.5, 5), (0.8, 9), (2.5, 3)])
def test_gaussian_matches_formula(sigma, size):
    k = K.gaussian(sigma, size=size)
    n = k.shape[0]
    r = (n - 1) // 2
    y, x = np.meshgrid(np.arange(n) - r, np.arange(n) - r, indexing="ij")
    expected = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))   # 2-D formula, not an outer product
    expected /= expected.sum()
    np.testing.assert_allclose(k, expected, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("sigma", [0.7, 2.0])
def test_gaussian_vs_ndimage(sigma, ndim):
    """The impulse response of scipy.ndimage.gaussian_filter with the same radius."""
    k = K.gaussian(sigma, ndim=ndim)
    r = (k.shape[0] - 1) // 2
    delta = np.zeros(k.shape)
    delta[(r,) * ndim] = 1.0
    expected = ndi.gaussian_filter(delta, sigma, mode="constant", radius=r)
    np.testing.assert_allclose(k, expected, rtol=1e-12, atol=1e-15)
    assert k.sum() == pytest.approx(1.0, abs=1e-13)


def test_gaussian_float32():
    k = K.gaussian(1.2, dtype=np.float32)
    assert k.dtype == np.float32
    assert float(k.sum(dtype=np.float64)) == pytest.approx(1.0, abs=1e-6)


def test_gaussian_1d_outer_is_2d():
    g = K.gaussian(1.7, ndim=1)
    np.testing.assert_allclose(np.outer(g, g), K.gaussian(1.7), rtol=1e-14, atol=1e-17)


# ----------------------------------------------------------------------------
# sobel, laplacian, sharpen
# ----------------------------------------------------------------------------

SOBEL_Y = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]])


def test_sobel_values():
    np.testing.assert_array_equal(K.sobel(0), SOBEL_Y)
    np.testing.assert_array_equal(K.sobel(-2), SOBEL_Y)
    np.testing.assert_array_equal(K.sobel(1), SOBEL_X)
    np.testing.assert_array_equal(K.sobel(-1), SOBEL_X)
    assert K.sobel().dtype == np.float64
    assert K.sobel(dtype=np.int32).dtype == np.int32
    assert K.sobel().flags.c_contiguous and K.sobel(1).flags.c_contiguous


@pytest.mark.parametrize("axis", [0, 1])
def test_sobel_orientation(rng, axis):
    """Positive where the intensity grows along `axis`; equals scipy.ndimage.sobel."""
    ramp = np.arange(6.0)[:, None] * np.ones((1, 7))
    if axis == 1:
        ramp = ramp.T
    out = signal.convolve2d(ramp, K.sobel(axis), mode="valid")
    np.testing.assert_allclose(out, 8.0)
    image = rng.random((20, 23))
    ours = signal.convolve2d(image, K.sobel(axis), mode="same", boundary="symm")
    np.testing.assert_allclose(ours, ndi.sobel(image, axis=axis, mode="reflect"),
                               rtol=1e-12, atol=1e-12)


def test_laplacian_values(rng):
    np.testing.assert_array_equal(K.laplacian(), [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(K.laplacian(diagonal=True),
                                  [[1, 1, 1], [1, -8, 1], [1, 1, 1]])
    assert K.laplacian(dtype=np.int64).dtype == np.int64
    for diagonal in (False, True):
        k = K.laplacian(diagonal)
        assert k.sum() == 0
        np.testing.assert_array_equal(k, k[::-1, ::-1])
    image = rng.random((17, 19))
    ours = signal.convolve2d(image, K.laplacian(), mode="same", boundary="symm")
    np.testing.assert_allclose(ours, ndi.laplace(image, mode="reflect"), rtol=1e-12, atol=1e-12)


def test_laplacian_of_quadratic():
    """The Laplacian of x**2 + y**2 is 4 everywhere (diagonal version: 4 * 3)."""
    y, x = np.mgrid[0:9, 0:9].astype(float)
    f = x ** 2 + y ** 2
    np.testing.assert_allclose(signal.convolve2d(f, K.laplacian(), mode="valid"), 4.0)
    np.testing.assert_allclose(signal.convolve2d(f, K.laplacian(True), mode="valid"), 12.0)


def test_sharpen_values():
    np.testing.assert_array_equal(K.sharpen(), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    np.testing.assert_array_equal(K.sharpen(0), delta)
    for amount in (0.25, 1.0, 3.0):
        k = K.sharpen(amount)
        np.testing.assert_allclose(k, delta - amount * K.laplacian())
        assert k.sum() == pytest.approx(1.0)
    assert K.sharpen(dtype=np.float32).dtype == np.float32
    assert not np.any((K.sharpen() == 0) & np.signbit(K.sharpen()))  # no -0.0 entries


def test_sharpen_keeps_flat_regions():
    flat = np.full((8, 8), 3.5)
    out = signal.convolve2d(flat, K.sharpen(2.0), mode="same", boundary="symm")
    np.testing.assert_allclose(out, 3.5)


# ----------------------------------------------------------------------------
# gabor
# ----------------------------------------------------------------------------

def _gabor_reference(sigma, theta, wavelength, phase, gamma, size):
    r = (size - 1) // 2
    out = np.empty((size, size))
    for i in range(size):
        for j in range(size):
            x, y = j - r, i - r
            xr = x * math.cos(theta) + y * math.sin(theta)
            yr = -x * math.sin(theta) + y * math.cos(theta)
            out[i, j] = math.exp(-(xr ** 2 + gamma ** 2 * yr ** 2) / (2 * sigma ** 2)) * \
                math.cos(2 * math.pi * xr / wavelength + phase)
    return out


@pytest.mark.parametrize("sigma, theta, wavelength, phase, gamma, size", [
    (2.0, 0.0, 4.0, 0.0, 1.0, 13),
    (3.0, 0.7, 6.0, 0.9, 0.6, 15),
    (1.5, np.pi / 2, 3.0, -np.pi / 2, 2.0, 9),
])
def test_gabor_formula(sigma, theta, wavelength, phase, gamma, size):
    k = K.gabor(sigma, theta, wavelength, phase=phase, gamma=gamma, size=size)
    np.testing.assert_allclose(k, _gabor_reference(sigma, theta, wavelength, phase, gamma, size),
                               rtol=1e-12, atol=1e-14)


def test_gabor_vs_opencv():
    cv2 = pytest.importorskip("cv2")
    k = K.gabor(3.0, 0.7, 6.0, phase=0.9, gamma=0.6, size=15)
    ref = cv2.getGaborKernel((15, 15), 3.0, 0.7, 6.0, 0.6, 0.9, ktype=cv2.CV_64F)
    # OpenCV filters by correlation, so its array is our impulse response flipped
    np.testing.assert_allclose(k, ref[::-1, ::-1], rtol=1e-12, atol=1e-14)


def test_gabor_defaults_and_symmetry():
    assert K.gabor(2.0, 0.3, 5.0).shape == (13, 13)
    assert K.gabor(2.0, 0.3, 5.0, gamma=0.5).shape == (25, 25)   # +-3 * sigma / gamma
    k = K.gabor(2.0, 0.3, 5.0)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)     # phase 0: even
    odd = K.gabor(2.0, 0.3, 5.0, phase=-np.pi / 2)
    np.testing.assert_allclose(odd, -odd[::-1, ::-1], atol=1e-15)
    assert K.gabor(2.0, 0.3, 5.0, dtype=np.float32).dtype == np.float32
    # theta = 0: the wave runs along x (columns), so every column is an even envelope
    k0 = K.gabor(2.0, 0.0, 4.0, size=9)
    np.testing.assert_allclose(k0, k0[::-1, :], atol=1e-15)


# ----------------------------------------------------------------------------
# separable_conv2d
# ----------------------------------------------------------------------------

SHAPES = [((13, 17), 5, 3), ((13, 17), 4, 6), ((3, 4), 6, 5), ((9, 9), 1, 1), ((4, 9), 2, 3)]


@pytest.mark.parametrize("image_shape, kw, kh", SHAPES)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary, fillvalue", [("fill", 0), ("fill", 2.5), ("wrap", 0),
                                                 ("symm", 0)])
def test_separable_equals_outer(rng, image_shape, kw, kh, mode, boundary, fillvalue):
    image = rng.standard_normal(image_shape)
    row, col = rng.standard_normal(kw), rng.standard_normal(kh)
    got = K.separable_conv2d(image, row, col, mode=mode, boundary=boundary, fillvalue=fillvalue)
    ours_2d = signal.convolve2d(image, np.outer(col, row), mode, boundary, fillvalue)
    scipy_2d = ss.convolve2d(image, np.outer(col, row), mode, boundary, fillvalue)
    assert got.shape == scipy_2d.shape == ours_2d.shape
    np.testing.assert_allclose(got, ours_2d, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got, scipy_2d, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("boundary", ["reflect", "nearest", "mirror", "edge", "circular"])
def test_separable_other_boundaries(rng, boundary):
    image = rng.standard_normal((11, 14))
    row, col = rng.standard_normal(4), rng.standard_normal(3)
    got = K.separable_conv2d(image, row, col, boundary=boundary)
    expected = signal.convolve(image, np.outer(col, row), mode="same", boundary=boundary)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_separable_vs_sepfir2d(rng):
    """scipy.signal.sepfir2d assumes the half-sample symmetric boundary ('symm')."""
    image = rng.standard_normal((12, 15))
    row, col = np.array([1.0, 2.0, 5.0]), np.array([3.0, 1.0, 0.5, -1.0, 2.0])
    np.testing.assert_allclose(K.separable_conv2d(image, row, col, boundary="symm"),
                               ss.sepfir2d(image, row, col), rtol=1e-10, atol=1e-10)


def test_separable_gaussian_vs_ndimage(rng):
    image = rng.random((30, 25))
    g = K.gaussian(1.5, ndim=1)
    r = (g.size - 1) // 2
    np.testing.assert_allclose(
        K.separable_conv2d(image, g, g, boundary="symm"),
        ndi.gaussian_filter(image, 1.5, mode="reflect", radius=r), rtol=1e-12, atol=1e-12)


def test_separable_integer_exact(rng):
    image = rng.integers(0, 256, (10, 12)).astype(np.uint8)
    out = K.separable_conv2d(image, np.array([1, 2, 1]), np.array([1, 0, -1]))
    assert out.dtype == np.result_type(image, np.array([1, 2, 1]))
    np.testing.assert_array_equal(out, ss.convolve2d(image.astype(np.int64),
                                                     SOBEL_Y, mode="same"))


def test_separable_float32_and_threads(rng):
    image = rng.random((40, 50)).astype(np.float32)
    g = K.gaussian(2.0, ndim=1, dtype=np.float32)
    one = K.separable_conv2d(image, g, g, boundary="symm", workers=1)
    two = K.separable_conv2d(image, g, g, boundary="symm", workers=2)
    assert one.dtype == np.float32
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one, ss.convolve2d(image, np.outer(g, g), "same", "symm"),
                               rtol=1e-4, atol=1e-5)


def test_separable_accepts_lists_and_views(rng):
    image = rng.random((16, 20))[::2, ::-1]
    got = K.separable_conv2d(image, [1.0, 2.0, 1.0], (0.5, 0.5))
    np.testing.assert_allclose(got, ss.convolve2d(image, np.outer([0.5, 0.5], [1, 2, 1]), "same"),
                               rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: K.box(0), "size"),
    (lambda: K.box(-3), "size"),
    (lambda: K.box(2.5), "size"),
    (lambda: K.box(3.0), "size"),
    (lambda: K.box(True), "size"),
    (lambda: K.box(3, ndim=0), "ndim"),
    (lambda: K.box(3, dtype=np.int64), "dtype"),
    (lambda: K.box(3, dtype=np.complex128), "dtype"),
    (lambda: K.gaussian(0), "sigma"),
    (lambda: K.gaussian(-1.0), "sigma"),
    (lambda: K.gaussian(float("nan")), "sigma"),
    (lambda: K.gaussian(float("inf")), "sigma"),
    (lambda: K.gaussian("1"), "sigma"),
    (lambda: K.gaussian(1.0, size=4), "size"),
    (lambda: K.gaussian(1.0, size=0), "size"),
    (lambda: K.gaussian(1.0, size=-3), "size"),
    (lambda: K.gaussian(1.0, size=5.0), "size"),
    (lambda: K.gaussian(1.0, dtype="int32"), "dtype"),
    (lambda: K.sobel(2), "axis"),
    (lambda: K.sobel(0.0), "axis"),
    (lambda: K.sobel(dtype=np.complex64), "dtype"),
    (lambda: K.laplacian(dtype=bool), "dtype"),
    (lambda: K.sharpen(-1.0), "amount"),
    (lambda: K.sharpen(float("nan")), "amount"),
    (lambda: K.gabor(0.0, 0.0, 4.0), "sigma"),
    (lambda: K.gabor(1.0, float("nan"), 4.0), "theta"),
    (lambda: K.gabor(1.0, 0.0, 0.0), "wavelength"),
    (lambda: K.gabor(1.0, 0.0, 4.0, phase=float("inf")), "phase"),
    (lambda: K.gabor(1.0, 0.0, 4.0, gamma=0.0), "gamma"),
    (lambda: K.gabor(1.0, 0.0, 4.0, size=6), "size"),
    (lambda: K.separable_conv2d(np.ones(5), [1.0], [1.0]), "image"),
    (lambda: K.separable_conv2d(np.ones((5, 5)), np.ones((1, 3)), [1.0]), "row_kernel"),
    (lambda: K.separable_conv2d(np.ones((5, 5)), [1.0], np.ones((3, 1))), "col_kernel"),
    (lambda: K.separable_conv2d(np.ones((5, 5)), [], [1.0]), "row_kernel"),
    (lambda: K.separable_conv2d(np.ones((5, 7)), np.ones(3), np.ones(6), mode="valid"), "valid"),
])
def test_validation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_separable_bad_mode_and_boundary():
    with pytest.raises(ValueError):
        K.separable_conv2d(np.ones((5, 5)), [1.0], [1.0], mode="middle")
    with pytest.raises(ValueError):
        K.separable_conv2d(np.ones((5, 5)), [1.0], [1.0], boundary="bogus")


# ----------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------

CONFIG_KEYS = {"version", "openmp", "openmp_runtime", "num_threads", "usable_cpus",
               "compiler", "compile_args", "link_args", "portable", "simd", "cpu_simd",
               "vector_bits", "blas", "blas_source", "fft", "python", "numpy", "scipy",
               "platform"}


def test_config_info_keys_and_values():
    info = _config.config_info()
    assert CONFIG_KEYS <= set(info)
    assert info["num_threads"] == convolve.get_num_threads()
    assert info["fft"] == "scipy.fft (pocketfft)"
    assert info["numpy"] == np.__version__
    assert isinstance(info["version"], str) and info["version"]
    assert isinstance(info["compile_args"], list) and isinstance(info["blas"], list)
    assert isinstance(info["simd"], str)
    path = pathlib.Path(convolve.__file__).with_name("_build_info.json")
    if path.exists():
        build = json.loads(path.read_text())
        assert info["openmp"] is bool(build["openmp"])
        assert info["compile_args"] == build["compile_args"]


def test_config_info_without_build_info(monkeypatch):
    monkeypatch.setattr(_config, "_build_info", lambda: None)
    info = _config.config_info()
    assert info["openmp"] is None and info["compile_args"] == []
    buf = io.StringIO()
    _config.show_config(file=buf)
    assert "_build_info.json" in buf.getvalue()


@pytest.mark.parametrize("args, level", [
    (["-O3", "-march=x86-64-v3"], "AVX2"),
    (["-O3", "-mavx512f"], "AVX-512"),
    (["-O3"], "SSE2"),
])
def test_simd_from_flags(monkeypatch, args, level):
    monkeypatch.setattr(_config.platform, "machine", lambda: "x86_64")
    assert _config._compiled_level(args, "AVX2")[0] == level


def test_show_config_output():
    buf = io.StringIO()
    _config.show_config(file=buf)
    text = buf.getvalue()
    for word in ("OpenMP", "threads", "SIMD", "BLAS", "FFT", "NumPy", "SciPy", "Python"):
        assert word in text
    assert f"{convolve.get_num_threads()} by default" in text


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------

def _run_cli(*args, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-m", "convolve", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_cli_info():
    res = _run_cli("info")
    assert res.returncode == 0, res.stderr
    assert "OpenMP" in res.stdout and "SIMD" in res.stdout


def test_cli_demo(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("skimage")
    out = tmp_path / "demo"
    # the filter demo only: the LeNet demo is trained in tests/test_layers.py
    res = _run_cli("demo", "--out", str(out), "--seed", "3", "--only", "filters", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    png = out / "filters.png"
    assert png.is_file() and png.stat().st_size > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("gaussian", "sobel", "gabor", "max |diff|"):
        assert name in res.stdout


def test_demo_missing_extra(monkeypatch, capsys, tmp_path):
    from convolve.__main__ import main
    monkeypatch.setitem(sys.modules, "skimage", None)   # makes `import skimage` fail
    assert main(["demo", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "scikit-image" in err and "pip install .[demo]" in err


def test_cli_usage_errors():
    from convolve.__main__ import main
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["demo", "--only", "no-such-demo"])
