"""Sphinx configuration of the memcircuits documentation.

Build (warnings are errors, as in ``.ci/run``)::

    pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

The examples gallery (sphinx-gallery, from ``examples/``) runs every example with
``--quick`` during the build (about two minutes in all) and shows its figures and printed
output; ``MEMCIRCUITS_DOCS_EXAMPLES=full`` runs them at full size, ``=off`` renders code and
text only (``docs/_ext/gallery_argv.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the four import packages live at the repository root (an editable install finds them too)
sys.path.insert(0, str(ROOT))

project = "memcircuits"
author = "memcircuits developers"
copyright = "memcircuits developers"
try:
    from importlib.metadata import version as _version

    release = _version("memcircuits")
except Exception:  # not installed: read the package
    release = "0.1.0"
version = release

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

extensions = [
    "paramtable",
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    # MathJax served from the built site (_static/mathjax) instead of a CDN: the pages
    # render their equations offline and from a local ``file://`` build.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]

# -- MyST (Markdown pages) ----------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- API reference (autosummary + autodoc + napoleon) -------------------------------------
# ``api.rst`` lists the four packages with ``:recursive:``: the pages follow the package
# tree as it is when the docs are built, so modules added, split or renamed need no edit here.
autosummary_generate = True
autosummary_imported_members = False
# Package pages list their submodules (found by walking the package, whatever its
# ``__all__`` re-exports); module pages (``_templates/autosummary/module.rst``) document
# exactly what the module's ``__all__`` exports, as autodoc does by default.
autosummary_ignore_module_all = True
autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True  # show ``50 * Hz``, not the evaluated Quantity
autodoc_class_signature = "mixed"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_param = True
napoleon_use_rtype = True
napoleon_use_ivar = True
napoleon_preprocess_types = False
napoleon_attr_annotations = True
nitpicky = False
# Docstrings here refer to each other with short names (``:class:`SDM```); a short name
# that two modules define is resolved to the first, not reported.
suppress_warnings = ["ref.python"]

# -- Gallery of examples/ (sphinx-gallery) -------------------------------------------------
import gallery_argv  # noqa: E402  (docs/_ext, on the path above)

_run_examples = gallery_argv.mode() != "off"
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # every *.py in examples/ is rendered; only those matching this pattern are executed
    "filename_pattern": r"\.py$" if _run_examples else r"^$",
    "reset_argv": "gallery_argv.example_argv",
    "ignore_pattern": r"(__init__|_util\w*|conftest)\.py$",
    "plot_gallery": "True",
    "abort_on_example_error": _run_examples,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "show_memory": False,
}

# -- HTML -------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"memcircuits {release}"
html_static_path = ["_static"]
html_theme_options = {
    "source_repository": "",
    "navigation_with_keys": True,
}
mathjax3_config = {"tex": {"macros": {"ltp": r"\mathrm{ltp}", "ltd": r"\mathrm{ltd}"}}}
