"""The evaluation suite behind ``skdeepsparse benchmark``: report, cache, resume, errors."""

import io
import json

import numpy as np
import pytest

from skdeepsparse.app import runner as bm
from skdeepsparse.app.report import render_rst
from skdeepsparse.cli import main
from skdeepsparse.metrics import psnr


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Missing data are never downloaded in these tests: the mirrors 'refuse' at once."""
    import skdeepsparse.datasets as ds

    def refuse(*args, **kwargs):
        raise OSError("no network in the tests")

    monkeypatch.setattr(ds, "_urlopen", refuse, raising=False)


# Fast, real-data subset: the scikit-learn peers and raw pixels on the quick budget.
_FAST = ["raw pixels", "PCA", "MiniBatchDictionaryLearning"]


def _run(data_home, out, **kw):
    kw.setdefault("models", _FAST)
    kw.setdefault("datasets", ["mnist"])
    return bm.run_benchmark(data_home, out, budget="quick", progress=False,
                            stream=io.StringIO(), **kw)


def test_report_json_and_plots(data_home, tmp_path):
    payload = _run(data_home, tmp_path)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["results"].keys() == payload["results"].keys() == {"mnist"}
    rows = on_disk["results"]["mnist"]["main"]
    assert list(rows) == _FAST
    protocol = on_disk["protocol"]
    for row in rows.values():
        assert set(row["probe"]) == {str(k) for k in protocol["labels"]}
        for probe in row["probe"].values():
            assert len(probe["scores"]) == protocol["n_seeds"]
            assert 0.0 < probe["mean"] <= 1.0
        assert set(row["denoise"]) == {"0.3", "0.5"}
        assert row["fit_s"] >= 0 and row["transform_s"] >= 0
    # the identity's reconstruction is exact, a 128-atom dictionary's is not
    assert rows["raw pixels"]["psnr_db"] > rows["MiniBatchDictionaryLearning"]["psnr_db"]
    # denoising must beat the noisy input for the learned models
    for name in ("PCA", "MiniBatchDictionaryLearning"):
        d = rows[name]["denoise"]["0.5"]
        assert d["psnr_denoised"] > d["psnr_noisy"] + 3
    # more L1 weight, more zeros: the sweep is ordered by alpha
    sweep = on_disk["results"]["mnist"]["sweep"]["MiniBatchDictionaryLearning"]
    assert [p["value"] for p in sweep] == [0.25, 2.0]
    assert sweep[1]["pct_zeros"] > sweep[0]["pct_zeros"]
    report = (tmp_path / "report.md").read_text()
    assert "## MNIST" in report and "| PCA |" in report and "probe 10/class" in report
    for png in ("mnist_psnr_vs_zeros.png", "mnist_probe_accuracy.png"):
        assert (tmp_path / png).stat().st_size > 5000
        assert f"]({png})" in report
    # the docs page renders the same numbers as reStructuredText
    rst = render_rst(on_disk, "run")
    assert ".. list-table:: MNIST" in rst and ".. image:: run/mnist_probe_accuracy.png" in rst
    assert f"{rows['PCA']['psnr_db']:.2f}" in rst and f"{rows['PCA']['psnr_db']:.2f}" in report


def test_rerun_is_served_from_cache(data_home, tmp_path, monkeypatch):
    first = _run(data_home, tmp_path, models=["PCA"])

    def no_fit(*args, **kwargs):
        raise AssertionError("a cached unit was recomputed")

    monkeypatch.setattr(bm, "_main_unit", no_fit)
    second = _run(data_home, tmp_path, models=["PCA"])
    assert second["units_computed"] == 0 and second["units"] == 1
    assert second["results"] == first["results"]


def test_interrupted_run_resumes(data_home, tmp_path, monkeypatch):
    real, calls = bm._main_unit, []

    def interrupt_second(est, data, protocol):
        calls.append(type(est).__name__)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(est, data, protocol)

    monkeypatch.setattr(bm, "_main_unit", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        _run(data_home, tmp_path, models=["raw pixels", "PCA"], sweep=False)
    assert not (tmp_path / "results.json").exists()
    monkeypatch.setattr(bm, "_main_unit", real)
    resumed = _run(data_home, tmp_path, models=["raw pixels", "PCA"], sweep=False)
    # raw pixels finished before the interrupt; only PCA is fitted again
    assert resumed["units_computed"] == 1 and resumed["units"] == 2
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_changed_configuration_is_not_served_stale(data_home, tmp_path):
    _run(data_home, tmp_path, models=["PCA"])
    again = _run(data_home, tmp_path, models=["PCA"], transform_repeats=1)
    assert again["units_computed"] == again["units"] == 1


def test_no_cache_writes_nothing(data_home, tmp_path):
    _run(data_home, tmp_path, models=["raw pixels"], use_cache=False)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"models": ["PCA", "LDA"]}, "unknown model"),
        ({"datasets": ["cifar10"]}, "datasets must be among"),
        ({"datasets": []}, "datasets must be among"),
        ({"fit_repeats": 0}, "fit_repeats must be an integer >= 1"),
        ({"transform_repeats": -2}, "transform_repeats must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bm.run_benchmark(None, tmp_path / "out", budget="quick", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()  # rejected before anything is written


def test_unknown_budget(tmp_path):
    with pytest.raises(ValueError, match="budget must be one of"):
        bm.benchmark_models("huge")


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="mnist"):
        bm.run_benchmark(tmp_path / "nowhere", tmp_path / "out", budget="quick",
                         models=["PCA"], progress=False)
    assert not (tmp_path / "out").exists()  # no empty output folders


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ValueError) as exc:
        bm.run_benchmark(tmp_path / "nowhere", tmp_path / "out", budget="quick",
                         models=["LDA"], device="tpu", fit_repeats=0, progress=False)
    errors = exc.value.errors
    assert len(errors) == 5, errors  # model, fit_repeats, device, two datasets
    assert all("\n" not in e for e in errors)
    assert not (tmp_path / "out").exists()


def _no_unit(*args, **kwargs):
    raise AssertionError("a unit was computed before the arguments were validated")


@pytest.mark.parametrize("device", ["tpu", "meta", "xla", "cuda:99", "cpu:x"])
def test_cli_bad_device_fails_before_any_unit(data_home, tmp_path, capsys, monkeypatch, device):
    monkeypatch.setattr(bm, "_main_unit", _no_unit)
    monkeypatch.setattr(bm, "_sweep_unit", _no_unit)
    out = tmp_path / "out"
    code = main(["benchmark", "--quick", "--data-home", str(data_home), "--output-dir", str(out),
                 "--datasets", "mnist", "--models", "raw pixels", "PCA",
                 "VarianceRegDictionaryLearner", "--device", device, "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and f"device={device!r}" in err
    assert not out.exists()  # no folder, no cache unit


def test_cli_output_dir_that_is_a_file(data_home, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bm, "_main_unit", _no_unit)
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    for out in (target, target / "sub"):
        code = main(["benchmark", "--quick", "--data-home", str(data_home), "--output-dir",
                     str(out), "--datasets", "mnist", "--models", "PCA", "--no-progress"])
        assert code == 2
        err = capsys.readouterr().err
        assert "output_dir" in err and "Traceback" not in err
    assert target.read_text() == "keep me"


def test_cli_missing_data_folder(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["benchmark", "--quick", "--data-home", str(tmp_path / "nowhere"),
                 "--output-dir", str(out), "--models", "PCA", "--no-progress"])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2  # one per dataset
    assert all(line.startswith("skdeepsparse benchmark: error: ") for line in lines)
    assert "mnist" in lines[0] and "fashion_mnist" in lines[1]
    assert not out.exists()
    with pytest.raises(ValueError, match="mnist"):
        main(["--debug", "benchmark", "--quick", "--data-home", str(tmp_path / "nowhere"),
              "--output-dir", str(out), "--models", "PCA", "--no-progress"])
    assert not out.exists()


def test_cli_error_while_running_is_one_line(data_home, tmp_path, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("the unit\nfailed")

    monkeypatch.setattr(bm, "_main_unit", boom)
    argv = ["benchmark", "--quick", "--data-home", str(data_home), "--output-dir",
            str(tmp_path), "--datasets", "mnist", "--models", "PCA", "--no-progress",
            "--no-sweep"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: the unit failed" in err and "--debug" in err
    with pytest.raises(RuntimeError, match="failed"):
        main([*argv, "--debug"])


def test_full_budget_uses_paper_sizes_and_valid_parameters():
    """``--full`` builds the papers' configurations; every one passes parameter validation."""
    specs = bm.benchmark_models("full", device="cpu")
    built = {name: spec.build() for name, spec in specs.items()}
    for name, est in built.items():
        if hasattr(est, "_validate_params"):
            est._validate_params()
        for v in specs[name].sweep_values:
            specs[name].build(**{specs[name].sweep_param: v, **specs[name].sweep_fixed})
    assert built["VarianceRegDictionaryLearner"].max_epochs == 200
    assert built["ThresholdedVAE"].max_epochs == 300
    assert built["ThresholdedVAE"].n_components == 256
    assert built["SpikeSlabGenerator"].n_components == 800
    assert built["SpikeSlabGenerator"].max_epochs == 100
    assert built["SVAETransformer"].n_components == 169
    assert bm.BUDGETS["full"]["n_train"] == 60_000


def test_cli_benchmark(data_home, tmp_path, capsys):
    code = main(["benchmark", "--quick", "--data-home", str(data_home), "--output-dir",
                 str(tmp_path), "--datasets", "mnist", "--models", "PCA", "--no-sweep",
                 "--no-progress"])
    assert code == 0
    assert "| PCA |" in capsys.readouterr().out
    assert json.loads((tmp_path / "results.json").read_text())["protocol"]["budget"] == "quick"


@pytest.mark.slow
def test_every_model_on_both_datasets(data_home, tmp_path):
    """The whole quick suite: every estimator fits, transforms and is scored on both datasets."""
    payload = bm.run_benchmark(data_home, tmp_path, budget="quick", progress=False,
                               stream=io.StringIO())
    names = list(bm.benchmark_models("quick"))
    for ds in bm.DATASETS:
        _, _, Xt, _ = bm.load(ds, data_home, 1, bm.BUDGETS["quick"]["n_test"])
        zero_image_psnr = psnr(Xt, np.zeros_like(Xt))
        rows = payload["results"][ds]["main"]
        assert list(rows) == names
        for name, row in rows.items():
            assert 0 <= row["pct_zeros"] <= 100
            assert row["active_components"] >= 1
            if name != "raw pixels":
                # even one epoch on 600 images beats reconstructing nothing
                assert row["psnr_db"] > zero_image_psnr, name
        swept = payload["results"][ds]["sweep"]
        assert set(swept) == {n for n, s in bm.benchmark_models("quick").items()
                              if s.sweep_param}
    report = (tmp_path / "report.md").read_text()
    assert "## MNIST" in report and "## Fashion-MNIST" in report


def test_presets_come_from_the_registry():
    """Every registered estimator is in the suite with its preset and sweep."""
    from skdeepsparse import registry
    from skdeepsparse.app import presets as bm_presets

    for budget, preset in (("quick", "benchmark_smoke"), ("cpu", "benchmark_cpu"),
                           ("full", "benchmark_full")):
        specs = bm.benchmark_models(budget, device="cpu")
        for name, entry in registry.ESTIMATORS.items():
            assert specs[name].sweep_param == entry.sweep_param
            expected = {**bm_presets.preset_params(name, preset), "device": "cpu"}
            params = specs[name].build().get_params(deep=False)
            assert {k: params[k] for k in expected} == expected, (name, budget)


def test_cache_key_changes_with_everything_that_determines_a_result(monkeypatch):
    import numpy as np

    from skdeepsparse import VarianceRegDictionaryLearner
    from skdeepsparse.app import cache

    est = VarianceRegDictionaryLearner(n_components=4, device="cpu")
    X = np.zeros((3, 4), dtype=np.float32)
    base = cache.unit_key("main", "mnist", "VDL", est, {"n": 1}, cache.data_fingerprint([X]))
    assert base == cache.unit_key("main", "mnist", "VDL", est, {"n": 1},
                                  cache.data_fingerprint([X.copy()]))
    others = [
        cache.unit_key("main", "mnist", "VDL", est, {"n": 1},
                       cache.data_fingerprint([X.astype(np.float64)])),   # dtype
        cache.unit_key("main", "mnist", "VDL", est, {"n": 1},
                       cache.data_fingerprint([X + 1])),                  # data
        cache.unit_key("main", "mnist", "VDL", est, {"n": 2},
                       cache.data_fingerprint([X])),                      # protocol
        cache.unit_key("main", "mnist", "VDL", est.set_params(n_components=5), {"n": 1},
                       cache.data_fingerprint([X])),                      # configuration
    ]
    est.set_params(n_components=4)
    monkeypatch.setattr(cache, "_device_kind", lambda e: "cuda")
    others.append(cache.unit_key("main", "mnist", "VDL", est, {"n": 1},
                                 cache.data_fingerprint([X])))            # device kind
    monkeypatch.setattr(cache, "_device_kind", lambda e: "cpu")
    monkeypatch.setattr(cache, "_SOURCE_HASH", "another version of the code")
    others.append(cache.unit_key("main", "mnist", "VDL", est, {"n": 1},
                                 cache.data_fingerprint([X])))            # source
    assert len({base, *others}) == len(others) + 1


def test_source_hash_reads_the_package_source(tmp_path, monkeypatch):
    from skdeepsparse.app import cache

    monkeypatch.setattr(cache, "_SOURCE_HASH", None)
    first = cache.source_hash()
    assert len(first) == 64 and first == cache.source_hash()
