"""Build and runtime configuration: :func:`show_config` and :func:`config_info`.

What ``python -m convolve info`` prints. The build facts come from
``convolve/_build_info.json``, which ``setup.py`` writes when it compiles the
extensions (keys ``openmp``, ``compiler``, ``compile_args``, ``link_args``,
``portable``); the rest is looked up at run time.
"""
import json
import os
import pathlib
import platform
import sys

__all__ = ["show_config", "config_info"]

FFT_BACKEND = "scipy.fft (pocketfft)"

# x86 SIMD levels, best first: (name reported, /proc/cpuinfo flag, GCC flag)
_X86_LEVELS = [
    ("AVX-512", "avx512f", "-mavx512f"),
    ("AVX2", "avx2", "-mavx2"),
    ("AVX", "avx", "-mavx"),
    ("SSE4.2", "sse4_2", "-msse4.2"),
    ("SSE4.1", "sse4_1", "-msse4.1"),
    ("SSSE3", "ssse3", "-mssse3"),
    ("SSE3", "pni", "-msse3"),       # the kernel calls SSE3 "pni"
    ("SSE2", "sse2", "-msse2"),
]
_ARM_LEVELS = [
    ("SVE2", "sve2", None),
    ("SVE", "sve", None),
    ("NEON", "asimd", None),          # AArch64 calls NEON "asimd"
    ("NEON", "neon", "-mfpu=neon"),   # 32-bit ARM
]
# -march values that pin a level (GCC's x86-64 micro-architecture levels)
_MARCH_LEVELS = {
    "x86-64": "SSE2", "x86-64-v2": "SSE4.2", "x86-64-v3": "AVX2", "x86-64-v4": "AVX-512",
}
# the extra CPU features worth reporting next to the level
_EXTRA_FLAGS = ("fma", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "f16c", "sve", "sve2", "asimd")


def _is_arm():
    return platform.machine().lower() in ("arm64", "aarch64") or \
        platform.machine().lower().startswith("arm")


def _build_info():
    """The dict ``setup.py`` wrote, or None when the file is missing or unreadable."""
    path = pathlib.Path(__file__).with_name("_build_info.json")
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _version():
    try:
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("convolve")
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover
        pass
    # a source checkout that was never installed
    try:
        from . import __version__
        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"


def _cpu_flags():
    """The CPU's feature flags (lower case), or None where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return set(value.lower().split())
    except OSError:
        pass
    if sys.platform == "darwin" and _is_arm():
        return {"asimd"}  # every Apple Silicon CPU has NEON
    return None


def _cpu_level(flags):
    levels = _ARM_LEVELS if _is_arm() else _X86_LEVELS
    if flags is None:
        return None
    for name, flag, _ in levels:
        if flag in flags:
            return name
    return None


def _level_rank(name):
    order = [n for n, _, _ in reversed(_ARM_LEVELS if _is_arm() else _X86_LEVELS)]
    return order.index(name) if name in order else -1


def _compiled_level(compile_args, cpu_level):
    """SIMD level the compile flags allow, and how it was decided."""
    args = list(compile_args or [])
    march = [a.split("=", 1)[1] for a in args if a.startswith(("-march=", "-mcpu="))]
    if march:
        arch = march[-1]
        if arch == "native":
            return cpu_level, "-march=native: the build machine's CPU"
        if arch in _MARCH_LEVELS:
            return _MARCH_LEVELS[arch], f"-march={arch}"
        return None, f"-march={arch}"
    levels = _ARM_LEVELS if _is_arm() else _X86_LEVELS
    for name, _, gcc_flag in levels:
        if gcc_flag and gcc_flag in args:
            return name, gcc_flag
    if _is_arm():
        return "NEON", "no -march: the AArch64 baseline"
    if platform.machine().lower() in ("x86_64", "amd64", "i686", "i386", "x86"):
        return "SSE2", "no -march: the x86-64 baseline (portable build)"
    return None, "no -march"


def _vector_bits(level, compile_args):
    if level == "AVX-512":
        # GCC keeps 256-bit vectors on AVX-512 CPUs unless asked otherwise
        return 512 if "-mprefer-vector-width=512" in (compile_args or []) else 256
    return {"AVX2": 256, "AVX": 256, "SSE4.2": 128, "SSE4.1": 128, "SSSE3": 128,
            "SSE3": 128, "SSE2": 128, "NEON": 128}.get(level)


def _simd(compile_args):
    flags = _cpu_flags()
    cpu = _cpu_level(flags)
    compiled, how = _compiled_level(compile_args, cpu)
    note = None
    if compiled and cpu and _level_rank(compiled) > _level_rank(cpu):
        note = (f"built for {compiled} but this CPU only has {cpu}: the extension may "
                "crash with an illegal instruction; rebuild with CONVOLVE_PORTABLE=1")
    extras = sorted(f for f in _EXTRA_FLAGS if flags and f in flags)
    return {
        "simd": compiled or "unknown",
        "simd_source": how,
        "vector_bits": _vector_bits(compiled, compile_args),
        "cpu_simd": cpu or "unknown",
        "cpu_simd_extras": extras,
        "simd_warning": note,
    }


def _blas():
    """BLAS libraries: threadpoolctl's view when installed, else NumPy's build config."""
    import numpy as np
    try:
        import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, the one our GEMM path uses)
    except ImportError:  # pragma: no cover
        pass
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        out = []
        for lib in threadpool_info():
            if lib.get("user_api") != "blas":
                continue
            path = str(lib.get("filepath", ""))
            used_by = "scipy" if "scipy.libs" in path or "scipy/" in path else \
                "numpy" if "numpy.libs" in path or "numpy/" in path else None
            out.append({
                "name": lib.get("internal_api"),
                "version": lib.get("version"),
                "num_threads": lib.get("num_threads"),
                "architecture": lib.get("architecture"),
                "threading_layer": lib.get("threading_layer"),
                "used_by": used_by,
                "filepath": path,
            })
        return out, "threadpoolctl"
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]
        blas = deps.get("blas", {})
        return [{"name": blas.get("name"), "version": blas.get("version"),
                 "num_threads": None, "architecture": None, "threading_layer": None,
                 "used_by": "numpy", "filepath": blas.get("lib directory")}], \
            "numpy build configuration"
    except Exception:  # older NumPy without mode='dicts', or a layout change
        return [], "unavailable (install threadpoolctl)"


def _openmp_runtime():
    """The OpenMP runtime loaded by the compiled modules (libgomp, libomp, ...)."""
    try:
        from . import _direct  # noqa: F401  (loads the runtime it links)
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    libs = [lib for lib in threadpool_info() if lib.get("user_api") == "openmp"]
    if not libs:
        return None
    lib = libs[0]
    return lib.get("prefix") or lib.get("internal_api")


def config_info():
    """Build and runtime configuration as a dict.

    Returns
    -------
    dict
        ``version``: of the installed package ("unknown" when not found);
        ``openmp``: True/False as built (None when ``_build_info.json`` is
        missing), ``openmp_runtime``: the loaded runtime (e.g. ``'libgomp'``)
        or None; ``num_threads``: the default thread count
        (:func:`convolve.get_num_threads`), ``usable_cpus``,
        ``omp_num_threads`` (the environment variable or None);
        ``compiler``, ``compile_args``, ``link_args``, ``portable``: the build;
        ``simd``: the SIMD level the build targets (e.g. ``'AVX2'``),
        ``simd_source``: how that was decided, ``vector_bits``, ``cpu_simd``:
        the best level this CPU has, ``cpu_simd_extras``, ``simd_warning``
        (None unless the build targets more than this CPU has);
        ``blas``: list of dicts (``name``, ``version``, ``num_threads``,
        ``architecture``, ``threading_layer``, ``used_by``, ``filepath``),
        ``blas_source``; ``fft``: the FFT backend; ``python``, ``numpy``,
        ``scipy``, ``platform``: versions and machine.

    See Also
    --------
    show_config : Print the same, for people.

    Examples
    --------
    >>> from convolve._config import config_info
    >>> info = config_info()
    >>> sorted(k for k in ('openmp', 'num_threads', 'simd', 'blas', 'fft') if k in info)
    ['blas', 'fft', 'num_threads', 'openmp', 'simd']
    >>> info['fft']
    'scipy.fft (pocketfft)'
    """
    import numpy as np
    try:
        import scipy
        scipy_version = scipy.__version__
    except ImportError:  # pragma: no cover
        scipy_version = None

    build = _build_info()
    from ._threads import get_num_threads
    try:
        from ._threads import usable_cpus
        cpus = usable_cpus()
    except ImportError:  # pragma: no cover
        cpus = os.cpu_count()

    info = {
        "version": _version(),
        "openmp": None if build is None else bool(build.get("openmp")),
        "openmp_runtime": _openmp_runtime(),
        "num_threads": get_num_threads(),
        "usable_cpus": cpus,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "build_info_found": build is not None,
        "compiler": None if build is None else build.get("compiler"),
        "compile_args": [] if build is None else list(build.get("compile_args", [])),
        "link_args": [] if build is None else list(build.get("link_args", [])),
        "portable": None if build is None else bool(build.get("portable")),
    }
    info.update(_simd(info["compile_args"]))
    info["blas"], info["blas_source"] = _blas()
    info["fft"] = FFT_BACKEND
    info["python"] = platform.python_version()
    info["numpy"] = np.__version__
    info["scipy"] = scipy_version
    info["platform"] = f"{platform.system()} {platform.machine()}"
    return info


def _yes_no(value):
    return "unknown" if value is None else ("on" if value else "off")


def show_config(file=None):
    """Print convolve's build and runtime configuration.

    Version, OpenMP on/off, default thread count, compiler and flags, SIMD
    level, BLAS and FFT backends, and the Python/NumPy/SciPy versions; what
    ``python -m convolve info`` prints. Include it in bug reports.

    Parameters
    ----------
    file : file-like, optional
        Where to write (default ``sys.stdout``).

    Returns
    -------
    None

    See Also
    --------
    config_info : The same as a dict.
    convolve.get_num_threads : The default thread count.

    Examples
    --------
    >>> import io
    >>> from convolve._config import show_config
    >>> buf = io.StringIO()
    >>> show_config(file=buf)
    >>> 'OpenMP' in buf.getvalue()
    True
    """
    file = sys.stdout if file is None else file
    i = config_info()

    def line(key, value):
        label = key + ":" if key else ""
        print(f"  {label:<18}{value}", file=file)

    print(f"convolve {i['version']}", file=file)
    print("build:", file=file)
    if not i["build_info_found"]:
        line("build info", "missing (convolve/_build_info.json is written by setup.py)")
    omp = _yes_no(i["openmp"])
    if i["openmp"] and i["openmp_runtime"]:
        omp += f" ({i['openmp_runtime']})"
    elif i["openmp"] is False:
        omp += " (serial build: every kernel runs on one thread; rebuild with an " \
               "OpenMP-capable compiler)"
    line("OpenMP", omp)
    line("compiler", i["compiler"] or "unknown")
    line("compile args", " ".join(i["compile_args"]) or "-")
    line("link args", " ".join(i["link_args"]) or "-")
    line("portable", {None: "unknown", True: "yes (no -march=native)", False: "no"}[i["portable"]])
    print("runtime:", file=file)
    env = i["omp_num_threads"]
    line("threads", f"{i['num_threads']} by default (usable CPUs: {i['usable_cpus']}, "
                    f"OMP_NUM_THREADS={env if env is not None else 'unset'})")
    simd = i["simd"]
    if i["vector_bits"]:
        simd += f", {i['vector_bits']}-bit vectors"
    line("SIMD (build)", f"{simd}  [{i['simd_source']}]")
    cpu = i["cpu_simd"]
    if i["cpu_simd_extras"]:
        cpu += " + " + ", ".join(f.upper() for f in i["cpu_simd_extras"])
    line("SIMD (this CPU)", cpu)
    if i["simd_warning"]:
        line("WARNING", i["simd_warning"])
    if i["blas"]:
        for n, lib in enumerate(i["blas"]):
            parts = [str(lib["name"] or "unknown"), str(lib["version"] or "")]
            details = [d for d in (
                lib["architecture"],
                f"{lib['num_threads']} threads" if lib["num_threads"] else None,
                lib["threading_layer"],
                f"used by {lib['used_by']}" if lib["used_by"] else None) if d]
            text = " ".join(p for p in parts if p)
            if details:
                text += " (" + ", ".join(details) + ")"
            line("BLAS" if n == 0 else "", text)
    else:
        line("BLAS", i["blas_source"])
    line("FFT", i["fft"])
    print("versions:", file=file)
    line("Python", i["python"])
    line("NumPy", i["numpy"])
    line("SciPy", i["scipy"] or "not installed")
    line("platform", i["platform"])
