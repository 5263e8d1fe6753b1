"""Sparse-coding variational autoencoder (Barello, Charles & Pillow 2018; Geadah et al.
2024) with the unit-norm decoder of Jiang & de la Iglesia (2021)."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.distributions import Normal

from ._base import BaseSparseEstimator
from ._distributed import global_column_stats, global_std
from ._docstrings import fill_doc
from ._random import hashed_normal, row_seeds
from ._sklearn_compat import Interval, StrOptions
from ._validation import check_layer_sizes
from .distributions import PRIORS, kl_to_prior, make_prior, normal_rsample
from .likelihood import ais_log_likelihood, iwae_log_likelihood
from .nn import MLP, normalize_columns_

__all__ = ["SVAETransformer"]

_LOG_2PI = math.log(2.0 * math.pi)
# At most this many rows (evenly spaced) are used for the activity statistics that
# are computed at the end of fit.
_ACTIVITY_MAX_SAMPLES = 10_000
# prior_scale="auto" and likelihood_std="auto", as multiples of the data's pixel
# standard deviation: sqrt(0.1) and e^-2 / sqrt(0.1). At the pixel variance 0.1 of
# Olshausen's whitened images they give prior scale 0.1 (the value at which unit-norm
# filters become localised and oriented) and the references' noise e^-2.
_AUTO_PRIOR_RATIO = math.sqrt(0.1)
_AUTO_SIGMA_RATIO = math.exp(-2.0) / math.sqrt(0.1)
# Rows and importance samples processed at once by log_likelihood.
_IW_ROWS = 256
_IW_SAMPLES = 32
# Rows whose hashed transform noise is drawn at once (bounds its int64 temporaries).
_NOISE_ROWS = 512


class _SVAEModule(nn.Module):
    """Recognition MLP (shared trunk, mean and scale branches) and linear dictionary."""

    def __init__(self, n_features: int, n_components: int, encoder_hidden_sizes,
                 mean_hidden_sizes, scale_hidden_sizes, decoder_bias: bool,
                 weight_norm: float | None, log_likelihood_std: float,
                 learn_likelihood_std: bool, min_posterior_std: float):
        super().__init__()
        trunk_sizes = [n_features, *encoder_hidden_sizes]
        if len(trunk_sizes) > 1:
            self.trunk = nn.Sequential(MLP(trunk_sizes), nn.ReLU())
        else:
            self.trunk = nn.Identity()
        width = trunk_sizes[-1]
        self.mean_head = MLP([width, *mean_hidden_sizes, n_components])
        self.scale_head = MLP([width, *scale_hidden_sizes, n_components])
        # Phi: (n_features, n_components), one filter per column, N(0, 1/K) init.
        self.dictionary = nn.Parameter(torch.randn(n_features, n_components) / n_components**0.5)
        self.bias = nn.Parameter(torch.zeros(n_features)) if decoder_bias else None
        log_std = torch.tensor(float(log_likelihood_std))
        if learn_likelihood_std:
            self.log_likelihood_std = nn.Parameter(log_std)
        else:
            self.register_buffer("log_likelihood_std", log_std)
        self.weight_norm = weight_norm  # the atoms' norm r, or None
        self.min_posterior_std = min_posterior_std

    @torch.no_grad()
    def reset_custom_(self, generator: torch.Generator | None = None) -> None:
        """Phi ~ N(0, 1/K) from ``generator`` (see :func:`~skdeepsparse.nn.reset_parameters_`)."""
        self.dictionary.normal_(generator=generator).div_(self.dictionary.shape[1] ** 0.5)

    def phi(self) -> torch.Tensor:
        """The effective dictionary (n_features, n_components)."""
        if self.weight_norm is not None:
            unit = self.dictionary / self.dictionary.norm(dim=0, keepdim=True).clamp_min(1e-12)
            return unit * self.weight_norm
        return self.dictionary

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        mu = self.mean_head(h)
        std = F.softplus(self.scale_head(h)) + self.min_posterior_std
        return mu, std

    def decode(self, z: torch.Tensor, phi: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.phi() if phi is None else phi
        return F.linear(z, phi, self.bias)


@fill_doc(batch_size=32, max_epochs=20)
class SVAETransformer(BaseSparseEstimator):
    """Sparse-coding variational autoencoder with a linear dictionary.

    The generative model of Barello, Charles & Pillow (2018) and Geadah et al.
    (2024): a factorised sparse prior on ``K`` latents and a linear decoder
    with fixed Gaussian noise::

        z_k ~ p(z_k)  (Gaussian, Laplace or Cauchy, scale s)
        x | z ~ N(Phi z (+ b), sigma^2 I)

    An MLP recognition model gives ``q(z|x) = N(mu(x), diag std(x)^2)``: a
    shared trunk, then separate branches for the mean and for the scale, with
    ``std = softplus(h) + min_posterior_std`` (one parameterisation, used both
    for the samples and for the KL). Training maximises the ELBO::

        ELBO(x) = E_q[log N(x; Phi z + b, sigma^2 I)] - kl_weight * KL(q(z|x) || p(z))

    on mini-batches, with reparameterised samples for the expected
    log-likelihood (or its closed form, ``recon_estimator="analytic"``). Prior
    and posterior are :mod:`torch.distributions` objects and the KL is
    ``kl_divergence(q, p)`` where the pair has a closed form (Gaussian; Laplace,
    registered by :mod:`skdeepsparse.distributions`); for the Cauchy prior it is
    the exact Gaussian entropy plus a Monte Carlo cross entropy
    (``n_kl_samples`` draws) during training.

    With ``decoder_norm=1.0`` (the improvement of Jiang & de la Iglesia,
    2021) every decoder filter (column of ``Phi``) is kept at unit L2 norm,
    by projection after every optimiser step and at initialisation, or by the
    reparameterisation ``Phi = V / ||V||_col``. Without it, latents whose
    posterior collapses onto the prior push their filter norm towards zero and
    the filter stays noise-like ("dead"); the constraint removes that escape.

    Parameters
    ----------
    n_components : int, default=169
        Number of latents ``K`` (169 for 12x12 patches in the references).
    prior : {"laplace", "gaussian", "cauchy"}, default="laplace"
        Factorised prior of the latents, each centred at 0 with scale
        ``prior_scale`` (standard deviation for the Gaussian). The horseshoe
        prior of Geadah et al. is not offered: its log-density has a
        logarithmic singularity at 0 whose reparameterised gradient has
        infinite variance, so its Monte Carlo KL gradient is not sound.
    prior_scale : float or "auto", default="auto"
        Scale ``s`` of the prior. ``"auto"``: ``sqrt(0.1)`` times the
        standard deviation of the training data (all entries pooled), i.e.
        0.1 on data of pixel variance 0.1 such as Olshausen's whitened
        images. With unit-norm filters the codes have about the data's scale,
        so a fixed scale of 1 is too wide to make them sparse on such data and
        the filters stay noise-like; the references' Laplace(0, 1) was chosen
        for unconstrained filters, whose norms absorb the mismatch. The
        resolved value is ``prior_scale_``.
    likelihood_std : float or "auto", default="auto"
        Standard deviation ``sigma`` of the Gaussian likelihood, in data
        units. It sets the trade-off between reconstruction and sparsity:
        smaller values explain more of the data with more active latents.
        ``"auto"``: ``e^-2 / sqrt(0.1) = 0.43`` times the standard deviation
        of the training data, i.e. the references' ``e^-2`` at pixel variance
        0.1. With both scales ``"auto"`` the fitted model does not depend on
        the units of the data.
    learn_likelihood_std : bool, default=False
        Learn ``sigma`` (initialised at the resolved ``likelihood_std``)
        instead of keeping it fixed as both reference codes do.
    encoder_hidden_sizes : tuple of int, default=(128,)
        Widths of the shared ReLU trunk of the recognition model.
    mean_hidden_sizes : tuple of int, default=(256, 256)
        Hidden widths of the mean branch (ReLU; linear output).
    scale_hidden_sizes : tuple of int, default=(512, 512)
        Hidden widths of the scale branch (ReLU; softplus output).
    decoder_bias : bool, default=False
        Learn an offset ``b`` in the decoder. Leave False for centred data
        (whitened patches); set True for data with a mean such as MNIST.
    decoder_norm : float or None, default=1.0
        Hold each decoder filter (column of ``Phi``) at this L2 norm (1: the
        unit norm of Jiang & de la Iglesia); None leaves the filters free.
    decoder_norm_method : {"projection", "weight_norm"}, default="projection"
        How the unit norm is enforced: projected gradient (renormalise every
        column after each step), or ``Phi = V / ||V||_col`` with the gain
        frozen at ``decoder_norm``. Ignored when ``decoder_norm=None``.
    min_posterior_std : float, default=1e-4
        Floor added to the posterior standard deviation.
    n_mc_samples : int, default=1
        Reparameterised samples per example for the reconstruction term
        (used only with ``recon_estimator="sample"``).
    recon_estimator : {"analytic", "sample"}, default="analytic"
        ``"analytic"``: the exact expectation of the reconstruction term, which
        the linear decoder allows: ``||x - Phi mu - b||^2 + sum_k std_k^2
        ||Phi_k||^2``. ``"sample"``: Monte Carlo with ``n_mc_samples`` draws,
        as in the references. Both estimate the same ELBO without bias; the
        exact one has no sampling noise, and on whitened natural patches it
        gives more localised filters at the same budget (see the SVAE docs page).
        Evaluation (``score``, validation) always uses the exact expectation.
    n_kl_samples : int, default=100
        Posterior draws for the Monte Carlo KL (Cauchy prior) during training.
        Evaluation uses a deterministic Gauss-Hermite quadrature instead.
    kl_weight : float, default=1.0
        Weight ``beta`` of the KL term (1 for the ELBO).
    transform_mode : {"mean", "sample"}, default="mean"
        What :meth:`transform` returns: the posterior mean (deterministic), or
        one reparameterised draw whose noise is a deterministic function of the
        sample and of ``random_state`` (so the same row gets the same draw in
        any batch). The noise is drawn for blocks of 512 rows, so the extra
        memory of ``"sample"`` is bounded whatever the input size.
    active_kl_threshold : float, default=0.1
        A latent is active when its KL, averaged over samples, exceeds this
        (nats); gives ``n_active_components_``.
    active_variance_threshold : float, default=0.01
        A latent is active when the variance over samples of its posterior
        mean exceeds this (Burda et al. 2016); gives
        ``n_active_components_variance_``.
    %(training_parameters)s

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The decoder filters, one per row (``Phi.T``), so that
        ``inverse_transform(Z) == Z @ components_ + intercept_``.
    intercept_ : ndarray of shape (n_features,)
        The decoder offset ``b`` (zeros without ``decoder_bias``).
    likelihood_std_ : float
        The likelihood standard deviation (learned or fixed).
    prior_scale_ : float
        The prior scale in use (``prior_scale``, resolved when ``"auto"``).
    data_scale_ : float
        Standard deviation of all entries of the data that built the model
        (the unit of the ``"auto"`` scales).
    kl_per_component_ : ndarray of shape (n_components,)
        Mean KL (nats) of each latent's posterior from the prior, over the data
        of the last ``fit``/``partial_fit`` call (at most 10,000 evenly spaced
        rows).
    posterior_mean_variance_ : ndarray of shape (n_components,)
        Variance over the same rows of each latent's posterior mean.
    n_active_components_ : int
        Latents with ``kl_per_component_ > active_kl_threshold``.
    n_active_components_variance_ : int
        Latents with ``posterior_mean_variance_ > active_variance_threshold``.
    module_ : torch.nn.Module
        The recognition model (``trunk``, ``mean_head``, ``scale_head``) and the
        dictionary.
    device_ : torch.device
        Where the model lives.
    history_ : list of dict
        Per epoch: ``loss`` (negative ELBO per sample), ``recon`` (expected
        negative log-likelihood), ``kl``, ``mse`` (per pixel, posterior mean
        reconstruction), ``n_active`` (latents with batch-mean KL above
        ``active_kl_threshold``, averaged over batches), ``filter_norm`` (mean
        decoder column norm), ``lr``, ``val_loss``, ``epoch``, ``time``.
    n_iter_ : int
        Epochs run. ``n_steps_``: mini-batches run.
    best_epoch_ : int
        Epoch kept by the validation selection (when used).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string feature names.

    See Also
    --------
    VarianceRegDictionaryLearner : sparse coding by FISTA with a variance hinge.

    References
    ----------
    J. Barello, A. Charles, J. Pillow, "Sparse-coding variational auto-encoders",
    bioRxiv 2018; V. Geadah et al., Neural Computation 36(12), 2024;
    L. P. Jiang, L. de la Iglesia, "Improved training of sparse coding variational
    autoencoder via weight normalization", arXiv:2101.09453, 2021.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepsparse.svae import SVAETransformer
    >>> X = load_digits().data / 16
    >>> svae = SVAETransformer(n_components=32, decoder_bias=True, max_epochs=2,
    ...                        random_state=0, device="cpu")
    >>> svae.fit_transform(X).shape
    (1797, 32)
    """

    _parameter_constraints: dict = {
        **BaseSparseEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "prior": [StrOptions(set(PRIORS))],
        "prior_scale": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "likelihood_std": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "learn_likelihood_std": ["boolean"],
        "encoder_hidden_sizes": [tuple, list],
        "mean_hidden_sizes": [tuple, list],
        "scale_hidden_sizes": [tuple, list],
        "decoder_bias": ["boolean"],
        "decoder_norm": [Interval(Real, 0, None, closed="neither"), None],
        "decoder_norm_method": [StrOptions({"projection", "weight_norm"})],
        "min_posterior_std": [Interval(Real, 0, None, closed="neither")],
        "n_mc_samples": [Interval(Integral, 1, None, closed="left")],
        "recon_estimator": [StrOptions({"sample", "analytic"})],
        "n_kl_samples": [Interval(Integral, 1, None, closed="left")],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
        "transform_mode": [StrOptions({"mean", "sample"})],
        "active_kl_threshold": [Interval(Real, 0, None, closed="left")],
        "active_variance_threshold": [Interval(Real, 0, None, closed="left")],
    }
    # Read at every use: the prior and the ELBO's estimators, the transform mode
    # and the activity thresholds (applied at the end of every fit call).
    _free_params = frozenset({
        "prior", "prior_scale", "n_mc_samples", "recon_estimator", "n_kl_samples",
        "kl_weight", "transform_mode", "active_kl_threshold", "active_variance_threshold",
    })
    _input_scale = "likelihood_std"  # core check: a numeric likelihood_std is in data units

    def __init__(
        self,
        n_components: int = 169,
        *,
        prior: str = "laplace",
        prior_scale: float | str = "auto",
        likelihood_std: float | str = "auto",
        learn_likelihood_std: bool = False,
        encoder_hidden_sizes: tuple[int, ...] = (128,),
        mean_hidden_sizes: tuple[int, ...] = (256, 256),
        scale_hidden_sizes: tuple[int, ...] = (512, 512),
        decoder_bias: bool = False,
        decoder_norm: float | None = 1.0,
        decoder_norm_method: str = "projection",
        min_posterior_std: float = 1e-4,
        n_mc_samples: int = 1,
        recon_estimator: str = "analytic",
        n_kl_samples: int = 100,
        kl_weight: float = 1.0,
        transform_mode: str = "mean",
        active_kl_threshold: float = 0.1,
        active_variance_threshold: float = 0.01,
        optimizer: str = "adam",
        learning_rate: float | str = 1e-3,
        momentum: float = 0.9,
        adam_betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        lr_decay: float = 1.0,
        lr_decay_every: int = 1,
        warmup_fraction: float = 0.05,
        batch_size: int = 32,
        max_epochs: int = 20,
        validation_fraction: float = 0.1,
        n_iter_no_change: int | None = None,
        tol: float = 0.0,
        shuffle: bool = True,
        warm_start: bool = False,
        device: str | torch.device = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        self.n_components = n_components
        self.prior = prior
        self.prior_scale = prior_scale
        self.likelihood_std = likelihood_std
        self.learn_likelihood_std = learn_likelihood_std
        self.encoder_hidden_sizes = encoder_hidden_sizes
        self.mean_hidden_sizes = mean_hidden_sizes
        self.scale_hidden_sizes = scale_hidden_sizes
        self.decoder_bias = decoder_bias
        self.decoder_norm = decoder_norm
        self.decoder_norm_method = decoder_norm_method
        self.min_posterior_std = min_posterior_std
        self.n_mc_samples = n_mc_samples
        self.recon_estimator = recon_estimator
        self.n_kl_samples = n_kl_samples
        self.kl_weight = kl_weight
        self.transform_mode = transform_mode
        self.active_kl_threshold = active_kl_threshold
        self.active_variance_threshold = active_variance_threshold
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.adam_betas = adam_betas
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.lr_decay_every = lr_decay_every
        self.warmup_fraction = warmup_fraction
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- setup
    def _check_params(self, X):
        for name in ("encoder_hidden_sizes", "mean_hidden_sizes", "scale_hidden_sizes"):
            check_layer_sizes(self, name)

    @property
    def _use_weight_norm(self) -> bool:
        return self.decoder_norm is not None and self.decoder_norm_method == "weight_norm"

    @property
    def _use_projection(self) -> bool:
        return self.decoder_norm is not None and self.decoder_norm_method == "projection"

    def _on_fit_start(self, X):
        # Key of the per-row noise of transform_mode="sample".
        self._sample_seed = int(self._rng.randint(np.iinfo(np.int32).max))
        # Unit of the "auto" scales: the std of all entries, in float64.
        std = global_std(X)  # over every rank's rows under a process group
        self.data_scale_ = std if std > 0 and math.isfinite(std) else 1.0

    @property
    def _likelihood_std(self) -> float:
        if self.likelihood_std == "auto":
            return _AUTO_SIGMA_RATIO * self.data_scale_
        return float(self.likelihood_std)

    def _build_module(self, n_features):
        module = _SVAEModule(
            n_features, self.n_components, tuple(self.encoder_hidden_sizes),
            tuple(self.mean_hidden_sizes), tuple(self.scale_hidden_sizes),
            decoder_bias=self.decoder_bias,
            weight_norm=float(self.decoder_norm) if self._use_weight_norm else None,
            log_likelihood_std=math.log(self._likelihood_std),
            learn_likelihood_std=self.learn_likelihood_std,
            min_posterior_std=self.min_posterior_std)
        return module

    def _init_module(self, module, generator):
        if self.decoder_norm is not None:
            normalize_columns_(module.dictionary.data, float(self.decoder_norm))

    # ------------------------------------------------------ fitted attributes
    @property
    def components_(self) -> np.ndarray:
        """Decoder filters, shape (n_components, n_features), one per row."""
        check_is_fitted(self)
        with torch.no_grad():
            return self._to_numpy(self.module_.phi().T)

    @property
    def intercept_(self) -> np.ndarray:
        """Decoder offset, shape (n_features,)."""
        check_is_fitted(self)
        bias = self.module_.bias
        if bias is None:
            return np.zeros(self.n_features_in_, dtype=self._np_dtype)
        return self._to_numpy(bias)

    @property
    def prior_scale_(self) -> float:
        """Scale of the prior in use (``prior_scale``, resolved when ``"auto"``)."""
        check_is_fitted(self)
        if self.prior_scale == "auto":
            return _AUTO_PRIOR_RATIO * self.data_scale_
        return float(self.prior_scale)

    @property
    def likelihood_std_(self) -> float:
        """Standard deviation of the Gaussian likelihood."""
        check_is_fitted(self)
        return float(self.module_.log_likelihood_std.detach().exp())

    # ----------------------------------------------------------- the model
    def _kl(self, mu: torch.Tensor, std: torch.Tensor, *, exact: bool) -> torch.Tensor:
        """Per-sample, per-latent KL(q || p), shape (n, K).

        ``kl_divergence(q, prior)`` for the Gaussian and Laplace priors. For the
        Cauchy prior, the exact negative entropy of q plus the cross entropy
        ``-E_q log p(z)``, by Monte Carlo (``exact=False``, training) or
        Gauss-Hermite quadrature (``exact=True``, deterministic evaluation).
        """
        q = Normal(mu, std, validate_args=False)
        return kl_to_prior(q, make_prior(self.prior, self.prior_scale_, mu), exact=exact,
                           n_samples=self.n_kl_samples, generator=self._generator)

    def _expected_nll(self, X, mu, std, phi, *, analytic: bool):
        """Per-sample ``E_q[-log N(x; Phi z + b, sigma^2 I)]``."""
        log_sigma = self.module_.log_likelihood_std
        var = torch.exp(2.0 * log_sigma)
        if analytic:
            resid = X - self.module_.decode(mu, phi)
            sq = (resid**2).sum(1) + (std**2 * (phi**2).sum(0)).sum(1)
        else:
            z = normal_rsample(Normal(mu, std, validate_args=False), self.n_mc_samples,
                               self._generator)
            sq = ((X - self.module_.decode(z, phi)) ** 2).sum(-1).mean(0)
        n_features = X.shape[1]
        return 0.5 * sq / var + n_features * (log_sigma + 0.5 * _LOG_2PI)

    def _elbo_terms(self, X, *, exact: bool):
        mu, std = self.module_.encode(X)
        phi = self.module_.phi()
        analytic = exact or self.recon_estimator == "analytic"
        nll = self._expected_nll(X, mu, std, phi, analytic=analytic)
        kl = self._kl(mu, std, exact=exact)
        return nll, kl, mu, phi

    # -------------------------------------------------------------- training
    def _train_step(self, X, rows=None):
        (opt,) = self._optimizers
        nll, kl, mu, phi = self._elbo_terms(X, exact=False)
        kl_sum = kl.sum(1)
        loss = (nll + self.kl_weight * kl_sum).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if self._use_projection:
            normalize_columns_(self.module_.dictionary.data, float(self.decoder_norm))
        with torch.no_grad():
            mse = ((X - self.module_.decode(mu, phi)) ** 2).mean()
            return {
                "loss": loss.detach(),
                "recon": nll.detach().mean(),
                "kl": kl_sum.detach().mean(),
                "mse": mse,
                "n_active": (kl.detach().mean(0) > self.active_kl_threshold).sum().to(X.dtype),
                "filter_norm": self.module_.phi().norm(dim=0).mean(),
            }

    def _on_fit_end(self, X):
        self._compute_activity(X)

    def _compute_activity(self, X: np.ndarray) -> None:
        n = X.shape[0]
        if n > _ACTIVITY_MAX_SAMPLES:
            X = X[np.linspace(0, n - 1, _ACTIVITY_MAX_SAMPLES).astype(np.intp)]
        K = self.n_components
        out = self._map_batches(X, self._kl_and_mean_batch, 2 * K).astype(np.float64)
        kl, mu = out[:, :K], out[:, K:]
        # Over every rank's rows under a process group (one model).
        self.kl_per_component_, self.posterior_mean_variance_ = global_column_stats(kl, mu)
        self.n_active_components_ = int(np.sum(self.kl_per_component_ > self.active_kl_threshold))
        self.n_active_components_variance_ = int(
            np.sum(self.posterior_mean_variance_ > self.active_variance_threshold)
        )

    def _kl_and_mean_batch(self, X):
        mu, std = self.module_.encode(X)
        return torch.cat([self._kl(mu, std, exact=True), mu], dim=1)

    # ------------------------------------------------------------ transforms
    def _codes_and_std(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means, or one draw per row whose noise is a hash of the row
        (``transform_mode="sample"``), and the posterior standard deviations."""
        mu, std = self.module_.encode(X)
        if self.transform_mode == "sample":
            # In place, a block of rows at a time: the hash's int64 temporaries are
            # (512 x n_components), not (chunk x n_components). Rows are hashed
            # independently, so the draws do not depend on the blocking.
            seeds = row_seeds(X, self._sample_seed)
            for start in range(0, X.shape[0], _NOISE_ROWS):
                stop = start + _NOISE_ROWS
                eps = hashed_normal(seeds[start:stop], 0, self.n_components, X.dtype)
                mu[start:stop].addcmul_(std[start:stop], eps)
        return mu, std

    def _transform_batch(self, X):
        return self._codes_and_std(X)[0]

    def _inverse_transform_batch(self, Z):
        return self.module_.decode(Z)

    def _score_samples_batch(self, X):
        nll, kl, _, _ = self._elbo_terms(X, exact=True)
        return -(nll + self.kl_weight * kl.sum(1))

    def transform(self, X, return_std: bool = False):
        """Encode ``X`` with the recognition model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.
        return_std : bool, default=False
            Also return the posterior standard deviations.

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
            Posterior means (``transform_mode="mean"``) or one posterior draw per
            sample (``"sample"``, deterministic for a given sample and
            ``random_state``), in the dtype of ``X``.
        std : ndarray of shape (n_samples, n_components)
            Posterior standard deviations; only when ``return_std=True``.
        """
        if not return_std:
            return super().transform(X)
        X = self._check_fitted_input(X)
        K = self.n_components
        out = self._map_batches(X, lambda t: torch.cat(self._codes_and_std(t), dim=1), 2 * K)
        return out[:, :K], out[:, K:]

    def elbo_terms(self, X) -> dict[str, np.ndarray]:
        """Per-sample terms of the ELBO (exact expectations, deterministic).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        dict
            ``"recon"``: expected negative log-likelihood, shape (n_samples,);
            ``"kl"``: KL per latent, shape (n_samples, n_components).
        """
        X = self._check_fitted_input(X)
        K = self.n_components

        def fn(Xb):
            nll, kl, _, _ = self._elbo_terms(Xb, exact=True)
            return torch.cat([nll[:, None], kl], dim=1)

        out = self._map_batches(X, fn, K + 1)
        return {"recon": out[:, 0], "kl": out[:, 1:]}

    # ------------------------------------------------------ log-likelihood
    def log_likelihood(self, X, n_importance: int = 100, *, method: str = "iwae",
                       n_steps: int = 500, random_state=0) -> np.ndarray:
        """Estimate of ``log p(x)`` per sample, in nats: IWAE or AIS.

        ``method="iwae"``: :func:`~skdeepsparse.likelihood.iwae_log_likelihood`,
        the bound of Burda et al. (2016) with the recognition model as proposal
        and the exact Gaussian likelihood; for ``S = 1`` an unbiased estimate of
        the ELBO, increasing with ``S`` towards ``log p(x)``. With a Laplace or
        Cauchy prior and ``n_components > n_features`` the importance weights
        have a heavy tail: check that the estimate has settled by comparing two
        values of ``n_importance``. ``method="ais"``:
        :func:`~skdeepsparse.likelihood.ais_log_likelihood`, annealed importance
        sampling from the prior with HMC moves (Neal 2001; Wu et al. 2017): a
        stochastic lower bound whose gap shrinks as ``n_steps`` grows,
        independently of the encoder.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_importance : int, default=100
            Samples ``S`` per row (IWAE) or chains per row (AIS).
        method : {"iwae", "ais"}, default="iwae"
        n_steps : int, default=500
            AIS only: the number of intermediate distributions.
        random_state : int, RandomState instance or None, default=0
            Seeds a generator of this call only (the estimator is not changed).

        Returns
        -------
        ndarray of shape (n_samples,)
            The estimates, one per row (float64). Their mean over held-out rows
            is the usual "test log-likelihood in nats per sample".
        """
        for name, value in (("n_importance", n_importance), ("n_steps", n_steps)):
            if not (isinstance(value, Integral) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"{name} must be a positive int; got {value!r}.")
        if method not in ("iwae", "ais"):
            raise ValueError(f"method must be 'iwae' or 'ais'; got {method!r}.")
        from sklearn.utils import check_random_state

        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        X = self._check_fitted_input(X)
        gen = self._make_generator(seed)
        out = np.empty(X.shape[0], dtype=np.float64)
        with torch.no_grad():
            for start in range(0, X.shape[0], _IW_ROWS):
                xb = self._to_tensor(X[start:start + _IW_ROWS])
                if method == "ais":
                    est = self._ais_log_likelihood(xb, int(n_importance), int(n_steps), gen)
                else:
                    est = self._iw_log_likelihood(xb, int(n_importance), gen)
                out[start:start + xb.shape[0]] = est.cpu().numpy()
        self._check_output_finite(out, "log_likelihood", "data")
        return out

    def _ais_log_likelihood(self, X: torch.Tensor, n_chains: int, n_steps: int,
                            gen: torch.Generator) -> torch.Tensor:
        """:func:`~skdeepsparse.likelihood.ais_log_likelihood` in float64, with the
        linear-Gaussian likelihood's gradient written by hand."""
        dt = torch.float64
        X = X.to(dt)
        phi = self.module_.phi().detach().to(dt)
        bias = None if self.module_.bias is None else self.module_.bias.detach().to(dt)
        log_sigma = float(self.module_.log_likelihood_std)
        inv_var = math.exp(-2.0 * log_sigma)
        const = X.shape[1] * (log_sigma + 0.5 * _LOG_2PI)

        def log_lik(z):  # and its gradient: the model is linear-Gaussian
            r = X - F.linear(z, phi, bias)
            return -0.5 * inv_var * (r * r).sum(-1) - const, inv_var * (r @ phi)

        return ais_log_likelihood(
            log_lik, make_prior(self.prior, self.prior_scale_, X),
            (n_chains, X.shape[0], self.n_components), n_steps, gen,
            initial_step=0.1 * min(self.prior_scale_, math.exp(log_sigma)))

    def _iw_log_likelihood(self, X: torch.Tensor, n_importance: int,
                           gen: torch.Generator) -> torch.Tensor:
        mu, std = self.module_.encode(X)
        phi = self.module_.phi()
        log_sigma = self.module_.log_likelihood_std
        const = X.shape[1] * (float(log_sigma) + 0.5 * _LOG_2PI)
        inv_var = float(torch.exp(-2.0 * log_sigma))

        def log_lik(z):
            return -0.5 * inv_var * ((X - self.module_.decode(z, phi)) ** 2).sum(-1) - const

        return iwae_log_likelihood(Normal(mu, std, validate_args=False), log_lik,
                                   make_prior(self.prior, self.prior_scale_, mu),
                                   n_importance, gen, chunk=_IW_SAMPLES)
