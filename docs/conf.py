"""Sphinx configuration of the ceuskit documentation site (``make docs``).

The site is built from this tree's ``src/`` (not from whatever ceuskit is installed), with warnings as
errors.  Everything that shows a result computes it during the build: the tutorial runs the ``ceuskit``
commands it shows (``_ext/ceuskit_docs.py``), the definitions draw their figures from the simulator
(matplotlib's ``plot`` directive) and the gallery runs its examples (sphinx-gallery).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import ceuskit  # noqa: E402

project = "ceuskit"
author = "the ceuskit developers"
copyright = "the ceuskit developers, BSD-3-Clause"  # noqa: A001
version = release = ceuskit.__version__

extensions = [
    "ceuskit_docs",  # first: writes the API pages before autosummary reads them
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "sphinx_design",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "examples", "Thumbs.db", ".DS_Store"]
nitpicky = True
# No network here, so no intersphinx: names of other libraries and of the standard library stay plain text.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|pandas|pd|scipy|matplotlib|sqlalchemy|pydicom|PIL|typer|click|numba|dask|distributed"
               r"|fastapi|starlette|highdicom|pynetdicom|requests|nibabel|av|datetime|pathlib|collections|typing"
               r"|os|io|concurrent|threading|enum|contextlib|types|_io|_thread|abc|json|sqlite3|logging)\..*"),
    (r"py:.*", r"(Path|PathLike|Sequence|Mapping|Iterable|Iterator|Callable|Hashable|Any|ArrayLike|NDArray|Self"
               r"|DataFrame|Series|ndarray|Engine|Session|Dataset|Figure|Axes|datetime|date|timezone|Literal)"),
    (r"py:.*", r"(int|float|str|bool|bytes|dict|list|tuple|set|frozenset|object|None|type|complex|callable"
               r"|optional|default.*|array.*|array_like|iterable|sequence|mapping|path-like|file-like)"),
]

# -- narrative pages (MyST) -------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath", "amsmath", "deflist", "substitution"]
myst_heading_anchors = 3

# -- API reference ----------------------------------------------------------------------------------------
autosummary_generate = False  # the module pages are written by ceuskit_docs from each module's __all__
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# -- figures drawn during the build -----------------------------------------------------------------------
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.autolayout": True, "font.size": 9}
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\n"

# -- the gallery ------------------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 1,
    "first_notebook_cell": None,
}

# -- HTML -------------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"ceuskit {release}"
html_static_path = ["_static"]
html_css_files = ["ceuskit.css"]
html_show_sourcelink = False
html_theme_options = {
    "logo": {"text": "ceuskit"},
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
# pages without sub-pages need no section navigation
html_sidebars = {"index": [], "getting-started": [], "about": []}
