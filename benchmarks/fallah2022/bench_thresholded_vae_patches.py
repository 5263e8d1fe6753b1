"""ThresholdedVAE with a linear generator on whitened 16x16 natural-image patches.

Fallah & Rozell (ICML 2022), linear-generator experiment: 256 atoms on 256-pixel
whitened patches, max-ELBO sampling with 20 draws, a Laplace base with
threshold 0.25. Beside it, on the same data and dictionary size:

* the same model with optimisers adapted to a CPU budget (Adam for encoder and
  dictionary, KL weight 0.001);
* the Gaussian VAE (``threshold=0``), same architecture and training as the
  adapted run;
* MAP sparse coding: scikit-learn's MiniBatchDictionaryLearning (unit-norm
  atoms), codes by ``skdeepsparse.sparse_encode`` (Lasso, solved exactly);
* FISTA/Lasso codes (``sparse_encode``) on each ThresholdedVAE dictionary, with
  the L1 weight set so that they have the model's number of non-zeros.

Data: the eight photographs of ``natural_images/skimage`` whitened by us (1/f
filter of Olshausen & Field, ``skdeepsparse.preprocessing``), 24,000 random
patches, z-scored per pixel (the reference's preprocessing).

Budget (one CPU thread): 2,000 training steps of 100 patches per model, about
0.8% of the reference's 240,000; the encoder MLP is 256-512-256 instead of
256-512-1024-512-256 and the noise warm-up is compressed in proportion.

Run:  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python \
      benchmarks/fallah2022/bench_thresholded_vae_patches.py
Writes benchmarks/fallah2022/results/thresholded_vae_patches.{json,md} and
docs/_static/tvae_patches_atoms.png.

``[--patches N] --curve EPOCHS...`` instead trains the Adam thresholded Laplace one pass over
the 20,000 patches per epoch (``partial_fit``; constant learning rate) against
MiniBatchDictionaryLearning fitted once (10 epochs), and at each listed epoch
measures on 500 test patches: the model's default (soft-threshold) and max-ELBO
codes, and MAP (Lasso, ``sparse_encode``) codes on the MiniBatchDictionaryLearning
dictionary and on the model's own, at the model's L0 (MSE interpolated in log-L0
over a grid of L1 weights). Results are rewritten after every checkpoint in
benchmarks/fallah2022/results/thresholded_vae_patches_curve.{json,md}:

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python \
        benchmarks/fallah2022/bench_thresholded_vae_patches.py \
        --curve 2 5 10 20 40
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from skdeepsparse import sparse_encode
from skdeepsparse.datasets import load_natural_image_patches
from skdeepsparse.metrics import active_components
from skdeepsparse.thresholded_vae import ThresholdedVAE

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, DEVICE, STATIC, hardware, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST, EPOCHS, BATCH = 20_000, 4_000, 10, 100
STEPS = EPOCHS * N_TRAIN // BATCH
REF_STEPS = 240_000
# Reference warm-up (0.1, 1500, 2e-4) over 240k steps, compressed to our budget.
WARMUP = (0.1, round(1500 * STEPS / REF_STEPS), 0.9 / ((6000 - 1500) * STEPS / REF_STEPS))

COMMON = dict(
    n_components=256, encoder_hidden_sizes=(512, 256), base_dist="laplace",
    prior_scale=0.1, threshold=0.25, n_mc_samples=20, n_eval_samples=20, sample_method="max",
    gradient_estimator="straight", batch_size=BATCH, max_epochs=EPOCHS, validation_fraction=0,
    standardize=False, device=DEVICE, random_state=0,
)
MODELS = {
    "thr_laplace_ref": dict(COMMON, kl_weight=0.01, noise_warmup=WARMUP),
    "thr_laplace_adam": dict(COMMON, kl_weight=0.001, noise_warmup=WARMUP, optimizer="adam",
                             learning_rate=1e-3, decoder_optimizer="adam",
                             decoder_learning_rate=1e-2),
    "gauss_vae_adam": dict(COMMON, base_dist="gaussian", prior_scale=np.sqrt(0.1), threshold=0,
                           kl_weight=0.001, optimizer="adam", learning_rate=1e-3,
                           decoder_optimizer="adam", decoder_learning_rate=1e-2),
}
LABELS = {
    "thr_laplace_ref": "Thresholded Laplace, reference optimisers (SGD), KL weight 0.01",
    "thr_laplace_adam": "Thresholded Laplace, Adam, KL weight 0.001",
    "gauss_vae_adam": "Gaussian VAE (threshold=0), Adam, KL weight 0.001",
    "mbdl": "MAP sparse coding: MiniBatchDictionaryLearning + sparse_encode",
}


def code_stats(Z, X, X_hat):
    l0 = (Z != 0).sum(1).mean()
    return {
        "mse": float(((X - X_hat) ** 2).mean()),
        "zeros_pct": 100 * float((Z == 0).mean()),
        "l0": float(l0),
        "coef_collapse_pct": 100 * float(((np.abs(Z) <= 1e-2).mean(0) >= 0.95).mean()),
        "active_components": active_components(Z),
    }


def lasso_at_l0(X, atoms, target_l0, n_bisect=7):
    """Lasso codes on unit-norm atoms with the L1 weight that gives ``target_l0``."""
    D = atoms / np.linalg.norm(atoms, axis=1, keepdims=True)
    lo, hi = np.log(1e-3), np.log(50.0)
    for _ in range(n_bisect):
        mid = 0.5 * (lo + hi)
        Z = sparse_encode(X, D, alpha=float(np.exp(mid)))
        if (Z != 0).sum(1).mean() > target_l0:
            lo = mid
        else:
            hi = mid
    alpha = float(np.exp(hi))
    Z = sparse_encode(X, D, alpha=alpha)
    return Z, Z @ D, alpha


def load_patches():
    data = load_natural_image_patches(patch_size=16, n_patches=N_TRAIN + N_TEST, whiten=True,
                                      normalize=None, data_home=DATA_HOME, random_state=0)
    X = data.data.astype(np.float32)
    mean, std = X[:N_TRAIN].mean(0), X[:N_TRAIN].std(0)
    X = (X - mean) / std
    return X[:N_TRAIN], X[N_TRAIN:]


ALPHAS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


def map_at_l0(X, atoms, l0s):
    """MSE of Lasso codes on unit-norm ``atoms`` at each target L0, interpolated
    (in log L0) over the grid ``ALPHAS``; also the grid itself."""
    D = atoms / np.linalg.norm(atoms, axis=1, keepdims=True)
    grid = []
    for a in ALPHAS:
        Z = sparse_encode(X, D, alpha=a)
        grid.append({"alpha": a, "l0": float((Z != 0).sum(1).mean()),
                     "mse": float(((X - Z @ D) ** 2).mean())})
    l0 = np.log([g["l0"] for g in grid][::-1])
    mse = [g["mse"] for g in grid][::-1]
    return [float(np.interp(np.log(t), l0, mse)) for t in l0s], grid


def curve(checkpoints, n_train=None):
    from sklearn.decomposition import MiniBatchDictionaryLearning

    torch.set_num_threads(1)
    t_start = time.time()
    X_train, X_test = load_patches()
    X_train = X_train[:n_train]  # ``--patches N``: a smaller run (reproduce.py's smoke budget)
    sub = X_test[:500]
    params = dict(MODELS["thr_laplace_adam"], lr_schedule="constant")
    est = ThresholdedVAE(**params)
    t0 = time.process_time()
    # A ``--patches`` run is a pipeline check: one pass of the baseline is enough there.
    dl = MiniBatchDictionaryLearning(n_components=256, alpha=1.0, batch_size=BATCH,
                                     max_iter=EPOCHS if n_train is None else 1,
                                     random_state=0).fit(X_train)
    t_dl = time.process_time() - t0
    _, dl_grid = map_at_l0(sub, dl.components_, [1.0])
    rows, epoch, t_tvae = [], 0, 0.0
    for stop in checkpoints:
        while epoch < stop:
            t0 = time.process_time()
            est.partial_fit(X_train)
            t_tvae += time.process_time() - t0
            epoch += 1
        row = {"epoch": epoch, "steps": est.n_steps_, "tvae_cpu_s": t_tvae, "mbdl_cpu_s": t_dl}
        for mode in ("soft_threshold", "max_elbo"):
            Z = est.set_params(transform_mode=mode).transform(sub)
            row[mode] = {"mse": float(((sub - est.inverse_transform(Z)) ** 2).mean()),
                         "l0": float((Z != 0).sum(1).mean())}
        l0s = [row["soft_threshold"]["l0"], row["max_elbo"]["l0"]]
        grid_l0 = np.log([g["l0"] for g in dl_grid][::-1])
        grid_mse = [g["mse"] for g in dl_grid][::-1]
        row["map_mbdl_at_soft_l0"], row["map_mbdl_at_max_elbo_l0"] = (
            float(np.interp(np.log(t), grid_l0, grid_mse)) for t in l0s)
        row["map_mbdl_grid"] = dl_grid
        (row["map_tvae_dict_at_soft_l0"], _), row["map_tvae_dict_grid"] = \
            map_at_l0(sub, est.components_, l0s)
        rows.append(row)
        print(f"epoch {epoch}: soft {row['soft_threshold']}, max-ELBO {row['max_elbo']}, MAP "
              f"(MBDL dict) at soft L0 {row['map_mbdl_at_soft_l0']:.3f}, MAP (own dict) "
              f"{row['map_tvae_dict_at_soft_l0']:.3f}", flush=True)
        md = ["## ThresholdedVAE vs MAP sparse coding on whitened 16x16 patches: the curve", "",
              f"{len(X_train):,} training patches, the first 500 of {N_TEST:,} test patches "
              "(z-scored per pixel: MSE 1 = predicting 0); 256 atoms; thresholded Laplace "
              "(threshold 0.25, b0 0.1, 20 draws, Adam, KL weight 0.001), one pass per epoch, "
              f"batch {BATCH}, constant learning rate (`partial_fit`), against "
              f"MiniBatchDictionaryLearning (alpha 1, {EPOCHS} epochs, fitted once). "
              "MAP columns: Lasso codes "
              "(`sparse_encode`, unit-norm atoms) at the model's soft-threshold L0, MSE "
              "interpolated in log L0 over L1 weights " + ", ".join(map(str, ALPHAS)) + ".", "",
              "| epoch | steps | TVAE soft-threshold MSE | L0 | TVAE max-ELBO MSE | L0 | MAP on "
              "MBDL dict. at soft L0 | at max-ELBO L0 | MAP on TVAE dict. at soft L0 "
              "| CPU s (TVAE / MBDL) |", "|---|---|---|---|---|---|---|---|---|---|"]
        md += [f"| {r['epoch']} | {r['steps']} | {r['soft_threshold']['mse']:.3f} | "
               f"{r['soft_threshold']['l0']:.1f} | {r['max_elbo']['mse']:.3f} | "
               f"{r['max_elbo']['l0']:.1f} | {r['map_mbdl_at_soft_l0']:.3f} | "
               f"{r['map_mbdl_at_max_elbo_l0']:.3f} | {r['map_tvae_dict_at_soft_l0']:.3f} | "
               f"{r['tvae_cpu_s']:.0f} / {r['mbdl_cpu_s']:.0f} |" for r in rows]
        wall = (time.time() - t_start) / 60
        md += ["", f"Hardware: {hardware()['cpu']} (shared). Wall {wall:.1f} min so far.",
               "Command: `OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python "
               "benchmarks/fallah2022/bench_thresholded_vae_patches.py --curve "
               + " ".join(map(str, checkpoints)) + "`"]
        write_results("thresholded_vae_patches_curve",
                      {"checkpoints": list(checkpoints), "rows": rows,
                       "params": {k: (float(v) if isinstance(v, np.floating) else v)
                                  for k, v in params.items()},
                       "hardware": hardware()}, "\n".join(md))


def main():
    argv = sys.argv[1:]
    n_train = None
    if "--patches" in argv:
        i = argv.index("--patches")
        n_train = int(argv[i + 1])
        del argv[i:i + 2]
    if "--curve" in argv:
        return curve([int(v) for v in argv[argv.index("--curve") + 1:]], n_train)
    torch.set_num_threads(1)
    t_start = time.time()
    data = load_natural_image_patches(patch_size=16, n_patches=N_TRAIN + N_TEST, whiten=True,
                                      normalize=None, data_home=DATA_HOME, random_state=0)
    X = data.data.astype(np.float32)
    mean, std = X[:N_TRAIN].mean(0), X[:N_TRAIN].std(0)
    X = (X - mean) / std
    X_train, X_test = X[:N_TRAIN], X[N_TRAIN:]
    results, atoms = {}, {}
    for name, params in MODELS.items():
        t0 = time.time()
        est = ThresholdedVAE(**params).fit(X_train)
        fit_s = time.time() - t0
        Z = est.transform(X_test)
        res = code_stats(Z, X_test, est.inverse_transform(Z))
        kl = est.kl_divergence(X_test)
        res["posterior_collapse_pct"] = 100 * float(((kl <= 1e-2).mean(0) >= 0.95).mean())
        res["fit_seconds"] = fit_s
        res["steps"] = est.n_steps_
        res["history"] = [{k: round(v, 5) for k, v in h.items()} for h in est.history_]
        res["decoder_steps_capped_pct"] = 100 * float(
            np.mean([h.get("decoder_step_capped", 0.0) for h in est.history_]))
        if res["l0"] > 0 and res["zeros_pct"] > 0:
            sub = X_test[:1000]
            Zl, Xl, alpha = lasso_at_l0(sub, est.components_, res["l0"] * 1000 / len(sub))
            res["lasso_on_dictionary"] = {**code_stats(Zl, sub, Xl), "alpha": alpha}
        results[name] = res
        order = np.argsort(-np.linalg.norm(est.components_, axis=1))
        atoms[name] = est.components_[order]
        print(f"{name}: {res['mse']:.4f} MSE, {res['zeros_pct']:.1f}% zeros, "
              f"{fit_s:.0f}s", flush=True)

    from sklearn.decomposition import MiniBatchDictionaryLearning

    t0 = time.time()
    alpha = 2.0
    dl = MiniBatchDictionaryLearning(n_components=256, alpha=alpha, batch_size=BATCH,
                                     max_iter=EPOCHS, random_state=0).fit(X_train)
    fit_s = time.time() - t0
    Z = sparse_encode(X_test, dl.components_, alpha=alpha)
    res = code_stats(Z, X_test, Z @ dl.components_)
    res.update(fit_seconds=fit_s, steps=int(dl.n_steps_), alpha=alpha)
    results["mbdl"] = res
    usage = (Z != 0).mean(0)
    atoms["mbdl"] = dl.components_[np.argsort(-usage)]
    print(f"mbdl: {res['mse']:.4f} MSE, {res['zeros_pct']:.1f}% zeros, {fit_s:.0f}s", flush=True)

    figure(atoms, STATIC / "tvae_patches_atoms.png")
    payload = {
        "benchmark": "ThresholdedVAE, linear generator, whitened 16x16 natural-image patches",
        "command": "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "
                   "python benchmarks/fallah2022/bench_thresholded_vae_patches.py",
        "data": {"source": data.source, "images": data.image_names, "n_train": N_TRAIN,
                 "n_test": N_TEST, "preprocessing": "1/f whitening, per-pixel z-score"},
        "budget": {"steps_per_model": STEPS, "reference_steps": REF_STEPS,
                   "noise_warmup": WARMUP},
        "params": {k: {p: (v if not isinstance(v, np.floating) else float(v))
                       for p, v in m.items()} for k, m in MODELS.items()},
        "results": results,
        "hardware": hardware(),
        "total_seconds": time.time() - t_start,
    }
    rows = [
        "| model | test MSE/px | % zeros | L0 | % coef. collapse | % posterior collapse "
        "| active atoms | fit (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        pc = f"{r['posterior_collapse_pct']:.1f}" if "posterior_collapse_pct" in r else "—"
        rows.append(f"| {LABELS[name]} | {r['mse']:.3f} | {r['zeros_pct']:.1f} | {r['l0']:.1f} "
                     f"| {r['coef_collapse_pct']:.1f} | {pc} | {r['active_components']} "
                     f"| {r['fit_seconds']:.0f} |")
    rows += ["", "Lasso (`sparse_encode`) codes on each ThresholdedVAE dictionary (unit-norm "
             "atoms), L1 weight set to match the model's L0, first 1,000 test patches:", "",
             "| dictionary of | test MSE/px | % zeros | L0 | alpha |", "|---|---|---|---|---|"]
    for name, r in results.items():
        if "lasso_on_dictionary" in r:
            q = r["lasso_on_dictionary"]
            rows.append(f"| {LABELS[name]} | {q['mse']:.3f} | {q['zeros_pct']:.1f} | "
                        f"{q['l0']:.1f} | {q['alpha']:.3g} |")
    md = "\n".join([
        "## ThresholdedVAE: linear generator on whitened 16x16 natural-image patches",
        "",
        f"{N_TRAIN:,} training / {N_TEST:,} test patches (z-scored per pixel, so MSE 1 = "
        f"predicting 0); 256 atoms; {STEPS:,} steps of {BATCH} per model "
        f"({100 * STEPS / REF_STEPS:.1f}% of the reference's {REF_STEPS:,}); one CPU thread.",
        "",
        *rows,
        "",
        f"Hardware: {payload['hardware']['cpu']}, torch {payload['hardware']['torch']}. "
        f"Total {payload['total_seconds'] / 60:.1f} min.",
        f"Command: `{payload['command']}`",
    ])
    write_results("thresholded_vae_patches", payload, md)


def figure(atoms: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skdeepsparse.plotting import plot_atoms

    fig, axes = plt.subplots(1, len(atoms), figsize=(3.2 * len(atoms), 3.6))
    titles = {"thr_laplace_ref": "Thr. Laplace (SGD, ref.)", "thr_laplace_adam":
              "Thr. Laplace (Adam)", "gauss_vae_adam": "Gaussian VAE (Adam)",
              "mbdl": "MiniBatchDictLearning"}
    for ax, (name, comps) in zip(axes, atoms.items(), strict=True):
        plot_atoms(comps, (16, 16), n_atoms=64, n_cols=8, title=titles[name], ax=ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
