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
    with pytest.raises(FileNotFoundError, match="does not download"):
        load_mnist(data_home=tmp_path)
    with pytest.raises(ValueError, match="subset"):
        load_mnist("val", data_home=tmp_path)


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
