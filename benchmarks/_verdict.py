"""The one rule that turns a claim's measurements into a verdict (``reproduce.py``).

A claim is split into *parts* (each thing the claim says: "A beats B on MNIST",
"most filters are Gabor-like", ...). A part is judged from values paired over
seeds or draws: the claim's direction holds when the mean paired difference
exceeds ``MARGIN_SE`` (2) standard errors of that mean, fails when it is beyond
``MARGIN_SE`` standard errors the other way, and is a *tie* otherwise. A part
measured once (no standard error) is *undetermined*. A threshold the claim
states ("zeroing costs at most 1 dB") is a paired comparison with the constant.

The verdict, in exactly four words:

* **reproduced**: every part holds;
* **partly**: some parts hold, not all (the reason names which);
* **not reproduced**: no part holds and at least one fails;
* **inconclusive**: the measurement cannot decide: no part differs by the margin,
  or an instrument fails its own sanity check (a classifier below its stated
  clean accuracy, a control that does not behave as a control).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import mean, stdev

__all__ = ["MARGIN_SE", "OUTCOMES", "VERDICTS", "Part", "decide", "observed", "paired",
           "share", "threshold"]

VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive")
OUTCOMES = ("holds", "fails", "tie", "undetermined")
# A difference counts when it exceeds this many standard errors of the mean paired
# difference (the SE is the sample std of the differences over sqrt(n)).
MARGIN_SE = 2.0


@dataclass(frozen=True)
class Part:
    """One part of a claim: its name, its outcome (one of ``OUTCOMES``), the figures."""

    name: str
    outcome: str
    detail: str

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")

    def text(self) -> str:
        return f"{self.name} ({self.detail})" if self.detail else self.name


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def paired(name: str, ours: Sequence[float], other: Sequence[float], *,
           higher_is_better: bool = True, offset: float = 0.0, unit: str = "",
           fmt: str = "+.3g") -> Part:
    """Judge "ours beats other" from values paired over seeds or draws.

    The difference ``ours - other + offset`` (sign flipped when lower is better)
    is taken pair by pair; pairs with a missing or non-finite value are dropped.
    ``offset`` states a tolerance in the claim's favour (``offset=1`` with dB:
    "within 1 dB of"), or against it when negative.
    """
    if len(ours) != len(other):
        raise ValueError(f"{name}: {len(ours)} values paired with {len(other)}")
    sign = 1.0 if higher_is_better else -1.0
    diffs = [sign * (a - b) + offset for a, b in zip(ours, other, strict=True)
             if _finite(a) and _finite(b)]
    n = len(diffs)
    if n < 2:
        value = f"{format(diffs[0], fmt)}{unit}, " if n else ""
        return Part(name, "undetermined", f"{value}{n} paired value(s), no standard error")
    m, se = mean(diffs), stdev(diffs) / math.sqrt(n)
    detail = f"{format(m, fmt)} ± {se:.2g}{unit} paired SE, n={n}"
    if m > MARGIN_SE * se and m > 0:
        return Part(name, "holds", detail)
    if m < -MARGIN_SE * se and m < 0:
        return Part(name, "fails", detail)
    return Part(name, "tie", detail)


def threshold(name: str, values: Sequence[float], bound: float, *, above: bool = True,
              unit: str = "", fmt: str = "+.3g") -> Part:
    """Judge "the values are above ``bound``" (``above=False``: below) over seeds."""
    return paired(name, values, [bound] * len(values), higher_is_better=above, unit=unit,
                  fmt=fmt)


def observed(name: str, holds: bool, detail: str = "") -> Part:
    """An exact observation, not an estimate with sampling error (codes that are all
    exactly zero, a norm the model does not hold); ``detail`` says on what it was seen.
    Anything measured with noise goes through :func:`paired` instead."""
    return Part(name, "holds" if holds else "fails", detail)


def _names(parts: Iterable[Part]) -> str:
    return "; ".join(p.text() for p in parts)


def decide(parts: Sequence[Part], sanity: Iterable[tuple[bool, str]] = ()) -> tuple[str, str]:
    """The verdict and its reason from the claim's parts and the instruments' checks.

    ``sanity`` holds ``(passed, message)`` pairs: one failed check makes the claim
    inconclusive whatever its parts say, until the instrument is fixed.
    """
    if not parts:
        raise ValueError("a claim needs at least one part")
    failed = [msg for ok, msg in sanity if not ok]
    if failed:
        return "inconclusive", ("an instrument fails its sanity check (" + "; ".join(failed)
                                + "), so the parts are not judged: " + _names(parts))
    by = {o: [p for p in parts if p.outcome == o] for o in OUTCOMES}
    rest = [(o, by[o]) for o in ("fails", "tie", "undetermined") if by[o]]
    rest_txt = "; ".join(f"{o}: {_names(ps)}" for o, ps in rest)
    if len(by["holds"]) == len(parts):
        return "reproduced", "every part holds: " + _names(parts)
    if by["holds"]:
        return "partly", "holds: " + _names(by["holds"]) + "; " + rest_txt
    if by["fails"]:
        return "not reproduced", rest_txt
    return "inconclusive", ("no part is decided (a difference within 2 paired SE is a tie; "
                            "a single run has no SE): " + rest_txt)


def share(ours: float, paper: float) -> float:
    """Our compute as a percentage of the paper's (same units: data passes x steps)."""
    return 100.0 * ours / paper
