"""Few labels and denoising as Evtimova & LeCun measure them, next to our probe.

Issue #12, item 3. The paper (TMLR 2022) says variance-regularised codes help
low-data classification and denoising. This script measures both its way and
ours, for VDL and VDL-NL, against raw pixels, then varies one thing at a time to
find out what, if anything, makes codes beat pixels with 1-10 labels a class.

Protocols (spec ``../shared/specs/variance_reg_and_spike_slab.md`` section 1.7):

* **paper**: :func:`skdeepsparse.evaluation.paper_linear_probe`. The *first* k
  training images of each class (dataset order), a linear layer (Adam, lr 1e-3,
  batch 250, 100 epochs) on the raw codes (pixels: globally standardised, as the
  paper feeds them), the epoch and the Adam weight decay (0, 0.01 or 0.1) picked
  by the cross-entropy on 5,000 validation images (training images
  55,000-59,999, never used to fit a model), top-1 accuracy on the test set.
* **ours**: :func:`skdeepsparse.evaluation.linear_probe`. k random images a
  class out of the fit pool, 5 draws, ``StandardScaler`` + ``LogisticRegression``
  (C=1); mean ± std test accuracy. ``ours-raw`` is the same without the scaler
  (a check of whether standardising rare latents hurts the codes).
* **denoising**: Gaussian noise of std 1 in the normalised space (the global
  std of the training pixels, 0.3081 on MNIST), encoder codes (or FISTA codes) of
  the noisy image, PSNR of the decoded image against the clean one, no clipping;
  the noisy image and scikit-learn's ``MiniBatchDictionaryLearning`` (128 atoms,
  ``lasso_lars`` codes, one pass, same noise) are the references.

Models: the registry presets ``paper_mnist_vdl`` and ``paper_mnist_vdl_nl`` with
the paper's hyperparameters except the budget, which is the same for both:
``--epochs`` epochs (default 10) on the first ``--n-train`` training images
(default 10,000; 400 decoder steps against the paper's 44,000), no validation
split (last epoch kept), ``random_state=0``, CPU. Codes are read two ways: the
LISTA encoder (``transform_mode="encoder"``, what the paper evaluates) and the
exact Lasso / FISTA codes (``transform_mode="fista"``). Fashion-MNIST uses the
MNIST rows (the paper has none of its own).

The study (``--sweep``, MNIST, same budget): VDL with one change at a time from
the paper's row -- the sparsity weight (x0.25, x0.5, x2.5: % zeros), the learning
rates x10 (the training budget) -- and VDL-NL with the sparsity weight x0.25 and
x4; then 128 against 512 atoms (overcomplete), both fitted on the first 3,000
images only (512 latents cost 5-9x as much a step), probed on the same pool.

``--order-draws 5`` also runs the paper's protocol on 5 random orders of the pool
for every row (its "first k" is one fixed draw), on the features already computed.

One command makes the committed results (``benchmarks/reproduce.py evtimova2022``
runs it as three parts side by side, one core each, then merges them)::

    python benchmarks/evtimova2022/bench_vdl_few_labels.py --datasets mnist fashion \
        --sweep --order-draws 5

``--tag T`` writes the partial file ``vdl_few_labels_T.json`` instead of the
result (no markdown); ``--report`` merges every partial file into
``vdl_few_labels.json`` and ``.md`` (first file wins on a repeated row). The three
parts::

    B="python benchmarks/evtimova2022/bench_vdl_few_labels.py --order-draws 5"
    PAIR=("128 atoms, fit on 3000" "512 atoms, fit on 3000")
    $B --datasets mnist --sweep --skip "${PAIR[@]}" --tag mnist &
    $B --datasets mnist --sweep --only "${PAIR[@]}" --tag mnist_atoms &
    $B --datasets fashion --tag fashion &
    wait; python benchmarks/evtimova2022/bench_vdl_few_labels.py --report

``--resume`` keeps the rows already in the output file and skips their fits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.linear_model import LogisticRegression

from skdeepsparse import registry
from skdeepsparse.datasets import load_fashion_mnist, load_mnist
from skdeepsparse.evaluation import (
    denoising_scores,
    linear_probe,
    paper_linear_probe,
    sample_per_class,
)
from skdeepsparse.metrics import code_sparsity, psnr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import (  # noqa: E402
    DATA_HOME,
    DEVICE,
    RESULTS,
    add_common_options,
    hardware,
    provenance,
    write_results,
)

NAME = "VarianceRegDictionaryLearner"
PRESETS = {"VDL": "paper_mnist_vdl", "VDL-NL": "paper_mnist_vdl_nl"}
LOADERS = {"mnist": load_mnist, "fashion": load_fashion_mnist}
TITLES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
LABELS = (1, 5, 10, 100)
WEIGHT_DECAYS = (0.0, 1e-2, 1e-1)
N_VAL = 5000
# One change at a time from the paper's rows: (model, label, overrides, n_fit). n_fit
# is the number of images the model is fitted on (None: --n-train); the pair
# "128 atoms" / "512 atoms" is fitted on fewer images because 512 latents cost 5-9x
# as much a step. The probes always use the same pool (the first --n-train images).
SWEEP = [
    ("VDL", "lambda x0.25 (0.005)", dict(sparsity_reg=0.005), None),
    ("VDL", "lambda x0.5 (0.01)", dict(sparsity_reg=0.01), None),
    ("VDL", "lambda x2.5 (0.05)", dict(sparsity_reg=0.05), None),
    ("VDL", "learning rates x10", dict(decoder_learning_rate=3e-3, learning_rate=1e-3), None),
    ("VDL-NL", "lambda x0.25 (0.0025)", dict(sparsity_reg=0.0025), None),
    ("VDL-NL", "lambda x4 (0.04)", dict(sparsity_reg=0.04), None),
    ("VDL", "128 atoms, fit on 3000", dict(n_components=128), 3000),
    ("VDL", "512 atoms, fit on 3000", dict(n_components=512), 3000),
]
OUT = RESULTS / "vdl_few_labels.json"


def raw_probe(Z, y, Zt, yt, labels, n_seeds=5):
    """Our probe without the StandardScaler: LogisticRegression on the raw features."""
    out = {}
    for k in labels:
        scores = []
        for s in range(n_seeds):
            idx = sample_per_class(y, k, s)
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(Z[idx], y[idx])
            scores.append(float(clf.score(Zt, yt)))
        out[str(k)] = {"mean": float(np.mean(scores)), "std": float(np.std(scores))}
    return out


def evaluate(features, data, labels, raw=True):
    """Both probes on one feature set: ``features = (Z_pool, Z_val, Z_test)``."""
    (Z, Zv, Zt), (y, yv, yt) = features, data
    t0 = time.perf_counter()
    paper = paper_linear_probe(Z, y, Zv, yv, Zt, yt, n_per_class=labels,
                               weight_decay=WEIGHT_DECAYS, random_state=0)
    ours = linear_probe(Z, y, Zt, yt, n_per_class=labels, n_seeds=5, random_state=0)
    row = {
        "paper": {str(k): v["accuracy"] for k, v in paper.items()},
        "paper_selected": {str(k): {"weight_decay": v["weight_decay"], "epoch": v["epoch"]}
                           for k, v in paper.items()},
        "ours": {str(k): {"mean": v["mean"], "std": v["std"]} for k, v in ours.items()},
    }
    if raw:
        row["ours_raw"] = raw_probe(Z, y, Zt, yt, labels)
    row["eval_s"] = time.perf_counter() - t0
    return row


def order_draws(features, data, n_draws, labels=(1, 5, 10)):
    """The paper's protocol on ``n_draws`` random orders of the pool.

    Its "first k a class" is one fixed draw; this measures how much the result
    owes to which images happen to come first.
    """
    (Z, Zv, Zt), (y, yv, yt) = features, data
    scores = {str(k): [] for k in labels}
    for s in range(n_draws):
        perm = np.random.RandomState(s).permutation(len(y))
        res = paper_linear_probe(Z[perm], y[perm], Zv, yv, Zt, yt, n_per_class=labels,
                                 weight_decay=WEIGHT_DECAYS, random_state=0)
        for k, v in res.items():
            scores[str(k)].append(v["accuracy"])
    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "scores": v}
            for k, v in scores.items()}


def load(dataset, n_train, n_test):
    train = LOADERS[dataset]("train", data_home=DATA_HOME)
    test = LOADERS[dataset]("test", data_home=DATA_HOME, n_samples=n_test)
    X, y = train.data[:n_train], train.target[:n_train]
    Xv, yv = train.data[-N_VAL:], train.target[-N_VAL:]
    return X, y, Xv, yv, test.data, test.target


def fit_vdl(model, overrides, X, epochs):
    est = registry.make(NAME, PRESETS[model], max_epochs=epochs, validation_fraction=0.0,
                        device=DEVICE, random_state=0, **overrides)
    t0 = time.perf_counter()
    est.fit(X)
    return est, time.perf_counter() - t0


def code_rows(dataset, study, model, change, overrides, est, fit_s, arrays, labels,
              n_denoise, raw, n_draws):
    X, y, Xv, yv, Xt, yt = arrays
    rows = []
    sigma = float(est.scale_)  # std 1 in the normalised space
    for mode in ("encoder", "fista"):
        est.set_params(transform_mode=mode)
        Zt = np.asarray(est.transform(Xt))
        feats = (np.asarray(est.transform(X)), np.asarray(est.transform(Xv)), Zt)
        row = {"dataset": dataset, "study": study, "model": model, "change": change,
               "overrides": overrides, "codes": mode, "fit_s": fit_s,
               "pct_zeros": 100 * code_sparsity(Zt),
               "psnr": psnr(Xt, est.inverse_transform(Zt)),
               "dead_latents": int(np.sum(np.all(feats[0] == 0, axis=0)))}
        row.update(evaluate(feats, (y, yv, yt), labels, raw=raw))
        if n_draws:
            row["paper_draws"] = order_draws(feats, (y, yv, yt), n_draws)
        if study == "main":
            row["denoise"] = denoising_scores(est, Xt[:n_denoise], sigma, random_state=0)
            row["denoise"]["sigma_pixels"] = sigma
        rows.append(row)
        print(f"  {model} {change} {mode}: {100 * code_sparsity(Zt):.1f}% zeros, "
              f"eval {row['eval_s']:.0f} s, paper {row['paper']}, ours "
              f"{ {k: round(v['mean'], 3) for k, v in row['ours'].items()} }", flush=True)
    est.set_params(transform_mode="encoder")
    return rows


def pixel_row(dataset, arrays, labels, n_draws):
    X, y, Xv, yv, Xt, yt = arrays
    mean, std = float(X.mean()), float(X.std())
    # the paper feeds globally standardised pixels to its linear layer; our probe
    # standardises per feature anyway (raw [0, 1] pixels, as the suite does)
    row = {"dataset": dataset, "study": "main", "model": "pixels", "change": "",
           "codes": "pixels", "pct_zeros": 100 * code_sparsity(Xt), "psnr": None}
    standardised = ((X - mean) / std, (Xv - mean) / std, (Xt - mean) / std)
    paper = evaluate(standardised, (y, yv, yt), labels, raw=False)
    ours = evaluate((X, Xv, Xt), (y, yv, yt), labels)
    row.update(paper=paper["paper"], paper_selected=paper["paper_selected"],
               ours=ours["ours"], ours_raw=ours["ours_raw"])
    if n_draws:
        row["paper_draws"] = order_draws(standardised, (y, yv, yt), n_draws)
    return row


def sklearn_denoise(dataset, arrays, n_denoise, alpha):
    X, _, _, _, Xt, _ = arrays
    sigma = float(X.std())
    mbdl = MiniBatchDictionaryLearning(n_components=128, alpha=alpha, batch_size=256,
                                       max_iter=1,
                                       transform_algorithm="lasso_lars", transform_alpha=alpha,
                                       random_state=0)
    t0 = time.perf_counter()
    mbdl.fit(X)
    fit_s = time.perf_counter() - t0
    Z = mbdl.transform(Xt[:n_denoise])
    return {"dataset": dataset, "study": "main", "model": "MiniBatchDictionaryLearning",
            "change": f"alpha {alpha}", "codes": "lasso_lars", "fit_s": fit_s,
            "pct_zeros": 100 * code_sparsity(Z),
            "psnr": psnr(Xt[:n_denoise], Z @ mbdl.components_),
            "denoise": {**denoising_scores(mbdl, Xt[:n_denoise], sigma, random_state=0),
                        "sigma_pixels": sigma}}


# ---------------------------------------------------------------- report
def _acc(v):
    return f"{v:.3f}"


def _ms(v):
    return f"{v['mean']:.3f} ± {v['std']:.3f}"


def _table(rows, labels, with_raw):
    head = ["model", "change", "codes", "% zeros", "PSNR (dB)"]
    head += [f"paper k={k}" for k in labels] + [f"ours k={k}" for k in labels]
    if with_raw:
        head += [f"ours-raw k={k}" for k in labels]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], r["change"] or "paper row", r["codes"], f"{r['pct_zeros']:.1f}",
                 "-" if r.get("psnr") is None else f"{r['psnr']:.2f}"]
        cells += [_acc(r["paper"][str(k)]) for k in labels]
        cells += [_ms(r["ours"][str(k)]) for k in labels]
        if with_raw:
            cells += [_ms(r["ours_raw"][str(k)]) if "ours_raw" in r else "-" for k in labels]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _verdict(rows, pixels, labels):
    """Best code configuration per protocol and k, and its margin over pixels.

    Only the rows that have the protocol's field take part in its lines.
    """
    protocols = [
        ("paper (first k)", "paper", lambda v: v),
        ("paper (5 random orders, mean)", "paper_draws", lambda v: v["mean"]),
        ("ours", "ours", lambda v: v["mean"]),
        ("ours-raw", "ours_raw", lambda v: v["mean"]),
    ]
    out = []
    for proto, field, val in protocols:
        have = [r for r in rows if field in r]
        if field not in pixels or not have:
            continue
        for k in [str(k) for k in labels if k <= 10]:
            if k not in pixels[field]:
                continue
            def get(r, field=field, k=k, val=val):
                return val(r[field][k])

            best = max(have, key=get)
            n_win = sum(get(r) > get(pixels) for r in have)
            out.append(f"| {proto} | {k} | {get(pixels):.3f} | {best['model']} "
                       f"{best['change'] or 'paper row'} ({best['codes']}) | "
                       f"{get(best):.3f} | {get(best) - get(pixels):+.3f} | "
                       f"{n_win} of {len(have)} |")
    return ("| protocol | k | pixels | best codes | accuracy | minus pixels | configurations "
            "above pixels |\n|---|---|---|---|---|---|---|\n" + "\n".join(out))


def report(payload):
    labels = payload["labels"]
    md = ["# Few labels and denoising as the paper measures them (issue #12, item 3)", "",
          f"Command: `{payload['command']}`", "",
          f"Budget: {payload['budget']}. Hardware: {payload['hardware']}.", "",
          "**paper** = `paper_linear_probe`: first k images a class, linear layer trained "
          "with Adam (lr 1e-3, batch 250, 100 epochs), epoch and weight decay "
          f"{list(WEIGHT_DECAYS)} picked on the validation cross-entropy (training images "
          "55,000-59,999), test accuracy; one deterministic selection. **ours** = "
          "`linear_probe`: k random images a class, StandardScaler + LogisticRegression, "
          "mean ± std over 5 draws; **ours-raw**: the same without the scaler.", ""]
    if payload.get("merged_commands"):
        md[3:3] = ["Merged with the rows of: "
                   + "; ".join(f"`{c}`" for c in payload["merged_commands"]) + ".", ""]
    for ds in sorted(payload["datasets"], key=list(TITLES).index):
        rows = [r for r in payload["rows"] if r["dataset"] == ds]
        if not rows:
            continue
        pix = next((r for r in rows if r["model"] == "pixels"), None)
        main = [r for r in rows if r["study"] == "main" and r["model"] in PRESETS]
        md += [f"## {TITLES[ds]}", "", "### Classification, paper rows", ""]
        md.append(_table(([pix] if pix else []) + main, labels, with_raw=True))
        md += ["", "### Denoising (noise std 1 in normalised units; PSNR against the clean "
               f"image, first {payload['n_denoise']} test images, no clipping)", "",
               "| model | codes | % zeros (clean test) | PSNR clean recon. (dB) | PSNR noisy (dB) "
               "| PSNR denoised (dB) | fit (s) |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            if "denoise" in r:
                d = r["denoise"]
                md.append(f"| {r['model']} {r['change']} | {r['codes']} | {r['pct_zeros']:.1f} | "
                          f"{r['psnr']:.2f} | {d['psnr_noisy']:.2f} | {d['psnr_denoised']:.2f} | "
                          f"{r['fit_s']:.0f} |")
        draws = [r for r in rows if "paper_draws" in r]
        if draws:
            ks = list(draws[0]["paper_draws"])
            n = len(draws[0]["paper_draws"][ks[0]]["scores"])
            md += ["", f"### The paper's protocol over {n} random orders of the pool "
                   "(mean ± std of the test accuracy)", "",
                   "| model | change | codes | " + " | ".join(f"k={k}" for k in ks) + " |",
                   "|---|---|---|" + "---|" * len(ks)]
            md += [f"| {r['model']} | {r['change'] or 'paper row'} | {r['codes']} | "
                   + " | ".join(_ms(r["paper_draws"][k]) for k in ks) + " |" for r in draws]
        sweep = [r for r in rows if r["study"] == "sweep"]
        if sweep:
            md += ["", "### One change at a time (same budget)", ""]
            md.append(_table(([pix] if pix else []) + main + sweep, labels,
                             with_raw=any("ours_raw" in r for r in sweep)))
        codes = main + sweep
        if pix and codes:
            md += ["", "### Best codes against pixels, 1-10 labels a class", "",
                   _verdict(codes, pix, labels)]
        md.append("")
    return "\n".join(md)


def _merge_partials(partials):
    """One payload from the partial files (first file wins on a repeated row)."""
    payload, seen = None, set()
    for path in partials:
        part = json.loads(path.read_text())
        if payload is None:
            payload = {**part, "rows": [], "datasets": [], "merged_commands": []}
        payload["datasets"] = sorted(set(payload["datasets"]) | set(part["datasets"]))
        payload["merged_commands"].append(part["command"])
        for r in part["rows"]:
            key = (r["dataset"], r["model"], r["change"], r["codes"])
            if key not in seen:
                payload["rows"].append(r)
                seen.add(key)
    payload["command"] = "python benchmarks/evtimova2022/bench_vdl_few_labels.py --report"
    payload["rows"].sort(key=lambda r: list(TITLES).index(r["dataset"]))  # stable
    return payload


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["mnist"], choices=sorted(LOADERS))
    add_common_options(ap, n_train=10_000, n_test=10_000, epochs=10)
    ap.add_argument("--n-denoise", type=int, default=2000)
    ap.add_argument("--sweep", action="store_true", help="the one-change study (MNIST)")
    ap.add_argument("--sk-alpha", type=float, default=0.5,
                    help="MiniBatchDictionaryLearning's alpha (0: skip it)")
    ap.add_argument("--order-draws", type=int, default=0,
                    help="also the paper's protocol on this many random orders of the pool")
    ap.add_argument("--only", nargs="*", default=None,
                    help="run only these changes of the study (and no main table)")
    ap.add_argument("--skip", nargs="*", default=(), help="skip these changes of the study")
    ap.add_argument("--tag", default="",
                    help="write the partial file vdl_few_labels_<tag>.json (merge: --report)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--report", action="store_true",
                    help="merge the partial files (if any) and write the markdown")
    args = ap.parse_args()
    labels = list(LABELS)
    if args.report:
        partials = sorted(RESULTS.glob("vdl_few_labels_*.json"))
        payload = _merge_partials(partials) if partials else json.loads(OUT.read_text())
        write_results("vdl_few_labels", payload, report(payload))
        return
    out = RESULTS / f"vdl_few_labels_{args.tag}.json" if args.tag else OUT
    payload = json.loads(out.read_text()) if args.resume and out.exists() else {"rows": []}
    payload.update(
        command="python benchmarks/evtimova2022/bench_vdl_few_labels.py "
                f"--datasets {' '.join(args.datasets)}" + (" --sweep" if args.sweep else "")
                + ("" if args.n_train == 10_000 else f" --n-train {args.n_train}")
                + ("" if args.n_test == 10_000 else f" --n-test {args.n_test}")
                + f" --epochs {args.epochs}"
                + (f" --order-draws {args.order_draws}" if args.order_draws else "")
                + ("" if args.only is None else " --only " + " ".join(map(repr, args.only)))
                + ("" if not args.skip else " --skip " + " ".join(map(repr, args.skip)))
                + (f" --tag {args.tag}" if args.tag else ""),
        budget=f"registry presets paper_mnist_vdl / paper_mnist_vdl_nl, {args.epochs} epochs "
               f"on the first {args.n_train} training images (batch 250), no validation "
               "split, random_state 0, CPU; "
               f"{N_VAL} validation images (the last of the training set), "
               f"{args.n_test} test images",
        hardware=hardware(), labels=labels, n_denoise=args.n_denoise,
        datasets=sorted(set(payload.get("datasets", [])) | set(args.datasets)),
    )
    done = {(r["dataset"], r["model"], r["change"]) for r in payload["rows"]}

    def save():
        if out == OUT:
            write_results("vdl_few_labels", payload, report(payload))
        else:
            out.write_text(json.dumps({**payload, "provenance": provenance()}, indent=2))

    for ds in args.datasets:
        arrays = load(ds, args.n_train, args.n_test)
        if args.only is not None:
            done |= {(ds, "pixels", ""),
                     (ds, "MiniBatchDictionaryLearning", f"alpha {args.sk_alpha}")}
            done |= {(ds, m, "") for m in PRESETS}
        if (ds, "pixels", "") not in done:
            print(f"{ds}: pixels", flush=True)
            t0 = time.perf_counter()
            payload["rows"].append(pixel_row(ds, arrays, labels, args.order_draws))
            print(f"{ds}: pixels evaluated in {time.perf_counter() - t0:.0f} s", flush=True)
            save()
        for model in PRESETS:
            if (ds, model, "") in done:
                continue
            est, fit_s = fit_vdl(model, {}, arrays[0], args.epochs)
            print(f"{ds}: {model} fitted in {fit_s:.0f} s", flush=True)
            payload["rows"] += code_rows(ds, "main", model, "", {}, est, fit_s, arrays, labels,
                                         args.n_denoise, True, args.order_draws)
            save()
        key = (ds, "MiniBatchDictionaryLearning", f"alpha {args.sk_alpha}")
        if args.sk_alpha > 0 and key not in done:
            payload["rows"].append(sklearn_denoise(ds, arrays, args.n_denoise, args.sk_alpha))
            save()
        if args.sweep and ds == "mnist":
            for model, change, overrides, n_fit in SWEEP:
                if ((ds, model, change) in done or change in args.skip
                        or (args.only is not None and change not in args.only)):
                    continue
                est, fit_s = fit_vdl(model, overrides, arrays[0][:n_fit], args.epochs)
                print(f"{ds}: {model} {change} fitted in {fit_s:.0f} s", flush=True)
                payload["rows"] += code_rows(ds, "sweep", model, change, overrides, est, fit_s,
                                             arrays, labels, args.n_denoise, True,
                                             args.order_draws)
                save()
    save()


if __name__ == "__main__":
    main()
