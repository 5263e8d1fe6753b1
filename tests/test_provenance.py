"""Every figure in the README and the docs comes from a committed results file.

A *figure* is a number in prose or in a table that reads as a measurement: a decimal
(``16.68``), or an integer with a unit (``94%``, ``148x``, ``12 s``, ``3 dB``, ``18
nats``). Parameter values, versions and equations are written as literals or math and
are not figures. A figure has a source when one of the results files that its page
cites (a path under ``benchmarks/``, such as ``benchmarks/li2022/results/X.md``,
or the bare name of a results file), or a
file the page includes, holds a number that rounds to it at the precision shown.
The claim tables of ``benchmarks/reproduce.py`` must also be current: rebuilt from
the committed results files they equal the committed ones, and the README's claims
table is the one rendered from them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
# Every committed results file: ``benchmarks/<folder>/results/`` and the claim tables.
RESULTS_FILES = sorted([*BENCHMARKS.glob("*/results/**/*"), *BENCHMARKS.glob("claims/*")])
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.glob("*.rst")) + [ROOT / "README.md"]

_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:e-?\d+)?")
# A figure: a decimal, or an integer followed by a unit.
_FIGURE = re.compile(
    r"(?<![\w.\-/])(\d+(?:,\d{3})*\.\d+|\d+(?:,\d{3})*(?=\s?(?:%|x\b|dB\b|s\b|ms\b|us\b|"
    r"nats\b|min\b)))(?![\w.]*\.\d)")


def _reproduce():
    spec = importlib.util.spec_from_file_location(
        "_reproduce", ROOT / "benchmarks" / "reproduce.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _prose(text: str, rst: bool) -> list[tuple[int, str]]:
    """The lines of a page with literals, math, code blocks and links removed."""
    out, skip_indent = [], None
    fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if not rst:
            if line.strip().startswith("```"):
                fence = not fence
                continue
            if fence:
                continue
        else:
            indent = len(line) - len(line.lstrip())
            if skip_indent is not None:
                if not line.strip() or indent > skip_indent:
                    continue
                skip_indent = None
            stripped = line.strip()
            if (stripped.startswith((".. code-block", ".. math", ".. image", ".. figure",
                                     ".. literalinclude", ".. testcode", ".. doctest",
                                     ".. include", ".. list-table", ".. results-table",
                                     ".. _"))
                    or stripped.endswith("::")):
                # A directive's own options and body are indented below it; a list-table
                # body is content, so only its options are skipped.
                if stripped.startswith(".. list-table"):
                    continue
                skip_indent = indent
                if stripped.endswith("::") and not stripped.startswith(".."):
                    line = line[: line.rindex("::")]
                else:
                    continue
        line = re.sub(r"``[^`]*``", " ", line)
        line = re.sub(r":\w+:`[^`]*`", " ", line)
        line = re.sub(r"`[^`]*`_*", " ", line)
        line = re.sub(r"\$[^$]*\$", " ", line)
        line = re.sub(r"\]\([^)]*\)", "]", line)
        line = re.sub(r"https?://\S+", " ", line)
        line = re.sub(r"arXiv:?\s*\d{4}\.\d{4,5}", " ", line)
        out.append((number, line))
    return out


def _cited(text: str) -> set[Path]:
    """Results files the page names (paths, or bare names of results files)."""
    names = set(re.findall(r"benchmarks/([\w./-]+\.(?:md|json))", text))
    names |= {n + ".md" for n in re.findall(r"benchmarks/([\w./-]+)\.\{json,md\}", text)}
    for p in RESULTS_FILES:
        if p.suffix in (".md", ".json") and re.search(
                rf"(?<![\w/]){re.escape(p.name)}", text):
            names.add(str(p.relative_to(BENCHMARKS)))
    files = set()
    for name in names:
        path = BENCHMARKS / name
        if path.exists():
            files.add(path)
            files.add(path.with_suffix(".json" if path.suffix == ".md" else ".md"))
    return {f for f in files if f.exists()}


def _source_numbers(files) -> list[Decimal]:
    nums = []
    for f in files:
        for tok in _NUMBER.findall(f.read_text()):
            try:
                d = Decimal(tok.replace(",", ""))
            except InvalidOperation:
                continue
            # Hex hashes contain tokens like "3e1234567": not figures, and too big to scale.
            if abs(d.adjusted()) <= 30:
                nums.append(d)
    return nums


def _matches(figure: str, sources: list[Decimal]) -> bool:
    value = Decimal(figure.replace(",", ""))
    places = -value.as_tuple().exponent if "." in figure else 0
    quantum = Decimal(1).scaleb(-places)
    for s in sources:
        for candidate in (s, abs(s), s * 100, s / 100):
            for mode in (ROUND_HALF_UP, ROUND_HALF_EVEN):
                try:
                    if candidate.quantize(quantum, rounding=mode) == value:
                        return True
                except InvalidOperation:  # too many digits for the context: not a match
                    break
    return False


def _unsourced(page: Path) -> list[str]:
    text = page.read_text()
    includes = [(page.parent / m).resolve()
                for m in re.findall(r"\.\. (?:include|results-table):: (\S+)", text)]
    sources = _source_numbers(_cited(text) | {p for p in includes if p.exists()})
    sources = sorted(set(sources))
    missing = []
    for number, line in _prose(text, page.suffix == ".rst"):
        for m in _FIGURE.finditer(line):
            if not _matches(m.group(1), sources):
                missing.append(f"{page.name}:{number}: {m.group(1)}  <- {line.strip()[:90]}")
    return missing


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_figure_has_a_source(page):
    missing = _unsourced(page)
    assert not missing, (
        "figures with no source in the results files this page cites (cite the file, "
        "or write parameter values as literals):\n" + "\n".join(missing))


def test_the_check_catches_an_unsourced_figure(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text("We measured 16.68 dB at 94.0% zeros (``benchmarks/evtimova2022/results/"
                    "vdl_collapse.md``), and 123.45 dB elsewhere; ``0.77`` is a value.\n")
    missing = _unsourced(page)
    assert [m.split(": ")[1].split()[0] for m in missing] == ["16.68", "94.0", "123.45"]


def test_a_cited_figure_is_found(tmp_path):
    row = json.loads((BENCHMARKS / "evtimova2022" / "results" / "vdl_collapse.json")
                     .read_text())["rows"][0]
    page = tmp_path / "page.rst"
    page.write_text(f"VDL reaches {row['psnr_db']:.2f} dB at {row['pct_zeros']:.1f}% zeros "
                    "(``benchmarks/evtimova2022/results/vdl_collapse.md``).\n")
    assert _unsourced(page) == []


def test_claim_tables_are_current():
    reproduce = _reproduce()
    for key, paper in reproduce.PAPERS.items():
        committed = json.loads((BENCHMARKS / "claims" / f"{key}.json").read_text())
        for claim, row in zip(paper.claims, committed["claims"], strict=True):
            fresh = reproduce.judge(claim, reproduce.paper_results(reproduce.COMMITTED, key))
            assert row["claim"] == claim.key
            assert {k: row[k] for k in fresh} == fresh, f"{key}/{claim.key} is stale"


def test_readme_claims_table_matches_the_docs():
    reproduce = _reproduce()
    text = (ROOT / "README.md").read_text()
    start = text.index(reproduce.README_START) + len(reproduce.README_START)
    end = text.index(reproduce.README_END)
    assert text[start:end].strip() == reproduce.readme_table(
        reproduce.committed_tables()).strip()
