"""The ``skdeepsparse`` command (``demo`` and ``benchmark``; see :mod:`skdeepsparse.app`).

Only argument parsing lives here: numpy, torch and scikit-learn are imported
once a subcommand runs, so ``skdeepsparse --help`` and ``--version`` answer at
once.
"""

from __future__ import annotations

import argparse

__all__ = ["main"]


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skdeepsparse`` command."""
    from .app.options import add_benchmark_arguments, add_demo_arguments

    parser = argparse.ArgumentParser(
        prog="skdeepsparse",
        description="Deep sparse coding models as scikit-learn estimators.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_demo_arguments(sub.add_parser(
        "demo", help="fit every model on the embedded 8x8 digits and print a comparison table"))
    add_benchmark_arguments(sub.add_parser(
        "benchmark",
        help="every model next to MiniBatchDictionaryLearning, PCA and raw pixels on MNIST and "
             "Fashion-MNIST (resumable; JSON + markdown report with plots)",
    ))
    args = parser.parse_args(argv)
    if args.command == "benchmark":
        from .app.runner import run_from_args
    else:
        from .app.demo import run_from_args
    return run_from_args(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
