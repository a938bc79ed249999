"""asv benchmarks of convolve, one file per op family, peers as the ``library`` parameter.

The shapes come from ``convolve/_bench_cases.py`` (loaded from this working
tree, see ``common.py``), the table ``python -m convolve bench`` reads too.
"""
