"""The command-line options of ``skdeepsparse demo`` and ``skdeepsparse benchmark``.

Kept light (no numpy, torch or scikit-learn import), so that ``skdeepsparse
--help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["DATASETS", "UsageError", "add_benchmark_arguments", "add_demo_arguments",
           "check_device", "check_output_dir", "check_seed", "run_guarded",
           "threads_context"]

DATASETS = ("mnist", "fashion_mnist")
_PEERS = ("'raw pixels'", "PCA", "MiniBatchDictionaryLearning")


class UsageError(ValueError):
    """Invalid arguments of a command, found before anything is computed or written.

    ``errors`` lists every problem, one line each; the command prints them and
    exits with status 2.
    """

    def __init__(self, errors):
        self.errors = [" ".join(str(e).split()) for e in errors]
        super().__init__("\n".join(self.errors))


def _add_debug(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: given before the subcommand (``skdeepsparse --debug demo``), it is not
    # reset by the subcommand's default.
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full Python traceback of an error")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _threads(text: str):
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 1, got {text!r}"
                                         ) from None


def _add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads", type=_threads, default="auto",
        help="CPU threads of the models: 'auto' (default: PyTorch's count, lowered to the "
             "cores other processes leave free) or a number (1 on a shared machine)")


def threads_context(args: argparse.Namespace):
    """``args.threads`` as the thread policy of a ``with`` block (``config_context``)."""
    from skdeepsparse import config_context

    return config_context(n_threads=getattr(args, "threads", "auto"))


def check_device(device) -> str | None:
    """Why ``device`` cannot run the estimators on this machine, or None if it can.

    The same rule as the estimators' ``device`` parameter ("auto", "cpu",
    "cuda", "cuda:N" of a visible GPU, "mps" where available), checked before
    anything is computed.
    """
    if device == "auto":
        return None
    hint = "use auto, cpu, cuda, cuda:N or mps"
    if not isinstance(device, str):
        return f"device={device!r} is not a device name; {hint}."
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        return f"device={device!r} is not a device name; {hint}."
    if dev.type not in ("cpu", "cuda", "mps"):
        return f"device={device!r}: the estimators run on CPU, CUDA or MPS devices only; {hint}."
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return (f"device={device!r} was requested but CUDA is not available on this "
                    "machine; use cpu or auto.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return (f"device={device!r} was requested but only {torch.cuda.device_count()} "
                    "CUDA device(s) are visible.")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps")
                                  and torch.backends.mps.is_available()):
        return f"device={device!r} was requested but MPS is not available on this machine."
    return None


def check_output_dir(path) -> str | None:
    """Why ``path`` cannot be (created and) written as an output folder, or None.

    Nothing is left behind: the first existing folder at or above ``path`` must
    be a folder in which a file can be created (tried with a temporary file,
    which also catches read-only file systems and permissions that
    :func:`os.access` misjudges, e.g. for root).
    """
    try:
        p = Path(os.fspath(path))
    except TypeError:
        return f"output_dir={path!r} is not a path."
    if not str(path).strip():
        return "output_dir is empty."
    if p.exists() and not p.is_dir():
        return f"output_dir={str(path)!r} exists and is not a folder."
    existing = p.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"output_dir={str(path)!r} cannot be created: {existing} is a file."
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        what = "is not writable" if existing == p.absolute() else (
            f"cannot be created: {existing} is not writable")
        return f"output_dir={str(path)!r} {what} ({exc.strerror or exc})."
    return None


def check_seed(seed) -> str | None:
    """Why ``seed`` is not a valid random seed (an int in [0, 2**32)), or None."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        return f"seed must be an integer in [0, 2**32); got {seed!r}."
    return None


def run_guarded(prog: str, run, args: argparse.Namespace) -> int:
    """``run(args)``, turning errors into one line each on stderr and an exit status.

    2: invalid arguments (:class:`UsageError`); 1: any other error; 130:
    interrupted. With ``args.debug`` the exception propagates (full traceback).
    """
    debug = getattr(args, "debug", False)
    try:
        return run(args)
    except KeyboardInterrupt:
        # Nothing of the interrupted model is reported or cached (see .interrupt).
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        if debug:
            raise
        for line in exc.errors:
            print(f"{prog}: error: {line}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line, the traceback with --debug
        if debug:
            raise
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{prog}: error: {type(exc).__name__}: {msg} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``skdeepsparse demo``."""
    parser.add_argument("--output-dir", default="skdeepsparse_demo_output",
                        help="where demo.json, demo.md and atoms.png go")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random_state of every model and of the probe draws (default 0)")
    _add_threads(parser)
    _add_debug(parser)


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``skdeepsparse benchmark`` (shared with ``run_all.py`` in benchmarks/)."""
    from skdeepsparse.registry import ESTIMATORS

    parser.add_argument("--data-home", default=None,
                        help="folder with mnist/ and fashion_mnist/ (default: $SKDEEPSPARSE_DATA, "
                             "then ../shared/data beside a checkout, then ~/skdeepsparse_data)")
    parser.add_argument("--output-dir", default="skdeepsparse_benchmark",
                        help="where results.json, report.md, the plots and cache/ go")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--full", action="store_true",
                       help="the papers' budgets: all 60,000 training images, paper epochs and "
                            "sizes (hours on a CPU; meant for a GPU)")
    group.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS),
                        help="datasets to run (default: both)")
    parser.add_argument("--models", nargs="+", default=None,
                        help="subset of: " + ", ".join([*_PEERS, *ESTIMATORS]))
    parser.add_argument("--no-sweep", action="store_true",
                        help="skip the sparsity-weight sweep (no PSNR-vs-zeros plot)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--fit-repeats", type=_positive_int, default=3,
                        help="fits timed per model, median reported (default 3)")
    parser.add_argument("--transform-repeats", type=_positive_int, default=3,
                        help="transforms timed per model, median reported (default 3)")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute every unit (the cache is neither read nor written)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar")
    _add_threads(parser)
    _add_debug(parser)
