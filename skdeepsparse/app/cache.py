"""The benchmark's cache: one JSON file per finished unit, keyed by what produced it.

Why not :class:`joblib.Memory` (already a dependency)? It memoises a function
call keyed on a hash of its arguments and pickles the result. Here that would
hash the training and test arrays of every unit (tens of MB each) and the
estimator object, store opaque pickles, and discard every result when the
source of the cached function changes, even by a comment. The benchmark needs
less and something else: a unit's result is a small dict of numbers, stored
as JSON that a person (and the report) can read; the key is explicit (model,
class, parameters, protocol, package version), so a refactor of the runner
keeps hours of finished units while a change of what produced them does not;
a write is atomic (``os.replace``), so an interrupted run resumes cleanly. That
is the 60 lines below, so they stay.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

__all__ = ["Cache", "params_repr", "unit_key"]


def params_repr(est) -> dict:
    """The estimator's parameters as sorted strings (what the cache key hashes)."""
    return {k: repr(v) for k, v in sorted(est.get_params(deep=False).items())}


def unit_key(kind: str, dataset: str, model: str, est, protocol: dict) -> str:
    """A key that changes with the estimator, its parameters, the protocol and the version."""
    from skdeepsparse import __version__

    payload = json.dumps(
        {"kind": kind, "dataset": dataset, "model": model, "class": type(est).__name__,
         "params": params_repr(est), "protocol": protocol, "version": __version__},
        sort_keys=True,
    )
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


class Cache:
    """One JSON file per finished unit; written atomically, so a kill never leaves half a file.

    Parameters
    ----------
    root : path or None
        The cache folder (created); None disables the cache.
    """

    def __init__(self, root: Path | None):
        self.root = root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored result, or None (absent, disabled or unreadable)."""
        if self.root is None or not self._path(key).exists():
            return None
        try:
            return json.loads(self._path(key).read_text())
        except json.JSONDecodeError:  # a foreign or damaged file: recompute
            return None

    def put(self, key: str, result: dict) -> None:
        """Store ``result`` under ``key`` (nothing when disabled)."""
        if self.root is None:
            return
        tmp = self._path(key).with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, self._path(key))
