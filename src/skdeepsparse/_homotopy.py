"""The Lasso homotopy (LARS-Lasso) on a Gram matrix, one compiled kernel per sample.

The CPU path of :func:`skdeepsparse.solvers.lasso_gram`. Why a compiled kernel:
on a CPU the batched tensor solver spends its time in many small operations
and in dense passes over all atoms, while the homotopy touches only the
active columns of the Gram matrix: one step costs ``O(k s + s^2)`` for ``k``
atoms and a support of ``s``, and a sample needs about ``s`` steps plus its
sign changes. SPAMS runs the same algorithm in C++; numba compiles it here
without a C extension to build. The GPU keeps the batched tensor solver.

Each sample follows the piecewise-linear solution path from ``c = 0`` at
``lambda = max_j |b_j|`` down to ``lambda = alpha``: on each segment the active
atoms' correlations stay at ``+-lambda`` and the code moves along
``u = inv(G_AA) s_A``; the segment ends when an inactive atom's correlation
reaches ``lambda`` (it joins) or an active code crosses zero (it leaves). The
inverse ``inv(G_AA)`` is kept by rank-one updates and ``u`` is updated with it
in ``O(s)``. At the end the code on the final support is recomputed as the
exact Newton point ``inv(G_AA)(b_A - alpha s_A)`` and the duality gap is
computed in float64 on the full dictionary, so the caller can certify every
sample (and hand the rare uncertified one to the active-set solver).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

# No "nnan"/"ninf": the kernel compares against inf. Reassociation lets the
# dot products and axpys vectorise; the result is certified by the gap anyway.
_FASTMATH = {"reassoc", "contract", "nsz"}


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _path(B, row, G, Gp, xx, alpha, positive, max_steps, out, c, a, gg, inact, u, w, gA, A,
          sA, M, X, D, dn, eps):  # pragma: no cover - compiled
    """Row ``row`` of ``B``'s homotopy, written to ``out[row]``. Returns ``(gap,
    primal, steps)``; ``steps = -1`` when the support outgrows the work arrays
    (the caller grows them). With ``X`` and ``D`` (``eps > 0``), ``B`` is their
    rounded product: the final code and its certificate use exact products on
    the support (see :func:`_certificate`).

    Only 2-D indexing, no row views: a view of a shared array updates its
    reference count atomically, and threads doing that on the same arrays in
    the inner loops serialise on one cache line.
    """
    k = B.shape[1]
    cap = M.shape[0]
    for j in range(k):
        out[row, j] = 0.0
        c[j] = B[row, j]
        inact[j] = 1
    lam = 0.0
    add = -1
    for j in range(k):
        v = c[j] if positive else abs(c[j])
        if v > lam:
            lam = v
            add = j
    n_act = 0
    steps = 0
    banned = -1
    banned_sign = 0.0
    if lam > alpha:
        while True:
            steps += 1
            if add >= 0:
                # Border inv(G_AA) with atom `add`: w = inv(G_AA) g, Schur complement.
                if n_act >= cap:
                    return np.inf, np.inf, -1
                for i in range(n_act):
                    gA[i] = G[add, A[i]]
                s = 0.0
                for i in range(n_act):
                    acc = 0.0
                    for m in range(n_act):
                        acc += M[i, m] * gA[m]
                    w[i] = acc
                    s += gA[i] * acc
                schur = G[add, add] - s
                if schur <= 1e-10 * G[add, add]:
                    # In the span of the support (or a zero atom): it cannot join.
                    inact[add] = 0
                else:
                    inv = 1.0 / schur
                    sj = 1.0 if (positive or c[add] > 0) else -1.0
                    ws = 0.0
                    for i in range(n_act):
                        ws += w[i] * sA[i]
                    # The direction grows with the inverse: u' = [u - d w, d].
                    d = (sj - ws) * inv
                    for i in range(n_act):
                        wi = w[i] * inv
                        for m in range(n_act):
                            M[i, m] += wi * w[m]
                        M[i, n_act] = -wi
                        M[n_act, i] = -wi
                        u[i] -= d * w[i]
                    M[n_act, n_act] = inv
                    u[n_act] = d
                    A[n_act] = add
                    sA[n_act] = sj
                    inact[add] = 0
                    n_act += 1
            # a = G[:, A] u, four columns at a time (fewer passes over `a`).
            for j in range(k):
                a[j] = 0
            m = 0
            while m + 4 <= n_act:
                r0, r1, r2, r3 = A[m], A[m + 1], A[m + 2], A[m + 3]
                u0 = a.dtype.type(u[m])
                u1 = a.dtype.type(u[m + 1])
                u2 = a.dtype.type(u[m + 2])
                u3 = a.dtype.type(u[m + 3])
                for j in range(k):
                    a[j] += u0 * Gp[r0, j] + u1 * Gp[r1, j] + u2 * Gp[r2, j] + u3 * Gp[r3, j]
                m += 4
            while m < n_act:
                r0 = A[m]
                u0 = a.dtype.type(u[m])
                for j in range(k):
                    a[j] += u0 * Gp[r0, j]
                m += 1
            # The segment's end: lambda reaches alpha, an atom joins, or a code hits 0.
            gam = lam - alpha
            kind = 0
            who = -1
            if banned >= 0:  # the atom that just left: only its other side, below
                inact[banned] = 0
            gmin = gam
            for j in range(k):  # branch-free, so that it vectorises
                aj = np.float64(a[j])
                d1 = 1.0 - aj
                g1 = (lam - c[j]) / d1 if d1 > 1e-12 else np.inf
                d2 = 1.0 + aj
                g2 = np.inf if (positive or d2 <= 1e-12) else (lam + c[j]) / d2
                g = min(g1, g2) if inact[j] else np.inf
                gg[j] = g
                gmin = min(gmin, g)
            if banned >= 0:
                # It left at correlation ``banned_sign * lam``: rejoining on that
                # side at once would cycle, but its correlation may cross to the
                # other side later in this segment (a sign change of its code,
                # e.g. on a full-rank support), and must join there.
                inact[banned] = 1
                aj = np.float64(a[banned])
                g = np.inf
                if banned_sign > 0:
                    d2 = 1.0 + aj
                    if not positive and d2 > 1e-12:
                        g = (lam + c[banned]) / d2
                else:
                    d1 = 1.0 - aj
                    if d1 > 1e-12:
                        g = (lam - c[banned]) / d1
                gg[banned] = g
                gmin = min(gmin, g)
            if gmin < gam:
                gam = gmin
                kind = 1
                for j in range(k):
                    if gg[j] == gmin:
                        who = j
                        break
            for i in range(n_act):
                bi = out[row, A[i]]
                if u[i] * bi < 0:
                    g3 = -bi / u[i]
                    if g3 < gam:
                        gam = g3
                        kind = 2
                        who = i
            if gam < 0:
                gam = 0.0
            for i in range(n_act):
                out[row, A[i]] += gam * u[i]
            for j in range(k):
                c[j] -= gam * a[j]
            lam -= gam
            banned = -1
            add = -1
            if kind == 0 or steps >= max_steps:
                break
            if kind == 1:
                add = who
            else:
                # Atom in slot r leaves: downdate inv(G_AA) and u, move the last slot to r.
                r = who
                jr = A[r]
                banned_sign = sA[r]
                out[row, jr] = 0.0
                pr = M[r, r]
                for i in range(n_act):
                    w[i] = M[i, r]
                ur = u[r] / pr
                for i in range(n_act):
                    u[i] -= ur * w[i]
                for i in range(n_act):
                    wi = w[i] / pr
                    for m in range(n_act):
                        M[i, m] -= wi * w[m]
                last = n_act - 1
                if r != last:
                    for i in range(n_act):
                        M[r, i] = M[last, i]
                    for i in range(n_act):
                        M[i, r] = M[i, last]
                    A[r] = A[last]
                    sA[r] = sA[last]
                    u[r] = u[last]
                n_act -= 1
                inact[jr] = 1
                banned = jr
        # The exact Newton point on the final support, when its signs agree
        # (from exact products on the support when B is rounded).
        _support_products(B, row, A, n_act, X, D, eps, gA)
        ok = True
        for i in range(n_act):
            acc = 0.0
            for m in range(n_act):
                acc += M[i, m] * (gA[m] - alpha * sA[m])
            u[i] = acc
            if acc * sA[i] <= 0:
                ok = False
        if ok:
            for i in range(n_act):
                out[row, A[i]] = u[i]
    gap, primal = _certificate(B, row, G, xx, alpha, positive, out, c, inact, A, n_act, gA,
                               dn, eps)
    return gap, primal, steps


@njit(cache=True, nogil=True, fastmath=_FASTMATH)  # reassociation: the sums vectorise
def _support_products(B, row, A, n_act, X, D, eps, bA):  # pragma: no cover - compiled
    """``bA[i] = x . d_{A[i]}``: exact (float64 sums of the inputs) when ``eps > 0``
    (``B`` rounded), else read from ``B``."""
    p = X.shape[1]
    for i in range(n_act):
        j = A[i]
        if eps > 0:
            acc = 0.0
            for m in range(p):
                acc += np.float64(X[row, m]) * np.float64(D[j, m])
            bA[i] = acc
        else:
            bA[i] = B[row, j]


@njit(cache=True, nogil=True)
def _certificate(B, row, G, xx, alpha, positive, out, c, inact, A, n_act, bA, dn,
                 eps):  # pragma: no cover - compiled
    """Duality gap and primal value of ``out[row]``, whose support is ``A[:n_act]``
    with exact products ``bA``; the dual point is the residual scaled into the
    feasible set.

    When ``B`` is a rounded product (``eps > 0``), an atom off the support has a
    correlation known only to within ``eps * dn[j]`` (the rounding bound of its
    dot product), so the dual scaling uses the upper end: the gap returned is
    an upper bound of the exact one (a row whose margin is thinner than the
    rounding comes back uncertified and is finished in float64).
    """
    k = B.shape[1]
    for j in range(k):
        c[j] = B[row, j]
        inact[j] = 1
    for i in range(n_act):
        r0 = A[i]
        bi = out[row, r0]
        for j in range(k):
            c[j] -= bi * G[r0, j]
    cb = 0.0
    l1 = 0.0
    for i in range(n_act):
        j = A[i]
        c[j] += bA[i] - B[row, j]
        inact[j] = 0
        cb += out[row, j] * bA[i]
        l1 += abs(out[row, j])
    cc = 0.0
    for i in range(n_act):
        cc += out[row, A[i]] * c[A[i]]
    dual_norm = 0.0
    for j in range(k):
        v = c[j] if positive else abs(c[j])
        if inact[j]:
            v += eps * dn[j]
        dual_norm = max(dual_norm, v)
    rr = max(xx - 2.0 * cb + (cb - cc), 0.0)  # ||x||^2 - 2 c.b + c G c
    scale = max(1.0, dual_norm / alpha)
    primal = 0.5 * rr + alpha * l1
    dual = (xx - cb) / scale - 0.5 * rr / (scale * scale)
    return primal - dual, primal


@njit(cache=True, nogil=True)
def _warm(B, row, G, xx, alpha, positive, tol, init, out, c, inact, A, sA, X, D, dn, eps,
          bA):  # pragma: no cover - compiled
    """Take ``init[row]`` if its certificate holds: ``(gap, primal)``, or
    ``(inf, inf)`` when it does not (or its support outgrows the work arrays)."""
    k = B.shape[1]
    cap = A.shape[0]
    n_act = 0
    for j in range(k):
        v = init[row, j]
        if v != 0.0:
            if n_act >= cap or (positive and v < 0) or not np.isfinite(v):
                return np.inf, np.inf
            A[n_act] = j
            n_act += 1
    for j in range(k):
        out[row, j] = init[row, j]
    _support_products(B, row, A, n_act, X, D, eps, bA)
    gap, primal = _certificate(B, row, G, xx, alpha, positive, out, c, inact, A, n_act, bA,
                               dn, eps)
    if gap <= tol * max(primal, 2.2250738585072014e-308):
        return gap, primal
    return np.inf, np.inf


@njit(cache=True, nogil=True)
def _solve_rows(B, G, Gp, xx, alpha, positive, max_steps, tol, init, X, D, dn, eps, start,
                stride, out, gaps, primals, steps):  # pragma: no cover - compiled
    """Rows ``start, start + stride, ...`` of ``B``; the work arrays grow on demand.
    A row of ``init`` (when it has rows) is kept, with 0 steps, if certified."""
    n, k = B.shape
    warm = init.shape[0] > 0
    c = np.empty(k)
    a = np.empty(k, dtype=Gp.dtype)
    gg = np.empty(k)
    inact = np.empty(k, dtype=np.int8)
    cap = min(k, 64)
    while True:
        u = np.empty(cap)
        w = np.empty(cap)
        gA = np.empty(cap)
        A = np.empty(cap, dtype=np.int64)
        sA = np.empty(cap)
        M = np.empty((cap, cap))
        i = start
        grown = False
        while i < n:
            if warm:
                gap, primal = _warm(B, i, G, xx[i], alpha, positive, tol, init, out, c, inact,
                                    A, sA, X, D, dn, eps[i], gA)
                if gap < np.inf:
                    gaps[i] = gap
                    primals[i] = primal
                    steps[i] = 0
                    i += stride
                    continue
            gap, primal, st = _path(B, i, G, Gp, xx[i], alpha, positive, max_steps, out, c, a,
                                    gg, inact, u, w, gA, A, sA, M, X, D, dn, eps[i])
            if st < 0:
                cap = min(2 * cap, k)
                grown = True
                break
            gaps[i] = gap
            primals[i] = primal
            steps[i] = st
            i += stride
        if not grown:
            return
        start = i  # resume at the row that needed more room


# The path's correlation updates may run in float32 when the tolerance allows
# (the rounding, ~1e-7 relative, only moves the path; the certificate is float64).
_SINGLE_PATH_TOL = 1e-5
_U32 = 2.0 ** -24  # float32's unit roundoff


def uncertified(gaps: np.ndarray, primals: np.ndarray, tol: float) -> np.ndarray:
    """Indices of the rows whose duality gap exceeds ``tol * primal`` (or is not finite)."""
    return np.flatnonzero(~(gaps <= tol * np.maximum(primals, np.finfo(np.float64).tiny)))


def lasso_homotopy(
    B: np.ndarray,
    G: np.ndarray,
    xx: np.ndarray,
    alpha: float,
    *,
    positive: bool = False,
    max_steps: int = 1000,
    single_path: bool = False,
    n_threads: int = 1,
    tol: float = 0.0,
    init: np.ndarray | None = None,
    X: np.ndarray | None = None,
    dictionary: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lasso codes of every row by the homotopy, with each row's duality gap.

    Parameters
    ----------
    B : ndarray of shape (n_samples, n_components), float64
        ``X D^T``, exact, or float32 products of ``X`` and ``dictionary``
        (then pass both).
    G : ndarray of shape (n_components, n_components), float64
        ``D D^T``.
    xx : ndarray of shape (n_samples,), float64
        ``||x_i||^2``.
    alpha : float
    positive : bool, default=False
    max_steps : int, default=1000
        Path segments per sample at most.
    single_path : bool, default=False
        Follow the path with the Gram matrix in float32 (the correlations'
        updates; the inverse, the final code and the gap stay float64).
    n_threads : int, default=1
        Python threads over interleaved rows (the kernel releases the GIL).
    tol : float, default=0.0
        With ``init``: the relative duality gap at which a warm start is kept.
    init : ndarray of shape (n_samples, n_components), float64, default=None
        Warm starts: a row whose gap is within ``tol`` of its objective is
        returned as is (0 steps); the others follow the path from zero.
    X, dictionary : float32 ndarrays, default=None
        When ``B`` is their float32 product: the final codes use exact products
        on their support, and the gaps bound the exact ones from above, each
        off-support correlation widened by the float32 rounding bound
        ``gamma_p ||x_i|| ||d_j||`` (``gamma_p = p u / (1 - p u)``, ``u = 2^-24``,
        ``p`` features).

    Returns
    -------
    codes, gaps, primals : ndarray
        Codes (float64), duality gaps (upper bounds when ``B`` is rounded) and
        primal values per row.
    steps : ndarray of int64
        Path segments per row.
    """
    n, k = B.shape
    out = np.empty((n, k))
    gaps = np.empty(n)
    primals = np.empty(n)
    steps = np.zeros(n, dtype=np.int64)
    Gp = G.astype(np.float32) if single_path else G
    if X is None:
        X = D = np.empty((0, 0), dtype=np.float32)
        dn = np.zeros(k)
        eps = np.zeros(n)
    else:
        D = dictionary
        p = X.shape[1]
        gamma = p * _U32 / (1.0 - p * _U32)
        dn = np.sqrt(np.einsum("ij,ij->i", D, D, dtype=np.float64))
        eps = gamma * np.sqrt(xx)
    if init is None:
        init = np.empty((0, 0))
    args = (B, G, Gp, xx, float(alpha), bool(positive), int(max_steps), float(tol), init,
            X, D, dn, eps)
    n_threads = max(1, min(int(n_threads), n))
    if n_threads == 1:
        _solve_rows(*args, 0, 1, out, gaps, primals, steps)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(lambda t: _solve_rows(*args, t, n_threads, out, gaps, primals, steps),
                          range(n_threads)))
    return out, gaps, primals, steps
