"""The shared estimator core: :class:`BaseSparseEstimator` and the model contract.

Its helpers live in modules of their own: the optimizer groups in ``_optim``,
the training loop in ``_training``, the fit transaction, device moves and
pickling in ``_state``, the checks in ``_validation``.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._config import _thread_limit
from ._diagnostics import check_after_fit
from ._distributed import broadcast_seeds, scalar_moments
from ._distributed import is_active as is_distributed
from ._optim import (
    MAIN,
    SHARED_CONSTRAINTS,
    OptimizerSet,
    optimizer_param_names,
    param_name,
    resolve_settings,
)
from ._sklearn_compat import Interval
from ._state import FitTransaction, TorchStateMixin
from ._training import fit_epochs
from ._validation import (
    _same,
    check_codes,
    check_common_params,
    check_data_scale,
    check_input_scale,
    check_output_finite,
    resolve_device,
)
from .nn import reset_parameters_

__all__ = ["BaseSparseEstimator", "resolve_device"]


# Rows per chunk in transform / inverse_transform / score: bounds memory for any
# n_samples while keeping the matrix products large enough to be efficient.
_TRANSFORM_CHUNK = 4096

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}

# Parameters of the training loop, read afresh by every call.
_LOOP_PARAMS = frozenset({
    "batch_size", "max_epochs", "validation_fraction", "n_iter_no_change", "tol",
    "shuffle", "warm_start", "random_state", "verbose",
})


class BaseSparseEstimator(TorchStateMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                          BaseEstimator):
    """Base class of all skdeepsparse estimators: the model contract, in one place.

    A model subclass lists every parameter in ``__init__`` (its own, then the
    shared ones, which scikit-learn needs explicit), extends
    ``_parameter_constraints`` and supplies only its mathematics through hooks.
    ``ToySparseAutoencoder`` in ``tests/test_common.py`` is the smallest
    complete example.

    Hooks a model must implement:

    ``_build_module(n_features)``
        Return a fresh ``torch.nn.Module`` holding every learned tensor. The
        core builds it on the CPU, draws every initial weight again from a
        generator seeded by ``random_state``
        (:func:`~skdeepsparse.nn.reset_parameters_`: torch's formulas, then
        each submodule's ``reset_custom_``), calls
        ``_init_module(module, generator)`` and moves it to ``device_`` and
        the data's dtype. Initialisation that needs the estimator (a norm, a
        projection, a draw of its own) goes in ``_init_module``, never in
        ``_build_module``.
    ``_train_step(X, rows)``
        One update on the mini-batch tensor ``X`` (``rows``: its row indices
        in the training data, for per-sample state such as persistent
        chains; ``None`` when called outside the loop): compute the loss, call
        ``backward`` and step the optimizers (``self._optimizer(group)``;
        the core steps their schedules); return a dict of 0-d tensors or
        floats that includes ``"loss"``.
    ``_transform_batch(X)``, ``_inverse_transform_batch(Z)``
        Encode and decode a batch (tensors in, tensors out). They must not
        change the module: several threads may call them at once.
    ``_score_samples_batch(X)``
        Per-sample score, higher is better (negative error or ELBO).

    Optional hooks: ``_parameter_groups()`` (the parameters of each optimizer
    group, ``{"main": [...], "decoder": [...]}``, default every parameter in
    ``"main"``; the groups besides ``"main"`` are named in
    ``_optimizer_groups`` and set by the routing rule of
    :mod:`skdeepsparse._optim`: ``<group>_<shared name>``, ``None`` = the main
    group's value), ``_auto_setting(group, name, optimizer)`` (what
    ``"auto"`` means for a group's optimizer or learning rate),
    ``_validation_loss(X)`` (default: minus the score), ``_on_fit_start(X)``
    (resolve ``"auto"`` parameters, fitted constants; once per fresh fit),
    ``_prepare_training(X, partial)`` (per-call set-up),
    ``_on_epoch_end(epoch)``, ``_on_fit_end(X)`` (fitted statistics, inside
    the fit transaction) and ``_check_params(X)`` (cross-parameter checks).

    What the core guarantees: input validation and dtype (output dtype =
    input dtype), device resolution into ``device_``, seeding from
    ``random_state`` (never the global seed), the optimizers and
    ``torch.optim.lr_scheduler`` schedules of every group (built, stepped,
    snapshot, restored, rebuilt when their parameters change), the training
    loop of :mod:`skdeepsparse._training` (batching, per-epoch means of the
    train step's statistics in ``history_``, NaN/Inf checks, validation
    split, early stopping, restore-best, progress bars, Ctrl-C keeping the
    last completed epoch with ``interrupted_ = True`` and a
    :class:`~skdeepsparse.exceptions.FitInterruptedWarning`), a fit
    transaction (a failed call leaves the previous state), batched
    ``transform`` / ``inverse_transform`` / ``score_samples`` in chunks of
    ``_chunk_rows()`` rows, and pickling (state on the CPU; a model fitted on
    a GPU loads on a CPU-only machine). Under a ``torch.distributed`` process
    group of several ranks, data-parallel training
    (:mod:`skdeepsparse._distributed`: ``batch_size`` is global, gradients
    are summed over the ranks before each optimizer step); a train step's loss
    must be a mean over its rows, and a batch-wide quantity the model computes
    itself goes through ``batch_sum`` / ``batch_rows`` / ``batch_all``.

    Class attributes: ``_free_params`` names the model's parameters that are
    read at every use and may change after ``fit``; optimizer parameters
    (shared, ``<group>_*`` and ``_extra_optimizer_params``) rebuild the
    optimizers. Any other changed parameter is refused by ``warm_start``,
    ``partial_fit`` and ``transform`` with a clear error.
    ``_default_optimizer`` and ``_default_learning_rate`` resolve the main
    group's ``"auto"``. ``_input_scale`` says what scale of data the model's
    likelihood needs,
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
    depends on a parameter. ``_auto_threads`` caps the threads that
    ``n_threads="auto"`` (:func:`~skdeepsparse.set_config`) gives ``fit``,
    ``partial_fit``, ``transform`` and the other batched methods: a model
    whose kernels are too small to gain from a second thread sets 1 (a fixed
    ``n_threads`` is honoured as given).

    After a successful ``fit`` (not ``partial_fit``), once its state is
    committed, the core checks that the codes have not collapsed
    (:mod:`skdeepsparse._diagnostics`: most latents inactive, or a
    reconstruction no better than the mean row, on at most 1,000 training
    rows) and warns with a :class:`~sklearn.exceptions.ConvergenceWarning`
    naming the likely cause and the parameter to change. Under the default
    ``check_collapse="auto"`` of :func:`~skdeepsparse.set_config` a fit on
    fewer than 1,000 rows, or whose model has taken fewer than 100 optimizer
    steps, is not checked. The check uses ``transform`` and
    ``inverse_transform`` and leaves the random streams as they were.
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

    # Names of attributes that hold torch state; device moves and pickling move
    # them. Subclasses extend this when they keep extra tensors.
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
    # The most threads n_threads="auto" gives the model (None: no cap; see the
    # class docstring).
    _auto_threads: int | None = None

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _build_module(self, n_features: int) -> torch.nn.Module:
        """Return a new module for ``n_features`` input features."""

    @abstractmethod
    def _train_step(self, X: torch.Tensor, rows: np.ndarray | None = None) -> dict[str, Any]:
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
        if group != MAIN:
            raise ValueError(f"{type(self).__name__}: {param_name(group, name)}='auto' has "
                             "no meaning for this model.")
        return self._default_optimizer if name == "optimizer" else self._default_learning_rate

    def _init_module(self, module: torch.nn.Module, generator: torch.Generator) -> None:
        """Model-specific initialisation of a new module, drawing from ``generator``
        only (after the core's :func:`~skdeepsparse.nn.reset_parameters_`)."""

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
        """Called at the start of every ``fit`` / ``partial_fit`` training loop."""

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
        warning is given. Once the fit has succeeded, a
        :class:`~sklearn.exceptions.ConvergenceWarning` also says when the
        codes have collapsed on the training data (most latents inactive, or a
        reconstruction no better than the mean row), naming the parameter to
        change; it is checked after a fit on at least 1,000 rows whose model
        has taken at least 100 optimizer steps (``check_collapse`` of
        :func:`~skdeepsparse.set_config` changes that).

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
        return self._train(X, resume=warm, n_epochs=self.max_epochs, partial=False)

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
        return self._train(X, resume=self.__sklearn_is_fitted__(), n_epochs=1, partial=True)

    def _train(self, X, *, resume: bool, n_epochs: int, partial: bool):
        """The body of ``fit`` and ``partial_fit``, as one transaction."""
        with _thread_limit(self._auto_threads):
            with FitTransaction(self):
                if resume:
                    self._prepare_continuation()
                X = self._validate_X(X, reset=not resume)
                check_data_scale(self, X)
                check_common_params(self)
                self._check_params(X)
                if not (resume and partial):  # a warm fit checks its new data too
                    check_input_scale(self, X)
                if not resume:
                    self._initialize(X)
                fit_epochs(self, X, n_epochs, use_validation=not partial, partial=partial)
                self._on_fit_end(X)
            if not partial:  # after the commit: the check cannot undo a fit
                check_after_fit(self, X, stacklevel=4)
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
        Z = check_codes(self, X)
        out = self._map_batches(Z, self._inverse_transform_batch, self.n_features_in_)
        check_output_finite(self, out, "inverse_transform", "codes")
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
        check_output_finite(self, out, "score_samples", "data")
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
        self._sync_device()
        changed = self._changed_params() - self._optimizer_params
        if changed:
            raise ValueError(self._changed_message(changed, "using the fitted model"))

    def _check_fitted_input(self, X) -> np.ndarray:
        self._check_fitted_params()
        X = self._validate_X(X, reset=False)
        check_data_scale(self, X)
        return X

    _min_batch_reason = ""

    _input_scale_reason = ""

    def _check_output_finite(self, out: np.ndarray, method: str, what: str) -> None:
        check_output_finite(self, out, method, what)

    # ----------------------------------------------------- parameter changes
    def _changed_params(self) -> set[str]:
        """Parameters that differ from those the fitted model was built with."""
        built = getattr(self, "_built_params", None)
        if built is None:
            return set()
        now = self.get_params(deep=False)
        return {k for k, v in now.items()
                if k not in _LOOP_PARAMS and k not in self._free_params and k != "device"
                and not _same(v, built.get(k))}

    def _sync_device(self) -> None:
        """Honour a ``device`` changed after ``fit``: move the model (a model loaded
        on a machine without its device stays where it was loaded)."""
        built = getattr(self, "_built_params", None)
        if built is None or _same(self.device, built.get("device")):
            return
        self._move_to(resolve_device(self.device))
        self._built_params = {**built, "device": copy.deepcopy(self.device)}

    def _changed_message(self, changed, doing: str) -> str:
        names = ", ".join(sorted(changed))
        return (
            f"{type(self).__name__}: parameter(s) {names} changed since the model was "
            f"built, and they define its architecture or fitted constants; "
            f"{doing} would ignore them. Set them back, or refit with warm_start=False."
        )

    def _prepare_continuation(self) -> None:
        """Before a warm ``fit`` or a ``partial_fit`` on a fitted model."""
        self._sync_device()
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
        with _thread_limit(self._auto_threads), torch.no_grad():
            chunk = self._chunk_rows()
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                res = fn(self._to_tensor(X[start:stop]))
                out[start:stop] = res.detach().to("cpu", torch.float64).numpy()
        return out

    def _make_generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device_).manual_seed(int(seed))

    def _chunk_rows(self) -> int:
        """Rows per chunk of every batched computation (transform, score, validation)."""
        return _TRANSFORM_CHUNK

    # --------------------------------------------------------- standardisation
    def _fit_standardization(self, X: np.ndarray, enabled: bool) -> None:
        """One global mean and scale (scalars), over every rank's rows under a
        process group."""
        self.mean_, self.scale_ = scalar_moments(X) if enabled else (0.0, 1.0)

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
        auto = self.learning_rate == "auto"
        return float(self._default_learning_rate if auto else self.learning_rate)

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
        if is_distributed():  # one model: every rank starts from rank 0's seeds
            seeds = broadcast_seeds(seeds)
        self._rng = np.random.RandomState(seeds[0])
        self._generator = self._make_generator(seeds[1])
        self._on_fit_start(X)
        # Every initial weight is drawn again from a generator no other thread can
        # seed; the build's own draws come from a fork of the global generator.
        with torch.random.fork_rng(devices=[]):
            module = self._build_module(X.shape[1])
        init = torch.Generator().manual_seed(int(seeds[2]))
        self._init_module(reset_parameters_(module, init), init)
        self.module_ = module.to(device=self.device_, dtype=_TORCH_DTYPES[X.dtype]).eval()
        self._built_params = copy.deepcopy(self.get_params(deep=False))
        self._build_optimizers()
        self.n_iter_ = 0
        self.n_steps_ = 0
        self.history_ = []
