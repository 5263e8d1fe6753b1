"""Variational sparse coding: a spike-and-slab VAE (Tonolini, Jensen & Murray-Smith 2019).

The comparator of Fallah & Rozell (ICML 2022): the spike-and-slab VAE that their
reference code runs beside the thresholded estimator (spec section 2.7,
"concreteslab"), here with the same linear dictionary and dictionary update as
:class:`~skdeepsparse.ThresholdedVAE`, so the two differ only in the code
posterior and its sampler.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import (
    Bernoulli,
    Distribution,
    Normal,
    constraints,
    kl_divergence,
    register_kl,
)

from ._base import BaseSparseEstimator
from ._docstrings import fill_doc
from ._optim import group_constraints
from ._sklearn_compat import Interval, StrOptions
from ._validation import check_layer_sizes
from .distributions import LinearAnnealing
from .likelihood import aggregation_weights
from .nn import MLP, LinearDictionary
from .solvers import dictionary_gradient_step

__all__ = ["PointMassSpikeSlab", "VariationalSparseCoding", "relaxed_bernoulli",
           "gamma_from_logits"]

# The thresholded VAE's CPU default (#32); the reference's (512, 1024, 512, 256) is
# in the registry's "paper" preset.
_DEFAULT_MLP_HIDDEN = (256, 128)
# gamma is kept inside [eps, 1 - eps] where a log or a logit of it is taken: the
# reference's link gives gamma = 1 exactly for every positive pre-activation.
_GAMMA_EPS = 1e-6
_POS_INT = [Interval(Integral, 1, None, closed="left")]
_NON_NEG = [Interval(Real, 0, None, closed="left")]


# ------------------------------------------------------------ the distribution
class PointMassSpikeSlab(Distribution):
    """``slab_prob N(loc, scale^2) + (1 - slab_prob) delta_0``, per latent.

    Tonolini et al.'s prior (``loc = 0``, ``scale = 1``, ``slab_prob = alpha``)
    and posterior (the encoder's ``mu``, ``s`` and ``gamma``). Unlike
    :class:`~skdeepsparse.distributions.SpikeSlab` (a narrow Gaussian spike),
    the spike is an exact point mass, so draws have exact zeros. ``log_prob``
    is the log density with respect to a point mass at 0 plus Lebesgue measure:
    ``log(1 - slab_prob)`` at 0 and ``log(slab_prob N(z; loc, scale^2))``
    elsewhere. (To move to :mod:`skdeepsparse.distributions`.)

    Parameters
    ----------
    loc, scale : Tensor or float
        Mean and standard deviation of the Gaussian slab.
    slab_prob : Tensor or float in [0, 1]
        ``P(z != 0)``.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "slab_prob": constraints.unit_interval}
    support = constraints.real

    def __init__(self, loc, scale, slab_prob, validate_args=False):
        ref = next((v for v in (loc, scale, slab_prob) if isinstance(v, torch.Tensor)),
                   torch.zeros((), dtype=torch.get_default_dtype()))
        self.loc, self.scale, self.slab_prob = torch.broadcast_tensors(*(
            v if isinstance(v, torch.Tensor) else ref.new_tensor(float(v))
            for v in (loc, scale, slab_prob)))
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def slab(self) -> Normal:
        return Normal(self.loc, self.scale, validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        return self.slab_prob * self.loc

    @property
    def mode(self) -> torch.Tensor:
        """``loc`` where the slab is the more probable component, else 0."""
        return torch.where(self.slab_prob > 0.5, self.loc, torch.zeros_like(self.loc))

    def sample(self, sample_shape=(), generator: torch.Generator | None = None):
        shape = self._extended_shape(torch.Size(sample_shape))
        like = self.loc
        u = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
        eps = torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)
        return torch.where(u < self.slab_prob, self.loc + self.scale * eps,
                           torch.zeros_like(eps))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        cont = torch.log(self.slab_prob) + self.slab.log_prob(value)
        return torch.where(value == 0, torch.log1p(-self.slab_prob), cont)


@register_kl(PointMassSpikeSlab, PointMassSpikeSlab)
def kl_point_mass_spike_slab(p: PointMassSpikeSlab, q: PointMassSpikeSlab) -> torch.Tensor:
    """Exact KL of two point-mass spike-and-slabs: both put their spike at 0, so
    ``KL = KL(Bern(p.slab_prob) || Bern(q.slab_prob)) + p.slab_prob KL(slab_p || slab_q)``
    (Tonolini et al.'s KL, with a standard-normal slab)."""
    a, b = torch.broadcast_tensors(p.slab_prob, q.slab_prob)
    spike = kl_divergence(Bernoulli(probs=a, validate_args=False),
                          Bernoulli(probs=b, validate_args=False))
    return spike + a * kl_divergence(p.slab, q.slab)


# --------------------------------------------------------------- the sampler
def gamma_from_logits(logits: torch.Tensor, link: str) -> torch.Tensor:
    """``gamma`` from the encoder's spike pre-activation, inside ``[eps, 1 - eps]``.

    ``"exp"``: ``exp(-relu(-l)) = min(1, exp(l))``, the reference code's form;
    ``"sigmoid"``: ``1 / (1 + exp(-l))``, whose gradient never vanishes.
    """
    gamma = torch.exp(-F.relu(-logits)) if link == "exp" else torch.sigmoid(logits)
    return gamma.clamp(_GAMMA_EPS, 1.0 - _GAMMA_EPS)


def relaxed_bernoulli(gamma: torch.Tensor, u: torch.Tensor, temperature: float,
                      straight_through: bool) -> torch.Tensor:
    """Selection variables from uniforms ``u``: the binary concrete (relaxed
    Bernoulli) of Maddison et al. (2017), ``sigmoid((logit(gamma) + log u -
    log(1 - u)) / temperature)``. With ``straight_through`` the value is its
    rounding, ``1[logit(gamma) + log u - log(1 - u) > 0]``, an exact
    ``Bernoulli(gamma)`` draw, and the gradient the relaxed sample's."""
    logits = torch.log(gamma) - torch.log1p(-gamma) + torch.log(u) - torch.log1p(-u)
    soft = torch.sigmoid(logits / temperature)
    if not straight_through:
        return soft
    hard = (logits > 0).to(soft.dtype)
    return hard + (soft - soft.detach())  # exactly 0/1 in value


class _VSCModule(nn.Module):
    """Feature network, heads ``loc``, ``log_var`` and ``spike``, linear dictionary."""

    def __init__(self, features: nn.Module, n_hidden: int, n_components: int,
                 decoder: nn.Module):
        super().__init__()
        self.features = features
        self.decoder = decoder
        self.loc = nn.Linear(n_hidden, n_components)
        self.log_var = nn.Linear(n_hidden, n_components)
        self.spike = nn.Linear(n_hidden, n_components)

    def encode(self, y):
        h = self.features(y)
        return self.loc(h), self.log_var(h), self.spike(h)


@fill_doc(optimizer="adam", learning_rate=1e-3, adam_betas=(0.5, 0.999),
          lr_schedule="one_cycle", batch_size=100, max_epochs=20, groups={"decoder": (
              "the linear dictionary ``Phi``, stepped on its hand-set gradient as in "
              ":class:`~skdeepsparse.ThresholdedVAE`; the main group trains the encoder",
              dict(optimizer="adam", learning_rate=1e-2, momentum=0.0,
                   adam_betas=(0.9, 0.999), weight_decay=2e-4, lr_schedule="step",
                   lr_decay=0.99, lr_decay_every=1),
              dict(optimizer="Optimizer of the dictionary (plain SGD is the reference's, "
                             "in the ``paper`` preset; ``\"auto\"`` is SGD).",
                   learning_rate="``\"auto\"``: 0.5 (SGD, the reference) or 1e-3 (Adam).",
                   weight_decay="Weight decay of the dictionary (the reference's "
                                "``rho ||Phi||^2`` with ``rho = 1e-4`` is 2e-4).",
                   lr_decay="The dictionary's ``StepLR`` factor every "
                            "``decoder_lr_decay_every`` epochs."))})
class VariationalSparseCoding(BaseSparseEstimator):
    """Variational sparse coding: a VAE with a spike-and-slab code posterior.

    Tonolini, Jensen & Murray-Smith (UAI 2019), as Fallah & Rozell (ICML 2022)
    run it beside the thresholded VAE: ``x | z ~ N(Phi z, sigma^2 I)``, prior
    ``p(z_k) = alpha N(0, 1) + (1 - alpha) delta_0`` and posterior ``q(z_k|x)
    = gamma_k N(mu_k, s_k^2) + (1 - gamma_k) delta_0``, the encoder giving
    ``mu``, ``log s^2`` and the spike probability ``gamma``. Each step draws
    ``J = n_mc_samples`` codes ``z = c * (mu + s eps)``, ``c`` a relaxed
    Bernoulli selection at temperature ``tau`` (rounded, straight-through),
    and minimises ``mean_d (x_d - (Phi z)_d)^2 + kl_weight sum_k KL_k`` over
    the draws as ``sample_method`` says, with the exact KL ``KL_k = gamma_k
    KL(N(mu_k, s_k^2) || N(0, 1)) + KL(Bern(gamma_k) || Bern(alpha))``. The
    dictionary has its own optimizer and hand-set gradient, as in
    :class:`~skdeepsparse.ThresholdedVAE`.

    Parameters
    ----------
    n_components : int, default=128
        Number of latents ``K`` (atoms of the dictionary).
    encoder_hidden_sizes : tuple of int or None, default=None
        Widths of the ReLU MLP before the three linear heads (None: (256, 128),
        the thresholded VAE's CPU default; the reference's (512, 1024, 512, 256)
        for 16x16 patches is in the ``paper`` preset; () : linear heads on
        ``x``).
    target_density : float in (0, 1), default=0.2
        Prior fraction of **non-zero** latents, the slab probability ``alpha``
        (the reference's 0.1 is in the ``paper`` preset).
    spike_link : {"exp", "sigmoid"}, default="exp"
        ``gamma = exp(-relu(-l)) = min(1, e^l)`` (the reference code's form, the
        default so that the comparator is the one the paper ran; its gradient
        is zero once ``l > 0``, so a latent at ``gamma = 1`` stays there until
        the data push ``l`` back) or ``sigmoid(l)`` (a gradient everywhere).
        ``gamma`` is clipped to ``[1e-6, 1 - 1e-6]`` inside logs.
    kl_weight : float, default=3e-3
        Weight of the KL: a beta-ELBO with noise variance ``D kl_weight / 2``
        (the reference's 0.01 is in the ``paper`` preset).
    n_mc_samples : int, default=5
        Draws ``J`` per sample and training step.
    sample_method : {"max", "avg", "iwae"}, default="max"
        As in :class:`~skdeepsparse.ThresholdedVAE`: the lowest-loss draw
        (max-ELBO), the mean, or softmax(-loss) weights.
    temperature : float, default=1.0
        Starting temperature ``tau`` of the relaxed Bernoulli (the reference's
        start is not given in our notes; 1 is ours).
    temperature_decay : float in (0, 1], default=0.9995
        ``tau`` is multiplied by this after every training step (the
        reference's) ...
    temperature_min : float, default=0.5
        ... down to this floor (the reference's for the linear generator).
    straight_through : bool, default=True
        Round the relaxed selection to 0/1 in the forward pass and keep the
        relaxed sample's gradient (the reference's): the codes are exact
        spike-and-slab draws whatever ``tau``. False keeps the relaxed,
        non-zero selections.
    %(decoder_group_parameters)s
    decoder_norm : float or None, default=None
        Hold every atom (column of the dictionary) at this L2 norm, rescaling
        after every update; None leaves the atoms free.
    decoder_step_cap : bool, default=True
        SGD: cap the dictionary step at ``1/L`` (``L``: top eigenvalue of the
        weighted code second moment, plus ``decoder_weight_decay``).
    standardize : bool, default=True
        Global scalar mean and std (the scale the N(0, 1) slab and ``kl_weight``
        assume).
    transform_mode : {"mode", "mean", "sample"}, default="mode"
        ``mu`` where ``gamma > 1/2``, else 0: the posterior mode of the
        selection, deterministic, with exact zeros; the posterior mean ``gamma
        mu`` (dense); a fresh posterior draw (exact zeros, not deterministic).
    %(training_parameters)s

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Atoms in data units: ``inverse_transform(Z) == Z @ components_ + mean_``.
    temperature_ : float
        The relaxed Bernoulli's temperature after the last training step.
    mean_, scale_ : float
        The standardisation (0 and 1 without it).
    module_ : torch.nn.Module
        ``features``, heads ``loc``, ``log_var``, ``spike``, ``decoder``.
    history_ : list of dict
        Per epoch: ``loss``, ``recon``, ``kl``, ``l0``, ``zeros``,
        ``spike_prob`` (mean ``gamma``), ``temperature``, ``lr``,
        ``decoder_lr``, ``atom_norm``, ``decoder_step_capped``, ``val_loss``,
        ``time``.
    device_, n_iter_, n_steps_, best_epoch_, n_features_in_, feature_names_in_
        As for every skdeepsparse estimator.

    See Also
    --------
    ThresholdedVAE : Fallah & Rozell's thresholded samples, the model this one
        is the comparator of.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepsparse import VariationalSparseCoding
    >>> X = load_digits().data / 16
    >>> vsc = VariationalSparseCoding(n_components=32, encoder_hidden_sizes=(64,),
    ...                               n_mc_samples=4, max_epochs=2, random_state=0,
    ...                               device="cpu")
    >>> vsc.fit_transform(X).shape
    (1797, 32)
    """

    _parameter_constraints: dict = {
        **BaseSparseEstimator._parameter_constraints,
        **group_constraints("decoder"),
        **dict.fromkeys(("n_components", "n_mc_samples"), _POS_INT),
        "kl_weight": _NON_NEG,
        "encoder_hidden_sizes": [tuple, list, None],
        "target_density": [Interval(Real, 0, 1, closed="neither")],
        "spike_link": [StrOptions({"exp", "sigmoid"})],
        "sample_method": [StrOptions({"max", "avg", "iwae"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "temperature_decay": [Interval(Real, 0, 1, closed="right")],
        "temperature_min": [Interval(Real, 0, None, closed="neither")],
        **dict.fromkeys(("straight_through", "decoder_step_cap", "standardize"), ["boolean"]),
        "decoder_norm": [Interval(Real, 0, None, closed="neither"), None],
        "transform_mode": [StrOptions({"mode", "mean", "sample"})],
    }
    _free_params = frozenset({
        "kl_weight", "n_mc_samples", "sample_method", "temperature", "temperature_decay",
        "temperature_min", "straight_through", "decoder_norm", "decoder_step_cap",
        "transform_mode"})
    _optimizer_groups = ("decoder",)
    _default_optimizer = "sgd"
    _default_learning_rate = 0.01

    def __init__(
        self, n_components=128, *, encoder_hidden_sizes=None, target_density=0.2,
        spike_link="exp", kl_weight=3e-3, n_mc_samples=5, sample_method="max",
        temperature=1.0, temperature_decay=0.9995, temperature_min=0.5, straight_through=True,
        decoder_optimizer="adam", decoder_learning_rate=1e-2, decoder_momentum=0.0,
        decoder_adam_betas=(0.9, 0.999), decoder_weight_decay=2e-4, decoder_lr_schedule="step",
        decoder_lr_decay=0.99, decoder_lr_decay_every=1, decoder_warmup_fraction=None,
        decoder_norm=None, decoder_step_cap=True, standardize=True, transform_mode="mode",
        optimizer="adam", learning_rate=1e-3, momentum=0.9, adam_betas=(0.5, 0.999),
        weight_decay=0.0, lr_schedule="one_cycle", lr_decay=1.0, lr_decay_every=1,
        warmup_fraction=0.05, batch_size=100, max_epochs=20, validation_fraction=0.1,
        n_iter_no_change=None, tol=0.0, shuffle=True, warm_start=False, device="auto",
        random_state=None, verbose=0,
    ):
        # sklearn's contract: store every argument unchanged, under its own name.
        for name, value in list(locals().items()):
            if name != "self":
                setattr(self, name, value)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.transform_mode == "sample"  # fresh draws
        return tags

    # ------------------------------------------------------------ set-up
    def _check_params(self, X):
        if self.encoder_hidden_sizes is not None:
            check_layer_sizes(self, "encoder_hidden_sizes")
        if self.temperature_min > self.temperature:
            raise ValueError(f"temperature_min={self.temperature_min} must not exceed "
                             f"temperature={self.temperature} (the schedule only cools).")

    def _on_fit_start(self, X):
        self._fit_standardization(X, self.standardize)

    def _build_module(self, n_features):
        K = self.n_components
        hidden = (_DEFAULT_MLP_HIDDEN if self.encoder_hidden_sizes is None
                  else tuple(self.encoder_hidden_sizes))
        features, n_hidden = nn.Identity(), n_features
        if hidden:
            features, n_hidden = nn.Sequential(MLP([n_features, *hidden]), nn.ReLU()), hidden[-1]
        decoder = LinearDictionary(K, n_features, bias=False, unit_normal=True)
        # Updated by its own optimizer on a hand-set gradient, not by the loss.
        decoder.weight.requires_grad_(False)
        return _VSCModule(features, n_hidden, K, decoder)

    def _parameter_groups(self):
        W = self.module_.decoder.weight
        return {"main": [p for p in self.module_.parameters() if p is not W], "decoder": [W]}

    def _auto_setting(self, group, name, optimizer):
        if group == "decoder":  # the reference's plain SGD and its rate
            if name == "optimizer":
                return "sgd"
            return 0.5 if optimizer == "sgd" else 1e-3
        return super()._auto_setting(group, name, optimizer)

    @property
    def components_(self) -> np.ndarray:
        """Dictionary atoms in data units, shape (n_components, n_features)."""
        if not hasattr(self, "module_"):
            raise AttributeError("components_ exists only after fit.")
        return self._to_numpy(self.module_.decoder.weight.T * self.scale_)

    @property
    def temperature_(self) -> float:
        """``max(temperature_min, temperature * temperature_decay ** n_steps_)``, by
        the library's linear schedule on ``log tau``."""
        t0, t_min = math.log(self.temperature), math.log(self.temperature_min)
        schedule = LinearAnnealing(t0, t_min, math.log(self.temperature_decay))
        return math.exp(schedule(getattr(self, "n_steps_", 0)))

    # ------------------------------------------------------------ the model
    def _posterior(self, Y) -> PointMassSpikeSlab:
        mu, log_var, logits = self.module_.encode(Y)
        return PointMassSpikeSlab(mu, torch.exp(0.5 * log_var),
                                  gamma_from_logits(logits, self.spike_link))

    def _prior(self, like: torch.Tensor) -> PointMassSpikeSlab:
        return PointMassSpikeSlab(like.new_zeros(()), like.new_ones(()),
                                  like.new_tensor(float(self.target_density)))

    def _codes(self, q: PointMassSpikeSlab, eps, u, temperature):
        """Codes ``c * (mu + s eps)`` of draws ``(eps, u)`` (shape (J, B, K))."""
        c = relaxed_bernoulli(q.slab_prob, u, temperature, self.straight_through)
        return c * (q.loc + q.scale * eps)

    def _draw_losses(self, Y, Z, kl):
        """Per-draw losses ``l_j`` (J, B), their reconstruction part and the decoded draws."""
        J, B, K = Z.shape
        X_hat = self.module_.decoder(Z.reshape(J * B, K)).reshape(J, B, -1)
        recon = ((Y - X_hat) ** 2).mean(-1)
        return recon + self.kl_weight * kl, recon, X_hat

    def _train_step(self, X, rows=None):
        Y = self._standardize(X)
        J, B, K = self.n_mc_samples, Y.shape[0], self.n_components
        q = self._posterior(Y)
        kl = kl_divergence(q, self._prior(Y)).sum(-1)
        tau = self.temperature_
        eps = torch.randn((J, B, K), generator=self._generator, dtype=Y.dtype, device=Y.device)
        u = torch.rand((J, B, K), generator=self._generator, dtype=Y.dtype, device=Y.device)
        u = u.clamp(_GAMMA_EPS, 1.0 - _GAMMA_EPS)
        if self.sample_method == "max" and J > 1:
            # Only the kept draw has weight: pick it without autograd, then back-
            # propagate it alone (the linear decoder maps rows independently, so the
            # value and gradient are those of the full J x B batch).
            with torch.no_grad():
                best = self._draw_losses(Y, self._codes(q, eps, u, tau), kl)[0].argmin(0)
            rows_ = torch.arange(B, device=Y.device)
            eps, u = eps[best, rows_].unsqueeze(0), u[best, rows_].unsqueeze(0)
        Z = self._codes(q, eps, u, tau)
        losses, recon, X_hat = self._draw_losses(Y, Z, kl)
        weights = aggregation_weights(losses, self.sample_method)
        loss = (weights * losses).sum(0).mean()
        opt = self._optimizer("main")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        atom_norm, capped = self._update_dictionary(Y, X_hat.detach(), Z.detach(), weights)
        with torch.no_grad():
            zeros = (weights * (Z == 0).to(Y.dtype).mean(-1)).sum(0).mean()
            return {"loss": loss.detach(), "recon": (weights * recon.detach()).sum(0).mean(),
                    "kl": kl.detach().mean(), "l0": K * (1.0 - zeros), "zeros": zeros,
                    "spike_prob": q.slab_prob.detach().mean(), "temperature": tau,
                    "atom_norm": atom_norm, "decoder_step_capped": capped}

    @torch.no_grad()
    def _update_dictionary(self, Y, X_hat, Z, weights):
        """Step the dictionary optimizer on the hand-set gradient of ``(1/2B) sum_ij
        w_ij ||x_i - Phi z_ij||^2`` (detached draws), as the thresholded VAE does;
        the optimizer adds the weight decay, the SGD cap lowers the step to 1/L."""
        Phi = self.module_.decoder.weight
        opt = self._optimizer("decoder")
        settings = self._optim.settings["decoder"]
        B = Y.shape[0]
        sw = weights.sqrt().unsqueeze(-1)
        Zs = (sw * Z).reshape(-1, Z.shape[-1])
        Rs = (sw * (Y - X_hat)).reshape(-1, Y.shape[1])
        return dictionary_gradient_step(
            Phi, opt, Zs, Rs, B, step_cap=settings.optimizer == "sgd" and self.decoder_step_cap,
            weight_decay=settings.weight_decay, norm=self.decoder_norm)

    # ------------------------------------------------------------ inference
    def _transform_batch(self, X):
        q = self._posterior(self._standardize(X))
        if self.transform_mode == "mode":
            return q.mode
        if self.transform_mode == "mean":
            return q.mean
        return q.sample(generator=self._generator)

    def _inverse_transform_batch(self, Z):
        return self._unstandardize(self.module_.decoder(Z))

    def _score_samples_batch(self, X):
        """Minus the training loss at the posterior mode: ``-(mean_d (x_d - (Phi
        z)_d)^2 + kl_weight sum_k KL_k)`` with ``z`` the ``"mode"`` codes (a
        deterministic plug-in, in standardised units)."""
        Y = self._standardize(X)
        q = self._posterior(Y)
        recon = ((Y - self.module_.decoder(q.mode)) ** 2).mean(-1)
        return -(recon + self.kl_weight * kl_divergence(q, self._prior(Y)).sum(-1))

    def kl_divergence(self, X) -> np.ndarray:
        """Per-sample, per-latent KL of the code posterior from the prior (nats).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        kl : ndarray of shape (n_samples, n_components)
        """
        X = self._check_fitted_input(X)

        def kl(Xb):
            Y = self._standardize(Xb)
            return kl_divergence(self._posterior(Y), self._prior(Y))
        return self._map_batches(X, kl, self.n_components)

    def nonzero_probability(self, X) -> np.ndarray:
        """Posterior ``gamma = P(z != 0 | x)`` per sample and latent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        gamma : ndarray of shape (n_samples, n_components)
        """
        X = self._check_fitted_input(X)
        return self._map_batches(
            X, lambda Xb: self._posterior(self._standardize(Xb)).slab_prob, self.n_components)
