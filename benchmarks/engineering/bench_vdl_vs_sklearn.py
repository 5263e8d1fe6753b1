"""VarianceRegDictionaryLearner (linear, 128 atoms) vs MiniBatchDictionaryLearning on MNIST.

Both learn 128 atoms on MNIST training images (pixels in [0, 1]) and code the
10,000 test images. Reported: test PSNR, % exact zeros in the test codes,
active atoms, fit time and transform time (median of ``--repeats``), the
encoder's transform against scikit-learn's ``lasso_lars`` transform, and the
low-data probe (10 labels per class, 5 seeds). scikit-learn runs at several
``alpha`` so its PSNR can be read at matching sparsity.

    python benchmarks/engineering/bench_vdl_vs_sklearn.py                 # ~15-25 min on 2 cores
    python benchmarks/engineering/bench_vdl_vs_sklearn.py --n-train 5000 --epochs 5 \
        --repeats 1  # quick
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sklearn.decomposition import MiniBatchDictionaryLearning

from skdeepsparse import VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_mnist
from skdeepsparse.evaluation import linear_probe
from skdeepsparse.metrics import active_components, code_sparsity, psnr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, add_common_options, hardware, timed, write_results  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    add_common_options(ap, n_train=60000, epochs=30, device="auto")
    ap.add_argument("--sk-alphas", type=float, nargs="+", default=[0.2, 0.5, 1.0])
    ap.add_argument("--sk-epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    train = load_mnist("train", data_home=DATA_HOME, n_samples=args.n_train)
    test = load_mnist("test", data_home=DATA_HOME)
    X, y, Xt, yt = train.data, train.target, test.data, test.target
    rows = []

    def evaluate(name, Z_tr, Z_te, recon, fit_s, tr_s, extra=None):
        probe = linear_probe(Z_tr, y, Z_te, yt, n_per_class=(10,), n_seeds=5)[10]
        row = {
            "model": name, "psnr_db": psnr(Xt, recon), "pct_zeros": 100 * code_sparsity(Z_te),
            "active": active_components(Z_te), "fit_s": fit_s, "transform_s": tr_s,
            "probe10_mean": probe["mean"], "probe10_std": probe["std"], **(extra or {}),
        }
        rows.append(row)
        print(row, flush=True)

    t0 = time.perf_counter()
    vdl = VarianceRegDictionaryLearner(
        n_components=128, max_epochs=args.epochs, decoder_learning_rate=1e-3, learning_rate=3e-4,
        device=args.device, random_state=0,
    ).fit(X)
    fit_s = time.perf_counter() - t0
    Z_te, tr_s, _ = timed(lambda: vdl.transform(Xt), args.repeats)
    vdl.set_params(transform_mode="fista")
    Z_fista, tr_fista_s, _ = timed(lambda: vdl.transform(Xt), 1)
    fista_row = {"fista_psnr_db": psnr(Xt, vdl.inverse_transform(Z_fista)),
                 "fista_pct_zeros": 100 * code_sparsity(Z_fista), "fista_transform_s": tr_fista_s}
    vdl.set_params(transform_mode="encoder")
    evaluate("VDL (linear, encoder)", vdl.transform(X), Z_te, vdl.inverse_transform(Z_te),
             fit_s, tr_s, {**fista_row, "best_epoch": vdl.best_epoch_})

    for alpha in args.sk_alphas:
        t0 = time.perf_counter()
        mbdl = MiniBatchDictionaryLearning(
            n_components=128, alpha=alpha, max_iter=args.sk_epochs, batch_size=256,
            transform_algorithm="lasso_lars", transform_alpha=alpha, random_state=0,
        ).fit(X)
        fit_s = time.perf_counter() - t0
        Z_te, tr_s, _ = timed(lambda m=mbdl: m.transform(Xt), args.repeats)
        evaluate(f"MiniBatchDictionaryLearning alpha={alpha}", mbdl.transform(X), Z_te,
                 Z_te @ mbdl.components_, fit_s, tr_s)

    vdl_row = rows[0]
    hw = hardware()
    lines = [
        f"MNIST: {args.n_train} train / 10000 test images, 128 atoms. VDL: {args.epochs} epochs "
        f"(batch 250, 10% validation, best epoch kept); MiniBatchDictionaryLearning: "
        f"{args.sk_epochs} epochs, lasso_lars transform. Median of {args.repeats} transform "
        f"runs. {hw['cpu']} ({hw['cpu_count']} cores); device {vdl.device_}.",
        "",
        "| model | test PSNR (dB) | % zeros | active | probe acc (10/class) | fit (s) | "
        "transform (s) | VDL transform speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['psnr_db']:.2f} | {r['pct_zeros']:.1f} | {r['active']} | "
            f"{r['probe10_mean']:.3f} ± {r['probe10_std']:.3f} | {r['fit_s']:.1f} | "
            f"{r['transform_s']:.3f} | {r['transform_s'] / vdl_row['transform_s']:.0f}x |"
        )
    lines += [
        "",
        f"VDL with FISTA transform (no variance term): PSNR {vdl_row['fista_psnr_db']:.2f} dB, "
        f"{vdl_row['fista_pct_zeros']:.1f}% zeros, {vdl_row['fista_transform_s']:.2f} s.",
        "",
        "Command: `python benchmarks/engineering/bench_vdl_vs_sklearn.py " + " ".join(
            f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items()) + "`",
    ]
    write_results("vdl_vs_sklearn", {"args": vars(args), "hardware": hw, "rows": rows},
                  "\n".join(lines))


if __name__ == "__main__":
    main()
