"""Priors, posteriors and KL divergences shared by the probabilistic models.

Priors and posteriors are :mod:`torch.distributions` objects; KL divergences
come from :func:`torch.distributions.kl_divergence`, dispatched on the type
pair. This module registers the project's closed form of KL(Normal || Laplace)
where the installed torch lacks one, and gives :func:`kl_to_prior`, which falls
back to an exact entropy plus a cross entropy by Monte Carlo or Gauss-Hermite
quadrature for pairs without a closed form (Normal || Cauchy).

Distributions are built with ``validate_args=False``: a diverging model must
produce NaNs that the training loop reports, not a validation error. Sampling
never uses torch's global RNG: draws take the estimator's own generator.

Scales are standard deviations / Laplace scales, never variances.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import (
    Cauchy,
    Distribution,
    Laplace,
    Normal,
    kl_divergence,
    register_kl,
)

__all__ = [
    "PRIORS",
    "make_prior",
    "normal_rsample",
    "kl_normal_laplace",
    "kl_to_prior",
    "kl_laplace_laplace",
    "spike_slab_log_prob",
    "spike_slab_score",
    "spike_slab_alpha",
    "spike_slab_crossover",
]

# The factorised, zero-centred priors offered by the models, by name.
PRIORS: dict[str, type[Distribution]] = {"gaussian": Normal, "laplace": Laplace,
                                         "cauchy": Cauchy}

# Gauss-Hermite nodes of the deterministic cross entropy (pairs without a closed form).
_N_QUADRATURE = 48


def make_prior(name: str, scale: float, like: torch.Tensor) -> Distribution:
    """The zero-centred prior ``PRIORS[name](0, scale)`` in the dtype and device of ``like``."""
    return PRIORS[name](like.new_zeros(()), like.new_tensor(float(scale)),
                        validate_args=False)


def normal_rsample(q: Normal, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    """``n_samples`` reparameterised draws ``loc + scale * eps`` of ``q``, shape
    ``(n_samples, *q.batch_shape)``, with ``eps`` from ``generator`` (never the
    global RNG)."""
    eps = torch.randn((n_samples, *q.loc.shape), generator=generator,
                      dtype=q.loc.dtype, device=q.loc.device)
    return q.loc + q.scale * eps


def kl_normal_laplace(p: Normal, q: Laplace) -> torch.Tensor:
    """KL( N(mu, std^2) || Laplace(m, b) ), elementwise, closed form.

    With ``d = mu - m``, ``E_p|z - m| = d erf(d / (sqrt2 std)) + std sqrt(2/pi)
    exp(-d^2 / 2 std^2)`` (the mean of a folded normal), so
    ``KL = E_p|z - m| / b + log(2 b) - 0.5 log(2 pi std^2) - 0.5``.
    Registered for ``kl_divergence(Normal, Laplace)`` when torch has none.
    """
    d, std, b = p.loc - q.loc, p.scale, q.scale
    e_abs = d * torch.erf(d / (math.sqrt(2.0) * std)) + std * math.sqrt(
        2.0 / math.pi) * torch.exp(-(d**2) / (2.0 * std**2))
    return e_abs / b + torch.log(2.0 * b) - 0.5 * torch.log(2.0 * math.pi * std**2) - 0.5


def _has_kl(p: Distribution, q: Distribution) -> bool:
    try:
        kl_divergence(p, q)
    except NotImplementedError:
        return False
    return True


# Older torch releases have no Normal-Laplace KL; newer ones carry the same closed form.
if not _has_kl(Normal(0.0, 1.0), Laplace(0.0, 1.0)):
    register_kl(Normal, Laplace)(kl_normal_laplace)


def kl_to_prior(q: Normal, prior: Distribution, *, exact: bool, n_samples: int = 100,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Elementwise KL( q || prior ) for a Gaussian posterior ``q``.

    ``kl_divergence(q, prior)`` when the type pair is registered. Otherwise the
    exact negative entropy of ``q`` plus the cross entropy ``-E_q log p(z)``: by
    a 48-node Gauss-Hermite quadrature (``exact=True``, deterministic) or by
    Monte Carlo with ``n_samples`` draws from ``generator`` (``exact=False``).
    """
    try:
        return kl_divergence(q, prior)
    except NotImplementedError:
        pass
    if exact:
        # E_q f(z) = sum_i w_i f(mu + sqrt2 std x_i) / sqrt(pi); a loop over the
        # nodes keeps memory at one array of q's shape.
        nodes, weights = np.polynomial.hermite.hermgauss(_N_QUADRATURE)
        cross = torch.zeros_like(q.loc)
        for x_i, w_i in zip(nodes, weights / math.sqrt(math.pi), strict=True):
            cross = cross - float(w_i) * prior.log_prob(
                q.loc + (math.sqrt(2.0) * float(x_i)) * q.scale)
    else:
        cross = -prior.log_prob(normal_rsample(q, n_samples, generator)).mean(0)
    return cross - q.entropy()


def kl_laplace_laplace(mu, scale, prior_scale=1.0):
    """KL( Laplace(mu, scale) || Laplace(0, prior_scale) ), elementwise (a shorthand
    for ``kl_divergence`` on tensors of parameters)."""
    prior_scale = torch.as_tensor(prior_scale, dtype=mu.dtype, device=mu.device)
    return kl_divergence(Laplace(mu, scale, validate_args=False),
                         Laplace(0.0, prior_scale, validate_args=False))


def _normal_log_prob(z, std):
    return Normal(z.new_zeros(()), z.new_tensor(float(std)), validate_args=False).log_prob(z)


def spike_slab_log_prob(z, alpha, spike_std=0.1, slab_std=1.0):
    """log( alpha N(z;0,slab_std^2) + (1-alpha) N(z;0,spike_std^2) ), via logsumexp."""
    if alpha >= 1.0:
        return _normal_log_prob(z, slab_std)
    if alpha <= 0.0:
        return _normal_log_prob(z, spike_std)
    slab = _normal_log_prob(z, slab_std) + math.log(alpha)
    spike = _normal_log_prob(z, spike_std) + math.log1p(-alpha)
    return torch.logaddexp(slab, spike)


def spike_slab_score(z, alpha, spike_std=0.1, slab_std=1.0):
    """d/dz of :func:`spike_slab_log_prob`, analytic and stable for any ``z``.

    ``-z [ (1-w)/slab_std^2 + w/spike_std^2 ]`` with ``w`` the spike
    responsibility, computed as a sigmoid of the log-density difference.
    """
    if alpha >= 1.0:
        return -z / slab_std**2
    if alpha <= 0.0:
        return -z / spike_std**2
    slab = _normal_log_prob(z, slab_std) + math.log(alpha)
    spike = _normal_log_prob(z, spike_std) + math.log1p(-alpha)
    w = torch.sigmoid(spike - slab)
    return -z * ((1.0 - w) / slab_std**2 + w / spike_std**2)


# Thresholded priors (ThresholdedVAE): z = T_lambda(u), u ~ Laplace(0, b0) or N(0, s0^2).
__all__ += ["prior_nonzero_fraction", "threshold_for_nonzero_fraction"]


def prior_nonzero_fraction(threshold: float, base_dist: str, prior_scale: float) -> float:
    """``P(z != 0)`` under the prior ``z = T_lambda(u)``: ``exp(-lambda/b0)`` for
    ``u ~ Laplace(0, b0)``, ``2 Phi(-lambda/s0)`` for ``u ~ N(0, s0^2)``.

    Parameters
    ----------
    threshold : float
        ``lambda >= 0``.
    base_dist : {"laplace", "gaussian"}
    prior_scale : float
        ``b0`` or ``s0``.

    Returns
    -------
    float
    """
    if base_dist == "laplace":
        return math.exp(-threshold / prior_scale)
    return math.erfc(threshold / (prior_scale * math.sqrt(2.0)))


def threshold_for_nonzero_fraction(fraction: float, base_dist: str, prior_scale: float) -> float:
    """The inverse of :func:`prior_nonzero_fraction`: ``lambda = -b0 log(p)``
    (Laplace) or ``s0 Phi^{-1}(1 - p/2)`` (Gaussian).

    Parameters
    ----------
    fraction : float in (0, 1)
        Prior probability ``p`` that a latent is non-zero.
    base_dist : {"laplace", "gaussian"}
    prior_scale : float

    Returns
    -------
    float
    """
    from statistics import NormalDist

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1); got {fraction}.")
    if base_dist == "laplace":
        return -prior_scale * math.log(fraction)
    return prior_scale * NormalDist().inv_cdf(1.0 - fraction / 2.0)


def spike_slab_alpha(
    epoch: int,
    *,
    alpha_init: float = 1.0,
    alpha_final: float = 0.001,
    alpha_decay: float = 0.033,
    warmup_epochs: int = 21,
) -> float:
    """Slab weight ``alpha`` of the per-epoch annealing schedule.

    ``alpha = alpha_init`` for the first ``warmup_epochs`` epochs (0-based
    ``epoch < warmup_epochs``); afterwards it drops by ``alpha_decay`` per
    epoch and is floored at ``alpha_final``::

        alpha(e) = max(alpha_final, alpha_init - alpha_decay * (e - warmup_epochs + 1))

    Parameters
    ----------
    epoch : int
        0-based epoch counter (``n_iter_`` before the epoch runs).
    alpha_init, alpha_final, alpha_decay : float
        Start value, floor and decrement.
    warmup_epochs : int
        Epochs spent at ``alpha_init``.

    Returns
    -------
    float
    """
    if epoch < warmup_epochs:
        return float(alpha_init)
    return float(max(alpha_final, alpha_init - alpha_decay * (epoch - warmup_epochs + 1)))


def spike_slab_crossover(alpha: float, spike_std: float, slab_std: float) -> float:
    """``|z|`` below which the spike is the more probable component of the prior.

    The root of ``alpha N(z; 0, slab^2) = (1 - alpha) N(z; 0, spike^2)``:
    ``z*^2 = 2 log((1 - alpha) slab / (alpha spike)) / (1/spike^2 - 1/slab^2)``
    (0 when the slab wins everywhere, e.g. ``alpha = 1``; inf at ``alpha = 0``).
    """
    if alpha >= 1.0:
        return 0.0
    if alpha <= 0.0:
        return math.inf
    s, S = float(spike_std), float(slab_std)
    log_ratio = math.log((1.0 - alpha) * S / (alpha * s))
    if log_ratio <= 0.0:
        return 0.0
    return math.sqrt(2.0 * log_ratio / (1.0 / s**2 - 1.0 / S**2))


# ThresholdedVAE's sampler (Fallah & Rozell 2022).
__all__ += ["laplace_noise_from_uniform", "shifted_soft_threshold"]


def laplace_noise_from_uniform(u: torch.Tensor) -> torch.Tensor:
    """Standard Laplace draws by the inverse CDF of uniforms ``u``, clipped to
    ``[eps, 1 - eps]`` of their dtype (``torch.rand`` can return 0)."""
    tiny = torch.finfo(u.dtype).eps
    zero = u.new_zeros(())
    return Laplace(zero, zero + 1.0, validate_args=False).icdf(u.clamp(tiny, 1.0 - tiny))


def shifted_soft_threshold(mu: torch.Tensor, noise: torch.Tensor, threshold) -> torch.Tensor:
    """``z = 0`` where ``|e| <= lambda``, else ``mu + sign(e)(|e| - lambda)``: the
    threshold acts on the noise (zero noise gives zero, not ``mu``)."""
    active = noise.abs() > threshold
    shrunk = mu + torch.sign(noise) * (noise.abs() - threshold)
    return torch.where(active, shrunk, torch.zeros_like(shrunk))


def _straight_through(mu, noise, threshold, estimator: str, thresholding: bool):
    """Thresholded reparameterised sample; the value is :func:`shifted_soft_threshold`,
    the gradient the estimator's. With ``e = w b eps`` (``eps`` standard noise,
    ``b`` the posterior scale, ``w`` the warm-up) and ``a = 1[|e| > lambda]``:

    * ``"straight"`` (the reference code's): the threshold sees the noise with
      its scale detached, ``z = T(mu, sg(e), lambda) + (mu + e) - sg(mu + e)``,
      so dz/dmu = 1 + a, dz/db = w eps (the noise alone, active or not) and
      dz/dlambda = -sign(e) a.
    * ``"straight_pure"``: dz/dmu = 1, dz/db = w eps, no path to lambda.
    * ``"subgradient"``: autograd through the threshold: dz/dmu = a,
      dz/db = a w eps, dz/dlambda = -sign(e) a.

    Without thresholding (a plain VAE) this is the usual ``z = mu + e``.
    """
    if not thresholding:
        return mu + noise
    if estimator == "subgradient":
        return shifted_soft_threshold(mu, noise, threshold)
    z_base = mu + noise
    ste = z_base - z_base.detach()  # exactly zero in value, identity gradient
    if estimator == "straight":
        return shifted_soft_threshold(mu, noise.detach(), threshold) + ste
    return shifted_soft_threshold(mu, noise, threshold).detach() + ste
