"""Global configuration: the number of CPU threads the estimators may use.

The estimators compute with PyTorch, whose CPU kernels run on an intra-op
thread pool (OpenMP, and MKL for matrix products) sized to the machine's cores
by default. On a machine shared with other processes, or inside a search whose
workers already run in parallel, that default oversubscribes the cores and
makes everything several times slower. :func:`set_config` and
:func:`config_context` set a limit, which every estimator applies around
``fit``, ``partial_fit``, ``transform``, ``inverse_transform``, ``score`` and
its other batched methods with :func:`torch.set_num_threads`, restoring the
previous value afterwards.

Without a limit (``n_threads=None``, the default) PyTorch's own setting is
kept, and with it the limits that PyTorch already honours: a
``threadpoolctl.threadpool_limits`` block (which lowers the OpenMP pool
that PyTorch reads) and joblib's worker limits
(:obj:`joblib.parallel_config` with ``inner_max_num_threads``, and by default
``cpu_count() // n_jobs`` threads per loky worker).
"""

from __future__ import annotations

import functools
import os
import threading
from contextlib import contextmanager
from numbers import Integral

__all__ = ["get_config", "set_config", "config_context", "limit_threads"]

_ENV_N_THREADS = "SKDEEPSPARSE_N_THREADS"


def _check_n_threads(value, source: str = "n_threads"):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{source} must be None or a positive int; got {value!r}.")
    return int(value)


def _default_n_threads():
    raw = os.environ.get(_ENV_N_THREADS, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"${_ENV_N_THREADS} must be a positive integer; got {raw!r}."
        ) from None
    return _check_n_threads(value, f"${_ENV_N_THREADS}")


# The process-wide setting (set_config) and a per-thread override (config_context).
_global_config: dict = {"n_threads": _default_n_threads()}
_local = threading.local()


def get_config() -> dict:
    """The current configuration.

    Returns
    -------
    config : dict
        ``{"n_threads": int or None}``: the thread limit in effect in the
        calling thread.

    See Also
    --------
    set_config : Set the process-wide configuration.
    config_context : Change it within a ``with`` block.
    """
    override = getattr(_local, "config", None)
    return dict(_global_config if override is None else override)


def set_config(n_threads=None) -> None:
    """Set the process-wide configuration of skdeepsparse.

    Parameters
    ----------
    n_threads : int or None, default=None
        Most CPU threads PyTorch may use inside an estimator's ``fit``,
        ``partial_fit``, ``transform``, ``score`` and other batched methods,
        and inside :func:`~skdeepsparse.sparse_encode`. The limit is applied
        with :func:`torch.set_num_threads` on entry and the previous value is
        restored on exit; it never raises the number of threads above what
        PyTorch would use anyway (for instance inside a
        ``threadpoolctl.threadpool_limits`` block). ``None`` keeps
        PyTorch's own setting. The initial value comes from the environment
        variable ``SKDEEPSPARSE_N_THREADS`` when it is set.

    See Also
    --------
    config_context : The same setting for the duration of a ``with`` block.
    get_config : The current setting.

    Notes
    -----
    :func:`torch.set_num_threads` is process-wide: two threads that fit
    estimators at the same time under different limits share one PyTorch
    thread pool, and the one that finishes last restores its own previous
    value.

    Examples
    --------
    >>> import skdeepsparse
    >>> skdeepsparse.set_config(n_threads=1)
    >>> skdeepsparse.get_config()["n_threads"]
    1
    >>> skdeepsparse.set_config(n_threads=None)
    """
    _global_config["n_threads"] = _check_n_threads(n_threads)


@contextmanager
def config_context(*, n_threads=None):
    """Change the configuration within a ``with`` block (in the calling thread).

    Parameters
    ----------
    n_threads : int or None, default=None
        See :func:`set_config`. ``None`` within the block means "no limit".

    Yields
    ------
    None

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepsparse import VarianceRegDictionaryLearner, config_context
    >>> X = load_digits().data[:200] / 16
    >>> with config_context(n_threads=1):
    ...     codes = VarianceRegDictionaryLearner(
    ...         n_components=8, max_epochs=1, device="cpu", random_state=0
    ...     ).fit_transform(X)
    >>> codes.shape
    (200, 8)
    """
    previous = getattr(_local, "config", None)
    _local.config = {**get_config(), "n_threads": _check_n_threads(n_threads)}
    try:
        yield
    finally:
        _local.config = previous


@contextmanager
def _thread_limit():
    """Apply the configured thread limit to PyTorch for the duration of a call."""
    limit = get_config()["n_threads"]
    if limit is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    target = min(limit, previous)
    if target == previous:
        yield
        return
    torch.set_num_threads(target)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def limit_threads(func):
    """Decorator: run ``func`` within the configured thread limit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _thread_limit():
            return func(*args, **kwargs)

    return wrapper
