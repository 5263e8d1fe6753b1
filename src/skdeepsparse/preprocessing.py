"""Image preprocessing for sparse coding, as scikit-learn transformers.

- :class:`ImagePatches`: random or grid patches from a set of grey images.
- :func:`whiten_images` / :class:`OlshausenWhitening`: the 1/f whitening filter
  ``R(f) = f exp(-(f/f0)^4)`` of Olshausen & Field (1996) applied to whole images.
- :class:`ZCAWhitening`: ZCA (symmetric) whitening of vectors (patches).
- :class:`PatchNormalizer`: per-sample, global or per-feature standardisation.
- :class:`LocalContrastNormalizer`: Gaussian local mean subtraction and local
  contrast division (Evtimova & LeCun's ImageNet patches), per-sample deterministic.

The loader of whitened natural-image patches built from these is
:func:`skdeepsparse.datasets.load_natural_image_patches`.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._sklearn_compat import Interval, StrOptions

__all__ = [
    "ImagePatches",
    "OlshausenWhitening",
    "whiten_images",
    "ZCAWhitening",
    "PatchNormalizer",
    "LocalContrastNormalizer",
    "rgb_to_gray",
]


# --------------------------------------------------------------------- helpers
# Bytes of one float64 chunk of rows for ZCAWhitening and PatchNormalizer: their
# temporaries stay within a couple of such chunks, whatever the number of rows.
_CHUNK_BYTES = 1 << 23


def _row_chunks(X: np.ndarray):
    """Slices of rows of ``X`` whose float64 copy takes at most ``_CHUNK_BYTES``."""
    step = max(1, _CHUNK_BYTES // (8 * max(X.shape[1], 1)))
    for start in range(0, X.shape[0], step):
        yield slice(start, min(start + step, X.shape[0]))


def _peak(X: np.ndarray) -> float:
    """``max |X|`` without a full-size temporary."""
    peak = 0.0
    for sl in _row_chunks(X):
        chunk = X[sl]
        if chunk.size:
            peak = max(peak, float(chunk.max()), -float(chunk.min()))
    return peak


def _check_magnitude(est, X: np.ndarray, peak: float, limit: float) -> None:
    """Refuse data whose squares would overflow float64 in ``est``'s statistics."""
    if peak > limit:
        raise ValueError(
            f"{type(est).__name__}: the data reach |x| = {peak:.3g}, beyond what float64 "
            f"arithmetic can square without overflow (about {limit:.3g} for {X.shape[1]} "
            "features). Rescale the data first."
        )


def _store_finite(est, out: np.ndarray, sl: slice, values: np.ndarray, method: str) -> None:
    """``out[sl] = values``, refusing results that are (or become in ``out``'s dtype) inf/NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        out[sl] = values
    if not np.isfinite(out[sl]).all():
        raise ValueError(
            f"{type(est).__name__}.{method} produced non-finite values: the input is too large "
            f"for the fitted statistics in {out.dtype} (rows {sl.start}-{sl.stop - 1}). "
            "Rescale the data first."
        )


def _map_rows(est, X: np.ndarray, fn, method: str) -> np.ndarray:
    """``fn`` applied chunk by chunk of rows (bounded extra memory), in ``X``'s dtype."""
    out = np.empty(X.shape, dtype=X.dtype)
    for sl in _row_chunks(X):
        with np.errstate(over="ignore", invalid="ignore"):
            values = fn(X[sl])
        _store_finite(est, out, sl, values, method)
        del values
    return out


def _check_inverse_input(est, X) -> np.ndarray:
    from sklearn.utils import check_array

    X = check_array(X, dtype=[np.float64, np.float32])
    _check_width(est, X, est.n_features_in_)
    return X


def _check_width(est, X: np.ndarray, expected: int, what: str = "X") -> None:
    if X.shape[1] != expected:
        raise ValueError(
            f"{what} has {X.shape[1]} features, but {type(est).__name__} is expecting "
            f"{expected} features as input."
        )


def rgb_to_gray(image) -> np.ndarray:
    """Luminance of an RGB(A) image (ITU-R BT.709 weights); grey images pass through.

    Parameters
    ----------
    image : array-like of shape (h, w) or (h, w, 3|4)

    Returns
    -------
    ndarray of shape (h, w), float64
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[..., :3] @ np.array([0.2125, 0.7154, 0.0721])
    raise ValueError(f"Expected a (h, w) or (h, w, 3|4) image; got shape {image.shape}.")


def _as_image_list(images, image_shape=None, *, name: str = "images") -> list[np.ndarray]:
    """Validate a set of grey images and return them as a list of 2-D float arrays.

    Accepts a list of 2-D arrays (sizes may differ), a 3-D array (n_images, h, w),
    or a 2-D array (n_images, h*w) together with ``image_shape``.
    """
    if isinstance(images, np.ndarray) or not isinstance(images, (list, tuple)):
        try:
            arr = np.asarray(images, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric arrays; got {type(images)}.") from exc
        if arr.ndim == 2 and image_shape is not None:
            h, w = image_shape
            if arr.shape[1] != h * w:
                raise ValueError(
                    f"{name} have {arr.shape[1]} features but image_shape={tuple(image_shape)} "
                    f"needs {h * w}."
                )
            arr = arr.reshape(-1, h, w)
        if arr.ndim != 3:
            raise ValueError(
                f"{name} must be a list of 2-D grey images, a 3-D array (n_images, h, w), "
                f"or a 2-D array (n_images, h*w) with image_shape; got an array of shape "
                f"{arr.shape}."
            )
        imgs = list(arr)
    else:
        imgs = []
        for i, im in enumerate(images):
            try:
                a = np.asarray(im, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}[{i}] is not a numeric array.") from exc
            if a.ndim != 2:
                raise ValueError(
                    f"{name}[{i}] must be a 2-D grey image; got shape {a.shape} "
                    "(convert colour images with rgb_to_gray)."
                )
            imgs.append(a)
    if not imgs:
        raise ValueError(f"{name} is empty.")
    for i, a in enumerate(imgs):
        if a.size == 0:
            raise ValueError(f"{name}[{i}] is empty.")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}[{i}] contains NaN or infinity.")
    return imgs


class _ImageTransformerMixin:
    """Tags of stateless transformers that take sets of images, not 2-D tables."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = False
        return tags


# --------------------------------------------------------------------- patches
class ImagePatches(_ImageTransformerMixin, TransformerMixin, BaseEstimator):
    """Extract square patches from a set of grey images.

    Stateless, like :class:`sklearn.feature_extraction.image.PatchExtractor`,
    but for images of different sizes and with a total patch budget.

    Parameters
    ----------
    patch_size : int, default=12
        Side of the square patches.
    n_patches : int or None, default=None
        ``method="random"``: number of patches in total, drawn uniformly over
        all valid positions of all images (so larger images give more). None
        draws as many as the non-overlapping grid has. ``method="grid"``: if
        set, keep a random subset of this size of the grid patches.
    method : {"random", "grid"}, default="random"
        Random positions, or a regular grid with step ``stride``.
    stride : int or None, default=None
        Grid step; None means ``patch_size`` (non-overlapping).
    image_shape : tuple of int or None, default=None
        Needed only when images are given as rows of a 2-D array.
    random_state : int, RandomState instance or None, default=None
        Positions and subsets. With an int, every call to ``transform`` on the
        same images gives the same patches.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsparse.preprocessing import ImagePatches
    >>> images = [np.random.rand(64, 64), np.random.rand(40, 50)]
    >>> ImagePatches(patch_size=8, n_patches=100, random_state=0).transform(images).shape
    (100, 64)
    """

    _parameter_constraints: dict = {
        "patch_size": [Interval(Integral, 1, None, closed="left")],
        "n_patches": [Interval(Integral, 1, None, closed="left"), None],
        "method": [StrOptions({"random", "grid"})],
        "stride": [Interval(Integral, 1, None, closed="left"), None],
        "image_shape": [tuple, list, None],
        "random_state": ["random_state"],
    }

    def __init__(self, patch_size: int = 12, *, n_patches: int | None = None,
                 method: str = "random", stride: int | None = None, image_shape=None,
                 random_state=None):
        self.patch_size = patch_size
        self.n_patches = n_patches
        self.method = method
        self.stride = stride
        self.image_shape = image_shape
        self.random_state = random_state

    def fit(self, X, y=None):
        """Validate the parameters (nothing is learned).

        Parameters
        ----------
        X : list of 2-D arrays or array-like
            Images.
        y : Ignored

        Returns
        -------
        self : object
        """
        self._validate_params()
        return self

    def transform(self, X) -> np.ndarray:
        """Extract the patches.

        Parameters
        ----------
        X : list of 2-D arrays, array of shape (n_images, h, w), or array of
            shape (n_images, h*w) with ``image_shape``
            Grey images.

        Returns
        -------
        patches : ndarray of shape (n_patches, patch_size**2)
            Float64 (float32 if the images are a float32 array).
        """
        self._validate_params()
        dtype = X.dtype if isinstance(X, np.ndarray) and X.dtype == np.float32 else np.float64
        images = _as_image_list(X, self.image_shape)
        p = self.patch_size
        for i, im in enumerate(images):
            if im.shape[0] < p or im.shape[1] < p:
                raise ValueError(
                    f"Image {i} has shape {im.shape}, smaller than patch_size={p}."
                )
        rng = check_random_state(self.random_state)
        step = self.stride or p
        if self.method == "grid":
            coords = []
            for i, im in enumerate(images):
                rows = np.arange(0, im.shape[0] - p + 1, step)
                cols = np.arange(0, im.shape[1] - p + 1, step)
                r, c = np.meshgrid(rows, cols, indexing="ij")
                coords.append(np.stack([np.full(r.size, i), r.ravel(), c.ravel()], 1))
            coords = np.concatenate(coords)
            if self.n_patches is not None and self.n_patches < len(coords):
                coords = coords[np.sort(rng.choice(len(coords), self.n_patches, replace=False))]
        else:
            n_pos = np.array([(im.shape[0] - p + 1) * (im.shape[1] - p + 1) for im in images])
            n = self.n_patches
            if n is None:
                n = int(sum((im.shape[0] // p) * (im.shape[1] // p) for im in images))
            which = rng.choice(len(images), size=n, p=n_pos / n_pos.sum())
            rows = np.empty(n, dtype=np.int64)
            cols = np.empty(n, dtype=np.int64)
            for i, im in enumerate(images):
                sel = which == i
                rows[sel] = rng.randint(0, im.shape[0] - p + 1, size=sel.sum())
                cols[sel] = rng.randint(0, im.shape[1] - p + 1, size=sel.sum())
            coords = np.stack([which, rows, cols], 1)
        out = np.empty((len(coords), p * p), dtype=dtype)
        for k, (i, r, c) in enumerate(coords):
            out[k] = images[i][r:r + p, c:c + p].ravel()
        return out


# ------------------------------------------------------------------- whitening
def _olshausen_filter(shape: tuple[int, int], f0: float) -> np.ndarray:
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    f = np.sqrt(fx**2 + fy**2)
    return f * np.exp(-((f / f0) ** 4))


def whiten_images(images, *, f0: float = 0.4, pad: int = 16, normalize: bool = True,
                  image_shape=None) -> list[np.ndarray]:
    """Whiten grey images with the filter ``R(f) = f exp(-(f/f0)^4)``.

    The filter of Olshausen & Field (1996): the ramp ``f`` flattens the ~1/f
    amplitude spectrum of natural images, and the quartic roll-off removes the
    highest frequencies (noise, aliasing). Frequencies are radial, in cycles
    per pixel (Nyquist = 0.5); Olshausen & Field's 200 cycles/picture for
    512-pixel images is ``f0 ~ 0.4``. The filter is zero at DC, so each whitened
    image has zero mean.

    Parameters
    ----------
    images : list of 2-D arrays or array of shape (n_images, h, w)
        Grey images.
    f0 : float, default=0.4
        Roll-off frequency in cycles per pixel.
    pad : int, default=16
        Reflect-padding (pixels) before the FFT, cropped afterwards; reduces the
        wrap-around artefacts at the borders.
    normalize : bool, default=True
        Divide each whitened image by its standard deviation.
    image_shape : tuple of int, default=None
        Needed only when images are rows of a 2-D array.

    Returns
    -------
    list of ndarray
        Whitened images, each of its input's shape, float64.
    """
    if not (isinstance(f0, Real) and f0 > 0):
        raise ValueError(f"f0 must be a positive float (cycles per pixel); got {f0!r}.")
    if not (isinstance(pad, Integral) and pad >= 0):
        raise ValueError(f"pad must be a non-negative int; got {pad!r}.")
    out = []
    for i, im in enumerate(_as_image_list(images, image_shape)):
        h, w = im.shape
        q = min(pad, h - 1, w - 1)
        # The filter is linear: whiten im / peak, so that sums and squares stay
        # finite for any finite image, and scale back when not normalising.
        peak = float(np.max(np.abs(im)))
        unit = peak if peak > 0 else 1.0
        im = im / unit
        big = np.pad(im - im.mean(), q, mode="reflect") if q > 0 else im - im.mean()
        filt = _olshausen_filter(big.shape, f0)
        white = np.real(np.fft.ifft2(np.fft.fft2(big) * filt))[q:q + h, q:q + w]
        if normalize:
            std = white.std()
            white = white / std if std > 0 else white
        else:
            with np.errstate(over="ignore"):
                white = white * unit
            if not np.all(np.isfinite(white)):
                raise ValueError(
                    f"images[{i}] reach |x| = {peak:.3g}: its whitened values overflow "
                    "float64 without normalize=True. Rescale the images first."
                )
        out.append(white)
    return out


class OlshausenWhitening(_ImageTransformerMixin, TransformerMixin, BaseEstimator):
    """Whole-image 1/f whitening (Olshausen & Field 1996) as a stateless transformer.

    See :func:`whiten_images` for the filter.

    Parameters
    ----------
    f0 : float, default=0.4
        Roll-off frequency in cycles per pixel.
    pad : int, default=16
        Reflect-padding before the FFT.
    normalize : bool, default=True
        Scale each whitened image to unit standard deviation.
    image_shape : tuple of int or None, default=None
        Needed only when images are rows of a 2-D array (the output then has
        the same 2-D layout).
    """

    _parameter_constraints: dict = {
        "f0": [Interval(Real, 0, None, closed="neither")],
        "pad": [Interval(Integral, 0, None, closed="left")],
        "normalize": ["boolean"],
        "image_shape": [tuple, list, None],
    }

    def __init__(self, f0: float = 0.4, *, pad: int = 16, normalize: bool = True,
                 image_shape=None):
        self.f0 = f0
        self.pad = pad
        self.normalize = normalize
        self.image_shape = image_shape

    def fit(self, X, y=None):
        """Validate the parameters (nothing is learned).

        Parameters
        ----------
        X : images
        y : Ignored

        Returns
        -------
        self : object
        """
        self._validate_params()
        return self

    def transform(self, X):
        """Whiten the images.

        Parameters
        ----------
        X : list of 2-D arrays, array (n_images, h, w), or array (n_images, h*w)
            with ``image_shape``

        Returns
        -------
        list of ndarray, or ndarray of the input's shape when the input is an array
        """
        self._validate_params()
        out = whiten_images(X, f0=self.f0, pad=self.pad, normalize=self.normalize,
                            image_shape=self.image_shape)
        if isinstance(X, np.ndarray):
            return np.stack(out).reshape(X.shape).astype(
                X.dtype if X.dtype == np.float32 else np.float64)
        return out


class ZCAWhitening(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """ZCA (zero-phase, symmetric) whitening of vectors such as image patches.

    ``W = U diag(1/sqrt(lambda + eps)) U^T`` from the eigendecomposition
    ``C = U diag(lambda) U^T`` of the training covariance: whitened data have
    (nearly) identity covariance while staying as close as possible to the
    input (same pixel layout, so whitened patches still look like patches).

    Parameters
    ----------
    epsilon : float, default=1e-2
        Regularisation added to the eigenvalues, as a fraction of their mean;
        it damps the smallest-variance (noisiest) directions. With
        ``epsilon=0`` (or one too small to matter) on data whose covariance is
        singular (fewer samples than features, constant or collinear
        features), the directions without variance cannot be whitened: they
        are set to zero, as by a pseudo-inverse, instead of being amplified by
        ``1/sqrt(0)``, and a ``UserWarning`` naming ``epsilon`` says so.
    center : bool, default=True
        Subtract the per-feature training mean.
    copy : bool, default=True
        Unused; kept for API symmetry with scikit-learn scalers.

    Notes
    -----
    ``fit``, ``transform`` and ``inverse_transform`` work on chunks of rows:
    besides the output and the ``(n_features, n_features)`` matrices they use
    about two float64 chunks of memory (``_CHUNK_BYTES`` each), whatever the
    number of rows. Data so large that their covariance overflows float64
    (``|x|`` above about ``1e154 / n_features``) are refused with a
    ``ValueError``; a ``transform`` whose result does not fit in the output's
    dtype raises a ``ValueError`` instead of returning inf.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    whitening_ : ndarray of shape (n_features, n_features)
        ``transform(X) = (X - mean_) @ whitening_``.
    dewhitening_ : ndarray of shape (n_features, n_features)
        ``inverse_transform(Y) = Y @ dewhitening_ + mean_``.
    explained_variance_ : ndarray of shape (n_features,)
        Eigenvalues of the covariance, decreasing.
    n_features_in_ : int
    """

    _parameter_constraints: dict = {
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "center": ["boolean"],
        "copy": ["boolean"],
    }

    def __init__(self, epsilon: float = 1e-2, *, center: bool = True, copy: bool = True):
        self.epsilon = epsilon
        self.center = center
        self.copy = copy

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def fit(self, X, y=None):
        """Learn the mean and the whitening matrix.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : object
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n, f = X.shape
        _check_magnitude(self, X, _peak(X), math.sqrt(np.finfo(np.float64).max) / max(f, 1))
        mean = np.zeros(f)
        if self.center:
            for sl in _row_chunks(X):
                mean += X[sl].sum(0, dtype=np.float64)
            mean /= n
        cov = np.zeros((f, f))
        for sl in _row_chunks(X):
            Xc = np.subtract(X[sl], mean, dtype=np.float64)
            cov += Xc.T @ Xc
            del Xc
        cov /= max(n - 1, 1)
        evals, evecs = np.linalg.eigh(cov)
        del cov
        evals = np.clip(evals[::-1], 0.0, None)
        evecs = evecs[:, ::-1]
        eps = self.epsilon * evals.mean() if evals.mean() > 0 else self.epsilon
        # Numerical rank, as numpy.linalg.matrix_rank, relative to the data's own
        # magnitude too: centring constant data leaves rounding noise of about
        # eps * |mean|, whose "variance" must not be whitened up to 1.
        ref = max(float(evals.max()), float(mean @ mean) / max(f, 1))
        tol = ref * f * np.finfo(np.float64).eps
        null = evals <= tol
        if null.any() and eps <= tol:
            warnings.warn(
                f"ZCAWhitening: the covariance of X is singular (rank {int((~null).sum())} "
                f"of {f} features) and epsilon={self.epsilon!r} does not regularise it; "
                f"the {int(null.sum())} direction(s) without variance are set to zero "
                "(pseudo-inverse) instead of being amplified. Set epsilon > 0 (the default "
                "is 1e-2) to regularise them.",
                UserWarning,
                stacklevel=2,
            )
        root = np.sqrt(evals + eps)
        inv_root = np.divide(1.0, root, out=np.zeros_like(root), where=~null | (eps > tol))
        if eps <= tol:
            root[null] = 0.0
        self.mean_ = mean
        self.explained_variance_ = evals
        self.whitening_ = (evecs * inv_root) @ evecs.T
        self.dewhitening_ = (evecs * root) @ evecs.T
        return self

    def transform(self, X):
        """Whiten ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features), in the dtype of ``X``
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return _map_rows(
            self, X, lambda Xc: np.subtract(Xc, self.mean_, dtype=np.float64) @ self.whitening_,
            "transform")

    def inverse_transform(self, X):
        """Undo the whitening.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = _check_inverse_input(self, X)

        def dewhiten(Xc):
            Y = Xc.astype(np.float64) @ self.dewhitening_
            Y += self.mean_  # in place: one float64 chunk of extra memory
            return Y

        return _map_rows(self, X, dewhiten, "inverse_transform")


class PatchNormalizer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise patches: per sample, with one global scalar, or per feature.

    Parameters
    ----------
    method : {"sample", "global", "feature"}, default="global"
        ``"sample"``: each row gets its own mean and std (stateless; contrast
        normalisation). ``"global"``: one scalar mean and std learned on the
        training data (the z-score of Barello et al.). ``"feature"``: one mean
        and std per feature (as in Fallah & Rozell).
    center : bool, default=True
        Subtract the mean.
    scale : bool, default=True
        Divide by the standard deviation.
    eps : float, default=1e-8
        Added to the standard deviation; must be > 0.

    Attributes
    ----------
    mean_, scale_ : float or ndarray of shape (n_features,)
        Learned statistics (``"global"``: scalars; ``"feature"``: per
        feature; ``"sample"``: not set). ``scale_`` is the standard deviation
        plus ``eps``, or exactly 1 where the training data have no variance.
    n_features_in_ : int

    Notes
    -----
    Zero variance: as :class:`sklearn.preprocessing.StandardScaler` does, a
    statistic without variance (a constant feature with ``"feature"``,
    constant training data with ``"global"``, a constant row with
    ``"sample"``) gets the scale 1, so the output is the centred input rather
    than its division by ``eps`` (1e8 times the input). When *all* the
    training data are constant, ``fit`` also warns (``UserWarning``): the
    learned scale carries no information.

    Every method works on chunks of rows (about ``_CHUNK_BYTES`` of float64
    each), in about two chunks of extra memory besides the output, and
    computes the statistics without overflow for any finite data. A result
    that does not fit in the output's dtype raises a ``ValueError`` instead
    of returning inf.
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"sample", "global", "feature"})],
        "center": ["boolean"],
        "scale": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, method: str = "global", *, center: bool = True, scale: bool = True,
                 eps: float = 1e-8):
        self.method = method
        self.center = center
        self.scale = scale
        self.eps = eps

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _check_eps(self) -> None:
        # Interval(Real) lets booleans and NaN through
        if isinstance(self.eps, (bool, np.bool_)) or not math.isfinite(self.eps):
            raise ValueError(
                f"The 'eps' parameter of PatchNormalizer must be a positive finite float; "
                f"got {self.eps!r}."
            )

    @staticmethod
    def _no_variance(std_s, mean_s):
        """Where a (peak-scaled) std is zero up to the rounding of the mean."""
        return std_s <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean_s), 1.0)

    def fit(self, X, y=None):
        """Learn the statistics (``"global"``, ``"feature"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : object
        """
        self._validate_params()
        self._check_eps()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        if self.method == "sample":
            return self
        axis = None if self.method == "global" else 0
        n = X.shape[0] if axis == 0 else X.size
        # Statistics of X / peak: finite for any finite data.
        peak = _peak(X)
        unit = peak if peak > 0 else 1.0
        total = 0.0
        if self.center:
            for sl in _row_chunks(X):
                total = total + np.divide(X[sl], unit, dtype=np.float64).sum(axis)
        mean_s = total / n if self.center else (0.0 if axis is None else np.zeros(X.shape[1]))
        if self.scale:
            sq = 0.0
            for sl in _row_chunks(X):
                d = np.divide(X[sl], unit, dtype=np.float64)
                d -= mean_s
                d *= d
                sq = sq + d.sum(axis)
                del d
            std_s = np.sqrt(sq / n)
            flat = self._no_variance(std_s, mean_s)
            scale = np.where(flat, 1.0, std_s * unit + self.eps)
            if np.all(flat):
                warnings.warn(
                    f"PatchNormalizer(method={self.method!r}): the training data are "
                    "constant (no variance); the scale is set to 1, as StandardScaler does, "
                    "so transform only subtracts the mean.",
                    UserWarning,
                    stacklevel=2,
                )
        else:
            scale = 1.0 if axis is None else np.ones(X.shape[1])
        mean = mean_s * unit
        if axis is None:
            self.mean_, self.scale_ = float(mean), float(scale)
        else:
            self.mean_, self.scale_ = np.asarray(mean, dtype=np.float64), scale
        return self

    def _sample_normalize(self, chunk: np.ndarray) -> np.ndarray:
        """Per-row standardisation of one chunk, in float64, without overflow."""
        Xs = chunk.astype(np.float64)
        peak = np.max(np.abs(Xs), axis=1, keepdims=True)
        peak[peak == 0] = 1.0
        Xs /= peak
        mean = Xs.mean(1, keepdims=True) if self.center else np.zeros((len(Xs), 1))
        Xs -= mean
        if self.scale:
            # (x - m) / (s + eps) = (xs - ms) / (ss + eps / peak): scale-free
            std = np.sqrt((Xs * Xs).mean(1, keepdims=True))
            flat = self._no_variance(std, mean)
            Xs /= np.where(flat, 1.0 / peak, std + self.eps / peak)
        else:
            Xs *= peak
        return Xs

    def transform(self, X):
        """Standardise ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features), in the dtype of ``X``
        """
        check_is_fitted(self)
        self._check_eps()
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        if self.method == "sample":
            return _map_rows(self, X, self._sample_normalize, "transform")

        def standardize(Xc):
            Y = np.subtract(Xc, self.mean_, dtype=np.float64)
            Y /= self.scale_
            return Y

        return _map_rows(self, X, standardize, "transform")

    def inverse_transform(self, X):
        """Undo the standardisation (``"global"`` and ``"feature"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if self.method == "sample":
            raise ValueError(
                "PatchNormalizer(method='sample') cannot be inverted: the per-sample "
                "statistics are not stored. Use method='global' or 'feature'."
            )
        X = _check_inverse_input(self, X)

        def undo(Xc):
            Y = np.multiply(Xc, self.scale_, dtype=np.float64)
            Y += self.mean_  # in place: one float64 chunk of extra memory
            return Y

        return _map_rows(self, X, undo, "inverse_transform")


# --------------------------------------------------- local contrast normalisation
def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    ax = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(ax**2) / (2.0 * sigma**2))
    return g / g.sum()


def _gaussian_filter(images: np.ndarray, g: np.ndarray, valid: bool) -> np.ndarray:
    """Separable Gaussian correlation of a stack (n, h, w) by scipy.ndimage.

    ``valid``: keep only the positions where the window fits (shrinks each
    side by ``len(g) - 1``); else reflect the borders (numpy's "reflect",
    scipy's "mirror") and keep the size. The window's centre is at
    ``(len(g) - 1) // 2`` either way.
    """
    from scipy.ndimage import correlate1d

    k = len(g)
    origin = (k - 1) // 2 - k // 2
    out = correlate1d(images, g, axis=1, mode="mirror", origin=origin)
    out = correlate1d(out, g, axis=2, mode="mirror", origin=origin)
    if valid:
        lo, hi = (k - 1) // 2, k // 2
        out = out[:, lo:out.shape[1] - hi, lo:out.shape[2] - hi]
    return out


# Images per chunk of LocalContrastNormalizer: bounds its float64 temporaries.
_LCN_CHUNK = 1024


class LocalContrastNormalizer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Local contrast normalisation with a Gaussian window (Jarrett et al. 2009).

    For each image ``x``: ``v = x - G * x`` (local mean removed), then
    ``y = v / max(sqrt(G * v^2), c)`` with ``G`` a normalised Gaussian window
    and ``c`` a floor. Evtimova & LeCun use a 13x13 window with sigma 5 and
    valid convolutions (52 -> 40 -> 28 pixels) and take for ``c`` the mean
    local std of the current batch, which makes a sample's output depend on
    its batch. Here ``c`` is learned once in ``fit`` (the mean local std on
    the training images, floored at ``min_std``), so ``transform`` is
    per-sample deterministic.

    Parameters
    ----------
    image_shape : tuple of int
        ``(h, w)`` of the images given as rows of ``X``.
    kernel_size : int, default=13
        Side of the Gaussian window.
    sigma : float, default=5.0
        Standard deviation of the window in pixels.
    mode : {"valid", "same"}, default="valid"
        ``"valid"``: each filtering shrinks the image by ``kernel_size - 1``
        (output ``h - 2(kernel_size - 1)``); ``"same"``: reflect padding keeps
        the size.
    std_floor : "fit" or float, default="fit"
        ``c``: ``"fit"`` learns it as above; a float fixes it.
    min_std : float, default=1e-4
        Lower bound of the floor.

    Attributes
    ----------
    std_floor_ : float
        The floor ``c`` in use.
    output_shape_ : tuple of int
        Shape of the output images.
    n_features_in_ : int
    """

    _parameter_constraints: dict = {
        "image_shape": [tuple, list],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "mode": [StrOptions({"valid", "same"})],
        "std_floor": [StrOptions({"fit"}), Interval(Real, 0, None, closed="left")],
        "min_std": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, image_shape=(28, 28), *, kernel_size: int = 13, sigma: float = 5.0,
                 mode: str = "valid", std_floor="fit", min_std: float = 1e-4):
        self.image_shape = image_shape
        self.kernel_size = kernel_size
        self.sigma = sigma
        self.mode = mode
        self.std_floor = std_floor
        self.min_std = min_std

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _check_shape(self, n_features: int) -> tuple[int, int]:
        shape = tuple(self.image_shape)
        if len(shape) != 2 or any(not isinstance(s, Integral) or s < 1 for s in shape):
            raise ValueError(f"image_shape must be (h, w) positive ints; got {self.image_shape!r}.")
        h, w = shape
        if h * w != n_features:
            raise ValueError(
                f"X has {n_features} features but image_shape={shape} needs {h * w}."
            )
        shrink = 2 * (self.kernel_size - 1) if self.mode == "valid" else 0
        if h - shrink < 1 or w - shrink < 1:
            raise ValueError(
                f"Images of shape {shape} are too small for kernel_size={self.kernel_size} "
                "with mode='valid'; use a smaller kernel or mode='same'."
            )
        if self.mode == "same" and (h < self.kernel_size or w < self.kernel_size):
            raise ValueError(
                f"Images of shape {shape} are smaller than kernel_size={self.kernel_size}."
            )
        return h, w

    def _local(self, X: np.ndarray):
        """Local-mean-removed images and local std of one chunk (float64)."""
        h, w = self._check_shape(X.shape[1])
        imgs = X.astype(np.float64).reshape(-1, h, w)
        g = _gaussian_1d(self.kernel_size, self.sigma)
        valid = self.mode == "valid"
        k = self.kernel_size - 1 if valid else 0
        lo, hi = k // 2, k - k // 2
        v = imgs[:, lo:h - hi, lo:w - hi] - _gaussian_filter(imgs, g, valid)
        del imgs
        std = _gaussian_filter(v * v, g, valid)
        np.sqrt(np.clip(std, 0.0, None, out=std), out=std)
        v = v[:, lo:v.shape[1] - hi, lo:v.shape[2] - hi]
        return v, std

    def _check_magnitude(self, X) -> None:
        # the local variance squares differences of up to twice the peak
        _check_magnitude(self, X, _peak(X), math.sqrt(np.finfo(np.float64).max) / 2)

    def _chunks(self, X):
        for start in range(0, X.shape[0], _LCN_CHUNK):
            yield start, self._local(X[start:start + _LCN_CHUNK])

    def fit(self, X, y=None):
        """Learn the contrast floor.

        Parameters
        ----------
        X : array-like of shape (n_samples, h*w)
        y : Ignored

        Returns
        -------
        self : object
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self._check_magnitude(X)
        total, count = 0.0, 0
        for _, (_, std) in self._chunks(X):
            total += float(std.sum())
            count += std.size
        if self.std_floor == "fit":
            self.std_floor_ = max(total / count, self.min_std)
        else:
            self.std_floor_ = max(float(self.std_floor), self.min_std)
        self.output_shape_ = tuple(std.shape[1:])  # the same as the output's
        return self

    @property
    def _n_features_out(self):
        return int(np.prod(self.output_shape_))

    def transform(self, X):
        """Normalise ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, h*w)

        Returns
        -------
        ndarray of shape (n_samples, prod(``output_shape_``)), in the dtype of ``X``
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        self._check_magnitude(X)
        out = np.empty((X.shape[0], self._n_features_out), dtype=X.dtype)
        for start, (v, std) in self._chunks(X):
            np.maximum(std, self.std_floor_, out=std)
            _store_finite(self, out, slice(start, start + len(v)),
                          (v / std).reshape(len(v), -1), "transform")
        return out
