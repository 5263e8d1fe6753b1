"""Jiang & de la Iglesia (2021): does a unit-norm decoder keep more SVAE filters alive?

SVAETransformer is trained twice on the same data with the same seed and budget,
once with ``normalize_decoder=True`` (every decoder filter projected back to unit
L2 norm after each Adam step) and once with ``normalize_decoder=False``
(unconstrained, as in Barello et al. and Geadah et al.). Everything else is the
library default: Laplace(0, 1) prior, likelihood std e^-2, MLP encoder
(128 | 256,256 | 512,512), Adam 1e-3, batch 32, 1 reparameterised sample.

Datasets:

* ``patches``: 12x12 patches of eight CC0 photographs (``natural_images/skimage``),
  each image whitened with the f exp(-(f/f0)^4) filter, patches normalised with
  one global mean/std to pixel std ``--pixel-std`` (default sqrt(0.1): the
  variance of Olshausen's IMAGES.mat, the data for which the references chose the
  likelihood std e^-2); K = 169 latents; separate random draws for train and
  test. One pair of runs per ``--prior-scales`` value (default 1, the library
  default, and 0.1, a prior matched to the code scale of unit-norm filters).
* ``mnist``: MNIST training images in [0, 1] (first ``--mnist-train``), 2,000 test
  images; K = ``--mnist-components``; a decoder bias because MNIST has a mean.

Reported per run: active latents by the KL rule (mean KL > 0.1 nats) and by the
variance rule (Var_x E[z|x] > 0.01), both on the test data; filters with L2 norm
> 0.1; the median spectral concentration of the KL-active filters (share of a
filter's power in its strongest 10% of 2-D Fourier coefficients: ~0.3 for white
noise filters, higher for smooth, oriented, Gabor-like ones; the noise value of
the same computation is reported alongside); test ELBO per sample; test MSE per
pixel (relative to the pixel variance for patches; PSNR for MNIST); fit time.
Figures: the learned filters (sorted by test KL, each scaled to its own range)
and the per-epoch count of latents whose batch-mean KL exceeds 0.1.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_svae_unit_norm.py   # ~9 min
    python benchmarks/bench_svae_unit_norm.py --quick                               # ~1 min
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from _common import DATA_HOME, hardware, write_results

from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import psnr
from skdeepsparse.preprocessing import load_natural_image_patches
from skdeepsparse.svae import SVAETransformer

STATIC = Path(__file__).resolve().parents[1] / "docs" / "_static"


def spectral_concentration(filters, shape, top=0.1):
    """Share of each filter's power in its strongest ``top`` fraction of 2-D DFT terms."""
    F = np.abs(np.fft.fft2(np.asarray(filters, np.float64).reshape(-1, *shape))) ** 2
    F = np.sort(F.reshape(len(F), -1), axis=1)[:, ::-1]
    k = max(1, int(round(top * F.shape[1])))
    return F[:, :k].sum(1) / np.maximum(F.sum(1), 1e-300)


def run_pair(name, X, X_test, image_shape, seed, epochs, **params):
    rows, models = [], {}
    noise = spectral_concentration(np.random.RandomState(0).randn(1000, X.shape[1]), image_shape)
    for norm in (True, False):
        est = SVAETransformer(normalize_decoder=norm, max_epochs=epochs, validation_fraction=0.0,
                              device="cpu", random_state=seed, **params)
        t0 = time.perf_counter()
        est.fit(X)
        fit_s = time.perf_counter() - t0
        # activity statistics on held-out data (the fitted ones are on training data)
        kl_test = est.elbo_terms(X_test)["kl"].mean(0)
        Z = est.transform(X_test)
        X_hat = est.inverse_transform(Z)
        norms = np.linalg.norm(est.components_, axis=1)
        conc = spectral_concentration(est.components_[kl_test > 0.1], image_shape)
        row = {
            "dataset": name, "prior_scale": est.prior_scale,
            "normalize_decoder": norm, "seed": seed, "epochs": epochs,
            "n_train": int(X.shape[0]), "n_components": est.n_components,
            "active_kl_train": est.n_active_components_,
            "active_variance_train": est.n_active_components_variance_,
            "active_kl_test": int((kl_test > 0.1).sum()),
            "active_variance_test": int((Z.var(0) > 0.01).sum()),
            "filters_norm_gt_0.1": int((norms > 0.1).sum()),
            "filter_norm_pct_5_50_95": np.percentile(norms, [5, 50, 95]).round(4).tolist(),
            "spectral_concentration_active_median": float(np.median(conc)) if conc.size
            else float("nan"),
            "spectral_concentration_noise_median": float(np.median(noise)),
            "test_elbo": est.score(X_test),
            "test_mse_per_pixel": float(((X_test - X_hat) ** 2).mean()),
            "test_relative_mse": float(((X_test - X_hat) ** 2).mean() / X_test.var()),
            "fit_s": round(fit_s, 1),
            "history_n_active": [round(h["n_active"], 2) for h in est.history_],
            "history_mse": [round(h["mse"], 4) for h in est.history_],
        }
        if name == "mnist":
            row["test_psnr_db"] = psnr(X_test, X_hat)
        rows.append(row)
        models[norm] = (est, kl_test)
        print({k: v for k, v in row.items() if not k.startswith("history")}, flush=True)
    return rows, models


def _grid(filters, shape, n_cols):
    h, w = shape
    n_rows = math.ceil(len(filters) / n_cols)
    canvas = np.full((n_rows * (h + 1) + 1, n_cols * (w + 1) + 1), np.nan)
    for i, f in enumerate(filters):
        f = f.reshape(h, w)
        m = np.abs(f).max()
        r, c = divmod(i, n_cols)
        canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = (
            f / m if m > 0 else f)
    return canvas


def plot_filters(models, rows, shape, filename, n_show, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.8))
    for ax, norm in zip(axes, (True, False), strict=True):
        est, kl_test = models[norm]
        order = np.argsort(-kl_test)[:n_show]
        n_cols = int(math.ceil(math.sqrt(len(order))))
        ax.imshow(_grid(est.components_[order], shape, n_cols), cmap="gray", vmin=-1, vmax=1,
                  interpolation="nearest")
        ax.set_axis_off()
        row = next(r for r in rows if r["normalize_decoder"] == norm)
        label = "unit-norm filters" if norm else "unconstrained filters"
        ax.set_title(f"{label}\nKL-active {row['active_kl_test']}/{row['n_components']}, "
                     f"norm>0.1: {row['filters_norm_gt_0.1']}", fontsize=10)
    fig.suptitle(title + " (sorted by test KL, each filter scaled to its own range)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(filename, dpi=72)
    plt.close(fig)


def plot_curves(all_rows, filename):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(dict.fromkeys((r["dataset"], r["prior_scale"]) for r in all_rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2))
    axes = np.atleast_1d(axes)
    for ax, (ds, ps) in zip(axes, panels, strict=True):
        for r in all_rows:
            if (r["dataset"], r["prior_scale"]) != (ds, ps) or r["seed"] != all_rows[0]["seed"]:
                continue
            ax.plot(np.arange(1, len(r["history_n_active"]) + 1), r["history_n_active"],
                    label="unit norm" if r["normalize_decoder"] else "unconstrained")
        ax.set_ylim(0, 1.05 * max(r["n_components"] for r in all_rows if r["dataset"] == ds))
        ax.set_title(f"{ds}, prior scale {ps}:\nlatents with batch-mean KL > 0.1",
                     fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(filename, dpi=80)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches-train", type=int, default=20000)
    ap.add_argument("--patches-epochs", type=int, default=12)
    ap.add_argument("--pixel-std", type=float, default=0.1**0.5)
    ap.add_argument("--prior-scales", type=float, nargs="+", default=[1.0, 0.1])
    ap.add_argument("--skip-mnist", action="store_true")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    ap.add_argument("--mnist-train", type=int, default=10000)
    ap.add_argument("--mnist-epochs", type=int, default=12)
    ap.add_argument("--mnist-components", type=int, default=400)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--quick", action="store_true",
                    help="tiny budget, to check the script (no figures)")
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.patches_train, args.patches_epochs = 3000, 2
        args.mnist_train, args.mnist_epochs, args.mnist_components = 1000, 2, 100
        args.no_figures = True

    t_start = time.perf_counter()
    patches = load_natural_image_patches(12, n_patches=args.patches_train, data_home=DATA_HOME,
                                         random_state=0, pixel_std=args.pixel_std)
    # z-score the test draw with the training statistics
    raw_test = load_natural_image_patches(12, n_patches=2000, data_home=DATA_HOME,
                                          random_state=1, normalize=None)
    X_p_test = ((raw_test.data - patches.offset) / patches.scale).astype(np.float32)
    if not args.skip_mnist:
        mnist = load_mnist("train", data_home=DATA_HOME, n_samples=args.mnist_train).data
        mnist_test = load_mnist("test", data_home=DATA_HOME, n_samples=2000).data

    all_rows = []
    for seed in args.seeds:
        figures = seed == args.seeds[0] and not args.no_figures
        if figures:
            STATIC.mkdir(parents=True, exist_ok=True)
        for ps in args.prior_scales:
            rows_p, models_p = run_pair("patches", patches.data, X_p_test, (12, 12), seed,
                                        args.patches_epochs, n_components=169, prior_scale=ps)
            all_rows += rows_p
            if figures:
                suffix = "" if ps == 1.0 else f"_prior{ps:g}"
                plot_filters(models_p, rows_p, (12, 12),
                             STATIC / f"svae_filters_patches{suffix}{args.tag}.png", 169,
                             f"Whitened 12x12 patches, K=169, prior scale {ps:g}")
        if not args.skip_mnist:
            rows_m, models_m = run_pair("mnist", mnist, mnist_test, (28, 28), seed,
                                        args.mnist_epochs, n_components=args.mnist_components,
                                        decoder_bias=True)
            all_rows += rows_m
            if figures:
                plot_filters(models_m, rows_m, (28, 28),
                             STATIC / f"svae_filters_mnist{args.tag}.png", 64,
                             f"MNIST, K={args.mnist_components}, top 64 filters")
    if not args.no_figures:
        plot_curves(all_rows, STATIC / f"svae_active_curves{args.tag}.png")

    total = time.perf_counter() - t_start
    head = ("| dataset | prior scale | decoder | seed | KL-active | var-active | norm>0.1 | "
            "spectral conc. (noise) | test ELBO | rel. MSE | PSNR dB | fit s |")
    lines = [head, "|" + "---|" * 12]
    for r in all_rows:
        lines.append(
            f"| {r['dataset']} | {r['prior_scale']:g} | "
            f"{'unit norm' if r['normalize_decoder'] else 'free'} | "
            f"{r['seed']} | {r['active_kl_test']}/{r['n_components']} | "
            f"{r['active_variance_test']} | {r['filters_norm_gt_0.1']} | "
            f"{r['spectral_concentration_active_median']:.2f} "
            f"({r['spectral_concentration_noise_median']:.2f}) | "
            f"{r['test_elbo']:.1f} | {r['test_relative_mse']:.3f} | "
            f"{r.get('test_psnr_db', float('nan')):.2f} | {r['fit_s']} |"
        )
    cmd = ("OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_svae_unit_norm.py "
           + " ".join(sys.argv[1:])).strip()
    md = (
        "## SVAE: unit-norm vs unconstrained decoder (Jiang & de la Iglesia 2021)\n\n"
        + "\n".join(lines)
        + f"\n\nPatches: {args.patches_train} train / 2000 test, {args.patches_epochs} epochs, "
        f"pixel std {args.pixel_std:.3f}. KL-active and var-active on the test data. "
        + ("" if args.skip_mnist else
           f"MNIST: {args.mnist_train} train / 2000 test, {args.mnist_epochs} epochs. ")
        + f"Total wall time {total / 60:.1f} min. Command: `{cmd}`"
    )
    payload = {"command": cmd, "args": vars(args), "hardware": hardware(),
               "wall_time_s": round(total, 1), "rows": all_rows}
    write_results("svae_unit_norm" + ("_quick" if args.quick else "") + args.tag, payload, md)


if __name__ == "__main__":
    main()
