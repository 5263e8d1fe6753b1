"""Figures: atom grids and reconstructions (needs the ``plot`` extra: matplotlib)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot_atoms", "plot_reconstructions"]


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib: pip install 'skdeepsparse[plot]'."
        ) from exc
    return plt


def _grid(images: np.ndarray, shape: tuple[int, int], n_cols: int, normalize: bool):
    n = images.shape[0]
    n_rows = math.ceil(n / n_cols)
    h, w = shape
    canvas = np.full((n_rows * (h + 1) + 1, n_cols * (w + 1) + 1), np.nan)
    for i, img in enumerate(images):
        img = img.reshape(h, w).astype(np.float64)
        if normalize:
            m = np.abs(img).max()
            img = img / m if m > 0 else img
        r, c = divmod(i, n_cols)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = img
    return canvas


def plot_atoms(components, image_shape, *, n_atoms: int | None = None, n_cols: int | None = None,
               title: str | None = None, filename=None, ax=None):
    """Show dictionary atoms as a grid of images, each scaled to its own max.

    Parameters
    ----------
    components : array-like of shape (n_components, n_features)
    image_shape : tuple of int
        (height, width) with ``height * width == n_features``.
    n_atoms : int, optional
        Show only the first ``n_atoms``.
    n_cols : int, optional
    title : str, optional
    filename : str or path, optional
        Save the figure there (PNG).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    comps = np.asarray(components)[: n_atoms or None]
    n_cols = n_cols or int(math.ceil(math.sqrt(len(comps))))
    canvas = _grid(comps, image_shape, n_cols, normalize=True)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 6 * canvas.shape[0] / canvas.shape[1]))
    else:
        fig = ax.figure
    ax.imshow(canvas, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if filename is not None:
        fig.savefig(filename, dpi=100, bbox_inches="tight")
    return fig


def plot_reconstructions(X, X_hat, image_shape, *, n: int = 10, filename=None):
    """Originals (top row) above reconstructions (bottom row)."""
    plt = _plt()
    X, X_hat = np.asarray(X)[:n], np.asarray(X_hat)[:n]
    fig, axes = plt.subplots(2, len(X), figsize=(len(X), 2.2))
    for i in range(len(X)):
        for row, data in enumerate((X, X_hat)):
            axes[row, i].imshow(data[i].reshape(image_shape), cmap="gray", vmin=0, vmax=1)
            axes[row, i].set_axis_off()
    if filename is not None:
        fig.savefig(filename, dpi=100, bbox_inches="tight")
    return fig
