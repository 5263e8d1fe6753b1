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

Three seeds (0, 1, 2): 171 s on one thread of a busy 2-core machine (a timing to rerun on
a quiet one).

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
from skdeepsparse.likelihood import aggregation_weights

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
    like = dict(dtype=Y.dtype, device=Y.device)
    eps = torch.randn((n, B, K), generator=est._generator, **like)
    u = torch.rand((n, B, K), generator=est._generator, **like).clamp(1e-6, 1 - 1e-6)
    Z = est._codes(q, eps, u, est.temperature_)
    return Z, est._draw_losses(Y, Z, kl)[0]


@torch.no_grad()
def dictionary_gradient(est, Y, method):
    """One pass's hand-set dictionary gradient (n_features, K)."""
    Z, losses = draws(est, Y, J)
    w = aggregation_weights(losses, method)
    Phi = est.module_.decoder.weight
    R = Y - Z @ Phi.T
    return -torch.einsum("jb,jbd,jbk->dk", w, R, Z) / Y.shape[0]


def gradient_snr(est, Y, method, passes):
    G = torch.stack([dictionary_gradient(est, Y, method) for _ in range(passes)]).double()
    mean, std = G.mean(0).cpu(), G.std(0).cpu()
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
        supports.append((Z[best, torch.arange(Y.shape[0], device=Y.device)] != 0).cpu().numpy())
    dists = []
    for a, b in itertools.combinations(supports, 2):
        union = (a | b).sum(1)
        inter = (a & b).sum(1)
        d = np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 0.0)
        dists.append(d)
    d = np.mean(dists, axis=0)
    return {"jaccard_distance": float(d.mean()), "se": float(d.std() / np.sqrt(len(d))),
            "mean_l0": float(np.mean([s.sum(1).mean() for s in supports]))}


def run_seed(seed, epochs, passes):
    X_train, X_test = load_patches(seed)
    Y = torch.from_numpy(X_test[:BATCH])
    rows = []
    for name, build in MODELS.items():
        t0 = time.time()
        est = build(epochs, seed).fit(X_train)
        fit_s = time.time() - t0
        recon = float(((X_test - est.inverse_transform(est.transform(X_test))) ** 2).mean())
        Yd = Y.to(est.device_, est._torch_dtype)
        for method in ("avg", "max"):
            rows.append({"seed": seed, "model": name, "method": method,
                         "gradient_snr": gradient_snr(est, Yd, method, passes),
                         "support": support_stability(est, Yd, method),
                         "fit_seconds": fit_s, "test_mse_default_codes": recon,
                         "final_train_loss": est.history_[-1]["loss"]})
            print(seed, name, method, rows[-1]["gradient_snr"]["median"],
                  rows[-1]["support"]["jaccard_distance"], flush=True)
    return rows


def _mean_se(values):
    v = np.asarray(values, dtype=float)
    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return float(v.mean()), float(se)


def summarize(rows):
    """Mean and standard error over seeds of each (model, sampling) cell."""
    out = []
    for (model, method), group in itertools.groupby(
            sorted(rows, key=lambda r: (r["model"], r["method"])),
            key=lambda r: (r["model"], r["method"])):
        group = list(group)
        out.append({"model": model, "method": method, "n_seeds": len(group), **{
            key: _mean_se([get(r) for r in group]) for key, get in (
                ("snr_median", lambda r: r["gradient_snr"]["median"]),
                ("jaccard_distance", lambda r: r["support"]["jaccard_distance"]),
                ("l0", lambda r: r["support"]["mean_l0"]),
                ("test_mse", lambda r: r["test_mse_default_codes"]))}})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_options(parser, seeds=[0, 1, 2], epochs=20)
    parser.add_argument("--passes", type=int, default=1000,
                        help="forward passes per gradient SNR (default: 1000)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    t_start = time.time()
    rows = [r for seed in args.seeds for r in run_seed(seed, args.epochs, args.passes)]
    summary = summarize(rows)
    steps = args.epochs * N_TRAIN // BATCH
    payload = {
        "script": Path(__file__).name,
        "size": "reduced",
        "config": {"patch": PATCH, "n_train": N_TRAIN, "n_test": N_TEST, "batch": BATCH,
                   "draws": J, "epochs": args.epochs, "passes": args.passes,
                   "inferences": 20, "seeds": args.seeds, "common": COMMON,
                   "steps": steps, "paper_steps": 240_000},
        "hardware": hardware(), "total_seconds": time.time() - t_start,
        "summary": summary, "rows": rows,
    }
    lines = [
        "# Dictionary-gradient SNR and support stability (Fallah & Rozell, Figs. 4-5)",
        "",
        f"REDUCED SIZE: {PATCH}x{PATCH} whitened natural-image patches, "
        f"{COMMON['n_components']} atoms, {N_TRAIN} training patches, {args.epochs} epochs "
        f"of Adam ({steps} steps, {100 * steps / 240_000:.1f}% of the paper's 240,000 SGD "
        f"steps on 16x16 patches with 256 atoms), {J} draws, SNR over {args.passes} passes "
        f"on one batch of {BATCH} test patches, supports over 20 inferences of the same "
        f"batch. Mean +- standard error over seeds {args.seeds}. "
        "Script: `benchmarks/fallah2022/bench_gradient_snr.py`.",
        "",
        "| model | sampling | gradient SNR (median over entries) | support Jaccard distance "
        "| L0 | test MSE (default codes) |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary:
        cells = " | ".join(f"{r[k][0]:.3f} +- {r[k][1]:.3f}" if k != "l0"
                           else f"{r[k][0]:.1f} +- {r[k][1]:.1f}"
                           for k in ("snr_median", "jaccard_distance", "l0", "test_mse"))
        lines.append(f"| {r['model']} | {r['method']} | {cells} |")
    lines += ["", "Higher SNR: a less noisy dictionary gradient. Lower Jaccard distance: "
              "more stable supports. Both models are trained with max-ELBO sampling; "
              "`avg`/`max` is the sampling of the measurement. The supports are compared at "
              "each model's own L0 (column L0): a denser code has more overlap by chance. "
              "The default codes are each model's `transform` (thresholded VAE: the soft "
              "threshold of the location, which shrinks; VSC: the posterior mode)."]
    write_results("gradient_snr", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
