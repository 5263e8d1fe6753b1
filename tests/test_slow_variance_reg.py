"""Longer VDL runs on real MNIST (run with ``pytest -m slow``)."""

import numpy as np
import pytest

from skdeepsparse import VarianceRegDictionaryLearner, registry
from skdeepsparse.evaluation import denoising_scores, linear_probe
from skdeepsparse.metrics import code_sparsity, psnr

pytestmark = pytest.mark.slow


def test_vdl_nl_and_low_data_probe(mnist_small):
    X, y, Xt, yt = mnist_small
    common = dict(n_components=64, max_epochs=20, inference_steps=50, device="cpu",
                  random_state=0, learning_rate=1e-3)
    lin = VarianceRegDictionaryLearner(decoder_learning_rate=3e-3, **common).fit(X)
    # (code_reg=100 as in the paper's VDL-NL needs 128 latents: with a fixed step 0.5,
    # 2 * code_reg / n_components must stay below 4 or FISTA oscillates.)
    nl = VarianceRegDictionaryLearner(decoder="mlp", decoder_hidden_sizes=(256,), sparsity_reg=0.01,
                                      decoder_learning_rate=1e-3, **common).fit(X)
    baseline = psnr(Xt, np.tile(X.mean(0), (len(Xt), 1)))
    for est in (lin, nl):
        Z = est.transform(Xt)
        assert psnr(Xt, est.inverse_transform(Z)) > baseline + 2
        assert code_sparsity(Z) > 0.3
    # Codes carry class information: the 10-labels probe beats chance by far.
    probe = linear_probe(lin.transform(X), y, lin.transform(Xt), yt, n_per_class=(10,),
                         n_seeds=3)
    assert probe[10]["mean"] > 0.5
    # Encoding and decoding a noisy digit removes part of the noise.
    den = denoising_scores(lin, Xt, 0.3081, random_state=0)
    assert den["psnr_denoised"] > den["psnr_noisy"]


def _fit_preset(preset, mult, X, Xt):
    """(% zeros, PSNR) on ``Xt`` of a paper preset, lambda x ``mult``, 6 epochs on ``X``."""
    lam = registry.presets("VarianceRegDictionaryLearner")[preset]["sparsity_reg"]
    est = registry.make("VarianceRegDictionaryLearner", preset, sparsity_reg=lam * mult,
                        max_epochs=6, validation_fraction=0.0, device="cpu",
                        random_state=0).fit(X)
    Z = est.transform(Xt)
    return 100 * code_sparsity(Z), psnr(Xt, est.inverse_transform(Z))


def test_paper_presets_respond_to_lambda_at_small_budget(mnist_small):
    """The paper's presets at ``benchmarks/evtimova2022/bench_vdl_claim.py``'s budget.

    The presets (``paper_mnist_*``) fitted for 6 epochs on 2,000 MNIST images (48
    decoder steps; the paper: 44,000), seed 0. Checked: what follows from the energy,
    not where the paper's claim stands at this budget (that is the claims table's
    job): a larger sparsity weight gives sparser codes, and the reconstructions
    are finite.
    """
    X, _, Xt, _ = mnist_small
    X = X[:2000]
    for preset, mults in (("paper_mnist_sdl", (0.5, 2.0)), ("paper_mnist_vdl_nl", (1.0, 4.0))):
        (z_lo, p_lo), (z_hi, p_hi) = (_fit_preset(preset, m, X, Xt) for m in mults)
        assert z_hi > z_lo, preset  # more weight on the L1 term: more exact zeros
        assert np.isfinite([p_lo, p_hi]).all(), preset


def test_paper_presets_ordering_turns_with_the_budget(data_home):
    """The ordering ``benchmarks/evtimova2022/bench_vdl_budget.py`` finds at 240 decoder steps.

    Same presets as above, 6 epochs on 10,000 MNIST images (240 steps instead of 48),
    seed 0: VDL-NL at twice its paper lambda is now *above* the linear SDL at its
    own % zeros (interpolated along SDL at x0.5, x1 and x2), the start of the paper's
    claim; the benchmark finds +0.6 dB there.
    """
    from skdeepsparse.datasets import load_mnist

    X = load_mnist("train", data_home=data_home, n_samples=10_000).data
    Xt = load_mnist("test", data_home=data_home, n_samples=1000).data

    sdl = sorted(_fit_preset("paper_mnist_sdl", m, X, Xt) for m in (0.5, 1.0, 2.0))
    z, p = _fit_preset("paper_mnist_vdl_nl", 2.0, X, Xt)
    assert sdl[0][0] < z < sdl[-1][0]  # inside SDL's range: a real matched-sparsity check
    assert p > np.interp(z, [s[0] for s in sdl], [s[1] for s in sdl])
