"""Quality metrics, one definition each (see DESIGN.md)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "psnr",
    "code_sparsity",
    "active_components",
    "active_components_kl",
    "active_components_variance",
]


def psnr(X_true, X_pred, *, data_range: float = 1.0, mse_floor: float = 1e-4) -> float:
    """Peak signal-to-noise ratio per sample, averaged, in dB.

    Parameters
    ----------
    X_true, X_pred : array-like of shape (n_samples, n_features)
        Images (one per row) in pixel space, e.g. [0, 1].
    data_range : float, default=1.0
        Peak value (1 for [0, 1] images).
    mse_floor : float, default=1e-4
        Per-image MSE is floored at this value, which caps PSNR at 40 dB for
        ``data_range=1``; no clipping of reconstructions.

    Returns
    -------
    float
    """
    X_true = np.asarray(X_true, dtype=np.float64)
    X_pred = np.asarray(X_pred, dtype=np.float64)
    if X_true.shape != X_pred.shape:
        raise ValueError(f"Shapes differ: {X_true.shape} vs {X_pred.shape}.")
    X_true = X_true.reshape(X_true.shape[0], -1)
    X_pred = X_pred.reshape(X_pred.shape[0], -1)
    mse = np.maximum(((X_true - X_pred) ** 2).mean(axis=1), mse_floor)
    return float(np.mean(10.0 * np.log10(data_range**2 / mse)))


def code_sparsity(codes, threshold: float = 0.0) -> float:
    """Fraction of code entries with ``|z| <= threshold``.

    With ``threshold=0`` this is the fraction of exact zeros (report as % zeros).
    """
    codes = np.asarray(codes)
    return float(np.mean(np.abs(codes) <= threshold))


def active_components(codes, threshold: float = 0.0, min_fraction: float = 0.01) -> int:
    """Number of latents with ``|z| > threshold`` on at least ``min_fraction`` of samples."""
    codes = np.asarray(codes)
    usage = np.mean(np.abs(codes) > threshold, axis=0)
    return int(np.sum(usage >= min_fraction))


def active_components_kl(kl, threshold: float = 0.1) -> int:
    """Number of latents whose mean KL (nats, over samples) exceeds ``threshold``.

    Parameters
    ----------
    kl : array-like of shape (n_samples, n_components)
        Per-sample, per-latent KL divergences of the posterior from the prior.
    """
    return int(np.sum(np.asarray(kl).mean(axis=0) > threshold))


def active_components_variance(means, threshold: float = 0.01) -> int:
    """Latents whose posterior mean varies over samples: ``Var_x(E[z_k|x]) > threshold``.

    The "active units" rule of Burda et al. (2016).
    """
    return int(np.sum(np.asarray(means).var(axis=0) > threshold))
