"""The bad-input matrix (issue 16): never a silent NaN/inf, never an internal error.

Every registered estimator (its "test" preset), every preprocessing
transformer, the loaders and the commands are given the same bad inputs: NaN,
inf, -inf, 1-D, 3-D, empty, strings, object arrays, sparse matrices, the wrong
width at ``transform``, codes of the wrong width at ``inverse_transform``,
extreme magnitudes (x1e30 in float32, x1e300 in float64) at fit and at
transform, bad parameter types and values, and misuse of the command line.

Each case is classified:

``clear``
    a ``ValueError`` / ``TypeError`` (``OSError`` for the loaders) raised by
    skdeepsparse or scikit-learn's validation, whose message names the
    parameter or the problem; for the commands: exit status 2, one
    ``... error: ...`` line per problem on stderr, no traceback, no output
    folder;
``warned``
    a documented ``UserWarning`` that names the problem, with finite output;
``fine``
    (extreme magnitudes only) a finite, usable output;
``silent``
    NaN/inf output with neither error nor warning;
``internal``
    an error from inside torch, numpy or scipy, an exception of another type,
    a message that does not name the problem, or a traceback from a command.

The test asserts each case's outcome is among those it allows. Run this file
as a script (``python tests/test_bad_input.py``) to print the counts.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

CLEAR, WARNED, FINE, SILENT, INTERNAL = "clear", "warned", "fine", "silent", "internal"
_STRICT = frozenset({CLEAR})
_LENIENT = frozenset({CLEAR, WARNED, FINE})
_INTERNAL_DIRS = tuple(f"{os.sep}{lib}{os.sep}" for lib in ("torch", "numpy", "scipy"))

N, F = 40, 16  # tiny data: 40 rows of 16 features (4x4 images for the image transformers)


@dataclass
class Case:
    id: str
    fn: object  # callable
    words: str  # regex that the error / warning must match (case-insensitive)
    allowed: frozenset = _STRICT
    kind: str = "array"  # "array" or "cli"
    errors: tuple = (ValueError, TypeError)
    marks: list = field(default_factory=list)


# ------------------------------------------------------------------ classification
def _raised_inside(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and any(d in last for d in _INTERNAL_DIRS)


def _arrays(out):
    if isinstance(out, np.ndarray):
        yield out
    elif isinstance(out, (tuple, list)):
        for o in out:
            yield from _arrays(o)
    elif isinstance(out, (float, np.floating)):
        yield np.asarray(out)


def _finite(out) -> bool:
    return all(np.all(np.isfinite(a)) for a in _arrays(out)
               if np.issubdtype(np.asarray(a).dtype, np.number))


def classify(case: Case) -> tuple[str, str]:
    """(outcome, detail) of running one case."""
    if case.kind == "cli":
        return _classify_cli(case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = case.fn()
        except case.errors as exc:
            msg = f"{type(exc).__name__}: {exc}"
            if _raised_inside(exc):
                return INTERNAL, "raised inside a library: " + msg
            if not re.search(case.words, str(exc), re.I | re.S):
                return INTERNAL, f"message does not match {case.words!r}: {msg}"
            return CLEAR, msg
        except Exception as exc:  # noqa: BLE001
            return INTERNAL, f"{type(exc).__name__}: {exc}"
    documented = [w for w in caught if issubclass(w.category, UserWarning)
                  and not issubclass(w.category, RuntimeWarning)
                  and re.search(case.words, str(w.message), re.I | re.S)]
    finite = _finite(out)
    if documented and finite:
        return WARNED, str(documented[0].message)
    if finite:
        return FINE, "finite output, no error"
    return SILENT, "non-finite output without error or warning"


def _classify_cli(case: Case) -> tuple[str, str]:
    from skdeepsparse.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        (Path(tmp) / "file").write_text("not a folder")
        argv = [a.replace("{out}", str(out)).replace("{tmp}", tmp) for a in case.fn]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
            except Exception as exc:  # noqa: BLE001
                return INTERNAL, f"traceback: {type(exc).__name__}: {exc}"
        text = err.getvalue()
        lines = text.strip().splitlines()
        if code != 2:
            return INTERNAL, f"exit status {code!r}: {text[-300:]}"
        if "Traceback" in text or not lines or not all(" error: " in ln for ln in lines):
            return INTERNAL, f"not one error line per problem: {text[-300:]}"
        if out.exists():
            return INTERNAL, f"left output behind: {sorted(p.name for p in out.rglob('*'))}"
        if not re.search(case.words, text, re.I):
            return INTERNAL, f"message does not match {case.words!r}: {text}"
        return CLEAR, text.strip()


# ------------------------------------------------------------------------ data
def _data(dtype=np.float64):
    return np.random.RandomState(0).rand(N, F).astype(dtype)


def _with(X, value):
    X = X.copy()
    X[1, 2] = value
    return X


def _object_array():
    X = _data().astype(object)
    X[0, 0] = "a"
    return X


# (id, X or a callable making X, regex of the problem): invalid everywhere
def _bad_arrays(width=F):
    X = _data()[:, :width]
    return [
        ("nan", _with(X, np.nan), r"nan"),
        ("inf", _with(X, np.inf), r"inf"),
        ("-inf", _with(X, -np.inf), r"inf"),
        ("1d", X[0], r"1d|2d|reshape|dimension"),
        ("3d", X.reshape(N, 1, width), r"3|2d|dim"),
        ("empty", X[:0], r"0 sample|empty|minimum"),
        ("no-features", X[:, :0], r"0 feature|empty|minimum"),
        ("strings", np.full((N, width), "a"), r"string|convert|float|dtype"),
        ("object", _object_array()[:, :width], r"string|convert|float|object"),
        ("sparse", sp.csr_matrix(X), r"sparse|dense"),
    ]


_MAGNITUDES = [("x1e30-float32", 1e30, np.float32), ("x1e300-float64", 1e300, np.float64)]
_SCALE_WORDS = r"scale|large|overflow|rescale|magnitude|finite"


# ------------------------------------------------------------------ estimators
_FITTED: dict = {}


def _estimator_names():
    from skdeepsparse import registry

    return list(registry.ESTIMATORS)


def _new(name, **params):
    from skdeepsparse import registry

    return registry.make(name, "test", **params)


def _fitted(name):
    if name not in _FITTED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITTED[name] = _new(name).fit(_data())
    return _FITTED[name]


def _codes(name, dtype=np.float64):
    est = _fitted(name)
    return np.asarray(est.transform(_data(dtype)))


_BAD_PARAMS = [
    ("n_components", True), ("n_components", 0), ("n_components", -3), ("n_components", 2.5),
    ("n_components", "4"), ("n_components", None),
    ("device", "meta"), ("device", "xla"), ("device", "tpu"), ("device", 3),
    ("batch_size", 0), ("batch_size", True), ("batch_size", -1), ("batch_size", 1.5),
    ("max_epochs", 0), ("max_epochs", "2"), ("learning_rate", -1.0),
    ("learning_rate", float("nan")), ("random_state", "seed"), ("tol", -1.0),
]


def _estimator_cases():
    cases = []
    for name in _estimator_names():
        def fit(X, name=name):
            return _new(name).fit(X)

        for cid, X, words in _bad_arrays():
            cases.append(Case(f"{name}-fit-{cid}", lambda X=X, fit=fit: fit(X), words))
            cases.append(Case(f"{name}-transform-{cid}",
                              lambda X=X, name=name: _fitted(name).transform(X), words))
        for cid, X in (("narrow", _data()[:, :F - 3]), ("wide", np.hstack([_data()] * 2))):
            for method in ("transform", "score"):
                cases.append(Case(f"{name}-{method}-{cid}",
                                  lambda X=X, m=method, name=name: getattr(_fitted(name), m)(X),
                                  r"features"))
        for cid, big, dtype in _MAGNITUDES:
            def big_fit(big=big, dtype=dtype, name=name):
                Xb = (_data() * big).astype(dtype)
                est = _new(name).fit(Xb)
                Z = est.transform(Xb)
                return Z, est.inverse_transform(Z), est.score(Xb)

            cases.append(Case(f"{name}-fit-{cid}", big_fit, _SCALE_WORDS, _LENIENT))
            for method in ("transform", "score"):
                cases.append(Case(
                    f"{name}-{method}-{cid}",
                    lambda big=big, dtype=dtype, m=method, name=name:
                        getattr(_fitted(name), m)((_data() * big).astype(dtype)),
                    _SCALE_WORDS, _LENIENT))
            cases.append(Case(
                f"{name}-inverse_transform-codes-{cid}",
                lambda big=big, dtype=dtype, name=name:
                    _fitted(name).inverse_transform((_codes(name, dtype) * big).astype(dtype)),
                _SCALE_WORDS, _LENIENT))
        cases += [
            Case(f"{name}-inverse_transform-codes-narrow",
                 lambda name=name: _fitted(name).inverse_transform(_codes(name)[:, :-1]),
                 r"features|components"),
            Case(f"{name}-inverse_transform-codes-wide",
                 lambda name=name: _fitted(name).inverse_transform(
                     np.hstack([_codes(name), _codes(name)])),
                 r"features|components"),
            Case(f"{name}-inverse_transform-codes-nan",
                 lambda name=name: _fitted(name).inverse_transform(_with(_codes(name), np.nan)),
                 r"nan"),
            Case(f"{name}-inverse_transform-codes-1d",
                 lambda name=name: _fitted(name).inverse_transform(_codes(name)[0]),
                 r"1d|2d|reshape"),
            Case(f"{name}-inverse_transform-codes-sparse",
                 lambda name=name: _fitted(name).inverse_transform(sp.csr_matrix(_codes(name))),
                 r"sparse|dense"),
        ]
        for param, value in _BAD_PARAMS:
            if param not in _new(name).get_params():
                continue
            cases.append(Case(f"{name}-param-{param}={value!r}",
                              lambda p=param, v=value, name=name:
                                  _new(name, **{p: v}).fit(_data()),
                              re.escape(param)))
    return cases


# ---------------------------------------------------------------- sparse_encode
def _sparse_encode_cases():
    from skdeepsparse import sparse_encode

    D = np.random.RandomState(1).randn(4, F)

    def enc(X, dictionary=D, **kw):
        return sparse_encode(X, dictionary, **{"alpha": 0.1, "max_iter": 50, **kw})

    cases = [Case(f"sparse_encode-{cid}", lambda X=X: enc(X), words)
             for cid, X, words in _bad_arrays()]
    cases += [
        Case("sparse_encode-negative-strides", lambda: enc(_data()[::-1]), r"$^",
             frozenset({FINE})),
        Case("sparse_encode-dictionary-width", lambda: enc(_data(), D[:, :-1]),
             r"features|dictionary|width|shape"),
        Case("sparse_encode-dictionary-nan", lambda: enc(_data(), _with(D, np.nan)), r"nan"),
        Case("sparse_encode-dictionary-1d", lambda: enc(_data(), D[0]), r"1d|2d|reshape"),
    ]
    for cid, big, dtype in _MAGNITUDES:
        cases.append(Case(f"sparse_encode-{cid}",
                          lambda big=big, dtype=dtype: enc((_data() * big).astype(dtype),
                                                           D.astype(dtype)),
                          _SCALE_WORDS, _LENIENT))
    # max_iter=0 is valid, as in scikit-learn's sparse_encode (issue 27).
    for param, value in (("alpha", -1.0), ("alpha", "x"), ("max_iter", -1), ("max_iter", True),
                         ("tol", -1.0), ("device", "meta"), ("device", "tpu"),
                         ("batch_size", 0), ("batch_size", True), ("positive", "yes")):
        cases.append(Case(f"sparse_encode-param-{param}={value!r}",
                          lambda p=param, v=value: enc(_data(), **{p: v}), re.escape(param)))
    return cases


# ----------------------------------------------------------- row transformers
def _row_transformers():
    from skdeepsparse.preprocessing import LocalContrastNormalizer, PatchNormalizer, ZCAWhitening

    return {
        "ZCAWhitening": lambda **kw: ZCAWhitening(**kw),
        "PatchNormalizer-global": lambda **kw: PatchNormalizer("global", **kw),
        "PatchNormalizer-feature": lambda **kw: PatchNormalizer("feature", **kw),
        "PatchNormalizer-sample": lambda **kw: PatchNormalizer("sample", **kw),
        "LocalContrastNormalizer": lambda **kw: LocalContrastNormalizer(
            (4, 4), **{"kernel_size": 3, "sigma": 1.0, "mode": "same", **kw}),
    }


def _transformer_cases():
    from skdeepsparse.preprocessing import PatchNormalizer, ZCAWhitening

    cases = []
    for name, make in _row_transformers().items():
        fitted = make().fit(_data())
        invertible = name.startswith("ZCA") or name in ("PatchNormalizer-global",
                                                         "PatchNormalizer-feature")
        for cid, X, words in _bad_arrays():
            cases.append(Case(f"{name}-fit-{cid}", lambda X=X, make=make: make().fit(X), words))
            cases.append(Case(f"{name}-transform-{cid}",
                              lambda X=X, est=fitted: est.transform(X), words))
            if invertible:
                cases.append(Case(f"{name}-inverse_transform-{cid}",
                                  lambda X=X, est=fitted: est.inverse_transform(X), words))
        for cid, X in (("narrow", _data()[:, :F - 3]), ("wide", np.hstack([_data()] * 2))):
            cases.append(Case(f"{name}-transform-{cid}",
                              lambda X=X, est=fitted: est.transform(X), r"features"))
            if invertible:
                cases.append(Case(f"{name}-inverse_transform-{cid}",
                                  lambda X=X, est=fitted: est.inverse_transform(X),
                                  r"features"))
        for cid, big, dtype in _MAGNITUDES:
            cases.append(Case(f"{name}-fit-{cid}",
                              lambda big=big, dtype=dtype, make=make:
                                  make().fit_transform((_data() * big).astype(dtype)),
                              _SCALE_WORDS, _LENIENT))
            cases.append(Case(f"{name}-transform-{cid}",
                              lambda big=big, dtype=dtype, est=fitted:
                                  est.transform((_data() * big).astype(dtype)),
                              _SCALE_WORDS, _LENIENT))
            if invertible:
                cases.append(Case(f"{name}-inverse_transform-{cid}",
                                  lambda big=big, dtype=dtype, est=fitted:
                                      est.inverse_transform((_data() * big).astype(dtype)),
                                  _SCALE_WORDS, _LENIENT))
    const = np.full((N, F), 0.7)
    rank3 = np.random.RandomState(0).randn(N, 3) @ np.random.RandomState(1).randn(3, F)
    cases += [
        # StandardScaler's rule: no variance -> scale 1 (documented), with a warning when
        # all the data are constant; transform of other data stays finite (was 1e8 x).
        Case("PatchNormalizer-global-constant-fit",
             lambda: PatchNormalizer("global").fit(const).transform(_data()),
             r"constant", frozenset({CLEAR, WARNED})),
        Case("PatchNormalizer-feature-constant-fit",
             lambda: PatchNormalizer("feature").fit(const).transform(_data()),
             r"constant", frozenset({CLEAR, WARNED})),
        Case("ZCAWhitening-epsilon=0-rank-deficient",
             lambda: _bounded(ZCAWhitening(epsilon=0.0).fit(rank3).transform(rank3 + 1.0)),
             r"epsilon", frozenset({CLEAR, WARNED})),
        Case("ZCAWhitening-epsilon=0-constant",
             lambda: _bounded(ZCAWhitening(epsilon=0.0).fit(const).transform(_data())),
             r"epsilon", frozenset({CLEAR, WARNED})),
    ]
    bad_params = [
        ("ZCAWhitening", "epsilon", -1.0), ("ZCAWhitening", "epsilon", "small"),
        ("ZCAWhitening", "center", "yes"),
        ("PatchNormalizer-global", "eps", 0.0), ("PatchNormalizer-global", "eps", -1e-8),
        ("PatchNormalizer-global", "eps", float("nan")),
        ("PatchNormalizer-sample", "eps", 0), ("PatchNormalizer-feature", "scale", "no"),
        ("LocalContrastNormalizer", "kernel_size", 0),
        ("LocalContrastNormalizer", "sigma", 0.0),
        ("LocalContrastNormalizer", "image_shape", (5, 5)),
        ("LocalContrastNormalizer", "image_shape", "4x4"),
        ("LocalContrastNormalizer", "mode", "full"),
        ("LocalContrastNormalizer", "min_std", -1.0),
    ]
    makers = _row_transformers()
    for name, param, value in bad_params:
        cases.append(Case(f"{name}-param-{param}={value!r}",
                          lambda name=name, p=param, v=value: makers[name](**{p: v}).fit(_data()),
                          re.escape(param)))
    cases.append(Case("PatchNormalizer-method=bogus",
                      lambda: PatchNormalizer("bogus").fit(_data()), r"method"))
    cases.append(Case("PatchNormalizer-sample-inverse",
                      lambda: PatchNormalizer("sample").fit(_data()).inverse_transform(_data()),
                      r"cannot be inverted"))
    return cases


def _bounded(out, limit=1e6):
    """Turn amplification by 1/sqrt(0) (values of 1e141) into an inf the classifier sees."""
    out = np.asarray(out, dtype=np.float64)
    return np.where(np.abs(out) > limit, np.inf, out)


# ------------------------------------------------------------ image transformers
def _image_cases():
    from skdeepsparse.preprocessing import ImagePatches, OlshausenWhitening, whiten_images

    imgs = np.random.RandomState(0).rand(3, 12, 12)
    patches = lambda X, **kw: ImagePatches(4, n_patches=5, random_state=0, **kw).transform(X)  # noqa: E731
    olsh = lambda X, **kw: OlshausenWhitening(**kw).transform(X)  # noqa: E731
    bad = [
        ("nan", _with(imgs.reshape(3, -1), np.nan).reshape(3, 12, 12), r"nan"),
        ("inf", _with(imgs.reshape(3, -1), np.inf).reshape(3, 12, 12), r"inf"),
        ("1d", imgs[0, 0], r"2-d|3-d|shape"),
        ("4d", imgs[None], r"2-d|3-d|shape"),
        ("empty-list", [], r"empty"),
        ("empty-image", [np.zeros((0, 12))], r"empty|smaller"),
        ("strings", np.full((3, 12, 12), "a"), r"numeric"),
        ("object", [np.array([["a"] * 12] * 12, dtype=object)], r"numeric"),
        ("2d-without-image_shape", imgs.reshape(3, -1), r"image_shape"),
    ]
    cases = []
    for cid, X, words in bad:
        cases.append(Case(f"ImagePatches-{cid}", lambda X=X: patches(X), words))
        cases.append(Case(f"OlshausenWhitening-{cid}", lambda X=X: olsh(X), words))
    for cid, big, dtype in _MAGNITUDES:
        Xb = (imgs * big).astype(dtype)
        cases.append(Case(f"ImagePatches-{cid}", lambda Xb=Xb: patches(Xb), _SCALE_WORDS,
                          _LENIENT))
        for normalize in (True, False):
            cases.append(Case(f"OlshausenWhitening-normalize={normalize}-{cid}",
                              lambda Xb=Xb, n=normalize: olsh(Xb, normalize=n),
                              _SCALE_WORDS, _LENIENT))
    cases += [
        Case("ImagePatches-patch-too-big", lambda: ImagePatches(20).transform(imgs), r"smaller"),
        Case("ImagePatches-param-patch_size=0", lambda: ImagePatches(0).transform(imgs),
             r"patch_size"),
        Case("ImagePatches-param-method", lambda: ImagePatches(method="tiles").transform(imgs),
             r"method"),
        Case("ImagePatches-image_shape-mismatch",
             lambda: patches(imgs.reshape(3, -1), image_shape=(5, 5)), r"image_shape|needs"),
        Case("OlshausenWhitening-param-f0=0", lambda: olsh(imgs, f0=0.0), r"f0"),
        Case("whiten_images-param-pad=-1", lambda: whiten_images(imgs, pad=-1), r"pad"),
    ]
    return cases


# ----------------------------------------------------------------------- loaders
def _loader_cases():
    from skdeepsparse.datasets import load_fashion_mnist, load_mnist, load_natural_image_patches

    missing = Path(tempfile.gettempdir()) / "skdeepsparse-no-such-data-home"

    def corrupt(kind):
        home = Path(tempfile.mkdtemp())
        (home / "mnist").mkdir()
        for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
            (home / "mnist" / f).write_bytes(b"not a gzip file" if kind == "garbage" else b"")
        return home

    errors = (ValueError, TypeError, OSError)
    cases = []
    for loader in (load_mnist, load_fashion_mnist):
        lname = loader.__name__
        cases += [
            Case(f"{lname}-missing-folder",
                 lambda ld=loader: ld("train", data_home=missing), r"mnist",
                 errors=errors),
            Case(f"{lname}-subset", lambda ld=loader: ld("validation", data_home=missing),
                 r"subset", errors=errors),
        ]
    for kind in ("garbage", "empty"):
        cases.append(Case(f"load_mnist-{kind}-files",
                          lambda kind=kind: load_mnist("train", data_home=corrupt(kind)),
                          r"train-images-idx3-ubyte\.gz", errors=errors))
    bad = [("patch_size", 0), ("n_patches", 0), ("n_patches", "10"), ("source", "web"),
           ("normalize", "l2"), ("pixel_std", 0.0), ("f0", -1.0)]
    for param, value in bad:
        cases.append(Case(f"load_natural_image_patches-{param}={value!r}",
                          lambda p=param, v=value: load_natural_image_patches(
                              **{"n_patches": 10, p: v, "data_home": missing}),
                          re.escape(param) + r"|smaller", errors=errors))
    return cases


# ---------------------------------------------------------------------- commands
_NOWHERE = "{tmp}/no-data-here"


def _cli_cases():
    bench = ["benchmark", "--quick", "--no-progress", "--output-dir", "{out}"]
    cases = [
        (["demo", "--seed", "-1", "--output-dir", "{out}"], r"seed"),
        (["demo", "--seed", "x", "--output-dir", "{out}"], r"--seed"),
        (["demo", "--output-dir", "{tmp}/file/sub"], r"output_dir"),
        (["demo", "--bogus"], r"unrecognized"),
        ([], r"command"),
        (["fit"], r"invalid choice"),
        ([*bench, "--data-home", _NOWHERE], r"mnist"),
        ([*bench, "--data-home", _NOWHERE, "--device", "tpu"], r"device='tpu'"),
        ([*bench, "--data-home", _NOWHERE, "--device", "meta"], r"device='meta'"),
        ([*bench, "--data-home", _NOWHERE, "--device", "cuda:99"], r"device='cuda:99'"),
        ([*bench, "--data-home", _NOWHERE, "--models", "LDA"], r"unknown model"),
        ([*bench, "--data-home", _NOWHERE, "--datasets", "cifar10"], r"invalid choice"),
        ([*bench, "--data-home", _NOWHERE, "--fit-repeats", "0"], r"--fit-repeats"),
        ([*bench, "--data-home", _NOWHERE, "--transform-repeats", "-1"],
         r"--transform-repeats"),
        ([*bench, "--full"], r"not allowed with"),
        (["benchmark", "--no-progress", "--output-dir", "{tmp}/file",
          "--data-home", _NOWHERE], r"output_dir"),
    ]
    out = []
    for argv, words in cases:
        out.append(Case("cli-" + " ".join(a for a in argv if "{" not in a), argv, words,
                        kind="cli"))
    return out


def all_cases() -> list[Case]:
    cases = (_estimator_cases() + _sparse_encode_cases() + _transformer_cases()
             + _image_cases() + _loader_cases() + _cli_cases())
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    return cases


# ------------------------------------------------------------------------- tests
# Cases known to fail, with the reason, as strict xfails (so a fix is noticed);
# none today.
_KNOWN: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No download is attempted (the mirrors 'refuse' at once)."""
    import skdeepsparse.datasets as ds

    def refuse(*args, **kwargs):
        raise OSError("no network in the tests")

    monkeypatch.setattr(ds, "_urlopen", refuse, raising=False)


def _params():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = all_cases()
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=_KNOWN[c.id])]
                         if c.id in _KNOWN else []) for c in cases]


@pytest.mark.parametrize("case", _params())
def test_bad_input(case):
    outcome, detail = classify(case)
    assert outcome in case.allowed, f"{case.id}: {outcome}: {detail}"


def test_matrix_covers_every_registered_estimator_and_transformer():
    from skdeepsparse import registry

    ids = [c.id for c in all_cases()]
    for name in registry.ESTIMATORS:
        assert sum(i.startswith(name + "-") for i in ids) >= 40, name
    for name in (*_row_transformers(), "sparse_encode", "ImagePatches", "OlshausenWhitening",
                 "load_mnist", "load_fashion_mnist", "load_natural_image_patches", "cli"):
        assert any(i.startswith(name + "-") for i in ids), name


# ------------------------------------------------------------------------ script
def _tally() -> int:
    import skdeepsparse.datasets as ds

    ds._urlopen = lambda *a, **k: (_ for _ in ()).throw(OSError("offline"))
    counts: dict[str, int] = {}
    bad = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = all_cases()
    for case in cases:
        try:
            outcome, detail = classify(case)
        except BaseException as exc:  # noqa: BLE001 - a case that crashes the harness
            outcome, detail = INTERNAL, f"{type(exc).__name__}: {exc}"
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome not in case.allowed:
            bad.append((case.id, outcome, detail[:200]))
    print(f"{len(cases)} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"{len(bad)} outside what the case allows:")
    for row in bad:
        print("  ", *row)
    return 0


if __name__ == "__main__":
    sys.exit(_tally())
