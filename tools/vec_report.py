"""Which loops of the compiled kernels the C compiler vectorized.

Recompiles each Cython-generated ``pyx/*.c`` (present after
``python setup.py build_ext --inplace``) with the build's own flags
(``convolve/_build_info.json``) plus ``-fopt-info-vec-optimized`` and maps
every "loop vectorized" remark back to the ``.pyx`` line Cython generated it
from (its ``/* "pyx/name.pyx":LINE`` markers) or to the header line. The
register-blocked micro-kernels (``pyx/_gemm_kernels.h``,
``pyx/_microkernels.h``) are written with GCC vector extensions, so they are
vector code by construction and appear only when the compiler vectorized a
remaining scalar loop in them.

Usage::

    python tools/vec_report.py                 # every module
    python tools/vec_report.py _blocked _pool  # some
"""
import collections
import json
import os
import re
import subprocess
import sys
import sysconfig

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = re.compile(r'/\* "(pyx/[\w.]+\.pyx)":(\d+)')
REMARK = re.compile(r'^([^:]+):(\d+):\d+: optimized: (loop vectorized[^\n]*|basic block part vectorized[^\n]*)')


def pyx_lines(c_file):
    """C line number -> (pyx file, pyx line) of the nearest preceding marker."""
    out, cur = {}, None
    with open(c_file) as f:
        for i, line in enumerate(f, 1):
            m = MARK.search(line)
            if m:
                cur = (m.group(1), int(m.group(2)))
            out[i] = cur
    return out


def report(module):
    info = json.load(open(os.path.join(ROOT, "convolve", "_build_info.json")))
    c_file = os.path.join("pyx", module + ".c")
    cmd = [info.get("compiler", "gcc"), *info["compile_args"], "-fopt-info-vec-optimized",
           "-I", np.get_include(), "-I", sysconfig.get_paths()["include"], "-I", "pyx",
           "-c", c_file, "-o", os.devnull]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    where = pyx_lines(os.path.join(ROOT, c_file))
    hits = collections.Counter()
    for line in res.stderr.splitlines():
        m = REMARK.match(line)
        if not m or not m.group(3).startswith("loop"):
            continue
        path, num = m.group(1), int(m.group(2))
        if path.endswith(".c"):
            src = where.get(num)
            if src is None:
                continue
            hits[src] += 1
        else:
            hits[(path, num)] += 1
    return hits


def main(argv):
    mods = argv or sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(ROOT, "pyx"))
                          if f.endswith(".c"))
    for mod in mods:
        hits = report(mod)
        rows, utility = [], 0
        for (path, num), n in sorted(hits.items()):
            text = open(os.path.join(ROOT, path)).read().splitlines()[num - 1].strip()
            if text.startswith(("#", "def ", "cdef ", "cpdef ")) or not text:
                utility += n       # Cython's own helpers, attributed to the header/def line
                continue
            rows.append(f"  {path}:{num}: {text[:90]}" + (f"  (x{n})" if n > 1 else ""))
        print(f"{mod}: {len(rows)} kernel source lines with vectorized loops"
              f" (+{utility} in Cython's utility code)")
        print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
