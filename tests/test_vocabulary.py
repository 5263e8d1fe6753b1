"""One name, one meaning: the docs' parameter table is generated from the
estimators (it must not go stale), and a name shared by several estimators is
checked for what it does in each of them, not only for its presence."""

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skdeepsparse import registry
from skdeepsparse.metrics import code_sparsity

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _make_vocabulary():
    spec = importlib.util.spec_from_file_location("make_vocabulary", DOCS / "make_vocabulary.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_vocabulary_page_is_current():
    mod = _make_vocabulary()
    # render() also raises when a shared name is missing from an estimator.
    assert (DOCS / "vocabulary.rst").read_text() == mod.render(), (
        "docs/vocabulary.rst is stale: run python docs/make_vocabulary.py")


def test_renamed_parameters_are_gone():
    """Pre-1.0: a rename leaves no alias behind."""
    for est, old, new, _ in _make_vocabulary().RENAMES:
        params = inspect.signature(registry.ESTIMATORS[est].cls.__init__).parameters
        old_name, new_name = old.split()[0], new.split()[0]
        if old_name.isidentifier() and old_name != new_name:  # (else a new meaning)
            assert old_name not in params, (est, old_name)
        if new_name.isidentifier():
            assert new_name in params, (est, new_name)


@pytest.fixture(scope="module")
def digits():
    return (load_digits().data[:120] / 16).astype(np.float64)


def _atom_layers(est):
    """The weights whose columns are the decoder's atoms, per model."""
    module = est.module_
    if hasattr(module, "phi"):  # SVAE: Phi (n_features, K), one filter per column
        return [module.phi().detach()]
    if hasattr(module, "net"):  # spike-and-slab generator: every Linear
        return [m.weight.detach() for m in module.net.modules()
                if isinstance(m, torch.nn.Linear)]
    return [m.weight.detach() for m in module.decoder.modules()
            if isinstance(m, torch.nn.Linear)]


_NORM_CASES = [("VarianceRegDictionaryLearner", "test", {}),
               ("VarianceRegDictionaryLearner", "test_mlp", {}),
               ("SVAETransformer", "test", {}),
               ("SVAETransformer", "test", {"decoder_norm_method": "weight_norm"}),
               ("ThresholdedVAE", "test", {}),
               ("SpikeSlabGenerator", "test", {})]


@pytest.mark.parametrize("name, preset, extra", _NORM_CASES)
@pytest.mark.parametrize("norm", [1.0, 0.5])
def test_decoder_norm_holds_every_atom_at_that_norm(digits, name, preset, extra, norm):
    """decoder_norm=r: every decoder column has L2 norm r after fit, in every model
    that has the name; None leaves the atoms free."""
    est = registry.make(name, preset, decoder_norm=norm, max_epochs=2, **extra).fit(digits)
    for W in _atom_layers(est):
        torch.testing.assert_close(W.norm(dim=0).double(),
                                   torch.full((W.shape[1],), norm, dtype=torch.float64),
                                   rtol=1e-5, atol=1e-6)
    free = registry.make(name, preset, decoder_norm=None, max_epochs=2, **extra).fit(digits)
    W = _atom_layers(free)[0]
    assert (W.norm(dim=0) - W.norm(dim=0).mean()).abs().max() > 1e-4


def test_inference_step_size_is_the_step_of_the_same_update(digits):
    """inference_step_size = eta in both models that infer codes by iterating:
    one step from z0 is z0 - eta grad E(z0) (the spike-and-slab model's gradient
    step on E = -log p(x, z)), followed by the L1 prox in the VDL's FISTA; the
    gradients come from autograd here, not from the models' hand-written ones."""
    eta = 0.01
    X = torch.as_tensor(digits[:30])
    # Spike and slab: z1 = 0 + eta * grad log p(x, z) at z = 0.
    ss = registry.make("SpikeSlabGenerator", "test", inference_step_size=eta,
                       transform_inference_steps=1, transform_alpha=0.3).fit(digits)
    z = torch.zeros(30, ss.n_components, dtype=X.dtype, requires_grad=True)
    prior = torch.log(0.3 * torch.exp(torch.distributions.Normal(0.0, ss.slab_std).log_prob(z))
                      + 0.7 * torch.exp(torch.distributions.Normal(0.0, ss.spike_std).log_prob(z)))
    log_joint = -((X - ss.module_(z)) ** 2).sum() / (2 * ss.likelihood_std**2) + prior.sum()
    (grad,) = torch.autograd.grad(log_joint, z)
    np.testing.assert_allclose(ss.transform(digits[:30]), (eta * grad).numpy(),
                               rtol=1e-6, atol=1e-9)
    # VDL (MLP decoder, FISTA without the batch hinge): z1 = max(0, z0 - eta g - eta lam).
    vdl = registry.make("VarianceRegDictionaryLearner", "test_mlp", inference_step_size=eta,
                        inference_steps=1, inference_tol=0.0).fit(digits)
    Y = vdl._standardize(X)
    with torch.no_grad():
        z0 = vdl.module_.encoder(Y)
    z1, _ = vdl._infer(Y, z0, variance=False)
    z = z0.clone().requires_grad_(True)
    P, n_lat = Y.shape[1], z.shape[1]
    smooth = (((Y - vdl.module_.decoder(z)) ** 2).sum() / P
              + vdl.code_reg * ((z - z0) ** 2).sum() / n_lat)
    (g,) = torch.autograd.grad(smooth, z)
    expected = torch.clamp(z0 - eta * g - eta * vdl.sparsity_reg, min=0)
    np.testing.assert_allclose(z1.detach().numpy(), expected.numpy(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("base", ["laplace", "gaussian"])
def test_target_density_is_the_fraction_of_nonzero_codes(base):
    """target_density is what 1 - metrics.code_sparsity measures on codes drawn
    from the model's prior (Monte Carlo through the model's own sampler)."""
    from skdeepsparse.distributions import shifted_soft_threshold

    est = registry.make("ThresholdedVAE", "test", base_dist=base, target_density=0.3,
                        max_epochs=1).fit(load_digits().data[:60] / 16)
    est._generator = torch.Generator().manual_seed(0)
    u = est.prior_scale_ * est._base_noise((200_000,), torch.zeros((), dtype=torch.float64))
    z = shifted_soft_threshold(torch.zeros(()), u, est.threshold_)
    density = 1.0 - code_sparsity(z.numpy())
    assert density == pytest.approx(0.3, abs=4 * (0.3 * 0.7 / 200_000) ** 0.5)
    assert est.prior_nonzero_fraction_ == pytest.approx(0.3)


@pytest.mark.parametrize("name", ["VarianceRegDictionaryLearner", "ThresholdedVAE"])
def test_standardize_means_the_global_mean_and_std(digits, name):
    """standardize=True: the model sees (X - mean) / std with one scalar each, the
    statistics numpy computes; inverse_transform returns to data units."""
    est = registry.make(name, "test", standardize=True, max_epochs=1).fit(digits)
    assert est.mean_ == pytest.approx(digits.mean(), rel=1e-12)
    assert est.scale_ == pytest.approx(digits.std(), rel=1e-12)
    off = registry.make(name, "test", standardize=False, max_epochs=1).fit(digits)
    assert (off.mean_, off.scale_) == (0.0, 1.0)
