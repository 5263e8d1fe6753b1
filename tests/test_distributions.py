"""The prior and posterior objects, the annealing schedule and the likelihood
estimators, each checked against an independent derivation: numerical
integration of densities, Monte Carlo for KLs and moments, torch's own
distributions where they coincide, the exact Gaussian marginal."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Laplace, Normal, kl_divergence

from skdeepsparse.distributions import (
    THRESHOLDED,
    LinearAnnealing,
    SpikeSlab,
    ThresholdedLaplace,
    ThresholdedNormal,
    has_closed_form_kl,
)
from skdeepsparse.likelihood import ais_log_likelihood, iwae_log_likelihood

F64 = torch.float64


def _t(*values):
    return torch.tensor(values, dtype=F64)


# ----------------------------------------------------------- thresholded family
@pytest.mark.parametrize("cls", [ThresholdedLaplace, ThresholdedNormal])
def test_thresholded_log_prob_is_a_normalised_mixed_density(cls):
    """P(z = 0) from log_prob at 0, plus the integral of the continuous part
    (scipy quad on each side of loc), is 1; P(z != 0) is the base's tail mass."""
    loc, scale, lam = 0.4, 0.3, 0.25
    d = cls(_t(loc), _t(scale), _t(lam))
    p0 = float(d.log_prob(torch.zeros((), dtype=F64)).exp())
    base = stats.laplace(scale=scale) if cls is ThresholdedLaplace else stats.norm(scale=scale)
    assert 1 - p0 == pytest.approx(2 * base.sf(lam), rel=1e-12)
    assert float(d.nonzero_prob) == pytest.approx(2 * base.sf(lam), rel=1e-12)

    def dens(z):
        return float(d.log_prob(torch.tensor(z, dtype=F64)).exp())
    # the continuous part has kinks at 0 and loc: integrate piecewise
    mass = sum(integrate.quad(dens, a, b, epsabs=1e-12)[0]
               for a, b in ((-30.0, 0.0), (0.0, loc), (loc, 30.0)))
    assert p0 + mass == pytest.approx(1.0, abs=1e-7)


def test_thresholded_laplace_nonzero_part_is_laplace():
    """Given z != 0 the shifted Laplace threshold is Laplace(loc, b) (memoryless
    excess): its density is p times torch's Laplace density."""
    d = ThresholdedLaplace(_t(0.4, -1.0), _t(0.3, 0.7), _t(0.25, 0.1))
    z = _t(-2.0, 1.3)
    expected = d.nonzero_prob.log() + Laplace(d.loc, d.scale).log_prob(z)
    torch.testing.assert_close(d.log_prob(z), expected)


@pytest.mark.parametrize("cls", [ThresholdedLaplace, ThresholdedNormal])
def test_thresholded_rsample_moments(cls):
    """Monte Carlo: the draws' non-zero rate is nonzero_prob, their mean is the
    object's mean p * loc, and the generator makes them reproducible."""
    d = cls(_t(0.8, -0.3), _t(0.3, 0.5), _t(0.25, 0.4))
    g = torch.Generator().manual_seed(0)
    n = 200_000
    z = d.rsample((n,), generator=g)
    rate = (z != 0).double().mean(0)
    torch.testing.assert_close(rate, d.nonzero_prob, atol=5 * 0.5 / n**0.5, rtol=0)
    torch.testing.assert_close(z.mean(0), d.mean, atol=5 * float(z.std(0).max()) / n**0.5,
                               rtol=0)
    again = d.rsample((n,), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z, again, rtol=0, atol=0)


def test_thresholded_laplace_kl_matches_monte_carlo():
    """The registered closed form against E_q[log q(z) - log p(z)] by Monte Carlo
    (both mixed densities w.r.t. Lebesgue plus an atom at 0)."""
    q = ThresholdedLaplace(_t(0.6, -0.2), _t(0.3, 0.5), _t(0.2, 0.3))
    p = ThresholdedLaplace(_t(0.0), _t(0.1), _t(0.2, 0.3))
    n = 400_000
    z = q.rsample((n,), generator=torch.Generator().manual_seed(1))
    terms = q.log_prob(z) - p.log_prob(z)
    mc = terms.mean(0)
    torch.testing.assert_close(kl_divergence(q, p), mc,
                               atol=5 * float(terms.std(0).max()) / n**0.5, rtol=0)
    assert has_closed_form_kl(ThresholdedLaplace)
    assert not has_closed_form_kl(ThresholdedNormal)


@pytest.mark.parametrize("name", sorted(THRESHOLDED))
def test_threshold_for_inverts_nonzero_prob(name):
    cls = THRESHOLDED[name]
    for frac in (0.05, 0.1, 0.5, 0.9):
        lam = cls.threshold_for(frac, 0.3)
        assert cls.nonzero_prob_of(0.3, lam) == pytest.approx(frac, rel=1e-12)
    with pytest.raises(ValueError, match="fraction"):
        cls.threshold_for(1.0, 0.3)


# ------------------------------------------------------------- spike and slab
@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.5, 1.0])
def test_spike_slab_density_integrates_to_one_and_matches_torch(alpha):
    prior = SpikeSlab(alpha, 0.1, 1.0)
    mass = sum(integrate.quad(
        lambda z: float(prior.log_prob(torch.tensor(z, dtype=F64)).exp()), a, b,
        epsabs=1e-12)[0] for a, b in ((-30.0, 0.0), (0.0, 30.0)))
    assert mass == pytest.approx(1.0, abs=1e-8)
    z = torch.linspace(-3, 3, 13, dtype=F64)
    if alpha in (0.0, 1.0):  # one component: torch's Normal
        std = 1.0 if alpha == 1.0 else 0.1
        torch.testing.assert_close(prior.log_prob(z), Normal(0.0, std).log_prob(z))


def test_spike_slab_sample_and_crossover():
    """Draws: variance alpha S^2 + (1 - alpha) s^2 (Monte Carlo); the crossover is
    where the two weighted component densities are equal."""
    prior = SpikeSlab(0.2, 0.1, 1.0)
    z = prior.sample((400_000,), generator=torch.Generator().manual_seed(0))
    assert float(z.var()) == pytest.approx(float(prior.variance), rel=0.02)
    c = prior.crossover
    slab = 0.2 * stats.norm(scale=1.0).pdf(c)
    spike = 0.8 * stats.norm(scale=0.1).pdf(c)
    assert slab == pytest.approx(spike, rel=1e-9)
    assert SpikeSlab(1.0).crossover == 0.0 and SpikeSlab(0.0).crossover == math.inf


# ------------------------------------------------------------------ annealing
def test_linear_annealing_both_directions():
    up = LinearAnnealing(0.1, 1.0, 2e-4, 1500)  # the reference's noise warm-up
    for t in (0, 1500, 3000, 6000, 10_000):
        assert up(t) == min(1.0, 0.1 + 2e-4 * max(0.0, t - 1500))
    down = LinearAnnealing(1.0, 0.001, -0.033, 20)  # the spike-and-slab alpha
    for e in range(60):
        assert down(e) == pytest.approx(
            1.0 if e < 21 else max(0.001, 1.0 - 0.033 * (e - 20)), abs=1e-15)
    v = 1.0
    for _ in range(40):
        v = down.step(v)
    assert v == 0.001


# ------------------------------------------------------------ likelihood
def _factor_model():
    """A model the package does not have: a linear-Gaussian factor model with
    orthogonal loadings, so that its posterior is a factorised Normal and its
    marginal is torch's MultivariateNormal."""
    rng = np.random.RandomState(0)
    n, d, k, sigma, gain = 6, 4, 2, 0.5, 1.5
    W = torch.linalg.qr(torch.tensor(rng.randn(d, k), dtype=F64))[0] * gain
    X = torch.tensor(rng.randn(n, d), dtype=F64)
    exact = torch.distributions.MultivariateNormal(
        torch.zeros(d, dtype=F64), W @ W.T + sigma**2 * torch.eye(d, dtype=F64)).log_prob(X)
    const = d * (math.log(sigma) + 0.5 * math.log(2 * math.pi))

    def log_lik_and_grad(z):
        r = X - z @ W.T
        return -0.5 * (r * r).sum(-1) / sigma**2 - const, (r @ W) / sigma**2

    prec = 1.0 + gain**2 / sigma**2  # W^T W = gain^2 I: posterior precision per latent
    post = Normal((X @ W / sigma**2) / prec, torch.full((n, k), prec**-0.5, dtype=F64))
    prior = Normal(torch.zeros((), dtype=F64), torch.ones((), dtype=F64))
    return X, exact, log_lik_and_grad, post, prior


def test_iwae_works_for_any_model_and_is_exact_with_the_exact_posterior():
    X, exact, log_lik_and_grad, post, prior = _factor_model()
    iw = iwae_log_likelihood(post, lambda z: log_lik_and_grad(z)[0], prior, 3,
                             torch.Generator().manual_seed(0))
    torch.testing.assert_close(iw, exact, rtol=0, atol=1e-10)


def test_ais_approaches_the_exact_marginal_as_steps_grow():
    X, exact, log_lik_and_grad, post, prior = _factor_model()
    ais = ais_log_likelihood(log_lik_and_grad, prior, (64, X.shape[0], 2), 3000,
                             torch.Generator().manual_seed(0), initial_step=0.05)
    torch.testing.assert_close(ais, exact, rtol=0, atol=0.05)
