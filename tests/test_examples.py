"""Examples run end to end in their reduced mode."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_vdl_low_data_example(data_home, tmp_path, monkeypatch):
    monkeypatch.setenv("SKDEEPSPARSE_DATA", str(data_home))
    out = tmp_path / "atoms.png"
    codes, pixels = _run("vdl_mnist_low_data", ["--quick", "--output", str(out)])
    assert out.stat().st_size > 1000
    assert codes[10]["mean"] > 0.5 and pixels[10]["mean"] > 0.5


def _run(name, argv):
    ns = runpy.run_path(str(EXAMPLES / f"{name}.py"))
    return ns["main"](argv)


@pytest.mark.slow
def test_gridsearch_example():
    search, acc = _run("gridsearch_pipeline", ["--quick"])
    assert acc > 0.8 and search.best_params_


@pytest.mark.slow
def test_denoising_example(data_home, tmp_path, monkeypatch):
    monkeypatch.setenv("SKDEEPSPARSE_DATA", str(data_home))
    res = _run("denoising", ["--quick", "--output", str(tmp_path / "d.png")])
    for scores in res.values():
        assert scores[0.5]["psnr_denoised"] > scores[0.5]["psnr_noisy"] + 3
    assert (tmp_path / "d.png").exists()


@pytest.mark.slow
def test_natural_patches_example(data_home, tmp_path, monkeypatch):
    monkeypatch.setenv("SKDEEPSPARSE_DATA", str(data_home))
    fitted = _run("natural_image_patches", ["--quick", "--output", str(tmp_path / "p.png")])
    unit = fitted[True].components_
    assert abs(float((unit**2).sum(1).mean()) - 1.0) < 1e-4
    assert (tmp_path / "p.png").exists()


@pytest.mark.slow
def test_compare_dictionaries_example(data_home, tmp_path, monkeypatch):
    monkeypatch.setenv("SKDEEPSPARSE_DATA", str(data_home))
    summary = _run("compare_dictionaries", ["--quick", "--output", str(tmp_path / "c.png")])
    assert set(summary) == {"MiniBatchDictionaryLearning", "VarianceRegDictionaryLearner",
                            "SVAETransformer", "ThresholdedVAE"}
    assert all(v["psnr_db"] > 12 for v in summary.values())
