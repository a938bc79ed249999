"""Sphinx configuration for the convolve documentation.

Build (from the repository root, with the package importable)::

    PYTHONPATH=. python -m sphinx -W --keep-going -b html docs docs/_build/html

Run the examples of the guide and of the docstrings as tests::

    PYTHONPATH=. python -m sphinx -b doctest docs docs/_build/doctest
"""
import doctest
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The package is imported from the source tree when it is not installed; the
# compiled extension must have been built in place (``pip install -e .`` or
# ``python setup.py build_ext --inplace``).
sys.path.insert(0, os.path.dirname(HERE))

# -- Project -----------------------------------------------------------------
project = "convolve"
author = "the convolve developers"
copyright = "2026, the convolve developers"
try:
    import convolve
    # Import the lazily loaded submodule the normal way, so that autosummary
    # finds it as an attribute of the package.
    import convolve.kernels  # noqa: F401

    release = convolve.__version__
except Exception:  # the prose still builds; the API pages then report the import error
    release = "0.1.0"
version = ".".join(release.split(".")[:2])

# -- Extensions --------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]

# autosummary writes one page per function under api/generated/ (git-ignored)
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"           # numpydoc's Parameters section says it all
autodoc_preserve_defaults = True     # show ``dtype=np.float64``, not its repr

# numpydoc: the functions are documented one page each; no member tables
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The build machines have no network: intersphinx is loaded (so that explicit
# ``:external:`` roles keep working if a mapping is ever added locally) but
# fetches no inventory. References to numpy/scipy/torch stay plain text.
intersphinx_mapping = {}
intersphinx_disabled_reftypes = ["*"]

# sphinx.ext.doctest: the ``>>>`` blocks of the guide and of the docstrings
# run with NumPy and convolve imported.
doctest_global_setup = """
import numpy as np
import convolve
"""
doctest_default_flags = (
    doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.DONT_ACCEPT_TRUE_FOR_1
)

# -- General -----------------------------------------------------------------
root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"] if os.path.isdir(os.path.join(HERE, "_templates")) else []
default_role = "obj"
pygments_style = "sphinx"
nitpicky = False

# -- HTML --------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"convolve {release}"
html_static_path = ["_static"] if os.path.isdir(os.path.join(HERE, "_static")) else []
html_theme_options = {
    "description": "Fast CPU convolution for NumPy (Cython + OpenMP)",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_sidebars = {
    "**": ["about.html", "navigation.html", "relations.html", "searchbox.html"],
}
html_show_sourcelink = False
