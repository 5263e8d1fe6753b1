"""The post-fit collapse check (skdeepsparse._diagnostics)."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skdeepsparse import ThresholdedVAE, VarianceRegDictionaryLearner, config_context
from skdeepsparse._diagnostics import (
    _ADVICE,
    _MIN_CHECK_ROWS,
    _MIN_CHECK_STEPS,
    collapse_report,
    warn_if_collapsed,
)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:600] / 16.0


class _FewLatents(TransformerMixin, BaseEstimator):
    """Codes with ``n_used`` of 10 latents varying; decodes to the mean row."""

    def __init__(self, n_used=1):
        self.n_used = n_used

    def fit(self, X, y=None):
        self.mean_ = X.mean(0)
        return self

    def transform(self, X):
        Z = np.zeros((X.shape[0], 10))
        Z[:, :self.n_used] = X[:, 20:20 + self.n_used]  # pixels that vary
        return Z

    def inverse_transform(self, Z):
        return np.broadcast_to(self.mean_, (Z.shape[0], self.mean_.size))


def test_explained_matches_pca(digits):
    # Independent derivation: PCA's reconstruction leaves exactly the variance of
    # the dropped components, so explained == sum(explained_variance_ratio_).
    X = digits[:500]
    pca = PCA(n_components=8).fit(X)
    report = collapse_report(pca, X)
    assert report["explained"] == pytest.approx(pca.explained_variance_ratio_.sum(), rel=1e-6)
    assert report["n_active"] == 8


def test_healthy_model_does_not_warn(digits):
    pca = PCA(n_components=8).fit(digits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = warn_if_collapsed(pca, digits)
    assert not report["collapsed"]


def test_few_active_latents_and_mean_reconstruction_warn(digits):
    est = _FewLatents(n_used=1).fit(digits)
    with pytest.warns(ConvergenceWarning, match=r"only 1 of 10 latents.*no better than the mean"):
        report = warn_if_collapsed(est, digits)
    assert report["collapsed"] and report["explained"] == pytest.approx(0.0, abs=1e-12)


def test_rescaled_codes_stay_active(digits):
    # Activity is scale-free: a latent is judged against the codes' overall spread.
    est = _FewLatents().fit(digits)
    Z = np.random.default_rng(0).normal(size=(len(digits), 10)) * np.arange(1, 11)
    est.transform = lambda X: 1e-6 * Z  # tiny codes, every latent in use
    assert collapse_report(est, digits)["active_fraction"] == 1.0


def test_collapsed_thresholded_vae_warns_naming_a_parameter(digits):
    # A deliberately collapsed fit: a KL weight of 1 with plain SGD (the reference's
    # optimizer, pinned) drives every latent to the prior's spike in three epochs.
    tvae = ThresholdedVAE(n_components=16, encoder_hidden_sizes=(32,), kl_weight=1.0,
                          optimizer="sgd", decoder_optimizer="sgd", n_mc_samples=2,
                          n_eval_samples=2, max_epochs=3, random_state=0, device="cpu")
    with warnings.catch_warnings():
        # the fit itself may warn once the check is wired into it; judged below
        warnings.simplefilter("ignore")
        tvae.fit(digits)
    with pytest.warns(ConvergenceWarning, match="ThresholdedVAE codes have collapsed") as rec:
        report = warn_if_collapsed(tvae, digits)
    assert report["collapsed"]
    message = str(rec[0].message)
    named = [p for p in tvae.get_params(deep=False) if f" {p} (now " in message]
    assert named, message


# ------------------------------------------------------------- the check in fit
def _collapsed_vdl(**params):
    # A sparsity weight 1,000x the default shrinks the codes until the
    # reconstruction is worse than the mean image (checked below by the report).
    return VarianceRegDictionaryLearner(**{
        "n_components": 16, "sparsity_reg": 10.0, "max_epochs": 1, "batch_size": 10,
        "random_state": 0, "device": "cpu", **params})


@pytest.fixture(scope="module")
def all_digits():
    return load_digits().data / 16.0  # 1,797 rows: above the guard's 1,000


def test_collapsed_fit_warns_naming_the_parameter(all_digits):
    est = _collapsed_vdl()
    with pytest.warns(ConvergenceWarning, match=r"VarianceRegDictionaryLearner codes have "
                      r"collapsed.*lower sparsity_reg \(now 10\.0\)"):
        est.fit(all_digits)
    # the guard of check_collapse="auto" was passed, and the codes did collapse
    assert all_digits.shape[0] >= _MIN_CHECK_ROWS and est.n_steps_ >= _MIN_CHECK_STEPS
    assert collapse_report(est, all_digits)["explained"] < 0.1


def test_the_check_runs_after_the_commit(all_digits):
    """Warnings as errors: the check raises, yet the fit is kept whole (it ran after
    the fit transaction committed), equal to the same fit without the check."""
    reference = _collapsed_vdl()
    with config_context(check_collapse=False):
        reference.fit(all_digits)
    est = _collapsed_vdl()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="collapsed"):
            est.fit(all_digits)
    assert est.n_iter_ == 1 and len(est.history_) == 1
    np.testing.assert_array_equal(est.components_, reference.components_)


def test_the_check_leaves_the_random_streams(all_digits):
    # A later partial_fit continues exactly as if the check had not run.
    a, b = _collapsed_vdl(), _collapsed_vdl()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(all_digits)
    with config_context(check_collapse=False):
        b.fit(all_digits)
    for est in (a, b):
        est.set_params(sparsity_reg=1e-2)
        est.partial_fit(all_digits[:200])
    assert (a._generator.get_state() == b._generator.get_state()).all()
    np.testing.assert_array_equal(a.components_, b.components_)


@pytest.mark.parametrize("n_rows, max_epochs, why", [
    (900, 2, "fewer rows than the check's 1,000"),
    (1797, 1, "fewer than 100 optimizer steps"),
])
def test_the_auto_guard_skips_trial_fits(all_digits, n_rows, max_epochs, why):
    batch = 10 if n_rows < 1000 else 100
    est = _collapsed_vdl(max_epochs=max_epochs, batch_size=batch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(all_digits[:n_rows])  # no warning: a trial run is not judged
    small = n_rows < _MIN_CHECK_ROWS or est.n_steps_ < _MIN_CHECK_STEPS
    assert small, why
    # yet its codes have collapsed: check_collapse=True judges every fit
    with config_context(check_collapse=True), pytest.warns(ConvergenceWarning,
                                                           match="sparsity_reg"):
        est.fit(all_digits[:n_rows])


def test_check_collapse_false_and_partial_fit_never_check(all_digits):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with config_context(check_collapse=False):
            _collapsed_vdl().fit(all_digits)
        with config_context(check_collapse=True):
            est = _collapsed_vdl()
            for _ in range(3):  # partial_fit: the caller decides when the stream is done
                est.partial_fit(all_digits)
    assert est.n_steps_ >= _MIN_CHECK_STEPS


@pytest.fixture(scope="module")
def mnist_2000():
    from skdeepsparse.datasets import load_mnist

    return load_mnist("train", n_samples=2000).data


@pytest.mark.parametrize("make", [
    lambda: VarianceRegDictionaryLearner(n_components=32, max_epochs=3, batch_size=50,
                                         random_state=0, device="cpu"),
    lambda: ThresholdedVAE(n_components=32, encoder_hidden_sizes=(64,), max_epochs=3,
                           batch_size=50, n_mc_samples=2, n_eval_samples=2, random_state=0,
                           device="cpu"),
], ids=["VarianceRegDictionaryLearner", "ThresholdedVAE"])
def test_healthy_fit_on_real_data_is_checked_and_does_not_warn(mnist_2000, make, monkeypatch):
    import skdeepsparse._diagnostics as diagnostics

    reports = []

    def spy(est, X, **kwargs):
        reports.append(warn_if_collapsed(est, X, **kwargs))
        return reports[-1]

    monkeypatch.setattr(diagnostics, "warn_if_collapsed", spy)
    est = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(mnist_2000)
    assert len(reports) == 1 and not reports[0]["collapsed"], reports  # checked, healthy


@pytest.mark.slow
def test_the_demos_variational_sparse_coding_is_flagged():
    """The demo's VariationalSparseCoding (8x8 digits, 30 epochs) keeps few of its
    64 latents active (13 in the committed demo): the check says so."""
    from skdeepsparse.app.presets import demo_models
    from skdeepsparse.datasets import load_digits_data

    X = load_digits_data().data
    train = np.random.RandomState(0).permutation(len(X))[:1297]  # the demo's split
    est = demo_models(False)["VariationalSparseCoding (64)"]()
    with pytest.warns(ConvergenceWarning, match=r"VariationalSparseCoding codes have "
                      r"collapsed: only \d+ of 64 latents.*kl_weight"):
        est.fit(X[train])


@pytest.mark.parametrize("name", sorted(_ADVICE))
def test_the_advice_names_real_parameters(name):
    import skdeepsparse

    params = getattr(skdeepsparse, name)().get_params(deep=False)
    cause, candidates = _ADVICE[name]
    assert cause and {p for p, _ in candidates} <= set(params)
