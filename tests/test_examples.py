"""Examples run end to end in their reduced mode."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_vdl_low_data_example(data_home, tmp_path, monkeypatch):
    monkeypatch.setenv("SKDEEPSPARSE_DATA", str(data_home))
    out = tmp_path / "atoms.png"
    monkeypatch.setattr(sys, "argv", ["x", "--quick", "--output", str(out)])
    ns = runpy.run_path(str(EXAMPLES / "vdl_mnist_low_data.py"))
    codes, pixels = ns["main"](["--quick", "--output", str(out)])
    assert out.stat().st_size > 1000
    assert codes[10]["mean"] > 0.5 and pixels[10]["mean"] > 0.5
