"""The demo command runs end to end on the embedded digits."""

import json

from skdeepsparse.cli import main


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
