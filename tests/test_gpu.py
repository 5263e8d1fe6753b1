"""GPU behaviour; skipped on machines without CUDA (run them where one is lent)."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import sparse_encode as sk_sparse_encode

from skdeepsparse import VarianceRegDictionaryLearner, sparse_encode

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_fit_on_gpu_pickle_to_cpu_state():
    X = load_digits().data[:300] / 16.0
    est = VarianceRegDictionaryLearner(n_components=16, max_epochs=2, device="cuda",
                                       random_state=0).fit(X)
    assert est.device_.type == "cuda"
    assert next(est.module_.parameters()).is_cuda
    state = est.__getstate__()
    assert not next(state["module_"].parameters()).is_cuda
    new = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(new.transform(X), est.transform(X), rtol=1e-5, atol=1e-6)
    cpu = VarianceRegDictionaryLearner(n_components=16, max_epochs=2, device="cpu",
                                       random_state=0).fit(X)
    # Same seed, same initial weights on either device.
    assert cpu.history_[0]["loss"] == pytest.approx(est.history_[0]["loss"], rel=1e-3)


def test_device_change_moves_a_fitted_model_and_its_optimizer_state():
    X = load_digits().data[:300] / 16.0
    est = VarianceRegDictionaryLearner(n_components=16, max_epochs=1, device="cpu",
                                       random_state=0).fit(X)
    before = est.transform(X)
    est.set_params(device="cuda")
    np.testing.assert_allclose(est.transform(X), before, rtol=1e-4, atol=1e-5)
    assert next(est.module_.parameters()).is_cuda and est.device_.type == "cuda"
    est.partial_fit(X)
    for opt in est._optimizers:
        for st in opt.state.values():
            assert all(v.is_cuda for v in st.values()
                       if isinstance(v, torch.Tensor) and v.dim() > 0)
    est.set_params(device="cpu").partial_fit(X)
    assert not next(est.module_.parameters()).is_cuda and est.n_iter_ == 3


def test_sparse_encode_on_gpu():
    rng = np.random.RandomState(0)
    D = rng.randn(64, 100)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.randn(500, 100)
    ours = sparse_encode(X, D, alpha=0.5, device="cuda")
    ref = sk_sparse_encode(X, D, alpha=0.5, algorithm="lasso_cd")
    obj = lambda C: (0.5 * ((X - C @ D) ** 2).sum() + 0.5 * np.abs(C).sum())  # noqa: E731
    assert obj(ours) <= obj(ref) * (1 + 1e-4)
