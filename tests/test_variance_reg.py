"""VarianceRegDictionaryLearner on real MNIST: it learns, and variance
regularisation prevents the collapse that plain L1 suffers (the paper's point)."""

import numpy as np
import pytest
import torch

from skdeepsparse import VarianceRegDictionaryLearner
from skdeepsparse.metrics import code_sparsity, psnr
from skdeepsparse.variance_reg import _variance_hinge, _variance_hinge_grad

FAST = dict(
    n_components=64, max_epochs=20, inference_steps=100, decoder_learning_rate=3e-3,
    learning_rate=1e-3, device="cpu", random_state=0,
)


@pytest.fixture(scope="module")
def fitted(mnist_small):
    X, _, Xt, _ = mnist_small
    vdl = VarianceRegDictionaryLearner(regularizer="variance", **FAST).fit(X)
    l1 = VarianceRegDictionaryLearner(regularizer="none", **FAST).fit(X)
    return vdl, l1, X, Xt


def test_vdl_learns_on_mnist(fitted):
    vdl, _, X, Xt = fitted
    baseline = psnr(Xt, np.tile(X.mean(0), (len(Xt), 1)))
    Z = vdl.transform(Xt)
    assert psnr(Xt, vdl.inverse_transform(Z)) > baseline + 2.0
    # Codes are sparse, non-negative, and most latents are in use.
    assert code_sparsity(Z) > 0.5
    assert Z.min() >= 0
    assert (np.abs(Z) > 0).mean(0).__ge__(0.01).sum() >= 32


def test_variance_prevents_collapse(fitted):
    vdl, l1, _, Xt = fitted
    T = vdl.variance_threshold
    # FISTA codes during training: their batch std is held near the threshold...
    assert vdl.history_[-1]["code_std"] > 0.8 * T
    # ...while with L1 alone the codes shrink towards zero and the atoms grow.
    assert l1.history_[-1]["code_std"] < 0.25 * T
    assert l1.history_[-1]["col_norm"] > 1.5 * l1.history_[0]["col_norm"]
    std_vdl = np.median(vdl.transform(Xt).std(0))
    std_l1 = np.median(l1.transform(Xt).std(0))
    assert std_vdl > 0.5 * T
    assert std_l1 < 0.1 * T
    assert vdl.score(Xt) > l1.score(Xt)


def test_components_match_inverse_transform(fitted):
    vdl, _, _, Xt = fitted
    Z = vdl.transform(Xt[:50])
    np.testing.assert_allclose(
        vdl.inverse_transform(Z), Z @ vdl.components_ + vdl.mean_, rtol=1e-4, atol=1e-4
    )
    assert vdl.components_.shape == (64, 784)


def test_fista_transform_is_batch_independent(fitted):
    vdl, _, _, Xt = fitted
    vdl = vdl.set_params(transform_mode="fista")
    try:
        full = vdl.transform(Xt[:40])
        parts = np.vstack([vdl.transform(Xt[:13]), vdl.transform(Xt[13:40])])
        np.testing.assert_allclose(full, parts, atol=1e-5)
        # FISTA refines the encoder's codes: lower energy reconstruction.
        assert vdl.score(Xt[:200]) > vdl.set_params(transform_mode="encoder").score(Xt[:200])
    finally:
        vdl.set_params(transform_mode="encoder")


def test_variance_hinge_gradient_matches_autograd():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([0.1, 0.3, 1, 2, 0.4, 0.05], dtype=torch.float64)
    Z = torch.randn(30, 6, generator=g, dtype=torch.float64) * scales
    Z[:, 0] = 0.0  # a dead latent: no gradient without eps
    Zr = Z.clone().requires_grad_(True)
    loss = 7.0 * _variance_hinge(Zr, 0.5, 0.0)
    (auto,) = torch.autograd.grad(loss, Zr)
    auto = torch.nan_to_num(auto)
    np.testing.assert_allclose(_variance_hinge_grad(Z, 0.5, 7.0, 0.0), auto, atol=1e-10)
    assert torch.all(_variance_hinge_grad(Z, 0.5, 7.0, 0.0)[:, 0] == 0)
    # Latents above the threshold get no push.
    assert torch.all(_variance_hinge_grad(Z, 0.5, 7.0, 0.0)[:, 2:4] == 0)


@pytest.mark.parametrize("regularizer", ["column_norm", "weight_decay"])
def test_other_regularizers(mnist_small, regularizer):
    X = mnist_small[0][:600]
    est = VarianceRegDictionaryLearner(
        regularizer=regularizer, decoder_weight_decay=1e-3, sparsity_reg=0.005,
        **{**FAST, "max_epochs": 2},
    ).fit(X)
    if regularizer == "column_norm":
        norms = np.linalg.norm(est.module_.decoder.weight.detach().numpy(), axis=0)
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert np.isfinite(est.transform(X[:10])).all()


def test_mlp_decoder_column_norm_both_layers(mnist_small):
    X = mnist_small[0][:300]
    est = VarianceRegDictionaryLearner(
        decoder="mlp", decoder_hidden_sizes=(32,), regularizer="column_norm", n_components=16,
        max_epochs=1, inference_steps=10, device="cpu", random_state=0,
    ).fit(X)
    for lin in [m for m in est.module_.decoder if isinstance(m, torch.nn.Linear)]:
        np.testing.assert_allclose(lin.weight.detach().norm(dim=0).numpy(), 1.0, rtol=1e-5)
    with pytest.raises(AttributeError, match="decoder='linear'"):
        _ = est.components_


def test_parameter_errors(mnist_small):
    X = mnist_small[0][:50]
    with pytest.raises(ValueError, match="decoder_weight_decay"):
        VarianceRegDictionaryLearner(regularizer="weight_decay", device="cpu").fit(X)
    with pytest.raises(ValueError, match="inference_step_size='auto'"):
        VarianceRegDictionaryLearner(decoder="mlp", inference_step_size="auto", device="cpu").fit(X)
    with pytest.raises(ValueError, match="'regularizer' parameter"):
        VarianceRegDictionaryLearner(regularizer="l2").fit(X)
    with pytest.raises(ValueError, match="'sparsity_reg' parameter"):
        VarianceRegDictionaryLearner(sparsity_reg=-1.0).fit(X)


def test_auto_step_runs(mnist_small):
    X = mnist_small[0][:300]
    est = VarianceRegDictionaryLearner(inference_step_size="auto",
                                       **{**FAST, "max_epochs": 2}).fit(X)
    assert np.isfinite(est.history_[-1]["loss"])


def test_lr_decay_schedule(mnist_small):
    # The VDL-NL scripts' step schedule, lr0 * mult ** floor(epochs / freq), on the
    # decoder only; the encoder keeps its rate.
    X = mnist_small[0][:200]
    est = VarianceRegDictionaryLearner(
        decoder_lr_decay_every=2, decoder_lr_decay=0.5,
        **{**FAST, "max_epochs": 5, "inference_steps": 5},
    ).fit(X)
    enc, dec = est._optimizers
    assert dec.param_groups[0]["lr"] == pytest.approx(FAST["decoder_learning_rate"] * 0.25)
    assert enc.param_groups[0]["lr"] == pytest.approx(FAST["learning_rate"])


def test_unstable_fixed_step_warns(mnist_small):
    X = mnist_small[0][:100]
    with pytest.warns(UserWarning, match="unstable"):
        VarianceRegDictionaryLearner(n_components=16, code_reg=100.0, max_epochs=1,
                                     inference_steps=5, device="cpu").fit(X)
