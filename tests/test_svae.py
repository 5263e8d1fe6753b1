"""Tests of SVAETransformer."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.distributions import Cauchy, Laplace, Normal, kl_divergence

import skdeepsparse._base as base
from skdeepsparse.distributions import (
    kl_laplace_laplace,
    kl_normal_laplace,
    kl_to_prior,
    make_prior,
)
from skdeepsparse.svae import SVAETransformer

SMALL = dict(encoder_hidden_sizes=(8,), mean_hidden_sizes=(8,), scale_hidden_sizes=(8,),
             batch_size=16, device="cpu", random_state=0)


def _log_normal(z, mu, std):
    """log N(z; mu, std^2), written out (independent of torch.distributions)."""
    return -0.5 * ((z - mu) / std) ** 2 - math.log(math.sqrt(2 * math.pi)) - torch.log(
        torch.as_tensor(std, dtype=torch.float64))


def _log_laplace(z, m, b):
    return -(z - m).abs() / b - math.log(2 * b)


def _log_cauchy(z, s):
    return -torch.log1p((z / s) ** 2) - math.log(math.pi * s)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target


def _fitted(prior="laplace", **kw):
    X = np.random.RandomState(0).randn(64, 6)
    # the scales of the tests written for the references' prior Laplace(0, 1)
    params = dict(n_components=5, prior=prior, prior_scale=1.0, max_epochs=1, **SMALL)
    params.update(kw)
    return SVAETransformer(**params).fit(X)


# ------------------------------------------------------------ the mathematics
@pytest.mark.parametrize("mu, std, m, s", [(0.0, 1.0, 0.0, 1.0), (0.7, 0.3, 0.0, 1.0),
                                           (-2.0, 0.5, 0.0, 0.5), (0.1, 0.05, 0.0, 2.0),
                                           (0.4, 0.8, -1.0, 0.3)])
def test_normal_laplace_kl_matches_monte_carlo(mu, std, m, s):
    """The registered KL(Normal || Laplace) against a plain Monte Carlo estimate of
    E_q[log q(z) - log p(z)] with densities written out by hand."""
    gen = torch.Generator().manual_seed(0)
    n = 400_000
    z = mu + std * torch.randn(n, generator=gen, dtype=torch.float64)
    mc = (_log_normal(z, mu, std) - _log_laplace(z, m, s)).mean().item()
    p = Normal(torch.tensor(mu, dtype=torch.float64), torch.tensor(std, dtype=torch.float64))
    q = Laplace(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
    assert kl_normal_laplace(p, q).item() == pytest.approx(mc, abs=0.01)
    # kl_divergence dispatches on the type pair to the same closed form
    assert kl_divergence(p, q).item() == pytest.approx(kl_normal_laplace(p, q).item(),
                                                       rel=1e-12)
    mc_gauss = (_log_normal(z, mu, std) - _log_normal(z, 0.0, s)).mean().item()
    prior = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
    assert kl_divergence(p, prior).item() == pytest.approx(mc_gauss, rel=0.01, abs=0.01)


def test_laplace_laplace_kl_matches_monte_carlo():
    mu = torch.tensor([0.0, 0.8, -1.5], dtype=torch.float64)
    b = torch.tensor([1.0, 0.3, 0.6], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    z = Laplace(mu, b).icdf(torch.rand((200_000, 3), generator=gen, dtype=torch.float64))
    mc = (Laplace(mu, b).log_prob(z) - _log_laplace(z, 0.0, 0.5)).mean(0)
    np.testing.assert_allclose(kl_laplace_laplace(mu, b, 0.5).numpy(), mc.numpy(), atol=0.02)


def test_estimator_kl_estimators_agree():
    """Training MC KL, evaluation quadrature and closed forms are the same quantity."""
    mu = torch.tensor([[0.0, 0.8, -1.5, 3.0, 0.05]], dtype=torch.float64)
    std = torch.tensor([[1.0, 0.3, 0.6, 0.2, 0.01]], dtype=torch.float64)
    for prior in ("laplace", "gaussian", "cauchy"):
        est = _fitted(prior).set_params(n_kl_samples=50_000)
        exact = est._kl(mu, std, exact=True)
        mc = est._kl(mu, std, exact=False)
        np.testing.assert_allclose(mc.numpy(), exact.numpy(), atol=0.02)
    # the Cauchy prior has no closed form: its quadrature against plain Monte Carlo
    assert isinstance(make_prior("cauchy", 1.0, mu), Cauchy)
    with pytest.raises(NotImplementedError):
        kl_divergence(Normal(mu, std), make_prior("cauchy", 1.0, mu))
    gen = torch.Generator().manual_seed(1)
    z = mu + std * torch.randn((100_000, 1, 5), generator=gen, dtype=torch.float64)
    plain = (_log_normal(z, mu, std) - _log_cauchy(z, 1.0)).mean(0)
    np.testing.assert_allclose(est._kl(mu, std, exact=True).numpy(), plain.numpy(), atol=0.02)
    # the training estimate draws from the estimator's own generator only
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    kl_to_prior(Normal(mu, std), make_prior("cauchy", 1.0, mu), exact=False, n_samples=10,
                generator=est._generator)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_analytic_reconstruction_matches_sampling():
    est = _fitted(decoder_bias=True).set_params(n_mc_samples=20_000)
    X = torch.tensor(np.random.RandomState(1).randn(3, 6))
    with torch.no_grad():
        mu, std = est.module_.encode(X)
        std = std + 0.5  # make the variance term matter
        phi = est.module_.phi()
        exact = est._expected_nll(X, mu, std, phi, analytic=True)
        mc = est._expected_nll(X, mu, std, phi, analytic=False)
    np.testing.assert_allclose(mc.numpy(), exact.numpy(), rtol=1e-2)
    # the variance term matters: dropping it would be far off
    with torch.no_grad():
        no_var = est._expected_nll(X, mu, 0 * std, phi, analytic=True)
    assert np.all(exact.numpy() - no_var.numpy() > 0.2 * np.abs(exact.numpy()))


def test_score_is_mean_elbo(digits):
    X, _ = digits
    est = SVAETransformer(n_components=16, decoder_bias=True, max_epochs=2, **{
        **SMALL, "batch_size": 64}).fit(X[:500])
    terms = est.elbo_terms(X[500:700])
    elbo = -(terms["recon"] + terms["kl"].sum(1))
    np.testing.assert_allclose(est.score_samples(X[500:700]), elbo, rtol=1e-5)
    assert est.score(X[500:700]) == pytest.approx(float(elbo.mean()), rel=1e-5)
    # the ELBO includes the Gaussian normalising constant of the likelihood
    sigma = est.likelihood_std_
    # likelihood_std="auto": e^-2 at pixel variance 0.1, in proportion to the data's std
    assert sigma == pytest.approx(math.exp(-2) / math.sqrt(0.1) * X[:500].std(dtype=np.float64),
                                  rel=1e-6)
    X_hat = est.inverse_transform(est.transform(X[500:700]))
    resid = ((X[500:700] - X_hat) ** 2).sum(1)
    const = X.shape[1] * (math.log(sigma) + 0.5 * math.log(2 * math.pi))
    assert np.all(terms["recon"] >= 0.5 * resid / sigma**2 + const - 1e-2)
    # training improves the ELBO
    est3 = clone(est).set_params(max_epochs=8).fit(X[:500])
    assert est3.score(X[500:700]) > est.score(X[500:700])


def test_sample_noise_belongs_to_the_row(monkeypatch):
    """transform_mode="sample": a row gets the same draw in any batch, chunk or order."""
    X = np.random.RandomState(0).rand(2000, 6)
    est = _fitted(transform_mode="sample")
    Z = est.transform(X)
    monkeypatch.setattr(base, "_TRANSFORM_CHUNK", 7)
    perm = np.random.RandomState(1).permutation(2000)
    # (equal up to the last bits of the encoder's batched matrix products)
    np.testing.assert_allclose(est.transform(X[perm]), Z[perm], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.transform(np.vstack([X[:5], X[:5]]))[5:], Z[:5],
                               rtol=1e-10, atol=1e-12)
    other = SVAETransformer(**{**est.get_params(), "random_state": 1}).fit(
        np.random.RandomState(0).randn(64, 6))
    other.module_.load_state_dict(est.module_.state_dict())
    assert not np.allclose(other.transform(X), Z)  # the key follows random_state
    mean, std = est.set_params(transform_mode="mean").transform(X, return_std=True)
    eps = (Z - mean) / std
    assert abs(eps.mean()) < 0.05 and abs(eps.std() - 1) < 0.05
    assert abs(np.corrcoef(eps[:, 0], eps[:, 1])[0, 1]) < 0.2


# ------------------------------------------------------------------ API
def test_transform_modes_and_std(digits):
    X, _ = digits
    est = SVAETransformer(n_components=12, decoder_bias=True, max_epochs=1,
                          **{**SMALL, "batch_size": 64}).fit(X[:400])
    mean = est.transform(X[:50])
    mean2, std = est.transform(X[:50], return_std=True)
    np.testing.assert_array_equal(mean, mean2)
    assert std.shape == mean.shape and np.all(std >= est.min_posterior_std)
    est.set_params(transform_mode="sample")
    s1 = est.transform(X[:50])
    s2 = est.transform(X[:50][::-1])[::-1]
    np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-6)  # the draw belongs to the sample
    assert not np.allclose(s1, mean)
    # the draws are N(mean, std^2): standardised residuals look standard normal
    r = (s1 - mean) / std
    assert abs(r.mean()) < 0.1 and abs(r.std() - 1) < 0.1
    s_pickled = pickle.loads(pickle.dumps(est)).transform(X[:50])
    np.testing.assert_array_equal(s_pickled, s1)


def test_set_output_pandas(digits):
    pd = pytest.importorskip("pandas")
    X, _ = digits
    est = SVAETransformer(n_components=6, max_epochs=1, **SMALL).set_output(transform="pandas")
    df = est.fit_transform(X[:100])
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:2]) == ["svaetransformer0", "svaetransformer1"]
    Z, std = est.transform(X[:10], return_std=True)
    assert isinstance(Z, pd.DataFrame) and isinstance(std, np.ndarray)


def test_inverse_transform_and_components(digits):
    X, _ = digits
    est = SVAETransformer(n_components=10, decoder_bias=True, max_epochs=1,
                          **SMALL).fit(X[:200])
    Z = est.transform(X[:20])
    assert est.components_.shape == (10, 64)
    np.testing.assert_allclose(est.inverse_transform(Z), Z @ est.components_ + est.intercept_,
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="10 components"):
        est.inverse_transform(Z[:, :3])


@pytest.mark.parametrize("method", ["projection", "weight_norm"])
def test_unit_norm_after_fit_and_partial_fit(digits, method):
    X, _ = digits
    est = SVAETransformer(n_components=20, decoder_norm_method=method, max_epochs=2,
                          learning_rate=1e-2, **SMALL).fit(X[:300])
    np.testing.assert_allclose(np.linalg.norm(est.components_, axis=1), 1.0, atol=1e-5)
    est2 = SVAETransformer(n_components=20, decoder_norm_method=method, learning_rate=1e-2,
                           **SMALL)
    for chunk in np.array_split(X[:300], 3):
        est2.partial_fit(chunk)
        np.testing.assert_allclose(np.linalg.norm(est2.components_, axis=1), 1.0, atol=1e-5)
    assert est2.n_iter_ == 3
    # without the constraint the norms move away from 1
    free = SVAETransformer(n_components=20, decoder_norm=None, max_epochs=2,
                           learning_rate=1e-2, **SMALL).fit(X[:300])
    assert np.abs(np.linalg.norm(free.components_, axis=1) - 1).max() > 0.05


# Four epochs of a tiny MLP on digits reconstruct no better than the mean image:
# the collapse check rightly says so after the warm fit; the test reads the attributes.
@pytest.mark.filterwarnings("ignore:SVAETransformer codes have collapsed:"
                            "sklearn.exceptions.ConvergenceWarning")
def test_activity_attributes(digits):
    X, _ = digits
    est = SVAETransformer(n_components=30, decoder_bias=True, max_epochs=3,
                          **{**SMALL, "batch_size": 64}).fit(X)
    assert est.kl_per_component_.shape == (30,)
    kl = est.elbo_terms(X)["kl"]
    np.testing.assert_allclose(est.kl_per_component_, kl.mean(0), rtol=1e-4, atol=1e-6)
    assert est.n_active_components_ == int((kl.mean(0) > 0.1).sum())
    means = est.transform(X)
    assert est.n_active_components_variance_ == int((means.var(0) > 0.01).sum())
    hist = est.history_[-1]
    assert {"loss", "recon", "kl", "mse", "n_active", "filter_norm", "val_loss"} <= set(hist)
    est.set_params(active_kl_threshold=1e9, warm_start=True, max_epochs=1).fit(X)
    assert est.n_active_components_ == 0


def test_step_lr_schedule():
    X = np.random.RandomState(0).randn(64, 6)
    est = SVAETransformer(n_components=3, max_epochs=4, learning_rate=1e-2,
                          lr_schedule="step", lr_decay=0.5, **SMALL).fit(X)
    assert est._optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5**4)
    np.testing.assert_allclose([h["lr"] for h in est.history_],
                               [1e-2, 5e-3, 2.5e-3, 1.25e-3])
    const = SVAETransformer(n_components=3, max_epochs=2, **SMALL).fit(X)
    assert [h["lr"] for h in const.history_] == [1e-3, 1e-3]


def test_sgd_optimizer():
    X = np.random.RandomState(0).randn(64, 6)
    est = SVAETransformer(n_components=3, max_epochs=1, optimizer="sgd",
                          learning_rate=1e-4, **SMALL).fit(X)
    (opt,) = est._optimizers
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9


@pytest.mark.filterwarnings("ignore:SVAETransformer. likelihood_std")
def test_learned_likelihood_std_moves():
    X = np.random.RandomState(0).randn(256, 6) * 0.01
    est = SVAETransformer(n_components=3, learn_likelihood_std=True, likelihood_std=1.0,
                          learning_rate=3e-2, max_epochs=5, **SMALL).fit(X)
    assert est.likelihood_std_ < 0.5


def test_pickle_round_trip(digits):
    X, _ = digits
    est = SVAETransformer(n_components=8, prior="cauchy", n_kl_samples=4, max_epochs=1,
                          **SMALL).fit(X[:200])
    est2 = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.transform(X[:30]), est2.transform(X[:30]))
    np.testing.assert_array_equal(est.score_samples(X[:30]), est2.score_samples(X[:30]))
    assert est2.n_active_components_ == est.n_active_components_
    est2.partial_fit(X[:50])  # optimizer state restored, training continues


def test_pipeline_with_classifier(digits):
    X, y = digits
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
    pipe = make_pipeline(
        SVAETransformer(n_components=64, decoder_bias=True, batch_size=64, max_epochs=15,
                        device="cpu", random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    pipe.fit(X_tr, y_tr)
    assert pipe.score(X_te, y_te) > 0.9


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "params, match",
    [
        ({"prior": "horseshoe"}, "prior"),
        ({"likelihood_std": 0.0}, "likelihood_std"),
        ({"n_components": 0}, "n_components"),
        ({"encoder_hidden_sizes": (16, 0)}, "encoder_hidden_sizes"),
        ({"mean_hidden_sizes": "wide"}, "mean_hidden_sizes"),
        ({"scale_hidden_sizes": (True,)}, "scale_hidden_sizes"),
        ({"adam_betas": (0.9,)}, "adam_betas"),
        ({"lr_schedule": "exponential"}, "lr_schedule"),
        ({"transform_mode": "mode"}, "transform_mode"),
        ({"decoder_norm_method": "clip"}, "decoder_norm_method"),
        ({"kl_weight": -1.0}, "kl_weight"),
        ({"n_kl_samples": 0}, "n_kl_samples"),
        ({"recon_estimator": "exact"}, "recon_estimator"),
    ],
)
def test_bad_params(params, match):
    X = np.random.RandomState(0).randn(20, 4)
    with pytest.raises(ValueError, match=match):
        SVAETransformer(**{**SMALL, "max_epochs": 1, **params}).fit(X)


def test_bad_input():
    est = SVAETransformer(n_components=3, max_epochs=1, **SMALL)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="2D array"):
        est.fit(np.ones(5))
    with pytest.raises(ValueError, match="0 sample"):
        est.fit(np.ones((0, 3)))
    with pytest.raises(ValueError):
        est.fit([["a", "b"], ["c", "d"]])
    import scipy.sparse as sp

    with pytest.raises(TypeError, match="[Ss]parse"):
        est.fit(sp.random(10, 4, density=0.5, format="csr"))
    est.fit(np.random.RandomState(0).randn(30, 4))
    with pytest.raises(ValueError, match="4 features"):
        est.transform(np.ones((2, 5)))
    before = est.components_.copy()
    with pytest.raises(ValueError):
        est.partial_fit(np.full((3, 4), np.inf))
    np.testing.assert_array_equal(est.components_, before)


# ---------------------------------------------------------- real data
def test_unit_norm_keeps_more_filters_active_on_patches(data_home):
    """Jiang & de la Iglesia's claim, in miniature, on whitened natural-image patches.

    Without the constraint, filters of latents that the posterior stops using
    shrink towards zero norm (dead, noise-like); with it every latent stays
    active. (benchmarks/barello2018/bench_svae_unit_norm.py is the full-size version.)
    """
    from skdeepsparse.datasets import load_natural_image_patches

    # pixel variance 0.1: the scale for which likelihood_std=e^-2 was chosen
    X = load_natural_image_patches(8, n_patches=5000, data_home=data_home, random_state=0,
                                   pixel_std=0.1**0.5).data
    # the references' scales (prior Laplace(0, 1), sigma e^-2), not the "auto" defaults
    common = dict(n_components=96, encoder_hidden_sizes=(128,), mean_hidden_sizes=(128,),
                  scale_hidden_sizes=(128,), learning_rate=3e-3, max_epochs=6,
                  prior_scale=1.0, likelihood_std=math.exp(-2),
                  validation_fraction=0.0, device="cpu", random_state=0)
    unit = SVAETransformer(decoder_norm=1.0, **common).fit(X)
    free = SVAETransformer(decoder_norm=None, **common).fit(X)
    # (seeds 0-2 give 96 vs about 30 KL-active latents, about 72 filters with norm < 0.2)
    assert unit.n_active_components_ == 96
    assert free.n_active_components_ < 0.75 * unit.n_active_components_
    free_norms = np.linalg.norm(free.components_, axis=1)
    assert (free_norms < 0.2).sum() >= 20
    np.testing.assert_allclose(np.linalg.norm(unit.components_, axis=1), 1.0, atol=1e-5)


# ------------------------------------------------------- defaults, scales
def test_auto_scales_follow_the_data():
    """prior_scale="auto" and likelihood_std="auto" are multiples of the data's std,
    so rescaling the data rescales them; numbers given by the user are used as such."""
    X = np.random.RandomState(0).randn(128, 6)
    a = SVAETransformer(n_components=4, max_epochs=1, **SMALL).fit(X)
    b = SVAETransformer(n_components=4, max_epochs=1, **SMALL).fit(10 * X)
    assert a.get_params()["prior_scale"] == "auto" and a.get_params()["likelihood_std"] == "auto"
    assert a.data_scale_ == pytest.approx(X.std())
    assert a.prior_scale_ == pytest.approx(math.sqrt(0.1) * X.std())
    assert a.likelihood_std_ == pytest.approx(math.exp(-2) / math.sqrt(0.1) * X.std())
    assert b.prior_scale_ == pytest.approx(10 * a.prior_scale_)
    assert b.likelihood_std_ == pytest.approx(10 * a.likelihood_std_)
    # at pixel variance 0.1 the "auto" values are 0.1 and the references' e^-2
    c = SVAETransformer(n_components=4, max_epochs=1, **SMALL).fit(X / X.std() * 0.1**0.5)
    assert c.prior_scale_ == pytest.approx(0.1) and c.likelihood_std_ == pytest.approx(
        math.exp(-2))
    d = SVAETransformer(n_components=4, max_epochs=1, prior_scale=0.7, likelihood_std=0.2,
                        **SMALL).fit(X)
    assert d.prior_scale_ == 0.7 and d.likelihood_std_ == pytest.approx(0.2)
    # the prior scale is read at every use: the KL follows a change after fit
    mu = torch.zeros(1, 4, dtype=torch.float64)
    std = torch.full((1, 4), 0.3, dtype=torch.float64)
    kl_auto = a._kl(mu, std, exact=True)
    a.set_params(prior_scale=0.3)
    assert a.prior_scale_ == 0.3
    assert not torch.allclose(a._kl(mu, std, exact=True), kl_auto)


def test_sample_noise_blocking_does_not_change_draws(monkeypatch):
    """transform_mode="sample" draws its noise a block of rows at a time (bounded
    memory); the blocks do not change the draws."""
    import skdeepsparse.svae as svae_mod

    X = np.random.RandomState(0).rand(1500, 6)
    est = _fitted(transform_mode="sample")
    Z = est.transform(X)
    monkeypatch.setattr(svae_mod, "_NOISE_ROWS", 7)
    np.testing.assert_array_equal(est.transform(X), Z)


# --------------------------------------------------------- log-likelihood
def _exact_gaussian_log_likelihood(X, components, intercept, prior_std, sigma):
    """log N(x; b, s^2 Phi Phi^T + sigma^2 I): the marginal of the linear Gaussian
    model z ~ N(0, s^2 I), x | z ~ N(Phi z + b, sigma^2 I), written with scipy."""
    from scipy.stats import multivariate_normal

    Phi = components.T.astype(np.float64)
    cov = prior_std**2 * Phi @ Phi.T + sigma**2 * np.eye(Phi.shape[0])
    return multivariate_normal(mean=intercept.astype(np.float64), cov=cov).logpdf(X)


def test_log_likelihood_matches_the_exact_gaussian_marginal():
    """Gaussian prior + linear Gaussian decoder: log p(x) is a closed-form Gaussian;
    the importance-weighted estimate must converge to it from below."""
    rng = np.random.RandomState(0)
    A = rng.randn(3, 5)
    X = (rng.randn(600, 3) @ A + 0.3 * rng.randn(600, 5) + 1.0)
    est = SVAETransformer(n_components=3, prior="gaussian", prior_scale=1.0, decoder_bias=True,
                          decoder_norm=None, likelihood_std=0.5, max_epochs=15,
                          learning_rate=1e-2, **SMALL).fit(X[:500])
    X_test = X[500:]
    b = est.intercept_.astype(np.float64)
    exact = _exact_gaussian_log_likelihood(X_test, est.components_, b, 1.0, 0.5)
    # the trained (diagonal) recognition model as proposal: close, and from below
    iw = est.log_likelihood(X_test, n_importance=2000)
    assert iw.shape == (100,) and iw.dtype == np.float64
    assert exact.mean() - 0.1 < iw.mean() < exact.mean() + 0.01
    # ELBO <= IWAE(S) <= log p(x), on average
    elbo = est.score_samples(X_test)
    iw10 = est.log_likelihood(X_test, n_importance=10)
    assert elbo.mean() < iw10.mean() < exact.mean() + 0.01
    assert iw10.mean() < iw.mean() + 0.01
    # S = 1 is an unbiased estimate of the ELBO
    one = np.mean([est.log_likelihood(X_test, n_importance=1, random_state=r).mean()
                   for r in range(20)])
    assert one == pytest.approx(elbo.mean(), abs=0.05 * abs(elbo.mean()) + 0.05)

    # With orthogonal filters the posterior is a diagonal Gaussian,
    # N(Sigma Phi^T (x - b) / sigma^2, Sigma), Sigma = diag(1 / (|Phi_k|^2 / sigma^2 + 1)):
    # with it as proposal every importance weight equals p(x), so any S gives the exact
    # value (this checks every term of the weight, normalising constants included).
    Q = np.linalg.qr(rng.randn(5, 3))[0] * [1.5, 1.0, 0.7]
    with torch.no_grad():
        est.module_.dictionary.copy_(torch.as_tensor(Q))
    exact_q = _exact_gaussian_log_likelihood(X_test, est.components_, b, 1.0, 0.5)
    post_var = 1.0 / ((Q**2).sum(0) / 0.25 + 1.0)

    def encode(x):
        mean = (x - torch.as_tensor(b)) @ torch.as_tensor(Q * post_var / 0.25)
        return mean, torch.as_tensor(np.sqrt(post_var)).expand_as(mean)

    est.module_.encode = encode
    np.testing.assert_allclose(est.log_likelihood(X_test, n_importance=3), exact_q,
                               rtol=0, atol=1e-5)
    del est.module_.encode

def test_log_likelihood_api():
    est = _fitted("cauchy", decoder_bias=True)
    X = np.random.RandomState(3).randn(300, 6)
    a = est.log_likelihood(X, n_importance=40, random_state=1)
    np.testing.assert_array_equal(a, est.log_likelihood(X, n_importance=40, random_state=1))
    assert not np.array_equal(a, est.log_likelihood(X, n_importance=40, random_state=2))
    assert np.isfinite(a).all()
    # the estimator is not changed (its own generator is not consumed)
    state = est._generator.get_state()
    est.log_likelihood(X[:5], n_importance=3)
    assert torch.equal(est._generator.get_state(), state)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="n_importance"):
            est.log_likelihood(X, n_importance=bad)
    with pytest.raises(ValueError, match="6 features"):
        est.log_likelihood(np.ones((2, 5)))


@pytest.mark.slow
def test_default_filters_on_real_patches(data_home):
    """Defaults on whitened natural-image patches (pixel variance 0.1, K = 169):
    the unit-norm filters are localised and oriented far more often than those
    of an unconstrained decoder, by the scale-free measure of
    skdeepsparse.metrics (the share of filters compact in space and in
    frequency beyond the 99% quantile of white noise).

    Everything is the library default (20 epochs, 10% held out) except the
    number of patches. benchmarks/barello2018/bench_svae_unit_norm.py is the full-size
    version with both priors and three seeds.
    """
    from skdeepsparse.datasets import load_natural_image_patches
    from skdeepsparse.metrics import gabor_like_fraction

    X = load_natural_image_patches(12, n_patches=20000, data_home=data_home, source="files",
                                   random_state=0, pixel_std=0.1**0.5).data
    # 11,260 Adam steps per model (about 75 s each on one uncontended core). At half
    # the steps the shares were 0.09 vs 0.006: localisation grows with training.
    unit = SVAETransformer(device="cpu", random_state=0).fit(X)
    free = SVAETransformer(decoder_norm=None, device="cpu", random_state=0).fit(X)
    shape = (12, 12)
    gabor = {name: gabor_like_fraction(est.components_, shape)
             for name, est in (("unit", unit), ("free", free))}
    assert gabor["unit"] >= 0.15, gabor
    assert gabor["unit"] >= 3 * gabor["free"], gabor
    assert unit.n_active_components_variance_ > free.n_active_components_variance_


def test_ais_matches_the_exact_gaussian_marginal():
    """AIS needs no encoder: with a Gaussian prior its estimate converges to the
    closed-form log p(x), from below on average, and tighter than IWAE's."""
    rng = np.random.RandomState(0)
    X = rng.randn(400, 8) @ rng.randn(8, 8) * 0.3
    est = SVAETransformer(n_components=10, prior="gaussian", decoder_bias=True,
                          max_epochs=5, **SMALL).fit(X)
    X_test = X[:60]
    exact = _exact_gaussian_log_likelihood(X_test, est.components_, est.intercept_,
                                           est.prior_scale_, est.likelihood_std_)
    ais = est.log_likelihood(X_test, n_importance=16, method="ais", n_steps=300)
    iw = est.log_likelihood(X_test, n_importance=16)
    assert ais.shape == (60,) and ais.dtype == np.float64
    assert exact.mean() - 0.1 < ais.mean() < exact.mean() + 0.02
    assert np.abs(ais - exact).max() < 0.75
    assert iw.mean() < ais.mean()


@pytest.mark.parametrize("prior", ["laplace", "cauchy"])
def test_ais_matches_quadrature_for_sparse_priors(prior):
    """Two latents, two pixels: log p(x) = log of the integral of p(x|z) p(z) over a
    fine grid (the kink of the Laplace prior and the Cauchy tails included)."""
    rng = np.random.RandomState(1)
    X = rng.randn(300, 2) * 0.5
    # (prior_scale 0.7: a dropped normalising constant log(2 s) would show)
    est = SVAETransformer(n_components=2, prior=prior, prior_scale=0.7, likelihood_std=0.3,
                          max_epochs=3, **SMALL).fit(X)
    X_test = X[:20]
    phi = est.components_.T.astype(np.float64)
    s, sigma = est.prior_scale_, est.likelihood_std_
    g = np.linspace(-8.0, 8.0, 1601)
    dz = g[1] - g[0]
    Z = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    if prior == "laplace":
        log_prior = (-np.abs(Z) / s - np.log(2 * s)).sum(1)
    else:
        log_prior = (-np.log(np.pi * s * (1 + (Z / s) ** 2))).sum(1)
    mean = Z @ phi.T + est.intercept_
    exact = []
    for x in X_test:
        ll = -0.5 * ((x - mean) ** 2).sum(1) / sigma**2 - np.log(2 * np.pi * sigma**2)
        exact.append(np.logaddexp.reduce(ll + log_prior) + 2 * np.log(dz))
    exact = np.array(exact)
    ais = est.log_likelihood(X_test, n_importance=64, method="ais", n_steps=300)
    assert abs(ais.mean() - exact.mean()) < 0.03
    assert np.abs(ais - exact).max() < 0.3


def test_ais_api():
    est = _fitted("laplace")
    X = np.random.RandomState(3).randn(20, 6)
    a = est.log_likelihood(X, n_importance=4, method="ais", n_steps=20, random_state=1)
    np.testing.assert_array_equal(
        a, est.log_likelihood(X, n_importance=4, method="ais", n_steps=20, random_state=1))
    assert np.isfinite(a).all()
    with pytest.raises(ValueError, match="method must be"):
        est.log_likelihood(X, method="hmc")
    for bad in (0, 1.5, False):
        with pytest.raises(ValueError, match="n_steps"):
            est.log_likelihood(X, method="ais", n_steps=bad)
