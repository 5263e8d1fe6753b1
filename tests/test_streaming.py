"""partial_fit streams a memory-mapped dataset with memory bounded by the chunk size."""

import tracemalloc

import numpy as np
import pytest

from skdeepsparse import VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_mnist


@pytest.mark.slow
def test_partial_fit_over_memmap_of_all_mnist(data_home, tmp_path):
    train = load_mnist("train", data_home=data_home)  # 60,000 x 784 float32
    path = tmp_path / "mnist.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=train.data.shape)
    mm[:] = train.data
    mm.flush()
    full_bytes = train.data.nbytes
    del mm, train
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(60000, 784))
    est = VarianceRegDictionaryLearner(n_components=32, inference_steps=20, batch_size=250,
                                       decoder_learning_rate=3e-3, learning_rate=1e-3, device="cpu",
                                       random_state=0)
    chunk = 2000
    # The first call builds the model (and triggers lazy imports): trace the stream after it.
    est.partial_fit(X[:chunk])
    tracemalloc.start()
    for start in range(chunk, X.shape[0], chunk):
        est.partial_fit(X[start:start + chunk])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert est.n_steps_ == 60000 // 250
    # Python-side allocations stay below one chunk (6.3 MB), far below the 188 MB dataset.
    assert peak < full_bytes / 30, f"peak {peak / 1e6:.1f} MB"
    # The model learned from the stream: reconstructions beat the mean image.
    test = load_mnist("test", data_home=data_home, n_samples=1000).data
    mse = ((est.inverse_transform(est.transform(test)) - test) ** 2).mean()
    assert mse < ((test - X[:10000].mean(0)) ** 2).mean()
