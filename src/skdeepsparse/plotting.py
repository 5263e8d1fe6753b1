"""Figures: atom grids, reconstructions and low-data accuracy curves.

Needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot_atoms", "plot_low_data", "plot_reconstructions"]


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib: pip install matplotlib (or, from a clone of "
            "skdeepsparse, pip install -e '.[plot]')."
        ) from exc
    return plt


def _grid(images: np.ndarray, shape: tuple[int, int], n_cols: int, normalize: bool):
    """Tile images into one canvas with NaN (background) one-pixel borders.

    NumPy does the tiling: pad every image with a border on its top and left,
    reshape the stack to (rows, cols, h+1, w+1), swap the middle axes and
    flatten; then the bottom and right border.
    """
    h, w = shape
    imgs = np.asarray(images, dtype=np.float64).reshape(-1, h, w)
    if normalize:
        peak = np.abs(imgs).max(axis=(1, 2), keepdims=True)
        imgs = np.divide(imgs, peak, out=imgs.copy(), where=peak > 0)
    n = imgs.shape[0]
    n_rows = max(1, math.ceil(n / n_cols))
    tiles = np.full((n_rows * n_cols, h + 1, w + 1), np.nan)
    tiles[:n, 1:, 1:] = imgs
    canvas = (tiles.reshape(n_rows, n_cols, h + 1, w + 1).swapaxes(1, 2)
              .reshape(n_rows * (h + 1), n_cols * (w + 1)))
    return np.pad(canvas, ((0, 1), (0, 1)), constant_values=np.nan)


def plot_atoms(components, image_shape, *, n_atoms: int | None = None, n_cols: int | None = None,
               title: str | None = None, filename=None, ax=None):
    """Show dictionary atoms as a grid of images, each scaled to its own max.

    Parameters
    ----------
    components : array-like of shape (n_components, n_features)
        The atoms (or any images), one per row.
    image_shape : tuple of int
        (height, width) with ``height * width == n_features``.
    n_atoms : int, optional
        Show only the first ``n_atoms``.
    n_cols : int, optional
        Images per row (default: a square grid).
    title : str, optional
        Title of the axes.
    filename : str or path, optional
        Save the figure there (PNG).
    ax : matplotlib Axes, optional
        Draw there instead of on a new figure.

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
    """Originals (top row) above reconstructions (bottom row).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Original images, flattened, values in [0, 1].
    X_hat : array-like of shape (n_samples, n_features)
        Their reconstructions.
    image_shape : tuple of int
        (height, width) with ``height * width == n_features``.
    n : int, default=10
        Number of images shown (the first ``n``).
    filename : str or path, optional
        Save the figure there (PNG).

    Returns
    -------
    matplotlib.figure.Figure
    """
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


def plot_low_data(frame, *, metric: str = "accuracy", title: str | None = None,
                  filename=None, ax=None):
    """Accuracy against labelled samples per class, one line per estimator.

    Draws the mean over the draws with error bars of one standard deviation
    (the population one, ``ddof=0``, as :func:`~skdeepsparse.evaluation.linear_probe`
    reports it), on a logarithmic axis of labels per class.

    Parameters
    ----------
    frame : pandas.DataFrame
        The result of :func:`skdeepsparse.evaluation.evaluate`: the columns
        ``estimator``, ``n_per_class`` and ``metric``, one row per draw.
    metric : str, default="accuracy"
        The column drawn.
    title : str, optional
        Title of the axes.
    filename : str or path, optional
        Save the figure there (PNG).
    ax : matplotlib Axes, optional
        Draw there instead of on a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = {"estimator", "n_per_class", metric} - set(getattr(frame, "columns", ()))
    if missing:
        raise ValueError(
            f"frame must be a DataFrame from evaluation.evaluate, with the columns "
            f"'estimator', 'n_per_class' and {metric!r}; missing {sorted(missing)}."
        )
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    # sort=False: the estimators keep the order in which they were given
    for name, rows in frame.groupby("estimator", sort=False):
        stats = rows.groupby("n_per_class")[metric].agg(["mean", lambda v: v.std(ddof=0)])
        stats.columns = ["mean", "std"]
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3,
                    label=str(name))
    ks = sorted(frame["n_per_class"].unique())
    ax.set_xscale("log")
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel("labelled samples per class")
    ax.set_ylabel(f"test {metric} (mean ± std over draws)")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    if filename is not None:
        fig.savefig(filename, dpi=100, bbox_inches="tight")
    return fig
