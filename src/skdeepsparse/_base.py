"""The shared estimator core.

Every model of skdeepsparse derives from :class:`BaseSparseEstimator`, which owns
all scikit-learn and training plumbing: input validation, dtype handling, device
resolution, seeding, standardisation, mini-batching, optimizers and their
learning-rate schedules, the validation split with restore-best and early
stopping (on the validation or the training loss) with a
``ConvergenceWarning`` when the budget runs out, ``history_``,
``partial_fit``, ``warm_start``, progress bars and the ``skdeepsparse``
logger, divergence detection, the input-scale check, the thread limit of
:func:`skdeepsparse.set_config`, batched ``transform`` and pickling. A model
subclass only supplies its mathematics through a handful of hooks (see the
class docstring).
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from abc import abstractmethod
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._config import _thread_limit
from ._optim import (
    MAIN,
    SHARED_CONSTRAINTS,
    OptimizerSet,
    optimizer_param_names,
    param_name,
    resolve_settings,
)
from ._sklearn_compat import Interval
from .exceptions import FitInterruptedWarning, TrainingDivergedError

__all__ = ["BaseSparseEstimator", "resolve_device"]

# Training messages (early stopping, per-epoch records) go to this logger, a
# child of the "skdeepsparse" logger: configure that one to see them.
logger = logging.getLogger(__name__)

# For ``_input_scale = "<name of a std parameter>"``: the data's root-mean-square
# may be at most this many times larger or smaller than that std (in data units)
# before the fit warns. Pixels in [0, 1] (RMS 0.3-0.4) or standardised features
# (RMS 1) against the defaults 0.14-0.3 are 1-8x; 0..16 pixels are 25-60x.
_SCALE_RATIO_LIMIT = 20.0

# Rows per chunk in transform / inverse_transform / score: bounds memory for any
# n_samples while keeping the matrix products large enough to be efficient.
_TRANSFORM_CHUNK = 4096

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}

# Parameters of the training loop, read afresh by every call.
_LOOP_PARAMS = frozenset({
    "batch_size", "max_epochs", "validation_fraction", "n_iter_no_change", "tol",
    "shuffle", "warm_start", "random_state", "verbose",
})


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn a ``device`` parameter into a :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"} or torch.device
        ``"auto"`` picks CUDA when available, else the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the value is not a device name, names a kind of device that the
        estimators do not run on, or names a CUDA device that this machine
        does not have.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"The 'device' parameter must be 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a "
            f"torch.device; got {device!r}."
        ) from exc
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(
            f"The 'device' parameter must name a CPU, CUDA or MPS device; got {device!r} "
            f"(device type {dev.type!r} holds no data the estimators can train on)."
        )
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this "
                "machine; use device='cpu' or device='auto'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) are visible."
            )
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device={device!r} was requested but MPS is not available.")
    return dev


def _same(a, b) -> bool:
    """Parameter equality that survives arrays, tuples vs lists and classes."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    try:
        eq = a == b
        return bool(eq) if not isinstance(eq, np.ndarray) else bool(eq.all())
    except Exception:  # noqa: BLE001 - incomparable objects: fall back to identity
        return a is b


class BaseSparseEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of all skdeepsparse estimators.

    Subclasses list their own parameters in ``__init__`` (together with the
    common ones below), extend ``_parameter_constraints`` and implement the hooks:

    ``_build_module(n_features)``
        Return a fresh ``torch.nn.Module`` holding every learned tensor. It is
        built on the CPU under a seeded, forked global RNG so that PyTorch's
        default initialisers are reproducible without touching the user's
        global seed, then moved to ``device_`` and the data's dtype.
    ``_parameter_groups()``
        Optional: the parameters of each optimizer group, ``{"main": [...],
        "decoder": [...]}`` (default: every parameter in ``"main"``). A model
        with groups besides the main one names them in ``_optimizer_groups``;
        the core builds, schedules, snapshots and rebuilds every group's
        optimizer, each set by the routing rule of :mod:`skdeepsparse._optim`
        (``<group>_<shared name>``; ``None``: the main group's value).
        ``self._optimizer(name)`` is a group's optimizer.
    ``_train_step(X)``
        One update on the mini-batch tensor ``X``: compute the loss, call
        ``backward`` and step the optimizers (the core steps their schedules);
        return a dict of 0-d tensors (or
        floats) that includes ``"loss"``. Values are averaged per epoch into
        ``history_`` and checked for NaN/Inf. The core steps the schedulers.
    ``_transform_batch(X)``, ``_inverse_transform_batch(Z)``
        Encode and decode a batch (tensors in, tensors out). They must not
        change the module: several threads may call them at once.
    ``_score_samples_batch(X)``
        Per-sample score, higher is better (negative error or ELBO).

    Optional hooks: ``_validation_loss(X)`` (default: minus the mean score),
    ``_on_fit_start(X)`` (resolve ``"auto"`` parameters once, fitted
    constants), ``_prepare_training(X, partial)`` (per-call set-up;
    ``self._batch_rows`` then gives each batch's row indices),
    ``_on_epoch_end(epoch)``, ``_on_fit_end(X)`` (fitted statistics) and
    ``_check_params(X)`` (cross-parameter checks).

    Class attributes: ``_free_params`` names the model's parameters that are
    read at every use and may change after ``fit``; ``_extra_optimizer_params``
    those that rebuild the optimizers. Any other changed parameter is refused
    by ``warm_start``, ``partial_fit`` and ``transform`` with a clear error.
    ``_default_optimizer`` and ``_default_learning_rate`` resolve ``"auto"``.
    ``_input_scale`` says what scale of data the model's likelihood needs,
    checked by ``fit`` and the first ``partial_fit`` (one mechanism for every
    estimator): ``None`` (the model standardises the data itself, or any
    scale works), ``(low, high)`` (the likelihood needs data within that
    range, e.g. ``(0.0, 1.0)`` under a sigmoid output), or the name of the
    parameter that fixes the likelihood's standard deviation in data units
    (e.g. ``"likelihood_std"``): when that parameter is a number (not
    ``"auto"``), data whose root-mean-square is more than
    ``_SCALE_RATIO_LIMIT`` times larger or smaller than it are far from the
    scale the likelihood assumes. Data that do not fit get a ``UserWarning``
    naming the observed range; ``_input_scale`` may be a property when it
    depends on a parameter.
    """

    _parameter_constraints: dict = {
        **SHARED_CONSTRAINTS,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "warm_start": ["boolean"],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # Names of attributes that hold torch state; the pickling code moves them to
    # the CPU and back.  Subclasses extend this when they keep extra tensors.
    _torch_attributes: tuple[str, ...] = ("module_",)
    _free_params: frozenset = frozenset()
    # Named optimizer groups besides the main one (see skdeepsparse._optim).
    _optimizer_groups: tuple[str, ...] = ()
    _extra_optimizer_params: frozenset = frozenset()
    _default_optimizer = "adam"
    _default_learning_rate = 1e-3
    # The smallest batch the model's mathematics accepts (batch statistics).
    _min_batch_size = 1
    # The scale of data the likelihood needs (see the class docstring).
    _input_scale: tuple[float, float] | str | None = None

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _build_module(self, n_features: int) -> torch.nn.Module:
        """Return a new module for ``n_features`` input features."""

    @abstractmethod
    def _train_step(self, X: torch.Tensor) -> dict[str, Any]:
        """One training update on a mini-batch; return a dict with ``"loss"``."""

    @abstractmethod
    def _transform_batch(self, X: torch.Tensor) -> torch.Tensor:
        """Encode a batch."""

    @abstractmethod
    def _inverse_transform_batch(self, Z: torch.Tensor) -> torch.Tensor:
        """Decode a batch of codes."""

    @abstractmethod
    def _score_samples_batch(self, X: torch.Tensor) -> torch.Tensor:
        """Per-sample score of a batch; higher is better."""

    @property
    def _n_features_out(self) -> int:
        """Number of code dimensions (used by ``get_feature_names_out``)."""
        return self.n_components

    def _parameter_groups(self) -> dict:
        """The parameters of each optimizer group: ``{"main": ..., "decoder": ...}``.

        Each value is an iterable of tensors or of torch param-group dicts (which
        may set their own ``weight_decay``). A group of ``_optimizer_groups`` may
        be left out (the model has no such part in this configuration).
        """
        return {MAIN: list(self.module_.parameters())}

    def _auto_setting(self, group: str, name: str, optimizer: str | None):
        """The value of ``"auto"`` for ``name`` (``"optimizer"`` or
        ``"learning_rate"``, then with the group's ``optimizer``) of ``group``."""
        if group == MAIN:
            return self._default_optimizer if name == "optimizer" else self._default_learning_rate
        raise ValueError(f"{type(self).__name__}: {param_name(group, name)}='auto' has no "
                         "meaning for this model.")

    def _validation_loss(self, X: torch.Tensor) -> torch.Tensor:
        """Per-sample validation loss; lower is better."""
        return -self._score_samples_batch(X)

    def _on_fit_start(self, X: np.ndarray) -> None:
        """Called once on the training data before a new model is built."""

    def _on_epoch_end(self, epoch: int) -> None:
        """Called after every completed epoch (0-based ``epoch`` counter)."""

    def _on_fit_end(self, X: np.ndarray) -> None:
        """Called after a successful ``fit`` / ``partial_fit`` loop, still inside the
        fit transaction (fitted statistics computed here roll back on failure)."""

    def _prepare_training(self, X: np.ndarray, partial: bool) -> None:
        """Called at the start of every ``fit`` / ``partial_fit`` training loop.

        During ``_train_step``, ``self._batch_rows`` holds the row indices of
        the current batch in ``X`` (for per-sample state such as persistent
        chains); it is ``None`` outside the loop.
        """

    def _check_params(self, X: np.ndarray) -> None:
        """Cross-parameter checks that the constraint table cannot express."""

    # --------------------------------------------------------------- sklearn
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    # ------------------------------------------------------------ public API
    def fit(self, X, y=None):
        """Fit the model on ``X``.

        Training runs for ``max_epochs`` epochs, or stops earlier when
        ``n_iter_no_change`` is set and the monitored loss (the validation
        loss when ``validation_fraction > 0``, else the training loss) has not
        improved by more than ``tol`` (relative) for that many epochs. When
        ``n_iter_no_change`` is set and ``max_epochs`` runs out first, a
        :class:`~sklearn.exceptions.ConvergenceWarning` says so; without
        ``n_iter_no_change`` the epoch budget is the stopping rule and no
        warning is given.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        warm = self.warm_start and self.__sklearn_is_fitted__()
        with _thread_limit(), self._transaction():
            if warm:
                self._prepare_continuation()
            X = self._validate_X(X, reset=not warm)
            self._check_data_scale(X)
            self._check_common_params()
            self._check_params(X)
            self._check_input_scale(X)
            if not warm:
                self._initialize(X)
            self._fit_epochs(X, self.max_epochs, use_validation=True)
            self._on_fit_end(X)
        return self

    def partial_fit(self, X, y=None):
        """Update the model with one pass over ``X`` in mini-batches.

        The first call builds the model; later calls continue training it.
        Every call appends one record to ``history_`` and counts one epoch in
        ``n_iter_``; with ``verbose`` it shows a progress bar over the
        mini-batches. No data are held out and ``n_iter_no_change`` does not
        apply: the caller decides how many passes to make.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            The updated estimator.
        """
        self._validate_params()
        first = not self.__sklearn_is_fitted__()
        with _thread_limit(), self._transaction():
            if not first:
                self._prepare_continuation()
            X = self._validate_X(X, reset=first)
            self._check_data_scale(X)
            self._check_common_params()
            self._check_params(X)
            if first:
                self._check_input_scale(X)
                self._initialize(X)
            self._fit_epochs(X, 1, use_validation=False, partial=True)
            self._on_fit_end(X)
        return self

    def transform(self, X):
        """Encode ``X`` into codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
            The codes, in the dtype of ``X``.
        """
        X = self._check_fitted_input(X)
        return self._map_batches(X, self._transform_batch, self._n_features_out)

    def inverse_transform(self, X):
        """Map codes back to the data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Reconstruction, in the dtype of the codes.
        """
        self._check_fitted_params()
        Z = self._check_codes(X)
        out = self._map_batches(Z, self._inverse_transform_batch, self.n_features_in_)
        self._check_output_finite(out, "inverse_transform", "codes")
        return out

    def score_samples(self, X):
        """Per-sample score (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            The model's score of each sample (its own docstring says which).
        """
        X = self._check_fitted_input(X)
        out = self._map_batches(X, self._score_samples_batch, None)
        self._check_output_finite(out, "score_samples", "data")
        return out

    def score(self, X, y=None) -> float:
        """Mean per-sample score of ``X`` (higher is better).

        This makes :class:`~sklearn.model_selection.GridSearchCV` usable without
        a ``scoring`` argument.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        score : float
            Mean of :meth:`score_samples`.
        """
        return float(np.mean(self.score_samples(X)))

    # ---------------------------------------------------------- validation
    def _validate_X(self, X, *, reset: bool) -> np.ndarray:
        return validate_data(
            self, X, dtype=[np.float64, np.float32], reset=reset, accept_sparse=False
        )

    def _check_fitted_params(self) -> None:
        """Validate the parameters where they are read after ``fit``."""
        check_is_fitted(self)
        self._validate_params()
        changed = self._changed_params() - self._optimizer_params
        if changed:
            raise ValueError(self._changed_message(changed, "using the fitted model"))

    def _check_fitted_input(self, X) -> np.ndarray:
        self._check_fitted_params()
        X = self._validate_X(X, reset=False)
        self._check_data_scale(X)
        return X

    def _check_codes(self, Z) -> np.ndarray:
        Z = check_array(Z, dtype=[np.float64, np.float32], accept_sparse=False)
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"Codes have {Z.shape[1]} features, but {type(self).__name__} has "
                f"{self._n_features_out} components."
            )
        return Z

    def _check_common_params(self) -> None:
        # sklearn's Interval(Integral) accepts True/False (bool is an int): refuse
        # them where a number is meant.
        for name, constraints in self._parameter_constraints.items():
            value = getattr(self, name, None)
            if isinstance(value, (bool, np.bool_)) and "boolean" not in constraints:
                raise ValueError(
                    f"The '{name}' parameter of {type(self).__name__} must be a number or "
                    f"one of its documented values, not the boolean {value!r}."
                )
        for group in (MAIN, *self._optimizer_groups):
            name = param_name(group, "adam_betas")
            betas = getattr(self, name, None)
            if betas is None and group != MAIN:
                continue
            if len(tuple(betas)) != 2 or not all(
                isinstance(b, Real) and not isinstance(b, bool) and 0 <= b < 1 for b in betas
            ):
                raise ValueError(
                    f"The '{name}' parameter of {type(self).__name__} must be two floats "
                    f"in [0, 1); got {betas!r}."
                )
        if self.batch_size < self._min_batch_size:
            raise ValueError(
                f"The 'batch_size' parameter of {type(self).__name__} must be >= "
                f"{self._min_batch_size} ({self._min_batch_reason}); got {self.batch_size}."
            )

    _min_batch_reason = ""

    def _check_data_scale(self, X: np.ndarray) -> None:
        """Refuse data whose magnitude the model's dtype cannot compute with.

        The models square the data (reconstruction errors, standard
        deviations): values above ``sqrt(finfo.max) / n_features`` overflow.
        """
        if X.size == 0:
            return
        limit = math.sqrt(np.finfo(X.dtype).max) / max(X.shape[1], 1)
        # max and -min instead of abs(X): no temporary copy of the data.
        peak = max(float(X.max()), -float(X.min()))
        if peak > limit:
            raise ValueError(
                f"{type(self).__name__}: the data reach |x| = {peak:.3g}, beyond what "
                f"{X.dtype} arithmetic can square without overflow (about {limit:.3g} for "
                f"{X.shape[1]} features). Rescale the data (e.g. with StandardScaler) first."
            )

    def _check_input_scale(self, X: np.ndarray) -> None:
        """Warn when the data are not on the scale the model's likelihood needs."""
        need = self._input_scale
        if need is None or X.size == 0:
            return
        name = type(self).__name__
        lo, hi = float(X.min()), float(X.max())
        if isinstance(need, str):
            std = getattr(self, need)
            if not isinstance(std, Real) or isinstance(std, bool):
                return  # "auto": the model scales it to the data
            peak = max(abs(lo), abs(hi))
            # Divide by the peak before squaring: no overflow for any finite data.
            rms = (peak * math.sqrt(float(np.mean(np.square(X / peak, dtype=np.float64))))
                   if peak > 0 else 0.0)
            ratio = rms / float(std)
            if not 1 / _SCALE_RATIO_LIMIT <= ratio <= _SCALE_RATIO_LIMIT:
                warnings.warn(
                    f"{name}: {need}={float(std):g} is a standard deviation in data units, "
                    f"but these data range over [{lo:.4g}, {hi:.4g}] with root-mean-square "
                    f"{rms:.4g}, {ratio:.3g} times that: far (more than "
                    f"{_SCALE_RATIO_LIMIT:g}x) from the scale the likelihood assumes, so the "
                    f"fit will be poor. Rescale the data (e.g. MinMaxScaler to [0, 1], or "
                    f"StandardScaler) or set {need} to match.",
                    UserWarning, stacklevel=3,
                )
            return
        low, high = need
        slack = 1e-6 * max(high - low, 1.0)
        if lo < low - slack or hi > high + slack:
            warnings.warn(
                f"{name}: the likelihood of this model needs data in [{low:g}, {high:g}] "
                f"({self._input_scale_reason or 'its output range'}), but these data range "
                f"over [{lo:.4g}, {hi:.4g}]. Rescale them first (e.g. MinMaxScaler) or "
                "the fit will be poor.",
                UserWarning, stacklevel=3,
            )

    _input_scale_reason = ""

    def _check_output_finite(self, out: np.ndarray, method: str, what: str) -> None:
        if not np.isfinite(out).all():
            raise ValueError(
                f"{type(self).__name__}.{method} produced non-finite values: the {what} "
                "are too large for the fitted model in this dtype."
            )

    # ----------------------------------------------------- parameter changes
    def _changed_params(self) -> set[str]:
        """Parameters that differ from those the fitted model was built with."""
        built = getattr(self, "_built_params", None)
        if built is None:
            return set()
        now = self.get_params(deep=False)
        return {k for k, v in now.items()
                if k not in _LOOP_PARAMS and k not in self._free_params
                and not _same(v, built.get(k))}

    def _changed_message(self, changed, doing: str) -> str:
        names = ", ".join(sorted(changed))
        return (
            f"{type(self).__name__}: parameter(s) {names} changed since the model was "
            f"built, and they define its architecture or fitted constants; "
            f"{doing} would ignore them. Set them back, or refit with warm_start=False."
        )

    def _prepare_continuation(self) -> None:
        """Before a warm ``fit`` or a ``partial_fit`` on a fitted model."""
        changed = self._changed_params()
        opt_changed = changed & self._optimizer_params
        if changed - opt_changed:
            raise ValueError(self._changed_message(changed - opt_changed, "continuing training"))
        if opt_changed:
            # Honour the new settings: fresh optimizers and schedules (the saved
            # moments belong to the old ones). Rolled back if the fit fails.
            self._optimizer_states = None
            self._build_optimizers()
        else:
            self._ensure_optimizers()

    # ------------------------------------------------------------- helpers
    @property
    def _torch_dtype(self) -> torch.dtype:
        return next(self.module_.parameters()).dtype

    @property
    def _np_dtype(self) -> type:
        return np.float32 if self._torch_dtype == torch.float32 else np.float64

    def _to_tensor(self, X: np.ndarray) -> torch.Tensor:
        # torch.tensor copies, so read-only inputs (joblib memmaps) are safe; it
        # refuses negative strides (X[::-1]), hence ascontiguousarray first.
        return torch.tensor(np.ascontiguousarray(X), dtype=self._torch_dtype,
                            device=self.device_)

    def _to_numpy(self, t: torch.Tensor) -> np.ndarray:
        return t.detach().to("cpu", torch.float64).numpy().astype(self._np_dtype)

    def _map_batches(self, X: np.ndarray, fn, out_dim: int | None) -> np.ndarray:
        """Apply ``fn`` chunk by chunk so memory stays bounded for any ``len(X)``.

        The module stays in eval mode outside training, so nothing here changes
        it: concurrent calls from several threads give the serial result.
        """
        n = X.shape[0]
        shape = (n,) if out_dim is None else (n, out_dim)
        out = np.empty(shape, dtype=X.dtype)
        with _thread_limit(), torch.no_grad():
            for start in range(0, n, _TRANSFORM_CHUNK):
                stop = min(start + _TRANSFORM_CHUNK, n)
                res = fn(self._to_tensor(X[start:stop]))
                out[start:stop] = res.detach().to("cpu", torch.float64).numpy()
        return out

    def _make_generator(self, seed: int) -> torch.Generator:
        gen = torch.Generator(device=self.device_)
        gen.manual_seed(int(seed))
        return gen

    # --------------------------------------------------------- standardisation
    def _fit_standardization(self, X: np.ndarray, enabled: bool) -> None:
        """One global mean and scale (scalars), in float64 without overflow."""
        if not enabled:
            self.mean_, self.scale_ = 0.0, 1.0
            return
        # max and -min instead of abs(X): no temporary copy of the data.
        peak = max(float(X.max()), -float(X.min())) if X.size else 0.0
        unit = peak if peak > 0 else 1.0
        # Dividing by the peak first keeps the squares finite for any finite data.
        Xs = X.astype(np.float64) / unit
        mean = float(Xs.mean())
        std = float(Xs.std())
        self.mean_ = mean * unit
        self.scale_ = std * unit if std > 0 else 1.0

    def _standardize(self, X: torch.Tensor) -> torch.Tensor:
        return (X - self.mean_) / self.scale_

    def _unstandardize(self, Y: torch.Tensor) -> torch.Tensor:
        return Y * self.scale_ + self.mean_

    # ------------------------------------------------------------ optimizers
    @property
    def _optimizer_params(self) -> frozenset:
        """Parameters whose change after ``fit`` rebuilds the optimizers."""
        return optimizer_param_names(self._optimizer_groups) | self._extra_optimizer_params

    @property
    def _optimizer_kind(self) -> str:
        return self._default_optimizer if self.optimizer == "auto" else self.optimizer

    @property
    def _learning_rate(self) -> float:
        if self.learning_rate == "auto":
            return float(self._default_learning_rate)
        return float(self.learning_rate)

    @property
    def _optimizers(self) -> list[torch.optim.Optimizer] | None:
        """The optimizers, main group first (``self._optimizer(name)`` by group)."""
        optim = getattr(self, "_optim", None)
        return None if optim is None else optim.optimizers

    def _optimizer(self, group: str) -> torch.optim.Optimizer:
        """The optimizer of ``group`` (``"main"`` or a name of ``_optimizer_groups``)."""
        return self._optim[group]

    def _build_optimizers(self) -> None:
        groups = self._parameter_groups()
        self._optim = OptimizerSet(groups, {g: resolve_settings(self, g) for g in groups})
        self._built_params = {**self._built_params, **{
            k: copy.deepcopy(v) for k, v in self.get_params(deep=False).items()
            if k in self._optimizer_params}}

    def _ensure_optimizers(self) -> None:
        """Rebuild optimizers after unpickling, restoring their saved state.

        The saved state is deep-copied in: the live optimizer must never share
        tensors with it, or a failed step would write into the saved copy.
        """
        if getattr(self, "_optim", None) is not None:
            return
        self._build_optimizers()
        states = getattr(self, "_optimizer_states", None)
        if states:
            self._optim.load_state_dict(states)
        self._optimizer_states = None

    # ---------------------------------------------------------- the loop
    def _initialize(self, X: np.ndarray) -> None:
        """Build a fresh model, optimizers and random streams for ``X``."""
        self.device_ = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=3)
        self._rng = np.random.RandomState(seeds[0])
        self._generator = self._make_generator(seeds[1])
        self._on_fit_start(X)
        # PyTorch's default initialisers draw from the global RNG: fork it so the
        # user's global state is untouched and the build is reproducible.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seeds[2]))
            module = self._build_module(X.shape[1])
        self.module_ = module.to(device=self.device_, dtype=_TORCH_DTYPES[X.dtype]).eval()
        self._built_params = copy.deepcopy(self.get_params(deep=False))
        self._build_optimizers()
        self.n_iter_ = 0
        self.n_steps_ = 0
        self.history_ = []

    def _split(self, n: int, use_validation: bool) -> tuple[np.ndarray, np.ndarray | None]:
        idx = self._rng.permutation(n) if self.shuffle else np.arange(n)
        n_val = int(math.floor(self.validation_fraction * n)) if use_validation else 0
        if n_val < 1 or n - n_val < 1:
            return np.sort(idx) if not self.shuffle else idx, None
        return idx[n_val:], np.sort(idx[:n_val])

    def _batches(self, train_idx: np.ndarray) -> list[np.ndarray]:
        order = self._rng.permutation(train_idx) if self.shuffle else train_idx
        # Nearly equal batches instead of a ragged last one: every batch has at
        # least batch_size // 2 rows, which batch statistics (variance hinge) need.
        n_batches = max(1, math.ceil(len(order) / self.batch_size))
        return np.array_split(order, n_batches)

    def _state_snapshot(self) -> dict:
        return {k: v.detach().clone() for k, v in self.module_.state_dict().items()}

    def _validation_score(self, X_val: np.ndarray) -> float:
        self.module_.eval()
        total, count = 0.0, 0
        try:
            with torch.no_grad():
                for start in range(0, X_val.shape[0], _TRANSFORM_CHUNK):
                    chunk = self._to_tensor(X_val[start : start + _TRANSFORM_CHUNK])
                    loss = self._validation_loss(chunk)
                    total += float(loss.sum())
                    count += loss.shape[0]
        finally:
            self.module_.train()
        return total / max(count, 1)

    def _fit_epochs(
        self, X: np.ndarray, n_epochs: int, *, use_validation: bool, partial: bool = False
    ) -> None:
        """The training loop shared by ``fit`` and ``partial_fit``."""
        self._ensure_optimizers()
        train_idx, val_idx = self._split(X.shape[0], use_validation)
        steps_per_epoch = max(1, math.ceil(len(train_idx) / self.batch_size))
        optim = self._optim
        optim.start(n_epochs * steps_per_epoch, partial)
        self.interrupted_ = False
        self._prepare_training(X, partial)
        X_val = X[val_idx] if val_idx is not None else None
        name = type(self).__name__
        # Early stopping monitors the validation loss when data are held out,
        # else the training loss (as scikit-learn's MLP does); partial_fit
        # makes one pass whatever the losses say.
        monitor = None if partial else ("val_loss" if X_val is not None else "loss")
        best_loss, best_state, best_epoch, stale = math.inf, None, None, 0
        monitored_best, stopped = math.inf, False
        last_state = self._state_snapshot()
        bar = batch_bar = None
        if self.verbose:
            from tqdm.auto import tqdm

            if partial:
                batch_bar = tqdm(total=steps_per_epoch, unit="batch", leave=self.verbose > 1,
                                 desc=f"{name}.partial_fit (epoch {self.n_iter_})")
            else:
                bar = tqdm(total=n_epochs, desc=name, unit="epoch")
        completed = 0
        self.module_.train()
        try:
            for _ in range(n_epochs):
                t0 = time.perf_counter()
                sums: dict[str, Any] = {}
                batches = self._batches(train_idx)
                for b in batches:
                    self._batch_rows = b
                    stats = self._train_step(self._to_tensor(X[b]))
                    optim.step_batch()
                    self.n_steps_ += 1
                    for k, v in stats.items():
                        v = v.detach() if isinstance(v, torch.Tensor) else v
                        sums[k] = sums.get(k, 0.0) + v
                    if batch_bar is not None:
                        batch_bar.update(1)
                # One host sync per epoch: values stay on the device until here.
                record = {k: float(v) / len(batches) for k, v in sums.items()}
                record.update(optim.learning_rates())
                epoch = self.n_iter_
                self._check_finite(record, epoch)
                if X_val is not None:
                    record["val_loss"] = self._validation_score(X_val)
                    if not math.isfinite(record["val_loss"]):
                        raise TrainingDivergedError(
                            f"{type(self).__name__}: validation loss became "
                            f"{record['val_loss']} at epoch {epoch}."
                        )
                record["epoch"] = epoch
                record["time"] = time.perf_counter() - t0
                optim.step_epoch()
                self._on_epoch_end(epoch)
                self.n_iter_ += 1
                completed += 1
                self.history_.append(record)
                last_state = self._state_snapshot()
                shown = {k: f"{record[k]:.4g}" for k in ("loss", "val_loss") if k in record}
                logger.debug("%s epoch %d: %s", name, epoch, shown)
                if bar is not None:
                    bar.set_postfix(shown)
                    bar.update(1)
                if batch_bar is not None:
                    batch_bar.set_postfix(shown)
                if X_val is not None:
                    if best_state is None or record["val_loss"] < best_loss:
                        best_loss, best_state, best_epoch = record["val_loss"], last_state, epoch
                if monitor is not None:
                    value = record[monitor]
                    if not math.isfinite(monitored_best) or (
                            value < monitored_best - self.tol * abs(monitored_best)):
                        stale = 0
                    else:
                        stale += 1
                    monitored_best = min(monitored_best, value)
                    if self.n_iter_no_change is not None and stale >= self.n_iter_no_change:
                        stopped = True
                        what = "validation" if monitor == "val_loss" else "training"
                        msg = (f"{name}: early stopping after epoch {epoch}: no {what} loss "
                               f"improvement of more than tol={self.tol:g} (relative) in "
                               f"{stale} epochs.")
                        logger.info(msg)
                        if bar is not None:
                            bar.set_postfix({**shown, "stopped": f"epoch {epoch}"})
                        break
        except KeyboardInterrupt:
            if completed == 0:
                raise
            if best_state is not None:
                kept = f"the epoch with the best validation loss ({best_epoch})"
            else:
                self.module_.load_state_dict(last_state)
                kept = f"the last completed epoch ({self.n_iter_ - 1})"
            self.interrupted_ = True
            warnings.warn(
                f"{type(self).__name__}.{'partial_fit' if partial else 'fit'} interrupted; "
                f"keeping {kept}.",
                FitInterruptedWarning,
                stacklevel=3,
            )
        finally:
            self._batch_rows = None
            optim.stop()
            self.module_.eval()
            for b in (bar, batch_bar):
                if b is not None:
                    b.close()
        if best_state is not None:
            self.module_.load_state_dict(best_state)
            self.best_epoch_ = best_epoch
            self.best_validation_loss_ = best_loss
        if (monitor is not None and self.n_iter_no_change is not None and not stopped
                and completed == n_epochs):
            what = "validation" if monitor == "val_loss" else "training"
            warnings.warn(
                f"{name}: max_epochs={n_epochs} reached while the {what} loss was still "
                f"improving by more than tol={self.tol:g} (relative) within "
                f"n_iter_no_change={self.n_iter_no_change} epochs. Increase max_epochs "
                "(or tol) to let it converge.",
                ConvergenceWarning, stacklevel=3,
            )

    def _check_finite(self, record: dict, epoch: int) -> None:
        bad = [k for k, v in record.items() if not math.isfinite(v)]
        params_ok = all(torch.isfinite(p).all() for p in self.module_.parameters())
        if bad or not params_ok:
            what = f"{', '.join(bad)} became non-finite" if bad else "parameters became non-finite"
            raise TrainingDivergedError(
                f"{type(self).__name__}: training diverged at epoch {epoch} ({what}). "
                "The previously fitted state was kept. Lower the learning rate(s) or "
                "the inference step size, or standardise the data."
            )

    # ----------------------------------------------------- fit transaction
    def _transaction(self):
        return _FitTransaction(self)

    # ------------------------------------------------------------- pickling
    def __getstate__(self):
        # BaseEstimator may hand back the live __dict__: never mutate the estimator.
        state = dict(super().__getstate__())
        if state.get("_optim") is not None:
            state["_optimizer_states"] = self._optim.state_dict(to_cpu=True)
        state["_optim"] = None
        gen = state.pop("_generator", None)
        if gen is not None:
            state["_generator_state"] = gen.get_state()
        for name in self._torch_attributes:
            value = state.get(name)
            if isinstance(value, torch.nn.Module):
                if any(t.device.type != "cpu" for t in value.state_dict().values()):
                    value = copy.deepcopy(value).to("cpu")
                state[name] = value
            elif isinstance(value, torch.Tensor):
                state[name] = value.detach().to("cpu")
        return state

    def __setstate__(self, state):
        gen_state = state.pop("_generator_state", None)
        super().__setstate__(state)
        if "device_" not in state:
            return
        dev = self.device_
        if dev.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                f"{type(self).__name__} was fitted on {dev} but CUDA is not available; "
                "it was loaded on the CPU.",
                UserWarning,
                stacklevel=2,
            )
            dev = torch.device("cpu")
        self.device_ = dev
        for name in self._torch_attributes:
            value = getattr(self, name, None)
            if isinstance(value, (torch.nn.Module, torch.Tensor)):
                setattr(self, name, value.to(dev))
        self._generator = torch.Generator(device=dev)
        if gen_state is not None:
            try:
                self._generator.set_state(gen_state)
            except RuntimeError:  # CPU and CUDA generator states differ in format
                self._generator.manual_seed(int(gen_state.sum()))


class _FitTransaction:
    """Restore the estimator as it was if ``fit``/``partial_fit`` fails.

    A fresh fit builds new objects, so a shallow copy of ``__dict__`` suffices
    for them; what training mutates in place (module parameters, optimizer and
    scheduler state, random streams, ``history_``) is copied and put back.
    """

    def __init__(self, est: BaseSparseEstimator):
        self.est = est

    def __enter__(self):
        est = self.est
        self.saved = dict(est.__dict__)
        self.module_state = None
        self.opt_states = None
        if est.__sklearn_is_fitted__():
            self.module_state = est._state_snapshot()
            if getattr(est, "_optim", None) is not None:
                self.opt_states = est._optim.state_dict()
            self.gen_state = est._generator.get_state()
            self.rng_state = est._rng.get_state()
            self.history_len = len(est.history_)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return False
        est = self.est
        est.__dict__.clear()
        est.__dict__.update(self.saved)
        if self.module_state is not None:
            est.module_.load_state_dict(self.module_state)
            est.module_.eval()
            if self.opt_states is not None:
                est._optim.load_state_dict(self.opt_states)
            est._generator.set_state(self.gen_state)
            est._rng.set_state(self.rng_state)
            del est.history_[self.history_len:]
        return False
