"""Evaluation protocols: the low-data linear probe and denoising."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from .metrics import psnr

__all__ = ["sample_per_class", "linear_probe", "low_data_probe", "denoising_scores"]


def sample_per_class(y, n_per_class: int, random_state=None) -> np.ndarray:
    """Indices of ``n_per_class`` random samples of every class of ``y``.

    Raises
    ------
    ValueError
        If a class has fewer than ``n_per_class`` samples.
    """
    y = np.asarray(y)
    rng = check_random_state(random_state)
    idx = []
    for cls in np.unique(y):
        pool = np.flatnonzero(y == cls)
        if len(pool) < n_per_class:
            raise ValueError(
                f"class {cls!r} has {len(pool)} samples; n_per_class={n_per_class} is too many."
            )
        idx.append(rng.choice(pool, n_per_class, replace=False))
    return np.concatenate(idx)


def linear_probe(
    Z_train,
    y_train,
    Z_test,
    y_test,
    *,
    n_per_class: Sequence[int] = (1, 5, 10, 100),
    n_seeds: int = 5,
    random_state=0,
    C: float = 1.0,
    max_iter: int = 2000,
) -> dict[int, dict]:
    """Low-data classification accuracy of a linear model on fixed features.

    For each ``k`` in ``n_per_class`` and each of ``n_seeds`` seeds, ``k``
    labelled samples per class are drawn from the training features, a
    ``Pipeline(StandardScaler, LogisticRegression)`` is fitted on them, and its
    accuracy is measured on the full test set.

    Parameters
    ----------
    Z_train, Z_test : array-like of shape (n_samples, n_features)
        Features (codes, or raw pixels as the baseline).
    y_train, y_test : array-like of shape (n_samples,)
        Labels.
    n_per_class : sequence of int, default=(1, 5, 10, 100)
    n_seeds : int, default=5
    random_state : int, default=0
        Seed of the first draw; draw ``s`` uses ``random_state + s``.
    C : float, default=1.0
        Inverse L2 strength of the logistic regression.
    max_iter : int, default=2000

    Returns
    -------
    dict
        ``{k: {"mean": float, "std": float, "scores": list}}``.
    """
    Z_train = np.asarray(Z_train)
    Z_test = np.asarray(Z_test)
    y_train = np.asarray(y_train)
    y_test = np.asarray(y_test)
    results = {}
    for k in n_per_class:
        scores = []
        for s in range(n_seeds):
            idx = sample_per_class(y_train, k, random_state + s)
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
            clf.fit(Z_train[idx], y_train[idx])
            scores.append(float(clf.score(Z_test, y_test)))
        results[int(k)] = {
            "mean": float(np.mean(scores)),
            "std": float(np.std(scores)),
            "scores": scores,
        }
    return results


def low_data_probe(transformer, X_train, y_train, X_test, y_test, **kwargs) -> dict[int, dict]:
    """:func:`linear_probe` on the codes of a fitted ``transformer``.

    ``transformer=None`` probes the raw features (the pixel baseline).
    """
    if transformer is None:
        return linear_probe(X_train, y_train, X_test, y_test, **kwargs)
    return linear_probe(
        transformer.transform(X_train), y_train, transformer.transform(X_test), y_test, **kwargs
    )


def denoising_scores(
    estimator, X_clean, noise_std: float, *, random_state=0, clip: bool = False
) -> dict[str, float]:
    """Denoise by encoding and decoding noisy inputs; PSNR against the clean images.

    Gaussian noise of std ``noise_std`` is added in the data's units (pixels in
    [0, 1]), the noisy images go through ``transform`` then
    ``inverse_transform`` (``codes @ components_`` where there is none), and
    both the noisy input and the reconstruction are
    compared with the *clean* images.

    Returns
    -------
    dict
        ``psnr_noisy``, ``psnr_denoised`` (dB).
    """
    X_clean = np.asarray(X_clean)
    rng = check_random_state(random_state)
    noisy = (X_clean + noise_std * rng.standard_normal(X_clean.shape)).astype(X_clean.dtype)
    codes = estimator.transform(noisy)
    if hasattr(estimator, "inverse_transform"):
        recon = estimator.inverse_transform(codes)
    else:  # scikit-learn < 1.7: dictionary learners have no inverse_transform yet
        recon = codes @ estimator.components_
    if clip:
        recon = np.clip(recon, 0.0, 1.0)
    return {"psnr_noisy": psnr(X_clean, noisy), "psnr_denoised": psnr(X_clean, recon)}
