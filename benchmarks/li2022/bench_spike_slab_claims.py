"""SpikeSlabGenerator with an identifiable code scale: exact zeros, sparsity at equal
error, and the paper's downstream claims (denoising, robust classification), 3 seeds.

Models (same data, budget and seed): ``annealed`` (``alpha_final=0.001``) and
``dense`` (``alpha_final=1``), both with ``decoder_column_norm`` (the first layer's
columns projected to a fixed norm after every step) and the fast inference
(analytic gradient, Nesterov steps); and scikit-learn's
``MiniBatchDictionaryLearning`` (``mbdl``, 200 atoms, 3 passes, OMP codes with 20 non-zeros).

Reported on the test images, per seed and as mean +- std over the seeds:

- PSNR of ``g(transform(X))``; PSNR with **exact zeros**: ``transform(X)`` with
  ``transform_threshold="spike"`` zeroes every code that the prior assigns to the spike
  (``|z| <= z*(alpha)``, the crossover of the two weighted Gaussians; 0.37 at the
  transform ``alpha=0.01``), and the fraction of non-zero codes;
- scale-free sparsity: Hoyer, the share of codes that hold 95 % of each code's
  L1 / L2 mass, and, **at equal reconstruction error**, the number ``k`` of largest
  codes per image needed to reach a common PSNR target (the lower of the two
  generators' PSNRs minus 1 dB);
- denoising (Gaussian noise of std 0.3 / 0.5 / 0.7 in [0, 1] pixels, unclipped):
  PSNR and SSIM against the clean image (``skdeepsparse.metrics``);
- robust classification as the reference code runs it: a linear classifier with a
  ReLU on its logits, trained on clean raw training pixels (Adam 1e-3, 20 epochs,
  batch 100), fed the noisy test images or their reconstructions (accuracy).

    OMP_NUM_THREADS=1 python benchmarks/li2022/bench_spike_slab_claims.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import MiniBatchDictionaryLearning

from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import psnr, ssim
from skdeepsparse.spike_slab import SpikeSlabGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, DEVICE, add_common_options, hardware, write_results  # noqa: E402

NOISE = (0.3, 0.5, 0.7)
SHAPE = (28, 28)
K_GRID = (2, 4, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200)


def hoyer(Z):
    a = np.abs(Z).astype(np.float64)
    n = a.shape[1]
    ratio = a.sum(1) / np.sqrt((a**2).sum(1) + 1e-30)
    return float(np.mean((np.sqrt(n) - ratio) / (np.sqrt(n) - 1)))


def mass_share(Z, power, q=0.95):
    """Mean share of codes needed to hold a fraction q of each row's sum |z|^power."""
    a = np.sort(np.abs(Z).astype(np.float64) ** power, axis=1)[:, ::-1]
    c = np.cumsum(a, 1)
    k = (c < q * c[:, -1:]).sum(1) + 1
    return float(np.mean(k) / Z.shape[1])


def top_k(Z, k):
    out = np.zeros_like(Z)
    idx = np.argpartition(-np.abs(Z), k - 1, axis=1)[:, :k]
    rows = np.arange(Z.shape[0])[:, None]
    out[rows, idx] = Z[rows, idx]
    return out


class PaperClassifier(torch.nn.Module):
    """784 -> 10 linear layer with a ReLU on the logits (the reference code's quirk)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)

    def forward(self, x):
        return torch.relu(self.fc(x))


def train_classifier(X, y, seed, epochs=20, batch=100):
    torch.manual_seed(seed)
    clf = PaperClassifier()
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.long)
    rng = np.random.RandomState(seed)
    for _ in range(epochs):
        for b in np.array_split(rng.permutation(len(X)), len(X) // batch):
            loss = torch.nn.functional.cross_entropy(clf(Xt[b]), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return clf


def accuracy(clf, X, y):
    with torch.no_grad():
        return float((clf(torch.tensor(np.asarray(X, np.float32))).argmax(1).numpy() == y).mean())


class MBDL:
    """MiniBatchDictionaryLearning as an encoder/decoder pair."""

    def __init__(self, seed, n_nonzero):
        self.dl = MiniBatchDictionaryLearning(
            n_components=200, alpha=1.0, batch_size=256, max_iter=3, fit_algorithm="cd",
            random_state=seed,
            transform_algorithm="omp", transform_n_nonzero_coefs=n_nonzero)

    def fit(self, X):
        self.dl.fit(X)
        return self

    def transform(self, X):
        return self.dl.transform(X).astype(np.float32)

    def inverse_transform(self, Z):
        return (Z @ self.dl.components_).astype(np.float32)


def evaluate(model, X, Xt, yt, noisy, clf, thr):
    t0 = time.perf_counter()
    Z = model.transform(Xt)
    tr_s = time.perf_counter() - t0
    R = model.inverse_transform(Z)
    row = {"transform_s": tr_s, "psnr": psnr(Xt, R), "hoyer": hoyer(Z),
           "l1_95_share": mass_share(Z, 1), "l2_95_share": mass_share(Z, 2),
           "acc_recon_clean": accuracy(clf, R, yt)}
    if thr is not None:
        Zs = np.where(np.abs(Z) <= thr, 0, Z).astype(Z.dtype)
        Rs = model.inverse_transform(Zs)
        row.update(spike_threshold=thr, psnr_zeroed=psnr(Xt, Rs),
                   nonzero_frac=float((Zs != 0).mean()),
                   zeroing_cost_db=row["psnr"] - psnr(Xt, Rs))
    else:
        row["nonzero_frac"] = float((Z != 0).mean())
    row["psnr_top_k"] = {k: psnr(Xt, model.inverse_transform(top_k(Z, k))) for k in K_GRID}
    den = {}
    for s, Xn in noisy.items():
        Zn = model.transform(Xn)
        Rn = model.inverse_transform(Zn)
        d = {"psnr": psnr(Xt, Rn), "ssim": ssim(Xt, Rn, SHAPE), "acc": accuracy(clf, Rn, yt)}
        if thr is not None:
            Rz = model.inverse_transform(np.where(np.abs(Zn) <= thr, 0, Zn).astype(Zn.dtype))
            d.update(psnr_zeroed=psnr(Xt, Rz), ssim_zeroed=ssim(Xt, Rz, SHAPE),
                     acc_zeroed=accuracy(clf, Rz, yt))
        den[str(s)] = d
    row["denoising"] = den
    return row


def k_at(row, target):
    for k in K_GRID:
        if row["psnr_top_k"][k] >= target:
            return k
    return None


def run_seed(seed, args, X, y, Xt, yt):
    rng = np.random.RandomState(1000 + seed)
    noisy = {s: (Xt + s * rng.standard_normal(Xt.shape)).astype(np.float32) for s in NOISE}
    clf = train_classifier(X, y, seed)
    out = {"noisy_input": {str(s): {"psnr": psnr(Xt, noisy[s]), "ssim": ssim(Xt, noisy[s], SHAPE),
                                    "acc": accuracy(clf, noisy[s], yt)} for s in NOISE},
           "acc_clean": accuracy(clf, Xt, yt), "models": {}}
    common = dict(n_components=200, decoder_hidden_sizes=(400,), learning_rate=0.01,
                  max_epochs=args.epochs, alpha_warmup_epochs=args.warmup,
                  alpha_decay=args.decay, decoder_norm=args.column_norm[0],
                  hidden_norm=args.column_norm[1],
                  # the inference the committed runs used (the defaults changed in #32)
                  inference_init="zeros", transform_inference_steps=None,
                  transform_threshold=None,
                  inference_step_size=0.5 * args.step_size**2,  # step = delta^2 / 2
                  inference_steps=args.steps, inference_momentum=args.momentum,
                  transform_alpha=0.01, device=DEVICE, random_state=seed)
    models = {"annealed": SpikeSlabGenerator(alpha_final=0.001, **common),
              "dense": SpikeSlabGenerator(alpha_final=1.0, **{**common, "transform_alpha": None}),
              "mbdl": MBDL(seed, args.omp_nonzero)}
    for label, model in models.items():
        t0 = time.perf_counter()
        model.fit(X)
        fit_s = time.perf_counter() - t0
        thr = model._spike_threshold(0.01) if label != "mbdl" else None
        row = evaluate(model, X, Xt, yt, noisy, clf, thr)
        row["fit_s"] = fit_s
        out["models"][label] = row
        print(seed, label, {k: v for k, v in row.items() if k not in ("psnr_top_k", "denoising")},
              flush=True)
    target = min(out["models"]["annealed"]["psnr"], out["models"]["dense"]["psnr"]) - 1.0
    out["equal_error_target_psnr"] = target
    for row in out["models"].values():
        row["k_at_target"] = k_at(row, target)
    return out


def agg(values):
    v = np.array([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return "-"
    return f"{v.mean():.2f} +- {v.std():.2f}" if len(v) > 1 else f"{v[0]:.2f}"


def markdown(res, args):
    seeds = list(res["seeds"].values())
    labels = ("annealed", "dense", "mbdl")
    L = ["## SpikeSlabGenerator: exact zeros, sparsity at equal error, downstream claims", "",
         f"MNIST {args.n_train} training / {args.n_test} test images; generators: 200 latents, "
         f"MLP 400, column norms {args.column_norm}, step size {args.step_size}, "
         f"{args.epochs} epochs (warm-up {args.warmup}, "
         f"alpha_decay {args.decay}), {args.steps} Nesterov steps (momentum {args.momentum}), "
         f"transform alpha 0.01; MBDL 200 atoms (cd), 3 passes, OMP {args.omp_nonzero} non-zeros; "
         f"seeds {args.seeds}; mean +- std over seeds; total {res['total_s']:.0f} s.", "",
         "| model | PSNR dB | PSNR exact zeros | zeroing cost dB | non-zero frac | Hoyer | "
         "L1-95% share | L2-95% share | k at equal error | fit s |", "|---" * 10 + "|"]
    for m in labels:
        rows = [s["models"][m] for s in seeds]
        L.append(f"| {m} | {agg(r['psnr'] for r in rows)} | "
                 f"{agg(r.get('psnr_zeroed') for r in rows)} | "
                 f"{agg(r.get('zeroing_cost_db') for r in rows)} | "
                 f"{agg(r['nonzero_frac'] for r in rows)} | {agg(r['hoyer'] for r in rows)} | "
                 f"{agg(r['l1_95_share'] for r in rows)} | {agg(r['l2_95_share'] for r in rows)} | "
                 f"{agg(r['k_at_target'] for r in rows)} | {agg(r['fit_s'] for r in rows)} |")
    targets = ", ".join(f"{s['equal_error_target_psnr']:.2f}" for s in seeds)
    L += ["", f"k at equal error: largest codes kept per image to reach the common PSNR target "
          f"(per seed: {targets} dB).", "",
          "Denoising, PSNR dB / SSIM against the clean image (generators: continuous codes; "
          "'annealed 0s': exact zeros):", "",
          "| noise | noisy input | annealed | annealed 0s | dense | mbdl |", "|---" * 6 + "|"]
    cols = (("annealed", ""), ("annealed", "_zeroed"), ("dense", ""), ("mbdl", ""))
    for s in NOISE:
        k = str(s)
        cells = [f"{agg(x['noisy_input'][k]['psnr'] for x in seeds)} / "
                 f"{agg(x['noisy_input'][k]['ssim'] for x in seeds)}"]
        for m, suffix in cols:
            d = [x["models"][m]["denoising"][k] for x in seeds]
            cells.append(f"{agg(r['psnr' + suffix] for r in d)} / "
                         f"{agg(r['ssim' + suffix] for r in d)}")
        L.append(f"| {s} | " + " | ".join(cells) + " |")
    L += ["", "Robust classification (reference protocol: linear + ReLU logits trained on clean "
          "pixels; accuracy on the noisy test images or their reconstructions):", "",
          "| noise | noisy input | annealed | annealed 0s | dense | mbdl |", "|---" * 6 + "|"]
    L.append(f"| 0 (clean) | {agg(x['acc_clean'] for x in seeds)} | "
             + " | ".join([agg(x['models']['annealed']['acc_recon_clean'] for x in seeds), "-",
                           agg(x['models']['dense']['acc_recon_clean'] for x in seeds),
                           agg(x['models']['mbdl']['acc_recon_clean'] for x in seeds)]) + " |")
    for s in NOISE:
        k = str(s)
        L.append(f"| {s} | {agg(x['noisy_input'][k]['acc'] for x in seeds)} | "
                 + " | ".join([agg(x['models']['annealed']['denoising'][k]['acc'] for x in seeds),
                               agg(x['models']['annealed']['denoising'][k]['acc_zeroed']
                                   for x in seeds),
                               agg(x['models']['dense']['denoising'][k]['acc'] for x in seeds),
                               agg(x['models']['mbdl']['denoising'][k]['acc'] for x in seeds)])
                 + " |")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(ap, n_train=10000, n_test=2000, epochs=10, seeds=[0, 1, 2])
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--decay", type=float, default=0.25)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--momentum", type=float, default=0.8)
    ap.add_argument("--column-norm", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--step-size", type=float, default=0.15)
    ap.add_argument("--omp-nonzero", type=int, default=20)
    ap.add_argument("--name", default="spike_slab_claims")
    ap.add_argument("--merge", nargs="+", default=None,
                    help="result names (one seed each) to merge into --name; nothing is run")
    args = ap.parse_args()
    if args.merge:
        import json

        from _common import RESULTS
        parts = [json.loads((RESULTS / f"{n}.json").read_text()) for n in args.merge]
        res = {"config": parts[0]["config"], "hardware": parts[0]["hardware"], "seeds": {},
               "total_s": sum(p["total_s"] for p in parts), "merged_from": args.merge}
        for p in parts:
            res["seeds"].update(p["seeds"])
        args.seeds = [int(k) for k in res["seeds"]]
        args.n_train, args.n_test = res["config"]["n_train"], res["config"]["n_test"]
        write_results(args.name, res, markdown(res, args))
        return
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    tr = load_mnist("train", data_home=DATA_HOME, n_samples=args.n_train)
    te = load_mnist("test", data_home=DATA_HOME, n_samples=args.n_test)
    res = {"config": vars(args), "hardware": hardware(), "seeds": {}}
    for seed in args.seeds:
        res["seeds"][str(seed)] = run_seed(seed, args, tr.data, tr.target, te.data, te.target)
    res["total_s"] = time.perf_counter() - t0
    write_results(args.name, res, markdown(res, args))


if __name__ == "__main__":
    main()
