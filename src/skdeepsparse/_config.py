"""Global configuration: CPU threads, and the post-fit collapse check.

The estimators compute with PyTorch, whose CPU kernels run on an intra-op
thread pool (OpenMP, and MKL for matrix products) sized to the machine's cores
by default. On a machine shared with other processes, or inside a search whose
workers already run in parallel, that default oversubscribes the cores and
makes everything several times slower (4-12x with one busy process beside a
2-core fit). :func:`set_config` and :func:`config_context` set the policy,
which every estimator applies around ``fit``, ``partial_fit``, ``transform``,
``inverse_transform``, ``score`` and its other batched methods with
:func:`torch.set_num_threads`, restoring the previous value afterwards.

``n_threads="auto"`` (the default) decides at each call: PyTorch's own thread
count, lowered to the cores that no other task is using at that moment
(measured at most once a second), and never below 1. On a quiet machine that is
PyTorch's default; beside a busy process it is fewer threads, so a fit never
competes with itself for a core. An estimator may cap it further
(``_auto_threads``: a model whose kernels are too small to gain from a second
thread). An int is a fixed limit; ``None`` keeps PyTorch's setting as is.

``check_collapse`` decides when ``fit`` checks that the codes have not
collapsed (:mod:`skdeepsparse._diagnostics`): ``"auto"`` (the default) after a
fit large enough to judge, ``True`` after every fit, ``False`` never.

Whatever the setting, the limits that PyTorch already honours stay in force:
a ``threadpoolctl.threadpool_limits`` block (which lowers the OpenMP pool that
PyTorch reads) and joblib's worker limits (:obj:`joblib.parallel_config` with
``inner_max_num_threads``, and by default ``cpu_count() // n_jobs`` threads per
loky worker): no setting raises the thread count above PyTorch's.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from contextlib import contextmanager
from numbers import Integral

__all__ = ["config_context", "get_config", "limit_threads", "set_config"]

_ENV_N_THREADS = "SKDEEPSPARSE_N_THREADS"
_AUTO = "auto"


class _Unchanged:
    """Default of :func:`set_config` and :func:`config_context`: keep the value
    in effect (``None`` cannot say so: it is a value of ``n_threads``)."""

    def __repr__(self) -> str:
        return "<unchanged>"


_UNCHANGED = _Unchanged()


def _check_n_threads(value, source: str = "n_threads"):
    if value is None or (isinstance(value, str) and value == _AUTO):
        return value
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{source} must be 'auto', None or a positive int; got {value!r}.")
    return int(value)


def _check_collapse_setting(value):
    if isinstance(value, bool) or (isinstance(value, str) and value == _AUTO):
        return value
    raise ValueError(f"check_collapse must be 'auto', True or False; got {value!r}.")


def _updated(config: dict, n_threads, check_collapse) -> dict:
    """``config`` with the given settings validated and changed (the others kept)."""
    config = dict(config)
    if n_threads is not _UNCHANGED:
        config["n_threads"] = _check_n_threads(n_threads)
    if check_collapse is not _UNCHANGED:
        config["check_collapse"] = _check_collapse_setting(check_collapse)
    return config


def _default_n_threads():
    raw = os.environ.get(_ENV_N_THREADS, "").strip()
    if not raw:
        return _AUTO
    if raw.lower() == _AUTO:
        return _AUTO
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"${_ENV_N_THREADS} must be 'auto' or a positive integer; got {raw!r}."
        ) from None
    return _check_n_threads(value, f"${_ENV_N_THREADS}")


# The process-wide setting (set_config) and a per-thread override (config_context).
_global_config: dict = {"n_threads": _default_n_threads(), "check_collapse": _AUTO}
_local = threading.local()


def get_config() -> dict:
    """The current configuration.

    Returns
    -------
    config : dict
        ``{"n_threads": "auto", int or None, "check_collapse": "auto" or bool}``:
        the settings in effect in the calling thread.

    See Also
    --------
    set_config : Set the process-wide configuration.
    config_context : Change it within a ``with`` block.
    """
    override = getattr(_local, "config", None)
    return dict(_global_config if override is None else override)


def set_config(n_threads=_UNCHANGED, check_collapse=_UNCHANGED) -> None:
    """Set the process-wide configuration of skdeepsparse.

    A setting not given keeps its current value. The initial values are
    ``n_threads="auto"`` (or ``$SKDEEPSPARSE_N_THREADS``) and
    ``check_collapse="auto"``.

    Parameters
    ----------
    n_threads : "auto", int or None, optional
        CPU threads PyTorch may use inside an estimator's ``fit``,
        ``partial_fit``, ``transform``, ``score`` and other batched methods,
        and inside :func:`~skdeepsparse.sparse_encode`. ``"auto"``: decided at
        each call, PyTorch's thread count lowered to the cores no other task
        is using (measured at most once a second), at least 1; an int: at most that
        many; ``None``: PyTorch's own setting, untouched. The value is applied
        with :func:`torch.set_num_threads` on entry and the previous one is
        restored on exit; it never raises the number of threads above what
        PyTorch would use anyway (for instance inside a
        ``threadpoolctl.threadpool_limits`` block). The initial value comes
        from the environment variable ``SKDEEPSPARSE_N_THREADS`` (``auto`` or
        an integer) when it is set.
    check_collapse : "auto" or bool, optional
        When ``fit`` checks that the codes have not collapsed (most latents
        inactive, or a reconstruction no better than the mean row), warning
        with a :class:`~sklearn.exceptions.ConvergenceWarning` that names the
        likely cause and the parameter to change. The check encodes (and
        decodes) at most 1,000 evenly spaced training rows once the fit has
        succeeded; ``partial_fit`` never runs it. ``"auto"``: only after a fit
        on at least 1,000 rows whose model has taken at least 100 optimizer
        steps (a smaller or shorter fit is a trial run, too small to judge);
        ``True``: after every ``fit``; ``False``: never.

    See Also
    --------
    config_context : The same setting for the duration of a ``with`` block.
    get_config : The current setting.

    Notes
    -----
    :func:`torch.set_num_threads` is process-wide: two threads that fit
    estimators at the same time under different limits share one PyTorch
    thread pool, and the one that finishes last restores its own previous
    value. With ``"auto"`` the thread count may differ from one call to the
    next as the machine's load changes; where results must be reproducible
    bit for bit across runs, set an int.

    Examples
    --------
    >>> import skdeepsparse
    >>> skdeepsparse.set_config(n_threads=1)
    >>> skdeepsparse.get_config()["n_threads"]
    1
    >>> skdeepsparse.set_config(n_threads="auto")
    """
    _global_config.update(_updated(_global_config, n_threads, check_collapse))


@contextmanager
def config_context(*, n_threads=_UNCHANGED, check_collapse=_UNCHANGED):
    """Change the configuration within a ``with`` block (in the calling thread).

    A setting not given keeps the value in effect.

    Parameters
    ----------
    n_threads : "auto", int or None, optional
        See :func:`set_config`. ``None`` within the block means "PyTorch's
        setting, untouched".
    check_collapse : "auto" or bool, optional
        See :func:`set_config`.

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
    _local.config = _updated(get_config(), n_threads, check_collapse)
    try:
        yield
    finally:
        _local.config = previous


# ----------------------------------------------------------------- the "auto" policy
# How long one measurement of the machine's load is reused: reading it costs a
# few milliseconds, which a loop of small transform calls should not pay each time.
_LOAD_TTL_S = 1.0
# Samples of the instantaneous run queue, and the pause between them: the median
# of a few ignores a task that happens to wake for a moment.
_LOAD_SAMPLES = 5
_LOAD_PAUSE_S = 0.002
_load_cache: dict = {"at": -float("inf"), "cores": None}
_load_lock = threading.Lock()


def _usable_cpus() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _other_tasks() -> float | None:
    """Tasks other than the calling thread that want a core now, or None if unknown.

    Linux: the median over a few samples of the run queue (``/proc/loadavg``'s
    runnable count, minus the caller), which sees a busy process at once and
    does not count this process's own past work, unlike the load average.
    Elsewhere: the 1-minute load average (it may count this process's last
    fit, which errs towards fewer threads); None where there is none (Windows).
    """
    samples = []
    try:
        for k in range(_LOAD_SAMPLES):
            if k:
                time.sleep(_LOAD_PAUSE_S)
            with open("/proc/loadavg") as f:
                runnable = int(f.read().split()[3].split("/")[0])
            samples.append(max(0, runnable - 1))
    except (OSError, ValueError, IndexError):
        samples = []
    if samples:
        samples.sort()
        # The run queue counts the whole machine; when this process may use
        # only some of its cores, its share of the other tasks is proportional.
        return samples[len(samples) // 2] * _usable_cpus() / (os.cpu_count() or 1)
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _available_cores() -> int | None:
    """Cores that no other task is using right now, as ``n_threads="auto"`` sees them.

    Measured at most once a second: the cores this process may run on, less
    the tasks of other processes (and of this process's other threads) that
    are ready to run.

    Returns
    -------
    cores : int or None
        At least 1; None where the operating system gives no load figure.
    """
    now = time.monotonic()
    with _load_lock:
        if now - _load_cache["at"] < _LOAD_TTL_S:
            return _load_cache["cores"]
    others = _other_tasks()
    cores = None if others is None else max(1, int(_usable_cpus() - others + 0.5))
    with _load_lock:
        _load_cache.update(at=time.monotonic(), cores=cores)
    return cores


def _resolve_threads(setting, current: int, cap: int | None = None) -> int:
    """The thread count a call runs with under ``setting``, given PyTorch's ``current``."""
    if setting is None:
        return current
    if setting == _AUTO:
        if current <= 1:
            return current  # nothing to lower: no need to measure the load
        target = current
        free = _available_cores()
        if free is not None:
            target = min(target, free)
        if cap is not None:
            target = min(target, cap)
        return max(1, target)
    return min(setting, current)


@contextmanager
def _thread_limit(cap: int | None = None):
    """Apply the configured thread policy to PyTorch for the duration of a call.

    ``cap`` bounds the ``"auto"`` policy only (a model's ``_auto_threads``:
    the most threads its kernels gain from); a fixed ``n_threads`` is honoured
    as given.
    """
    setting = get_config()["n_threads"]
    if setting is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    target = _resolve_threads(setting, previous, cap)
    if target == previous:
        yield
        return
    torch.set_num_threads(target)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def limit_threads(func):
    """Decorator: run ``func`` within the configured thread policy."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _thread_limit():
            return func(*args, **kwargs)

    return wrapper
