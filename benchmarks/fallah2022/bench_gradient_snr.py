"""Dictionary-gradient SNR and support stability: thresholded VAE vs spike-and-slab VSC.

Fallah & Rozell (ICML 2022) back their "gradient estimation" and "statistical
efficiency" claims with two measurements on the linear generator (spec section
2.9): the signal-to-noise ratio of the dictionary gradient, ``|mean| / std``
over many forward passes on the same batch and model state (their Fig. 4), and
the stability of the inferred supports, the mean pairwise Jaccard distance of
the supports of 20 inferences of the same patch (their Fig. 5), each with
average (``"avg"``) and max-ELBO (``"max"``) sampling. This script measures both
for :class:`~skdeepsparse.ThresholdedVAE` (Laplace base) and its comparator
:class:`~skdeepsparse.VariationalSparseCoding` (Tonolini et al.'s spike and
slab), trained alike: same data, encoder, dictionary, optimisers, KL weight,
prior fraction of non-zeros (0.1), draws per step (20, max-ELBO).

The dictionary gradient of one pass is the hand-set gradient both models step
their dictionary on, ``-(1/B) sum_ij w_ij (x_i - Phi z_ij) z_ij^T`` with the
sample weights ``w`` of the sampling method (``"avg"``: ``1/J``; ``"max"``:
one-hot on the lowest-loss draw). Its SNR is computed per dictionary entry over
``--passes`` passes (fresh noise, same batch and state); the table gives the
median over entries (entries with zero gradient in every pass, unused atoms,
are left out and counted). An inference is one code per patch: a single draw
(``"avg"``) or the lowest-loss of ``J`` draws (``"max"``); its support is the set
of non-zero latents.

REDUCED SIZE (one CPU thread, under 5 minutes): 8x8 whitened natural-image
patches (64 pixels, 64 atoms; the paper: 16x16, 256 atoms), 10,000 training
patches, 20 epochs of Adam (2,000 steps, 0.8% of the paper's 240,000 SGD
steps), an encoder MLP 64-128-64; 1,000 passes per gradient SNR as in the paper.

Run:  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/fallah2022/bench_gradient_snr.py
Writes benchmarks/fallah2022/results/gradient_snr.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.distributions import kl_divergence

from skdeepsparse import ThresholdedVAE, VariationalSparseCoding
from skdeepsparse.datasets import load_natural_image_patches
from skdeepsparse.distributions import _straight_through
from skdeepsparse.thresholded_vae import _aggregation_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, DEVICE, add_common_options, hardware, write_results  # noqa: E402

PATCH, N_TRAIN, N_TEST, BATCH, J = 8, 10_000, 2_000, 100, 20
COMMON = dict(n_components=64, encoder_hidden_sizes=(128, 64), kl_weight=1e-3,
              n_mc_samples=J, sample_method="max", target_density=0.1, optimizer="adam",
              learning_rate=1e-3, decoder_optimizer="adam", decoder_learning_rate=1e-2,
              batch_size=BATCH, validation_fraction=0.0, standardize=False, device=DEVICE)
MODELS = {
    "ThresholdedVAE": lambda epochs, seed: ThresholdedVAE(
        base_dist="laplace", prior_scale=0.1, threshold="auto", max_epochs=epochs,
        random_state=seed, **COMMON),
    "VariationalSparseCoding": lambda epochs, seed: VariationalSparseCoding(
        max_epochs=epochs, random_state=seed, **COMMON),
}


def load_patches(seed):
    data = load_natural_image_patches(patch_size=PATCH, n_patches=N_TRAIN + N_TEST, whiten=True,
                                      normalize=None, data_home=DATA_HOME, random_state=seed)
    X = data.data.astype(np.float32)
    mean, std = X[:N_TRAIN].mean(0), X[:N_TRAIN].std(0)
    X = (X - mean) / std  # the reference's per-pixel z-score
    return X[:N_TRAIN], X[N_TRAIN:]


@torch.no_grad()
def draws(est, Y, n):
    """``n`` fresh posterior draws per row of ``Y`` (codes (n, B, K)) and their losses
    (n, B), by the model's own sampler and loss, from its own generator."""
    B, K = Y.shape[0], est.n_components
    if isinstance(est, ThresholdedVAE):
        mu, scale, lam, kl_thr = est._posterior(Y)
        eps = est._base_noise((n, B, K), Y)
        Z = _straight_through(mu, scale * eps, lam, "subgradient", est._thresholding)
        return Z, est._draw_losses(Y, Z, mu, scale, lam, kl_thr)[0]
    q = est._posterior(Y)
    kl = kl_divergence(q, est._prior(Y)).sum(-1)
    eps = torch.randn((n, B, K), generator=est._generator, dtype=Y.dtype)
    u = torch.rand((n, B, K), generator=est._generator, dtype=Y.dtype).clamp(1e-6, 1 - 1e-6)
    Z = est._codes(q, eps, u, est.temperature_)
    return Z, est._draw_losses(Y, Z, kl)[0]


@torch.no_grad()
def dictionary_gradient(est, Y, method):
    """One pass's hand-set dictionary gradient (n_features, K)."""
    Z, losses = draws(est, Y, J)
    w = _aggregation_weights(losses, method)
    Phi = est.module_.decoder.weight
    R = Y - Z @ Phi.T
    return -torch.einsum("jb,jbd,jbk->dk", w, R, Z) / Y.shape[0]


def gradient_snr(est, Y, method, passes):
    G = torch.stack([dictionary_gradient(est, Y, method) for _ in range(passes)]).double()
    mean, std = G.mean(0), G.std(0)
    used = std > 0
    snr = (mean.abs()[used] / std[used]).numpy()
    return {"median": float(np.median(snr)), "mean": float(snr.mean()),
            "q25": float(np.quantile(snr, 0.25)), "q75": float(np.quantile(snr, 0.75)),
            "n_entries": int(used.sum()), "n_zero_entries": int((~used).sum())}


@torch.no_grad()
def support_stability(est, Y, method, n_inferences=20):
    """Mean pairwise Jaccard distance of the supports of ``n_inferences`` inferences."""
    supports = []
    for _ in range(n_inferences):
        Z, losses = draws(est, Y, J if method == "max" else 1)
        best = losses.argmin(0)
        supports.append((Z[best, torch.arange(Y.shape[0])] != 0).numpy())
    dists = []
    for a, b in itertools.combinations(supports, 2):
        union = (a | b).sum(1)
        inter = (a & b).sum(1)
        d = np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 0.0)
        dists.append(d)
    d = np.mean(dists, axis=0)
    return {"jaccard_distance": float(d.mean()), "se": float(d.std() / np.sqrt(len(d))),
            "mean_l0": float(np.mean([s.sum(1).mean() for s in supports]))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_options(parser, seed=0, epochs=20)
    parser.add_argument("--passes", type=int, default=1000,
                        help="forward passes per gradient SNR (default: 1000)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    X_train, X_test = load_patches(args.seed)
    Y = torch.from_numpy(X_test[:BATCH])
    rows, t_start = [], time.time()
    for name, build in MODELS.items():
        t0 = time.time()
        est = build(args.epochs, args.seed).fit(X_train)
        fit_s = time.time() - t0
        recon = float(((X_test - est.inverse_transform(est.transform(X_test))) ** 2).mean())
        Yd = Y.to(est._torch_dtype)
        for method in ("avg", "max"):
            rows.append({"model": name, "method": method,
                         "gradient_snr": gradient_snr(est, Yd, method, args.passes),
                         "support": support_stability(est, Yd, method),
                         "fit_seconds": fit_s, "test_mse_default_codes": recon,
                         "final_train_loss": est.history_[-1]["loss"]})
            print(name, method, rows[-1]["gradient_snr"]["median"],
                  rows[-1]["support"]["jaccard_distance"], flush=True)
    payload = {
        "script": Path(__file__).name,
        "size": "reduced",
        "config": {"patch": PATCH, "n_train": N_TRAIN, "n_test": N_TEST, "batch": BATCH,
                   "draws": J, "epochs": args.epochs, "passes": args.passes,
                   "inferences": 20, "seed": args.seed, "common": COMMON,
                   "steps": args.epochs * N_TRAIN // BATCH, "paper_steps": 240_000},
        "hardware": hardware(), "total_seconds": time.time() - t_start,
        "rows": rows,
    }
    lines = [
        "# Dictionary-gradient SNR and support stability (Fallah & Rozell, Figs. 4-5)",
        "",
        f"REDUCED SIZE: {PATCH}x{PATCH} whitened natural-image patches, "
        f"{COMMON['n_components']} atoms, {N_TRAIN} training patches, {args.epochs} epochs "
        f"of Adam ({payload['config']['steps']} steps; the paper: 240,000 SGD steps on "
        f"16x16 patches with 256 atoms), {J} draws, SNR over {args.passes} passes on one "
        f"batch of {BATCH} test patches (the paper: 1,000), supports over 20 inferences. "
        f"Seed {args.seed}, one run. Script: `benchmarks/fallah2022/bench_gradient_snr.py`.",
        "",
        "| model | sampling | gradient SNR, median (IQR) | support Jaccard distance | "
        "L0 | test MSE (default codes) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        g, s = r["gradient_snr"], r["support"]
        lines.append(f"| {r['model']} | {r['method']} | {g['median']:.3f} "
                     f"({g['q25']:.3f}-{g['q75']:.3f}) | {s['jaccard_distance']:.3f} "
                     f"+- {s['se']:.3f} | {s['mean_l0']:.1f} | "
                     f"{r['test_mse_default_codes']:.3f} |")
    lines += ["", "Higher SNR: a less noisy dictionary gradient. Lower Jaccard distance: "
              "more stable supports. Both models are trained with max-ELBO sampling; "
              "`avg`/`max` is the sampling of the measurement. The supports are compared at "
              "each model's own L0 (column L0): a denser code has more overlap by chance."]
    write_results("gradient_snr", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
