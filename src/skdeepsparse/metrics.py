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


def ssim(
    X_true,
    X_pred,
    image_shape: tuple[int, int],
    *,
    data_range: float = 1.0,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Structural similarity (Wang et al., 2004) per image, averaged.

    Local statistics use an isotropic Gaussian window of std ``sigma`` (11x11
    taps for ``sigma=1.5``), without the sample-covariance correction; the
    map is averaged over the pixels at least 5 away from the border (those
    whose window fits in the image), as in scikit-image's
    ``structural_similarity(gaussian_weights=True, use_sample_covariance=False)``.

    Parameters
    ----------
    X_true, X_pred : array-like of shape (n_samples, n_features)
        Grey images, one per row, ``n_features == height * width``.
    image_shape : tuple of int
        (height, width).
    data_range : float, default=1.0
        Peak-to-peak range of the pixels (1 for [0, 1] images).
    sigma : float, default=1.5
        Std of the Gaussian window.
    k1, k2 : float, default=0.01, 0.03
        The standard stabilising constants: ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``.

    Returns
    -------
    float
        Mean SSIM in [-1, 1] (1 for identical images).
    """
    from scipy.ndimage import gaussian_filter

    h, w = image_shape
    X_true = np.asarray(X_true, dtype=np.float64)
    X_pred = np.asarray(X_pred, dtype=np.float64)
    if X_true.shape != X_pred.shape:
        raise ValueError(f"Shapes differ: {X_true.shape} vs {X_pred.shape}.")
    a = X_true.reshape(-1, h, w)
    b = X_pred.reshape(-1, h, w)

    def blur(v):
        return gaussian_filter(v, sigma=(0.0, sigma, sigma), truncate=3.5, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    smap = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    pad = int(3.5 * sigma + 0.5)
    if h > 2 * pad and w > 2 * pad:
        smap = smap[:, pad : h - pad, pad : w - pad]
    return float(smap.reshape(smap.shape[0], -1).mean(axis=1).mean())


__all__ += ["ssim"]


# ------------------------------------------------------------ filter quality
def _filter_stack(filters, image_shape) -> np.ndarray:
    h, w = image_shape
    F = np.asarray(filters, dtype=np.float64)
    if F.ndim == 1:
        F = F[None]
    if F.shape[-1] != h * w and F.shape[-2:] != (h, w):
        raise ValueError(f"Filters of {F.shape[-1]} features do not match image_shape "
                         f"{tuple(image_shape)}.")
    return F.reshape(-1, h, w)


def _top_share(power: np.ndarray, top: float) -> np.ndarray:
    """Share of each row's total in its largest ``top`` fraction of entries."""
    P = np.sort(power.reshape(len(power), -1), axis=1)[:, ::-1]
    k = max(1, int(round(top * P.shape[1])))
    total = P.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = P[:, :k].sum(1) / total
    return np.where(total > 0, share, 0.0)


def spectral_concentration(filters, image_shape, *, top: float = 0.1) -> np.ndarray:
    """Share of each filter's power in its strongest ``top`` fraction of 2-D DFT terms.

    Scale-free (each filter is compared with itself). About 0.3 for white-noise
    12x12 filters, near ``top`` for a single-pixel spot (flat spectrum), high
    for a filter tuned to one spatial frequency and orientation (a Gabor or a
    plane wave).

    Parameters
    ----------
    filters : array-like of shape (n_filters, height * width)
    image_shape : tuple of int
        (height, width).
    top : float, default=0.1

    Returns
    -------
    ndarray of shape (n_filters,)
    """
    F = _filter_stack(filters, image_shape)
    return _top_share(np.abs(np.fft.fft2(F)) ** 2, top)


def spatial_concentration(filters, image_shape, *, top: float = 0.1) -> np.ndarray:
    """Share of each filter's energy in its strongest ``top`` fraction of pixels.

    The pixel-domain twin of :func:`spectral_concentration`: about 0.3 for
    white noise (12x12), near 1 for a spot, low for a plane wave, high for a
    localised filter.
    """
    F = _filter_stack(filters, image_shape)
    return _top_share(F**2, top)


def _noise_thresholds(image_shape, top, quantile, n_noise=4000, seed=0):
    h, w = image_shape
    noise = np.random.RandomState(seed).randn(n_noise, h * w)
    return (np.quantile(spectral_concentration(noise, image_shape, top=top), quantile),
            np.quantile(spatial_concentration(noise, image_shape, top=top), quantile))


def gabor_like_fraction(filters, image_shape, *, top: float = 0.1,
                        noise_quantile: float = 0.99, localised: bool = True,
                        return_mask: bool = False):
    """Share of filters that are localised *and* tuned in spatial frequency.

    A filter counts when both its :func:`spatial_concentration` and its
    :func:`spectral_concentration` exceed the ``noise_quantile`` of the same
    statistic over white-noise filters of the same shape (4,000 draws, fixed
    seed). By the uncertainty principle only filters compact in space and in
    frequency at once pass: Gabor-like receptive fields do; white noise (spread
    in both), single-pixel spots (flat spectrum) and plane waves (spread in
    space) do not. The measure is scale-free: each filter is normalised by its
    own energy, so shrunk ("dead") filters are judged by their shape alone.

    Parameters
    ----------
    filters : array-like of shape (n_filters, height * width)
    image_shape : tuple of int
        (height, width).
    top : float, default=0.1
        Fraction of pixels / Fourier coefficients whose share is measured.
    noise_quantile : float, default=0.99
        Quantile of the noise distribution used as threshold.
    localised : bool, default=True
        Require spatial concentration too. With False only the spectrum is
        tested ("oriented / frequency-tuned" filters, plane waves included).
    return_mask : bool, default=False
        Also return the per-filter boolean mask.

    Returns
    -------
    fraction : float
    mask : ndarray of bool, shape (n_filters,)
        Only when ``return_mask=True``.
    """
    if not 0 < top < 1:
        raise ValueError(f"top must be in (0, 1); got {top!r}.")
    if not 0 < noise_quantile < 1:
        raise ValueError(f"noise_quantile must be in (0, 1); got {noise_quantile!r}.")
    t_freq, t_space = _noise_thresholds(tuple(image_shape), top, noise_quantile)
    mask = spectral_concentration(filters, image_shape, top=top) > t_freq
    if localised:
        mask &= spatial_concentration(filters, image_shape, top=top) > t_space
    frac = float(mask.mean()) if mask.size else float("nan")
    return (frac, mask) if return_mask else frac


__all__ += ["spectral_concentration", "spatial_concentration", "gabor_like_fraction"]
