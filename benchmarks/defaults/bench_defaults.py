"""What the constructor defaults give, at the default budget, on data nobody tuned on.

Issue #32: a user writes ``ThresholdedVAE()`` on their own data. Each estimator is
built with its constructor defaults (only ``random_state`` and ``device="cpu"``
set; ``--n-components`` sets the size where asked) and fitted on:

* ``mnist``: the first ``--n-train`` (10,000) MNIST training images, scored on the
  first ``--n-test`` (10,000) test images;
* ``fashion_mnist``: the same for Fashion-MNIST;
* ``patches``: ``--n-patches`` 12x12 patches of scikit-learn's two sample
  photographs (``load_sample_images``: china, flower; never used in development),
  each whitened whole (``f exp(-(f/f0)^4)``, f0 = 0.4) and globally normalised to
  unit pixel std by :func:`skdeepsparse.datasets.load_natural_image_patches`
  (``source="sklearn"``); test patches are a separate draw.

Measured for every (model, data set): fit CPU time (one thread) and epochs; % exact
zeros of ``transform``; active latents and the share of the variance around the
mean row explained by ``inverse_transform(transform(X))`` (from
:func:`skdeepsparse._diagnostics.collapse_report`, the check that warns after a
collapsed fit); the reconstruction gain over the mean image,
``10 log10(MSE(mean image) / MSE(reconstruction))`` dB (PSNR for the images); the
low-data probe (:func:`skdeepsparse.evaluation.linear_probe`, 1/5/10 labels per
class, 5 draws) against raw pixels. Per model, the issue's checks:

* ThresholdedVAE: ``1 - mean P(z != 0)`` under the model's own posterior next to
  the % zeros of the default transform (``transform_mode="expected_support"``), and
  the soft threshold ``T_lambda(mu)`` (``"soft_threshold"``, the earlier default)
  beside it; the criteria summarised over seeds (the probe against pixels paired
  over seeds, the rule of ``benchmarks/_verdict.py``); transform CPU time against
  scikit-learn's ``lasso_lars``
  (MiniBatchDictionaryLearning, 128 atoms, alpha 1, 10 epochs, as the suite's);
  the reconstruction gain after 5 epochs too (``--short-epochs``).
* SpikeSlabGenerator: % of codes exact zeros or below the spike/slab crossover
  of the transform prior, and what zeroing them costs in dB; transform time
  against ``lasso_lars``.
* SVAETransformer (patches): active latents by the KL rule (mean KL > 0.1 nats)
  and by the variance rule (variance of the posterior means > 0.01) with the
  default unit-norm decoder and with the free one (``decoder_norm=None``),
  and the Gabor-like share of the filters (:func:`skdeepsparse.metrics.gabor_like_fraction`).
* VarianceRegDictionaryLearner: the default (linear) against VDL-NL
  (``decoder="mlp"``), reconstruction at their % zeros.

``EXPECTED_DEFAULTS`` lists the defaults this benchmark was run for; a parameter
whose constructor default differs (e.g. the script run on an older checkout) is
passed explicitly and listed under ``overridden`` in the JSON, so a table never
claims pure defaults it did not use.

Run (one thread; about 25 minutes on a quiet 2-core machine):
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/defaults/bench_defaults.py
    ... --models ThresholdedVAE --datasets mnist      # a part (results are merged)
Writes benchmarks/defaults/results/defaults_<model>.{json,md} and defaults.md.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import skdeepsparse
from skdeepsparse._diagnostics import collapse_report
from skdeepsparse.datasets import load_fashion_mnist, load_mnist
from skdeepsparse.evaluation import linear_probe

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, RESULTS, hardware, write_results  # noqa: E402

MODELS = ("ThresholdedVAE", "SpikeSlabGenerator", "SVAETransformer",
          "VarianceRegDictionaryLearner")
DATASETS = ("mnist", "fashion_mnist", "patches")
LABELS = (1, 5, 10)
COMMAND = "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/defaults/bench_defaults.py"
SLUG = {"ThresholdedVAE": "thresholded_vae", "SpikeSlabGenerator": "spike_slab",
        "SVAETransformer": "svae", "VarianceRegDictionaryLearner": "variance_reg"}

# The defaults chosen in issue #32. Each entry is one parameter: {name: value} for
# each spelling it has had (parameters were being renamed in the same release); the
# spelling the constructor has is used.
EXPECTED_DEFAULTS: dict[str, list[dict]] = {
    "ThresholdedVAE": [
        {"n_components": 128}, {"optimizer": "adam"}, {"learning_rate": 1e-3},
        {"decoder_optimizer": "adam"}, {"decoder_learning_rate": 1e-2},
        {"kl_weight": 3e-3}, {"target_density": 0.2, "target_sparsity": 0.2},
        {"n_mc_samples": 5}, {"n_eval_samples": 5}, {"max_epochs": 20},
        {"transform_mode": "expected_support"}],
    "SpikeSlabGenerator": [
        {"n_components": 128}, {"max_epochs": 20}, {"alpha_warmup_epochs": 3},
        {"alpha_decay": 0.25}, {"learning_rate": 1e-2}, {"decoder_norm": 1.0},
        {"hidden_norm": 3.0}, {"inference_step_size": "auto"}, {"inference_steps": 10},
        {"inference_momentum": 0.8}, {"inference_init": "linear"},
        {"transform_inference_steps": 3}, {"transform_threshold": "spike"}],
    "SVAETransformer": [],
    "VarianceRegDictionaryLearner": [
        {"max_epochs": 20}, {"decoder_learning_rate": 3e-3}, {"learning_rate": 1e-3}],
}
# ThresholdedVAE's MLP encoder when encoder_hidden_sizes=None (a module constant).
EXPECTED_TVAE_MLP = (256, 128)


def _defaults_to_pass(cls) -> tuple[dict, dict]:
    """(kwargs, overridden): expected defaults the constructor does not have yet."""
    sig = inspect.signature(cls).parameters
    kwargs, overridden = {}, {}
    for spellings in EXPECTED_DEFAULTS[cls.__name__]:
        name = next((n for n in spellings if n in sig), None)
        if name is None:
            raise SystemExit(f"{cls.__name__} has none of {sorted(spellings)}: update "
                             "EXPECTED_DEFAULTS to the current names.")
        value, current = spellings[name], sig[name].default
        if current != value:
            kwargs[name] = value
            overridden[name] = {"constructor": repr(current), "used": repr(value)}
    if cls.__name__ == "ThresholdedVAE":
        from skdeepsparse import thresholded_vae

        if tuple(thresholded_vae._DEFAULT_MLP_HIDDEN) != EXPECTED_TVAE_MLP:
            kwargs["encoder_hidden_sizes"] = EXPECTED_TVAE_MLP
            overridden["encoder_hidden_sizes"] = {
                "constructor": f"None = {thresholded_vae._DEFAULT_MLP_HIDDEN}",
                "used": repr(EXPECTED_TVAE_MLP)}
    return kwargs, overridden


def load(name, args):
    """(X_train, y_train, X_test, y_test); y is None for patches."""
    if name == "patches":
        from skdeepsparse.datasets import load_natural_image_patches

        tr = load_natural_image_patches(12, n_patches=args.n_patches, source="sklearn",
                                        random_state=0)
        raw = load_natural_image_patches(12, n_patches=args.n_test_patches, source="sklearn",
                                         random_state=1, normalize=None)
        Xt = ((raw.data - tr.offset) / tr.scale).astype(np.float32)
        return tr.data, None, Xt, None
    loader = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}[name]
    tr = loader("train", data_home=DATA_HOME, n_samples=args.n_train)
    te = loader("test", data_home=DATA_HOME, n_samples=args.n_test)
    return tr.data, tr.target, te.data, te.target


def gain_db(X, X_hat, X_train):
    """Reconstruction gain over the training mean image, in dB."""
    base = float(np.mean((X - X_train.mean(0)) ** 2))
    err = max(float(np.mean((X - X_hat) ** 2)), 1e-12)
    return 10 * np.log10(base / err)


def probe(Z, y, Zt, yt):
    res = linear_probe(Z, y, Zt, yt, n_per_class=LABELS, n_seeds=5, random_state=0)
    return {str(k): {"mean": v["mean"], "std": v["std"], "scores": v["scores"]}
            for k, v in res.items()}


def cpu_time(fn):
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


_LARS: dict = {}
_TARGETS: dict = {}  # data set -> (y_train, y_test)
_QUICK: dict = {}  # --quick: overrides that only check the script


def lasso_lars_cpu(name, X, Xt):
    """CPU seconds of scikit-learn's lasso_lars transform of ``Xt`` (cached per data)."""
    if name not in _LARS:
        from sklearn.decomposition import MiniBatchDictionaryLearning

        dl = MiniBatchDictionaryLearning(n_components=128, alpha=1.0, batch_size=256,
                                         max_iter=10, transform_algorithm="lasso_lars",
                                         transform_alpha=1.0, random_state=0).fit(X)
        Z, c = cpu_time(lambda: dl.transform(Xt))
        _LARS[name] = {"cpu_s": c, "gain_db": gain_db(Xt, Z @ dl.components_, X),
                       "pct_zeros": 100 * float((Z == 0).mean())}
    return _LARS[name]


def data_kwargs(model, name):
    """Settings the data set requires (not tuned): the spike-and-slab generator's
    sigmoid output needs data in [0, 1], which whitened patches are not."""
    if model == "SpikeSlabGenerator" and name == "patches":
        return {"output_activation": "identity"}
    return {}


def fit_one(cls, X, seed, args, **kw):
    base, _ = _defaults_to_pass(cls)
    if args.n_components:
        base["n_components"] = args.n_components
    est = cls(random_state=seed, device="cpu", **{**base, **_QUICK, **kw})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, fit_s = cpu_time(lambda: est.fit(X))
    return est, fit_s, sorted({str(w.message)[:160] for w in caught})


def common_row(est, fit_s, warns, X, Xt, y, yt):
    Zt, tr_s = cpu_time(lambda: est.transform(Xt))
    rep = collapse_report(est, Xt)
    row = {"fit_cpu_s": fit_s, "epochs": int(est.n_iter_), "transform_cpu_s": tr_s,
           "pct_zeros": 100 * float((Zt == 0).mean()), "n_active": rep["n_active"],
           "n_components": rep["n_components"], "explained": rep["explained"],
           "gain_db": gain_db(Xt, est.inverse_transform(Zt), X), "fit_warnings": warns}
    if y is not None:
        row["probe"] = probe(est.transform(X), y, Zt, yt)
    return row, Zt


def extra_thresholded_vae(est, row, name, X, Xt, args, seed):
    # The soft threshold T_lambda(mu) (the default before this transform) beside it.
    kept = est.transform_mode
    est.set_params(transform_mode="soft_threshold")
    Zs = est.transform(Xt)
    row["soft_threshold"] = {"pct_zeros": 100 * float((Zs == 0).mean()),
                             "gain_db": gain_db(Xt, est.inverse_transform(Zs), X)}
    if row.get("probe"):
        y, yt = _TARGETS[name]
        row["soft_threshold"]["probe"] = probe(est.transform(X), y, Zs, yt)
    est.set_params(transform_mode=kept)
    with torch.no_grad():
        Y = est._standardize(torch.from_numpy(np.ascontiguousarray(Xt)))
        _, scale, lam, _ = est._posterior(Y)
        row["posterior_pct_zeros"] = 100 * (1 - float(est._nonzero_prob(scale, lam).mean()))
    if name != "patches":
        lars = lasso_lars_cpu(name, X, Xt)
        row["lasso_lars"] = lars
        row["speedup_vs_lasso_lars"] = lars["cpu_s"] / max(row["transform_cpu_s"], 1e-9)
    short, _, _ = fit_one(type(est), X, seed, args, max_epochs=args.short_epochs)
    row["short_epochs"] = args.short_epochs
    row["short_gain_db"] = gain_db(Xt, short.inverse_transform(short.transform(Xt)), X)


def spike_slab_zeroing(est, row, X, Xt):
    """% of codes zero or below the crossover and what zeroing them costs (dB)."""
    from skdeepsparse.distributions import SpikeSlab

    Zt = est.transform(Xt)
    params = est.get_params()
    thr_name = "transform_threshold"
    kept = params.get(thr_name)
    est.set_params(**{thr_name: None})
    Zc = est.transform(Xt)
    est.set_params(**{thr_name: kept})
    alpha = params.get("transform_alpha") or params["alpha_final"]
    cross = SpikeSlab(alpha, params["spike_std"], params["slab_std"]).crossover
    small = np.abs(Zc) <= cross
    row["crossover"] = cross
    row["pct_small_or_zero"] = 100 * float(small.mean())
    g_cont = gain_db(Xt, est.inverse_transform(Zc), X)
    g_zero = gain_db(Xt, est.inverse_transform(np.where(small, 0, Zc).astype(Zc.dtype)), X)
    row["continuous_gain_db"], row["zeroed_gain_db"] = g_cont, g_zero
    row["zeroing_cost_db"] = g_cont - g_zero
    row["default_codes_zeros_pct"] = 100 * float((Zt == 0).mean())


def extra_spike_slab(est, row, name, X, Xt, args, seed):
    spike_slab_zeroing(est, row, X, Xt)
    if name != "patches":
        lars = lasso_lars_cpu(name, X, Xt)
        row["lasso_lars"] = lars
        row["speedup_vs_lasso_lars"] = lars["cpu_s"] / max(row["transform_cpu_s"], 1e-9)
    if args.long_epochs:  # "more epochs only improve": the same checks after a longer fit
        long, fit_s, _ = fit_one(type(est), X, seed, args, max_epochs=args.long_epochs,
                                 **data_kwargs("SpikeSlabGenerator", name))
        row["long"] = {"epochs": int(long.n_iter_), "fit_cpu_s": fit_s,
                       "gain_db": gain_db(Xt, long.inverse_transform(long.transform(Xt)), X)}
        spike_slab_zeroing(long, row["long"], X, Xt)


def svae_stats(est, Xt):
    from skdeepsparse.metrics import gabor_like_fraction

    kl = est.elbo_terms(Xt)["kl"].mean(0)
    C = est.components_
    side = int(round(np.sqrt(C.shape[1])))
    return {"active_kl": int((kl > 0.1).sum()),
            "active_variance": int((est.transform(Xt).var(0) > 0.01).sum()),
            "gabor_like": gabor_like_fraction(C, (side, side)) if side * side == C.shape[1]
            else None}


def extra_svae(est, row, name, X, Xt, args, seed):
    row.update(svae_stats(est, Xt))
    if name == "patches":
        free_kw = ({"decoder_norm": None} if "decoder_norm" in est.get_params()
                   else {"normalize_decoder": False})  # the older spelling
        free, fit_s, _ = fit_one(type(est), X, seed, args, **free_kw)
        row["free_decoder"] = {"fit_cpu_s": fit_s, **svae_stats(free, Xt)}
        for rule in ("active_kl", "active_variance"):
            row[f"ratio_{rule}"] = row[rule] / max(row["free_decoder"][rule], 1)


def extra_variance_reg(est, row, name, X, Xt, args, seed):
    nl, fit_s, _ = fit_one(type(est), X, seed, args, decoder="mlp")
    Zt = nl.transform(Xt)
    row["vdl_nl"] = {"fit_cpu_s": fit_s, "pct_zeros": 100 * float((Zt == 0).mean()),
                     "gain_db": gain_db(Xt, nl.inverse_transform(Zt), X)}


EXTRA = {"ThresholdedVAE": extra_thresholded_vae, "SpikeSlabGenerator": extra_spike_slab,
         "SVAETransformer": extra_svae, "VarianceRegDictionaryLearner": extra_variance_reg}


def fmt_probe(r, k):
    p = r.get("probe")
    return "—" if p is None else f"{p[str(k)]['mean']:.3f} ± {p[str(k)]['std']:.3f}"


def markdown(model, res):
    lines = [f"## {model}: what the defaults give", "",
             "Constructor defaults (`random_state` as in the seed column, `device='cpu'`), "
             "one thread. "
             "Fit and transform times are process CPU seconds on a shared machine (rerun on a "
             "quiet one for a speed claim). Gain: reconstruction over the mean image, dB. "
             "Probe: `StandardScaler` + `LogisticRegression` on k labelled codes per class, "
             "5 draws.", ""]
    if res["overridden"]:
        lines += ["Passed explicitly (the constructor default differed when this ran): "
                  + ", ".join(f"`{k}={v['used']}`" for k, v in res["overridden"].items()), ""]
    head = ("| data | seed | epochs | fit CPU (s) | % zeros | active | gain (dB) | "
            + " | ".join(f"probe {k}/class" for k in LABELS) + " |")
    lines += [head, "|" + "---|" * (7 + len(LABELS))]
    for name, d in res["datasets"].items():
        if d.get("pixels"):
            lines.append(f"| {name}: raw pixels | | | | | | | " + " | ".join(
                fmt_probe(d["pixels"], k) for k in LABELS) + " |")
        for r in d["runs"]:
            lines.append(
                f"| {name} | {r['seed']} | {r['epochs']} | {r['fit_cpu_s']:.0f} | "
                f"{r['pct_zeros']:.1f} | {r['n_active']} / {r['n_components']} | "
                f"{r['gain_db']:.2f} | " + " | ".join(fmt_probe(r, k) for k in LABELS) + " |")
    lines += ["", "The model's checks (issue #32):", "",
              "| data | seed | checks |", "|---|---|---|"]
    for name, d in res["datasets"].items():
        for r in d["runs"]:
            lines.append(f"| {name} | {r['seed']} | {check_line(model, r)} |")
    if model == "ThresholdedVAE":
        lines += ["", *criteria_thresholded_vae(res)]
    warned = {w for d in res["datasets"].values() for r in d["runs"] for w in r["fit_warnings"]}
    if warned:
        lines += ["", "Warnings during fit: " + "; ".join(sorted(warned))]
    lines += ["", f"Hardware: {res['hardware']}. Last part's wall time {res['wall_min']:.1f} min.",
              "Commands: " + "; ".join(f"{name}: `{cmd}`"
                                       for name, cmd in res["commands"].items())]
    return "\n".join(lines)


def criteria_thresholded_vae(res):
    """Issue #32's criteria, per data set over the seeds (the verdict rule of
    benchmarks/_verdict.py for the probe: paired over seeds, 2 paired SE)."""
    from _verdict import paired

    lines = ["Issue #32's criteria over the seeds (probe: each seed's mean over the 5 label "
             "draws minus raw pixels' on the same draws; holds or tie = at least matches):", "",
             "| data | seeds | zeros vs posterior, largest gap (points; <= 10) | "
             "probe 10/class minus pixels | gain, lowest (dB; >= 3) | "
             "gain after 5 epochs, lowest (dB; >= 3) | transform vs lasso_lars, lowest | "
             "fit CPU, highest (s) | soft threshold `T_lambda(mu)`: % zeros, gain, probe 10 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, d in res["datasets"].items():
        runs = d["runs"]
        gap = max(abs(r["pct_zeros"] - r["posterior_pct_zeros"]) for r in runs)
        probe_txt = "—"
        if d.get("pixels") and "scores" in d["pixels"]["probe"]["10"]:
            pix = np.mean(d["pixels"]["probe"]["10"]["scores"])
            ours = [np.mean(r["probe"]["10"]["scores"]) for r in runs]
            part = paired("probe", ours, [pix] * len(ours), fmt="+.3f")
            probe_txt = f"{part.outcome}: {part.detail}"
        speed = (f"{min(r['speedup_vs_lasso_lars'] for r in runs):.0f}x"
                 if all("speedup_vs_lasso_lars" in r for r in runs) else "—")
        soft = [r["soft_threshold"] for r in runs if "soft_threshold" in r]
        soft_txt = "—" if not soft else (
            f"{np.mean([s['pct_zeros'] for s in soft]):.1f}%, "
            f"{np.mean([s['gain_db'] for s in soft]):.2f} dB, " + (
                f"{np.mean([s['probe']['10']['mean'] for s in soft]):.3f}"
                if "probe" in soft[0] else "—"))
        lines.append(
            f"| {name} | {len(runs)} | {gap:.1f} | {probe_txt} | "
            f"{min(r['gain_db'] for r in runs):.2f} | "
            f"{min(r['short_gain_db'] for r in runs):.2f} | {speed} | "
            f"{max(r['fit_cpu_s'] for r in runs):.0f} | {soft_txt} |")
    return lines


def check_line(model, r):
    parts = []
    if "speedup_vs_lasso_lars" in r:
        parts.append(f"transform {r['speedup_vs_lasso_lars']:.1f}x faster than lasso_lars "
                     f"(CPU; lasso_lars gain {r['lasso_lars']['gain_db']:.2f} dB)")
    if model == "ThresholdedVAE":
        parts.insert(0, f"% zeros {r['pct_zeros']:.1f} vs posterior 1 - mean P(z != 0) "
                        f"{r['posterior_pct_zeros']:.1f}")
        parts.append(f"gain after {r['short_epochs']} epochs {r['short_gain_db']:.2f} dB")
    elif model == "SpikeSlabGenerator":
        parts.insert(0, f"{r['pct_small_or_zero']:.1f}% of codes zero or below the crossover "
                        f"{r['crossover']:.3f}; zeroing them costs {r['zeroing_cost_db']:.2f} dB")
        if "long" in r:
            g = r["long"]
            parts.append(f"after {g['epochs']} epochs ({g['fit_cpu_s']:.0f} s CPU): gain "
                         f"{g['gain_db']:.2f} dB, {g['pct_small_or_zero']:.1f}% zero or below "
                         f"the crossover, zeroing them costs {g['zeroing_cost_db']:.2f} dB")
    elif model == "SVAETransformer":
        parts.append(f"active by KL {r['active_kl']}, by variance {r['active_variance']}")
        if "free_decoder" in r:  # patches: the filters' shape means something
            parts[-1] += f"; Gabor-like {r['gabor_like']:.2f}"
            f = r["free_decoder"]
            parts.append(f"free decoder: active by KL {f['active_kl']}, by variance "
                         f"{f['active_variance']}; Gabor-like {f['gabor_like']:.2f}; unit / free "
                         f"{r['ratio_active_kl']:.2f} (KL), {r['ratio_active_variance']:.2f} "
                         "(variance)")
    elif model == "VarianceRegDictionaryLearner":
        v = r["vdl_nl"]
        parts.append(f"linear {r['gain_db']:.2f} dB at {r['pct_zeros']:.1f}% zeros; VDL-NL "
                     f"{v['gain_db']:.2f} dB at {v['pct_zeros']:.1f}% zeros")
    return "; ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--n-test", type=int, default=10_000)
    ap.add_argument("--n-patches", type=int, default=20_000)
    ap.add_argument("--n-test-patches", type=int, default=5_000)
    ap.add_argument("--n-components", type=int, default=None,
                    help="size (default: the constructor's)")
    ap.add_argument("--short-epochs", type=int, default=5)
    ap.add_argument("--long-epochs", type=int, default=None,
                    help="SpikeSlabGenerator: also fit this many epochs and check again")
    ap.add_argument("--quick", action="store_true",
                    help="checks the script: 2 epochs, 300 images, results not written")
    ap.add_argument("--render", action="store_true",
                    help="rewrite the markdown of --models from their JSON (no fitting)")
    args = ap.parse_args()
    if args.render:
        for model in args.models:
            path = RESULTS / f"defaults_{SLUG[model]}.json"
            if path.exists():
                res = json.loads(path.read_text())
                (RESULTS / f"defaults_{SLUG[model]}.md").write_text(markdown(model, res) + "\n")
        return
    if args.quick:
        args.n_train = args.n_test = args.n_patches = args.n_test_patches = 300
        args.short_epochs = 1
        _QUICK["max_epochs"] = 2
    torch.set_num_threads(1)
    for model in args.models:
        cls = getattr(skdeepsparse, model)
        t0 = time.perf_counter()
        path = RESULTS / f"defaults_{SLUG[model]}.json"
        res = json.loads(path.read_text()) if path.exists() else {"datasets": {}}
        res.pop("provenance", None)
        _, overridden = _defaults_to_pass(cls)
        ran = set()  # data-set keys run by this process
        for name in args.datasets:
            X, y, Xt, yt = load(name, args)
            _TARGETS[name] = (y, yt)
            d = {"n_train": len(X), "n_test": len(Xt), "runs": [],
                 "pixels": {"probe": probe(X, y, Xt, yt)} if y is not None else None}
            for seed in args.seeds:
                est, fit_s, warns = fit_one(cls, X, seed, args, **data_kwargs(model, name))
                row, _ = common_row(est, fit_s, warns, X, Xt, y, yt)
                row["seed"] = seed
                row["data_kwargs"] = data_kwargs(model, name)
                EXTRA[model](est, row, name, X, Xt, args, seed)
                d["runs"].append(row)
                print(model, name, seed, {k: v for k, v in row.items() if k != "probe"},
                      flush=True)
            key = name if name == "patches" or args.n_train == 10_000 else f"{name}_{args.n_train}"
            res["datasets"][key] = d
            ran.add(key)
        # Parts may run side by side: merge with what the file holds now.
        done = json.loads(path.read_text()) if path.exists() else {}
        # (only the parts run here: what this run read at its start may be stale)
        res["datasets"] = {**done.get("datasets", {}),
                           **{k: res["datasets"][k] for k in ran}}
        res["commands"] = {**res.get("commands", {}), **done.get("commands", {})}
        res.update(model=model, overridden=overridden,
                   expected_defaults=[{k: repr(v) for k, v in e.items()}
                                      for e in EXPECTED_DEFAULTS[model]],
                   n_components=args.n_components, hardware=hardware(),
                   wall_min=(time.perf_counter() - t0) / 60,
                   command=COMMAND + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""))
        res.setdefault("commands", {})
        for name in args.datasets:  # parts run separately: the command of each data set
            key = name if name == "patches" or args.n_train == 10_000 else f"{name}_{args.n_train}"
            res["commands"][key] = res["command"]
        if args.quick:
            print(markdown(model, res))
        else:
            write_results(f"defaults_{SLUG[model]}", res, markdown(model, res))


if __name__ == "__main__":
    main()
