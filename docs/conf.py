"""Sphinx configuration for the skdeepsparse documentation."""

import skdeepsparse

project = "skdeepsparse"
author = "the skdeepsparse developers"
copyright = "2026, the skdeepsparse developers"
release = skdeepsparse.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autosummary_generate = True
autodoc_default_options = {"members": False, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
templates_path = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
# The model pages quote formulas with unicode; keep the build strict otherwise.
nitpicky = False
