"""Tests of skdeepsparse.preprocessing (patches, whitening, normalisation, loader)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdeepsparse.datasets import load_natural_image_patches
from skdeepsparse.preprocessing import (
    ImagePatches,
    LocalContrastNormalizer,
    OlshausenWhitening,
    PatchNormalizer,
    ZCAWhitening,
    rgb_to_gray,
    whiten_images,
)

# LocalContrastNormalizer is not in this list: it needs rows that are images of
# a declared shape, while the checks feed arbitrary widths (1..10 features). It is
# tested directly below (determinism per sample, pickling, pipeline, dtypes).
CHECKED = [
    ZCAWhitening(),
    ZCAWhitening(epsilon=0.0, center=False),
    PatchNormalizer("global"),
    PatchNormalizer("sample"),
    PatchNormalizer("feature", center=False),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ImagePatches and OlshausenWhitening take sets of images (3-D input), tagged as
# such. scikit-learn's suite would run only its cloning check on them and warn that
# it skips the rest (SkipTestWarning), so its API checks that need no data run here.
IMAGE_SET_ESTIMATORS = [ImagePatches(4, n_patches=10, random_state=0), OlshausenWhitening()]
API_CHECKS = [name for name in (
    "check_estimator_cloneable", "check_estimator_repr", "check_no_attributes_set_in_init",
    "check_get_params_invariance", "check_set_params", "check_parameters_default_constructible",
) if hasattr(estimator_checks, name)]  # the oldest supported scikit-learn lacks some


@pytest.mark.parametrize("check", API_CHECKS)
@pytest.mark.parametrize("estimator", IMAGE_SET_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_image_set_estimators_api(estimator, check):
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


# ---------------------------------------------------------------- patches
def test_image_patches_random_reproducible_and_exact():
    rng = np.random.RandomState(0)
    images = [rng.rand(30, 40), rng.rand(20, 20)]
    ext = ImagePatches(5, n_patches=200, random_state=3)
    P1, P2 = ext.transform(images), ext.transform(images)
    assert P1.shape == (200, 25)
    np.testing.assert_array_equal(P1, P2)
    assert not np.array_equal(P1, ImagePatches(5, n_patches=200, random_state=4).transform(images))
    # every patch is a true window of one of the images
    windows = set()
    for im in images:
        for r in range(im.shape[0] - 4):
            for c in range(im.shape[1] - 4):
                windows.add(im[r:r + 5, c:c + 5].tobytes())
    assert all(p.reshape(5, 5).tobytes() in windows for p in P1)


def test_image_patches_grid_counts_and_layout():
    img = np.arange(12 * 18, dtype=float).reshape(12, 18)
    P = ImagePatches(6, method="grid").transform([img])
    assert P.shape == (2 * 3, 36)
    np.testing.assert_array_equal(P[1].reshape(6, 6), img[0:6, 6:12])
    P = ImagePatches(6, method="grid", stride=3).transform(img[None])
    assert P.shape == (3 * 5, 36)
    P = ImagePatches(6, method="grid", stride=3, n_patches=4, random_state=0).transform([img])
    assert P.shape == (4, 36)
    # rows of a 2-D array with image_shape
    P = ImagePatches(6, method="grid", image_shape=(12, 18)).transform(img.reshape(1, -1))
    assert P.shape == (6, 36)


def test_image_patches_float32_kept():
    X = np.random.RandomState(0).rand(3, 10, 10).astype(np.float32)
    assert ImagePatches(4, n_patches=5, random_state=0).transform(X).dtype == np.float32


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        ([np.zeros((3, 3))], {"patch_size": 4}, "smaller than patch_size"),
        ([np.zeros(9)], {}, "2-D grey image"),
        (np.zeros((2, 9)), {}, "image_shape"),
        (np.zeros((2, 9)), {"image_shape": (2, 2)}, "needs 4"),
        ([], {}, "empty"),
        ([np.full((20, 20), np.nan)], {}, "NaN"),
    ],
)
def test_image_patches_bad_input(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImagePatches(**{"patch_size": 4, "n_patches": 3, **kwargs}).transform(images)


def test_image_patches_bad_param():
    with pytest.raises(ValueError, match="method"):
        ImagePatches(method="tiles").transform([np.zeros((20, 20))])


# -------------------------------------------------------------- whitening
def test_olshausen_filter_gain_on_cosines():
    """A periodic cosine at radial frequency f comes out scaled by R(f) = f exp(-(f/f0)^4)."""
    n = 64
    yy, xx = np.mgrid[0:n, 0:n]
    f0 = 0.4
    for k in (2, 8, 20):
        f = k / n
        img = np.cos(2 * np.pi * f * xx)
        out = whiten_images([img], f0=f0, pad=0, normalize=False)[0]
        gain = out.std() / img.std()
        assert gain == pytest.approx(f * np.exp(-((f / f0) ** 4)), rel=1e-6)


def test_whitening_flattens_natural_like_spectrum():
    """A 1/f image has a falling spectrum; after whitening mid frequencies are flat."""
    rng = np.random.RandomState(0)
    n = 128
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.fftfreq(n)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    spec = (rng.randn(n, n) + 1j * rng.randn(n, n)) / f
    img = np.real(np.fft.ifft2(spec))
    white = whiten_images([img], pad=0)[0]
    assert white.mean() == pytest.approx(0.0, abs=1e-10)
    assert white.std() == pytest.approx(1.0)

    def band_power(im, lo, hi):
        P = np.abs(np.fft.fft2(im)) ** 2
        return P[(f >= lo) & (f < hi)].mean()

    raw_ratio = band_power(img, 0.02, 0.04) / band_power(img, 0.16, 0.2)
    white_ratio = band_power(white, 0.02, 0.04) / band_power(white, 0.16, 0.2)
    assert raw_ratio > 20
    assert 0.3 < white_ratio < 3


def test_olshausen_transformer_array_and_list():
    rng = np.random.RandomState(0)
    X = rng.rand(2, 32, 32)
    out = OlshausenWhitening().fit_transform(X)
    assert out.shape == X.shape
    lst = OlshausenWhitening().transform(list(X))
    np.testing.assert_allclose(out[1], lst[1])
    flat = OlshausenWhitening(image_shape=(32, 32)).transform(X.reshape(2, -1))
    assert flat.shape == (2, 32 * 32)
    with pytest.raises(ValueError, match="f0"):
        whiten_images([X[0]], f0=-1)


def test_zca_whitens_and_inverts():
    rng = np.random.RandomState(0)
    A = rng.randn(6, 6)
    X = rng.randn(5000, 6) @ A + 3.0
    zca = ZCAWhitening(epsilon=0.0).fit(X)
    Y = zca.transform(X)
    np.testing.assert_allclose(np.cov(Y.T), np.eye(6), atol=1e-6)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=1e-10)
    np.testing.assert_allclose(zca.inverse_transform(Y), X, atol=1e-8)
    # ZCA is the whitening closest to the input: no rotation, so each output
    # coordinate stays most correlated with its own input coordinate.
    C = np.corrcoef(X.T, Y.T)[:6, 6:]
    assert np.all(np.argmax(np.abs(C), axis=0) == np.arange(6))
    # regularisation damps the weak directions
    Y_reg = ZCAWhitening(epsilon=0.5).fit_transform(X)
    assert np.linalg.eigvalsh(np.cov(Y_reg.T)).max() < 1.0


def test_zca_wrong_width():
    rng = np.random.RandomState(0)
    zca = ZCAWhitening().fit(rng.rand(20, 4))
    with pytest.raises(ValueError, match="4 features"):
        zca.transform(rng.rand(3, 5))
    with pytest.raises(ValueError, match="4 features"):
        zca.inverse_transform(rng.rand(3, 5))


# ------------------------------------------------------------ normalisers
def test_patch_normalizer_modes():
    rng = np.random.RandomState(0)
    X = rng.rand(50, 8) * 5 + 2
    Y = PatchNormalizer("sample").fit_transform(X)
    np.testing.assert_allclose(Y.mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(Y.std(1), 1, rtol=1e-6)
    g = PatchNormalizer("global").fit(X)
    Yg = g.transform(X)
    assert Yg.mean() == pytest.approx(0, abs=1e-12)
    assert Yg.std() == pytest.approx(1, rel=1e-6)
    np.testing.assert_allclose(g.inverse_transform(Yg), X)
    fe = PatchNormalizer("feature").fit(X)
    np.testing.assert_allclose(fe.transform(X).std(0), 1, rtol=1e-6)
    np.testing.assert_allclose(fe.inverse_transform(fe.transform(X)), X)
    # constant rows do not divide by zero
    Z = PatchNormalizer("sample").fit_transform(np.ones((3, 4)))
    assert np.all(Z == 0)
    with pytest.raises(ValueError, match="cannot be inverted"):
        PatchNormalizer("sample").fit(X).inverse_transform(X)


def test_local_contrast_normalizer():
    rng = np.random.RandomState(0)
    imgs = rng.rand(20, 40, 40)
    X = imgs.reshape(20, -1)
    lcn = LocalContrastNormalizer(image_shape=(40, 40), kernel_size=7, sigma=2.0).fit(X)
    Y = lcn.transform(X)
    assert lcn.output_shape_ == (40 - 12, 40 - 12)
    assert Y.shape == (20, 28 * 28)
    assert lcn.get_feature_names_out().shape == (28 * 28,)
    # per-sample deterministic: a subset gives the same rows
    np.testing.assert_allclose(lcn.transform(X[5:9]), Y[5:9])
    # the learned floor is the mean local std, so some pixels are floored
    assert lcn.std_floor_ > 0
    # contrast invariance where the local std exceeds the floor
    free = LocalContrastNormalizer(image_shape=(40, 40), kernel_size=7, sigma=2.0,
                                   std_floor=0.0, min_std=1e-12).fit(X)
    np.testing.assert_allclose(free.transform(3 * X[:2] + 1), free.transform(X[:2]),
                               rtol=1e-6, atol=1e-8)
    assert not np.allclose(lcn.transform(3 * X[:2] + 1), Y[:2])
    # a constant image has no local contrast
    np.testing.assert_allclose(lcn.transform(np.full((1, 1600), 0.7)), 0.0, atol=1e-12)
    same = LocalContrastNormalizer(image_shape=(40, 40), mode="same").fit(X)
    assert same.transform(X).shape == (20, 1600)
    assert lcn.transform(X.astype(np.float32)).dtype == np.float32
    lcn2 = pickle.loads(pickle.dumps(lcn))
    np.testing.assert_array_equal(lcn2.transform(X), Y)
    with pytest.raises(ValueError, match="too small"):
        LocalContrastNormalizer(image_shape=(10, 10)).fit(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="needs 1600"):
        LocalContrastNormalizer(image_shape=(40, 40)).fit(np.zeros((2, 100)))
    pipe = make_pipeline(LocalContrastNormalizer(image_shape=(40, 40), kernel_size=5),
                         ZCAWhitening())
    assert pipe.fit_transform(X).shape == (20, 32 * 32)


def test_rgb_to_gray():
    rgb = np.zeros((2, 3, 3))
    rgb[..., 1] = 1.0
    np.testing.assert_allclose(rgb_to_gray(rgb), 0.7154)
    with pytest.raises(ValueError, match="image"):
        rgb_to_gray(np.zeros((2, 3, 5)))


# ----------------------------------------------------------------- loader
def test_loader_embedded_default_needs_no_files(tmp_path):
    b = load_natural_image_patches(patch_size=8, n_patches=3000, data_home=tmp_path)
    assert b.source == "sklearn"
    assert b.data.shape == (3000, 64) and b.data.dtype == np.float32
    assert b.images_shape == (8, 8)
    assert abs(float(b.data.mean())) < 1e-4 and float(b.data.std()) == pytest.approx(1, rel=1e-3)
    b3 = load_natural_image_patches(patch_size=8, n_patches=3000, data_home=tmp_path,
                                    pixel_std=0.1**0.5)
    assert float(b3.data.std()) == pytest.approx(0.1**0.5, rel=1e-3)
    np.testing.assert_allclose(b3.data, b.data * 0.1**0.5, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="pixel_std"):
        load_natural_image_patches(pixel_std=0, data_home=tmp_path)
    with pytest.raises(FileNotFoundError, match="natural_images"):
        load_natural_image_patches(source="files", data_home=tmp_path)
    with pytest.raises(ValueError, match="source"):
        load_natural_image_patches(source="web", data_home=tmp_path)


def test_loader_files(data_home):
    b = load_natural_image_patches(n_patches=2000, data_home=data_home, return_images=True,
                                   min_variance_ratio=0.1)
    assert b.source == "files"
    assert "camera.png" in b.image_names and len(b.image_names) == len(b.images) >= 6
    assert b.data.shape[1] == 144 and 0 < b.data.shape[0] < 2000
    # whitened images: zero mean, unit variance, and close-to-white neighbour statistics
    im = b.images[b.image_names.index("camera.png")]
    assert abs(im.mean()) < 0.05  # zero DC gain; the crop after padding leaves a little
    assert im.std() == pytest.approx(1, rel=1e-6)
    raw = load_natural_image_patches(n_patches=2000, data_home=data_home, whiten=False)
    corr_raw = np.corrcoef(raw.data[:, 0], raw.data[:, 1])[0, 1]
    corr_white = np.corrcoef(b.data[:, 0], b.data[:, 1])[0, 1]
    # (the roll-off keeps some correlation: ~0.5 at lag 1 even for ideal 1/f images)
    assert corr_raw > 0.9 and corr_white < corr_raw - 0.2
    # reproducible
    b2 = load_natural_image_patches(n_patches=2000, data_home=data_home,
                                    min_variance_ratio=0.1)
    np.testing.assert_array_equal(b.data, b2.data)


def _lcn_reference(X, h, w, k, sigma, mode):
    """Direct definition: 2-D correlation with the normalised Gaussian window."""
    ax = np.arange(k) - (k - 1) / 2.0
    g = np.exp(-(ax**2) / (2.0 * sigma**2))
    kern = np.outer(g, g) / np.outer(g, g).sum()

    def corr(imgs):
        if mode == "same":
            imgs = np.pad(imgs, ((0, 0), ((k - 1) // 2, k // 2), ((k - 1) // 2, k // 2)),
                          mode="reflect")
        n, H, W = imgs.shape
        out = np.zeros((n, H - k + 1, W - k + 1))
        for i in range(k):
            for j in range(k):
                out += kern[i, j] * imgs[:, i:i + H - k + 1, j:j + W - k + 1]
        return out

    imgs = X.reshape(-1, h, w).astype(np.float64)
    c = (k - 1) if mode == "valid" else 0
    lo, hi = c // 2, c - c // 2
    v = imgs[:, lo:h - hi, lo:w - hi] - corr(imgs)
    std = np.sqrt(corr(v**2))
    return v[:, lo:v.shape[1] - hi, lo:v.shape[2] - hi], std


@pytest.mark.parametrize("k, mode", [(5, "valid"), (4, "valid"), (5, "same"), (4, "same")])
def test_local_contrast_matches_direct_definition(k, mode):
    rng = np.random.RandomState(0)
    X = rng.rand(7, 16 * 14)
    lcn = LocalContrastNormalizer((16, 14), kernel_size=k, sigma=1.5, mode=mode).fit(X)
    v, std = _lcn_reference(X, 16, 14, k, 1.5, mode)
    assert lcn.std_floor_ == pytest.approx(std.mean())
    expected = (v / np.maximum(std, lcn.std_floor_)).reshape(7, -1)
    np.testing.assert_allclose(lcn.transform(X), expected, rtol=1e-10, atol=1e-12)


def test_local_contrast_memory_is_bounded_by_the_chunk(monkeypatch):
    import tracemalloc

    import skdeepsparse.preprocessing as pre

    monkeypatch.setattr(pre, "_LCN_CHUNK", 256)
    X = np.random.RandomState(0).rand(4096, 28 * 28).astype(np.float32)
    lcn = LocalContrastNormalizer((28, 28)).fit(X[:256])
    tracemalloc.start()
    out = lcn.transform(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    chunk = 256 * 28 * 28 * 8  # one chunk in float64
    # Output plus a few float64 copies of one chunk, whatever the number of rows
    # (the unchunked version peaked at about 113x the input).
    assert peak - out.nbytes < 12 * chunk
    assert peak < 2 * X.nbytes


@pytest.mark.parametrize(
    "est",
    [ZCAWhitening(), PatchNormalizer("global"), PatchNormalizer("feature"),
     PatchNormalizer("sample")],
    ids=["zca", "global", "feature", "sample"],
)
def test_row_transformers_memory_is_bounded_by_the_chunk(monkeypatch, est):
    """fit, transform and inverse_transform use about two float64 chunks besides the output
    (before chunking: 2-5x the whole input)."""
    import tracemalloc

    import skdeepsparse.preprocessing as pre

    n_features = 64
    chunk = 256 * n_features * 8  # one chunk of 256 rows in float64
    monkeypatch.setattr(pre, "_CHUNK_BYTES", chunk)
    X = np.random.RandomState(0).rand(20_000, n_features).astype(np.float32)
    est.fit(X[:500])
    calls = {"fit": lambda: est.fit(X) and None, "transform": lambda: est.transform(X)}
    if est.get_params().get("method") != "sample":
        calls["inverse_transform"] = lambda: est.inverse_transform(X)
    matrices = 3 * n_features * n_features * 8  # ZCA's covariance and eigenvectors
    for name, call in calls.items():
        tracemalloc.start()
        out = call()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        extra = peak - (0 if out is None else out.nbytes)
        assert extra < 2.5 * chunk + matrices, (name, extra / chunk)
        assert extra < 0.1 * X.nbytes, name


# ------------------------------------------------- bad input that used to pass silently
@pytest.mark.parametrize("method", ["global", "feature"])
def test_patch_normalizer_constant_data_gets_scale_one(method):
    """As StandardScaler: no variance -> scale 1 (not eps, which gave outputs of 1e8)."""
    X = np.full((10, 3), 0.7)
    with pytest.warns(UserWarning, match="constant"):
        norm = PatchNormalizer(method).fit(X)
    np.testing.assert_array_equal(norm.scale_, 1.0)
    Y = norm.transform(X + 1.0)
    np.testing.assert_allclose(Y, 1.0)
    np.testing.assert_allclose(norm.inverse_transform(Y), X + 1.0)


def test_patch_normalizer_constant_feature_among_others_is_quiet():
    rng = np.random.RandomState(0)
    X = rng.rand(30, 4)
    X[:, 2] = 5.0
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norm = PatchNormalizer("feature").fit(X)
    assert norm.scale_[2] == 1.0 and np.all(norm.scale_[[0, 1, 3]] < 1.0)
    assert np.all(np.isfinite(norm.transform(X + 3.0)))


def test_patch_normalizer_sample_constant_rows():
    X = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    Y = PatchNormalizer("sample").fit_transform(X)
    np.testing.assert_array_equal(Y[0], 0.0)
    np.testing.assert_allclose(Y[1].std(), 1.0, rtol=1e-5)


@pytest.mark.parametrize("eps", [0, 0.0, -1e-3, float("nan"), float("inf"), True])
def test_patch_normalizer_eps_must_be_positive(eps):
    with pytest.raises(ValueError, match="eps"):
        PatchNormalizer(eps=eps).fit(np.random.RandomState(0).rand(5, 3))


@pytest.mark.parametrize("method", ["global", "feature"])
def test_patch_normalizer_inverse_wrong_width(method):
    norm = PatchNormalizer(method).fit(np.random.RandomState(0).rand(10, 4))
    with pytest.raises(ValueError, match="5 features.*expecting 4"):
        norm.inverse_transform(np.zeros((2, 5)))


def test_patch_normalizer_extreme_magnitudes():
    rng = np.random.RandomState(0)
    X = rng.rand(50, 6)
    for big, dtype in ((1e300, np.float64), (1e30, np.float32)):
        Xb = (X * big).astype(dtype)
        for method in ("global", "feature", "sample"):
            Y = PatchNormalizer(method).fit_transform(Xb)
            assert Y.dtype == dtype and np.all(np.isfinite(Y)), method
            np.testing.assert_allclose(Y, PatchNormalizer(method).fit_transform(X),
                                       rtol=1e-4, atol=1e-4)
    small = PatchNormalizer("global").fit(X)
    with pytest.raises(ValueError, match="non-finite.*too large"):
        small.transform(X * 1e308)
    with pytest.raises(ValueError, match="non-finite"):
        PatchNormalizer("global").fit(X * 100).inverse_transform(
            np.full((2, 6), 3e38, dtype=np.float32))


def test_zca_rank_deficient_without_epsilon_warns_and_stays_finite():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 3) @ rng.randn(3, 6)  # rank 3 in 6 features
    with pytest.warns(UserWarning, match="rank 3 of 6.*epsilon=0"):
        zca = ZCAWhitening(epsilon=0.0).fit(X)
    Y = zca.transform(X)
    assert np.abs(Y).max() < 100  # was ~1e141
    # the data's own span is whitened exactly
    np.testing.assert_allclose(np.linalg.eigvalsh(np.cov(Y.T))[-3:], 1.0, rtol=1e-6)
    np.testing.assert_allclose(zca.inverse_transform(Y), X, atol=1e-8)
    # the default epsilon regularises instead: no warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ZCAWhitening().fit(X)


def test_zca_extreme_magnitudes():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 5)
    with pytest.raises(ValueError, match="Rescale"):
        ZCAWhitening().fit(X * 1e300)
    Y = ZCAWhitening().fit_transform((X * 1e30).astype(np.float32))
    assert Y.dtype == np.float32 and np.all(np.isfinite(Y))
    zca = ZCAWhitening().fit(X * 1e-3)  # whitening gains of about 1e3
    with pytest.raises(ValueError, match="non-finite"):
        zca.transform(X * 1e307)


def test_local_contrast_extreme_magnitudes():
    X = np.random.RandomState(0).rand(4, 100)
    with pytest.raises(ValueError, match="Rescale"):
        LocalContrastNormalizer((10, 10), kernel_size=3).fit(X * 1e300)
    lcn = LocalContrastNormalizer((10, 10), kernel_size=3).fit(X)
    with pytest.raises(ValueError, match="Rescale"):
        lcn.transform(X * 1e300)
    Y = lcn.transform((X * 1e30).astype(np.float32))
    assert np.all(np.isfinite(Y))


def test_whitening_extreme_magnitudes():
    img = np.random.RandomState(0).rand(16, 16)
    ref = whiten_images([img])[0]
    np.testing.assert_allclose(whiten_images([img * 1e300])[0], ref, rtol=1e-6, atol=1e-9)
    raw = whiten_images([img * 1e300], normalize=False)[0]
    assert np.all(np.isfinite(raw))
