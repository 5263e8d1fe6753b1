"""The training loop shared by ``fit`` and ``partial_fit``, in small pieces.

:func:`fit_epochs` runs the epochs of one call; each concern has its own piece:
splitting and batching the rows (:func:`split_rows`, :func:`make_batches`), one
epoch of train steps and its statistics (:func:`run_epoch`), NaN/Inf checks
(:func:`check_finite`), the validation loss (:func:`validation_loss`), early
stopping (:class:`EarlyStopping`), restore-best (:class:`BestEpoch`), progress
bars (:class:`Progress`) and Ctrl-C (:func:`keep_after_interrupt`).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from ._distributed import DataParallel
from ._distributed import is_active as is_distributed
from .exceptions import FitInterruptedWarning, TrainingDivergedError

__all__ = ["fit_epochs"]

# Training messages go to this child of the "skdeepsparse" logger.
logger = logging.getLogger(__name__)


def split_rows(rng: np.random.RandomState, n: int, *, shuffle: bool,
               validation_fraction: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Training rows and held-out validation rows (None when nothing is held out)."""
    idx = rng.permutation(n) if shuffle else np.arange(n)
    n_val = int(math.floor(validation_fraction * n))
    if n_val < 1 or n - n_val < 1:
        return np.sort(idx) if not shuffle else idx, None
    return idx[n_val:], np.sort(idx[:n_val])


def make_batches(rng: np.random.RandomState, train_idx: np.ndarray, batch_size: int,
                 shuffle: bool) -> list[np.ndarray]:
    """Row indices of each mini-batch of one epoch."""
    order = rng.permutation(train_idx) if shuffle else train_idx
    # Nearly equal batches instead of a ragged last one: every batch has at
    # least batch_size // 2 rows, which batch statistics (variance hinge) need.
    return np.array_split(order, max(1, math.ceil(len(order) / batch_size)))


def state_snapshot(module: torch.nn.Module) -> dict:
    """A copy of the module's state that training cannot change."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def run_epoch(est, X: np.ndarray, train_idx: np.ndarray, progress: Progress,
              dp=None) -> dict:
    """One pass of train steps; the per-epoch mean of each statistic.

    ``dp`` (a :class:`~skdeepsparse._distributed.DataParallel`, under a process
    group) makes ``train_idx`` global row numbers; see :func:`run_epoch_distributed`.
    """
    if dp is not None:
        return run_epoch_distributed(est, X, train_idx, progress, dp)
    sums: dict[str, Any] = {}
    batches = make_batches(est._rng, train_idx, est.batch_size, est.shuffle)
    for rows in batches:
        stats = est._train_step(est._to_tensor(X[rows]), rows)
        est._optim.step_batch()
        est.n_steps_ += 1
        for k, v in stats.items():
            v = v.detach() if isinstance(v, torch.Tensor) else v
            sums[k] = sums.get(k, 0.0) + v
        progress.batch_done()
    # One host sync per epoch: values stay on the device until here.
    record = {k: float(v) / len(batches) for k, v in sums.items()}
    record.update(est._optim.learning_rates())
    return record


def run_epoch_distributed(est, X: np.ndarray, train_idx: np.ndarray, progress: Progress,
                          dp) -> dict:
    """One pass over the global batches; this rank trains on its rows of each.

    The statistics are weighted by this rank's share of each batch and summed
    over the ranks: the row-weighted mean over the global batch.
    """
    sums: dict[str, Any] = {}
    dp.check_same_stream(est._rng)
    batches = make_batches(est._rng, train_idx, est.batch_size, est.shuffle)
    dp.check_batches(batches, est)
    for batch in batches:
        rows = dp.local(batch)
        dp.enter_batch(len(rows), len(batch))
        try:
            stats = est._train_step(est._to_tensor(X[rows]), rows)
        finally:
            dp.exit_batch()
        est._optim.step_batch()
        est.n_steps_ += 1
        for k, v in stats.items():
            v = v.detach() if isinstance(v, torch.Tensor) else v
            sums[k] = sums.get(k, 0.0) + v * dp.weight
        progress.batch_done()
    record = dp.reduce_record(sums, len(batches))
    record.update(est._optim.learning_rates())
    return record


def check_finite(est, record: dict, epoch: int) -> None:
    """Raise :class:`TrainingDivergedError` on a non-finite statistic or parameter."""
    bad = [k for k, v in record.items() if not math.isfinite(v)]
    params_ok = all(torch.isfinite(p).all() for p in est.module_.parameters())
    if bad or not params_ok:
        what = f"{', '.join(bad)} became non-finite" if bad else "parameters became non-finite"
        raise TrainingDivergedError(
            f"{type(est).__name__}: training diverged at epoch {epoch} ({what}). "
            "The previously fitted state was kept. Lower the learning rate(s) or "
            "the inference step size, or standardise the data."
        )


def validation_loss(est, X_val: np.ndarray, epoch: int, dp=None) -> float:
    """Mean of the model's per-sample validation loss, chunk by chunk (over every
    rank's validation rows under a process group, ``dp``)."""
    est.module_.eval()
    total, count, chunk = 0.0, 0, est._chunk_rows()
    try:
        with torch.no_grad():
            for start in range(0, X_val.shape[0], chunk):
                loss = est._validation_loss(est._to_tensor(X_val[start:start + chunk]))
                total += float(loss.sum())
                count += loss.shape[0]
    finally:
        est.module_.train()
    value = total / max(count, 1) if dp is None else dp.reduce_mean(total, count)
    if not math.isfinite(value):
        raise TrainingDivergedError(
            f"{type(est).__name__}: validation loss became {value} at epoch {epoch}.")
    return value


class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``tol`` (relative) for
    ``patience`` epochs; ``monitor=None`` never stops."""

    def __init__(self, monitor: str | None, patience: int | None, tol: float):
        self.monitor, self.patience, self.tol = monitor, patience, tol
        self.best, self.stale, self.stopped = math.inf, 0, False

    def update(self, record: dict) -> bool:
        if self.monitor is None:
            return False
        value = record[self.monitor]
        if not math.isfinite(self.best) or value < self.best - self.tol * abs(self.best):
            self.stale = 0
        else:
            self.stale += 1
        self.best = min(self.best, value)
        self.stopped = self.patience is not None and self.stale >= self.patience
        return self.stopped

    @property
    def what(self) -> str:
        return "validation" if self.monitor == "val_loss" else "training"


class BestEpoch:
    """The module state of the epoch with the lowest validation loss."""

    def __init__(self):
        self.loss, self.state, self.epoch = math.inf, None, None

    def offer(self, loss: float, state: dict, epoch: int) -> None:
        if self.state is None or loss < self.loss:
            self.loss, self.state, self.epoch = loss, state, epoch


class Progress:
    """``tqdm`` bars when ``verbose``: over the epochs of ``fit``, or over the
    batches of a ``partial_fit`` call (kept on screen when ``verbose > 1``)."""

    def __init__(self, est, n_epochs: int, steps_per_epoch: int, partial: bool):
        self.epoch_bar = self.batch_bar = None
        if not est.verbose:
            return
        from tqdm.auto import tqdm

        name = type(est).__name__
        if partial:
            self.batch_bar = tqdm(total=steps_per_epoch, unit="batch", leave=est.verbose > 1,
                                  desc=f"{name}.partial_fit (epoch {est.n_iter_})")
        else:
            self.epoch_bar = tqdm(total=n_epochs, desc=name, unit="epoch")

    def batch_done(self) -> None:
        if self.batch_bar is not None:
            self.batch_bar.update(1)

    def epoch_done(self, shown: dict) -> None:
        if self.epoch_bar is not None:
            self.epoch_bar.set_postfix(shown)
            self.epoch_bar.update(1)
        if self.batch_bar is not None:
            self.batch_bar.set_postfix(shown)

    def stopped(self, shown: dict, epoch: int) -> None:
        if self.epoch_bar is not None:
            self.epoch_bar.set_postfix({**shown, "stopped": f"epoch {epoch}"})

    def close(self) -> None:
        for bar in (self.epoch_bar, self.batch_bar):
            if bar is not None:
                bar.close()


def keep_after_interrupt(est, best: BestEpoch, last_state: dict, partial: bool) -> None:
    """After Ctrl-C past the first epoch: keep the best (or last) epoch and say so."""
    if best.state is not None:
        kept = f"the epoch with the best validation loss ({best.epoch})"
    else:
        est.module_.load_state_dict(last_state)
        kept = f"the last completed epoch ({est.n_iter_ - 1})"
    est.interrupted_ = True
    warnings.warn(
        f"{type(est).__name__}.{'partial_fit' if partial else 'fit'} interrupted; "
        f"keeping {kept}.",
        FitInterruptedWarning, stacklevel=5,
    )


def fit_epochs(est, X: np.ndarray, n_epochs: int, *, use_validation: bool,
               partial: bool = False) -> None:
    """Train ``est`` for ``n_epochs`` epochs on ``X`` (the loop of both fit methods).

    Early stopping monitors the validation loss when data are held out, else
    the training loss (as scikit-learn's MLP does); ``partial_fit`` makes one
    pass whatever the losses say.
    """
    est._ensure_optimizers()
    # Under a process group the row numbers are global (see skdeepsparse._distributed).
    dp = DataParallel(est, X.shape[0]) if is_distributed() else None
    train_idx, val_idx = split_rows(
        est._rng, X.shape[0] if dp is None else dp.n_total, shuffle=est.shuffle,
        validation_fraction=est.validation_fraction if use_validation else 0.0)
    steps_per_epoch = max(1, math.ceil(len(train_idx) / est.batch_size))
    est._optim.start(n_epochs * steps_per_epoch, partial)
    est.interrupted_ = False
    est._prepare_training(X, partial)
    if dp is not None and val_idx is not None:
        val_idx = dp.local(val_idx)
    X_val = X[val_idx] if val_idx is not None else None
    name = type(est).__name__
    stopping = EarlyStopping(
        None if partial else ("val_loss" if X_val is not None else "loss"),
        est.n_iter_no_change, est.tol)
    best = BestEpoch()
    last_state = state_snapshot(est.module_)
    progress = Progress(est, n_epochs, steps_per_epoch, partial)
    completed = 0
    est.module_.train()
    if dp is not None:
        dp.install(est._optim.optimizers)
    try:
        for _ in range(n_epochs):
            t0 = time.perf_counter()
            record = run_epoch(est, X, train_idx, progress, dp)
            epoch = est.n_iter_
            check_finite(est, record, epoch)
            if X_val is not None:
                record["val_loss"] = validation_loss(est, X_val, epoch, dp)
            record["epoch"] = epoch
            record["time"] = time.perf_counter() - t0
            est._optim.step_epoch()
            est._on_epoch_end(epoch)
            est.n_iter_ += 1
            completed += 1
            est.history_.append(record)
            last_state = state_snapshot(est.module_)
            shown = {k: f"{record[k]:.4g}" for k in ("loss", "val_loss") if k in record}
            logger.debug("%s epoch %d: %s", name, epoch, shown)
            progress.epoch_done(shown)
            if X_val is not None:
                best.offer(record["val_loss"], last_state, epoch)
            if stopping.update(record):
                logger.info(f"{name}: early stopping after epoch {epoch}: no {stopping.what} "
                            f"loss improvement of more than tol={est.tol:g} (relative) in "
                            f"{stopping.stale} epochs.")
                progress.stopped(shown, epoch)
                break
    except KeyboardInterrupt:
        if completed == 0:
            raise
        keep_after_interrupt(est, best, last_state, partial)
    finally:
        if dp is not None:
            dp.remove()
        est._optim.stop()
        est.module_.eval()
        progress.close()
    if best.state is not None:
        est.module_.load_state_dict(best.state)
        est.best_epoch_, est.best_validation_loss_ = best.epoch, best.loss
    if (stopping.monitor is not None and est.n_iter_no_change is not None
            and not stopping.stopped and completed == n_epochs):
        warnings.warn(
            f"{name}: max_epochs={n_epochs} reached while the {stopping.what} loss was still "
            f"improving by more than tol={est.tol:g} (relative) within "
            f"n_iter_no_change={est.n_iter_no_change} epochs. Increase max_epochs "
            "(or tol) to let it converge.",
            ConvergenceWarning, stacklevel=4,
        )
