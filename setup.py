"""Build every ``pyx/*.pyx`` into a private extension module ``convolve._<name>``.

Environment switches
--------------------
CONVOLVE_PORTABLE=1        do not tune for the build machine (no -march=native)
CONVOLVE_FAIL_NO_OPENMP=1  fail the build when OpenMP is unavailable instead of
                           building a serial library with a warning
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))

PROBE = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel num_threads(2) reduction(+:n)
        n += 1;
        printf("%d\\n", n);
        return n == 2 ? 0 : 1;
    }
    """
)


def _compiler():
    return os.environ.get("CC") or sysconfig.get_config_var("CC").split()[0] or "cc"


def _try_compile(flags, link_flags, code, run=True):
    """Compile (and optionally run) ``code``; True when it worked."""
    cc = _compiler()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        exe = os.path.join(tmp, "probe")
        with open(src, "w") as f:
            f.write(code)
        try:
            subprocess.run([cc, *flags, src, "-o", exe, *link_flags], check=True,
                           capture_output=True)
            if run:
                subprocess.run([exe], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return False
    return True


def openmp_flags():
    """OpenMP compile/link flags, probed by compiling and running a program."""
    flags = ["-fopenmp"]
    if sys.platform == "darwin":
        flags = ["-Xpreprocessor", "-fopenmp"]
    link = ["-fopenmp"] if sys.platform != "darwin" else ["-lomp"]
    if _try_compile(flags, link, PROBE):
        return flags, link, True
    msg = ("convolve: OpenMP is not available with this compiler; building a SERIAL "
           "library (every kernel will run on one thread). `python -m convolve info` "
           "reports it. Set CONVOLVE_FAIL_NO_OPENMP=1 to make this an error.")
    if os.environ.get("CONVOLVE_FAIL_NO_OPENMP", "0") not in ("", "0"):
        raise RuntimeError(msg)
    warnings.warn(msg)
    return [], [], False


def simd_flags():
    if os.environ.get("CONVOLVE_PORTABLE", "0") not in ("", "0"):
        return []
    trivial = "int main(void){return 0;}\n"
    flags = []
    if _try_compile(["-march=native"], [], trivial):
        flags.append("-march=native")
        # Wide vectors only pay off where the CPU has AVX-512; GCC defaults to 256.
        if _try_compile(["-march=native", "-mprefer-vector-width=512"], [], trivial):
            flags.append("-mprefer-vector-width=512")
    return flags


omp_compile, omp_link, have_openmp = openmp_flags()
# -O3 and no -ffast-math: it would set FTZ/DAZ for the whole process and break
# NaN propagation. -fno-math-errno lets sqrt/exp vectorize without that risk.
compile_args = ["-O3", "-fno-math-errno", *simd_flags(), *omp_compile]
link_args = [*omp_link]

build_info = {
    "openmp": have_openmp,
    "compiler": _compiler(),
    "compile_args": compile_args,
    "link_args": link_args,
    "portable": os.environ.get("CONVOLVE_PORTABLE", "0") not in ("", "0"),
}
with open(os.path.join(HERE, "convolve", "_build_info.json"), "w") as f:
    json.dump(build_info, f, indent=1)

extensions = []
for path in sorted(glob.glob(os.path.join("pyx", "*.pyx"))):
    name = os.path.splitext(os.path.basename(path))[0]
    extensions.append(
        Extension(
            f"convolve.{name}",
            [path],
            include_dirs=[np.get_include(), "pyx"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        )
    )

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["pyx"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "nonecheck": False,
        },
    ),
)
