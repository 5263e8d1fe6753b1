"""VariationalSparseCoding (Tonolini et al. 2020) against its equations."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.datasets import load_digits
from torch.distributions import kl_divergence

from skdeepsparse import VariationalSparseCoding
from skdeepsparse.vsc import PointMassSpikeSlab, gamma_from_logits, relaxed_bernoulli


@pytest.fixture(scope="module")
def digits():
    return (load_digits().data[:300] / 16).astype(np.float64)


def _small(**kw):
    params = dict(n_components=6, encoder_hidden_sizes=(16,), n_mc_samples=3, max_epochs=2,
                  batch_size=32, device="cpu", random_state=0)
    return VariationalSparseCoding(**{**params, **kw})


def test_closed_form_kl_matches_monte_carlo_of_the_models_own_draws():
    """KL = gamma KL(N(mu, s^2) || N(0, 1)) + KL(Bern(gamma) || Bern(alpha)) equals
    E_q[log q(z) - log p(z)], estimated from draws of the model's own construction
    (straight-through selection times mu + s eps) with densities written here with
    scipy (point mass at 0 plus Lebesgue measure)."""
    est = _small(target_density=0.1)
    mu = np.array([0.0, 1.5, -0.7, 2.0])
    s = np.array([1.0, 0.3, 2.0, 0.8])
    gamma = np.array([0.5, 0.9, 0.05, 0.999])
    alpha = 0.1
    q = PointMassSpikeSlab(torch.tensor(mu), torch.tensor(s), torch.tensor(gamma))
    prior = est._prior(q.loc)
    closed = kl_divergence(q, prior).numpy()
    # the equation, term by term
    kl_gauss = 0.5 * (mu**2 + s**2 - 1.0 - np.log(s**2))
    kl_bern = gamma * np.log(gamma / alpha) + (1 - gamma) * np.log((1 - gamma) / (1 - alpha))
    np.testing.assert_allclose(closed, gamma * kl_gauss + kl_bern, rtol=1e-10)

    n = 400_000
    gen = torch.Generator().manual_seed(0)
    eps = torch.randn((n, 4), generator=gen, dtype=torch.float64)
    u = torch.rand((n, 4), generator=gen, dtype=torch.float64)
    z = est._codes(q, eps, u, temperature=0.7).numpy()  # straight_through=True
    log_q = np.where(z == 0, np.log1p(-gamma), np.log(gamma) + norm.logpdf(z, mu, s))
    log_p = np.where(z == 0, np.log1p(-alpha), np.log(alpha) + norm.logpdf(z))
    ratio = log_q - log_p
    mc, se = ratio.mean(0), ratio.std(0) / math.sqrt(n)
    assert np.all(np.abs(mc - closed) < 4 * se + 1e-3), (mc, closed, se)


def test_relaxed_bernoulli_mean_tends_to_gamma_as_temperature_falls():
    gamma = torch.tensor([0.05, 0.3, 0.5, 0.8, 0.97], dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    u = torch.rand((200_000, 5), generator=gen, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    se = 4 * torch.sqrt(gamma * (1 - gamma) / u.shape[0]).max().item()
    errors = []
    for tau in (5.0, 1.0, 0.3, 0.05, 0.01):
        mean = relaxed_bernoulli(gamma, u, tau, straight_through=False).mean(0)
        errors.append((mean - gamma).abs().max().item())
    # the relaxation's bias shrinks with the temperature, to the sampling noise
    assert errors[0] > 0.05 and errors[-1] < se + 1e-3, errors
    assert all(b <= a + se for a, b in zip(errors, errors[1:], strict=False)), errors
    # rounded (straight-through): an exact Bernoulli(gamma) at any temperature,
    # with the relaxed sample's gradient
    for tau in (5.0, 0.5):
        g = gamma.clone().requires_grad_(True)
        c = relaxed_bernoulli(g, u, tau, straight_through=True)
        assert set(c.detach().unique().tolist()) <= {0.0, 1.0}
        torch.testing.assert_close(c.detach().mean(0), gamma, atol=se, rtol=0)
        c.sum().backward()
        assert torch.all(g.grad > 0)


def test_gamma_links():
    logits = torch.tensor([-30.0, -1.0, 0.0, 2.0])
    exp = gamma_from_logits(logits, "exp")
    torch.testing.assert_close(exp[1], torch.exp(torch.tensor(-1.0)))
    assert exp[2] == exp[3] == 1 - 1e-6 and exp[0] == 1e-6  # clipped inside (0, 1)
    torch.testing.assert_close(gamma_from_logits(logits, "sigmoid")[1:],
                               torch.sigmoid(logits[1:]))


@pytest.mark.parametrize("sample_method", ["max", "avg", "iwae"])
def test_fit_reduces_the_loss(digits, sample_method):
    est = _small(sample_method=sample_method, max_epochs=5).fit(digits)
    losses = [h["loss"] for h in est.history_]
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(np.isfinite(losses))
    h = est.history_[-1]
    assert 0 <= h["zeros"] <= 1 and 0 < h["spike_prob"] < 1
    assert est.temperature_ == pytest.approx(max(0.5, 0.9995 ** est.n_steps_))


def test_transform_is_deterministic_and_is_the_posterior_mode(digits):
    est = _small().fit(digits)
    Z = est.transform(digits)
    np.testing.assert_array_equal(Z, est.transform(digits))
    gamma = est.nonzero_probability(digits)
    mean = est.set_params(transform_mode="mean").transform(digits)
    np.testing.assert_array_equal(Z == 0, gamma <= 0.5)
    np.testing.assert_allclose(Z[gamma > 0.5], (mean / gamma)[gamma > 0.5], rtol=1e-6)
    # a draw has exact zeros and differs from one call to the next
    est.set_params(transform_mode="sample")
    S1, S2 = est.transform(digits), est.transform(digits)
    assert (S1 == 0).any() and not np.array_equal(S1, S2)
    # decoding is the dictionary in data units
    np.testing.assert_allclose(est.inverse_transform(Z), Z @ est.components_ + est.mean_,
                               rtol=1e-6, atol=1e-9)


def test_kl_divergence_is_the_loss_term(digits):
    est = _small().fit(digits)
    kl = est.kl_divergence(digits[:20])
    assert kl.shape == (20, 6) and np.all(kl >= -1e-9)


@pytest.mark.parametrize("params, match", [
    (dict(target_density=0.0), "target_density"),
    (dict(target_density=1.0), "target_density"),
    (dict(temperature=0.0), "temperature"),
    (dict(temperature_decay=1.5), "temperature_decay"),
    (dict(temperature=0.4, temperature_min=0.5), "temperature_min"),
    (dict(spike_link="relu"), "spike_link"),
    (dict(transform_mode="max_elbo"), "transform_mode"),
    (dict(encoder_hidden_sizes=(8, -1)), "encoder_hidden_sizes"),
    (dict(n_mc_samples=0), "n_mc_samples"),
])
def test_bad_parameters_are_named(digits, params, match):
    with pytest.raises(ValueError, match=match):
        _small(**params).fit(digits)


def test_shared_names_mean_what_they_mean_in_the_other_models(digits):
    """target_density: 1 - metrics.code_sparsity of codes drawn from the model's own
    prior; standardize: numpy's global mean and std; decoder_norm: every atom's norm."""
    from skdeepsparse.metrics import code_sparsity

    est = _small(target_density=0.3, decoder_norm=0.5, max_epochs=1).fit(digits)
    n = 200_000
    z = est._prior(torch.zeros((), dtype=torch.float64)).sample(
        (n,), generator=torch.Generator().manual_seed(0))
    assert 1.0 - code_sparsity(z.numpy()) == pytest.approx(0.3, abs=4 * (0.21 / n) ** 0.5)
    assert est.mean_ == pytest.approx(digits.mean(), rel=1e-12)
    assert est.scale_ == pytest.approx(digits.std(), rel=1e-12)
    atoms = est.module_.decoder.weight.detach()
    torch.testing.assert_close(atoms.norm(dim=0).double(),
                               torch.full((6,), 0.5, dtype=torch.float64), rtol=1e-5, atol=1e-6)
    off = _small(standardize=False, max_epochs=1).fit(digits)
    assert (off.mean_, off.scale_) == (0.0, 1.0)


def test_score_is_minus_the_loss_at_the_mode(digits):
    """score_samples, recomputed in numpy from the encoder's outputs and the
    dictionary: -(mean_d (y - Phi z)^2 + kl_weight sum_k KL_k), z the mode codes."""
    est = _small().fit(digits)
    X = digits[:50]
    Y = (X - est.mean_) / est.scale_
    with torch.no_grad():
        mu, log_var, logits = (t.numpy() for t in est.module_.encode(torch.from_numpy(Y)))
    gamma = np.clip(np.minimum(1.0, np.exp(logits)), 1e-6, 1 - 1e-6)
    z = np.where(gamma > 0.5, mu, 0.0)
    Phi = est.module_.decoder.weight.detach().numpy()
    recon = ((Y - z @ Phi.T) ** 2).mean(1)
    a = est.target_density
    kl = (gamma * 0.5 * (mu**2 + np.exp(log_var) - 1 - log_var)
          + gamma * np.log(gamma / a) + (1 - gamma) * np.log((1 - gamma) / (1 - a))).sum(1)
    np.testing.assert_allclose(est.score_samples(X), -(recon + est.kl_weight * kl), rtol=1e-6)
