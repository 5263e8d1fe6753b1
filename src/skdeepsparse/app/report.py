"""The benchmark report: markdown, plots, and the reStructuredText of the docs page."""

from __future__ import annotations

from pathlib import Path

from .timing import describe_hardware

__all__ = ["DATASET_TITLES", "SMALL", "plots", "render_markdown", "render_rst"]

DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
# Codes of the generator models are continuous; the spike-and-slab paper counts
# entries with |z| <= 0.2 as "off".
SMALL = 0.2


def _table_cells(protocol: dict, rows: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    labels = [str(k) for k in protocol["labels"]]
    noise = [str(s) for s in protocol["noise"]]
    head = (["model", "test PSNR (dB)", "% zeros", f"% abs(z) <= {SMALL}", "active / total"]
            + [f"probe {k}/class" for k in labels]
            + [f"denoise σ={s} (dB)" for s in noise]
            + ["fit (s) [runs]", "transform (s)"])
    body = []
    for name, r in rows.items():
        # the identity reconstructs exactly; psnr() caps that at 40 dB
        cells = [name, "exact" if name == "raw pixels" else f"{r['psnr_db']:.2f}",
                 f"{r['pct_zeros']:.1f}", f"{r['pct_small']:.1f}",
                 f"{r['active_components']} / {r['n_components']}"]
        cells += [f"{r['probe'][k]['mean']:.3f} ± {r['probe'][k]['std']:.3f}" for k in labels]
        cells += [f"{r['denoise'][s]['psnr_denoised']:.2f}" for s in noise]
        cells += [f"{r['fit_s']:.1f} [{len(r['fit_times'])}]", f"{r['transform_s']:.3f}"]
        body.append(cells)
    return head, body


def _table(protocol: dict, rows: dict[str, dict]) -> str:
    head, body = _table_cells(protocol, rows)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def render_rst(payload: dict, figure_dir: str) -> str:
    """The tables and plots of a finished run as reStructuredText (for the docs site).

    Parameters
    ----------
    payload : dict
        What :func:`~skdeepsparse.app.runner.run_benchmark` returned (the content
        of ``results.json``).
    figure_dir : str
        Path of the run's PNG files, relative to the document that includes this.
    """
    p = payload["protocol"]
    lines = [_report_header(payload, rst=True), ""]
    for ds, res in payload["results"].items():
        if not res["main"]:
            continue
        title = DATASET_TITLES[ds]
        head, body = _table_cells(p, res["main"])
        lines += [title, "-" * len(title), "",
                  f".. list-table:: {title}: every model on the same test images",
                  "   :header-rows: 1", ""]
        for cells in [head] + body:
            lines.append("   * - " + cells[0])
            lines += [f"     - {c}" for c in cells[1:]]
        lines.append("")
        lines += _sweep_lines(payload, res, "``") + [""]
        for suffix in ("psnr_vs_zeros", "probe_accuracy"):
            lines += [f".. image:: {figure_dir}/{ds}_{suffix}.png", "   :width: 560px", ""]
    if payload["notes"]:
        # notes are written in markdown: make their |...| and `...` literal for rst
        lines += [f"- {name}: " + note.replace("|", "\\|").replace("`", "``") + "."
                  for name, note in payload["notes"].items()]
        lines.append("")
    return "\n".join(lines)


def _report_header(payload: dict, rst: bool = False) -> str:
    p = payload["protocol"]
    code = "``" if rst else "`"
    noisy = ", ".join(f"{v['psnr_noisy']:.2f} dB at σ={s}"
                      for s, v in _first_denoise(payload).items())
    bullets = [
        f"Budget {code}{p['budget']}{code}: the first {p['n_train']:,} training images, the "
        f"first {p['n_test']:,} test images. {describe_hardware(payload['hardware'])} "
        "The units take "
        f"{payload['compute_s'] / 60:.1f} min in all (this invocation: "
        f"{payload['elapsed_s'] / 60:.1f} min, computing {payload['units_computed']} of "
        f"the {payload['units']} units; the others came from the cache or, for a sweep "
        "point at the main configuration, from the main fit).",
        "",
        "- **test PSNR**: reconstruction of the test images from their codes "
        f"({code}inverse_transform(transform(X)){code}), pixels in [0, 1].",
        "- **% zeros**: exact zeros in the test codes; **% abs(z) <= 0.2**: the "
        "spike-and-slab paper's rule for continuous codes.",
        "- **active**: latents non-zero on at least 1% of test images (dense codes count "
        "every latent).",
        f"- **probe k/class**: {code}StandardScaler{code} + {code}LogisticRegression{code} on "
        f"the codes of k labelled training images per class, accuracy on all test images; "
        f"mean ± std over {p['n_seeds']} draws.",
        f"- **denoise σ**: PSNR against the clean image of "
        f"{code}inverse_transform(transform(noisy)){code}, clipped to [0, 1], with Gaussian "
        f"noise of std σ in pixel units (the noisy input itself: {noisy}).",
        f"- **fit**: median over up to {p['fit_repeats']} fits (fewer once "
        f"{p['fit_repeat_budget_s']:.0f} s is spent; the count is in brackets); "
        f"**transform**: median of {p['transform_repeats']} transforms of the test set.",
    ]
    return "\n".join(bullets)


def render_markdown(payload: dict, figures: list[str]) -> str:
    """The markdown report of a finished run (``report.md``)."""
    lines = ["# skdeepsparse benchmark", "", _report_header(payload), ""]
    for ds, res in payload["results"].items():
        if not res["main"]:
            continue
        lines += [f"## {DATASET_TITLES[ds]}", "", _table(payload["protocol"], res["main"]), ""]
        if res["sweep"]:
            lines += ["Sparsity sweep (test PSNR dB at % zeros):", ""]
            lines += _sweep_lines(payload, res, "") + [""]
        for fig in figures:
            if fig.startswith(ds + "_"):
                lines += [f"![{fig}]({fig})", ""]
    if payload["notes"]:
        lines += ["Notes:", ""]
        lines += [f"- {name}: {note}." for name, note in payload["notes"].items()]
        lines.append("")
    return "\n".join(lines)


def _sweep_lines(payload: dict, res: dict, code: str) -> list[str]:
    """One bullet per swept model: PSNR at % zeros for each value of its weight."""
    lines = []
    for name, points in res["sweep"].items():
        param = payload["sweep_params"][name]
        pts = ", ".join(f"{code}{param}={q['value']}{code}: {q['psnr_db']:.2f} dB at "
                        f"{q['pct_zeros']:.1f}%" for q in points)
        lines.append(f"- {name}: {pts}")
    return lines


def _first_denoise(payload: dict) -> dict:
    for res in payload["results"].values():
        for row in res["main"].values():
            return row["denoise"]
    return {}


def _pyplot():
    """matplotlib's pyplot on a non-interactive backend (ImportError without matplotlib)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plots(payload: dict, out: Path, stream) -> list[str]:
    """Write the PSNR-vs-zeros and probe plots of each dataset; return their file names."""
    try:
        plt = _pyplot()
    except ImportError:
        print("matplotlib is not installed: no plots (pip install 'skdeepsparse[plot]').",
              file=stream)
        return []
    figures = []
    for ds, res in payload["results"].items():
        title = DATASET_TITLES[ds]
        if res["sweep"]:
            fig, ax = plt.subplots(figsize=(6, 4.2))
            for name, points in res["sweep"].items():
                pts = sorted(points, key=lambda q: q["pct_zeros"])
                ax.plot([q["pct_zeros"] for q in pts], [q["psnr_db"] for q in pts], "o-",
                        label=name)
            ax.set(xlabel="% zeros in test codes", ylabel="test PSNR (dB)",
                   title=f"{title}: PSNR vs sparsity (sweep of the sparsity weight)")
            figures.append(_save(plt, fig, ax, out, f"{ds}_psnr_vs_zeros.png"))
        if res["main"]:
            fig, ax = plt.subplots(figsize=(6, 4.2))
            for name, row in res["main"].items():
                ks = sorted(int(k) for k in row["probe"])
                ax.errorbar(ks, [row["probe"][str(k)]["mean"] for k in ks],
                            yerr=[row["probe"][str(k)]["std"] for k in ks], marker="o",
                            capsize=3, label=name)
            ax.set(xscale="log", xlabel="labelled images per class", ylabel="test accuracy",
                   title=f"{title}: linear probe on the codes")
            ax.set_xticks(ks, [str(k) for k in ks])
            figures.append(_save(plt, fig, ax, out, f"{ds}_probe_accuracy.png"))
    return figures


def _save(plt, fig, ax, out: Path, name: str) -> str:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name

