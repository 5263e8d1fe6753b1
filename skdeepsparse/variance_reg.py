"""Variance-regularised dictionary learning (Evtimova & LeCun, TMLR 2022)."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._base import BaseSparseEstimator
from .nn import LISTA, MLP, LinearDictionary, normalize_columns_
from .solvers import decoder_recon_grad, fista, linear_recon_grad, lipschitz_constant

__all__ = ["VarianceRegDictionaryLearner"]


class _VDLModule(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder


def _variance_hinge_grad(Z: torch.Tensor, threshold: float, weight: float, eps: float):
    """Gradient of ``weight * sum_j max(0, T - std_j(Z))^2`` (std over the batch).

    The std is the unbiased one. Where it is zero (a latent that is constant over
    the batch) and ``eps`` is 0 the gradient is 0, as for the paper's model.
    """
    n = Z.shape[0]
    centred = Z - Z.mean(0, keepdim=True)
    std = torch.sqrt((centred * centred).sum(0, keepdim=True) / (n - 1) + eps)
    gap = torch.clamp(threshold - std, min=0)
    safe = torch.where(std > 0, std, torch.ones_like(std))
    coef = torch.where(std > 0, -2.0 * weight * gap / ((n - 1) * safe), torch.zeros_like(std))
    return coef * centred


def _variance_hinge(Z: torch.Tensor, threshold: float, eps: float) -> torch.Tensor:
    """``sum_j max(0, T - std_j(Z))^2`` with the unbiased batch std (needs >= 2 rows)."""
    std = torch.sqrt(Z.var(0, unbiased=True) + eps)
    return (torch.clamp(threshold - std, min=0) ** 2).sum()


class VarianceRegDictionaryLearner(BaseSparseEstimator):
    """Sparse coding with a variance hinge on codes and a LISTA encoder.

    The model of Evtimova & LeCun (TMLR 2022). For a mini-batch ``Y`` of ``N``
    samples, codes are inferred by FISTA on the energy::

        E(Z) = sum_i (1/P)||y_i - D(z_i)||^2 + lambda sum_i ||z_i||_1
               + beta sum_j max(0, T - std_j(Z))^2
               + gamma sum_i (1/l)||z_i - E(y_i)||^2

    (``P`` features, ``l`` latents, ``std_j`` the batch std of latent ``j``,
    ``E`` the LISTA encoder). The decoder ``D`` is then updated to reconstruct
    ``Y`` from those codes, and the encoder to predict them. Instead of
    normalising the atoms, the variance hinge keeps every latent's spread above
    ``T``, which stops the collapse in which codes shrink and atoms grow.

    Variants are one parameter away: SDL (``regularizer="column_norm"``), VDL
    (``"variance"``), WDL (``"weight_decay"``) and L1 only (``"none"``); each
    with ``decoder="linear"`` or the one-hidden-layer ``decoder="mlp"`` (-NL).

    Parameters
    ----------
    n_components : int, default=128
        Number of latents ``l``.
    decoder : {"linear", "mlp"}, default="linear"
        Linear dictionary ``D(z) = W z`` (no bias), or
        ``D(z) = W2 relu(W1 z + b1)``.
    hidden_size : int, default=1024
        Hidden width of the MLP decoder.
    regularizer : {"variance", "column_norm", "weight_decay", "none"}, \
            default="variance"
        How code collapse is prevented.
    sparsity_reg : float, default=0.02
        L1 weight ``lambda``.
    variance_reg : float, default=10.0
        Hinge weight ``beta`` (used with ``regularizer="variance"``).
    variance_threshold : float, default=0.5
        Hinge threshold ``T`` on each latent's batch std.
    variance_eps : float, default=0.0
        Added to the batch variance inside the square root. With 0 (the
        paper's choice) a latent that is exactly 0 on a whole batch gets no
        gradient from the hinge.
    code_reg : float, default=5.0
        Weight ``gamma`` pulling FISTA codes towards the encoder's prediction.
    column_norm : float, default=1.0
        Column norm enforced with ``regularizer="column_norm"`` (on both
        layers of the MLP decoder).
    weight_decay_decoder : float, default=0.0
        Adam (coupled L2) weight decay on the decoder weights; must be > 0 with
        ``regularizer="weight_decay"``.
    weight_decay_decoder_bias : float, default=0.0
        Weight decay on the MLP decoder's hidden bias.
    weight_decay_encoder_bias : float, default=0.0
        Weight decay on the encoder bias.
    fista_step : float or "auto", default=0.5
        FISTA step size (the paper uses a fixed step). ``"auto"`` uses ``1/L``
        with ``L`` from the decoder's Gram matrix (linear decoder only), which
        cannot diverge when the atoms grow.
    max_inference_iter : int, default=200
        FISTA iterations per batch.
    inference_tol : float, default=1e-3
        Per-sample FISTA stopping tolerance on the relative code change.
    positive_code : bool, default=True
        Non-negative codes (as in every released experiment).
    lista_iter : int, default=3
        LISTA refinement steps.
    lr_decoder : float, default=3e-4
        Adam learning rate of the decoder.
    lr_encoder : float, default=1e-4
        Adam learning rate of the encoder.
    lr_decay_every : int or None, default=None
        Multiply the decoder learning rate by ``lr_decay_factor`` every that
        many epochs.
    lr_decay_factor : float, default=0.5
        See ``lr_decay_every``.
    standardize : bool, default=True
        Subtract the global mean and divide by the global std of the training
        data (one scalar each, as in the paper); undone by
        ``inverse_transform``.
    transform_method : {"encoder", "fista"}, default="encoder"
        ``"encoder"``: the LISTA output (what the paper evaluates).
        ``"fista"``: FISTA on the energy from the encoder's codes, without the
        batch-coupled variance term, so codes do not depend on the batch.
    batch_size : int, default=250
        Mini-batch size. The variance hinge needs at least 2 samples a batch.
    max_epochs : int, default=200
        Passes over the training data (the paper's budget).
    validation_fraction : float, default=0.1
        Share of ``fit`` data held out to select the epoch with the lowest
        validation energy (encoder codes); 0 disables it.
    n_iter_no_change : int or None, default=None
        Stop when the validation energy has not improved for that many epochs.
    tol : float, default=0.0
        Relative improvement that counts for ``n_iter_no_change``.
    shuffle : bool, default=True
        Shuffle the data every epoch.
    warm_start : bool, default=False
        Continue from the fitted model on a new call to ``fit``.
    device : str or torch.device, default="auto"
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, splitting and shuffling (never the global seed).
    verbose : int, default=0
        Show a progress bar.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The dictionary atoms in data units (linear decoder only), so that
        ``inverse_transform(Z) == Z @ components_ + mean_``.
    mean_, scale_ : float
        The global standardisation.
    module_ : torch.nn.Module
        ``encoder`` (LISTA) and ``decoder``.
    device_ : torch.device
        Where the model lives.
    history_ : list of dict
        Per epoch: ``loss``, ``recon`` (decoder MSE), ``encoder_loss``,
        ``l1``, ``zeros`` (fraction of exact zeros in FISTA codes),
        ``code_std`` (mean batch std of latents), ``col_norm`` (mean decoder
        column norm), ``inference_iter``, ``val_loss``, ``time``.
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
    >>> from skdeepsparse import VarianceRegDictionaryLearner
    >>> X = load_digits().data / 16
    >>> vdl = VarianceRegDictionaryLearner(n_components=32, max_epochs=2,
    ...                                    random_state=0, device="cpu")
    >>> vdl.fit_transform(X).shape
    (1797, 32)
    """

    _parameter_constraints: dict = {
        **BaseSparseEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "decoder": [StrOptions({"linear", "mlp"})],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "regularizer": [StrOptions({"variance", "column_norm", "weight_decay", "none"})],
        "sparsity_reg": [Interval(Real, 0, None, closed="left")],
        "variance_reg": [Interval(Real, 0, None, closed="left")],
        "variance_threshold": [Interval(Real, 0, None, closed="left")],
        "variance_eps": [Interval(Real, 0, None, closed="left")],
        "code_reg": [Interval(Real, 0, None, closed="left")],
        "column_norm": [Interval(Real, 0, None, closed="neither")],
        "weight_decay_decoder": [Interval(Real, 0, None, closed="left")],
        "weight_decay_decoder_bias": [Interval(Real, 0, None, closed="left")],
        "weight_decay_encoder_bias": [Interval(Real, 0, None, closed="left")],
        "fista_step": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "max_inference_iter": [Interval(Integral, 1, None, closed="left")],
        "inference_tol": [Interval(Real, 0, None, closed="left")],
        "positive_code": ["boolean"],
        "lista_iter": [Interval(Integral, 0, None, closed="left")],
        "lr_decoder": [Interval(Real, 0, None, closed="neither")],
        "lr_encoder": [Interval(Real, 0, None, closed="neither")],
        "lr_decay_every": [Interval(Integral, 1, None, closed="left"), None],
        "lr_decay_factor": [Interval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "transform_method": [StrOptions({"encoder", "fista"})],
    }

    def __init__(
        self,
        n_components: int = 128,
        *,
        decoder: str = "linear",
        hidden_size: int = 1024,
        regularizer: str = "variance",
        sparsity_reg: float = 0.02,
        variance_reg: float = 10.0,
        variance_threshold: float = 0.5,
        variance_eps: float = 0.0,
        code_reg: float = 5.0,
        column_norm: float = 1.0,
        weight_decay_decoder: float = 0.0,
        weight_decay_decoder_bias: float = 0.0,
        weight_decay_encoder_bias: float = 0.0,
        fista_step: float | str = 0.5,
        max_inference_iter: int = 200,
        inference_tol: float = 1e-3,
        positive_code: bool = True,
        lista_iter: int = 3,
        lr_decoder: float = 3e-4,
        lr_encoder: float = 1e-4,
        lr_decay_every: int | None = None,
        lr_decay_factor: float = 0.5,
        standardize: bool = True,
        transform_method: str = "encoder",
        batch_size: int = 250,
        max_epochs: int = 200,
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
        self.hidden_size = hidden_size
        self.regularizer = regularizer
        self.sparsity_reg = sparsity_reg
        self.variance_reg = variance_reg
        self.variance_threshold = variance_threshold
        self.variance_eps = variance_eps
        self.code_reg = code_reg
        self.column_norm = column_norm
        self.weight_decay_decoder = weight_decay_decoder
        self.weight_decay_decoder_bias = weight_decay_decoder_bias
        self.weight_decay_encoder_bias = weight_decay_encoder_bias
        self.fista_step = fista_step
        self.max_inference_iter = max_inference_iter
        self.inference_tol = inference_tol
        self.positive_code = positive_code
        self.lista_iter = lista_iter
        self.lr_decoder = lr_decoder
        self.lr_encoder = lr_encoder
        self.lr_decay_every = lr_decay_every
        self.lr_decay_factor = lr_decay_factor
        self.standardize = standardize
        self.transform_method = transform_method
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
        if self.regularizer == "weight_decay" and self.weight_decay_decoder <= 0:
            raise ValueError(
                "regularizer='weight_decay' needs weight_decay_decoder > 0; got "
                f"weight_decay_decoder={self.weight_decay_decoder}."
            )
        if self.fista_step == "auto" and self.decoder != "linear":
            raise ValueError("fista_step='auto' is only available with decoder='linear'.")
        if self.fista_step != "auto":
            # The code_reg term alone has curvature 2 * gamma / l: FISTA with a fixed
            # step oscillates or diverges once step * curvature >= 2.
            curvature = 2.0 * self.code_reg / self.n_components
            if self.fista_step * curvature >= 2.0:
                warnings.warn(
                    f"fista_step={self.fista_step} is unstable with code_reg={self.code_reg} "
                    f"and n_components={self.n_components} (step * 2 * code_reg / "
                    f"n_components = {self.fista_step * curvature:.2f} >= 2); lower "
                    "fista_step or use fista_step='auto'.",
                    UserWarning,
                    stacklevel=3,
                )

    def _on_fit_start(self, X):
        if self.standardize:
            self.mean_ = float(X.mean())
            std = float(X.std())
            self.scale_ = std if std > 0 else 1.0
        else:
            self.mean_, self.scale_ = 0.0, 1.0

    def _build_module(self, n_features):
        encoder = LISTA(n_features, self.n_components, self.lista_iter, self.positive_code)
        if self.decoder == "linear":
            decoder = LinearDictionary(self.n_components, n_features, bias=False)
        else:
            decoder = MLP([self.n_components, self.hidden_size, n_features], bias_last=False)
        module = _VDLModule(encoder, decoder)
        if self.regularizer == "column_norm":
            self._normalize_decoder(module)
        return module

    def _decoder_linears(self, module=None):
        module = self.module_ if module is None else module
        return [m for m in module.decoder.modules() if isinstance(m, nn.Linear)]

    def _normalize_decoder(self, module=None):
        for lin in self._decoder_linears(module):
            normalize_columns_(lin.weight, self.column_norm)

    def _make_optimizers(self):
        dec_w, dec_b = [], []
        for lin in self._decoder_linears():
            dec_w.append(lin.weight)
            if lin.bias is not None:
                dec_b.append(lin.bias)
        groups = [{"params": dec_w, "weight_decay": self.weight_decay_decoder}]
        if dec_b:
            groups.append({"params": dec_b, "weight_decay": self.weight_decay_decoder_bias})
        opt_dec = torch.optim.Adam(groups, lr=self.lr_decoder)
        enc = self.module_.encoder
        enc_b = [enc.U.bias]
        enc_w = [p for p in enc.parameters() if p is not enc.U.bias]
        opt_enc = torch.optim.Adam(
            [{"params": enc_w, "weight_decay": 0.0},
             {"params": enc_b, "weight_decay": self.weight_decay_encoder_bias}],
            lr=self.lr_encoder,
        )
        return [opt_dec, opt_enc]

    @property
    def _n_features_out(self):
        return self.n_components

    @property
    def components_(self) -> np.ndarray:
        """Dictionary atoms in data units, shape (n_components, n_features)."""
        if not hasattr(self, "module_") or self.decoder != "linear":
            raise AttributeError(
                "components_ exists only for a fitted model with decoder='linear'."
            )
        W = self.module_.decoder.weight.detach().to("cpu", torch.float64).numpy()
        return (W.T * self.scale_).astype(self._np_dtype)

    # ------------------------------------------------------------- inference
    def _standardize(self, X):
        return (X - self.mean_) / self.scale_

    def _infer(self, Y, Z_enc, *, variance: bool):
        """FISTA on the energy of the docstring, started from the encoder codes."""
        dec = self.module_.decoder
        P, l = Y.shape[1], self.n_components
        use_var = variance and self.regularizer == "variance" and Y.shape[0] > 1
        gamma = self.code_reg
        if self.decoder == "linear":
            recon_grad = linear_recon_grad(Y, dec.weight.detach(), 1.0 / P)
        else:
            recon_grad = decoder_recon_grad(dec, Y, 1.0 / P)

        def grad(Z):
            g = recon_grad(Z)
            if gamma:
                g = g + (2.0 * gamma / l) * (Z - Z_enc)
            if use_var and self.variance_reg:
                g = g + _variance_hinge_grad(
                    Z, self.variance_threshold, self.variance_reg, self.variance_eps
                )
            return g

        if self.fista_step == "auto":
            W = dec.weight.detach()
            L = 2.0 / P * lipschitz_constant(W.T @ W) + 2.0 * gamma / l
            if use_var:
                L += 2.0 * self.variance_reg / (Y.shape[0] - 1)
            step = 1.0 / L
        else:
            step = float(self.fista_step)
        Z, n_it = fista(
            grad, Z_enc, step=step, alpha=self.sparsity_reg, positive=self.positive_code,
            max_iter=self.max_inference_iter, tol=self.inference_tol,
        )
        return Z, n_it

    # -------------------------------------------------------------- training
    def _train_step(self, X):
        Y = self._standardize(X)
        module = self.module_
        opt_dec, opt_enc = self._optimizers
        Z_enc = module.encoder(Y)
        Z, n_it = self._infer(Y, Z_enc.detach(), variance=True)
        recon = ((Y - module.decoder(Z)) ** 2).mean()
        opt_dec.zero_grad(set_to_none=True)
        recon.backward()
        opt_dec.step()
        if self.regularizer == "column_norm":
            self._normalize_decoder()
        enc_loss = ((Z_enc - Z) ** 2).mean()
        opt_enc.zero_grad(set_to_none=True)
        enc_loss.backward()
        opt_enc.step()
        with torch.no_grad():
            first = self._decoder_linears()[0].weight
            std = Z.std(0) if Z.shape[0] > 1 else torch.zeros(Z.shape[1], device=Z.device)
            return {
                "loss": recon.detach() + enc_loss.detach(),
                "recon": recon.detach(),
                "encoder_loss": enc_loss.detach(),
                "l1": Z.abs().sum(1).mean(),
                "zeros": (Z == 0).to(Z.dtype).mean(),
                "code_std": std.mean(),
                "col_norm": first.norm(dim=0).mean(),
                "inference_iter": float(n_it),
            }

    def _on_epoch_end(self, epoch):
        if self.lr_decay_every:
            lr = self.lr_decoder * self.lr_decay_factor ** ((epoch + 1) // self.lr_decay_every)
            for group in self._optimizers[0].param_groups:
                group["lr"] = lr

    def _validation_loss(self, X):
        """Per-sample validation energy on encoder codes (the paper's selection)."""
        Y = self._standardize(X)
        Z = self.module_.encoder(Y)
        recon = ((Y - self.module_.decoder(Z)) ** 2).mean(1)
        loss = recon + self.sparsity_reg * Z.abs().sum(1)
        if self.regularizer == "variance" and Z.shape[0] > 1:
            # The hinge is counted once per training batch: spread it the same way.
            hinge = _variance_hinge(Z, self.variance_threshold, self.variance_eps)
            loss = loss + self.variance_reg * hinge / self.batch_size
        return loss

    # ------------------------------------------------------------ transforms
    def _transform_batch(self, X):
        Y = self._standardize(X)
        Z = self.module_.encoder(Y)
        if self.transform_method == "fista":
            Z, _ = self._infer(Y, Z, variance=False)
        return Z

    def _inverse_transform_batch(self, Z):
        return self.module_.decoder(Z) * self.scale_ + self.mean_

    def _score_samples_batch(self, X):
        X_hat = self._inverse_transform_batch(self._transform_batch(X))
        return -((X - X_hat) ** 2).mean(1)
