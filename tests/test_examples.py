"""Examples run end to end in their smoke size (SKDEEPSPARSE_EXAMPLE_SIZE=tiny).

The gallery (docs/auto_examples) holds the output of their full-size runs; a
test checks that it was regenerated after every change to an example.
"""

import hashlib
import runpy
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GALLERY = ROOT / "docs" / "auto_examples"


@pytest.fixture
def run(data_home, tmp_path, monkeypatch):
    """Run an example as a script, tiny, with its files in tmp_path; return its globals."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SKDEEPSPARSE_DATA", str(data_home))
    monkeypatch.setenv("SKDEEPSPARSE_EXAMPLE_SIZE", "tiny")
    monkeypatch.setenv("SKDEEPSPARSE_OUTPUT", str(tmp_path / "out"))
    monkeypatch.chdir(tmp_path)  # anything written outside the output folder lands here

    def _run(name):
        ns = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")
        plt.close("all")
        assert {p.name for p in tmp_path.iterdir()} <= {"out"}, "wrote outside its folder"
        return ns

    from skdeepsparse import get_config, set_config

    before = get_config()
    yield _run
    set_config(**before)


def test_low_data_evaluation(run, capsys):
    ns = run("low_data_evaluation")
    frame = ns["frame"]
    assert frame.estimator.unique().tolist() == ["pixels", "VDL", "SVAE", "thresholded VAE",
                                                 "spike-and-slab"]
    assert len(frame) == 5 * 2 * 2 and frame.accuracy.between(0, 1).all()
    pix = frame[frame.estimator == "pixels"].groupby("n_per_class").accuracy.mean()
    assert pix[5] > 0.5  # raw pixels with 5 labels a class: far above chance
    out = capsys.readouterr().out
    assert "n_per_class" in out and "results saved in" in out
    assert {p.name for p in (Path(ns["OUTPUT"])).iterdir()} == {
        "low_data_evaluation.csv", "low_data_evaluation.png"}


def test_gridsearch_example(run):
    ns = run("gridsearch_pipeline")
    assert ns["acc"] > 0.8 and ns["search"].best_params_


def test_denoising_example(run):
    ns = run("denoising")
    for scores in ns["results"].values():
        assert np.isfinite(scores[0.5]["psnr_denoised"])
    assert (Path(ns["OUTPUT"]) / "denoising.png").stat().st_size > 1000


def test_natural_patches_example(run):
    ns = run("natural_image_patches")
    unit = ns["fitted"][1.0].components_
    np.testing.assert_allclose((unit**2).sum(1), 1.0, rtol=1e-4)
    assert (Path(ns["OUTPUT"]) / "patch_filters.png").exists()


def test_compare_dictionaries_example(run):
    ns = run("compare_dictionaries")
    assert set(ns["summary"]) == {"MiniBatchDictionaryLearning", "VarianceRegDictionaryLearner",
                                  "SVAETransformer", "ThresholdedVAE"}
    assert all(np.isfinite(v["psnr_db"]) for v in ns["summary"].values())


def test_every_example_is_tested_and_in_the_gallery():
    examples = sorted(p.name for p in EXAMPLES.glob("*.py"))
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    assert examples, "no examples found"
    for name in examples:
        # each example is run by a test above (named after it, or its first word)
        assert any(t.startswith(Path(name).stem.split("_")[0]) for t in tested), name
        copy = GALLERY / name
        how = "regenerate it (examples/GALLERY_HEADER.rst says how)"
        assert copy.with_suffix(".rst").exists(), f"{name} is not in the gallery: {how}"
        md5 = hashlib.md5((EXAMPLES / name).read_text(encoding="utf-8").encode()).hexdigest()
        assert Path(f"{copy}.md5").read_text() == md5, (
            f"the gallery's output of {name} is stale: {how}")
