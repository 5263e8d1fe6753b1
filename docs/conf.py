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
exclude_patterns = ["_build", "_bench"]
html_theme = "alabaster"
html_static_path = []
# The model pages quote formulas with unicode; keep the build strict otherwise.
nitpicky = False


def _write_benchmark_results(app):
    """Render benchmarks/results/benchmark/results.json into the benchmark page.

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
        text = render_rst(payload, "../benchmarks/results/benchmark")
    else:
        text = "No benchmark run is committed yet: run ``python benchmarks/run_all.py``.\n"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def setup(app):
    app.connect("builder-inited", _write_benchmark_results)
