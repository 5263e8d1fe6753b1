"""The registry of estimators and their presets."""

import pytest
from sklearn.base import BaseEstimator

import skdeepsparse
from skdeepsparse import registry

# The library presets every estimator has; the application's own (demo, benchmark
# smoke and full budgets) are in skdeepsparse.app.presets.
REQUIRED = ("test", "benchmark_cpu")
APP_REQUIRED = ("demo", "demo_smoke", "benchmark_smoke", "benchmark_full")


def test_every_exported_estimator_is_registered():
    exported = {n for n in skdeepsparse.__all__
                if isinstance(getattr(skdeepsparse, n), type)
                and issubclass(getattr(skdeepsparse, n), BaseEstimator)}
    assert exported == set(registry.ESTIMATORS)
    for name, entry in registry.ESTIMATORS.items():
        assert entry.cls is getattr(skdeepsparse, name)


@pytest.mark.parametrize("name", list(registry.ESTIMATORS))
def test_every_preset_is_valid(name):
    entry = registry.ESTIMATORS[name]
    presets = registry.presets(name)
    assert set(REQUIRED) <= set(presets)
    for preset in presets:
        est = registry.make(name, preset)
        est._validate_params()
    params = entry.cls().get_params()
    if entry.sweep_param is not None:
        assert entry.sweep_param in params and len(entry.sweep_values) >= 2
        assert list(entry.sweep_values) == sorted(entry.sweep_values)
        for v in entry.sweep_values:
            registry.make(name, "benchmark_cpu", **{entry.sweep_param: v},
                          **entry.sweep_fixed)._validate_params()
    else:
        assert not entry.sweep_values and entry.note


def test_make_overrides_and_copies():
    est = registry.make("VarianceRegDictionaryLearner", "test", n_components=7)
    assert est.n_components == 7
    p = registry.presets("VarianceRegDictionaryLearner")
    p["test"]["n_components"] = 99
    assert registry.presets("VarianceRegDictionaryLearner")["test"]["n_components"] != 99
    assert set(registry.test_presets("VarianceRegDictionaryLearner")) == {"test", "test_mlp"}


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown estimator 'LDA'"):
        registry.make("LDA")
    with pytest.raises(ValueError, match="no preset 'huge'"):
        registry.make("SVAETransformer", "huge")


@pytest.mark.parametrize("name", list(registry.ESTIMATORS))
def test_application_presets_live_in_the_application(name):
    """The demo and benchmark presets are the application's: every estimator has
    them there, they build valid estimators, and the registry keeps none of them."""
    from skdeepsparse.app import presets as app

    assert not set(APP_REQUIRED) & set(registry.presets(name))
    for preset in APP_REQUIRED:
        est = app.make(name, preset)
        est._validate_params()
        assert est.get_params()["n_components"] == app.preset_params(name, preset)[
            "n_components"]
    # the cpu budget is the registry's own preset
    assert app.preset_params(name, "benchmark_cpu") == registry.presets(name)["benchmark_cpu"]
    with pytest.raises(ValueError, match="no preset 'huge'"):
        app.preset_params(name, "huge")
