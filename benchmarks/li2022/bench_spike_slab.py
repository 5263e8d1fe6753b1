"""SpikeSlabGenerator: annealed spike-and-slab prior vs the dense baseline (Li & Han, 2022).

On MNIST and Fashion-MNIST, two generators with the same architecture, budget and
seed are trained: the annealed spike-and-slab prior (``alpha_final=0.001``) and
the dense baseline (``alpha_final=1.0``: alternating back-propagation with a
Gaussian prior, codes inferred from ``z0 = 0`` as well). Reported on the test images:

- reconstruction MSE per pixel and PSNR (codes inferred by ``transform``);
- code sparsity as the reference code measures it (fraction of ``|z| > 0.2``),
  the Hoyer sparsity (scale-free), and how much reconstruction survives when
  only the codes with ``|z| > 0.2`` are kept, or only the ``k`` largest per image
  (the scale-free check that the zeroed codes carried no information);
- denoising at noise std 0.3, 0.5, 0.7 (Gaussian, added in [0, 1] pixel space, not
  clipped): PSNR and SSIM of the reconstruction against the CLEAN image (the
  reference code compares with the noisy one, a bug), beside those of the noisy
  input;
- accuracy of a classifier trained on clean training pixels
  (``LogisticRegression``) when fed the noisy test images or their reconstructions;
- a figure of latent traversals (docs/_static/spike_slab_traversals.png: the 5
  largest latents of one test image moved by -3..3) and one
  of denoising examples (docs/_static/spike_slab_denoising.png).

CPU budget (the paper trains 100 epochs on 60k images with a 21-epoch warm-up):
10k training images, 10 epochs, a 3-epoch warm-up and ``alpha_decay=0.25`` per
epoch, so ``alpha`` is 1, 1, 1, 0.75, 0.5, 0.25 then 0.001 for the last 4 epochs.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/li2022/bench_spike_slab.py   # ~10 min
    python benchmarks/li2022/bench_spike_slab.py --n-train 3000 --epochs 6 --datasets mnist  # quick
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from skdeepsparse.datasets import load_fashion_mnist, load_mnist
from skdeepsparse.metrics import active_components, psnr, ssim
from skdeepsparse.spike_slab import SpikeSlabGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, STATIC, add_common_options, hardware, write_results  # noqa: E402

LOADERS = {"mnist": load_mnist, "fashion": load_fashion_mnist}
NOISE = (0.3, 0.5, 0.7)
SHAPE = (28, 28)


def hoyer(Z: np.ndarray) -> float:
    """Mean Hoyer sparsity per code vector: 0 for equal magnitudes, 1 for one non-zero."""
    a = np.abs(Z).astype(np.float64)
    n = a.shape[1]
    ratio = a.sum(1) / np.sqrt((a**2).sum(1) + 1e-30)
    return float(np.mean((np.sqrt(n) - ratio) / (np.sqrt(n) - 1)))


def keep_top_k(Z: np.ndarray, k: int) -> np.ndarray:
    """Zero all but the ``k`` largest ``|z|`` of every row."""
    out = np.zeros_like(Z)
    idx = np.argpartition(-np.abs(Z), k - 1, axis=1)[:, :k]
    rows = np.arange(Z.shape[0])[:, None]
    out[rows, idx] = Z[rows, idx]
    return out


def mse(A, B) -> float:
    return float(np.mean((np.asarray(A, np.float64) - np.asarray(B, np.float64)) ** 2))


def make_model(args, alpha_final: float) -> SpikeSlabGenerator:
    return SpikeSlabGenerator(
        n_components=args.n_components, decoder_hidden_sizes=(400,), learning_rate=args.lr,
        max_epochs=args.epochs, alpha_warmup_epochs=args.warmup, alpha_decay=args.decay,
        alpha_final=alpha_final, device=args.device, random_state=args.seed,
    )


def traversal_figure(models: dict, X: np.ndarray, filename: Path) -> None:
    """Rows: the 5 latents with the largest |z| of one test image, each moved by an
    offset in [-3, 3] (slab units, as in the paper's traversals); one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.linspace(-3, 3, 9)
    n_lat = 5
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 3.4))
    for ax, (name, model) in zip(np.atleast_1d(axes), models.items(), strict=True):
        z = model.transform(X[:1])[0]
        lat = np.argsort(-np.abs(z))[:n_lat]
        canvas = np.ones((n_lat * 29 + 1, len(steps) * 29 + 1))
        for r, j in enumerate(lat):
            Zt = np.repeat(z[None], len(steps), 0)
            Zt[:, j] = z[j] + steps
            imgs = model.inverse_transform(Zt.astype(z.dtype))
            for c, img in enumerate(imgs):
                canvas[1 + r * 29: 1 + r * 29 + 28, 1 + c * 29: 1 + c * 29 + 28] = \
                    img.reshape(SHAPE)
        ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{name}\nlatents {', '.join(map(str, lat))}", fontsize=8)
        ax.set_xticks(1 + 29 * np.arange(len(steps)) + 14)
        ax.set_xticklabels([f"{t:+.1f}" for t in steps], fontsize=6)
        ax.set_yticks([])
        ax.set_xlabel("offset added to the latent", fontsize=7)
    fig.tight_layout()
    fig.savefig(filename, dpi=90)
    plt.close(fig)


def denoising_figure(clean, noisy, recons: dict, filename: Path, n: int = 8) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {"clean": clean, "noisy (std 0.5)": noisy, **recons}
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.8, len(rows) * 0.9))
    for r, (name, data) in enumerate(rows.items()):
        for c in range(n):
            axes[r, c].imshow(np.clip(data[c].reshape(SHAPE), 0, 1), cmap="gray", vmin=0,
                              vmax=1)
            axes[r, c].set_axis_off()
        axes[r, 0].set_title(name, fontsize=7, loc="left")
    fig.tight_layout()
    fig.savefig(filename, dpi=90)
    plt.close(fig)


def run_dataset(name: str, args) -> dict:
    train = LOADERS[name]("train", data_home=DATA_HOME, n_samples=args.n_train)
    test = LOADERS[name]("test", data_home=DATA_HOME, n_samples=args.n_test)
    X, y, Xt, yt = train.data, train.target, test.data, test.target
    rng = np.random.RandomState(args.seed)
    noisy = {s: (Xt + s * rng.standard_normal(Xt.shape)).astype(Xt.dtype) for s in NOISE}

    t0 = time.perf_counter()
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    clf_s = time.perf_counter() - t0
    out = {
        "classifier": {"fit_s": clf_s, "acc_clean": float(clf.score(Xt, yt))},
        "noisy_input": {
            str(s): {"psnr": psnr(Xt, noisy[s]), "ssim": ssim(Xt, noisy[s], SHAPE),
                     "acc": float(clf.score(noisy[s], yt))}
            for s in NOISE
        },
        "models": {},
    }
    print(name, out["classifier"], out["noisy_input"], flush=True)
    fitted = {}
    for label, alpha_final in (("annealed", 0.001), ("dense", 1.0)):
        model = make_model(args, alpha_final)
        t0 = time.perf_counter()
        model.fit(X)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        Z = model.transform(Xt)
        tr_s = time.perf_counter() - t0
        R = model.inverse_transform(Z)
        R_thr = model.inverse_transform(np.where(np.abs(Z) <= 0.2, 0, Z).astype(Z.dtype))
        row = {
            "alpha_final": alpha_final,
            "fit_s": fit_s,
            "transform_s": tr_s,
            "train_mse_last_epoch": model.history_[-1]["mse"],
            "mse": mse(Xt, R),
            "psnr": psnr(Xt, R),
            "acc_recon_clean": float(clf.score(R, yt)),
            "frac_active_0.2": float(np.mean(np.abs(Z) > 0.2)),
            "active_latents_0.2": active_components(Z, threshold=0.2),
            "mean_abs_z": float(np.mean(np.abs(Z))),
            "hoyer": hoyer(Z),
            "mse_hard_threshold_0.2": mse(Xt, R_thr),
            "mse_g0": mse(Xt, model.inverse_transform(np.zeros_like(Z[:1])).repeat(len(Xt), 0)),
        }
        for k in args.top_k:
            row[f"mse_top{k}"] = mse(Xt, model.inverse_transform(keep_top_k(Z, k)))
        den = {}
        for s in NOISE:
            Rn = model.inverse_transform(model.transform(noisy[s]))
            den[str(s)] = {"psnr": psnr(Xt, Rn), "ssim": ssim(Xt, Rn, SHAPE),
                           "acc": float(clf.score(Rn, yt))}
            if s == 0.5:
                row["_denoised_05"] = Rn
        row["denoising"] = den
        row["history_alpha"] = [h["alpha"] for h in model.history_]
        fitted[label] = (model, Z)
        out["models"][label] = row
        print(name, label, {k: v for k, v in row.items() if not k.startswith("_")}, flush=True)
    if name == "mnist" and args.figures:
        STATIC.mkdir(parents=True, exist_ok=True)
        traversal_figure({"annealed (alpha_final=0.001)": fitted["annealed"][0],
                          "dense (alpha_final=1)": fitted["dense"][0]},
                         Xt[args.traverse_index:], STATIC / "spike_slab_traversals.png")
        denoising_figure(Xt, noisy[0.5], {
            "annealed": out["models"]["annealed"]["_denoised_05"],
            "dense": out["models"]["dense"]["_denoised_05"]},
            STATIC / "spike_slab_denoising.png")
    for row in out["models"].values():
        row.pop("_denoised_05", None)
    return out


def markdown(results: dict, args, total_s: float) -> str:
    lines = [
        "## SpikeSlabGenerator: annealed spike-and-slab vs dense baseline",
        "",
        f"{args.n_train} training / {args.n_test} test images, {args.n_components} latents, "
        f"MLP 400 hidden, {args.epochs} epochs (warm-up {args.warmup}, alpha_decay "
        f"{args.decay}/epoch), lr {args.lr}, seed {args.seed}; total {total_s:.0f} s.",
        "",
        "| data | model | test MSE | PSNR dB | frac abs(z)>0.2 | Hoyer | MSE thr 0.2 | "
        + " | ".join(f"MSE top-{k}" for k in args.top_k) + " | MSE g(0) | fit s |",
        "|---" * (9 + len(args.top_k)) + "|",
    ]
    for ds, res in results.items():
        for label, r in res["models"].items():
            lines.append(
                f"| {ds} | {label} | {r['mse']:.4f} | {r['psnr']:.2f} | "
                f"{r['frac_active_0.2']:.4f} | {r['hoyer']:.3f} | "
                f"{r['mse_hard_threshold_0.2']:.4f} | "
                + " | ".join(f"{r[f'mse_top{k}']:.4f}" for k in args.top_k)
                + f" | {r['mse_g0']:.4f} | {r['fit_s']:.0f} |"
            )
    lines += ["", "Denoising (PSNR dB / SSIM against the clean image; accuracy of a "
              "classifier trained on clean pixels):", "",
              "| data | noise std | noisy input | annealed | dense | acc noisy | "
              "acc annealed | acc dense |", "|---" * 8 + "|"]
    for ds, res in results.items():
        for s in NOISE:
            k = str(s)
            n, a, d = (res["noisy_input"][k], res["models"]["annealed"]["denoising"][k],
                       res["models"]["dense"]["denoising"][k])
            lines.append(
                f"| {ds} | {s} | {n['psnr']:.2f} / {n['ssim']:.3f} | "
                f"{a['psnr']:.2f} / {a['ssim']:.3f} | {d['psnr']:.2f} / {d['ssim']:.3f} | "
                f"{n['acc']:.3f} | {a['acc']:.3f} | {d['acc']:.3f} |"
            )
        c = res["classifier"]["acc_clean"]
        ra = res["models"]["annealed"]["acc_recon_clean"]
        rd = res["models"]["dense"]["acc_recon_clean"]
        lines.append(f"| {ds} | 0 (clean) | - | - | - | {c:.3f} | {ra:.3f} | {rd:.3f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion"], choices=list(LOADERS))
    add_common_options(ap, n_train=10000, n_test=2000, epochs=10, seed=0, device="cpu")
    ap.add_argument("--n-components", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--decay", type=float, default=0.25)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--top-k", type=int, nargs="+", default=[10, 20, 50])
    ap.add_argument("--traverse-index", type=int, default=0)
    ap.add_argument("--no-figures", dest="figures", action="store_false")
    ap.add_argument("--name", default="spike_slab")
    args = ap.parse_args()

    t0 = time.perf_counter()
    results = {ds: run_dataset(ds, args) for ds in args.datasets}
    total = time.perf_counter() - t0
    payload = {"config": vars(args), "hardware": hardware(), "total_s": total,
               "results": results}
    write_results(args.name, payload, markdown(results, args, total))


if __name__ == "__main__":
    main()
