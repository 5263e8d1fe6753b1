"""The docs' parameter table is generated from the estimators: it must not go stale."""

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_vocabulary_page_is_current():
    spec = importlib.util.spec_from_file_location("make_vocabulary", DOCS / "make_vocabulary.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # render() also raises when a shared name is missing from an estimator.
    assert (DOCS / "vocabulary.rst").read_text() == mod.render(), (
        "docs/vocabulary.rst is stale: run python docs/make_vocabulary.py")
