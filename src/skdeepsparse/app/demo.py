"""``skdeepsparse demo``: every model on scikit-learn's embedded 8x8 digits."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .interrupt import fit
from .options import UsageError, check_output_dir, check_seed, run_guarded, threads_context
from .presets import demo_models
from .timing import describe_hardware, hardware

__all__ = ["run_demo", "run_from_args"]

# Codes of the generator models are continuous: the table also reports the share
# of small entries, with the threshold of the spike-and-slab paper.
_SMALL = 0.2


def _reconstruct(est, Z):
    if hasattr(est, "inverse_transform"):
        return est.inverse_transform(Z)
    return Z @ est.components_


def run_demo(output_dir: str | Path = "skdeepsparse_demo_output", *, quick: bool = False,
             seed: int = 0, stream=None) -> list[dict]:
    """Fit every model on scikit-learn's 8x8 digits and print a comparison table.

    Needs no data files. Columns: test PSNR of reconstructions, % exact zeros
    in the codes, % of entries with ``|z| <= 0.2``, active components (non-zero
    on >= 1% of test samples), the low-data probe (logistic regression on
    standardised codes, 10 labels per class, mean +- std over 5 draws) and fit
    time. Writes ``demo.json`` (the rows, the settings, and the machine: CPU,
    cores, thread setting, library versions), ``demo.md`` and, when
    matplotlib is available, ``atoms.png``.

    Parameters
    ----------
    output_dir : str or path, default="skdeepsparse_demo_output"
    quick : bool, default=False
        Tiny budgets, for smoke tests.
    seed : int, default=0
        Train/test split and probe seed.
    stream : file-like, default=sys.stdout

    Returns
    -------
    list of dict
        One row per model.

    Raises
    ------
    skdeepsparse.app.options.UsageError
        (a ``ValueError``) for an unusable ``output_dir`` or an invalid
        ``seed``, before anything is computed; ``output_dir`` is created only
        when the results are written.
    """
    from skdeepsparse.datasets import load_digits_data
    from skdeepsparse.evaluation import linear_probe
    from skdeepsparse.metrics import active_components, code_sparsity, psnr

    stream = stream or sys.stdout
    errors = [e for e in (check_output_dir(output_dir), check_seed(seed)) if e]
    if errors:
        raise UsageError(errors)
    out = Path(output_dir)
    data = load_digits_data()
    X, y = data.data, data.target
    perm = np.random.RandomState(seed).permutation(len(X))
    tr, te = perm[:1297], perm[1297:]
    n_seeds = 2 if quick else 5
    rows, fitted = [], {}
    print(f"skdeepsparse demo: 8x8 digits, {len(tr)} train / {len(te)} test images", file=stream)
    for name, factory in demo_models(quick).items():
        est = factory()
        print(f"  {name}: fitting...", file=stream, flush=True)
        t0 = time.perf_counter()
        if est is None:
            Z_tr, Z_te, recon = X[tr], X[te], X[te]
        else:
            fit(est, X[tr])  # Ctrl-C: KeyboardInterrupt, no interrupted model reported
            Z_tr, Z_te = est.transform(X[tr]), est.transform(X[te])
            recon = _reconstruct(est, Z_te)
            fitted[name] = est
        elapsed = time.perf_counter() - t0
        probe = linear_probe(Z_tr, y[tr], Z_te, y[te], n_per_class=(10,), n_seeds=n_seeds,
                             random_state=seed)[10]
        rows.append({
            "model": name,
            "psnr_db": psnr(X[te], recon),
            "pct_zeros": 100 * code_sparsity(Z_te),
            "pct_small": 100 * code_sparsity(Z_te, _SMALL),
            "active_components": active_components(Z_te),
            "n_components": Z_te.shape[1],
            "probe10_mean": probe["mean"],
            "probe10_std": probe["std"],
            "fit_transform_s": elapsed,
        })
        print(f"  {name}: done in {elapsed:.1f}s", file=stream)
    hw = hardware()
    table = _markdown_table(rows) + "\n\n" + describe_hardware(hw)
    print("\n" + table, file=stream)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo.md").write_text(table + "\n")
    (out / "demo.json").write_text(json.dumps(
        {"quick": quick, "seed": seed, "hardware": hw, "rows": rows}, indent=2))
    _save_atoms(fitted, data.images_shape, out / "atoms.png", stream, X[te])
    return rows


def _markdown_table(rows: list[dict]) -> str:
    lines = [
        f"| model | test PSNR (dB) | % zeros | % abs(z) <= {_SMALL} | active / total "
        "| probe acc, 10 labels/class | fit+transform (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['psnr_db']:.2f} | {r['pct_zeros']:.1f} | {r['pct_small']:.1f} | "
            f"{r['active_components']} / {r['n_components']} | "
            f"{r['probe10_mean']:.3f} ± {r['probe10_std']:.3f} | {r['fit_transform_s']:.1f} |"
        )
    return "\n".join(lines)


# At most this many images per model in atoms.png.
_N_SHOWN = 64


def _model_images(est, X: np.ndarray) -> tuple[np.ndarray, str]:
    """What to draw for one fitted model, and a title that says what it is.

    Linear decoders (``components_``) show their atoms; the others show the
    decoded unit codes ``g(e_k) - g(0)``. Both are ordered by how much the
    test codes use them (mean ``|z_k|``), most used first, so that unused
    (noise-like) atoms do not fill the panel; the title gives both counts.
    """
    name = type(est).__name__
    usage = np.abs(np.asarray(est.transform(X), dtype=np.float64)).mean(axis=0)
    k = len(usage)
    order = np.argsort(-usage, kind="stable")[:_N_SHOWN]
    if _has_components(est):
        images, what = np.asarray(est.components_)[order], "atoms (rows of components_)"
    else:
        dtype = np.asarray(X).dtype
        codes = np.zeros((len(order) + 1, k), dtype=dtype)
        codes[np.arange(len(order)), order] = 1.0  # the last row stays 0
        decoded = np.asarray(est.inverse_transform(codes), dtype=np.float64)
        images, what = decoded[:-1] - decoded[-1], "decoded unit codes g(e_k) - g(0)"
    return images, f"{name}\n{what}: {len(order)} most used of {k}"


def _save_atoms(fitted: dict, shape, path: Path, stream, X_test: np.ndarray) -> None:
    """One panel per fitted model: its atoms, or its decoded unit codes."""
    panels = {k: v for k, v in fitted.items()
              if _has_components(v) or hasattr(v, "inverse_transform")}
    if not panels:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no atoms.png (pip install 'skdeepsparse[plot]').",
              file=stream)
        return
    from skdeepsparse.plotting import plot_atoms

    n_cols = min(3, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.5 * n_cols, 5.0 * n_rows),
                             squeeze=False)
    for ax, est in zip(axes.flat, panels.values(), strict=False):
        images, title = _model_images(est, X_test)
        plot_atoms(images, shape, n_cols=8, ax=ax, title=title)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"Atoms saved to {path}", file=stream)


def _has_components(est) -> bool:
    try:
        return est.components_.ndim == 2
    except AttributeError:
        return False


def _run(args: argparse.Namespace) -> int:
    with threads_context(args):
        run_demo(args.output_dir, quick=args.quick, seed=args.seed)
    return 0


def run_from_args(args: argparse.Namespace, prog: str = "skdeepsparse demo") -> int:
    """Run the demo from parsed :func:`~skdeepsparse.app.options.add_demo_arguments` options.

    Returns the exit status: 0, 2 for invalid arguments (one line each on
    stderr, nothing written), 1 for any other error (one line; the traceback
    with ``--debug``), 130 when interrupted.
    """
    return run_guarded(prog, _run, args)
