"""Timing and the hardware description of a run (shared with ``benchmarks/``)."""

from __future__ import annotations

import os
import platform
import statistics
import time

from sklearn.base import clone

from .interrupt import fit

__all__ = ["describe_hardware", "fit_timed", "hardware", "median_time", "sync"]


def sync() -> None:
    """Wait for queued GPU work, so that wall-clock times measure it."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_time(fn, repeats: int = 3) -> tuple[object, float, list[float]]:
    """Run ``fn`` ``repeats`` times; return (last result, median seconds, all times)."""
    times, out = [], None
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times), times


def fit_timed(est, X, repeats: int, repeat_budget_s: float):
    """Fit ``repeats`` clones (fewer once ``repeat_budget_s`` is spent); keep the last.

    Returns (fitted estimator, median seconds, all times). An interrupted fit
    raises :class:`KeyboardInterrupt` (see :func:`.interrupt.fit`).
    """
    times, fitted = [], None
    for _ in range(repeats):
        model = clone(est)
        sync()
        t0 = time.perf_counter()
        fit(model, X)  # Ctrl-C: KeyboardInterrupt, never a truncated model
        sync()
        times.append(time.perf_counter() - t0)
        fitted = model
        if sum(times) >= repeat_budget_s:
            break
    return fitted, statistics.median(times), times


def hardware() -> dict:
    """CPU, GPU, thread setting and library versions of this machine, for a results file.

    ``torch_threads`` is PyTorch's own thread count; ``n_threads`` the
    skdeepsparse thread policy in effect (:func:`skdeepsparse.get_config`),
    which lowers it during each call under ``"auto"``.
    """
    import numpy
    import sklearn
    import torch

    from skdeepsparse import __version__, get_config

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "n_threads": get_config()["n_threads"], "torch": torch.__version__,
            "sklearn": sklearn.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "skdeepsparse": __version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def describe_hardware(hw: dict) -> str:
    """One sentence of :func:`hardware`'s record, for a report (older records lack some keys)."""
    threads = f"{hw['torch_threads']} torch threads"
    if "n_threads" in hw:
        threads += f", n_threads={hw['n_threads']!r}"
    device = hw.get("gpu", f"{hw['cpu']} ({hw['cpu_count']} cores, {threads})")
    versions = ", ".join(f"{label} {hw[key]}" for key, label in (
        ("torch", "torch"), ("sklearn", "scikit-learn"), ("numpy", "numpy"),
        ("skdeepsparse", "skdeepsparse")) if key in hw)
    return f"Run on {device}; {versions}. Times and figures vary by CPU."
