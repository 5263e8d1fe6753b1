"""The ``skdeepsparse`` command (``demo`` and ``benchmark``; see :mod:`skdeepsparse.app`).

Only argument parsing lives here: numpy, torch and scikit-learn are imported
once a subcommand runs, so ``skdeepsparse --help`` and ``--version`` answer at
once.

Errors: every argument is checked before anything is computed or written.
Each problem is one line on stderr (``skdeepsparse <command>: error: ...``);
the exit status is 2 for invalid arguments (nothing is left behind), 1 for
an error while running, 130 when interrupted. ``--debug`` shows the Python
traceback instead.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message):
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skdeepsparse`` command."""
    from .app.options import add_benchmark_arguments, add_demo_arguments

    parser = _Parser(
        prog="skdeepsparse",
        description="Deep sparse coding models as scikit-learn estimators.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full Python traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    add_demo_arguments(sub.add_parser(
        "demo", help="fit every model on the embedded 8x8 digits and print a comparison table"))
    add_benchmark_arguments(sub.add_parser(
        "benchmark",
        help="every model next to MiniBatchDictionaryLearning, PCA and raw pixels on MNIST and "
             "Fashion-MNIST (resumable; JSON + markdown report with plots)",
    ))
    args = parser.parse_args(argv)
    prog = f"skdeepsparse {args.command}"
    try:
        if args.command == "benchmark":
            from .app.runner import run_from_args
        else:
            from .app.demo import run_from_args
    except ImportError as exc:  # e.g. torch missing
        if args.debug:
            raise
        print(f"{prog}: error: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1
    return run_from_args(args, prog)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
