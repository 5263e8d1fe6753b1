"""Estimators of the marginal likelihood ``log p(x)`` of a latent-variable model.

Both are functions of the model's parts, not methods of one model, so any
estimator with a prior, a likelihood and (for IWAE) an encoder can use them:

* :func:`iwae_log_likelihood`: the importance-weighted bound of Burda et al.
  (2016), with the encoder's Gaussian posterior as proposal;
* :func:`ais_log_likelihood`: annealed importance sampling (Neal 2001) from the
  prior to the posterior with Hamiltonian Monte Carlo moves, as used for
  decoder-based models by Wu et al. (2017); it needs no encoder.

Every draw comes from the ``generator`` passed in (never torch's global RNG).
Results are per row, in nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.distributions import Distribution, Normal

__all__ = ["aggregation_weights", "ais_log_likelihood", "iwae_log_likelihood"]

_LOG_2PI = math.log(2.0 * math.pi)
# Leapfrog steps per HMC move, and the acceptance rate the step size is adapted to.
_LEAPFROG = 5
_TARGET_ACCEPT = 0.65


def iwae_log_likelihood(
    posterior: Normal,
    log_likelihood: Callable[[torch.Tensor], torch.Tensor],
    prior: Distribution,
    n_importance: int,
    generator: torch.Generator,
    *,
    chunk: int = 32,
) -> torch.Tensor:
    """The importance-weighted bound ``log (1/S) sum_s p(x|z_s) p(z_s) / q(z_s|x)``.

    Parameters
    ----------
    posterior : torch.distributions.Normal
        The proposal ``q(z | x)``, batch shape ``(n_rows, n_components)``
        (factorised over the components).
    log_likelihood : callable
        ``z`` of shape ``(m, n_rows, n_components)`` to ``log p(x | z)``, shape
        ``(m, n_rows)``, normalising constant included.
    prior : torch.distributions.Distribution
        The factorised prior: ``prior.log_prob(z)`` is summed over the last axis.
    n_importance : int
        Samples ``S`` per row.
    generator : torch.Generator
        Source of the proposal's noise.
    chunk : int, default=32
        Samples drawn at once (memory stays at ``chunk`` copies of the batch).

    Returns
    -------
    Tensor of shape (n_rows,), float64
    """
    mu, std = posterior.loc, posterior.scale
    log_std_sum = torch.log(std).sum(1)
    acc = None  # running logsumexp over the importance samples, float64
    for start in range(0, n_importance, chunk):
        m = min(chunk, n_importance - start)
        eps = torch.randn((m, *mu.shape), generator=generator, dtype=mu.dtype,
                          device=mu.device)
        z = mu + std * eps
        # log q(z) from the standard noise: exact, and no cancellation in (z - mu) / std.
        log_q = -0.5 * (eps**2).sum(-1) - log_std_sum - 0.5 * _LOG_2PI * mu.shape[1]
        log_w = (log_likelihood(z) + prior.log_prob(z).sum(-1) - log_q).to(torch.float64)
        block = torch.logsumexp(log_w, dim=0)
        acc = block if acc is None else torch.logaddexp(acc, block)
    return acc - math.log(n_importance)


def _autograd_log_prob(log_prob: Callable, z: torch.Tensor):
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        value = log_prob(z)
        (grad,) = torch.autograd.grad(value.sum(), z)
    return value.detach(), grad


def ais_log_likelihood(
    log_likelihood: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    prior: Distribution,
    shape: tuple[int, int, int],
    n_steps: int,
    generator: torch.Generator,
    *,
    initial_step: float,
) -> torch.Tensor:
    """Annealed importance sampling from the prior to the posterior.

    Each of the ``n_chains`` chains per row starts from the prior (drawn by its
    inverse CDF from the generator's uniforms) and moves through ``n_steps``
    distributions ``p(z) p(x|z)^beta`` (``beta`` from 0 to 1 on a sigmoid
    schedule) by one Hamiltonian Monte Carlo move each (5 leapfrog steps and a
    Metropolis correction); the weight accumulates ``(beta_t - beta_{t-1})
    log p(x | z)``. The estimate ``log mean_k exp(w_k)`` is a stochastic lower
    bound whose gap shrinks as ``n_steps`` grows.

    The leapfrog step of every move is fixed before the run: a pilot anneal
    (a quarter of the chains, at least one) adapts a step per chain towards
    65% acceptance, and the run uses, at each temperature, the pilot's
    geometric mean step for that row. A step adapted within the run itself
    would depend on the chain's current state (through the acceptance of the
    move that produced it), and the move would no longer leave its target
    invariant: AIS would be biased low.

    Parameters
    ----------
    log_likelihood : callable
        ``z`` of shape ``shape`` to ``(log p(x | z), d/dz log p(x | z))``, shapes
        ``shape[:2]`` and ``shape``.
    prior : torch.distributions.Distribution
        The factorised prior, with ``icdf`` and ``log_prob`` (summed over the
        last axis; its gradient comes from autograd).
    shape : tuple (n_chains, n_rows, n_components)
    n_steps : int
        Intermediate distributions.
    generator : torch.Generator
    initial_step : float
        Leapfrog step size at the start of every pilot chain.

    Returns
    -------
    Tensor of shape (n_rows,)
    """
    dtype = prior.mean.dtype
    t = torch.linspace(-4.0, 4.0, n_steps + 1, dtype=dtype)
    betas = torch.sigmoid(t)
    betas = ((betas - betas[0]) / (betas[-1] - betas[0])).tolist()
    pilot = (max(1, shape[0] // 4), *shape[1:])
    _, steps = _anneal(log_likelihood, prior, pilot, betas, generator, initial_step, None)
    log_w, _ = _anneal(log_likelihood, prior, shape, betas, generator, initial_step, steps)
    return torch.logsumexp(log_w, dim=0) - math.log(shape[0])


def _anneal(log_likelihood, prior, shape, betas, generator, initial_step, steps):
    """One AIS run: ``(log_w, used)``. With ``steps`` (one ``(n_rows, 1)`` step
    per move) the moves use them; without, each chain adapts its own step
    (the pilot) and ``used`` holds each move's geometric mean step per row."""
    dtype, device = prior.mean.dtype, prior.mean.device
    kw = dict(generator=generator, dtype=dtype, device=device)

    def log_prior(z):
        return _autograd_log_prob(lambda v: prior.log_prob(v).sum(-1), z)

    tiny = torch.finfo(dtype).eps  # torch.rand can return 0, where the icdf is infinite
    z = prior.icdf(torch.rand(shape, **kw).clamp(tiny, 1.0 - tiny))
    eps = torch.full((*shape[:2], 1), initial_step, dtype=dtype, device=device)
    used = []
    ll, g_ll = log_likelihood(z)
    lp, g_lp = log_prior(z)
    log_w = torch.zeros(shape[:2], dtype=dtype, device=device)
    for t, (b_prev, beta) in enumerate(zip(betas[:-1], betas[1:], strict=True)):
        log_w += (beta - b_prev) * ll
        if steps is not None:
            eps = steps[t]
        else:
            used.append(torch.log(eps).mean(0).exp())
        # One HMC move targeting p(z) p(x|z)^beta.
        mom = torch.randn(shape, **kw)
        h0 = -(lp + beta * ll) + 0.5 * (mom * mom).sum(-1)
        zn, pn = z, mom + 0.5 * eps * (g_lp + beta * g_ll)
        for step in range(_LEAPFROG):
            zn = zn + eps * pn
            lln, g_lln = log_likelihood(zn)
            lpn, g_lpn = log_prior(zn)
            grad = g_lpn + beta * g_lln
            pn = pn + (eps if step < _LEAPFROG - 1 else 0.5 * eps) * grad
        h1 = -(lpn + beta * lln) + 0.5 * (pn * pn).sum(-1)
        accept_p = torch.exp(torch.clamp(h0 - h1, max=0.0)).nan_to_num(0.0)
        accept = torch.rand(shape[:2], **kw) < accept_p
        a = accept[..., None]
        z = torch.where(a, zn, z)
        ll, lp = torch.where(accept, lln, ll), torch.where(accept, lpn, lp)
        g_ll, g_lp = torch.where(a, g_lln, g_ll), torch.where(a, g_lpn, g_lp)
        if steps is None:
            eps = eps * torch.exp(0.05 * (accept_p[..., None] - _TARGET_ACCEPT))
    return log_w, used


def aggregation_weights(losses: torch.Tensor, method: str) -> torch.Tensor:
    """Detached weights over draws (axis 0): 1/J (``"avg"``), softmax(-loss)
    (``"iwae"``) or one-hot on the lowest-loss draw (``"max"``).

    How the models that train on several posterior draws per sample (the
    thresholded VAE, variational sparse coding) combine the draws' losses.
    """
    losses = losses.detach()
    if method == "avg":
        return torch.full_like(losses, 1.0 / losses.shape[0])
    if method == "iwae":
        return torch.softmax(-losses, dim=0)
    best = losses.argmin(dim=0, keepdim=True)
    return torch.zeros_like(losses).scatter_(0, best, 1.0)
