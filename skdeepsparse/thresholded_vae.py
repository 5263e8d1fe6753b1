"""Variational sparse coding with learned thresholding (Fallah & Rozell, ICML 2022)."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._base import BaseSparseEstimator
from .distributions import kl_bernoulli, kl_gaussian_gaussian, kl_laplace_laplace
from .nn import MLP, LinearDictionary, normalize_columns_
from .solvers import lipschitz_constant

__all__ = [
    "ThresholdedVAE",
    "prior_nonzero_fraction",
    "threshold_for_nonzero_fraction",
]

# Reference prior spreads (Fallah & Rozell's configs): Laplace scale b0 = 0.1 and
# Gaussian *variance* 0.1, i.e. std sqrt(0.1). ``prior_scale`` is always a scale/std.
_DEFAULT_PRIOR_SCALE = {"laplace": 0.1, "gaussian": math.sqrt(0.1)}
_DEFAULT_MLP_HIDDEN = (512, 1024, 512, 256)
_DEFAULT_CONV_CHANNELS = (64, 64, 128, 128)
_GAMMA_CLIP = (math.log(1e-6), math.log(1e6))
_M32 = 0xFFFFFFFF


# --------------------------------------------------------------------- prior helpers
def prior_nonzero_fraction(threshold: float, base_dist: str, prior_scale: float) -> float:
    """Expected fraction of non-zero latents under the thresholded prior.

    ``z = T_lambda(u)`` with ``u ~ Laplace(0, b0)`` gives ``P(z != 0) = exp(-lambda/b0)``;
    with ``u ~ N(0, s0^2)`` it is ``2 Phi(-lambda / s0)``.

    Parameters
    ----------
    threshold : float
        The threshold ``lambda`` (>= 0).
    base_dist : {"laplace", "gaussian"}
        Base distribution of the prior.
    prior_scale : float
        Laplace scale ``b0`` or Gaussian standard deviation ``s0``.

    Returns
    -------
    float
    """
    if base_dist == "laplace":
        return math.exp(-threshold / prior_scale)
    return 2.0 * NormalDist().cdf(-threshold / prior_scale)


def threshold_for_nonzero_fraction(fraction: float, base_dist: str, prior_scale: float) -> float:
    """The threshold whose prior keeps a given fraction of latents non-zero.

    The inverse of :func:`prior_nonzero_fraction`: ``lambda = -b0 log(p)`` (Laplace)
    or ``lambda = s0 Phi^{-1}(1 - p/2)`` (Gaussian).

    Parameters
    ----------
    fraction : float in (0, 1)
        Target prior probability that a latent is non-zero.
    base_dist : {"laplace", "gaussian"}
    prior_scale : float

    Returns
    -------
    float
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1); got {fraction}.")
    if base_dist == "laplace":
        return -prior_scale * math.log(fraction)
    return prior_scale * NormalDist().inv_cdf(1.0 - fraction / 2.0)


# ------------------------------------------------------------------- sampling math
def laplace_noise_from_uniform(u: torch.Tensor) -> torch.Tensor:
    """Standard Laplace draws from uniforms ``u`` in (0, 1) (inverse CDF).

    ``-sign(v) log(max(1 - 2|v|, 1e-6))`` with ``v = u - 1/2``.
    """
    v = u - 0.5
    return -torch.sign(v) * torch.log(torch.clamp(1.0 - 2.0 * v.abs(), min=1e-6))


def shifted_soft_threshold(mu: torch.Tensor, noise: torch.Tensor, threshold) -> torch.Tensor:
    """Shifted soft threshold applied to the noise.

    ``z = 0`` where ``|e| <= lambda``, else ``mu + sign(e)(|e| - lambda)``: the
    mass of the base distribution within ``mu +- lambda`` goes to the origin and
    the outer mass moves towards ``mu``. Zero noise gives zero, not ``mu``.
    """
    active = noise.abs() > threshold
    shrunk = mu + torch.sign(noise) * (noise.abs() - threshold)
    return torch.where(active, shrunk, torch.zeros_like(shrunk))


def _straight_through(mu, noise, threshold, estimator: str, thresholding: bool):
    """Thresholded reparameterised sample with the chosen gradient estimator.

    The forward value is always :func:`shifted_soft_threshold`; only gradients differ:

    * ``"straight"``: ``z_thr + (z_base - stopgrad(z_base))`` with
      ``z_base = mu + e``: dz/dmu = 1 + 1[active], dz/de = 1 + 1[active],
      dz/dlambda = -sign(e) 1[active] (the behaviour of the reference code).
    * ``"straight_pure"``: dz/dmu = dz/de = 1, no path to lambda.
    * ``"subgradient"``: autograd through the threshold itself.

    Without thresholding (a plain VAE) this is the usual ``z = mu + e``.
    """
    if not thresholding:
        return mu + noise
    z_thr = shifted_soft_threshold(mu, noise, threshold)
    if estimator == "subgradient":
        return z_thr
    z_base = mu + noise
    ste = z_base - z_base.detach()  # exactly zero in value, identity gradient
    if estimator == "straight":
        return z_thr + ste
    return z_thr.detach() + ste


def _aggregation_weights(losses: torch.Tensor, method: str) -> torch.Tensor:
    """Detached weights over draws (axis 0) for ``sum_j w_j loss_j``.

    ``"avg"``: 1/J; ``"iwae"``: softmax(-loss); ``"max"``: one-hot on the
    lowest-loss draw (max-ELBO sampling).
    """
    losses = losses.detach()
    if method == "avg":
        return torch.full_like(losses, 1.0 / losses.shape[0])
    if method == "iwae":
        return torch.softmax(-losses, dim=0)
    best = losses.argmin(dim=0, keepdim=True)
    return torch.zeros_like(losses).scatter_(0, best, 1.0)


def _kl_gamma(alpha, beta, prior_shape: float, prior_rate: float) -> torch.Tensor:
    """KL( Gamma(alpha, beta) || Gamma(a0, b0) ), shape/rate parameterisation."""
    a0 = torch.as_tensor(prior_shape, dtype=alpha.dtype, device=alpha.device)
    return (
        (alpha - a0) * torch.digamma(alpha) - torch.lgamma(alpha) + torch.lgamma(a0)
        + a0 * (torch.log(beta) - math.log(prior_rate)) + alpha * (prior_rate / beta - 1.0)
    )


def _rsample_gamma(alpha, beta, n_draws: int, generator: torch.Generator) -> torch.Tensor:
    """Reparameterised Gamma(alpha, beta) draws of shape (n_draws, *alpha.shape).

    ``torch._standard_gamma`` (which has implicit reparameterisation gradients)
    takes no generator, so it runs under a forked global RNG seeded from ours:
    reproducible from ``random_state`` and the user's global state is untouched.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    shape = (n_draws, *alpha.shape)
    if alpha.device.type == "cuda":
        index = alpha.device.index if alpha.device.index is not None else 0
        with torch.random.fork_rng(devices=[index]), torch.cuda.device(index):
            torch.cuda.manual_seed(seed)
            return torch._standard_gamma(alpha.expand(shape)) / beta
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        return torch._standard_gamma(alpha.expand(shape)) / beta


# ---------------------------------------------------- deterministic per-sample noise
def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2^32`` for int64 ``x`` in [0, 2^32) without int64 overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xor-shift-multiply), elementwise on int64 tensors."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _row_seeds(X: torch.Tensor, key: int) -> torch.Tensor:
    """A 32-bit hash of every row's values (float64 bit patterns) and ``key``.

    Equal rows get equal seeds whatever the batch they sit in, so noise derived
    from them makes ``transform`` deterministic and batch-independent.
    """
    bits = (X.to(torch.float64) + 0.0).contiguous().view(torch.int64)  # +0.0: -0 -> +0
    lo = bits & _M32
    hi = (bits >> 32) & _M32
    pos = torch.arange(X.shape[1], device=X.device, dtype=torch.int64)
    pos_key = _mix32((pos * 2 + (key & _M32)) & _M32)
    pos_key2 = _mix32((pos * 2 + 1 + (key & _M32)) & _M32)
    h = _mix32(lo ^ pos_key) + _mix32(hi ^ pos_key2)
    return _mix32(h.sum(1) & _M32)


def _hashed_uniform(seeds: torch.Tensor, stream: int, n: int, dtype) -> torch.Tensor:
    """Uniforms in (0, 1) of shape (len(seeds), n) from row seeds and a stream id."""
    idx = torch.arange(n, device=seeds.device, dtype=torch.int64)
    col = _mix32((idx + (stream * 0x9E3779B1)) & _M32)
    h = _mix32(_mix32(seeds[:, None] ^ col[None, :]) ^ (stream & _M32))
    return ((h.to(torch.float64) + 0.5) / 4294967296.0).to(dtype)


class _frozen_batchnorm_stats:
    """Restore the running statistics of every BatchNorm layer on exit."""

    def __init__(self, module: nn.Module):
        self.layers = [m for m in module.modules()
                       if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]

    def __enter__(self):
        self.saved = [(m.running_mean.clone(), m.running_var.clone(),
                       m.num_batches_tracked.clone()) for m in self.layers]
        return self

    def __exit__(self, *exc):
        for m, (mean, var, n) in zip(self.layers, self.saved, strict=True):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(n)
        return False


# ----------------------------------------------------------------------- modules
def _conv_geometry(height: int, width: int, n_layers: int) -> list[dict]:
    """Kernel/stride/padding per conv layer, mirrored exactly by the decoder.

    Per spatial axis: size >= 8 halves it (kernel 4, stride 2, padding 1);
    4 <= size < 8 shrinks it by 3 (kernel 4, stride 1, no padding); smaller
    sizes are kept (kernel 3, padding 1). On 28 x 28 images this gives
    28 -> 14 -> 7 -> 4 -> 1, the reference Fashion-MNIST encoder.
    """
    layers = []
    size = [height, width]
    for _ in range(n_layers):
        k, s, p, out = [], [], [], []
        for n in size:
            if n >= 8:
                spec = (4, 2, 1)
            elif n >= 4:
                spec = (4, 1, 0)
            else:
                spec = (3, 1, 1)
            k.append(spec[0])
            s.append(spec[1])
            p.append(spec[2])
            out.append((n + 2 * spec[2] - spec[0]) // spec[1] + 1)
        layers.append({"kernel": tuple(k), "stride": tuple(s), "padding": tuple(p),
                       "in": tuple(size), "out": tuple(out)})
        size = out
    return layers


class _ConvEncoder(nn.Module):
    """Conv(4x4) + BatchNorm + ReLU stack, flattened (the reference DNN encoder)."""

    def __init__(self, image_shape: tuple[int, int, int], channels=_DEFAULT_CONV_CHANNELS):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = (c, h, w)
        geometry = _conv_geometry(h, w, len(channels))
        layers: list[nn.Module] = []
        c_in = c
        for g, c_out in zip(geometry, channels, strict=True):
            layers += [nn.Conv2d(c_in, c_out, g["kernel"], g["stride"], g["padding"], bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.net = nn.Sequential(*layers)
        oh, ow = geometry[-1]["out"]
        self.out_features = channels[-1] * oh * ow

    def forward(self, x):
        return self.net(x.reshape(x.shape[0], *self.image_shape)).flatten(1)


class _ConvDecoder(nn.Module):
    """Linear -> reshape -> ConvTranspose stack (BatchNorm + ReLU) -> output.

    The exact mirror of :class:`_ConvEncoder`'s geometry, so it reproduces the
    image size for any ``image_shape``.
    """

    def __init__(self, n_components: int, image_shape: tuple[int, int, int],
                 channels=_DEFAULT_CONV_CHANNELS, output_activation: str = "sigmoid"):
        super().__init__()
        c, h, w = image_shape
        geometry = _conv_geometry(h, w, len(channels))
        self.start_shape = (channels[-1], *geometry[-1]["out"])
        self.fc = nn.Linear(n_components, int(np.prod(self.start_shape)))
        layers: list[nn.Module] = [nn.BatchNorm2d(channels[-1]), nn.ReLU()]
        for i in range(len(channels) - 1, -1, -1):
            g = geometry[i]
            c_in, c_out = channels[i], (channels[i - 1] if i > 0 else c)
            out_pad = tuple(
                t - ((n - 1) * s - 2 * p + k)
                for t, n, s, p, k in zip(g["in"], g["out"], g["stride"], g["padding"],
                                         g["kernel"], strict=True)
            )
            layers.append(nn.ConvTranspose2d(c_in, c_out, g["kernel"], g["stride"],
                                             g["padding"], output_padding=out_pad,
                                             bias=i == 0))
            if i > 0:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.output_activation = output_activation

    def forward(self, z):
        x = self.net(self.fc(z).reshape(z.shape[0], *self.start_shape)).flatten(1)
        return torch.sigmoid(x) if self.output_activation == "sigmoid" else x


class _TVAEModule(nn.Module):
    """Feature network, posterior heads, optional threshold head, decoder."""

    def __init__(self, features: nn.Module, n_hidden: int, n_components: int,
                 decoder: nn.Module, log_scale_init: float, learn_threshold: bool,
                 gamma_init: tuple[float, float], mean, scale):
        super().__init__()
        self.features = features
        self.loc = nn.Linear(n_hidden, n_components)
        self.log_scale = nn.Linear(n_hidden, n_components)
        # Start the posterior spread at the prior's, so early KL terms are small.
        nn.init.constant_(self.log_scale.bias, log_scale_init)
        if learn_threshold:
            self.gamma = nn.Linear(n_hidden, 2 * n_components)
            nn.init.zeros_(self.gamma.weight)
            with torch.no_grad():
                self.gamma.bias[:n_components] = gamma_init[0]
                self.gamma.bias[n_components:] = gamma_init[1]
        else:
            self.gamma = None
        self.decoder = decoder
        self.register_buffer("data_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("data_scale", torch.as_tensor(scale, dtype=torch.float32))

    def encode(self, y):
        h = self.features(y)
        loc, log_scale = self.loc(h), self.log_scale(h)
        if self.gamma is None:
            return loc, log_scale, None, None
        ab = torch.exp(torch.clamp(self.gamma(h), *_GAMMA_CLIP))
        alpha, beta = ab.chunk(2, dim=1)
        return loc, log_scale, alpha, beta


# --------------------------------------------------------------------- estimator
class ThresholdedVAE(BaseSparseEstimator):
    """Variational sparse coding with shifted soft-thresholded samples.

    The model of Fallah & Rozell (ICML 2022). Data are generated as
    ``x | z ~ N(f(z), sigma^2 I)`` from a linear dictionary ``f(z) = Phi z`` or a
    transposed-convolution network. The prior on each latent is a base
    distribution (Laplace scale ``b0`` or Gaussian std ``s0``) passed through a
    soft threshold ``T_lambda``, i.e. a spike-and-slab: a latent is exactly zero
    with probability ``1 - exp(-lambda/b0)`` (Laplace).

    An encoder gives, per sample, a location ``mu`` and a scale ``b`` (and, with
    ``learn_threshold``, a Gamma posterior over ``lambda``). Training draws
    ``n_samples`` reparameterised codes with the threshold applied to the
    noise::

        e ~ base(0, b);   z = 0 if |e| <= lambda else mu + sign(e)(|e| - lambda)

    and minimises, per sample and draw ``j``::

        l_j = mean_d (x_d - f(z_j)_d)^2 + kl_weight * sum_k [KL_k + gamma KL^Gamma_k]

    (``KL_k`` between the un-thresholded base distributions, or the exact
    spike-and-slab KL with ``kl="spike_slab"``), aggregated over draws by
    ``sample_method``: the default ``"max"`` keeps only the lowest-loss draw
    (max-ELBO sampling). A linear dictionary is updated outside autograd by a
    hand-written gradient step on the selected draws, with learning-rate decay
    and Frobenius regularisation; other decoders are trained with the encoder.

    The paper's baselines are one parameter away: ``threshold=0`` gives a plain
    VAE (``base_dist="gaussian"``: the Gaussian VAE; ``"laplace"``: the Laplace
    VAE) with the same architecture and training.

    Parameters
    ----------
    n_components : int, default=256
        Number of latents ``K``.
    decoder : {"linear", "conv"} or nn.Module subclass, default="linear"
        ``"linear"``: dictionary ``f(z) = z @ Phi.T`` (no bias), atoms in
        ``components_``. ``"conv"``: linear layer, then transposed convolutions
        with BatchNorm + ReLU mirroring the conv encoder geometry, then a sigmoid
        (needs ``image_shape``; data in [0, 1]). A class (never an instance) is
        built at ``fit`` as ``decoder(n_components=K, n_features=D,
        **decoder_kwargs)`` and must map (B, K) to (B, D).
    decoder_kwargs : dict or None, default=None
        Keyword arguments of the decoder. For ``"conv"``: ``channels`` (encoder
        order, default (64, 64, 128, 128)) and ``output_activation``
        (``"sigmoid"`` or ``"none"``).
    encoder : {"auto", "mlp", "conv"} or nn.Module subclass, default="auto"
        Feature network before the linear heads. ``"mlp"``: ReLU MLP with a
        ReLU after every layer; ``"conv"``: 4x4 convolutions with BatchNorm +
        ReLU (mostly stride 2; needs ``image_shape``). ``"auto"``: ``"conv"``
        with the conv decoder, else ``"mlp"``. A class is built as
        ``encoder(n_features=D, **encoder_kwargs)`` and must map (B, D) to
        (B, H).
    encoder_kwargs : dict or None, default=None
        For ``"mlp"``: ``hidden_sizes`` (default (512, 1024, 512, 256), the
        reference for 256-pixel patches); for ``"conv"``: ``channels``.
    image_shape : tuple of int or None, default=None
        ``(height, width)`` or ``(channels, height, width)`` of the images that
        the rows of ``X`` flatten; needed by the conv encoder and decoder.
    base_dist : {"laplace", "gaussian"}, default="laplace"
        Base distribution of the prior and the posterior.
    prior_scale : float or "auto", default="auto"
        Spread of the prior's base distribution, always a scale: the Laplace
        scale ``b0`` or the Gaussian standard deviation ``s0`` (the reference
        code calls it ``spread_prior`` and uses it as a *variance* for the
        Gaussian). ``"auto"``: 0.1 for Laplace, ``sqrt(0.1)`` for Gaussian (the
        reference values).
    threshold : float >= 0 or "auto", default="auto"
        Threshold ``lambda`` (the prior mean ``lambda0`` when
        ``learn_threshold``). ``"auto"`` derives it from ``target_sparsity``.
        ``0`` disables thresholding: a plain (Gaussian or Laplace) VAE.
    target_sparsity : float in (0, 1), default=0.1
        With ``threshold="auto"``: the expected fraction of **non-zero** latents
        under the prior (the paper's "sparsity level"), which sets ``lambda`` by
        ``exp(-lambda/b0) = target`` (Laplace) or ``2 Phi(-lambda/s0) = target``
        (Gaussian). 0.1 gives ``lambda = 0.23`` (Laplace) and ``0.52``
        (Gaussian), the reference values. Ignored when ``threshold`` is a number.
    learn_threshold : bool, default=False
        Learn a per-sample, per-latent threshold with a Gamma posterior
        ``q(lambda|x) = Gamma(alpha(x), beta(x))`` and prior
        ``Gamma(threshold_prior_shape, threshold_prior_shape / lambda0)``.
        Reparameterised draws in training; the posterior mean at ``transform``.
    threshold_prior_shape : float, default=3.0
        Shape of the Gamma prior on ``lambda``.
    threshold_kl_weight : float, default=0.1
        Weight ``gamma`` of the Gamma KL (relative to ``kl_weight``).
    kl : {"base", "spike_slab"}, default="base"
        ``"base"``: closed-form KL between the un-thresholded base
        distributions (the reference). ``"spike_slab"`` (Laplace only): the exact
        KL between the thresholded posterior and prior, both spike-and-slabs,
        ``KL_Bern(exp(-lambda/b) || exp(-lambda/b0)) + exp(-lambda/b) KL_Lap``.
    kl_weight : float, default=0.01
        Weight ``kappa`` of the KL term. With the per-pixel mean squared error
        this is a beta-ELBO with noise variance ``D kappa / 2``.
    n_samples : int, default=20
        Draws ``J`` per sample and training step.
    sample_method : {"max", "avg", "iwae"}, default="max"
        How the draws' losses are combined: the lowest-loss draw only
        (max-ELBO sampling; the argmin is not differentiated), their mean
        (standard VI), or softmax(-loss) weights (detached, IWAE-style).
    estimator : {"straight", "straight_pure", "subgradient"}, default="straight"
        Gradient of the thresholded sample (see the module function
        ``_straight_through``): ``"straight"`` is the reference code's
        estimator (also learns ``lambda`` through the reconstruction).
    noise_warmup : tuple (start, delay, increment) or None, default=None
        Multiply the posterior noise by ``w = min(1, start + increment *
        max(0, step - delay))`` at training step ``step``; the reference
        linear-generator runs use ``(0.1, 1500, 2e-4)``. None: ``w = 1``.
        The KL and ``transform`` use the full noise.
    dict_optimizer : {"sgd", "adam"}, default="sgd"
        Linear decoder only. ``"sgd"``: the hand-written step
        ``Phi <- Phi + eta [(1/B) sum_ij w_ij (x_i - Phi z_ij) z_ij^T - 2 rho Phi]``
        on the detached selected draws, after each encoder step. ``"adam"``:
        Adam on the same gradient.
    dict_learning_rate : float or "auto", default="auto"
        ``eta``; "auto": 0.5 for SGD (the reference), 1e-3 for Adam.
    dict_lr_decay : float, default=0.99
        ``eta`` is multiplied by this factor every epoch.
    dict_weight_decay : float, default=1e-4
        Frobenius regularisation ``rho`` (stops unbounded atom growth).
    normalize_dict : bool, default=False
        Rescale the atoms to unit norm after every update (the reference does
        not; its atoms start at unit norm).
    dict_step_cap : bool, default=True
        With ``dict_optimizer="sgd"``: lower the step of a mini-batch to
        ``1/L`` when ``eta L > 1``, ``L`` being the largest eigenvalue of the
        batch's (weighted) code second moment ``(1/B) sum_ij w_ij z_ij z_ij^T``
        plus ``2 rho``. A fixed step diverges once ``eta L > 2``, which large
        codes cause; the fraction of capped steps is in ``history_``
        (``dict_step_capped``). False: the reference's plain fixed step.
    optimizer : {"auto", "sgd", "adam"}, default="auto"
        Optimizer of the encoder (and of a non-linear decoder). "sgd": Nesterov
        momentum; "adam": Adam with ``adam_betas``. "auto": SGD with the linear
        decoder, Adam otherwise (the reference choices).
    learning_rate : float or "auto", default="auto"
        Peak learning rate; "auto": 0.01 (SGD) or 3e-4 (Adam).
    momentum : float, default=0.9
        Nesterov momentum for ``optimizer="sgd"``.
    adam_betas : tuple of float, default=(0.5, 0.999)
        Adam betas.
    weight_decay : float, default=0.0
        L2 weight decay of the encoder optimizer (the reference DNN runs use 1e-5).
    lr_schedule : {"one_cycle", "constant"}, default="one_cycle"
        "one_cycle": linear warm-up from lr/25 to lr over ``warmup_fraction``
        of the steps of a ``fit`` call, then cosine down to lr/25/1e4.
        ``partial_fit`` always uses the constant peak rate.
    warmup_fraction : float, default=0.05
        Share of steps used for the warm-up of the one-cycle schedule.
    standardize : bool or "auto", default="auto"
        Subtract the global mean and divide by the global std of the training
        data (one scalar each), undone by ``inverse_transform``; this puts the
        data on the scale that ``prior_scale`` and ``kl_weight`` assume.
        "auto": True, except with ``decoder="conv"`` whose sigmoid output
        models [0, 1] images directly. (The reference z-scores
        image patches per pixel: do that before, e.g. with a ``StandardScaler``;
        per-pixel scaling of images with near-constant pixels, like the digits'
        borders, creates huge values that destabilise training.)
    transform_mode : {"max_elbo", "mean", "mode", "sample"}, default="max_elbo"
        ``"max_elbo"``: of ``n_eval_samples`` draws, the one with the lowest
        loss (sparse). Its noise is derived from a hash of each sample's values
        and ``random_state``, so ``transform`` is deterministic and does not
        depend on the batch. ``"mean"``: the posterior mean
        ``P(z != 0) mu`` (dense). ``"mode"``: ``mu`` where ``P(z != 0) > 1/2``,
        else 0 (the most probable support; with posteriors near the prior,
        e.g. ``P(z != 0) ~ 0.1``, it is mostly or entirely zero). ``"sample"``:
        one fresh random draw (not deterministic).
    n_eval_samples : int, default=20
        Draws used by ``"max_elbo"`` and by ``score``.
    batch_size : int, default=100
        Mini-batch size.
    max_epochs : int, default=300
        Passes over the training data (the reference budget; lower it on a CPU).
    validation_fraction : float, default=0.1
        Share of ``fit`` data held out to keep the epoch with the best validation
        loss (the negative ``score``); 0 disables it.
    n_iter_no_change : int or None, default=None
        Stop when the validation loss has not improved for that many epochs.
    tol : float, default=0.0
        Relative improvement that counts for ``n_iter_no_change``.
    shuffle : bool, default=True
        Shuffle the data every epoch.
    warm_start : bool, default=False
        Continue from the fitted model on a new call to ``fit``.
    device : str or torch.device, default="auto"
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, training noise and the noise of
        ``transform`` (never the global seed).
    verbose : int, default=0
        Show a progress bar.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The dictionary atoms in data units (linear decoder only), so that
        ``inverse_transform(Z) == Z @ components_ + mean_``.
    threshold_ : float
        The threshold used (``lambda``, or the prior mean ``lambda0`` when learned).
    prior_scale_ : float
        The prior's scale (Laplace ``b0`` or Gaussian std ``s0``).
    prior_nonzero_fraction_ : float
        ``P(z != 0)`` under the prior.
    mean_, scale_ : ndarray of shape (n_features,)
        The standardisation, per feature (constant when standardising; zeros
        and ones without).
    module_ : torch.nn.Module
        ``features``, heads ``loc``, ``log_scale`` (and ``gamma``), ``decoder``.
    device_ : torch.device
    history_ : list of dict
        Per epoch: ``loss``, ``recon`` (per-pixel MSE of the kept draws),
        ``kl``, ``kl_threshold`` (learned threshold), ``l0`` (mean non-zeros
        per code), ``zeros`` (fraction of exact zeros), ``threshold`` (mean
        lambda), ``noise_scale`` (warm-up ``w``), ``lr``, ``dict_lr``,
        ``atom_norm`` and ``dict_step_capped`` (linear decoder), ``val_loss``, ``time``.
    n_iter_ : int
        Epochs run. ``n_steps_``: mini-batches run.
    best_epoch_ : int
        Epoch kept by the validation selection (when used).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string feature names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepsparse.thresholded_vae import ThresholdedVAE
    >>> X = load_digits().data / 16
    >>> tvae = ThresholdedVAE(n_components=32, encoder_kwargs={"hidden_sizes": (64,)},
    ...                       max_epochs=2, random_state=0, device="cpu")
    >>> Z = tvae.fit_transform(X)
    >>> Z.shape
    (1797, 32)
    """

    _parameter_constraints: dict = {
        **BaseSparseEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "decoder": [StrOptions({"linear", "conv"}), callable],
        "decoder_kwargs": [dict, None],
        "encoder": [StrOptions({"auto", "mlp", "conv"}), callable],
        "encoder_kwargs": [dict, None],
        "image_shape": [tuple, list, None],
        "base_dist": [StrOptions({"laplace", "gaussian"})],
        "prior_scale": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "threshold": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "target_sparsity": [Interval(Real, 0, 1, closed="neither")],
        "learn_threshold": ["boolean"],
        "threshold_prior_shape": [Interval(Real, 0, None, closed="neither")],
        "threshold_kl_weight": [Interval(Real, 0, None, closed="left")],
        "kl": [StrOptions({"base", "spike_slab"})],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "sample_method": [StrOptions({"max", "avg", "iwae"})],
        "estimator": [StrOptions({"straight", "straight_pure", "subgradient"})],
        "noise_warmup": [tuple, list, None],
        "dict_optimizer": [StrOptions({"sgd", "adam"})],
        "dict_learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "dict_lr_decay": [Interval(Real, 0, 1, closed="right")],
        "dict_weight_decay": [Interval(Real, 0, None, closed="left")],
        "normalize_dict": ["boolean"],
        "dict_step_cap": ["boolean"],
        "optimizer": [StrOptions({"auto", "sgd", "adam"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "adam_betas": [tuple, list],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions({"one_cycle", "constant"})],
        "warmup_fraction": [Interval(Real, 0, 1, closed="left")],
        "standardize": ["boolean", StrOptions({"auto"})],
        "transform_mode": [StrOptions({"max_elbo", "mean", "mode", "sample"})],
        "n_eval_samples": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components: int = 256,
        *,
        decoder: str | type = "linear",
        decoder_kwargs: dict | None = None,
        encoder: str | type = "auto",
        encoder_kwargs: dict | None = None,
        image_shape: tuple | None = None,
        base_dist: str = "laplace",
        prior_scale: float | str = "auto",
        threshold: float | str = "auto",
        target_sparsity: float = 0.1,
        learn_threshold: bool = False,
        threshold_prior_shape: float = 3.0,
        threshold_kl_weight: float = 0.1,
        kl: str = "base",
        kl_weight: float = 0.01,
        n_samples: int = 20,
        sample_method: str = "max",
        estimator: str = "straight",
        noise_warmup: tuple | None = None,
        dict_optimizer: str = "sgd",
        dict_learning_rate: float | str = "auto",
        dict_lr_decay: float = 0.99,
        dict_weight_decay: float = 1e-4,
        normalize_dict: bool = False,
        dict_step_cap: bool = True,
        optimizer: str = "auto",
        learning_rate: float | str = "auto",
        momentum: float = 0.9,
        adam_betas: tuple = (0.5, 0.999),
        weight_decay: float = 0.0,
        lr_schedule: str = "one_cycle",
        warmup_fraction: float = 0.05,
        standardize: bool | str = "auto",
        transform_mode: str = "max_elbo",
        n_eval_samples: int = 20,
        batch_size: int = 100,
        max_epochs: int = 300,
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
        self.decoder = decoder
        self.decoder_kwargs = decoder_kwargs
        self.encoder = encoder
        self.encoder_kwargs = encoder_kwargs
        self.image_shape = image_shape
        self.base_dist = base_dist
        self.prior_scale = prior_scale
        self.threshold = threshold
        self.target_sparsity = target_sparsity
        self.learn_threshold = learn_threshold
        self.threshold_prior_shape = threshold_prior_shape
        self.threshold_kl_weight = threshold_kl_weight
        self.kl = kl
        self.kl_weight = kl_weight
        self.n_samples = n_samples
        self.sample_method = sample_method
        self.estimator = estimator
        self.noise_warmup = noise_warmup
        self.dict_optimizer = dict_optimizer
        self.dict_learning_rate = dict_learning_rate
        self.dict_lr_decay = dict_lr_decay
        self.dict_weight_decay = dict_weight_decay
        self.normalize_dict = normalize_dict
        self.dict_step_cap = dict_step_cap
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.adam_betas = adam_betas
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.warmup_fraction = warmup_fraction
        self.standardize = standardize
        self.transform_mode = transform_mode
        self.n_eval_samples = n_eval_samples
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Only the explicit "sample" mode draws fresh noise in transform.
        tags.non_deterministic = self.transform_mode == "sample"
        return tags

    # -------------------------------------------------------- resolved settings
    def _resolved_prior_scale(self) -> float:
        if self.prior_scale == "auto":
            return _DEFAULT_PRIOR_SCALE[self.base_dist]
        return float(self.prior_scale)

    def _resolved_threshold(self) -> float:
        if self.threshold == "auto":
            return threshold_for_nonzero_fraction(
                self.target_sparsity, self.base_dist, self._resolved_prior_scale())
        return float(self.threshold)

    def _encoder_kind(self):
        if self.encoder == "auto":
            return "conv" if isinstance(self.decoder, str) and self.decoder == "conv" else "mlp"
        return self.encoder

    def _optimizer_kind(self) -> str:
        if self.optimizer == "auto":
            return "sgd" if self._linear else "adam"
        return self.optimizer

    def _peak_lr(self) -> float:
        if self.learning_rate == "auto":
            return 0.01 if self._optimizer_kind() == "sgd" else 3e-4
        return float(self.learning_rate)

    def _dict_lr0(self) -> float:
        if self.dict_learning_rate == "auto":
            return 0.5 if self.dict_optimizer == "sgd" else 1e-3
        return float(self.dict_learning_rate)

    @property
    def _linear(self) -> bool:
        return isinstance(self.decoder, str) and self.decoder == "linear"

    @property
    def _thresholding(self) -> bool:
        return self.learn_threshold or self.threshold_ > 0

    def _image_shape3(self) -> tuple[int, int, int]:
        shape = tuple(int(s) for s in self.image_shape)
        return shape if len(shape) == 3 else (1, *shape)

    # --------------------------------------------------------------- checking
    def _check_params(self, X):
        for name in ("decoder", "encoder"):
            value = getattr(self, name)
            if isinstance(value, str):
                continue
            if isinstance(value, nn.Module):
                raise TypeError(
                    f"{name} must be one of the built-in names or an nn.Module subclass "
                    f"(the class itself, built at fit with {name}_kwargs); got a live "
                    f"module instance {type(value).__name__}(...). Pass "
                    f"{name}={type(value).__name__} and its arguments in {name}_kwargs."
                )
            if not (isinstance(value, type) and issubclass(value, nn.Module)):
                raise TypeError(
                    f"{name} must be one of the built-in names or a subclass of "
                    f"torch.nn.Module; got {value!r}."
                )
        needs_image = self._encoder_kind() == "conv" or self.decoder == "conv"
        if needs_image:
            if self.image_shape is None:
                raise ValueError(
                    "The conv encoder/decoder needs image_shape=(height, width) or "
                    "(channels, height, width); got image_shape=None."
                )
        if self.image_shape is not None:
            shape = tuple(self.image_shape)
            if len(shape) not in (2, 3) or not all(
                isinstance(s, Integral) and s > 0 for s in shape
            ):
                raise ValueError(
                    "image_shape must be (height, width) or (channels, height, width) of "
                    f"positive ints; got {self.image_shape!r}."
                )
            if needs_image and int(np.prod(shape)) != X.shape[1]:
                raise ValueError(
                    f"image_shape={shape} has {int(np.prod(shape))} pixels but X has "
                    f"{X.shape[1]} features."
                )
        if needs_image and self.batch_size < 2:
            raise ValueError("The conv encoder/decoder (BatchNorm) needs batch_size >= 2.")
        if self.kl == "spike_slab" and self.base_dist != "laplace":
            raise ValueError(
                "kl='spike_slab' has a closed form only for base_dist='laplace'; "
                "use kl='base' with base_dist='gaussian'."
            )
        if self.learn_threshold and self._resolved_threshold() <= 0:
            raise ValueError(
                "learn_threshold=True needs a positive threshold (the mean lambda0 of "
                "its Gamma prior); got threshold=0."
            )
        if self.noise_warmup is not None:
            nw = tuple(self.noise_warmup)
            ok = len(nw) == 3 and all(isinstance(v, Real) for v in nw)
            if not ok or not (0 < nw[0] <= 1 and nw[1] >= 0 and nw[2] >= 0):
                raise ValueError(
                    "noise_warmup must be None or (start, delay, increment) with "
                    f"0 < start <= 1, delay >= 0, increment >= 0; got {self.noise_warmup!r}."
                )
        betas = tuple(self.adam_betas)
        if len(betas) != 2 or not all(isinstance(b, Real) and 0 <= b < 1 for b in betas):
            raise ValueError(f"adam_betas must be two floats in [0, 1); got {self.adam_betas!r}.")
        self._check_kwargs()

    def _check_kwargs(self):
        allowed = {"mlp": {"hidden_sizes"}, "conv": {"channels"}}
        checks = [("encoder_kwargs", self._encoder_kind(), allowed)]
        allowed_dec = {"linear": set(), "conv": {"channels", "output_activation"}}
        checks.append(("decoder_kwargs", self.decoder, allowed_dec))
        for name, kind, table in checks:
            kw = getattr(self, name) or {}
            if not isinstance(kind, str):
                continue  # a user class: its kwargs are its own business
            unknown = set(kw) - table[kind]
            if unknown:
                raise ValueError(
                    f"{name} has unknown keys {sorted(unknown)} for {kind!r}; allowed: "
                    f"{sorted(table[kind])}."
                )
            for key in ("hidden_sizes", "channels"):
                if key in kw:
                    sizes = kw[key]
                    ok = isinstance(sizes, (tuple, list)) and all(
                        isinstance(v, Integral) and v > 0 for v in sizes)
                    if not ok or (key == "channels" and len(sizes) == 0):
                        raise ValueError(
                            f"{name}[{key!r}] must be a tuple of positive ints; got {sizes!r}."
                        )
        act = (self.decoder_kwargs or {}).get("output_activation", "sigmoid")
        if self.decoder == "conv" and act not in ("sigmoid", "none"):
            raise ValueError(
                "decoder_kwargs['output_activation'] must be 'sigmoid' or 'none'; "
                f"got {act!r}."
            )

    def _prepare_training(self, X, partial):
        # The one-cycle schedule spans the steps of one fit call; partial_fit
        # trains at the constant peak rate.
        one_cycle = not partial and self.lr_schedule == "one_cycle"
        self._sched_total = self._planned_steps if one_cycle else None
        self._sched_start = None

    # ------------------------------------------------------------------ setup
    def _on_fit_start(self, X):
        self.prior_scale_ = self._resolved_prior_scale()
        self.threshold_ = self._resolved_threshold()
        self.prior_nonzero_fraction_ = prior_nonzero_fraction(
            self.threshold_, self.base_dist, self.prior_scale_)
        standardize = self.standardize
        if standardize == "auto":
            standardize = not (isinstance(self.decoder, str) and self.decoder == "conv")
        if standardize:
            std = float(X.std())
            self.mean_ = np.full(X.shape[1], X.mean(), dtype=X.dtype)
            self.scale_ = np.full(X.shape[1], std if std > 0 else 1.0, dtype=X.dtype)
        else:
            self.mean_ = np.zeros(X.shape[1], dtype=X.dtype)
            self.scale_ = np.ones(X.shape[1], dtype=X.dtype)
        # Key of the hashed transform noise: different random_state, other draws.
        self._noise_key = int(self._rng.randint(np.iinfo(np.int32).max))
        out_act = (self.decoder_kwargs or {}).get("output_activation", "sigmoid")
        if self.decoder == "conv" and out_act == "sigmoid":
            Y = (X - self.mean_) / self.scale_
            if Y.min() < 0 or Y.max() > 1:
                warnings.warn(
                    "The conv decoder ends with a sigmoid (outputs in [0, 1]) but the "
                    f"(standardised) data range is [{Y.min():.3g}, {Y.max():.3g}]; scale "
                    "the data to [0, 1] or pass decoder_kwargs={'output_activation': "
                    "'none'}.",
                    UserWarning,
                    stacklevel=4,
                )

    def _build_module(self, n_features):
        K = self.n_components
        kind = self._encoder_kind()
        ekw = dict(self.encoder_kwargs or {})
        if kind == "mlp":
            hidden = tuple(ekw.get("hidden_sizes", _DEFAULT_MLP_HIDDEN))
            if len(hidden) == 0:
                features, n_hidden = nn.Identity(), n_features
            else:
                features = nn.Sequential(MLP([n_features, *hidden]), nn.ReLU())
                n_hidden = hidden[-1]
        elif kind == "conv":
            features = _ConvEncoder(self._image_shape3(),
                                    tuple(ekw.get("channels", _DEFAULT_CONV_CHANNELS)))
            n_hidden = features.out_features
        else:
            features = kind(n_features=n_features, **ekw)
            with torch.no_grad():
                features.eval()
                out = features(torch.zeros(2, n_features))
                features.train()
            if out.ndim != 2 or out.shape[0] != 2:
                raise ValueError(
                    f"encoder {kind.__name__} must map (batch, {n_features}) to "
                    f"(batch, n_hidden); got output shape {tuple(out.shape)}."
                )
            n_hidden = out.shape[1]
        dkw = dict(self.decoder_kwargs or {})
        if self._linear:
            decoder = LinearDictionary(K, n_features, bias=False)
            with torch.no_grad():
                decoder.weight.copy_(torch.randn(n_features, K))
                normalize_columns_(decoder.weight)
            decoder.weight.requires_grad_(False)
        elif self.decoder == "conv":
            decoder = _ConvDecoder(
                K, self._image_shape3(), tuple(dkw.get("channels", _DEFAULT_CONV_CHANNELS)),
                dkw.get("output_activation", "sigmoid"))
        else:
            decoder = self.decoder(n_components=K, n_features=n_features, **dkw)
            with torch.no_grad():
                decoder.eval()
                out = decoder(torch.zeros(2, K))
                decoder.train()
            if tuple(out.shape) != (2, n_features):
                raise ValueError(
                    f"decoder {self.decoder.__name__} must map (batch, {K}) to "
                    f"(batch, {n_features}); got output shape {tuple(out.shape)}."
                )
        a0 = float(self.threshold_prior_shape)
        lam0 = self.threshold_ if self.threshold_ > 0 else 1.0
        return _TVAEModule(
            features, n_hidden, K, decoder, math.log(self.prior_scale_),
            self.learn_threshold, (math.log(a0), math.log(a0 / lam0)),
            self.mean_, self.scale_,
        )

    def _make_optimizers(self):
        module = self.module_
        params = [p for name, p in module.named_parameters()
                  if not (self._linear and name.startswith("decoder."))]
        lr = self._peak_lr()
        if self._optimizer_kind() == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=self.momentum,
                                  nesterov=self.momentum > 0, weight_decay=self.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=lr, betas=tuple(self.adam_betas),
                                   weight_decay=self.weight_decay)
        opts = [opt]
        if self._linear and self.dict_optimizer == "adam":
            opts.append(torch.optim.Adam([module.decoder.weight], lr=self._dict_lr0()))
        return opts

    @property
    def _n_features_out(self):
        return self.n_components

    @property
    def components_(self) -> np.ndarray:
        """Dictionary atoms in data units, shape (n_components, n_features)."""
        if not hasattr(self, "module_") or not self._linear:
            raise AttributeError(
                "components_ exists only for a fitted model with decoder='linear'."
            )
        W = self.module_.decoder.weight.detach().to("cpu", torch.float64).numpy()
        return (W.T * self.scale_[None, :]).astype(self.mean_.dtype)

    # -------------------------------------------------------------- the model
    def _standardize(self, X):
        return (X - self.module_.data_mean) / self.module_.data_scale

    def _decode(self, Z):
        return self.module_.decoder(Z)

    def _noise_scale(self) -> float:
        if self.noise_warmup is None:
            return 1.0
        start, delay, inc = (float(v) for v in self.noise_warmup)
        return min(1.0, start + inc * max(0.0, self.n_steps_ - delay))

    def _base_noise(self, shape, like: torch.Tensor) -> torch.Tensor:
        """Standard base-distribution noise from the training generator."""
        gen = self._generator
        if self.base_dist == "laplace":
            u = torch.rand(shape, generator=gen, device=like.device, dtype=like.dtype)
            return laplace_noise_from_uniform(u)
        return torch.randn(shape, generator=gen, device=like.device, dtype=like.dtype)

    def _hashed_noise(self, seeds, draw: int, like: torch.Tensor) -> torch.Tensor:
        """Standard base noise of draw ``draw`` for each row, from its seed."""
        B, K = like.shape
        u1 = _hashed_uniform(seeds, 2 * draw, K, like.dtype)
        if self.base_dist == "laplace":
            return laplace_noise_from_uniform(u1)
        u2 = _hashed_uniform(seeds, 2 * draw + 1, K, like.dtype)
        return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)

    def _kl(self, mu, scale, lam):
        """Per-latent KL of the code posterior from the prior (broadcasts over draws)."""
        s0 = self.prior_scale_
        if self.base_dist == "gaussian":
            return kl_gaussian_gaussian(mu, scale, s0)
        base = kl_laplace_laplace(mu, scale, s0)
        if self.kl == "base" or not self._thresholding:
            return base
        p = torch.exp(-lam / scale)
        p0 = torch.exp(-lam / s0)
        return kl_bernoulli(p, p0) + p * base

    def _nonzero_prob(self, scale, lam):
        """P(z != 0) under the posterior: exp(-lambda/b) or 2 Phi(-lambda/s)."""
        if self.base_dist == "laplace":
            return torch.exp(-lam / scale)
        return torch.erfc(lam / (scale * math.sqrt(2.0)))

    def _threshold_kl(self, alpha, beta):
        a0 = float(self.threshold_prior_shape)
        return _kl_gamma(alpha, beta, a0, a0 / self.threshold_)

    def _set_lrs(self) -> tuple[float, float]:
        lr0 = self._peak_lr()
        lr = lr0
        total = self._sched_total
        if total is not None:
            if self._sched_start is None:
                self._sched_start = self.n_steps_
            t = self.n_steps_ - self._sched_start
            warm = int(round(self.warmup_fraction * total))
            lo, lr_min = lr0 / 25.0, lr0 / 25.0 / 1e4
            if t < warm:
                lr = lo + (lr0 - lo) * t / warm
            else:
                prog = min(1.0, (t - warm) / max(1, total - warm))
                lr = lr_min + (lr0 - lr_min) * 0.5 * (1.0 + math.cos(math.pi * prog))
        for group in self._optimizers[0].param_groups:
            group["lr"] = lr
        dict_lr = self._dict_lr0() * self.dict_lr_decay ** self.n_iter_
        if len(self._optimizers) > 1:
            for group in self._optimizers[1].param_groups:
                group["lr"] = dict_lr
        return lr, dict_lr

    # -------------------------------------------------------------- training
    def _draw_losses(self, Y, Z, mu, scale, lam, kl_thr):
        """Per-draw losses ``l_j`` (J, B) and their parts for codes Z (J, B, K)."""
        J, B, K = Z.shape
        X_hat = self._decode(Z.reshape(J * B, K)).reshape(J, B, -1)
        recon = ((Y - X_hat) ** 2).mean(-1)
        kl = self._kl(mu, scale, lam).sum(-1)
        losses = recon + self.kl_weight * kl
        if kl_thr is not None:
            losses = losses + self.kl_weight * self.threshold_kl_weight * kl_thr
        return losses, recon, kl, X_hat

    def _train_step(self, X):
        Y = self._standardize(X)
        module = self.module_
        J, B, K = self.n_samples, Y.shape[0], self.n_components
        lr, dict_lr = self._set_lrs()
        mu, log_scale, alpha, beta = module.encode(Y)
        scale = torch.exp(log_scale)
        w = self._noise_scale()
        eps = self._base_noise((J, B, K), Y)
        kl_thr = None
        if self.learn_threshold:
            lam = _rsample_gamma(alpha, beta, J, self._generator).abs()
            kl_thr = self._threshold_kl(alpha, beta).sum(1)
        else:
            lam = torch.as_tensor(self.threshold_, dtype=Y.dtype, device=Y.device)
        if self.sample_method == "max" and J > 1:
            # Max-ELBO sampling: the argmin is not differentiated, so the gradient
            # is that of the kept draw alone. Select it without autograd, then
            # differentiate that draw only (same value and gradient, ~J times less
            # backward work). BatchNorm running statistics are left untouched by
            # the selection pass.
            with torch.no_grad(), _frozen_batchnorm_stats(module.decoder):
                noise = w * scale * eps
                Z_all = (shifted_soft_threshold(mu, noise, lam) if self._thresholding
                         else mu + noise)
                best = self._draw_losses(Y, Z_all, mu, scale, lam, kl_thr)[0].argmin(0)
            rows = torch.arange(B, device=Y.device)
            eps = eps[best, rows].unsqueeze(0)
            if lam.ndim == 3:
                lam = lam[best, rows].unsqueeze(0)
        Z = _straight_through(mu, w * scale * eps, lam, self.estimator, self._thresholding)
        losses, recon, kl, X_hat = self._draw_losses(Y, Z, mu, scale, lam, kl_thr)
        weights = _aggregation_weights(losses, self.sample_method)
        loss = (weights * losses).sum(0).mean()
        opt = self._optimizers[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        stats: dict[str, Any] = {}
        if self._linear:
            stats["atom_norm"], stats["dict_step_capped"] = self._update_dictionary(
                Y, X_hat.detach(), Z.detach(), weights, dict_lr)
            stats["dict_lr"] = dict_lr
        with torch.no_grad():
            Zd = Z.detach()
            zeros = (weights * (Zd == 0).to(Y.dtype).mean(-1)).sum(0).mean()
            stats.update({
                "loss": loss.detach(),
                "recon": (weights * recon.detach()).sum(0).mean(),
                "kl": (weights * kl.detach().expand_as(weights)).sum(0).mean(),
                "l0": K * (1.0 - zeros),
                "zeros": zeros,
                "threshold": lam.detach().mean(),
                "noise_scale": w,
                "lr": lr,
            })
            if kl_thr is not None:
                stats["kl_threshold"] = kl_thr.detach().mean()
        return stats

    @torch.no_grad()
    def _update_dictionary(self, Y, X_hat, Z, weights, lr):
        """The hand-written dictionary step on the detached, weighted draws."""
        Phi = self.module_.decoder.weight
        B = Y.shape[0]
        if self.sample_method == "max":  # only the kept draw has a non-zero weight
            best = weights.argmax(0)
            rows = torch.arange(B, device=Y.device)
            Zs, Rs = Z[best, rows], Y - X_hat[best, rows]
        else:
            sw = weights.sqrt().unsqueeze(-1)
            Zs, Rs = (sw * Z).reshape(-1, Z.shape[-1]), (sw * (Y - X_hat)).reshape(-1, Y.shape[1])
        grad = Rs.T @ Zs / B - 2.0 * self.dict_weight_decay * Phi
        capped = 0.0
        if self.dict_optimizer == "sgd":
            if self.dict_step_cap:
                # Curvature of the step: the largest eigenvalue of the weighted code
                # second moment (plus the Frobenius term). A step above 1/L overshoots
                # and above 2/L diverges, which large codes cause.
                try:
                    L = lipschitz_constant(Zs.T @ Zs / B) + 2.0 * self.dict_weight_decay
                except torch.linalg.LinAlgError:  # non-finite codes: the core reports it
                    L = math.inf
                if lr * L > 1.0:
                    lr, capped = 1.0 / L, 1.0
            Phi.add_(grad, alpha=lr)
        else:
            Phi.grad = -grad
            self._optimizers[1].step()
            Phi.grad = None
        if self.normalize_dict:
            normalize_columns_(Phi)
        return Phi.norm(dim=0).mean(), capped

    # ------------------------------------------------------------- inference
    def _posterior(self, Y):
        mu, log_scale, alpha, beta = self.module_.encode(Y)
        scale = torch.exp(log_scale)
        if self.learn_threshold:
            lam = alpha / beta
            kl_thr = self._threshold_kl(alpha, beta).sum(1)
        else:
            lam = torch.as_tensor(self.threshold_, dtype=Y.dtype, device=Y.device)
            kl_thr = None
        return mu, scale, lam, kl_thr

    def _eval_draws(self, X):
        """Per-draw codes and losses with the hashed, deterministic noise.

        Yields ``(z_j, loss_j)`` for ``j < n_eval_samples``, one draw at a time so
        memory does not grow with ``n_eval_samples``.
        """
        Y = self._standardize(X)
        mu, scale, lam, kl_thr = self._posterior(Y)
        kl = self._kl(mu, scale, lam).sum(-1)
        if kl_thr is not None:
            kl = kl + self.threshold_kl_weight * kl_thr
        seeds = _row_seeds(X, self._noise_key)
        for j in range(self.n_eval_samples):
            noise = scale * self._hashed_noise(seeds, j, mu)
            z = shifted_soft_threshold(mu, noise, lam) if self._thresholding else mu + noise
            recon = ((Y - self._decode(z)) ** 2).mean(-1)
            yield z, recon + self.kl_weight * kl

    def _objective(self, X):
        """Per-sample training objective with ``n_eval_samples`` hashed draws."""
        losses = torch.stack([loss for _, loss in self._eval_draws(X)])
        if self.sample_method == "max":
            return losses.min(0).values
        if self.sample_method == "avg":
            return losses.mean(0)
        return -(torch.logsumexp(-losses, 0) - math.log(losses.shape[0]))

    def _transform_batch(self, X):
        mode = self.transform_mode
        if mode == "max_elbo":
            best_z, best_loss = None, None
            for z, loss in self._eval_draws(X):
                if best_z is None:
                    best_z, best_loss = z, loss
                else:
                    better = loss < best_loss
                    best_z = torch.where(better[:, None], z, best_z)
                    best_loss = torch.where(better, loss, best_loss)
            return best_z
        Y = self._standardize(X)
        mu, scale, lam, _ = self._posterior(Y)
        if mode == "sample":
            noise = scale * self._base_noise(mu.shape, mu)
            return shifted_soft_threshold(mu, noise, lam) if self._thresholding else mu + noise
        if not self._thresholding:
            return mu
        p = self._nonzero_prob(scale, lam)
        if mode == "mean":
            return p * mu
        return torch.where(p > 0.5, mu, torch.zeros_like(mu))

    def _inverse_transform_batch(self, Z):
        return self._decode(Z) * self.module_.data_scale + self.module_.data_mean

    def _score_samples_batch(self, X):
        return -self._objective(X)

    def kl_divergence(self, X) -> np.ndarray:
        """Per-sample, per-latent KL of the code posterior from the prior (nats).

        The KL term of the loss (``kl`` parameter; the Gamma KL of a learned
        threshold excluded), e.g. for the posterior-collapse rule "KL_k <= 0.01
        on 95% of samples" or :func:`skdeepsparse.metrics.active_components_kl`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        kl : ndarray of shape (n_samples, n_components)
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        X = self._validate_X(X, reset=False)

        def fn(Xb):
            mu, scale, lam, _ = self._posterior(self._standardize(Xb))
            return self._kl(mu, scale, lam)

        return self._map_batches(X, fn, self.n_components)
