"""Parameter checks shared by the estimators (what a constraint table cannot say)."""

from __future__ import annotations

import math
from numbers import Integral

__all__ = ["check_layer_sizes", "check_image_shape", "image_shape3"]


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
