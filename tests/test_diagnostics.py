"""The post-fit collapse check (skdeepsparse._diagnostics)."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skdeepsparse import ThresholdedVAE
from skdeepsparse._diagnostics import collapse_report, warn_if_collapsed


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
