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

The thresholded priors and posteriors of :class:`~skdeepsparse.ThresholdedVAE`
(:class:`ThresholdedLaplace`, :class:`ThresholdedNormal`, with their KL
registered by type pair) and the spike-and-slab prior of
:class:`~skdeepsparse.SpikeSlabGenerator` (:class:`SpikeSlab`) are
distribution objects here; :class:`LinearAnnealing` is the one schedule both
models anneal with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch
from torch.distributions import (
    Bernoulli,
    Cauchy,
    Distribution,
    Laplace,
    Normal,
    constraints,
    kl_divergence,
    register_kl,
)

from ._random import hashed_normal, hashed_uniform

__all__ = [
    "PRIORS",
    "THRESHOLDED",
    "LinearAnnealing",
    "SpikeSlab",
    "ThresholdedLaplace",
    "ThresholdedNormal",
    "make_prior",
    "normal_rsample",
    "kl_normal_laplace",
    "kl_to_prior",
    "kl_laplace_laplace",
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


# ----------------------------------------------------------- thresholded family
class _ShiftedThreshold(Distribution):
    """``z = 0`` if ``|e| <= threshold`` else ``loc + sign(e)(|e| - threshold)``,
    ``e`` from the base distribution centred at 0 with scale ``scale``.

    With ``loc = 0`` this is the soft-thresholded prior ``z = T_lambda(u)``;
    with the encoder's location it is the posterior the model samples (the
    threshold acts on the noise, so zero noise gives zero, not ``loc``). A
    mixed distribution: ``log_prob`` is ``log P(z = 0)`` at 0 and the log
    density of the continuous part elsewhere. Subclasses fix the base.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "threshold": constraints.nonnegative}
    support = constraints.real
    has_rsample = True
    _base: type[Distribution]

    def __init__(self, loc, scale, threshold, validate_args=False):
        ref = next((v for v in (loc, scale, threshold) if isinstance(v, torch.Tensor)),
                   torch.zeros((), dtype=torch.get_default_dtype()))
        self.loc, self.scale, self.threshold = torch.broadcast_tensors(*(
            v if isinstance(v, torch.Tensor) else ref.new_tensor(float(v))
            for v in (loc, scale, threshold)))
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def base(self) -> Distribution:
        """The un-thresholded distribution of ``loc + e``."""
        return self._base(self.loc, self.scale, validate_args=False)

    @property
    def nonzero_prob(self) -> torch.Tensor:
        """``P(z != 0) = P(|e| > threshold)``."""
        return self.nonzero_prob_of(self.scale, self.threshold)

    @property
    def mean(self) -> torch.Tensor:
        # The noise is symmetric: E[sign(e)(|e| - lambda); |e| > lambda] = 0.
        return self.nonzero_prob * self.loc

    def rsample(self, sample_shape=(), generator: torch.Generator | None = None):
        """Reparameterised draws; the noise comes from ``generator`` when given."""
        shape = self._extended_shape(torch.Size(sample_shape))
        noise = self.scale * self.standard_noise(shape, generator, self.loc)
        return shifted_soft_threshold(self.loc, noise, self.threshold)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        d = value - self.loc
        e = d + torch.sign(d) * self.threshold  # the noise that gives z != 0
        zero = self._base(torch.zeros_like(self.scale), self.scale, validate_args=False)
        cont = torch.where(d == 0, -math.inf, zero.log_prob(e))
        return torch.where(value == 0, torch.log1p(-self.nonzero_prob), cont)

    @staticmethod
    def nonzero_prob_of(scale, threshold):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def standard_noise(shape, generator, like: torch.Tensor) -> torch.Tensor:
        """Standard base draws (scale 1) from ``generator``."""
        raise NotImplementedError  # pragma: no cover - abstract

    @staticmethod
    def hashed_noise(seeds: torch.Tensor, draw: int, like: torch.Tensor) -> torch.Tensor:
        """Standard base draws of draw ``draw`` for each row, from its seed."""
        raise NotImplementedError  # pragma: no cover - abstract

    @classmethod
    def threshold_for(cls, fraction: float, scale: float) -> float:
        """The threshold at which ``P(z != 0) = fraction`` for base scale ``scale``."""
        raise NotImplementedError  # pragma: no cover - abstract


class ThresholdedLaplace(_ShiftedThreshold):
    """The shifted soft threshold with Laplace noise: ``P(z != 0) = exp(-lambda/b)``,
    and, given ``z != 0``, ``z ~ Laplace(loc, b)`` (the excess over the threshold is
    exponential, memoryless)."""

    _base = Laplace

    @staticmethod
    def nonzero_prob_of(scale, threshold):
        if isinstance(scale, torch.Tensor) or isinstance(threshold, torch.Tensor):
            return torch.exp(-threshold / scale)
        return math.exp(-threshold / scale)

    @staticmethod
    def standard_noise(shape, generator, like):
        return laplace_noise_from_uniform(torch.rand(
            shape, generator=generator, device=like.device, dtype=like.dtype))

    @staticmethod
    def hashed_noise(seeds, draw, like):
        return laplace_noise_from_uniform(
            hashed_uniform(seeds, 2 * draw, like.shape[1], like.dtype))

    @classmethod
    def threshold_for(cls, fraction, scale):
        _check_fraction(fraction)
        return -scale * math.log(fraction)


class ThresholdedNormal(_ShiftedThreshold):
    """The shifted soft threshold with Gaussian noise: ``P(z != 0) = 2 Phi(-lambda/s)``."""

    _base = Normal

    @staticmethod
    def nonzero_prob_of(scale, threshold):
        if isinstance(scale, torch.Tensor) or isinstance(threshold, torch.Tensor):
            return torch.erfc(threshold / (scale * math.sqrt(2.0)))
        return math.erfc(threshold / (scale * math.sqrt(2.0)))

    @staticmethod
    def standard_noise(shape, generator, like):
        return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)

    @staticmethod
    def hashed_noise(seeds, draw, like):
        return hashed_normal(seeds, draw, like.shape[1], like.dtype)

    @classmethod
    def threshold_for(cls, fraction, scale):
        _check_fraction(fraction)
        return scale * NormalDist().inv_cdf(1.0 - fraction / 2.0)


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1); got {fraction}.")


#: The thresholded family of each base distribution name (ThresholdedVAE's base_dist).
THRESHOLDED: dict[str, type[_ShiftedThreshold]] = {"laplace": ThresholdedLaplace,
                                                  "gaussian": ThresholdedNormal}


@register_kl(ThresholdedLaplace, ThresholdedLaplace)
def kl_thresholded_laplace(p: ThresholdedLaplace, q: ThresholdedLaplace) -> torch.Tensor:
    """Exact KL of two thresholded Laplace distributions (the spike-and-slab KL).

    Both put mass ``1 - P(z != 0)`` at 0 and are ``Laplace(loc, b)`` given ``z !=
    0``, so ``KL = KL(Bern(p_nz) || Bern(q_nz)) + p_nz KL(Laplace_p || Laplace_q)``.
    """
    p_nz, q_nz = torch.broadcast_tensors(p.nonzero_prob, q.nonzero_prob)
    spike = kl_divergence(Bernoulli(probs=p_nz, validate_args=False),
                          Bernoulli(probs=q_nz, validate_args=False))
    return spike + p_nz * kl_divergence(p.base, q.base)


def prior_nonzero_fraction(threshold: float, base_dist: str, prior_scale: float) -> float:
    """``P(z != 0)`` under the prior ``z = T_lambda(u)``: ``exp(-lambda/b0)`` for
    ``u ~ Laplace(0, b0)``, ``2 Phi(-lambda/s0)`` for ``u ~ N(0, s0^2)``
    (:meth:`ThresholdedLaplace.nonzero_prob_of`, :meth:`ThresholdedNormal.nonzero_prob_of`).

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
    return THRESHOLDED[base_dist].nonzero_prob_of(prior_scale, threshold)


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
    return THRESHOLDED[base_dist].threshold_for(fraction, prior_scale)


__all__ += ["prior_nonzero_fraction", "threshold_for_nonzero_fraction"]


# ------------------------------------------------------------- spike and slab
class SpikeSlab(Distribution):
    """``alpha N(0, slab_std^2) + (1 - alpha) N(0, spike_std^2)``, per latent
    (Li & Han 2022); ``alpha`` is a float (the annealed slab weight).

    Parameters
    ----------
    alpha : float in [0, 1]
        Slab weight (1: the slab alone, a Gaussian; 0: the spike alone).
    spike_std, slab_std : float
        Standard deviations of the two components.
    """

    arg_constraints = {}
    support = constraints.real

    def __init__(self, alpha: float, spike_std: float = 0.1, slab_std: float = 1.0):
        self.alpha, self.spike_std, self.slab_std = float(alpha), float(spike_std), float(slab_std)
        super().__init__(torch.Size(), validate_args=False)

    @staticmethod
    def _normal_log_prob(z, std):
        return Normal(z.new_zeros(()), z.new_tensor(float(std)), validate_args=False).log_prob(z)

    def _component_log_probs(self, z):
        slab = self._normal_log_prob(z, self.slab_std) + math.log(self.alpha)
        spike = self._normal_log_prob(z, self.spike_std) + math.log1p(-self.alpha)
        return slab, spike

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log p(z)``, elementwise, by logsumexp of the two weighted components."""
        if self.alpha >= 1.0:
            return self._normal_log_prob(value, self.slab_std)
        if self.alpha <= 0.0:
            return self._normal_log_prob(value, self.spike_std)
        return torch.logaddexp(*self._component_log_probs(value))

    def score(self, value: torch.Tensor) -> torch.Tensor:
        """``d/dz log p(z)``, analytic and stable for any ``z``:
        ``-z [(1 - w)/slab_std^2 + w/spike_std^2]`` with ``w`` the spike
        responsibility, a sigmoid of the log-density difference."""
        if self.alpha >= 1.0:
            return -value / self.slab_std**2
        if self.alpha <= 0.0:
            return -value / self.spike_std**2
        slab, spike = self._component_log_probs(value)
        w = torch.sigmoid(spike - slab)
        return -value * ((1.0 - w) / self.slab_std**2 + w / self.spike_std**2)

    @property
    def crossover(self) -> float:
        """``|z|`` below which the spike is the more probable component: the root
        of ``alpha N(z; 0, slab^2) = (1 - alpha) N(z; 0, spike^2)``, ``z*^2 = 2
        log((1 - alpha) slab / (alpha spike)) / (1/spike^2 - 1/slab^2)`` (0 when
        the slab wins everywhere, e.g. ``alpha = 1``; inf at ``alpha = 0``)."""
        alpha = self.alpha
        if alpha >= 1.0:
            return 0.0
        if alpha <= 0.0:
            return math.inf
        s, S = self.spike_std, self.slab_std
        log_ratio = math.log((1.0 - alpha) * S / (alpha * s))
        if log_ratio <= 0.0:
            return 0.0
        return math.sqrt(2.0 * log_ratio / (1.0 / s**2 - 1.0 / S**2))

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(())

    @property
    def variance(self) -> torch.Tensor:
        return torch.tensor(self.alpha * self.slab_std**2
                            + (1.0 - self.alpha) * self.spike_std**2)

    def sample(self, sample_shape=(), generator: torch.Generator | None = None):
        """Draws: each entry from the slab with probability ``alpha``, else the spike."""
        shape = torch.Size(sample_shape)
        slab = torch.rand(shape, generator=generator, dtype=torch.float64) < self.alpha
        std = torch.where(slab, self.slab_std, self.spike_std)
        return std * torch.randn(shape, generator=generator, dtype=torch.float64)


# ------------------------------------------------------------------ annealing
@dataclass(frozen=True)
class LinearAnnealing:
    """A value that moves linearly from ``start`` towards ``stop`` after a delay.

    ``value(t) = clip(start + rate * max(0, t - delay))`` to the interval between
    ``start`` and ``stop``, with ``t`` a counter of the caller's unit (optimiser
    steps, epochs). :meth:`step` is the same schedule as a recurrence, one unit
    at a time, for a caller that keeps the current value instead of a counter.

    Parameters
    ----------
    start, stop : float
        The value up to ``delay`` and the bound it moves towards.
    rate : float
        Change per unit of ``t`` (its sign must point from ``start`` to ``stop``).
    delay : float, default=0
        The counter value at which the change starts.
    """

    start: float
    stop: float
    rate: float
    delay: float = 0.0

    def _clip(self, value: float) -> float:
        lo, hi = min(self.start, self.stop), max(self.start, self.stop)
        return min(hi, max(lo, value))

    def __call__(self, t: float) -> float:
        return self._clip(self.start + self.rate * max(0.0, t - self.delay))

    def step(self, value: float) -> float:
        """The value one unit after ``value`` (past the delay)."""
        return self._clip(value + self.rate)


def has_closed_form_kl(cls: type[Distribution]) -> bool:
    """Whether ``kl_divergence`` has a registered closed form for two ``cls``
    instances (e.g. :class:`ThresholdedLaplace`, not :class:`ThresholdedNormal`)."""
    return _has_kl(cls(0.0, 1.0, 0.5), cls(0.0, 1.0, 0.5))


__all__ += ["has_closed_form_kl"]
