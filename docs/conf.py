"""Sphinx configuration for the skdeepsparse documentation."""

import os
import sys
from pathlib import Path

import skdeepsparse

# Local extensions: ``results-table`` shows tables of committed results files,
# ``check_anchors`` fails the build on a link to a missing anchor, and
# ``gallery_order`` sorts the gallery.
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "skdeepsparse"
author = "the skdeepsparse developers"
copyright = "2026, the skdeepsparse developers"
release = skdeepsparse.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "results_table",
    "check_anchors",  # every #anchor of a local link must exist (docs/_ext)
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
autodoc_default_options = {"members": False, "inherited-members": False}
# Types are documented in the numpydoc sections; signatures stay plain.
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# One page per class with a table of its methods, one page per method
# (docs/_templates/autosummary/).
templates_path = ["_templates"]
exclude_patterns = ["_build", "_bench", "_inventories", "_ext"]
html_theme = "alabaster"
html_static_path = []

# Every cross-reference must resolve: -W turns a dangling one into an error.
nitpicky = True
# Links into the documentation of the libraries the estimators sit on. Each
# project is tried online first, then through the committed subset of its
# inventory in docs/_inventories/ (written by make_inventories.py), so that
# the build works, and stays strict, without network access.
_INV = "_inventories/{}.inv"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", (None, _INV.format("python"))),
    "numpy": ("https://numpy.org/doc/stable/", (None, _INV.format("numpy"))),
    "sklearn": ("https://scikit-learn.org/stable/", (None, _INV.format("sklearn"))),
    "torch": ("https://docs.pytorch.org/docs/stable/", (None, _INV.format("torch"))),
    "joblib": ("https://joblib.readthedocs.io/en/stable/", (None, _INV.format("joblib"))),
    "pandas": ("https://pandas.pydata.org/docs/", (None, _INV.format("pandas"))),
}
intersphinx_timeout = 10

# The gallery: examples/ rendered with their output and figures into
# docs/auto_examples/, which is committed. sphinx-gallery re-runs an example
# only when its source differs from the copy there (the .md5 files), so an
# unchanged gallery costs no run time; a changed example runs in full (minutes)
# and its new output should be committed (examples/GALLERY_HEADER.rst says how).
# SKDEEPSPARSE_GALLERY_RUN=0 renders changed examples without running them.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example, not only plot_*.py
    "within_subsection_order": "gallery_order.ExampleOrder",
    "plot_gallery": os.environ.get("SKDEEPSPARSE_GALLERY_RUN", "1") != "0",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    # No sg_execution_times.rst: it would change with every build; each page
    # states its own run time.
    "write_computation_times": False,
}


def _write_benchmark_results(app):
    """Render benchmarks/engineering/results/run_all/results.json into the benchmark page.

    The numbers on the site are then exactly those of the committed run. Image
    paths are relative to ``benchmarks.rst``, the page that includes the file.
    """
    import json
    from pathlib import Path

    from skdeepsparse.app.report import render_rst

    docs = Path(app.srcdir)
    run = docs.parent / "benchmarks" / "results" / "benchmark"
    target = docs / "_bench" / "results.rst"
    target.parent.mkdir(exist_ok=True)
    if (run / "results.json").exists():
        payload = json.loads((run / "results.json").read_text())
        text = render_rst(payload, "../benchmarks/engineering/results/run_all")
    else:
        text = "No benchmark run is committed yet: run ``python benchmarks/engineering/run_all.py``.\n"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def _write_claims(app):
    """Render the committed claim tables (benchmarks/claims/*.json) for claims.rst."""
    import importlib.util
    from pathlib import Path

    docs = Path(app.srcdir)
    spec = importlib.util.spec_from_file_location(
        "_reproduce", docs.parent / "benchmarks" / "reproduce.py")
    reproduce = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = reproduce  # dataclasses look their module up there
    spec.loader.exec_module(reproduce)
    text = reproduce.render_rst(reproduce.committed_tables())
    target = docs / "_bench" / "claims.rst"
    target.parent.mkdir(exist_ok=True)
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def setup(app):
    app.connect("builder-inited", _write_benchmark_results)
    app.connect("builder-inited", _write_claims)
