"""Dataset loaders, metrics and the evaluation protocols."""

import numpy as np
import pytest

from skdeepsparse.datasets import load_digits_data, load_fashion_mnist, load_mnist
from skdeepsparse.evaluation import denoising_scores, linear_probe, sample_per_class
from skdeepsparse.metrics import (
    active_components,
    active_components_kl,
    active_components_variance,
    code_sparsity,
    psnr,
)


def test_mnist_loader(data_home):
    train = load_mnist("train", data_home=data_home, n_samples=100)
    test = load_mnist("test", data_home=data_home)
    assert train.data.shape == (100, 784) and train.data.dtype == np.float32
    assert test.data.shape == (10000, 784)
    assert 0.0 <= test.data.min() and test.data.max() == 1.0
    assert np.bincount(test.target).tolist()[:2] == [980, 1135]


def test_fashion_loader_and_env(data_home, monkeypatch):
    monkeypatch.setenv("SKDEEPSPARSE_DATA", str(data_home))
    f = load_fashion_mnist("test", n_samples=1000, dtype=np.float64)
    assert f.data.dtype == np.float64 and len(f.target_names) == 10


def test_missing_files_give_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found in .*download_if_missing=True"):
        load_mnist(data_home=tmp_path, download_if_missing=False)
    with pytest.raises(ValueError, match="subset"):
        load_mnist("val", data_home=tmp_path)


def test_load_dataset_by_name(data_home):
    from skdeepsparse.app.options import DATASETS as COMMAND_DATASETS
    from skdeepsparse.datasets import DATASETS, load_dataset

    for name, loader in (("mnist", load_mnist), ("fashion_mnist", load_fashion_mnist)):
        by_name = load_dataset(name, "test", data_home=data_home, n_samples=50)
        direct = loader("test", data_home=data_home, n_samples=50)
        assert by_name.name == name
        np.testing.assert_array_equal(by_name.data, direct.data)
        np.testing.assert_array_equal(by_name.target, direct.target)
    assert DATASETS == COMMAND_DATASETS  # the command line offers what the library loads
    for bad in ("fashion", "MNIST", None):
        with pytest.raises(ValueError, match="name must be one of"):
            load_dataset(bad, data_home=data_home)


def test_digits_default():
    d = load_digits_data()
    assert d.data.shape == (1797, 64) and d.data.max() == 1.0


def test_psnr_definition():
    x = np.zeros((2, 4))
    y = np.full((2, 4), 0.1)
    assert psnr(x, y) == pytest.approx(20.0)
    assert psnr(x, x) == pytest.approx(40.0)  # MSE floor caps at 40 dB
    with pytest.raises(ValueError, match="Shapes"):
        psnr(x, y[:1])


def test_sparsity_and_active_counts():
    Z = np.zeros((200, 4))
    Z[:, 0] = 1.0
    Z[:3, 1] = 1.0  # 1.5% of samples: active
    Z[:1, 2] = 1.0  # 0.5%: not active
    assert code_sparsity(Z) == pytest.approx(1 - (200 + 3 + 1) / 800)
    assert active_components(Z) == 2
    assert active_components_kl(np.array([[0.2, 0.05], [0.1, 0.1]])) == 1
    assert active_components_variance(Z) == 1


def test_linear_probe_on_digits():
    d = load_digits_data()
    X, y = d.data, d.target
    res = linear_probe(X[:1000], y[:1000], X[1000:], y[1000:], n_per_class=(1, 10), n_seeds=3)
    assert set(res) == {1, 10}
    assert res[10]["mean"] > res[1]["mean"] > 0.2
    assert len(res[10]["scores"]) == 3
    idx = sample_per_class(y, 5, 0)
    assert np.bincount(y[idx]).tolist() == [5] * 10
    with pytest.raises(ValueError, match="too many"):
        sample_per_class(y[:20], 5)


def test_linear_probe_standardize_false_fits_the_features_as_given():
    from sklearn.linear_model import LogisticRegression

    d = load_digits_data()
    X, y = d.data / 16, d.target
    # A feature scaled up 30x weighs more in the L2-penalised fit only without the scaler.
    X = np.column_stack([X, 30 * X[:, 20]])
    res = linear_probe(X[:1000], y[:1000], X[1000:], y[1000:], n_per_class=(5,), n_seeds=2,
                       standardize=False)
    scaled = linear_probe(X[:1000], y[:1000], X[1000:], y[1000:], n_per_class=(5,), n_seeds=2)
    for s in range(2):
        idx = sample_per_class(y[:1000], 5, s)
        clf = LogisticRegression(max_iter=2000).fit(X[idx], y[idx])
        assert res[5]["scores"][s] == clf.score(X[1000:], y[1000:])
    assert res[5]["scores"] != scaled[5]["scores"]


def test_denoising_scores_identity():
    class Identity:
        def transform(self, X):
            return X

        def inverse_transform(self, Z):
            return Z

    X = np.random.RandomState(0).rand(50, 16)
    res = denoising_scores(Identity(), X, 0.1, random_state=0)
    assert res["psnr_denoised"] == pytest.approx(res["psnr_noisy"])
    assert 19 < res["psnr_noisy"] < 21


# ------------------------------------------------------------ filter quality
def _gabors(n, size, seed=0):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[:size, :size].astype(float)
    out = []
    for _ in range(n):
        cx, cy = rng.uniform(0.3 * size, 0.7 * size - 1, 2)
        s, f = rng.uniform(0.1, 0.2) * size, rng.uniform(0.15, 0.35)
        th, ph = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        xr = (x - cx) * np.cos(th) + (y - cy) * np.sin(th)
        env = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
        out.append((env * np.cos(2 * np.pi * f * xr + ph)).ravel())
    return np.array(out)


@pytest.mark.parametrize("size", [10, 12, 16])
def test_filter_quality_separates_gabors_from_noise(size):
    from skdeepsparse.metrics import (
        gabor_like_fraction,
        spatial_concentration,
        spectral_concentration,
    )

    shape = (size, size)
    G = _gabors(300, size)
    noise = np.random.RandomState(1).randn(300, size * size)
    y, x = np.mgrid[:size, :size]
    waves = np.array([np.cos(2 * np.pi * 0.2 * (np.cos(t) * x + np.sin(t) * y) + p).ravel()
                      for t, p in np.random.RandomState(2).rand(50, 2) * [np.pi, 6]])
    spots = np.eye(size * size)[:50]
    assert gabor_like_fraction(G, shape) > 0.9
    assert gabor_like_fraction(noise, shape) < 0.03
    # compact in space only (spots) or in frequency only (plane waves): not Gabor-like
    assert gabor_like_fraction(spots, shape) == 0.0
    assert gabor_like_fraction(waves, shape) == 0.0
    # oriented-only rule (spectrum alone) keeps the plane waves
    assert gabor_like_fraction(waves, shape, localised=False) == 1.0
    assert gabor_like_fraction(noise, shape, localised=False) < 0.03
    # scale-free: shrunk filters are judged by their shape
    frac, mask = gabor_like_fraction(G, shape, return_mask=True)
    frac_small, mask_small = gabor_like_fraction(1e-6 * G, shape, return_mask=True)
    assert frac == frac_small and np.array_equal(mask, mask_small)
    np.testing.assert_allclose(spectral_concentration(3 * G, shape),
                               spectral_concentration(G, shape))
    assert np.median(spatial_concentration(G, shape)) > np.median(
        spatial_concentration(noise, shape))
    # all-zero filters count as not Gabor-like; wrong sizes are refused
    assert gabor_like_fraction(np.zeros((3, size * size)), shape) == 0.0
    with pytest.raises(ValueError, match="image_shape"):
        gabor_like_fraction(G[:, :-1], shape)
    with pytest.raises(ValueError, match="top"):
        gabor_like_fraction(G, shape, top=1.5)
