"""The ``skdeepsparse`` command, and the application's separation from the library."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import skdeepsparse
from skdeepsparse.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| model |" in out and "VarianceRegDictionaryLearner" in out
    rows = json.loads((tmp_path / "demo.json").read_text())
    names = [r["model"] for r in rows]
    assert "raw pixels" in names and "MiniBatchDictionaryLearning (64)" in names
    for r in rows:
        assert 0 <= r["pct_zeros"] <= 100 and 0 < r["probe10_mean"] <= 1
    assert (tmp_path / "atoms.png").stat().st_size > 1000


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"skdeepsparse {skdeepsparse.__version__}"


def test_help_and_version_import_no_torch_nor_sklearn():
    """``skdeepsparse --help`` / ``--version`` answer without the heavy imports."""
    code = (
        "import sys\n"
        "from skdeepsparse.cli import main\n"
        "for argv in (['--help'], ['--version'], ['benchmark', '--help'], ['demo', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, argv\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert "HEAVY []" in out, out[-300:]


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "skdeepsparse", "--help"], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    assert "demo" in out and "benchmark" in out and "--version" in out


def _imports(path: Path):
    """(module, level, names) of every import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0, []
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, [a.name for a in node.names]


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "skdeepsparse" / "app").glob("*.py")) + [ROOT / "benchmarks" / "_common.py",
                                                            ROOT / "benchmarks" / "run_all.py"],
    ids=lambda p: p.name,
)
def test_application_uses_only_public_api(path):
    """The application imports public names only: no ``skdeepsparse._*`` module or
    name, and no relative import reaching out of ``skdeepsparse.app``."""
    for module, level, names in _imports(path):
        if level > 1:
            pytest.fail(f"{path.name}: relative import out of the app package ({module})")
        parts = module.split(".")
        if level == 0 and parts[0] != "skdeepsparse":
            continue
        assert not any(p.startswith("_") for p in parts if p != "__future__"), (path, module)
        assert not any(n.startswith("_") and not n.endswith("__") for n in names), (
            path, module, names)
    # no private attribute of an estimator either (`est._something`; the app's own
    # classes may use theirs through `self`)
    tree = ast.parse(path.read_text())
    private = sorted({node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                      and node.attr.startswith("_") and not node.attr.startswith("__")
                      and not (isinstance(node.value, ast.Name) and node.value.id == "self")})
    assert not private, (path.name, private)
