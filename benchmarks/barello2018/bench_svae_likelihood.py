"""Held-out log-likelihood of the SVAE against a Sparsenet-style MAP baseline.

Barello et al. (2018) / Geadah et al. (2024) report that the SVAE reaches a
higher test log-likelihood than Olshausen & Field's MAP-trained "Sparsenet".
Here every model is the same linear generative model on whitened 12x12 patches
(K = 169, the patches and split of ``bench_svae_unit_norm.py``), and log p(x)
of every model is estimated the same way: the importance-weighted bound
(IWAE, ``SVAETransformer.log_likelihood``) with S samples from a trained
recognition model as proposal, in nats per patch.

Models (library defaults otherwise, so prior and noise scales are the "auto"
ones: Laplace scale 0.1, sigma e^-2 at pixel variance 0.1):

* SVAE, Laplace and Cauchy prior, unit-norm (default) and free decoder: taken
  from ``benchmarks/barello2018/results/svae_unit_norm_ll.npz`` (run
  ``bench_svae_unit_norm.py`` first; same test patches, same S).
* Gaussian-prior VAE (free decoder; a probabilistic-PCA-like model): IWAE,
  and its exact log p(x) = log N(x; 0, s^2 Phi Phi^T + sigma^2 I) as a check
  of the estimator at full size.
* Sparsenet: the dictionary learned by MAP inference (FISTA on
  ``0.5 ||x - Phi z||^2 + (sigma^2 / b) ||z||_1``, the MAP code under the same
  Laplace(0, b) prior and noise sigma) alternated with Adam steps on Phi and
  unit-norm renormalisation of its columns, as in Sparsenet. Its likelihood
  under the Laplace(0, b) / sigma model is then estimated exactly like the
  SVAE's: an SVAE recognition model is trained by maximising the ELBO with the
  decoder frozen at the Sparsenet dictionary, and used as IWAE proposal. (A
  Laplace approximation around the MAP code is not used: the Laplace prior is
  not differentiable at the zeros of the MAP code and the Hessian
  ``Phi^T Phi / sigma^2`` of an overcomplete dictionary is singular.)

Error bars: the standard error over test patches of each model's paired
difference from Sparsenet (same patches, same seed), and the spread over seeds.

    OMP_NUM_THREADS=1 python benchmarks/barello2018/bench_svae_likelihood.py --jobs 3
    python benchmarks/barello2018/bench_svae_likelihood.py --table-only   # rebuild the table
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DEVICE, REDIRECTED, RESULTS, add_common_options, hardware, write_results  # noqa: E402
from bench_svae_unit_norm import load_patches  # noqa: E402

# Results of another script this one reads: (results file, the script that writes it).
INPUTS = (("svae_unit_norm_ll.npz", "bench_svae_unit_norm.py"),)


def auto_scales(X):
    """The SVAE's "auto" prior scale and noise std for the data ``X``, as numbers
    (to give a model built on other data, or on a few rows, the same scales)."""
    scale_x = float(np.std(X, dtype=np.float64))
    return math.sqrt(0.1) * scale_x, math.exp(-2.0) / math.sqrt(0.1) * scale_x


def learn_sparsenet(X, n_components, lam, seed, n_steps, batch=100, n_fista=100, lr=1e-2):
    """Sparsenet-style dictionary learning: FISTA MAP codes, Adam on Phi, unit norm."""
    import torch

    g = torch.Generator().manual_seed(seed)
    Xt = torch.as_tensor(X, dtype=torch.float64)
    D = X.shape[1]
    phi = torch.randn(D, n_components, generator=g, dtype=torch.float64)
    phi /= phi.norm(dim=0, keepdim=True)
    phi.requires_grad_(True)
    opt = torch.optim.Adam([phi], lr=lr)
    rng = np.random.RandomState(seed)

    def fista(x, P):
        L = float(torch.linalg.matrix_norm(P, 2)) ** 2
        z = y = torch.zeros(x.shape[0], n_components, dtype=x.dtype)
        t = 1.0
        for _ in range(n_fista):
            grad = (y @ P.T - x) @ P
            z_new = y - grad / L
            z_new = torch.sign(z_new) * torch.clamp(z_new.abs() - lam / L, min=0)
            t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
            y = z_new + ((t - 1) / t_new) * (z_new - z)
            z, t = z_new, t_new
        return z

    for _ in range(n_steps):
        x = Xt[rng.randint(0, len(X), batch)]
        with torch.no_grad():
            z = fista(x, phi.detach())
        loss = 0.5 * ((x - z @ phi.T) ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            phi /= phi.norm(dim=0, keepdim=True)
    return phi.detach().numpy()


def run_seed(task):
    import torch

    torch.set_num_threads(1)
    from skdeepsparse.svae import SVAETransformer

    seed, args = task
    X, X_test, _ = load_patches(args.patches_train, args.patches_test, args.pixel_std)
    S = args.n_importance
    out = {}
    # Gaussian-prior VAE, free decoder
    t0 = time.perf_counter()
    g = SVAETransformer(prior="gaussian", decoder_norm=None, max_epochs=args.epochs,
                        validation_fraction=0.0, device=DEVICE, random_state=seed).fit(X)
    Phi = g.components_.T.astype(np.float64)
    cov = g.prior_scale_**2 * Phi @ Phi.T + g.likelihood_std_**2 * np.eye(Phi.shape[0])
    from scipy.stats import multivariate_normal

    exact = multivariate_normal(mean=np.zeros(Phi.shape[0]), cov=cov).logpdf(X_test)
    out["gaussian_free"] = g.log_likelihood(X_test, n_importance=S, random_state=seed)
    out["gaussian_free_exact"] = exact
    out["gaussian_free_elbo"] = g.score_samples(X_test).astype(np.float64)
    t_gauss = time.perf_counter() - t0
    # Sparsenet dictionary, then a recognition model for it (decoder frozen)
    t0 = time.perf_counter()
    b, sigma = auto_scales(X)
    enc = SVAETransformer(prior="laplace", prior_scale=b, likelihood_std=sigma, warm_start=True,
                          validation_fraction=0.0, device=DEVICE, random_state=seed)
    enc.partial_fit(X[:64])  # builds the model; the dictionary is replaced below
    lam = sigma**2 / b
    phi = learn_sparsenet(X, 169, lam, seed, args.sparsenet_steps, n_fista=args.fista_iter)
    t_dict = time.perf_counter() - t0
    import torch as _t

    with _t.no_grad():
        enc.module_.dictionary.copy_(_t.as_tensor(phi, dtype=enc.module_.dictionary.dtype))
    enc.module_.dictionary.requires_grad_(False)
    enc.set_params(max_epochs=args.epochs).fit(X)
    assert np.allclose(enc.components_.T, phi, atol=1e-5)  # the dictionary stayed frozen
    out["sparsenet"] = enc.log_likelihood(X_test, n_importance=S, random_state=seed)
    out["sparsenet_elbo"] = enc.score_samples(X_test).astype(np.float64)
    codes = enc.transform(X_test)
    info = {"seed": seed, "gaussian_fit_s": round(t_gauss, 1), "sparsenet_dict_s":
            round(t_dict, 1), "sparsenet_total_s": round(time.perf_counter() - t0, 1),
            "lambda": lam, "prior_scale": b, "sigma": sigma,
            "sparsenet_rel_mse_posterior_mean": float(
                ((X_test - codes @ phi.T) ** 2).mean() / X_test.var())}
    print(info, flush=True)
    return seed, out, info


def table(args, info):
    own = np.load(RESULTS / f"svae_likelihood_ll{args.tag}.npz")
    svae_path = RESULTS / f"svae_unit_norm_ll{args.tag}.npz"
    svae = np.load(svae_path) if svae_path.exists() else {}
    seeds = sorted({int(k.rsplit("seed", 1)[1]) for k in own.files})
    models = [("SVAE laplace, unit norm (default)", "laplace_unit"),
              ("SVAE laplace, free decoder", "laplace_free"),
              ("SVAE cauchy, unit norm", "cauchy_unit"),
              ("SVAE cauchy, free decoder", "cauchy_free"),
              ("Gaussian-prior VAE (free decoder)", "gaussian_free"),
              ("Gaussian-prior VAE: exact log p(x)", "gaussian_free_exact"),
              ("Sparsenet (MAP-learned dictionary)", "sparsenet")]
    lines = ["| model | test log p(x), nats/patch (mean over seeds ± sd) | "
             "difference from Sparsenet (± SE over patches, per seed) | ELBO |",
             "|---|---|---|---|"]
    for label, key in models:
        vals, diffs, elbos = [], [], []
        for s in seeds:
            src = own if f"{key}_seed{s}" in own.files else svae
            name = f"{key}_seed{s}"
            if name not in getattr(src, "files", []):
                continue
            v = src[name]
            ref = own[f"sparsenet_seed{s}"]
            vals.append(v.mean())
            d = v - ref
            diffs.append(f"{d.mean():+.1f} ± {d.std() / math.sqrt(len(d)):.1f}")
            if f"{key}_elbo_seed{s}" in own.files:
                elbos.append(own[f"{key}_elbo_seed{s}"].mean())
        if not vals:
            continue
        v = np.array(vals)
        lines.append(f"| {label} | {v.mean():.1f} ± {v.std():.1f} | {'; '.join(diffs)} | "
                     + (f"{np.mean(elbos):.1f}" if elbos else "—" if "exact" in key
                        else "svae_unit_norm.md") + " |")
    cmd = ("OMP_NUM_THREADS=1 python benchmarks/barello2018/bench_svae_likelihood.py "
           + " ".join(sys.argv[1:])).strip()
    old_json = RESULTS / f"svae_likelihood{args.tag}.json"
    if args.table_only and old_json.exists():  # keep the fitting run's command and info
        import json

        old = json.loads(old_json.read_text())
        cmd, info = old["command"], old["info"]
    md = ("## Held-out log-likelihood (IWAE), SVAE vs Sparsenet\n\n" + "\n".join(lines)
          + f"\n\n{args.patches_test} test patches (12x12, whitened, pixel std "
          f"{args.pixel_std:.3f}), {args.epochs} epochs of {args.patches_train} patches, "
          f"IWAE S={args.n_importance}, seeds {seeds}. Sparsenet: "
          f"{args.sparsenet_steps} dictionary steps (batch 100, {args.fista_iter} FISTA "
          "iterations), "
          "then a recognition model trained with the dictionary frozen. Higher is better. "
          f"Command: `{cmd}`")
    payload = {"command": cmd, "args": vars(args), "hardware": hardware(), "info": info,
               "table": lines}
    write_results("svae_likelihood" + args.tag, payload, md)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches-train", type=int, default=20000)
    ap.add_argument("--patches-test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=None,
                    help="default: the estimator's max_epochs, as in bench_svae_unit_norm.py "
                    "(whose SVAE rows it reads)")
    ap.add_argument("--pixel-std", type=float, default=0.1**0.5)
    add_common_options(ap, seeds=[0, 1, 2], jobs=1, tag="")
    ap.add_argument("--n-importance", type=int, default=1000)
    ap.add_argument("--sparsenet-steps", type=int, default=800)
    ap.add_argument("--fista-iter", type=int, default=60)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    from skdeepsparse.svae import SVAETransformer

    args.epochs = args.epochs or SVAETransformer().max_epochs
    if args.quick:
        args.patches_train, args.patches_test, args.epochs = 2000, 200, 1
        args.seeds, args.n_importance, args.sparsenet_steps = [0], 20, 20
        if not REDIRECTED:  # keep the committed results; a redirected run needs no tag
            args.tag = args.tag or "_quick"
    info = []
    if not args.table_only:
        tasks = [(s, args) for s in args.seeds]
        if args.jobs > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(args.jobs) as pool:
                results = list(pool.map(run_seed, tasks))
        else:
            results = [run_seed(t) for t in tasks]
        arrays = {}
        for seed, out, inf in results:
            info.append(inf)
            for k, v in out.items():
                if k.endswith("_elbo"):
                    arrays[f"{k[:-5]}_elbo_seed{seed}"] = v
                else:
                    arrays[f"{k}_seed{seed}"] = v
        np.savez_compressed(RESULTS / f"svae_likelihood_ll{args.tag}.npz", **arrays)
    table(args, info)


if __name__ == "__main__":
    main()
