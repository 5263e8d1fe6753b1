"""How tight are the SVAE's log-likelihood estimates? AIS against IWAE, by steps.

``SVAETransformer.log_likelihood`` offers the importance-weighted bound (IWAE,
the recognition model as proposal) and annealed importance sampling (AIS, no
encoder: chains from the prior to the posterior). Both are stochastic lower
bounds of ``log p(x)``; this script measures how far below the truth they are
on the whitened 12x12 patches of ``bench_svae_unit_norm.py``:

- a Gaussian-prior VAE (free decoder), whose exact ``log p(x)`` is a Gaussian
  density, so the gap of each estimate is known;
- the SVAE with the Laplace prior, unit-norm (default) and free decoder, and a
  Sparsenet dictionary (learned by MAP codes, as in ``bench_svae_likelihood.py``)
  in the same Laplace model: no exact value exists, and AIS rises towards
  ``log p(x)`` as it gets more steps. (AIS needs no recognition model, so
  Sparsenet is estimated without one; IWAE needs one and is not run for it.)

One seed, ``--patches-train`` training patches, ``--epochs`` epochs, the first
``--patches-test`` test patches, ``--chains`` AIS chains per patch, one thread.

    # the convergence study (one seed, short training; ~8 min on 2 cores):
    OMP_NUM_THREADS=1 python benchmarks/barello2018/bench_svae_ais.py --jobs 2
    # bench_svae_likelihood.py's training budget, 3 seeds, 300 test patches
    # (~30 min on 2 cores):
    OMP_NUM_THREADS=1 python benchmarks/barello2018/bench_svae_ais.py --patches-train 20000 \
        --patches-test 300 --epochs 6 --steps 300 1000 --seeds 0 1 2 --jobs 2 \
        --name svae_ais_seeds
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DEVICE, add_common_options, hardware, write_results  # noqa: E402
from bench_svae_likelihood import auto_scales, learn_sparsenet  # noqa: E402
from bench_svae_unit_norm import load_patches  # noqa: E402

MODELS = {
    "Gaussian-prior VAE, free decoder": dict(prior="gaussian", decoder_norm=None),
    "SVAE laplace, unit norm (default)": dict(prior="laplace"),
    "SVAE laplace, free decoder": dict(prior="laplace", decoder_norm=None),
    "Sparsenet (MAP-learned dictionary)": None,
}


def run_model(task):
    """Fit one model, then its IWAE (SVAEs only) and AIS estimates at every step count."""
    label, seed, args = task
    torch.set_num_threads(1)
    from scipy.stats import multivariate_normal

    from skdeepsparse.svae import SVAETransformer

    X, X_test, _ = load_patches(args.patches_train, args.patches_test, 0.1**0.5)
    kw = MODELS[label]
    if kw is None:
        # Sparsenet's dictionary (MAP codes, Adam, unit norm; the same number of
        # patch visits as the SVAEs' epochs) in the SVAE's Laplace/Gaussian model at
        # the "auto" scales, which AIS needs no recognition model for.
        b, sigma = auto_scales(X)
        est = SVAETransformer(prior="laplace", prior_scale=b, likelihood_std=sigma,
                              device=DEVICE, random_state=seed)
        est.partial_fit(X[:64])  # builds the model; the dictionary is replaced
        batch = args.sparsenet_batch
        phi = learn_sparsenet(X, est.n_components, sigma**2 / b, seed,
                              args.epochs * args.patches_train // batch, batch=batch,
                              n_fista=60, lr=args.sparsenet_lr)
        with torch.no_grad():
            est.module_.dictionary.copy_(torch.as_tensor(phi))
    else:
        est = SVAETransformer(max_epochs=args.epochs, validation_fraction=0.0, device=DEVICE,
                              random_state=seed, **kw).fit(X)
    exact = None
    if kw is not None and kw["prior"] == "gaussian":
        Phi = est.components_.T.astype(np.float64)
        cov = est.prior_scale_**2 * Phi @ Phi.T + est.likelihood_std_**2 * np.eye(Phi.shape[0])
        exact = float(multivariate_normal(mean=est.intercept_.astype(np.float64),
                                          cov=cov).logpdf(X_test).mean())
    rows = []
    estimates = [("iwae", args.n_importance, 1)] if kw is not None else []
    estimates += [("ais", args.chains, steps) for steps in args.steps]
    for method, n, steps in estimates:
        t0 = time.perf_counter()
        ll = est.log_likelihood(X_test, n_importance=n, method=method, n_steps=steps,
                                random_state=seed)
        name = f"IWAE, S={n}" if method == "iwae" else f"AIS, {steps} steps"
        rows.append({"model": label, "seed": seed, "estimate": name,
                     "log_px": float(ll.mean()), "per_patch": ll.tolist(), "exact": exact,
                     "s": time.perf_counter() - t0})
        print({k: v for k, v in rows[-1].items() if k != "per_patch"}, flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches-train", type=int, default=5000)
    ap.add_argument("--patches-test", type=int, default=100)
    add_common_options(ap, epochs=2, seeds=[0], jobs=1)
    ap.add_argument("--chains", type=int, default=16)
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 300, 1000, 3000])
    ap.add_argument("--n-importance", type=int, default=1000)
    ap.add_argument("--name", default="svae_ais", help="results file name")
    # Sparsenet's optimiser: the committed runs use Adam at 1e-2 on batches of 100;
    # --sparsenet-lr 1e-3 --sparsenet-batch 32 matches the SVAEs' Adam rate and batch
    # (the same patch visits either way).
    ap.add_argument("--sparsenet-lr", type=float, default=1e-2,
                    help="Adam learning rate of Sparsenet's dictionary (default: 1e-2)")
    ap.add_argument("--sparsenet-batch", type=int, default=100,
                    help="Sparsenet's batch size (default: 100)")
    args = ap.parse_args()
    tasks = [(label, seed, args) for seed in args.seeds for label in MODELS]
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            rows = [r for part in pool.map(run_model, tasks) for r in part]
    else:
        rows = [r for t in tasks for r in run_model(t)]
    hw = hardware()
    write_results(args.name, {"args": vars(args), "hardware": hw, "rows": rows},
                  report(rows, vars(args), hw))


def report(rows, args, hw):
    seeds = args["seeds"]
    lines = [
        f"Whitened 12x12 patches (pixel std 0.316): {args['patches_train']} training, the "
        f"first {args['patches_test']} test patches; {args['epochs']} epochs (Sparsenet: "
        f"the same number of patch visits, Adam at {args.get('sparsenet_lr', 1e-2):g}, "
        f"batch {args.get('sparsenet_batch', 100)}, 60 FISTA iterations), seeds "
        f"{seeds}; AIS with {args['chains']} chains per patch; one thread per model, "
        f"{hw['cpu']}. Every model is the same linear Gaussian model at the 'auto' scales "
        "(prior 0.1, sigma 0.135); higher is better.",
        "",
        "| model | estimate | mean log p(x), nats/patch (mean ± sd over seeds) | "
        "below the exact value | difference from Sparsenet, same estimate (per seed, "
        "± SE over patches) | seconds |",
        "|---|---|---|---|---|---|",
    ]
    by = {(r["model"], r["estimate"], r["seed"]): r for r in rows}
    for model in dict.fromkeys(r["model"] for r in rows):
        for est in dict.fromkeys(r["estimate"] for r in rows if r["model"] == model):
            rs = [by[(model, est, s)] for s in seeds]
            v = np.array([r["log_px"] for r in rs])
            exact = rs[0]["exact"]
            gap = "-" if exact is None else "; ".join(
                f"{r['exact'] - r['log_px']:.2f}" for r in rs)
            diffs = []
            for r in rs:
                ref = by.get(("Sparsenet (MAP-learned dictionary)", est, r["seed"]))
                if ref is None or model.startswith("Sparsenet"):
                    continue
                d = np.array(r["per_patch"]) - np.array(ref["per_patch"])
                diffs.append(f"{d.mean():+.1f} ± {d.std() / np.sqrt(len(d)):.1f}")
            lines.append(
                f"| {model} | {est} | {v.mean():.2f} ± {v.std():.2f} | {gap} | "
                f"{'; '.join(diffs) or '-'} | {np.median([r['s'] for r in rs]):.0f} |")
    exact = [r["exact"] for r in rows if r["exact"] is not None]
    cmd = "OMP_NUM_THREADS=1 python benchmarks/barello2018/bench_svae_ais.py"
    for k in ("patches_train", "patches_test", "epochs", "chains", "steps", "seeds", "jobs",
              "name", "sparsenet_lr", "sparsenet_batch"):
        v = args.get(k)
        if v is None:
            continue
        cmd += f" --{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
    lines += ["", f"Exact log p(x) of the Gaussian-prior VAE: {np.mean(exact):.2f} nats/patch "
              "(mean over seeds).", "", f"Command: `{cmd}`"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
