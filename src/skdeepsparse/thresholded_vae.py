"""Variational sparse coding with learned thresholding (Fallah & Rozell, ICML 2022)."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Gamma, kl_divergence

from ._base import BaseSparseEstimator
from ._config import _thread_limit
from ._docstrings import fill_doc
from ._optim import group_constraints
from ._random import row_seeds, rsample_on_generator
from ._sklearn_compat import Interval, StrOptions
from ._validation import check_image_shape, check_layer_sizes, image_shape3
from .distributions import (
    THRESHOLDED,
    LinearAnnealing,
    _straight_through,
    has_closed_form_kl,
    shifted_soft_threshold,
)
from .likelihood import aggregation_weights
from .nn import MLP, ConvDecoder, ConvEncoder, LinearDictionary
from .solvers import dictionary_gradient_step

__all__ = ["ThresholdedVAE"]

# The reference configs' prior spreads: Laplace scale 0.1, Gaussian *variance* 0.1.
_DEFAULT_PRIOR_SCALE = {"laplace": 0.1, "gaussian": math.sqrt(0.1)}
# Two layers (issue #32): the reference's (512, 1024, 512, 256) trains slower on a CPU.
_DEFAULT_MLP_HIDDEN = (256, 128)
_DEFAULT_CONV_CHANNELS = (64, 64, 128, 128)
_GAMMA_CLIP = (math.log(1e-6), math.log(1e6))
# Layers that couple the rows of a batch or draw fresh randomness in training.
_BATCH_COUPLED = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
_POS_INT = [Interval(Integral, 1, None, closed="left")]
_NON_NEG = [Interval(Real, 0, None, closed="left")]
_POS_OR_AUTO = [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})]
# Rows per chunk of the encoder-only transforms: their activations stay in cache.
_THRESHOLD_CHUNK = 1024
# Transform modes computed from the encoder's heads alone (no noise, no decoder).
_ENCODER_ONLY_MODES = ("expected_support", "soft_threshold", "hard_threshold")


class _TVAEModule(nn.Module):
    """Feature network, posterior heads, optional threshold head, decoder."""

    def __init__(self, features: nn.Module, n_hidden: int, n_components: int,
                 decoder: nn.Module, log_scale_init: float, learn_threshold: bool,
                 gamma_init: tuple[float, float]):
        super().__init__()
        # Registered in the order they are built (see reset_parameters_).
        self.features = features
        self.decoder = decoder
        self.loc = nn.Linear(n_hidden, n_components)
        self.log_scale = nn.Linear(n_hidden, n_components)
        self.gamma = nn.Linear(n_hidden, 2 * n_components) if learn_threshold else None
        self._inits = (log_scale_init, gamma_init)
        self.reset_custom_()

    @torch.no_grad()
    def reset_custom_(self, generator: torch.Generator | None = None) -> None:
        """Start the posterior spread at the prior's, so early KL terms are small,
        and the threshold posterior at its prior (see
        :func:`~skdeepsparse.nn.reset_parameters_`)."""
        log_scale_init, gamma_init = self._inits
        nn.init.constant_(self.log_scale.bias, log_scale_init)
        if self.gamma is not None:
            nn.init.zeros_(self.gamma.weight)
            K = self.gamma.bias.shape[0] // 2
            self.gamma.bias.copy_(torch.tensor(gamma_init).repeat_interleave(K))

    def encode(self, y):
        h = self.features(y)
        if self.gamma is None:
            return self.loc(h), self.log_scale(h), None, None
        alpha, beta = torch.exp(torch.clamp(self.gamma(h), *_GAMMA_CLIP)).chunk(2, dim=1)
        return self.loc(h), self.log_scale(h), alpha, beta


@fill_doc(optimizer="adam", learning_rate=1e-3, adam_betas=(0.5, 0.999),
          lr_schedule="one_cycle", batch_size=100, max_epochs=20, groups={"decoder": (
              "the linear dictionary ``Phi``, stepped on its hand-set gradient; the main "
              "group trains the rest. Unused with another decoder, which the main group "
              "trains",
              dict(optimizer="adam", learning_rate=1e-2, momentum=0.0,
                   adam_betas=(0.9, 0.999), weight_decay=2e-4, lr_schedule="step",
                   lr_decay=0.99, lr_decay_every=1),
              dict(optimizer="Optimizer of the dictionary (plain SGD is the reference's; "
                             "``\"auto\"`` is SGD).",
                   learning_rate="``\"auto\"``: 0.5 (SGD, the reference) or 1e-3 (Adam).",
                   weight_decay="Weight decay of the dictionary: the reference's Frobenius "
                                "penalty ``rho ||Phi||^2`` is ``decoder_weight_decay = "
                                "2 rho`` (its 1e-4 is the default 2e-4).",
                   lr_decay="The dictionary's ``StepLR`` factor every "
                            "``decoder_lr_decay_every`` epochs."))})
class ThresholdedVAE(BaseSparseEstimator):
    """Variational sparse coding with shifted soft-thresholded samples.

    Fallah & Rozell (ICML 2022): ``x | z ~ N(f(z), sigma^2 I)``, ``f`` a linear
    dictionary or a transposed-conv network, and a spike-and-slab prior that
    soft-thresholds a Laplace (scale ``b0``) or Gaussian (std ``s0``) by
    ``lambda``. An encoder gives ``mu`` and ``b`` (and a Gamma posterior over
    ``lambda``); each step draws ``J = n_mc_samples`` codes ``z = 0`` if
    ``|e| <= lambda`` else ``mu + sign(e)(|e| - lambda)``, ``e ~ base(0, b)``,
    and minimises ``mean_d (x_d - f(z_j)_d)^2 + kl_weight sum_k [KL_k + gamma
    KL^Gamma_k]`` over the draws as ``sample_method`` says. A linear dictionary
    has its own optimizer; ``threshold=0`` gives the plain VAE baselines.

    Parameters
    ----------
    n_components : int, default=128
        Number of latents ``K``.
    decoder : {"linear", "conv"} or nn.Module subclass, default="linear"
        ``f(z) = z @ Phi.T`` (atoms in ``components_``),
        :class:`~skdeepsparse.nn.ConvDecoder` (needs ``image_shape``), or a class
        built as ``decoder(n_components=K, n_features=D, **decoder_kwargs)``.
    decoder_hidden_sizes : tuple of int or None, default=None
        Conv decoder channels in encoder order; None: (64, 64, 128, 128).
    output_activation : {"sigmoid", "identity"}, default="sigmoid"
        Output of the conv decoder (sigmoid: data in [0, 1]).
    encoder : {"auto", "mlp", "conv"} or nn.Module subclass, default="auto"
        A ReLU MLP, :class:`~skdeepsparse.nn.ConvEncoder` (``"auto"``: with the
        conv decoder) or a class built as ``encoder(n_features=D, **encoder_kwargs)``.
    encoder_hidden_sizes : tuple of int or None, default=None
        MLP widths (None: (256, 128); the reference's for patches is
        (512, 1024, 512, 256))
        or conv channels (None: (64, 64, 128, 128)).
    encoder_kwargs, decoder_kwargs : dict or None, default=None
        Arguments of a user-given encoder / decoder class (only).
    image_shape : tuple of int or None, default=None
        ``(height, width)`` or ``(channels, height, width)`` of the rows of ``X``.
    base_dist : {"laplace", "gaussian"}, default="laplace"
        Base distribution of the prior and the posterior.
    prior_scale : float or "auto", default="auto"
        ``b0`` or ``s0`` (never a variance); ``"auto"``: the reference's 0.1 or
        ``sqrt(0.1)``.
    threshold : float >= 0 or "auto", default="auto"
        ``lambda`` (the prior mean ``lambda0`` when learned); ``"auto"``: from
        ``target_density``; 0: no thresholding (a plain VAE).
    target_density : float in (0, 1), default=0.2
        Prior fraction of **non-zero** latents (0.1: the reference ``lambda``,
        0.23 Laplace, 0.52 Gaussian); see
        :func:`~skdeepsparse.distributions.threshold_for_nonzero_fraction`.
    learn_threshold : bool, default=False
        Learn ``q(lambda|x) = Gamma(alpha(x), beta(x))``, prior
        ``Gamma(threshold_prior_shape, threshold_prior_shape / lambda0)``.
    threshold_prior_shape : float, default=3.0
    threshold_kl_weight : float, default=0.1
        Weight ``gamma`` of the Gamma KL, relative to ``kl_weight``.
    kl : {"base", "spike_slab"}, default="base"
        KL of the un-thresholded base distributions (the reference), or
        (Laplace) the exact spike-and-slab KL.
    kl_weight : float, default=3e-3
        Weight of the KL: a beta-ELBO with noise variance ``D kl_weight / 2``.
    n_mc_samples : int, default=5
        Draws ``J`` per sample and training step.
    sample_method : {"max", "avg", "iwae"}, default="max"
        The lowest-loss draw (max-ELBO; its gradient is the kept draw's decoded
        inside the full ``J x B`` batch), the mean, or softmax(-loss) weights.
    gradient_estimator : {"straight", "straight_pure", "subgradient"}, \
            default="straight"
        The reference code's (dz/dmu = 1 + 1[z != 0], dz/db = the standard
        noise, a path to ``lambda``), plain straight-through, or autograd
        through the threshold.
    noise_warmup : tuple (start, delay, increment) or None, default=None
        Scale the training noise by ``min(1, start + increment max(0, step -
        delay))``; the reference linear runs use ``(0.1, 1500, 2e-4)``.
    %(decoder_group_parameters)s
    decoder_norm : float or None, default=None
        Hold every atom (column of the linear dictionary) at this L2 norm,
        rescaling after every update; None leaves the atoms free.
    decoder_step_cap : bool, default=True
        SGD: cap the step at ``1/L`` (``L``: top eigenvalue of the weighted code
        second moment, plus ``decoder_weight_decay``); a fixed step diverges
        once ``lr L > 2``.
    standardize : bool or "auto", default="auto"
        Global scalar mean and std (the scale ``prior_scale`` and ``kl_weight``
        assume); ``"auto"``: True except with ``decoder="conv"``.
    transform_mode : {"expected_support", "soft_threshold", "hard_threshold", \
            "max_elbo", "mean", "mode", "sample"}, default="expected_support"
        ``"expected_support"``: each row keeps as many non-zeros as the model's
        posterior expects there, ``n(x) = round(sum_k P(z_k != 0 | x))``, at the
        largest ``|mu_k|``, soft-thresholded at the row's level: ``z_k =
        sign(mu_k) max(0, |mu_k| - t(x))``, ``t(x)`` the ``(n(x) + 1)``-th
        largest ``|mu_k|`` (0 when ``n(x) = K``). Deterministic, exact zeros, one
        encoder pass; the code's zero fraction is the posterior's ``1 - mean
        P(z != 0)`` row by row (up to the rounding). A point estimate, not a
        posterior statistic: the posterior median is 0 wherever ``P(z != 0) <=
        1/2`` (and ``P(z != 0) = exp(-lambda / b)`` depends on ``x`` only through
        the scale ``b``, which stays near the prior's, so at the defaults the
        median is 0 for nearly every latent).
        ``"soft_threshold"``: ``T_lambda(mu) = mu - clip(mu, -lambda, lambda)``,
        the soft threshold of the posterior location at the model's ``lambda``:
        the proximal (MAP-style) point estimate ``argmin_z (z - mu)^2 / 2 +
        lambda |z|``, not a statistic of the model's posterior (deterministic,
        exact zeros, one encoder pass without the scale head; its zeros are
        ``P(|mu| <= lambda)`` over the data, not the posterior's); ``"hard_threshold"``:
        ``mu 1[|mu| > lambda]``, the same support without the shrinkage (argmin
        ``(z - mu)^2 / 2 + lambda^2 / 2 1[z != 0]``); ``"max_elbo"``: the
        lowest-loss of ``n_eval_samples`` draws (noise hashed from each row and
        ``random_state``); ``"mean"``: the posterior mean ``P(z != 0) mu``
        (dense); ``"mode"``: ``mu`` where ``P(z != 0) > 1/2``, else 0;
        ``"sample"``: a fresh posterior draw.
    n_eval_samples : int, default=5
        Draws of ``"max_elbo"`` and of ``score``.
    %(training_parameters)s

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Atoms in data units (linear decoder): ``inverse_transform(Z) == Z @
        components_ + mean_``.
    threshold_, prior_scale_, prior_nonzero_fraction_ : float
        The resolved ``lambda`` (or ``lambda0``), prior scale and ``P(z != 0)``.
    mean_, scale_ : float
        The standardisation (0 and 1 without it).
    module_ : torch.nn.Module
        ``features``, heads ``loc``, ``log_scale`` (and ``gamma``), ``decoder``.
    history_ : list of dict
        Per epoch: ``loss``, ``recon``, ``kl``, ``kl_threshold``, ``l0``,
        ``zeros``, ``threshold``, ``noise_scale``, ``lr``, ``val_loss``,
        ``time``; linear: ``decoder_lr``, ``atom_norm``, ``decoder_step_capped``.
    device_, n_iter_, n_steps_, best_epoch_, n_features_in_, feature_names_in_
        As for every skdeepsparse estimator.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepsparse import ThresholdedVAE
    >>> X = load_digits().data / 16
    >>> tvae = ThresholdedVAE(n_components=32, encoder_hidden_sizes=(64,),
    ...                       max_epochs=2, random_state=0, device="cpu")
    >>> tvae.fit_transform(X).shape
    (1797, 32)
    """

    _parameter_constraints: dict = {
        **BaseSparseEstimator._parameter_constraints,
        **group_constraints("decoder"),
        **dict.fromkeys(("n_components", "n_mc_samples", "n_eval_samples"), _POS_INT),
        **dict.fromkeys(("threshold_kl_weight", "kl_weight"), _NON_NEG),
        **dict.fromkeys(("prior_scale",), _POS_OR_AUTO),
        **dict.fromkeys(("decoder_hidden_sizes", "encoder_hidden_sizes", "image_shape",
                         "noise_warmup"), [tuple, list, None]),
        **dict.fromkeys(("encoder_kwargs", "decoder_kwargs"), [dict, None]),
        **dict.fromkeys(("learn_threshold", "decoder_step_cap"),
                        ["boolean"]),
        "decoder": [StrOptions({"linear", "conv"}), callable],
        "encoder": [StrOptions({"auto", "mlp", "conv"}), callable],
        "output_activation": [StrOptions({"sigmoid", "identity"})],
        "base_dist": [StrOptions({"laplace", "gaussian"})],
        "threshold": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "target_density": [Interval(Real, 0, 1, closed="neither")],
        "decoder_norm": [Interval(Real, 0, None, closed="neither"), None],
        "threshold_prior_shape": [Interval(Real, 0, None, closed="neither")],
        "kl": [StrOptions({"base", "spike_slab"})],
        "sample_method": [StrOptions({"max", "avg", "iwae"})],
        "gradient_estimator": [StrOptions({"straight", "straight_pure", "subgradient"})],
        "standardize": ["boolean", StrOptions({"auto"})],
        "transform_mode": [StrOptions({"expected_support", "soft_threshold", "hard_threshold",
                                         "max_elbo", "mean", "mode", "sample"})],
    }
    _free_params = frozenset({
        "kl_weight", "threshold_kl_weight", "n_mc_samples", "sample_method",
        "gradient_estimator", "noise_warmup", "decoder_norm",
        "decoder_step_cap", "transform_mode", "n_eval_samples"})
    _optimizer_groups = ("decoder",)
    _min_batch_reason = "BatchNorm in the conv encoder/decoder needs two rows"

    def __init__(
        self, n_components=128, *, decoder="linear", decoder_hidden_sizes=None,
        output_activation="sigmoid", encoder="auto", encoder_hidden_sizes=None,
        encoder_kwargs=None, decoder_kwargs=None, image_shape=None, base_dist="laplace",
        prior_scale="auto", threshold="auto", target_density=0.2, learn_threshold=False,
        threshold_prior_shape=3.0, threshold_kl_weight=0.1, kl="base", kl_weight=3e-3,
        n_mc_samples=5, sample_method="max", gradient_estimator="straight",
        noise_warmup=None, decoder_optimizer="adam", decoder_learning_rate=1e-2,
        decoder_momentum=0.0, decoder_adam_betas=(0.9, 0.999), decoder_weight_decay=2e-4,
        decoder_lr_schedule="step", decoder_lr_decay=0.99, decoder_lr_decay_every=1,
        decoder_warmup_fraction=None,
        decoder_norm=None, decoder_step_cap=True, standardize="auto",
        transform_mode="expected_support", n_eval_samples=5, optimizer="adam", learning_rate=1e-3,
        momentum=0.9, adam_betas=(0.5, 0.999), weight_decay=0.0, lr_schedule="one_cycle",
        lr_decay=1.0, lr_decay_every=1, warmup_fraction=0.05, batch_size=100, max_epochs=20,
        validation_fraction=0.1, n_iter_no_change=None, tol=0.0, shuffle=True,
        warm_start=False, device="auto", random_state=None, verbose=0,
    ):
        # sklearn's contract: store every argument unchanged, under its own name.
        for name, value in list(locals().items()):
            if name != "self":
                setattr(self, name, value)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.transform_mode == "sample"  # fresh noise
        return tags

    @property
    def _default_optimizer(self) -> str:
        return "sgd" if self._linear else "adam"

    @property
    def _default_learning_rate(self) -> float:
        return 0.01 if self._optimizer_kind == "sgd" else 3e-4

    @property
    def _linear(self) -> bool:
        return isinstance(self.decoder, str) and self.decoder == "linear"

    @property
    def _family(self):
        """The thresholded distribution class of ``base_dist`` (prior and posterior)."""
        return THRESHOLDED[self.base_dist]

    @property
    def _thresholding(self) -> bool:  # threshold=0: a plain VAE
        return self.learn_threshold or self.threshold_ > 0

    @property
    def _min_batch_size(self) -> int:
        return 2 if "conv" in (self._encoder_kind(), self.decoder) else 1

    def _encoder_kind(self):
        if self.encoder == "auto":
            return "conv" if isinstance(self.decoder, str) and self.decoder == "conv" else "mlp"
        return self.encoder

    def _resolved_prior(self) -> tuple[float, float]:
        """``(prior_scale, threshold)`` with their ``"auto"`` values resolved."""
        s0 = (_DEFAULT_PRIOR_SCALE[self.base_dist] if self.prior_scale == "auto"
              else float(self.prior_scale))
        if self.threshold == "auto":
            return s0, THRESHOLDED[self.base_dist].threshold_for(self.target_density, s0)
        return s0, float(self.threshold)

    def _check_params(self, X):
        for name in ("decoder", "encoder"):
            value = getattr(self, name)
            if not isinstance(value, str) and not (
                    isinstance(value, type) and issubclass(value, nn.Module)):
                got = repr(value) if not isinstance(value, nn.Module) else (
                    f"a live module instance: pass {name}={type(value).__name__}")
                raise TypeError(f"{name} must be a built-in name or a subclass of "
                                f"torch.nn.Module; got {got} (arguments in {name}_kwargs).")
        kind = self._encoder_kind()
        check_image_shape(self, X.shape[1], required="conv" in (kind, self.decoder),
                          why="The conv encoder/decoder")
        for part, value in (("encoder", kind), ("decoder", self.decoder)):
            if isinstance(value, str) and getattr(self, f"{part}_kwargs"):
                raise ValueError(f"{part}_kwargs holds the arguments of a user-given {part} "
                                 f"class; with {part}={value!r} use {part}_hidden_sizes.")
            if getattr(self, f"{part}_hidden_sizes") is not None:
                if value not in ("mlp", "conv"):
                    raise ValueError(f"{part}_hidden_sizes sets the built-in conv or MLP "
                                     f"{part}; got {part}={value!r}.")
                check_layer_sizes(self, f"{part}_hidden_sizes", allow_empty=value == "mlp")
        family = THRESHOLDED[self.base_dist]
        if self.kl == "spike_slab" and not has_closed_form_kl(family):
            raise ValueError(f"kl='spike_slab' has no closed form for base_dist="
                             f"{self.base_dist!r} ({family.__name__}); use kl='base'.")
        if self.learn_threshold and self._resolved_prior()[1] <= 0:
            raise ValueError("learn_threshold=True needs a positive threshold (the mean "
                             "lambda0 of its Gamma prior); got threshold=0.")
        nw = self.noise_warmup
        if nw is not None and not (len(nw) == 3 and all(isinstance(v, Real) for v in nw)
                                   and 0 < nw[0] <= 1 and nw[1] >= 0 and nw[2] >= 0):
            raise ValueError("noise_warmup must be None or (start, delay, increment) with 0 < "
                             f"start <= 1, delay >= 0, increment >= 0; got {nw!r}.")

    def _on_fit_start(self, X):
        self.prior_scale_, self.threshold_ = self._resolved_prior()
        self.prior_nonzero_fraction_ = self._family.nonzero_prob_of(
            self.prior_scale_, self.threshold_)
        conv = isinstance(self.decoder, str) and self.decoder == "conv"
        self._fit_standardization(X, not conv if self.standardize == "auto" else self.standardize)
        # Key of the hashed transform noise: different random_state, other draws.
        self._noise_key = int(self._rng.randint(np.iinfo(np.int32).max))
        if conv and self.output_activation == "sigmoid" and X.size:
            lo, hi = ((float(v) - self.mean_) / self.scale_ for v in (X.min(), X.max()))
            if lo < 0 or hi > 1:
                warnings.warn(
                    "The conv decoder ends with a sigmoid (outputs in [0, 1]) but the "
                    f"(standardised) data range is [{lo:.3g}, {hi:.3g}]; scale the data "
                    "to [0, 1] or pass output_activation='identity'.", UserWarning, stacklevel=4)

    def _build_module(self, n_features):
        K = self.n_components
        kind = self._encoder_kind()
        if kind == "mlp":
            hidden = (_DEFAULT_MLP_HIDDEN if self.encoder_hidden_sizes is None
                      else tuple(self.encoder_hidden_sizes))
            features, n_hidden = nn.Identity(), n_features
            if hidden:
                features = nn.Sequential(MLP([n_features, *hidden]), nn.ReLU())
                n_hidden = hidden[-1]
        elif kind == "conv":
            features = ConvEncoder(image_shape3(self.image_shape),
                                   tuple(self.encoder_hidden_sizes or _DEFAULT_CONV_CHANNELS))
            n_hidden = features.out_features
        else:
            features = kind(n_features=n_features, **(self.encoder_kwargs or {}))
            n_hidden = self._probe(features, n_features, kind, None)
        if self._linear:
            decoder = LinearDictionary(K, n_features, bias=False, unit_normal=True)
            # Updated by its own optimizer on a hand-set gradient, not by the loss.
            decoder.weight.requires_grad_(False)
        elif self.decoder == "conv":
            decoder = ConvDecoder(K, image_shape3(self.image_shape),
                                  tuple(self.decoder_hidden_sizes or _DEFAULT_CONV_CHANNELS),
                                  self.output_activation)
        else:
            decoder = self.decoder(n_components=K, n_features=n_features,
                                   **(self.decoder_kwargs or {}))
            self._probe(decoder, K, self.decoder, n_features)
        a0 = float(self.threshold_prior_shape)
        lam0 = self.threshold_ if self.threshold_ > 0 else 1.0
        return _TVAEModule(features, n_hidden, K, decoder, math.log(self.prior_scale_),
                           self.learn_threshold, (math.log(a0), math.log(a0 / lam0)))

    @staticmethod
    def _probe(net, n_in, cls, n_out):
        """Output width of a user-given network on a dummy batch, checked."""
        with torch.no_grad():
            out = net.eval()(torch.zeros(2, n_in))
        net.train()
        if out.ndim != 2 or out.shape[0] != 2 or (n_out is not None and out.shape[1] != n_out):
            want = f"(batch, {n_out})" if n_out is not None else "(batch, n_hidden)"
            raise ValueError(f"{cls.__name__} must map (batch, {n_in}) to {want}; got "
                             f"output shape {tuple(out.shape)}.")
        return out.shape[1]

    def _parameter_groups(self):
        module = self.module_
        if not self._linear:
            return {"main": list(module.parameters())}
        W = module.decoder.weight
        return {"main": [p for p in module.parameters() if p is not W], "decoder": [W]}

    def _auto_setting(self, group, name, optimizer):
        if group == "decoder":  # the reference's plain SGD, and its rates
            if name == "optimizer":
                return "sgd"
            return 0.5 if optimizer == "sgd" else 1e-3
        return super()._auto_setting(group, name, optimizer)

    @property
    def components_(self) -> np.ndarray:
        """Dictionary atoms in data units, shape (n_components, n_features)."""
        if not hasattr(self, "module_") or not self._linear:
            raise AttributeError("components_ exists only for a fitted linear decoder.")
        return self._to_numpy(self.module_.decoder.weight.T * self.scale_)

    def _noise_scale(self) -> float:
        if self.noise_warmup is None:
            return 1.0
        start, delay, inc = (float(v) for v in self.noise_warmup)
        return LinearAnnealing(start, 1.0, inc, delay)(self.n_steps_)

    def _base_noise(self, shape, like: torch.Tensor) -> torch.Tensor:
        return self._family.standard_noise(shape, self._generator, like)

    def _hashed_noise(self, seeds, draw: int, like: torch.Tensor) -> torch.Tensor:
        """Standard base noise of draw ``draw`` for each row, from its seed."""
        return self._family.hashed_noise(seeds, draw, like)

    def _kl(self, mu, scale, lam):
        """Per-latent KL of the code posterior from the prior (broadcasts over draws):
        of the un-thresholded bases (``kl="base"``), or of the thresholded pair."""
        zero = mu.new_zeros(())
        q = self._family(mu, scale, lam)
        prior = self._family(zero, zero + self.prior_scale_, lam)
        if self.kl == "base" or not self._thresholding:
            return kl_divergence(q.base, prior.base)
        return kl_divergence(q, prior)

    def _nonzero_prob(self, scale, lam):
        """P(z != 0) under the posterior."""
        return self._family.nonzero_prob_of(scale, lam)

    def _draw_losses(self, Y, Z, mu, scale, lam, kl_thr):
        """Per-draw losses ``l_j`` (J, B) and their parts for codes Z (J, B, K)."""
        J, B, K = Z.shape
        X_hat = self.module_.decoder(Z.reshape(J * B, K)).reshape(J, B, -1)
        recon = ((Y - X_hat) ** 2).mean(-1)
        kl = self._kl(mu, scale, lam).sum(-1)
        kl_all = kl if kl_thr is None else kl + self.threshold_kl_weight * kl_thr
        return recon + self.kl_weight * kl_all, recon, kl, X_hat

    def _train_step(self, X, rows=None):
        Y = self._standardize(X)
        module = self.module_
        J, B, K = self.n_mc_samples, Y.shape[0], self.n_components
        mu, scale, lam, kl_thr = self._posterior(Y, n_draws=J)
        w = self._noise_scale()
        eps = self._base_noise((J, B, K), Y)
        rowwise = not any(isinstance(m, _BATCH_COUPLED) for m in module.decoder.modules())
        if self.sample_method == "max" and J > 1 and rowwise:
            # The gradient is the kept draw's inside the J x B batch. A decoder that
            # maps rows alone gives it the same value and gradient without the other
            # draws: select without autograd, back-propagate the kept ones only.
            # With BatchNorm or dropout, all J x B draws are decoded with autograd.
            with torch.no_grad():
                Z_all = _straight_through(mu, w * scale * eps, lam, "subgradient",
                                          self._thresholding)
                best = self._draw_losses(Y, Z_all, mu, scale, lam, kl_thr)[0].argmin(0)
            rows = torch.arange(B, device=Y.device)
            eps = eps[best, rows].unsqueeze(0)
            if lam.ndim == 3:
                lam = lam[best, rows].unsqueeze(0)
        Z = _straight_through(mu, w * scale * eps, lam, self.gradient_estimator,
                              self._thresholding)
        losses, recon, kl, X_hat = self._draw_losses(Y, Z, mu, scale, lam, kl_thr)
        weights = aggregation_weights(losses, self.sample_method)
        loss = (weights * losses).sum(0).mean()
        opt = self._optimizer("main")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        stats = {}
        if self._linear:
            stats["atom_norm"], stats["decoder_step_capped"] = self._update_dictionary(
                Y, X_hat.detach(), Z.detach(), weights)
        with torch.no_grad():
            zeros = (weights * (Z == 0).to(Y.dtype).mean(-1)).sum(0).mean()
            stats.update(loss=loss.detach(), recon=(weights * recon.detach()).sum(0).mean(),
                         kl=(weights * kl.detach().expand_as(weights)).sum(0).mean(),
                         l0=K * (1.0 - zeros), zeros=zeros, threshold=lam.detach().mean(),
                         noise_scale=w)
            if kl_thr is not None:
                stats["kl_threshold"] = kl_thr.detach().mean()
        return stats

    @torch.no_grad()
    def _update_dictionary(self, Y, X_hat, Z, weights):
        """Step the dictionary optimizer on the hand-set gradient of ``(1/2B) sum_ij
        w_ij ||x_i - Phi z_ij||^2`` (detached draws); the optimizer adds the weight
        decay. The SGD cap lowers the step to ``1/L`` for this update."""
        Phi = self.module_.decoder.weight
        opt = self._optimizer("decoder")
        settings = self._optim.settings["decoder"]
        B = Y.shape[0]
        if self.sample_method == "max":  # only the kept draw has a non-zero weight
            best = weights.argmax(0)
            rows = torch.arange(B, device=Y.device)
            Zs, Rs = Z[best, rows], Y - X_hat[best, rows]
        else:
            sw = weights.sqrt().unsqueeze(-1)
            Zs, Rs = (sw * Z).reshape(-1, Z.shape[-1]), (sw * (Y - X_hat)).reshape(-1, Y.shape[1])
        return dictionary_gradient_step(
            Phi, opt, Zs, Rs, B, step_cap=settings.optimizer == "sgd" and self.decoder_step_cap,
            weight_decay=settings.weight_decay, norm=self.decoder_norm)

    def _posterior(self, Y, n_draws: int = 0):
        """``mu``, ``b``, ``lambda`` (``n_draws`` reparameterised Gamma draws, or
        the posterior mean) and the per-sample Gamma KL (None if not learned)."""
        mu, log_scale, alpha, beta = self.module_.encode(Y)
        if not self.learn_threshold:
            return mu, torch.exp(log_scale), Y.new_tensor(self.threshold_), None
        q = Gamma(alpha, beta, validate_args=False)
        a0 = alpha.new_tensor(float(self.threshold_prior_shape))
        kl = kl_divergence(q, Gamma(a0, a0 / self.threshold_, validate_args=False)).sum(1)
        lam = rsample_on_generator(q, (n_draws,), self._generator) if n_draws else q.mean
        return mu, torch.exp(log_scale), lam, kl

    def _eval_draws(self, X):
        """Per-draw codes and losses ``(z_j, loss_j)`` with hashed, deterministic
        noise, one draw at a time (memory does not grow with ``n_eval_samples``)."""
        Y = self._standardize(X)
        mu, scale, lam, kl_thr = self._posterior(Y)
        kl = self._kl(mu, scale, lam).sum(-1)
        if kl_thr is not None:
            kl = kl + self.threshold_kl_weight * kl_thr
        seeds = row_seeds(X, self._noise_key)
        for j in range(self.n_eval_samples):
            noise = scale * self._hashed_noise(seeds, j, mu)
            z = shifted_soft_threshold(mu, noise, lam) if self._thresholding else mu + noise
            recon = ((Y - self.module_.decoder(z)) ** 2).mean(-1)
            yield z, recon + self.kl_weight * kl

    def _transform_batch(self, X):
        mode = self.transform_mode
        if mode == "max_elbo":
            best_z = best_loss = None
            for z, loss in self._eval_draws(X):
                if best_z is not None:  # ties keep the earlier draw
                    keep = loss >= best_loss
                    z = torch.where(keep[:, None], best_z, z)
                    loss = torch.where(keep, best_loss, loss)
                best_z, best_loss = z, loss
            return best_z
        mu, scale, lam, _ = self._posterior(self._standardize(X))
        if mode == "expected_support":
            return self._expected_support_codes(mu, scale, lam)
        if mode == "soft_threshold":
            return mu - torch.minimum(torch.maximum(mu, -lam), lam)
        if mode == "hard_threshold":
            return torch.where(mu.abs() > lam, mu, torch.zeros_like(mu))
        if mode == "sample":
            noise = scale * self._base_noise(mu.shape, mu)
            return shifted_soft_threshold(mu, noise, lam) if self._thresholding else mu + noise
        if not self._thresholding:
            return mu
        p = self._nonzero_prob(scale, lam)
        return p * mu if mode == "mean" else torch.where(p > 0.5, mu, torch.zeros_like(mu))

    def _expected_support_codes(self, mu, scale, lam):
        """``transform_mode="expected_support"``: per row, the soft threshold of
        ``mu`` at the ``(n + 1)``-th largest ``|mu_k|``, ``n = round(sum_k P(z_k !=
        0))``, so that ``n`` latents stay non-zero."""
        n = torch.round(self._nonzero_prob(scale, lam).sum(1, keepdim=True)).long()
        order = mu.abs().sort(1, descending=True).values
        t = torch.cat([order, order.new_zeros(len(order), 1)], 1).gather(1, n)
        return mu - torch.minimum(torch.maximum(mu, -t), t)

    def transform(self, X):
        """Encode ``X`` into codes, as ``transform_mode`` says.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
            In the dtype of ``X``.
        """
        mode = self.transform_mode
        if mode not in _ENCODER_ONLY_MODES or self.learn_threshold:
            return super().transform(X)
        # One encoder pass: no noise, no copy of X; the scale head only where needed.
        X = self._check_fitted_input(X)
        out = np.empty((X.shape[0], self.n_components), dtype=X.dtype)
        codes = torch.from_numpy(out)
        with _thread_limit(), torch.inference_mode():
            with_scale = mode == "expected_support"
            encode = self._head_encoder(with_scale)
            lam = self.threshold_
            for start in range(0, X.shape[0], _THRESHOLD_CHUNK):
                chunk = np.ascontiguousarray(X[start:start + _THRESHOLD_CHUNK])
                x = torch.from_numpy(chunk) if chunk.flags.writeable else torch.tensor(chunk)
                heads = encode(x.to(self.device_, self._torch_dtype))
                if with_scale:
                    mu, log_scale = heads.chunk(2, dim=1)
                    z = self._expected_support_codes(mu, torch.exp(log_scale), lam)
                else:
                    z = (F.softshrink if mode == "soft_threshold" else F.hardshrink)(heads, lam)
                codes[start:start + len(chunk)] = z
        return out

    def _head_encoder(self, with_scale: bool = False):
        """``x -> mu`` (``with_scale``: ``x -> [mu, log b]``) on unstandardised rows.
        The built-in MLP runs as ``addmm`` + in-place ReLU, both heads as one
        product, with the standardisation folded into its first layer, ``W (x - m)
        / s + c = (W / s) x + c - (m / s) W 1`` (no pass over ``x``; the
        cancellation this adds stays small while ``|m| <= 4 s``)."""
        module, m, s = self.module_, self.mean_, self.scale_
        heads = [module.loc, module.log_scale] if with_scale else [module.loc]
        if self._encoder_kind() != "mlp" or abs(m) > 4.0 * s:
            def encode_module(x):
                h = module.features(self._standardize(x))
                return torch.cat([head(h) for head in heads], 1)
            return encode_module
        linears = [x for x in module.features.modules() if isinstance(x, nn.Linear)]
        layers = [(lin.weight, lin.bias) for lin in linears]
        layers.append((torch.cat([h.weight for h in heads]), torch.cat([h.bias for h in heads])))
        W, c = layers[0]
        c = (c.double() - (m / s) * W.double().sum(1)).to(c.dtype)
        layers = [(W.t() / s, c)] + [(W.t(), b) for W, b in layers[1:]]

        def encode(x):
            for i, (Wt, b) in enumerate(layers):
                x = torch.addmm(b, x, Wt)
                if i < len(layers) - 1:
                    x.relu_()
            return x
        return encode

    def _inverse_transform_batch(self, Z):
        return self._unstandardize(self.module_.decoder(Z))

    def _score_samples_batch(self, X):
        """Minus the training objective with ``n_eval_samples`` hashed draws."""
        losses = torch.stack([loss for _, loss in self._eval_draws(X)])
        if self.sample_method == "max":
            return -losses.min(0).values
        if self.sample_method == "avg":
            return -losses.mean(0)
        return torch.logsumexp(-losses, 0) - math.log(losses.shape[0])

    def kl_divergence(self, X) -> np.ndarray:
        """Per-sample, per-latent KL of the code posterior from the prior (nats): the
        loss's KL term without a learned threshold's Gamma KL.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        kl : ndarray of shape (n_samples, n_components)
        """
        X = self._check_fitted_input(X)
        return self._map_batches(
            X, lambda Xb: self._kl(*self._posterior(self._standardize(Xb))[:3]),
            self.n_components)
