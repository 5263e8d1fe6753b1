"""Checks shared by the estimators: parameters (what a constraint table cannot
say), devices and the scale of the data."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_array

from ._optim import MAIN, param_name

__all__ = ["check_codes", "check_common_params", "check_data_scale", "check_image_shape",
           "check_input_scale", "check_layer_sizes", "check_output_finite", "image_shape3",
           "resolve_device"]

# For ``_input_scale = "<name of a std parameter>"``: the data's root-mean-square
# may be at most this many times larger or smaller than that std (in data units)
# before the fit warns. Pixels in [0, 1] (RMS 0.3-0.4) or standardised features
# (RMS 1) against the defaults 0.14-0.3 are 1-8x; 0..16 pixels are 25-60x.
_SCALE_RATIO_LIMIT = 20.0


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


def check_data_scale(est, X: np.ndarray) -> None:
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
            f"{type(est).__name__}: the data reach |x| = {peak:.3g}, beyond what "
            f"{X.dtype} arithmetic can square without overflow (about {limit:.3g} for "
            f"{X.shape[1]} features). Rescale the data (e.g. with StandardScaler) first."
        )

def check_input_scale(est, X: np.ndarray) -> None:
    """Warn when the data are not on the scale the model's likelihood needs."""
    need = est._input_scale
    if need is None or X.size == 0:
        return
    name = type(est).__name__
    lo, hi = float(X.min()), float(X.max())
    if isinstance(need, str):
        std = getattr(est, need)
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
                UserWarning, stacklevel=4,
            )
        return
    low, high = need
    slack = 1e-6 * max(high - low, 1.0)
    if lo < low - slack or hi > high + slack:
        warnings.warn(
            f"{name}: the likelihood of this model needs data in [{low:g}, {high:g}] "
            f"({est._input_scale_reason or 'its output range'}), but these data range "
            f"over [{lo:.4g}, {hi:.4g}]. Rescale them first (e.g. MinMaxScaler) or "
            "the fit will be poor.",
            UserWarning, stacklevel=4,
        )


def _positive_ints(values) -> bool:
    return all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in values)


def check_layer_sizes(est, name: str, *, allow_empty: bool = True) -> tuple[int, ...]:
    """Return ``getattr(est, name)`` as a tuple of positive ints, or raise naming it."""
    value = getattr(est, name)
    sizes = tuple(value) if isinstance(value, (tuple, list)) else None
    if sizes is None or not _positive_ints(sizes) or (not allow_empty and not sizes):
        need = "a non-empty" if not allow_empty else "a"
        raise ValueError(
            f"The '{name}' parameter of {type(est).__name__} must be {need} tuple of "
            f"positive ints (layer widths); got {value!r}."
        )
    return sizes


def check_image_shape(est, n_features: int, *, required: bool, why: str = "") -> None:
    """Check ``est.image_shape`` against the data's width.

    ``required``: the chosen architecture needs it (``why`` says which).
    """
    shape = est.image_shape
    if shape is None:
        if required:
            raise ValueError(
                f"{why} needs image_shape=(height, width) or (channels, height, width); "
                "got image_shape=None."
            )
        return
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else None
    if shape is None or len(shape) not in (2, 3) or not _positive_ints(shape):
        raise ValueError(
            "The 'image_shape' parameter must be (height, width) or (channels, height, "
            f"width) of positive ints; got {est.image_shape!r}."
        )
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={shape} has {math.prod(shape)} pixels but X has {n_features} "
            "features."
        )


def image_shape3(image_shape) -> tuple[int, int, int]:
    """``(C, H, W)`` from ``(H, W)`` or ``(C, H, W)``."""
    shape = tuple(int(s) for s in image_shape)
    return shape if len(shape) == 3 else (1, *shape)


def check_common_params(est) -> None:
    """Checks of the shared parameters that the constraint tables cannot express."""
    # sklearn's Interval(Integral) accepts True/False (bool is an int): refuse
    # them where a number is meant.
    for name, constraints in est._parameter_constraints.items():
        value = getattr(est, name, None)
        if isinstance(value, (bool, np.bool_)) and "boolean" not in constraints:
            raise ValueError(
                f"The '{name}' parameter of {type(est).__name__} must be a number or "
                f"one of its documented values, not the boolean {value!r}."
            )
    for group in (MAIN, *est._optimizer_groups):
        name = param_name(group, "adam_betas")
        betas = getattr(est, name, None)
        if betas is None and group != MAIN:
            continue
        if len(tuple(betas)) != 2 or not all(
            isinstance(b, Real) and not isinstance(b, bool) and 0 <= b < 1 for b in betas
        ):
            raise ValueError(
                f"The '{name}' parameter of {type(est).__name__} must be two floats "
                f"in [0, 1); got {betas!r}."
            )
    if est.batch_size < est._min_batch_size:
        raise ValueError(
            f"The 'batch_size' parameter of {type(est).__name__} must be >= "
            f"{est._min_batch_size} ({est._min_batch_reason}); got {est.batch_size}."
        )


def check_codes(est, Z) -> np.ndarray:
    """Validate codes given to ``inverse_transform``."""
    Z = check_array(Z, dtype=[np.float64, np.float32], accept_sparse=False)
    if Z.shape[1] != est._n_features_out:
        raise ValueError(
            f"Codes have {Z.shape[1]} features, but {type(est).__name__} has "
            f"{est._n_features_out} components."
        )
    return Z


def check_output_finite(est, out: np.ndarray, method: str, what: str) -> None:
    """Refuse non-finite results of a fitted model."""
    if not np.isfinite(out).all():
        raise ValueError(
            f"{type(est).__name__}.{method} produced non-finite values: the {what} "
            "are too large for the fitted model in this dtype."
        )
