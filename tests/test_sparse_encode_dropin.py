"""skdeepsparse.sparse_encode as a drop-in for scikit-learn's, every row certified or warned.

The duality gaps here are computed independently (numpy, float64, from X, D
and the codes); for float32 codes the dual point may also come from
scikit-learn's LARS solution of the same float32 numbers (see
``_relative_gaps``).
"""

import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.exceptions import ConvergenceWarning

from skdeepsparse import sparse_encode


def _primal_dual(X, C, D, alpha, positive):
    """Per-row primal and dual values; the dual point is the residual scaled
    into the dual feasible set ``{|D theta| <= alpha}`` (``D theta <= alpha``
    with ``positive``)."""
    R = X - C @ D
    g = R @ D.T
    primal = 0.5 * (R * R).sum(1) + alpha * np.abs(C).sum(1)
    dual_norm = (np.maximum(g, 0) if positive else np.abs(g)).max(1)
    theta = R / np.maximum(dual_norm / alpha, 1.0)[:, None]
    return primal, (X * theta).sum(1) - 0.5 * (theta * theta).sum(1)


def _relative_gaps(X, C, D, alpha, positive):
    """Relative duality gaps of codes ``C`` for the problem ``(X, D)`` as given.

    Computed in float64. For float32 codes, the dual point of the rounded
    codes' own residual moves at first order with the rounding (the primal
    only at second order), so the best of it and the dual point of
    scikit-learn's float64 LARS solution of the same float32 numbers is used:
    any dual-feasible point bounds the optimum from below.
    """
    X, D, C64 = (np.asarray(a, dtype=np.float64) for a in (X, D, C))
    primal, dual = _primal_dual(X, C64, D, alpha, positive)
    if C.dtype == np.float32:
        ref = sk_sparse_encode(X, D, algorithm="lasso_lars", alpha=alpha, positive=positive)
        dual = np.maximum(dual, _primal_dual(X, ref, D, alpha, positive)[1])
    return (primal - dual) / primal


def _encode_counting(*args, **kwargs):
    """``sparse_encode`` and the number of rows its ConvergenceWarnings count."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        codes = sparse_encode(*args, **kwargs)
    counted = 0
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            counted += int(re.search(r"(\d+) of \d+ rows", str(w.message)).group(1))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return codes, counted


def _overcomplete(seed, n=40):
    rng = np.random.RandomState(seed)
    p = int(rng.choice([8, 12, 20]))
    k = int(p * rng.choice([1.5, 2.0, 3.0, 4.0]))
    D = rng.randn(k, p)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return rng, rng.randn(n, p), D


# ------------------------------------------------ (b) every row certified or warned
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("positive", [False, True])
def test_every_row_certified_or_counted(dtype, positive):
    """Random overcomplete problems (k/p 1.5-4), small alpha, cold and warm
    starts: every row with a gap above tol is counted in a ConvergenceWarning
    (with the default max_iter there are none)."""
    tol = 1e-4
    for seed in range(4):
        rng, X, D = _overcomplete(seed)
        X, D = X.astype(dtype), D.astype(dtype)
        for alpha in (0.1, 0.01, 0.001):
            sol = sparse_encode(X, D, alpha=alpha, positive=positive, tol=1e-8)
            starts = {
                "cold": None,
                "zeros": np.zeros_like(sol),
                # near the solution, as dict_learning passes the previous codes
                "near": sol * (1 + 0.05 * rng.randn(*sol.shape)),
                "other alpha": sparse_encode(X, D, alpha=3 * alpha, positive=positive),
            }
            for name, init in starts.items():
                codes, counted = _encode_counting(X, D, alpha=alpha, positive=positive,
                                                  init=init, tol=tol)
                assert codes.dtype == dtype
                if positive:
                    assert codes.min() >= 0
                gaps = _relative_gaps(X, codes, D, alpha, positive)
                n_bad = int((gaps > tol * (1 + 1e-6)).sum())
                assert n_bad <= counted, (seed, alpha, name, gaps.max())
                assert counted == 0, (seed, alpha, name)


def test_issue_warm_start_from_zeros_is_exact():
    """The issue's reproducer: init=zeros stopped at max_iter 18.5% above the optimum."""
    D = np.random.RandomState(0).randn(20, 8)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = np.random.RandomState(0).randn(100, 8)
    codes, counted = _encode_counting(X, D, alpha=0.1, init=np.zeros((100, 20)))
    assert counted == 0
    assert _relative_gaps(X, codes, D, 0.1, False).max() <= 1e-4
    ref = sk_sparse_encode(X, D, alpha=0.1, algorithm="lasso_lars")
    assert _primal_dual(X, codes, D, 0.1, False)[0].sum() <= (
        _primal_dual(X, ref, D, 0.1, False)[0].sum() * (1 + 1e-4))


def test_default_path_rows_that_change_sign_on_a_full_support():
    """The homotopy once banned an atom that had just left for its whole next
    segment, though its code changes sign there (a full-rank support): such
    rows ended with a 1-77% gap. Here row 58 was one (checked against
    scikit-learn's LARS-Lasso path, an independent implementation)."""
    rng = np.random.RandomState(0)
    D = rng.randn(15, 10)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.randn(100, 10)
    for alpha in (0.01, 0.001):
        codes, counted = _encode_counting(X, D, alpha=alpha)
        assert counted == 0
        assert _relative_gaps(X, codes, D, alpha, False).max() <= 1e-4
    ref = sk_sparse_encode(X[58:59], D, alpha=0.01, algorithm="lasso_lars")
    np.testing.assert_allclose(sparse_encode(X[58:59], D, alpha=0.01, tol=1e-10), ref,
                               atol=1e-8)


def test_warm_start_near_the_solution_is_exact():
    import torch

    from skdeepsparse.solvers import lasso_gram

    rng, X, D = _overcomplete(5, n=200)
    sol = sparse_encode(X, D, alpha=0.05, tol=1e-10)
    init = sol * (1 + 0.01 * rng.randn(*sol.shape))
    warm = sparse_encode(X, D, alpha=0.05, init=init, tol=1e-10)
    assert _relative_gaps(X, warm, D, 0.05, False).max() <= 1e-10 * (1 + 1e-3)
    # The GPU's solver (the active set, here on CPU) from that start: the
    # support and signs are right, so Newton steps only.
    Xt, Dt = torch.tensor(X), torch.tensor(D)
    C, n_iter = lasso_gram(Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1), 0.05, tol=1e-10,
                           init=torch.tensor(init), method="active_set")
    assert _relative_gaps(X, C.numpy(), D, 0.05, False).max() <= 1e-10 * (1 + 1e-3)
    assert n_iter <= 3


# ---------------------------------------------------------- (c) running out warns
@pytest.mark.parametrize("init", [None, "zeros"])
def test_max_iter_1_warns_and_counts(init):
    rng, X, D = _overcomplete(1, n=50)
    init = None if init is None else np.zeros((50, D.shape[0]))
    with pytest.warns(ConvergenceWarning, match=r"(\d+) of 50 rows are not certified"):
        codes = sparse_encode(X, D, alpha=0.01, max_iter=1, init=init)
    _, counted = _encode_counting(X, D, alpha=0.01, max_iter=1, init=init)
    assert (_relative_gaps(X, codes, D, 0.01, False) > 1e-4).sum() <= counted


def test_max_iter_0_returns_init_and_warns():
    rng, X, D = _overcomplete(2, n=10)
    init = rng.randn(10, D.shape[0])
    with pytest.warns(ConvergenceWarning, match="10 of 10 rows"):
        codes = sparse_encode(X, D, alpha=0.1, max_iter=0, init=init)
    np.testing.assert_array_equal(codes, init)
    sol = sparse_encode(X, D, alpha=0.1, tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(sparse_encode(X, D, alpha=0.1, max_iter=0, init=sol), sol)


# ------------------------------------------------------------- (1) the signature
def test_signature_is_sklearns_plus_keyword_only_extras():
    import inspect

    ours = inspect.signature(sparse_encode).parameters
    theirs = inspect.signature(sk_sparse_encode).parameters
    for name, param in theirs.items():
        assert name in ours, name
        assert ours[name].default == param.default, name
        assert ours[name].kind == param.kind, name
    extras = [n for n in ours if n not in theirs]
    assert extras == list(ours)[len(theirs):]  # after scikit-learn's
    assert all(ours[n].kind == inspect.Parameter.KEYWORD_ONLY for n in extras)


@pytest.mark.parametrize("algorithm", ["lars", "omp", "threshold"])
def test_other_algorithms_are_sklearns(algorithm):
    rng, X, D = _overcomplete(3, n=20)
    kw = dict(algorithm=algorithm, n_nonzero_coefs=3, alpha=0.2)
    np.testing.assert_array_equal(sparse_encode(X, D, **kw), sk_sparse_encode(X, D, **kw))
    with pytest.raises(ValueError, match="device and return_n_iter"):
        sparse_encode(X, D, return_n_iter=True, **kw)


@pytest.mark.parametrize("algorithm", ["lasso_lars", "lasso_cd"])
def test_lasso_algorithms_and_defaults_match_sklearn(algorithm):
    rng, X, D = _overcomplete(4, n=30)
    # alpha=None means 1, as in scikit-learn.
    for alpha in (None, 0.3):
        a = 1.0 if alpha is None else alpha
        ours = sparse_encode(X, D, algorithm=algorithm, alpha=alpha)
        ref = sk_sparse_encode(X, D, algorithm=algorithm, alpha=alpha, max_iter=10000)
        po, pr = _primal_dual(X, ours, D, a, False)[0], _primal_dual(X, ref, D, a, False)[0]
        assert po.sum() <= pr.sum() * (1 + 1e-4)
    # alpha=0 is least squares: scikit-learn's own answer.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # lasso_cd's "alpha=0" advice
        np.testing.assert_array_equal(sparse_encode(X, D, algorithm=algorithm, alpha=0),
                                      sk_sparse_encode(X, D, algorithm=algorithm, alpha=0))


def test_output_dtype_is_sklearns():
    rng, X, D = _overcomplete(0, n=6)
    for xd in (np.float32, np.float64):
        for dd in (np.float32, np.float64):
            ours = sparse_encode(X.astype(xd), D.astype(dd), alpha=0.1)
            ref = sk_sparse_encode(X.astype(xd), D.astype(dd), alpha=0.1)  # lasso_lars
            assert ours.dtype == ref.dtype, (xd, dd)


def test_read_only_input_raises_no_warning():
    rng, X, D = _overcomplete(0, n=12)
    init = sparse_encode(X, D, alpha=0.1)
    for a in (X, D, init):
        a.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparse_encode(X, D, alpha=0.1)
        sparse_encode(X, D, alpha=0.1, init=init)
        sparse_encode(X.astype(np.float32), D.astype(np.float32), alpha=0.1)


def test_gram_cov_n_jobs_check_input_verbose(capsys):
    import torch

    rng, X, D = _overcomplete(6, n=30)
    ref = sparse_encode(X, D, alpha=0.05, tol=1e-10)
    np.testing.assert_allclose(
        sparse_encode(X, D, alpha=0.05, tol=1e-10, gram=D @ D.T, cov=D @ X.T), ref, atol=1e-10)
    before = torch.get_num_threads()
    for n_jobs in (1, 2, -1):
        np.testing.assert_allclose(sparse_encode(X, D, alpha=0.05, tol=1e-10, n_jobs=n_jobs),
                                   ref, atol=1e-10)
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n_jobs"):
        sparse_encode(X, D, n_jobs=0)
    np.testing.assert_array_equal(
        sparse_encode(X, D, alpha=0.05, tol=1e-10, check_input=False), ref)
    sparse_encode(X, D, alpha=0.05, verbose=1)
    assert "30 rows" in capsys.readouterr().out
    with pytest.raises(ValueError, match="cov must have shape"):
        sparse_encode(X, D, cov=D @ X[:3].T)
    with pytest.raises(ValueError, match="gram must have shape"):
        sparse_encode(X, D, gram=np.eye(3))


# ----------------------------------------- (a) scikit-learn's own tests, with ours
_PLUGIN = textwrap.dedent('''
    """Routes scikit-learn's sparse_encode, and its estimators' calls, to ours."""
    import json
    import os

    import pytest
    import sklearn.decomposition
    import sklearn.decomposition._dict_learning as _dict_learning

    from skdeepsparse import sparse_encode as _ours

    _seen = []

    def _counting(*args, **kwargs):
        _seen.append(kwargs.get("algorithm", "lasso_lars"))
        return _ours(*args, **kwargs)

    # The test module imports the name from sklearn.decomposition; SparseCoder,
    # dict_learning and DictionaryLearning call the module-level name.
    sklearn.decomposition.sparse_encode = _counting
    _dict_learning.sparse_encode = _counting
    _tests = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(item):
        n = len(_seen)
        yield
        _tests[item.name] = sorted(set(_seen[n:]))

    def pytest_sessionfinish(session):
        with open(os.environ["DROPIN_REPORT"], "w") as f:
            json.dump(_tests, f)
''')

# Each takes 15-45 s on a busy 2-core machine, run in the slow test: three
# start joblib worker processes (n_jobs > 1 through scikit-learn's own omp;
# the first to start them pays for it), one fits online dictionaries in both
# dtypes.
_SLOW_SKLEARN_TESTS = ("test_sparse_coder_parallel_mmap", "test_sparse_encode_shapes_omp",
                       "test_dict_learning_reconstruction_parallel",
                       "test_dict_learning_online_numerical_consistency")


def _run_sklearn_suite(tmp_path, deselect):
    import json

    (tmp_path / "dropin_plugin.py").write_text(_PLUGIN)
    report = tmp_path / "report.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]),
        DROPIN_REPORT=str(report))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "dropin_plugin", "-p",
            "no:cacheprovider", "--pyargs", "sklearn.decomposition.tests.test_dict_learning"]
    if deselect:
        args += ["-k", " and ".join(f"not {t}" for t in deselect)]
    # cwd: outside this project, so that its pytest configuration does not apply.
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    used = json.loads(report.read_text())
    # Ours was really called, with the Lasso, in the tests that matter here.
    lasso = {t for t, algos in used.items() if {"lasso_lars", "lasso_cd"} & set(algos)}
    assert "test_max_iter" in lasso  # scikit-learn's ConvergenceWarning check
    assert any(t.startswith("test_sparse_encode_positivity") for t in lasso)
    assert any(t.startswith("test_dict_learning_numerical_consistency") for t in lasso)
    return used, lasso


def test_sklearn_dict_learning_tests_pass_with_ours(tmp_path):
    """scikit-learn's own test_dict_learning.py (shipped in its wheel), with
    ``sparse_encode`` replaced by ours in the test module and in
    ``sklearn.decomposition._dict_learning`` (so SparseCoder, dict_learning
    and DictionaryLearning call ours too); "lars", "omp" and "threshold" pass
    through our delegation to scikit-learn."""
    used, lasso = _run_sklearn_suite(tmp_path, _SLOW_SKLEARN_TESTS)
    assert len(lasso) > 100


@pytest.mark.slow
def test_sklearn_dict_learning_tests_pass_with_ours_all(tmp_path):
    used, lasso = _run_sklearn_suite(tmp_path, ())
    assert set(_SLOW_SKLEARN_TESTS) <= {t.split("[")[0] for t in used}


@pytest.mark.parametrize("positive", [False, True])
def test_gpu_solver_certifies_every_row(positive):
    """The GPU path's solver (the batched active set, the same tensor code on
    any device, in float64 as sparse_encode runs it; here on CPU), from zero
    and from warm starts, on overcomplete problems where feature-sign stalls
    (an atom in the span of the support): every row has its gap <= tol,
    recomputed in numpy, the stalled rows being finished by the homotopy."""
    import torch

    from skdeepsparse.solvers import _STALLED, _active_set, _lasso_gram_certified

    tol = 1e-4
    n_stalled = 0
    for seed in range(3):
        rng, X, D = _overcomplete(seed)
        Xt, Dt = torch.tensor(X), torch.tensor(D)
        b, G, xx = Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1)
        for alpha in (0.1, 0.01):
            sol = sparse_encode(X, D, alpha=3 * alpha, positive=positive)
            for init in (None, torch.zeros_like(b), torch.tensor(sol)):
                C, _, ok = _lasso_gram_certified(b, G, xx, alpha, positive=positive, tol=tol,
                                                 init=init, method="active_set")
                assert ok.all()
                assert (_relative_gaps(X, C.numpy(), D, alpha, positive)
                        <= tol * (1 + 1e-6)).all()
                _, _, status = _active_set(b, G, xx, alpha, positive=positive, max_iter=1000,
                                           tol=tol, init=init, working_set=4, n_add=4)
                n_stalled += int((status == _STALLED).sum())
    assert n_stalled > 0  # the hand-over to the homotopy was exercised
