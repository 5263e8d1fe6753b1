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
# (sphinx-gallery writes sg_execution_times.rst at build time: run times, not figures)
PAGES = sorted(p for p in DOCS.glob("*.rst") if p.name != "sg_execution_times.rst") + [
    ROOT / "README.md"]

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


# Committed results files written before provenance was recorded (or by the
# application, which records hardware but no provenance), each with the command that
# would regenerate it. They cannot be regenerated in this round; forging a record
# is not an option. No new file may join this list: a results file written by
# ``benchmarks/_common.write_results`` (or a partial file of the claim scripts)
# carries its provenance.
_E = "benchmarks/evtimova2022/"
_F = "benchmarks/fallah2022/"
_L = "benchmarks/li2022/"
_G = "benchmarks/engineering/"
WITHOUT_PROVENANCE = {
    "barello2018/results/svae_unit_norm_long.json":
        "none: written by an older bench_svae_unit_norm.py whose options (--prior-scales, "
        "--skip-mnist) are gone; the nearest is `python benchmarks/barello2018/"
        "bench_svae_unit_norm.py --patches-train 40000 --seeds 0 --no-figures --tag _long`",
    "engineering/results/cpu_budget_tuning.json":
        f"python {_G}bench_cpu_budget_tuning.py",
    "engineering/results/demo/demo.json":
        f"skdeepsparse demo --output-dir {_G}results/demo",
    "engineering/results/run_all/results.json": f"python {_G}run_all.py",
    "engineering/results/spike_slab_speed.json": f"python {_G}bench_spike_slab_speed.py",
    "engineering/results/spike_slab_speed_steps.json":
        f"python {_G}bench_spike_slab_speed.py --steps-only --name spike_slab_speed_steps",
    "engineering/results/vdl_vs_sklearn.json": f"python {_G}bench_vdl_vs_sklearn.py",
    "evtimova2022/results/vdl_budget_mnist_VDL-NL.json":
        f"python {_E}bench_vdl_budget.py --models VDL-NL --tag _VDL-NL",
    "evtimova2022/results/vdl_budget_mnist_linear.json":
        f"python {_E}bench_vdl_budget.py --models SDL VDL --tag _linear",
    **{f"evtimova2022/results/vdl_claim_{ds}_s{s}.json":
       f"python {_E}bench_vdl_claim.py --dataset {ds} --seeds {s} --tag _s{s}"
       for ds in ("mnist", "fashion") for s in (0, 1, 2)},
    **{f"fallah2022/results/thresholded_vae_fashion_seed{s}.json":
       f"python {_F}bench_thresholded_vae_fashion.py --n-train 2000 --n-test 2000 --seed {s}"
       for s in (0, 1, 2)},
    "fallah2022/results/thresholded_vae_patches.json":
        f"python {_F}bench_thresholded_vae_patches.py",
    "fallah2022/results/thresholded_vae_probe_modes.json":
        f"python {_F}bench_thresholded_vae_probe_modes.py",
    "li2022/results/spike_slab.json": f"python {_L}bench_spike_slab.py",
    **{f"li2022/results/spike_slab_claims_s{s}.json":
       f"python {_L}bench_spike_slab_claims.py --n-train 3000 --n-test 1000 --epochs 8 "
       f"--warmup 2 --decay 0.5 --seeds {s} --name spike_slab_claims_s{s}" for s in (0, 1, 2)},
}
# Committed results written from a working tree whose package source differed from
# its commit (``source_modified``), with the command that would rewrite them clean.
FROM_MODIFIED_TREE = {
    "engineering/results/vdl_fit_speed.json": f"python {_G}bench_vdl_fit_speed.py",
    "engineering/results/vdl_inference_solver.json":
        f"python {_G}bench_vdl_inference_solver.py",
    "fallah2022/results/thresholded_vae_default_transform.json":
        f"python {_F}bench_thresholded_vae_default_transform.py",
    "fallah2022/results/thresholded_vae_probe_budget.json":
        f"python {_F}bench_thresholded_vae_probe_budget.py --jobs 2",
}
_RECORD = {"command", "source_hash", "git_commit", "source_modified", "date"}


def _results_json() -> list[Path]:
    return sorted(p for p in BENCHMARKS.glob("*/results/**/*.json"))


@pytest.mark.parametrize("path", _results_json(),
                         ids=lambda p: str(p.relative_to(BENCHMARKS)))
def test_every_results_file_carries_clean_provenance(path):
    name = str(path.relative_to(BENCHMARKS))
    data = json.loads(path.read_text())
    record = data.get("provenance") if isinstance(data, dict) else None
    if name in WITHOUT_PROVENANCE:
        assert record is None, f"{name} now has provenance: remove it from the exceptions"
        return
    assert record is not None, (
        f"{name} has no provenance: write it with benchmarks/_common.write_results "
        "(or add provenance() to the partial file)")
    assert _RECORD <= record.keys(), (name, sorted(_RECORD - record.keys()))
    if name in FROM_MODIFIED_TREE:
        assert record["source_modified"], f"{name} is now clean: remove it from the exceptions"
        return
    assert record["source_modified"] is False, (
        f"{name} was written from a modified package source; rerun it from a clean commit")


def test_the_exceptions_name_existing_files():
    for name in [*WITHOUT_PROVENANCE, *FROM_MODIFIED_TREE]:
        assert (BENCHMARKS / name).exists(), name


def test_claim_tables_record_the_files_they_were_judged_from():
    for path in sorted((BENCHMARKS / "claims").glob("*.json")):
        record = json.loads(path.read_text())["provenance"]
        assert record["command"].startswith("reproduce.py ")
        assert record["inputs"], path.name


def _git(cwd, *args) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_provenance_describes_the_imported_package_tree(tmp_path, monkeypatch):
    """The commit and ``source_modified`` come from the git tree of the package that was
    imported (a clean worktree on ``PYTHONPATH``), not from the benchmarks' checkout."""
    import skdeepsparse
    from skdeepsparse.app import cache

    spec = importlib.util.spec_from_file_location("_bench_common", BENCHMARKS / "_common.py")
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)

    repo = tmp_path / "tree"
    package = repo / "src" / "skdeepsparse"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q", str(repo))
    _git(repo, "add", "src")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "t")
    monkeypatch.setattr(skdeepsparse, "__file__", str(package / "__init__.py"))

    def record():
        monkeypatch.setattr(cache, "_SOURCE_HASH", None)  # hash the stand-in package
        return common.provenance()

    clean = record()
    assert clean["git_commit"] == _git(repo, "rev-parse", "HEAD")
    assert clean["git_commit"] != _git(ROOT, "rev-parse", "HEAD")
    assert clean["source_modified"] is False
    (package / "__init__.py").write_text("x = 2\n")
    edited = record()
    assert edited["source_modified"] is True
    assert edited["source_hash"] != clean["source_hash"]
    # An untracked package records no commit rather than its surroundings'.
    other = repo / "lib" / "skdeepsparse"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    monkeypatch.setattr(skdeepsparse, "__file__", str(other / "__init__.py"))
    assert record()["git_commit"] is None
