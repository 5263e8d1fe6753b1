"""SVAE defaults on whitened natural-image patches: unit-norm vs free decoder filters.

Jiang & de la Iglesia (2021): without a norm constraint, end-to-end SVAE
training leaves many decoder filters noise-like; projecting every filter to unit
L2 norm keeps them all useful. SVAETransformer is trained with
``decoder_norm=1.0`` (the library default) and ``None`` on the same
data, seed and budget, for the Laplace and the Cauchy prior and several seeds;
**every other parameter is the library default** (``prior_scale="auto"`` and
``likelihood_std="auto"``, MLP encoder 128 | 256,256 | 512,512, Adam 1e-3,
batch 32, the exact expected reconstruction term, 20 epochs).
``--recon-estimator sample`` trains with the references' one reparameterised
sample instead, for comparison.

Data: 12x12 patches of the eight CC0 photographs in
``<data>/natural_images/skimage`` (the loader's ``source="files"``; not
scikit-learn's two sample images), each image whitened whole with the
``f exp(-(f/f0)^4)`` filter (f0 = 0.4), one global mean/std normalisation to
pixel std ``--pixel-std`` (default sqrt(0.1), the variance of Olshausen's
IMAGES.mat); training and test patches are separate random draws (the test draw
normalised with the training statistics). K = 169 latents.

Each model is trained one epoch at a time (``warm_start``) and after every
epoch measured on the test patches: latents active by the KL rule (mean KL >
0.1 nats), by the variance rule (Var_x E[z|x] > 0.01), filters with L2 norm >
0.1, and the scale-free filter-quality measures of ``skdeepsparse.metrics``:
the share of *oriented* filters (spectral concentration above the 99% quantile
of white-noise filters) and of *Gabor-like* ones (localised as well:
spatial concentration above its noise quantile too; the measure the SVAE's
localised, oriented filters must pass). At the end: the test ELBO
and an importance-weighted estimate of the test log-likelihood
(``SVAETransformer.log_likelihood``, S = ``--n-importance`` and S/10 to show
convergence); the per-patch values go to ``svae_unit_norm_ll.npz`` for
``bench_svae_likelihood.py``.

Writes ``benchmarks/barello2018/results/svae_unit_norm.{md,json}``, the filter grids of the
defaults (``docs/_static/svae_filters_patches_{laplace,cauchy}.png``) and the
curves of active latents against epochs (``docs/_static/svae_active_curves.png``).

    OMP_NUM_THREADS=1 python benchmarks/barello2018/bench_svae_unit_norm.py --jobs 3
    python benchmarks/barello2018/bench_svae_unit_norm.py --quick          # checks the script
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import (  # noqa: E402
    DATA_HOME,
    DEVICE,
    REDIRECTED,
    RESULTS,
    STATIC,
    add_common_options,
    hardware,
    write_results,
)

SHAPE = (12, 12)


def load_patches(n_train, n_test, pixel_std):
    from skdeepsparse.datasets import load_natural_image_patches

    train = load_natural_image_patches(12, n_patches=n_train, data_home=DATA_HOME,
                                       source="files", random_state=0, pixel_std=pixel_std)
    raw = load_natural_image_patches(12, n_patches=n_test, data_home=DATA_HOME,
                                     source="files", random_state=1, normalize=None)
    test = ((raw.data - train.offset) / train.scale).astype(np.float32)
    return train.data, test, train.source


def filter_stats(est, X_test):
    from skdeepsparse.metrics import gabor_like_fraction

    C = est.components_
    kl = est.elbo_terms(X_test)["kl"].mean(0)
    Z = est.transform(X_test)
    return {
        "active_kl": int((kl > 0.1).sum()),
        "active_variance": int((Z.var(0) > 0.01).sum()),
        "norm_gt_0.1": int((np.linalg.norm(C, axis=1) > 0.1).sum()),
        "oriented": gabor_like_fraction(C, SHAPE, localised=False),
        "gabor_like": gabor_like_fraction(C, SHAPE),
    }, kl


def run_one(task):
    """One (prior, decoder, seed) model, trained epoch by epoch."""
    import torch

    torch.set_num_threads(1)
    from skdeepsparse.metrics import spatial_concentration, spectral_concentration
    from skdeepsparse.svae import SVAETransformer

    prior, norm, seed, args = task
    X, X_test, _ = load_patches(args.patches_train, args.patches_test, args.pixel_std)
    est = SVAETransformer(prior=prior, decoder_norm=1.0 if norm else None, max_epochs=1,
                          warm_start=True,
                          recon_estimator=args.recon_estimator, validation_fraction=0.0,
                          device=DEVICE, random_state=seed)
    curve, t0 = [], time.perf_counter()
    for epoch in range(args.epochs):
        est.fit(X)
        stats, kl = filter_stats(est, X_test)
        curve.append({"epoch": epoch + 1, "steps": est.n_steps_, **stats})
    fit_s = time.perf_counter() - t0
    S = args.n_importance
    t1 = time.perf_counter()
    ll = est.log_likelihood(X_test, n_importance=S, random_state=seed)
    ll_small = est.log_likelihood(X_test, n_importance=max(1, S // 10), random_state=seed)
    ll_s = time.perf_counter() - t1
    C = est.components_
    X_hat = est.inverse_transform(est.transform(X_test))
    row = {
        "prior": prior, "normalize_decoder": norm, "seed": seed, "epochs": args.epochs,
        "recon_estimator": args.recon_estimator,
        "steps": est.n_steps_, "n_train": int(X.shape[0]), "n_components": est.n_components,
        "prior_scale_": est.prior_scale_, "likelihood_std_": est.likelihood_std_,
        **curve[-1],
        "spectral_conc_median": float(np.median(spectral_concentration(C, SHAPE))),
        "spatial_conc_median": float(np.median(spatial_concentration(C, SHAPE))),
        "filter_norm_pct_5_50_95": np.percentile(np.linalg.norm(C, axis=1),
                                                 [5, 50, 95]).round(4).tolist(),
        "test_elbo": float(est.score(X_test)),
        "test_ll": float(ll.mean()), f"test_ll_S{max(1, S // 10)}": float(ll_small.mean()),
        "n_importance": S,
        "test_relative_mse": float(((X_test - X_hat) ** 2).mean() / X_test.var()),
        "fit_s": round(fit_s, 1), "ll_s": round(ll_s, 1), "curve": curve,
    }
    print({k: v for k, v in row.items() if k != "curve"}, flush=True)
    return row, C, kl, ll


def _grid(filters, n_cols):
    h, w = SHAPE
    n_rows = math.ceil(len(filters) / n_cols)
    canvas = np.full((n_rows * (h + 1) + 1, n_cols * (w + 1) + 1), np.nan)
    for i, f in enumerate(filters):
        f = f.reshape(h, w)
        m = np.abs(f).max()
        r, c = divmod(i, n_cols)
        canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = (
            f / m if m > 0 else f)
    return canvas


def plot_filters(pair, filename, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 6.0))
    for ax, norm in zip(axes, (True, False), strict=True):
        row, C, kl = pair[norm]
        order = np.argsort(-kl)
        ax.imshow(_grid(C[order], int(math.ceil(math.sqrt(len(C))))), cmap="gray",
                  vmin=-1, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        label = "unit-norm filters (default)" if norm else "unconstrained filters"
        ax.set_title(f"{label}\noriented {row['oriented']:.0%}, Gabor-like "
                     f"{row['gabor_like']:.0%}, var-active {row['active_variance']}, "
                     f"norm>0.1: {row['norm_gt_0.1']}", fontsize=9)
    fig.suptitle(title + " (sorted by test KL, each filter scaled to its own range)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(filename, dpi=72)
    plt.close(fig)


def plot_curves(rows, filename):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = [("active_variance", "var-active latents (Var E[z|x] > 0.01)"),
                ("norm_gt_0.1", "filters with norm > 0.1"),
                ("active_kl", "KL-active latents (> 0.1 nats)"),
                ("oriented", "share of oriented filters"),
                ("gabor_like", "share of Gabor-like filters")]
    priors = list(dict.fromkeys(r["prior"] for r in rows))
    fig, axes = plt.subplots(len(priors), len(measures), figsize=(15, 3.2 * len(priors)),
                             squeeze=False)
    for i, prior in enumerate(priors):
        for j, (key, label) in enumerate(measures):
            ax = axes[i, j]
            for norm, color in ((True, "C0"), (False, "C3")):
                for r in rows:
                    if r["prior"] != prior or r["normalize_decoder"] != norm:
                        continue
                    ep = [c["epoch"] for c in r["curve"]]
                    ax.plot(ep, [c[key] for c in r["curve"]], color=color, alpha=0.8,
                            label=("unit norm" if norm else "free") if r["seed"] == rows[0][
                                "seed"] else None)
            ax.set_title(f"{prior}: {label}", fontsize=9)
            ax.set_xlabel("epoch")
            if key in ("oriented", "gabor_like"):
                ax.set_ylim(0, 1.02)
            else:
                ax.set_ylim(0, 175)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(filename, dpi=72)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches-train", type=int, default=20000)
    ap.add_argument("--patches-test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=None,
                    help="default: the estimator's max_epochs (20)")
    ap.add_argument("--recon-estimator", default=None, choices=["analytic", "sample"],
                    help="default: the estimator's (analytic)")
    ap.add_argument("--pixel-std", type=float, default=0.1**0.5)
    ap.add_argument("--priors", nargs="+", default=["laplace", "cauchy"])
    add_common_options(ap, seeds=[0, 1, 2])
    ap.add_argument("--n-importance", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    ap.add_argument("--quick", action="store_true", help="tiny budget (no figures)")
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args()
    from skdeepsparse.svae import SVAETransformer

    defaults = SVAETransformer().get_params()
    args.epochs = args.epochs or defaults["max_epochs"]
    args.recon_estimator = args.recon_estimator or defaults["recon_estimator"]
    if args.quick:
        args.patches_train, args.patches_test, args.epochs = 2000, 200, 2
        args.seeds, args.n_importance, args.no_figures = [0], 20, True
        if not REDIRECTED:  # keep the committed results; a redirected run needs no tag
            args.tag = args.tag or "_quick"

    t_start = time.perf_counter()
    _, X_test, source = load_patches(args.patches_train, args.patches_test, args.pixel_std)
    tasks = [(p, n, s, args) for s in args.seeds for p in args.priors for n in (True, False)]
    if args.jobs > 1:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run_one, tasks))
    else:
        results = [run_one(t) for t in tasks]
    rows = [r[0] for r in results]

    np.savez_compressed(
        RESULTS / f"svae_unit_norm_ll{args.tag}.npz",
        **{f"{r['prior']}_{'unit' if r['normalize_decoder'] else 'free'}_seed{r['seed']}": ll
           for (r, _, _, ll) in results})
    if not args.no_figures:
        STATIC.mkdir(parents=True, exist_ok=True)
        for prior in args.priors:
            pair = {r["normalize_decoder"]: (r, C, kl) for (r, C, kl, _) in results
                    if r["prior"] == prior and r["seed"] == args.seeds[0]}
            plot_filters(pair, STATIC / f"svae_filters_patches_{prior}{args.tag}.png",
                         f"Defaults, {prior} prior, whitened 12x12 patches, K=169, "
                         f"{rows[0]['steps']} steps, seed {args.seeds[0]}")
        plot_curves(rows, STATIC / f"svae_active_curves{args.tag}.png")

    total = time.perf_counter() - t_start
    head = ("| prior | decoder | seed | oriented | Gabor-like | var-active | KL-active | "
            "norm>0.1 | spectral conc. | spatial conc. | test ELBO | test log p(x) (IWAE) "
            "| rel. MSE |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['prior']} | {'unit norm' if r['normalize_decoder'] else 'free'} | "
            f"{r['seed']} | {r['oriented']:.2f} | {r['gabor_like']:.2f} | "
            f"{r['active_variance']} | {r['active_kl']}/{r['n_components']} | "
            f"{r['norm_gt_0.1']} | {r['spectral_conc_median']:.2f} | "
            f"{r['spatial_conc_median']:.2f} | {r['test_elbo']:.1f} | {r['test_ll']:.1f} | "
            f"{r['test_relative_mse']:.3f} |")
    summary = ["", "| prior | decoder | oriented (mean ± sd over seeds) | Gabor-like | "
               "var-active | KL-active | norm>0.1 |", "|" + "---|" * 7]
    for prior in args.priors:
        for norm in (True, False):
            sel = [r for r in rows if r["prior"] == prior and r["normalize_decoder"] == norm]

            def ms(key, fmt, sel=sel):
                v = np.array([r[key] for r in sel], float)
                return f"{v.mean():{fmt}} ± {v.std():{fmt}}"

            summary.append(f"| {prior} | {'unit norm' if norm else 'free'} | "
                           f"{ms('oriented', '.2f')} | {ms('gabor_like', '.2f')} | "
                           f"{ms('active_variance', '.0f')} | {ms('active_kl', '.0f')} | "
                           f"{ms('norm_gt_0.1', '.0f')} |")
    cmd = ("OMP_NUM_THREADS=1 python benchmarks/barello2018/bench_svae_unit_norm.py "
           + " ".join(sys.argv[1:])).strip()
    md = (
        "## SVAE defaults: unit-norm vs unconstrained decoder (Jiang & de la Iglesia 2021)\n\n"
        + "\n".join(lines + summary)
        + f"\n\nPatches ({source}: the eight photographs of natural_images/skimage): "
        f"{args.patches_train} train / {args.patches_test} test, {args.epochs} epochs "
        f"({rows[0]['steps']} Adam steps), reconstruction term '{args.recon_estimator}', "
        f"pixel std {args.pixel_std:.3f}, so the 'auto' "
        f"scales are prior {rows[0]['prior_scale_']:.3f}, sigma "
        f"{rows[0]['likelihood_std_']:.3f}. All measures on the test patches; 'oriented' "
        "and 'Gabor-like' are skdeepsparse.metrics.gabor_like_fraction with localised=False"
        f"/True; IWAE with S={args.n_importance}. Total wall time {total / 60:.1f} min. "
        f"Command: `{cmd}`"
    )
    payload = {"command": cmd, "args": {k: v for k, v in vars(args).items()},
               "hardware": hardware(), "source": source, "wall_time_s": round(total, 1),
               "rows": rows}
    write_results("svae_unit_norm" + args.tag, payload, md)


if __name__ == "__main__":
    main()
