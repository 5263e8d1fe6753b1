"""The benchmark's cache: one JSON file per finished unit, keyed by what produced it.

Why not :class:`joblib.Memory` (already a dependency)? It memoises a function
call keyed on a hash of its arguments and pickles the result. Here that would
hash the training and test arrays of every unit (tens of MB each) and the
estimator object, store opaque pickles, and discard every result when the
source of the cached function changes, even by a comment. The benchmark needs
less and something else: a unit's result is a small dict of numbers, stored
as JSON that a person (and the report) can read; the key is explicit and holds
everything that determines a result (the package's source, the model, class,
parameters, protocol, a fingerprint of the data, its dtype and the device
kind), so a changed model can never be served an old result;
a write is atomic (``os.replace``), so an interrupted run resumes cleanly. That
is the 60 lines below, so they stay.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

__all__ = ["Cache", "data_fingerprint", "params_repr", "source_hash", "unit_key"]

_SOURCE_HASH: str | None = None


def source_hash() -> str:
    """SHA-256 of every ``.py`` file of the installed ``skdeepsparse`` package.

    Any change to the library's code (a model, the core, the application)
    changes it, so no cached unit outlives the code that computed it.
    """
    global _SOURCE_HASH
    if _SOURCE_HASH is None:
        import skdeepsparse

        root = Path(skdeepsparse.__file__).resolve().parent
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode())
            h.update(b"\0")
            h.update(path.read_bytes())
        _SOURCE_HASH = h.hexdigest()
    return _SOURCE_HASH


def data_fingerprint(arrays) -> str:
    """SHA-256 of the arrays' shapes, dtypes and bytes (the data a unit saw)."""
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _device_kind(est) -> str:
    import torch

    device = est.get_params(deep=False).get("device", "cpu")
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        return torch.device(device).type
    except (RuntimeError, TypeError):
        return str(device)


def params_repr(est) -> dict:
    """The estimator's parameters as sorted strings (what the cache key hashes)."""
    return {k: repr(v) for k, v in sorted(est.get_params(deep=False).items())}


def unit_key(kind: str, dataset: str, model: str, est, protocol: dict,
             data: str = "") -> str:
    """A key that changes with anything that determines the unit's result.

    The package source (:func:`source_hash`), the estimator's class and
    parameters, the protocol, the data (``data``: a :func:`data_fingerprint`,
    which covers the dtype) and the kind of device the estimator runs on.
    """
    from skdeepsparse import __version__

    payload = json.dumps(
        {"kind": kind, "dataset": dataset, "model": model, "class": type(est).__name__,
         "params": params_repr(est), "protocol": protocol, "version": __version__,
         "source": source_hash(), "data": data, "device": _device_kind(est)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


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
