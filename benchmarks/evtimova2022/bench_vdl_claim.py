"""The paper's headline claim: do multi-layer decoders with variance regularisation
give higher PSNR at higher sparsity than linear dictionaries?

For MNIST and Fashion-MNIST, fits SDL, VDL, SDL-NL and VDL-NL with the paper's own
hyperparameters (the registry presets ``paper_mnist_sdl``, ``paper_mnist_vdl``,
``paper_mnist_sdl_nl``, ``paper_mnist_vdl_nl``; spec section 1.4) except for the
budget: ``--epochs`` epochs on the first ``--n-train`` training images, no
validation split (the last epoch is kept), seeds 0, 1, 2 instead of the paper's 31.
Each preset's sparsity weight ``lambda`` is swept over ``--mults`` times its paper
value. scikit-learn's ``MiniBatchDictionaryLearning`` (128 atoms, ``lasso_lars``
codes, alpha in ``--sk-alphas``, ``--epochs`` passes) is the classical baseline.
On the first ``--n-test`` test images: PSNR of the reconstruction from the codes
that ``transform`` returns (the LISTA encoder's, as the paper evaluates) and the
% of exactly-zero code entries.

The report compares, seed by seed, each -NL point's PSNR with the best linear
model (SDL or VDL, interpolated at the same % zeros), and lists the highest %
zeros each sweep reaches: the claim needs VDL-NL ahead of the linear models at
matched sparsity and reaching high sparsity at all.

``benchmarks/reproduce.py evtimova2022 --jobs 2`` runs one process per dataset and
seed, side by side, then merges them; by hand::

    OMP_NUM_THREADS=1 python benchmarks/evtimova2022/bench_vdl_claim.py --dataset mnist \
        --seeds 0 --tag _s0 &
    OMP_NUM_THREADS=1 python benchmarks/evtimova2022/bench_vdl_claim.py --dataset fashion \
        --seeds 0 --tag _s0 &
    wait  # ... and seeds 1 and 2 the same way
    python benchmarks/evtimova2022/bench_vdl_claim.py --report

(``--dataset`` writes ``benchmarks/evtimova2022/results/vdl_claim_<dataset><tag>.json``
after every fit;
``--report`` writes ``vdl_claim.json``/``.md`` and ``docs/_static/vdl_claim_<dataset>.png``.)
With the defaults (2,000 / 1,000 images, 6 epochs, 3 seeds) a dataset takes about
15 minutes of one core per seed: SDL-NL (FISTA through the 1024-unit decoder,
150-340 s a fit) and MiniBatchDictionaryLearning's ``lars`` fits (40-330 s) are
most of it; SDL, VDL and VDL-NL take 5-20 s a fit. ``--models`` and
``--sk-alphas`` (empty: none) restrict a run; ``--tag`` names its partial file, and
``--report`` merges every ``vdl_claim_<dataset>*.json`` (first file wins on a
repeated model, point and seed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from skdeepsparse import registry
from skdeepsparse.datasets import load_fashion_mnist, load_mnist
from skdeepsparse.metrics import code_sparsity, psnr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import (  # noqa: E402
    DATA_HOME,
    DEVICE,
    RESULTS,
    STATIC,
    add_common_options,
    hardware,
    provenance,
    write_results,
)

NAME = "VarianceRegDictionaryLearner"
MODELS = {  # label -> registry preset (the MNIST rows; Fashion-MNIST has no row of its own)
    "SDL": "paper_mnist_sdl",
    "VDL": "paper_mnist_vdl",
    "SDL-NL": "paper_mnist_sdl_nl",
    "VDL-NL": "paper_mnist_vdl_nl",
}
LOADERS = {"mnist": load_mnist, "fashion": load_fashion_mnist}
TITLES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}


def _partial(dataset, tag=""):
    return RESULTS / f"vdl_claim_{dataset}{tag}.json"


def _load_partials(dataset):
    """The rows of every ``vdl_claim_<dataset>*.json``, one per (model, point, seed)."""
    parts = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"vdl_claim_{dataset}*.json"))]
    if not parts:
        return None
    seen, rows = set(), []
    for part in parts:
        for r in part["rows"]:
            key = (r["model"], r.get("mult"), r.get("alpha"), r["seed"])
            if key not in seen:
                seen.add(key)
                rows.append(r)
    return {**parts[0], "rows": rows, "runs": [p["args"] for p in parts]}


def run(args):
    load = LOADERS[args.dataset]
    X = load("train", data_home=DATA_HOME, n_samples=args.n_train).data
    Xt = load("test", data_home=DATA_HOME, n_samples=args.n_test).data
    out = {"args": vars(args), "hardware": hardware(),
           "mean_image_psnr_db": psnr(Xt, np.tile(X.mean(0), (len(Xt), 1))), "rows": []}

    def record(row):
        out["rows"].append(row)
        _partial(args.dataset, args.tag).write_text(
            json.dumps({**out, "provenance": provenance()}, indent=2))
        print(json.dumps(row), flush=True)

    from sklearn.decomposition import MiniBatchDictionaryLearning

    for seed in args.seeds:
        for label, preset in MODELS.items():
            if label not in args.models:
                continue
            lam0 = registry.presets(NAME)[preset]["sparsity_reg"]
            for mult in args.mults:
                t0 = time.perf_counter()
                est = registry.make(
                    NAME, preset, sparsity_reg=lam0 * mult, max_epochs=args.epochs,
                    validation_fraction=0.0, device=DEVICE, random_state=seed,
                ).fit(X)
                fit_s = time.perf_counter() - t0
                Z = est.transform(Xt)
                h = est.history_
                record({
                    "model": label, "preset": preset, "mult": mult, "sparsity_reg": lam0 * mult,
                    "seed": seed, "psnr_db": psnr(Xt, est.inverse_transform(Z)),
                    "pct_zeros": 100 * code_sparsity(Z), "fit_s": fit_s,
                    "train_recon_first": h[0]["recon"], "train_recon_last": h[-1]["recon"],
                    "train_zeros_last": 100 * h[-1]["zeros"],
                    "inference_iter_last": h[-1]["inference_iter"],
                })
        for alpha in args.sk_alphas:
            t0 = time.perf_counter()
            mbdl = MiniBatchDictionaryLearning(
                n_components=128, alpha=alpha, max_iter=args.epochs, batch_size=256,
                transform_algorithm="lasso_lars", transform_alpha=alpha, random_state=seed,
            ).fit(X)
            fit_s = time.perf_counter() - t0
            Z = mbdl.transform(Xt)
            record({"model": "MiniBatchDictionaryLearning", "alpha": alpha, "seed": seed,
                    "psnr_db": psnr(Xt, mbdl.inverse_transform(Z)),
                    "pct_zeros": 100 * code_sparsity(Z), "fit_s": fit_s})


def _curves(rows):
    """model -> list of (sweep value, zeros mean, zeros std, psnr mean, psnr std, n seeds)."""
    curves = {}
    for model in [*MODELS, "MiniBatchDictionaryLearning"]:
        key = "alpha" if model == "MiniBatchDictionaryLearning" else "mult"
        pts = []
        for v in sorted({r[key] for r in rows if r["model"] == model}):
            sel = [r for r in rows if r["model"] == model and r[key] == v]
            z = np.array([r["pct_zeros"] for r in sel])
            p = np.array([r["psnr_db"] for r in sel])
            pts.append((v, z.mean(), z.std(), p.mean(), p.std(), len(sel)))
        if pts:
            curves[model] = pts
    return curves


def _interp(rows, model, zeros):
    """PSNR of ``model``'s curve (one seed's rows) at ``zeros``; NaN outside its range."""
    pts = sorted((r["pct_zeros"], r["psnr_db"]) for r in rows if r["model"] == model)
    if len(pts) < 2 or not pts[0][0] <= zeros <= pts[-1][0]:
        return float("nan")
    return float(np.interp(zeros, [p[0] for p in pts], [p[1] for p in pts]))


COMPARE = (("VDL-NL", ("SDL", "VDL")), ("VDL-NL", ("VDL",)), ("VDL-NL", ("SDL",)),
           ("SDL-NL", ("SDL", "VDL")), ("SDL-NL", ("SDL",)),
           ("VDL-NL", ("MiniBatchDictionaryLearning",)))


def _verdict(rows):
    """Per NL point: its PSNR minus the best of the other curves at its own % zeros."""
    out = []
    for model, others in COMPARE:
        for mult in sorted({r["mult"] for r in rows if r["model"] == model}):
            gaps = []
            for seed in sorted({r["seed"] for r in rows}):
                srows = [r for r in rows if r["seed"] == seed]
                nl = [r for r in srows if r["model"] == model and r["mult"] == mult]
                if not nl:
                    continue
                z, p = nl[0]["pct_zeros"], nl[0]["psnr_db"]
                with np.errstate(all="ignore"):
                    ref = [_interp(srows, m, z) for m in others]
                    # NaN unless every reference curve covers this sparsity
                    best = np.nan if np.any(np.isnan(ref)) else max(ref)
                gaps.append(p - best)
            out.append({"model": model, "mult": mult, "versus": list(others), "gaps_db": gaps})
    return out


def _fmt_gap(g):
    g = np.asarray(g, float)
    g = g[~np.isnan(g)]
    return "out of range" if not len(g) else f"{g.mean():+.2f} ± {g.std():.2f} (n={len(g)})"


def report(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    payload, lines = {"hardware": hardware(), "datasets": {}}, []
    for dataset in LOADERS:
        part = _load_partials(dataset)
        if part is None:
            continue
        a, rows = part["args"], part["rows"]
        curves, verdict = _curves(rows), _verdict(rows)
        payload["datasets"][dataset] = {**part, "curves": curves, "verdict": verdict}
        lines += [
            f"## {TITLES[dataset]}", "",
            f"{a['n_train']} train / {a['n_test']} test images, {a['epochs']} epochs "
            f"(batch 250, so {a['epochs'] * -(-a['n_train'] // 250)} decoder steps; the paper: "
            "200 epochs on 55,000 images, 44,000 steps), seeds "
            f"{sorted({r['seed'] for r in rows})}; mean-image PSNR "
            f"{part['mean_image_psnr_db']:.2f} dB. Mean ± std over seeds.", "",
            "| model | lambda (x paper) / alpha | % zeros | PSNR (dB) | seeds | fit (s) |",
            "|---|---|---|---|---|---|",
        ]
        for model, pts in curves.items():
            key = "alpha" if model == "MiniBatchDictionaryLearning" else "mult"
            for v, zm, zs, pm, ps, n in pts:
                fit = np.mean([r["fit_s"] for r in rows if r["model"] == model and r[key] == v])
                lam = "" if key == "alpha" else \
                    f"{registry.presets(NAME)[MODELS[model]]['sparsity_reg'] * v:g} "
                lines.append(f"| {model} | {lam}({'x' if key == 'mult' else 'alpha '}{v:g}) | "
                             f"{zm:.1f} ± {zs:.1f} | {pm:.2f} ± {ps:.2f} | {n} | {fit:.1f} |")
        lines += ["", "At matched sparsity: an -NL point's PSNR minus the best of the other "
                  "curves, interpolated at its own % zeros, seed by seed (dB, mean ± std; "
                  "'out of range': its sparsity lies outside one of the other curves):", "",
                  "| model | lambda (x paper) | versus | PSNR gap (dB) |", "|---|---|---|---|"]
        for v in verdict:
            lines.append(f"| {v['model']} | x{v['mult']:g} | {' / '.join(v['versus'])} | "
                         f"{_fmt_gap(v['gaps_db'])} |")
        zmax = {m: max(p[1] for p in pts) for m, pts in curves.items()}
        lines += ["", "Highest mean % zeros reached by the sweep: " + ", ".join(
            f"{m} {z:.1f}" for m, z in zmax.items()) + ".", ""]

        fig, ax = plt.subplots(figsize=(6, 4.2))
        styles = {"SDL": "s--", "VDL": "o--", "SDL-NL": "s-", "VDL-NL": "o-",
                  "MiniBatchDictionaryLearning": "^:"}
        for model, pts in curves.items():
            arr = np.array([p[1:5] for p in pts])
            ax.errorbar(arr[:, 0], arr[:, 2], xerr=arr[:, 1], yerr=arr[:, 3], fmt=styles[model],
                        capsize=2, label=model)
        ax.axhline(part["mean_image_psnr_db"], color="grey", lw=0.8, ls=":", label="mean image")
        ax.set_xlabel("% zeros in the codes (test)")
        ax.set_ylabel("PSNR (dB, test)")
        ns = sorted({p[5] for pts in curves.values() for p in pts})
        ax.set_title(f"{TITLES[dataset]}: {a['n_train']} images, {a['epochs']} epochs, "
                     f"{'-'.join(map(str, {ns[0], ns[-1]}))} seeds a point", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        STATIC.mkdir(parents=True, exist_ok=True)
        fig.savefig(STATIC / f"vdl_claim_{dataset}.png", dpi=110)
        plt.close(fig)
    lines += ["Commands (each `OMP_NUM_THREADS=1`, the datasets in parallel, then "
              "`python benchmarks/evtimova2022/bench_vdl_claim.py --report`):", ""]
    for part in payload["datasets"].values():
        for a in part["runs"]:
            cmd = (f"python benchmarks/evtimova2022/bench_vdl_claim.py --dataset {a['dataset']} "
                   f"--n-train {a['n_train']} --n-test {a['n_test']} --epochs {a['epochs']} "
                   f"--seeds {' '.join(map(str, a['seeds']))} --models {' '.join(a['models'])} "
                   f"--sk-alphas {' '.join(f'{x:g}' for x in a['sk_alphas'])}"
                   + (f" --tag {a['tag']}" if a.get("tag") else ""))
            lines.append(f"- `{cmd}`")
    if args is not None and getattr(args, "note", ""):
        lines += ["", args.note]
    write_results("vdl_claim", payload, "\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(LOADERS))
    add_common_options(ap, report=True, n_train=2000, n_test=1000, epochs=6, seeds=[0, 1, 2])
    ap.add_argument("--mults", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    ap.add_argument("--sk-alphas", type=float, nargs="*", default=[0.2, 0.5, 1.0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--tag", default="", help="suffix of the partial result file")
    ap.add_argument("--note", default="", help="a sentence added to the report")
    args = ap.parse_args()
    if args.dataset:
        run(args)
    if args.report or not args.dataset:
        if not args.dataset and not args.report:
            for d in LOADERS:
                run(argparse.Namespace(**{**vars(args), "dataset": d}))
        report(args)


if __name__ == "__main__":
    main()
