"""skdeepsparse.sparse_encode against scikit-learn's sparse_encode."""

import warnings

import numpy as np
import pytest
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.exceptions import ConvergenceWarning

from skdeepsparse import sparse_encode
from skdeepsparse.solvers import fista, lasso_objective, soft_threshold


def _objective(X, C, D, alpha):
    r = X - C @ D
    return float((0.5 * (r * r).sum(1) + alpha * np.abs(C).sum(1)).sum())


@pytest.fixture(scope="module")
def mnist_problem(mnist_small):
    """Realistic atoms: unit-norm MNIST training images (coherent, hard)."""
    X, _, Xt, _ = mnist_small
    rng = np.random.RandomState(0)
    D = X[rng.choice(len(X), 64, replace=False)].astype(np.float64)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return Xt[:300].astype(np.float64), D


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_reaches_sklearn_objective(mnist_problem, alpha, positive):
    X, D = mnist_problem
    ours = sparse_encode(X, D, alpha=alpha, positive=positive)
    ref = sk_sparse_encode(X, D, alpha=alpha, algorithm="lasso_cd", positive=positive,
                           max_iter=5000)
    o, r = _objective(X, ours, D, alpha), _objective(X, ref, D, alpha)
    assert (o - r) / r <= 1e-4
    if positive:
        assert ours.min() >= 0
    assert ours.shape == ref.shape


def test_float32_kept_and_accurate(mnist_problem):
    X, D = mnist_problem
    ours = sparse_encode(X.astype(np.float32), D.astype(np.float32), alpha=0.5)
    assert ours.dtype == np.float32
    ref = sk_sparse_encode(X, D, alpha=0.5, algorithm="lasso_lars")
    o, r = _objective(X, ours.astype(np.float64), D, 0.5), _objective(X, ref, D, 0.5)
    assert (o - r) / r <= 1e-4


def test_random_dictionary_and_warm_start():
    rng = np.random.RandomState(1)
    D = rng.randn(40, 30)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.randn(50, 30)
    ref = sk_sparse_encode(X, D, alpha=0.2, algorithm="lasso_cd", max_iter=10000)
    ours = sparse_encode(X, D, alpha=0.2, tol=1e-8)
    # Our solution is optimal (KKT) and at least as good as scikit-learn's, whose
    # coordinate descent stops at a looser tolerance in older releases (1.6).
    assert _kkt_violation(X, ours, D, 0.2, False) < 1e-5
    assert _objective(X, ours, D, 0.2) <= _objective(X, ref, D, 0.2) * (1 + 1e-9)
    warm, n_iter = sparse_encode(X, D, alpha=0.2, init=ours, return_n_iter=True, tol=1e-8)
    np.testing.assert_allclose(warm, ours, atol=1e-6)
    assert n_iter <= 10


def test_large_alpha_gives_zero_codes():
    rng = np.random.RandomState(0)
    D = rng.randn(5, 8)
    X = rng.randn(4, 8)
    alpha = np.abs(X @ D.T).max() * 1.01
    np.testing.assert_array_equal(sparse_encode(X, D, alpha=alpha), 0)


def test_input_errors():
    X, D = np.ones((3, 4)), np.ones((2, 5))
    with pytest.raises(ValueError, match="n_components, n_features"):
        sparse_encode(X, D)
    with pytest.raises(ValueError, match="'alpha' parameter"):
        sparse_encode(X, np.ones((2, 4)), alpha=-1)
    with pytest.raises(ValueError, match="init must have shape"):
        sparse_encode(X, np.ones((2, 4)), init=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        sparse_encode(np.full((3, 4), np.nan), np.ones((2, 4)))


def test_generic_fista_solves_lasso():
    import torch

    rng = np.random.RandomState(0)
    D = torch.tensor(rng.randn(10, 20))
    X = torch.tensor(rng.randn(6, 20))
    G, b = D @ D.T, X @ D.T
    L = float(torch.linalg.eigvalsh(G)[-1])
    z, _ = fista(lambda c: c @ G - b, torch.zeros(6, 10, dtype=torch.float64), step=1 / L,
                 alpha=0.5, max_iter=5000, tol=1e-12)
    ref = sk_sparse_encode(X.numpy(), D.numpy(), alpha=0.5, algorithm="lasso_cd",
                           max_iter=10000)
    assert float(lasso_objective(X, z, D, 0.5).sum()) <= _objective(
        X.numpy(), ref, D.numpy(), 0.5) * (1 + 1e-6)
    assert torch.equal(soft_threshold(torch.tensor([-2.0, 0.5, 3.0]), 1.0, positive=True),
                       torch.tensor([0.0, 0.0, 2.0]))


def test_negative_strides_are_accepted():
    rng = np.random.RandomState(0)
    X, D = rng.rand(20, 10), rng.rand(5, 10)
    np.testing.assert_allclose(sparse_encode(X[::-1], D[::-1], alpha=0.1),
                               sparse_encode(X[::-1].copy(), D[::-1].copy(), alpha=0.1))


def _kkt_violation(X, C, D, alpha, positive):
    """Largest violation of the Lasso optimality conditions, relative to alpha.

    ``c`` minimises ``0.5||x - cD||^2 + alpha||c||_1`` iff, with ``g = D(x - cD)``:
    ``g_j = alpha * sign(c_j)`` where ``c_j != 0`` and ``|g_j| <= alpha`` elsewhere
    (``g_j <= alpha`` and ``c_j >= 0`` with ``positive``).
    """
    g = (X - C @ D) @ D.T
    on = C != 0
    v_on = np.abs(g - alpha * np.sign(C))[on]
    v_off = (g if positive else np.abs(g))[~on] - alpha
    worst = max(v_on.max(initial=0.0), v_off.max(initial=0.0))
    if positive:
        worst = max(worst, -C.min(initial=0.0))
    return worst / alpha


def _primal_dual(X, C, D, alpha, positive):
    """Per-row primal value and dual value (the residual scaled into the dual
    feasible set), computed directly from ``X``, ``C`` and ``D``."""
    R = X - C @ D
    g = R @ D.T
    primal = 0.5 * (R * R).sum(1) + alpha * np.abs(C).sum(1)
    dn = (np.maximum(g, 0) if positive else np.abs(g)).max(1)
    theta = R / np.maximum(dn / alpha, 1.0)[:, None]
    return primal, (X * theta).sum(1) - 0.5 * (theta * theta).sum(1)


def _coherent_dictionary(rng, k=48, p=30, pairs=12, cos=0.995):
    """Unit atoms with ``pairs`` near-duplicates (cosine ``cos``): the hard case."""
    D = rng.randn(k, p)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    for i in range(pairs):
        e = rng.randn(p)
        e -= (e @ D[i]) * D[i]
        e /= np.linalg.norm(e)
        D[k - 1 - i] = cos * D[i] + np.sqrt(1 - cos**2) * e
    return D


@pytest.mark.parametrize("method", ["homotopy", "active_set"])
@pytest.mark.parametrize("positive", [False, True])
def test_lasso_gram_satisfies_kkt_on_mnist_atoms(mnist_problem, positive, method):
    """Independent optimality check of both solvers (no reference run)."""
    import torch

    from skdeepsparse.solvers import lasso_gram

    X, D = mnist_problem
    Xt, Dt = torch.tensor(X), torch.tensor(D)
    for alpha in (0.1, 1.0, 5.0):
        C, _ = lasso_gram(Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1), alpha, positive=positive,
                          tol=1e-12, method=method)
        assert _kkt_violation(X, C.numpy(), D, alpha, positive) < 1e-7


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("single_path", [False, True])
def test_homotopy_kernel_on_large_supports(positive, single_path):
    """Supports beyond the kernel's first 64 slots (its work arrays grow), tied
    and duplicated atoms: every row is KKT-optimal and its reported gap is the
    gap recomputed from X and D."""
    from skdeepsparse._homotopy import lasso_homotopy

    rng = np.random.RandomState(0)
    D = rng.randn(200, 150)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    D[100] = D[0]  # an exact duplicate: it can never join beside its twin
    X = rng.randn(40, 150)
    alpha = 0.05
    codes, gaps, primals, steps = lasso_homotopy(
        X @ D.T, D @ D.T, (X * X).sum(1), alpha, positive=positive, single_path=single_path,
        n_threads=2)
    assert (codes != 0).sum(1).max() > 64
    assert _kkt_violation(X, codes, D, alpha, positive) < (1e-4 if single_path else 1e-8)
    primal, dual = _primal_dual(X, codes, D, alpha, positive)
    np.testing.assert_allclose(primals, primal, rtol=1e-9)
    np.testing.assert_allclose(gaps, primal - dual, rtol=1e-6, atol=1e-9 * primal.max())
    assert (steps >= (codes != 0).sum(1)).all()


@pytest.mark.parametrize("positive", [False, True])
def test_float32_products_give_an_upper_bound_of_the_exact_gap(positive):
    """Float32 data: ``X D^T`` in float32 and the rounding bounded. The gap the
    kernel reports must bound the gap of the returned codes recomputed in
    float64 from ``X`` and ``D`` (the problem's own float32 values), on the
    benchmark's kind of problem (coherent atoms, small alpha); a certified row
    is then truly certified. Warm starts: the optimum is kept with 0 steps."""
    import torch

    from skdeepsparse._homotopy import lasso_homotopy, uncertified

    rng = np.random.RandomState(3)
    D = np.abs(rng.randn(120, 60)) if positive else rng.randn(120, 60)
    D = (D / np.linalg.norm(D, axis=1, keepdims=True)).astype(np.float32)
    X = (rng.randn(300, 8) @ D[:8] + 0.05 * rng.randn(300, 60)).astype(np.float32)
    X64, D64 = X.astype(np.float64), D.astype(np.float64)
    B = (torch.from_numpy(X) @ torch.from_numpy(D).T).numpy().astype(np.float64)
    xx, G = (X64 * X64).sum(1), D64 @ D64.T
    for alpha in (0.5, 0.05, 0.005):
        codes, gaps, primals, steps = lasso_homotopy(
            B, G, xx, alpha, positive=positive, X=X, dictionary=D)
        primal, dual = _primal_dual(X64, codes, D64, alpha, positive)
        np.testing.assert_allclose(primals, primal, rtol=1e-8, atol=1e-12)
        assert (gaps >= (primal - dual) - 1e-9 * primal).all()
        ok = np.setdiff1d(np.arange(len(X)), uncertified(gaps, primals, 1e-4))
        assert ok.size > len(X) // 2
        assert ((primal - dual)[ok] <= 1e-4 * primal[ok]).all()
        kept, g2, p2, s2 = lasso_homotopy(B, G, xx, alpha, positive=positive, X=X,
                                          dictionary=D, init=codes, tol=1e-4)
        assert (s2[ok] == 0).all()
        np.testing.assert_array_equal(kept[ok], codes[ok])


def test_homotopy_follows_the_lars_path():
    """At every kink of scikit-learn's LARS-Lasso path (an independent
    implementation, its own alpha scaling undone), the homotopy stopped at that
    alpha returns the path's code."""
    from sklearn.linear_model import lars_path

    from skdeepsparse._homotopy import lasso_homotopy

    rng = np.random.RandomState(2)
    D = rng.randn(25, 40)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    x = rng.randn(40)
    alphas, _, coefs = lars_path(D.T, x, method="lasso")
    assert len(alphas) > 10
    # The kernel itself (lasso_gram would repair a wrong row with the active set).
    # (scikit-learn's alpha is per sample: times 40 here.)
    for a, coef in zip(alphas[1:-1] * 40, coefs.T[1:-1], strict=True):
        c, gap, primal, _ = lasso_homotopy((D @ x)[None], D @ D.T, np.array([x @ x]), a)
        np.testing.assert_allclose(c[0], coef, atol=1e-9)
        assert gap[0] <= 1e-12 * primal[0]


def test_homotopy_rows_it_cannot_certify_go_to_the_active_set(mnist_problem, monkeypatch):
    """A row whose homotopy result fails the gap test is finished by the
    active-set solver from that result (simulated by spoiling two rows)."""
    import torch

    from skdeepsparse import _homotopy
    from skdeepsparse.solvers import lasso_gram

    real = _homotopy.lasso_homotopy

    def spoiled(*args, **kwargs):
        codes, gaps, primals, steps = real(*args, **kwargs)
        codes[[3, 7]] *= 0.5
        gaps[[3, 7]] = np.inf
        return codes, gaps, primals, steps

    monkeypatch.setattr(_homotopy, "lasso_homotopy", spoiled)
    X, D = mnist_problem
    Xt, Dt = torch.tensor(X), torch.tensor(D)
    C, _ = lasso_gram(Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1), 0.5, tol=1e-12)
    assert _kkt_violation(X, C.numpy(), D, 0.5, False) < 1e-7
    # sparse_encode's own CPU path (chunks of 100 rows: rows 3, 7, 103, 107 spoiled).
    C = sparse_encode(X, D, alpha=0.5, tol=1e-12, batch_size=100)
    assert _kkt_violation(X, C, D, 0.5, False) < 1e-7


def test_a_failing_worker_raises_instead_of_hanging(mnist_problem, monkeypatch):
    import torch

    from skdeepsparse import _homotopy

    real, calls = _homotopy.lasso_homotopy, []

    def fails_on_the_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("simulated")
        return real(*args, **kwargs)

    monkeypatch.setattr(_homotopy, "lasso_homotopy", fails_on_the_third_chunk)
    X, D = mnist_problem
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(MemoryError, match="simulated"):
            sparse_encode(X, D, alpha=0.5, batch_size=50)
    finally:
        torch.set_num_threads(before)


def test_lasso_gram_method_errors():
    import torch

    from skdeepsparse.solvers import lasso_gram

    b, G, xx = torch.ones(2, 3), torch.eye(3), torch.ones(2)
    with pytest.raises(ValueError, match="method must be"):
        lasso_gram(b, G, xx, 0.1, method="lars")
    with pytest.raises(ValueError, match="init=None"):
        lasso_gram(b, G, xx, 0.1, method="homotopy", init=torch.zeros(2, 3))


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_coherent_and_overcomplete_dictionary(positive, dtype):
    rng = np.random.RandomState(3)
    D = _coherent_dictionary(rng, k=48, p=30)  # overcomplete and near-duplicate atoms
    X = rng.randn(80, 30) @ np.diag(np.linspace(0.2, 2, 30))
    for alpha in (0.05, 0.3, 1.0):
        ours = sparse_encode(X.astype(dtype), D.astype(dtype), alpha=alpha, positive=positive)
        assert ours.dtype == dtype
        with warnings.catch_warnings():
            # scikit-learn's coordinate descent may stop short on these near-duplicate
            # atoms (ConvergenceWarning): that only makes the bound below easier for ours.
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = sk_sparse_encode(X, D, alpha=alpha, algorithm="lasso_cd", positive=positive,
                                   max_iter=20000)
        o = _objective(X, ours.astype(np.float64), D, alpha)
        r = _objective(X, ref, D, alpha)
        # At alpha=0.05 the supports reach rank 30 < 48 atoms: the homotopy
        # (sparse_encode's CPU path) still solves it; the active-set solver, which
        # cannot swap in an atom of the support's span, is only near-optimal there.
        assert (o - r) / r <= 1e-4
        if dtype == np.float64:
            tight = sparse_encode(X, D, alpha=alpha, positive=positive, tol=1e-9)
            assert _kkt_violation(X, tight, D, alpha, positive) < 1e-6


@pytest.mark.parametrize("positive", [False, True])
def test_warm_starts(mnist_problem, positive):
    X, D = mnist_problem
    sol = sparse_encode(X, D, alpha=0.5, positive=positive, tol=1e-10)
    # From the solution: certified by the gap check, returned as is.
    again, n_iter = sparse_encode(X, D, alpha=0.5, positive=positive, tol=1e-10, init=sol,
                                  return_n_iter=True)
    assert n_iter == 0
    np.testing.assert_array_equal(again, sol)
    # From another alpha's solution and from a perturbed, sign-wrong start.
    rng = np.random.RandomState(0)
    starts = [sparse_encode(X, D, alpha=2.0, positive=positive),
              sol + 0.1 * rng.randn(*sol.shape) * (rng.rand(*sol.shape) < 0.1)]
    for init in starts:
        warm = sparse_encode(X, D, alpha=0.5, positive=positive, tol=1e-10, init=init)
        assert _kkt_violation(X, warm, D, 0.5, positive) < 1e-6
    # Duplicate atoms make the warm-start support's Gram singular: still solved.
    D2 = np.vstack([D, D[:3]])
    init = np.hstack([sol, sol[:, :3]])
    warm = sparse_encode(X, D2, alpha=0.5, positive=positive, init=init)
    o, r = _objective(X, warm, D2, 0.5), _objective(X, sol, D, 0.5)
    assert (o - r) / r <= 1e-4


def test_max_iter_bounds_passes(mnist_problem):
    X, D = mnist_problem
    with pytest.warns(ConvergenceWarning, match=r"\d+ of 300 rows are not certified"):
        codes, n_iter = sparse_encode(X, D, alpha=0.3, max_iter=2, return_n_iter=True)
    assert n_iter <= 2 and np.isfinite(codes).all()


def test_threads_split_samples_same_result(mnist_problem):
    import torch

    X, D = mnist_problem
    before = torch.get_num_threads()
    one = sparse_encode(X, D, alpha=0.5, init=None)
    torch.set_num_threads(2)
    try:
        two = sparse_encode(X, D, alpha=0.5)
        warm = sparse_encode(X, D, alpha=0.5, init=one)
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    np.testing.assert_allclose(two, one, atol=1e-10)
    np.testing.assert_allclose(warm, one, atol=1e-10)


def test_check_gap_matches_direct_computation():
    """``_check``'s slot-based gap equals primal - dual computed from X and D."""
    import torch

    from skdeepsparse.solvers import _check

    rng = np.random.RandomState(0)
    D = rng.randn(12, 9)
    X = rng.randn(5, 9)
    alpha = 0.7
    # Arbitrary (non-optimal) codes on 3 slots per row, one slot free.
    idx = torch.tensor(rng.randint(0, 12, size=(5, 4)))
    idx[:, 1] = (idx[:, 0] + 1) % 12
    idx[:, 2] = (idx[:, 0] + 2) % 12
    cS = torch.tensor(rng.randn(5, 4))
    cS[:, 3] = 0.0
    idx[:, 3] = idx[:, 0]  # a free slot may point anywhere
    C = np.zeros((5, 12))
    for i in range(5):
        for s in range(3):
            C[i, int(idx[i, s])] += float(cS[i, s])
    for positive in (False, True):
        Xt, Dt, c = torch.tensor(X), torch.tensor(D), torch.tensor(C)
        corr = Xt @ Dt.T - c @ (Dt @ Dt.T)
        gap, primal, viol = _check(c, corr, cS, idx, Xt @ Dt.T, (Xt * Xt).sum(1), alpha,
                                   positive)
        p_ref, d_ref = _primal_dual(X, C, D, alpha, positive)
        g = (X - C @ D) @ D.T
        np.testing.assert_allclose(primal.numpy(), p_ref, rtol=1e-12)
        np.testing.assert_allclose(gap.numpy(), p_ref - d_ref, rtol=1e-10, atol=1e-12)
        off = C == 0
        v_ref = (g if positive else np.abs(g)) - alpha
        np.testing.assert_allclose(viol.numpy()[off], v_ref[off], rtol=1e-12, atol=1e-12)
        assert np.isneginf(viol.numpy()[~off]).all()


def _slot_inverse_error(M, idx, on, G):
    """Largest deviation of padded ``M`` from ``inv(G_SS)`` (zeros on free slots)."""
    worst = 0.0
    for i in range(M.shape[0]):
        s = np.flatnonzero(on[i])
        ref = np.zeros_like(M[i])
        if len(s):
            S = idx[i, s]
            ref[np.ix_(s, s)] = np.linalg.inv(G[np.ix_(S, S)])
        worst = max(worst, np.abs(M[i] - ref).max() / max(np.abs(ref).max(), 1.0))
    return worst


def test_block_add_and_drops_keep_exact_inverse():
    """``_add_atoms`` and ``_feature_sign`` keep ``M = inv(G_SS)`` (checked by LAPACK)."""
    import torch

    from skdeepsparse.solvers import _add_atoms, _feature_sign

    rng = np.random.RandomState(0)
    D = _coherent_dictionary(rng, k=30, p=20, pairs=4, cos=0.9)
    D = np.vstack([D, D[:1]])  # atom 30 duplicates atom 0: must be skipped
    G = D @ D.T
    Gw = torch.tensor(G)
    dG = Gw.diagonal().contiguous()
    n = 6
    M = torch.zeros(n, 0, 0, dtype=torch.float64)
    idx = torch.zeros(n, 0, dtype=torch.long)
    on = torch.zeros(n, 0, dtype=torch.bool)
    cS = torch.zeros(n, 0, dtype=torch.float64)
    th = torch.zeros(n, 0, dtype=torch.float64)
    X = rng.randn(n, 20)
    b = torch.tensor(X @ D.T)
    steps = [rng.permutation(30)[:5] for _ in range(n)]
    steps[0][:2] = [0, 30]  # the duplicate, right after its twin
    for blk in range(3):
        cand = np.array([p[:5] if blk == 0 else rng.permutation(30)[:4] for p in steps])
        valid = torch.tensor([[int(j) not in set(idx[i][on[i]].tolist()) for j in row]
                              for i, row in enumerate(cand)])  # already in: invalid
        cand = torch.tensor(cand)
        signs = torch.tensor(rng.choice([-1.0, 1.0], size=cand.shape))
        need = max(int((on.sum(1) + valid.sum(1)).max()), on.shape[1])
        M, idx, on, cS, th = _add_atoms(M, idx, on, cS, th, cand, valid, signs, Gw, dG, need)
        assert _slot_inverse_error(M.numpy(), idx.numpy(), on.numpy(), G) < 1e-9
        # Random signs: many flips, so atoms are dropped.
        M, cS, th, on = _feature_sign(M, cS, th, on, torch.gather(b, 1, idx), 0.3, 100)
        assert _slot_inverse_error(M.numpy(), idx.numpy(), on.numpy(), G) < 1e-9
        # Each row ends at the Newton point of its support and signs.
        for i in range(n):
            s = np.flatnonzero(on[i].numpy())
            S = idx[i, s].numpy()
            x = np.linalg.solve(G[np.ix_(S, S)], X[i] @ D[S].T - 0.3 * th[i, s].numpy())
            np.testing.assert_allclose(cS[i, s].numpy(), x, rtol=1e-8, atol=1e-10)
            assert (np.sign(x) == th[i, s].numpy()).all()
    assert not ((idx[0] == 30) & on[0]).any()


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("tol", [1e-4, 1e-6])
def test_stopping_rule_certified_in_float64(mnist_problem, positive, tol):
    """Every sample's duality gap, recomputed in float64 from X and D, is <= tol * primal.

    (For float64 input with ``tol >= 1e-5`` the solver checks in float32; the
    certificate must still hold exactly.)
    """
    X, D = mnist_problem
    for alpha in (0.3, 2.0):
        C = sparse_encode(X, D, alpha=alpha, positive=positive, tol=tol)
        primal, dual = _primal_dual(X, C, D, alpha, positive)
        assert ((primal - dual) <= tol * primal * (1 + 1e-6) + 1e-12).all()
