"""Log-densities, scores and KL divergences shared by the probabilistic models.

Plain tensor functions, elementwise over latents (sum over the last axis
yourself). Scales are standard deviations / Laplace scales, never variances,
unless a name says ``var``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "gaussian_log_prob",
    "laplace_log_prob",
    "cauchy_log_prob",
    "kl_gaussian_gaussian",
    "kl_gaussian_laplace",
    "kl_laplace_laplace",
    "kl_bernoulli",
    "spike_slab_log_prob",
    "spike_slab_score",
]

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(z, loc=0.0, scale=1.0):
    """log N(z; loc, scale^2)."""
    scale = torch.as_tensor(scale, dtype=z.dtype, device=z.device)
    return -0.5 * ((z - loc) / scale) ** 2 - torch.log(scale) - 0.5 * _LOG_2PI


def laplace_log_prob(z, loc=0.0, scale=1.0):
    """log Laplace(z; loc, scale) = -|z - loc|/scale - log(2 scale)."""
    scale = torch.as_tensor(scale, dtype=z.dtype, device=z.device)
    return -(z - loc).abs() / scale - torch.log(2.0 * scale)


def cauchy_log_prob(z, loc=0.0, scale=1.0):
    """log Cauchy(z; loc, scale) = -log(1 + ((z-loc)/scale)^2) - log(pi scale)."""
    scale = torch.as_tensor(scale, dtype=z.dtype, device=z.device)
    return -torch.log1p(((z - loc) / scale) ** 2) - torch.log(math.pi * scale)


def kl_gaussian_gaussian(mu, std, prior_std=1.0):
    """KL( N(mu, std^2) || N(0, prior_std^2) ), elementwise, closed form."""
    ratio = (std / prior_std) ** 2
    return 0.5 * (ratio + (mu / prior_std) ** 2 - 1.0 - torch.log(ratio))


def kl_gaussian_laplace(mu, std, prior_scale=1.0):
    """KL( N(mu, std^2) || Laplace(0, prior_scale) ), elementwise, closed form.

    ``E_q|z| = mu erf(mu / (sqrt2 std)) + std sqrt(2/pi) exp(-mu^2 / 2 std^2)``
    (the mean of a folded normal), so
    ``KL = E_q|z|/s + log(2 s) - 0.5 log(2 pi std^2) - 0.5``.
    """
    s = prior_scale
    e_abs = mu * torch.erf(mu / (math.sqrt(2.0) * std)) + std * math.sqrt(
        2.0 / math.pi
    ) * torch.exp(-(mu**2) / (2.0 * std**2))
    return e_abs / s + math.log(2.0 * s) - 0.5 * torch.log(2.0 * math.pi * std**2) - 0.5


def kl_laplace_laplace(mu, scale, prior_scale=1.0):
    """KL( Laplace(mu, scale) || Laplace(0, prior_scale) ), elementwise, closed form."""
    b0 = prior_scale
    return (
        mu.abs() / b0 + math.log(b0) - torch.log(scale) - 1.0
        + (scale / b0) * torch.exp(-mu.abs() / scale)
    )


def kl_bernoulli(p, q, eps: float = 1e-7):
    """KL( Bernoulli(p) || Bernoulli(q) ), elementwise."""
    p = torch.clamp(p, eps, 1 - eps)
    q = torch.as_tensor(q, dtype=p.dtype, device=p.device).clamp(eps, 1 - eps)
    return p * (torch.log(p) - torch.log(q)) + (1 - p) * (torch.log1p(-p) - torch.log1p(-q))


def spike_slab_log_prob(z, alpha, spike_std=0.1, slab_std=1.0):
    """log( alpha N(z;0,slab_std^2) + (1-alpha) N(z;0,spike_std^2) ), via logsumexp."""
    if alpha >= 1.0:
        return gaussian_log_prob(z, 0.0, slab_std)
    if alpha <= 0.0:
        return gaussian_log_prob(z, 0.0, spike_std)
    slab = gaussian_log_prob(z, 0.0, slab_std) + math.log(alpha)
    spike = gaussian_log_prob(z, 0.0, spike_std) + math.log1p(-alpha)
    return torch.logaddexp(slab, spike)


def spike_slab_score(z, alpha, spike_std=0.1, slab_std=1.0):
    """d/dz of :func:`spike_slab_log_prob`, stable for any ``z``.

    ``-z [ (1-w)/slab_std^2 + w/spike_std^2 ]`` with ``w`` the spike
    responsibility, computed as a sigmoid of the log-density difference.
    """
    if alpha >= 1.0:
        return -z / slab_std**2
    if alpha <= 0.0:
        return -z / spike_std**2
    slab = gaussian_log_prob(z, 0.0, slab_std) + math.log(alpha)
    spike = gaussian_log_prob(z, 0.0, spike_std) + math.log1p(-alpha)
    w = torch.sigmoid(spike - slab)
    return -z * ((1.0 - w) / slab_std**2 + w / spike_std**2)
