"""Data-parallel training on ``torch.distributed``: one model trained by several processes.

When the default process group is initialised (``torchrun``, or any launcher
that calls :func:`torch.distributed.init_process_group`) and has more than one
rank, ``fit`` and ``partial_fit`` on each rank take that rank's local rows and
train one model on their union. Without a process group nothing here runs and
every result is as in a single process.

The scheme is exact, not an approximation:

- The rows are numbered globally, rank 0's first, then rank 1's, ... (the
  local row counts are gathered once per call). Every rank draws the same
  permutation of the global numbers from the shared random stream, so the
  validation split and the mini-batches are those a single process would draw
  on the concatenation of the ranks' data; each rank processes the rows of
  each *global* batch that it owns (``batch_size`` is global).
- After each backward pass, before an optimizer steps, the gradients of its
  parameters are weighted by ``local_rows / global_rows`` of the batch and
  summed over the ranks: the gradient of the global batch's mean loss (every
  train step's loss is a mean over its rows).
- Batch-wide quantities a model computes (the variance hinge's statistics,
  the stopping rule of an inference loop) are made global by :func:`batch_sum`
  and :func:`batch_all` where the model computes them.
- The per-epoch statistics of ``history_``, the validation loss and hence
  early stopping and restore-best are global, so every rank takes the same
  decisions and ends with the same parameters and ``history_``.

A rank whose peers never join fails at the process group's ``timeout`` with a
:class:`DistributedTrainingError` (the fit transaction rolls it back).
"""

from __future__ import annotations

import contextlib
import math
import zlib

import numpy as np
import torch

from .exceptions import DistributedTrainingError

__all__ = ["DataParallel", "DistributedTrainingError", "batch_all", "batch_rows", "batch_sum",
           "in_batch", "independent_fits", "is_active", "scalar_moments", "global_std"]


# The batch being trained under a process group (None outside a distributed train
# step): the model-side helpers below read it. One fit at a time per process.
_BATCH: DataParallel | None = None


# Depth of independent_fits() blocks: process-wide, so threads started inside (a
# threading joblib backend) fit independently too.
_INDEPENDENT = 0


@contextlib.contextmanager
def independent_fits():
    """Within this block every ``fit`` of this process trains its own model.

    For work that is not one model over all ranks while a process group is
    initialised: a search or an evaluation on one rank's data, a fit on rank 0
    only.
    """
    global _INDEPENDENT
    _INDEPENDENT += 1
    try:
        yield
    finally:
        _INDEPENDENT -= 1


def is_active() -> bool:
    """Whether fits are data-parallel: a default process group with more than one
    rank is initialised, outside :func:`independent_fits`."""
    dist = torch.distributed
    return (_INDEPENDENT == 0 and dist.is_available() and dist.is_initialized()
            and dist.get_world_size() > 1)


def _collective(fn, what: str):
    """Run a collective; a timeout or a peer's failure becomes a clear error."""
    try:
        return fn()
    except (RuntimeError, ValueError) as exc:  # gloo/NCCL raise DistBackendError(RuntimeError)
        dist = torch.distributed
        raise DistributedTrainingError(
            f"data-parallel fit: {what} failed on rank {dist.get_rank()} of "
            f"{dist.get_world_size()}: the other ranks did not take part in time (the "
            "process group's timeout) or failed. Under a process group every rank must "
            "call fit / partial_fit on its own rows, with the same parameters.") from exc


def _on_backend(t: torch.Tensor) -> torch.Tensor:
    """``t`` where the backend can communicate it: NCCL needs CUDA tensors."""
    dist = torch.distributed
    if t.device.type != "cuda" and dist.get_backend() == "nccl":
        return t.to(torch.device("cuda", torch.cuda.current_device()))
    return t


def all_reduce_(t: torch.Tensor, op=None, what: str = "all_reduce") -> torch.Tensor:
    """In-place sum (or ``op``) over the ranks; returns ``t``."""
    dist = torch.distributed
    op = dist.ReduceOp.SUM if op is None else op
    buf = _on_backend(t)
    _collective(lambda: dist.all_reduce(buf, op=op), what)
    if buf is not t:
        t.copy_(buf)
    return t


def broadcast_seeds(seeds: np.ndarray) -> np.ndarray:
    """Rank 0's seeds on every rank (``random_state=None`` draws differ per rank)."""
    t = torch.as_tensor(np.asarray(seeds, dtype=np.int64))
    buf = _on_backend(t)
    dist = torch.distributed
    _collective(lambda: dist.broadcast(buf, src=0), "agreeing on the random seeds")
    return buf.cpu().numpy()


def global_moments(X: np.ndarray) -> tuple[int, float, float]:
    """Number, mean and (population) std of all entries of the ranks' ``X``, float64.

    Two passes (the mean, then the squared deviations), as ``np.std`` does.
    """
    n = all_reduce_(torch.tensor([float(X.size), float(X.sum(dtype=np.float64))],
                                 dtype=torch.float64), what="gathering data moments")
    count = int(n[0])
    mean = float(n[1]) / max(count, 1)
    dev = all_reduce_(torch.tensor([float(np.square(X - mean, dtype=np.float64).sum())],
                                   dtype=torch.float64), what="gathering data moments")
    return count, mean, math.sqrt(float(dev[0]) / max(count, 1))


def scalar_moments(X: np.ndarray) -> tuple[float, float]:
    """Mean and scale (the std, 1 where it is 0) of all entries of ``X``, in float64
    without overflow; over every rank's rows when fits are data-parallel."""
    distributed = is_active()
    # max and -min instead of abs(X): no temporary copy of the data.
    peak = global_peak(X) if distributed else (
        max(float(X.max()), -float(X.min())) if X.size else 0.0)
    unit = peak if peak > 0 else 1.0
    # Dividing by the peak first keeps the squares finite for any finite data.
    Xs = X.astype(np.float64) / unit
    if distributed:
        _, mean, std = global_moments(Xs)
    else:
        mean, std = float(Xs.mean()), float(Xs.std())
    return mean * unit, (std * unit if std > 0 else 1.0)


def global_std(X: np.ndarray) -> float:
    """Population std of all entries of ``X`` in float64 (over every rank's rows
    when fits are data-parallel)."""
    if is_active():
        return global_moments(X)[2]
    return float(np.std(X, dtype=np.float64)) if X.size else 0.0


def global_column_stats(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means of ``A`` and column (population) variances of ``B`` over every
    rank's rows when fits are data-parallel, float64 (two passes for the variance)."""
    if not is_active():
        return A.mean(0), B.var(0)
    n = A.shape[0]
    t = torch.as_tensor(np.concatenate([[float(n)], A.sum(0), B.sum(0)]), dtype=torch.float64)
    all_reduce_(t, what="gathering fitted statistics")
    count = max(float(t[0]), 1.0)
    k = A.shape[1]
    mean_a, mean_b = t[1:1 + k].numpy() / count, t[1 + k:].numpy() / count
    dev = torch.as_tensor(np.square(B - mean_b).sum(0), dtype=torch.float64)
    all_reduce_(dev, what="gathering fitted statistics")
    return mean_a, dev.numpy() / count


def global_peak(X: np.ndarray) -> float:
    """``max |x|`` over the ranks' data."""
    peak = max(float(X.max()), -float(X.min())) if X.size else 0.0
    t = all_reduce_(torch.tensor([peak], dtype=torch.float64), torch.distributed.ReduceOp.MAX,
                    "gathering the data's peak")
    return float(t[0])


def batch_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum of ``t`` over the ranks' parts of the current global batch.

    Inside a distributed train step the model calls it on per-rank partial sums
    (row counts, column sums); anywhere else it returns ``t`` unchanged.
    """
    if _BATCH is None:
        return t
    out = t.clone() if isinstance(t, torch.Tensor) else torch.tensor(float(t))
    return all_reduce_(out, what="a batch statistic")


def in_batch() -> bool:
    """Whether a distributed train step is running (the helpers below communicate)."""
    return _BATCH is not None


def batch_rows(n_local: int) -> int:
    """Rows of the current global batch (``n_local`` outside a distributed step)."""
    return n_local if _BATCH is None else _BATCH.batch_total


def batch_all(flag: bool) -> bool:
    """``flag`` on every rank (e.g. "every sample converged"); ``flag`` outside a step."""
    if _BATCH is None:
        return flag
    t = all_reduce_(torch.tensor([0.0 if flag else 1.0]), what="a stopping rule")
    return float(t[0]) == 0.0


class DataParallel:
    """The data-parallel state of one ``fit`` / ``partial_fit`` call.

    Parameters
    ----------
    est : BaseSparseEstimator
        The estimator being trained.
    n_local : int
        This rank's number of rows.
    """

    def __init__(self, est, n_local: int):
        dist = torch.distributed
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        for m in est.module_.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                raise NotImplementedError(
                    f"{type(est).__name__}: data-parallel training of a module with BatchNorm "
                    "is not implemented (its running statistics would differ between ranks); "
                    "fit it in one process or choose a configuration without BatchNorm.")
        counts = torch.zeros(self.world, dtype=torch.int64)
        counts[self.rank] = n_local
        all_reduce_(counts, what="gathering the ranks' row counts")
        self.counts = counts.numpy()
        self.offset = int(self.counts[: self.rank].sum())
        self.n_local = int(n_local)
        self.n_total = int(self.counts.sum())
        self.bounds = np.concatenate([[0], np.cumsum(self.counts)])
        self.weight = 1.0
        self.batch_total = 0
        self._hooks: list = []

    def local(self, idx: np.ndarray) -> np.ndarray:
        """This rank's rows among the global row numbers ``idx`` (order kept)."""
        mine = (idx >= self.offset) & (idx < self.offset + self.n_local)
        return idx[mine] - self.offset

    def check_batches(self, batches: list[np.ndarray], est) -> None:
        """Every rank must own rows of every global batch (the same test on all ranks)."""
        for b in batches:
            owners = np.bincount(np.searchsorted(self.bounds, b, side="right") - 1,
                                 minlength=self.world)
            if owners.min() < 1:
                raise ValueError(
                    f"{type(est).__name__}: under a process group of {self.world} ranks, a "
                    f"global batch of {len(b)} rows holds no row of rank "
                    f"{int(owners.argmin())} (local row counts {self.counts.tolist()}); "
                    "increase batch_size (it is global) or spread the data more evenly.")

    def check_same_stream(self, rng: np.random.RandomState) -> None:
        """The ranks' batching streams must agree, or their batches would differ."""
        state = rng.get_state()
        # crc32, not hash(): Python salts the hash of bytes per process.
        h = float(zlib.crc32(np.asarray(state[1]).tobytes(), int(state[2])))
        t = all_reduce_(torch.tensor([h, -h], dtype=torch.float64),
                        torch.distributed.ReduceOp.MAX, "comparing random streams")
        if float(t[0]) != -float(t[1]):
            raise DistributedTrainingError(
                "data-parallel fit: the ranks' random streams differ (different random_state "
                "or a model that draws from the estimator's stream per local row).")

    # ------------------------------------------------------------ gradients
    def install(self, optimizers) -> None:
        """Sum every optimizer's gradients over the ranks before it steps."""
        for opt in optimizers:
            self._hooks.append(opt.register_step_pre_hook(self._reduce_grads))

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def _reduce_grads(self, optimizer, args, kwargs) -> None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        if not params:
            return
        ref = params[0]
        parts = [(p.grad.reshape(-1) * self.weight) if p.grad is not None
                 else torch.zeros(p.numel(), dtype=ref.dtype, device=ref.device)
                 for p in params]
        # A gradient that is None on every rank stays None (the optimizer skips it).
        has = torch.tensor([p.grad is not None for p in params], dtype=ref.dtype,
                           device=ref.device)
        flat = all_reduce_(torch.cat([*(q.to(ref.dtype) for q in parts), has]),
                           what="summing gradients")
        pos = 0
        flags = flat[flat.numel() - len(params):].tolist()  # one host sync
        for p, flag in zip(params, flags, strict=True):
            n = p.numel()
            if flag > 0:
                g = flat[pos:pos + n].view_as(p).to(p.dtype)
                if p.grad is None:
                    p.grad = g.clone()
                else:
                    p.grad.copy_(g)
            pos += n

    # --------------------------------------------------------------- batches
    def enter_batch(self, n_local: int, n_global: int) -> None:
        global _BATCH
        self.weight = n_local / n_global
        self.batch_total = n_global
        _BATCH = self

    def exit_batch(self) -> None:
        global _BATCH
        _BATCH = None

    def reduce_record(self, sums: dict, n_batches: int) -> dict:
        """Row-weighted sums of the ranks' statistics -> per-epoch means (same keys)."""
        keys = sorted(sums)
        t = torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64)
        all_reduce_(t, what="reducing the epoch's statistics")
        return {k: float(v) / n_batches for k, v in zip(keys, t.tolist(), strict=True)}

    def reduce_mean(self, total: float, count: int) -> float:
        t = all_reduce_(torch.tensor([total, float(count)], dtype=torch.float64),
                        what="reducing the validation loss")
        return float(t[0]) / max(float(t[1]), 1.0)
