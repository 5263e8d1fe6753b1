"""Persistence across machines: every estimator saved with joblib on a GPU host loads on a CPU host.

A CPU-only machine cannot produce CUDA tensors, so the GPU side is simulated the
way it reaches disk: pickling moves every tensor to the CPU and keeps only the
fitted ``device_``; here that ``device_`` says ``cuda:0``. The real GPU round
trip is in ``tests/test_gpu.py``.
"""

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skdeepsparse import (
    SpikeSlabGenerator,
    SVAETransformer,
    ThresholdedVAE,
    VarianceRegDictionaryLearner,
)

_SMALL = {
    VarianceRegDictionaryLearner: dict(n_components=8, max_epochs=2, max_inference_iter=20,
                                       batch_size=64),
    SVAETransformer: dict(n_components=8, max_epochs=2, encoder_layers=(16,),
                          mean_layers=(16,), scale_layers=(16,)),
    ThresholdedVAE: dict(n_components=8, max_epochs=2, n_samples=2, n_eval_samples=2,
                         encoder_kwargs={"hidden_sizes": (16,)}),
    SpikeSlabGenerator: dict(n_components=8, hidden_sizes=(16,), max_epochs=2,
                             alpha_warmup_epochs=1, n_inference_steps=5),
}


@pytest.mark.parametrize("cls", list(_SMALL), ids=lambda c: c.__name__)
def test_gpu_saved_model_loads_and_transforms_on_cpu(cls, tmp_path):
    X = (load_digits().data[:200] / 16.0).astype(np.float32)
    est = cls(**_SMALL[cls], device="cpu", random_state=0).fit(X)
    expected = est.transform(X)
    est.device_ = torch.device("cuda", 0)  # as fitted on a GPU host
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    if torch.cuda.is_available():
        loaded = joblib.load(path)
        assert loaded.device_.type == "cuda"
    else:
        with pytest.warns(UserWarning, match="loaded on the CPU"):
            loaded = joblib.load(path)
        assert loaded.device_ == torch.device("cpu")
        assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    np.testing.assert_allclose(loaded.transform(X), expected, rtol=1e-5, atol=1e-6)
    # the loaded model keeps training where it stopped
    steps = loaded.n_steps_
    loaded.partial_fit(X)
    assert loaded.n_steps_ > steps
