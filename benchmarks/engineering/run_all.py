"""Every model next to scikit-learn on MNIST and Fashion-MNIST: the full evaluation suite.

The same suite as ``skdeepsparse benchmark`` (see :mod:`skdeepsparse.app.runner`),
with this repository's defaults: data from ``../shared/data`` (or
``$SKDEEPSPARSE_DATA``) and results in ``benchmarks/engineering/results/run_all/``
(``report.md``, ``results.json``, the plots; ``cache/`` is not committed).

The shipped report was made on 2 CPU cores with::

    python benchmarks/engineering/run_all.py

(about 25 minutes; re-running it after an interruption resumes from the cache).
On a GPU, ``python benchmarks/engineering/run_all.py --full --device cuda`` uses the
papers' budgets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from skdeepsparse.app.options import add_benchmark_arguments
from skdeepsparse.app.runner import run_from_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, RESULTS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_benchmark_arguments(parser)
    parser.set_defaults(data_home=DATA_HOME, output_dir=str(Path(RESULTS) / "run_all"))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
