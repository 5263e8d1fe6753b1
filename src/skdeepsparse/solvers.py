"""Pure tensor solvers: soft thresholding, (F)ISTA, Lipschitz constants, Lasso.

Everything here works on batches (one row per sample) on any device and in the
dtype of its inputs.  No function here touches module state.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ._distributed import batch_all, batch_rows, batch_sum
from .nn import normalize_columns_

__all__ = [
    "soft_threshold",
    "fista",
    "decoder_recon_grad",
    "mlp_recon_grad",
    "lipschitz_constant",
    "dictionary_gradient_step",
    "lasso_objective",
    "lasso_gram",
]


def soft_threshold(x: torch.Tensor, tau, positive: bool = False) -> torch.Tensor:
    """Proximal operator of ``tau * ||.||_1`` (plus the non-negativity constraint).

    Parameters
    ----------
    x : Tensor
        Input.
    tau : float or Tensor
        Threshold, broadcast against ``x``.
    positive : bool, default=False
        If True, also project onto the non-negative orthant.

    Returns
    -------
    Tensor
    """
    if positive:
        return torch.clamp(x - tau, min=0)
    return torch.sign(x) * torch.clamp(x.abs() - tau, min=0)


def lipschitz_constant(
    operator: torch.Tensor | Callable[[torch.Tensor], torch.Tensor],
    n_features: int | None = None,
    *,
    n_iter: int = 50,
    generator: torch.Generator | None = None,
) -> float:
    """Largest eigenvalue of a symmetric positive semi-definite operator.

    Parameters
    ----------
    operator : Tensor of shape (k, k) or callable
        A PSD matrix (e.g. a Gram matrix ``D @ D.T``) or a function computing
        ``v -> A v`` on row vectors of shape (1, n_features).
    n_features : int, optional
        Size of the operator when it is a callable.
    n_iter : int, default=50
        Power iterations. For an explicit matrix of size <= 2048 the exact
        eigenvalue is used instead.
    generator : torch.Generator, optional
        For the random start of the power iteration.

    Returns
    -------
    float
        The Lipschitz constant of the gradient of ``0.5 * z A z^T``.
    """
    if isinstance(operator, torch.Tensor):
        if operator.shape[0] <= 2048:
            return float(torch.linalg.eigvalsh(operator.double())[-1])
        matrix = operator
        n_features = matrix.shape[0]

        def operator(v):
            return v @ matrix

        device, dtype = matrix.device, matrix.dtype
    else:
        if n_features is None:
            raise ValueError("n_features is required when operator is a callable.")
        device, dtype = None, torch.float32
    v = torch.randn(1, n_features, generator=generator, device=device, dtype=dtype)
    v = v / v.norm()
    lam = 0.0
    for _ in range(n_iter):
        w = operator(v)
        lam = float(w.norm())
        if lam == 0.0:
            return 0.0
        v = w / lam
    return lam


def fista(
    grad: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    *,
    step: float | torch.Tensor,
    alpha: float | torch.Tensor,
    positive: bool = False,
    max_iter: int = 200,
    tol: float = 1e-3,
    check_every: int = 5,
) -> tuple[torch.Tensor, int]:
    """Batched FISTA for ``min_z f(z) + alpha * ||z||_1``.

    Parameters
    ----------
    grad : callable
        ``grad(z)`` returns the gradient of the smooth part ``f`` at ``z``
        (shape of ``z``). It may couple samples (e.g. batch statistics).
    z0 : Tensor of shape (n_samples, n_components)
        Starting point.
    step : float or Tensor
        Step size (``1/L`` for an ``L``-smooth ``f``).
    alpha : float or Tensor
        L1 weight.
    positive : bool, default=False
        Constrain codes to be non-negative.
    max_iter : int, default=200
        Maximum number of iterations.
    tol : float, default=1e-3
        Stopping tolerance on the per-sample relative change
        ``||z_k - z_{k-1}|| / ||z_{k-1}||``: the loop ends once every sample
        meets it. It is checked every ``check_every`` iterations (one host
        sync each); between checks every sample keeps its updates and
        momentum, so the returned codes are those of a full FISTA run of
        ``n_iter`` iterations. ``tol=0`` runs ``max_iter`` iterations.
    check_every : int, default=5
        Iterations between two convergence checks.

    Returns
    -------
    z : Tensor
        The codes.
    n_iter : int
        Iterations run.
    """
    z = z0.detach().clone()
    x = z
    t = 1.0
    thresh = step * alpha
    scalar_step = not isinstance(step, torch.Tensor)
    tol2 = float(tol) ** 2
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        g = grad(x)
        u = torch.add(x, g, alpha=-step) if scalar_step else x - step * g
        if positive:
            z_new = u.sub_(thresh).clamp_(min=0)
        else:
            z_new = soft_threshold(u, thresh)
        t_new = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        if tol > 0 and n_iter % check_every == 0:
            diff = (z_new - z).square_().sum(1)
            ref = z.square().sum(1)
            # An all-zero previous iterate counts as converged only if nothing moved.
            converged = torch.where(ref > 0, diff <= tol2 * ref, diff == 0)
            # Under a process group the batch's rows are spread over the ranks: all
            # stop together (batch_all is the flag itself outside a distributed step).
            if batch_all(bool(converged.all())):
                return z_new, n_iter
        # x = z_new + ((t - 1) / t_new) (z_new - z), as one extrapolation.
        x = torch.lerp(z, z_new, 1.0 + (t - 1.0) / t_new)
        z = z_new
        t = t_new
    return z, n_iter


def decoder_recon_grad(
    decoder: Callable[[torch.Tensor], torch.Tensor], Y: torch.Tensor, scale: float = 1.0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Gradient of ``scale * sum_i ||y_i - decoder(z_i)||^2`` in ``Z`` by autograd.

    Works for any differentiable decoder; its parameters receive no gradient
    (``torch.autograd.grad`` only differentiates with respect to ``Z``).
    """

    def grad(Z: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            Zr = Z.detach().requires_grad_(True)
            loss = scale * ((Y - decoder(Zr)) ** 2).sum()
            (g,) = torch.autograd.grad(loss, Zr)
        return g

    return grad


def mlp_recon_grad(layers, Y: torch.Tensor, Z: torch.Tensor, scale: float = 1.0,
                   *, sigmoid: bool = False) -> torch.Tensor:
    """Gradient of ``scale * sum_i ||y_i - g(z_i)||^2`` in ``Z`` for a ReLU MLP ``g``, by hand.

    ``layers`` is ``[(W, b), ...]`` of ``Linear -> ReLU -> ... -> Linear``
    (optionally followed by a sigmoid): one forward and one backward pass with
    no autograd graph. With ``a_k`` the hidden activations, ``g`` the output and
    ``r = g - y``: ``d_out = 2 scale r g (1 - g)`` (``2 scale r`` without the
    sigmoid), ``d_{k-1} = (d_k W_k) * 1[a_{k-1} > 0]`` and ``dE/dZ = d_1 W_1``.
    """
    acts = []
    h = Z
    last = len(layers) - 1
    for i, (W, b) in enumerate(layers):
        h = torch.addmm(b, h, W.t()) if b is not None else h @ W.t()
        if i < last:
            h = h.clamp_min_(0.0)
            acts.append(h)
    if sigmoid:
        g = torch.sigmoid_(h)
        d = (g - Y).mul_(g).mul_(g.neg().add_(1.0)).mul_(2.0 * scale)
    else:
        d = (h - Y).mul_(2.0 * scale)
    for i in range(last, 0, -1):
        d = (d @ layers[i][0]).mul_(acts[i - 1] > 0)
    return d @ layers[0][0]


def lasso_objective(
    X: torch.Tensor, codes: torch.Tensor, dictionary: torch.Tensor, alpha: float
) -> torch.Tensor:
    """Per-sample ``0.5 * ||x - c D||^2 + alpha * ||c||_1``.

    This is the objective of :func:`sklearn.decomposition.sparse_encode` with
    the ``lasso_lars`` / ``lasso_cd`` algorithms.
    """
    resid = X - codes @ dictionary
    return 0.5 * (resid * resid).sum(dim=1) + alpha * codes.abs().sum(dim=1)


def _exact_inverse(Gflat, k, idx, on, M_old):
    """``inv(G_SS)`` in padded slot coordinates, recomputed from ``G``."""
    m = idx.shape[1]
    both = on[:, :, None] & on[:, None, :]
    eye = torch.eye(m, dtype=M_old.dtype, device=M_old.device)
    GSS = torch.where(both, Gflat[idx[:, :, None] * k + idx[:, None, :]], eye)
    L, info = torch.linalg.cholesky_ex(GSS)
    # The squared pivots are the successive Schur complements: the same
    # well-posedness test as for atoms added one at a time.
    piv = L.diagonal(dim1=1, dim2=2) ** 2
    ok = (info == 0) & (piv > 1e-9 * GSS.diagonal(dim1=1, dim2=2)).all(1)
    M = torch.cholesky_inverse(torch.where(ok[:, None, None], L, eye))
    return torch.where(ok[:, None, None], torch.where(both, M, 0.0), M_old)


def _feature_sign(M, cS, th, on, bS, alpha, max_steps):
    """Newton steps on each sample's support, dropping atoms whose sign flips.

    For every row: ``x = inv(G_SS) (b_S - alpha * th_S)`` minimises the Lasso
    restricted to support ``S`` with signs ``th``. If ``x`` keeps those signs it
    is accepted. Otherwise the code moves from ``cS`` towards ``x`` up to the
    first sign change (the objective decreases strictly along that segment,
    where it equals the smooth quadratic), the atom that reached zero leaves the
    support and the step is repeated: the feature-sign / LARS-drop rule, which
    terminates. Only the rows with a sign flip take further steps.

    A drop costs O(m) per row, not O(m^2): removing slot ``j`` from ``M`` is
    the downdate ``M - P P^T / P_j`` with ``P`` column ``j`` of the current
    ``M`` (itself the original column corrected by the earlier drops), and the
    new Newton point is ``x - P x_j / P_j``. The downdates are applied to
    ``M`` once at the end, as one batched rank-r update. ``M``, ``th`` and
    ``on`` are updated in place; returns ``M, cS, th, on``.
    """
    rhs = torch.where(on, bS - alpha * th, 0.0)
    x = torch.where(on, torch.bmm(M, rhs.unsqueeze(2)).squeeze(2), 0.0)
    bad = on & (torch.sign(x) != th)
    flipped = bad.any(1)
    if not bool(flipped.any()):
        return M, x, th, on
    sub = torch.nonzero(flipped).squeeze(1)
    cS = torch.where(flipped[:, None], cS, x)
    f = sub.numel()
    ar = torch.arange(f, device=M.device)
    cs, xs, bads, ons, ths = cS[sub], x[sub], bad[sub], on[sub], th[sub]
    act = torch.ones(f, dtype=torch.bool, device=M.device)
    P = M.new_zeros(f, on.shape[1], 0)
    piv = M.new_ones(f, 0)
    drop_rows, drop_slots = [], []
    for _ in range(max_steps):
        den = cs - xs
        t = torch.where(bads, torch.where(den != 0, cs / torch.where(den != 0, den, 1.0), 0.0),
                        torch.inf)
        t1, j = t.min(1)
        cs = torch.where(act[:, None], cs + t1.clamp(0, 1)[:, None] * (xs - cs), cs)
        col = M[sub, :, j]  # column j of the original M ...
        if P.shape[2]:  # ... minus the earlier drops' rank-one downdates
            col = col - torch.bmm(P, (P[ar, j] / piv).unsqueeze(2)).squeeze(2)
        col = torch.where(act[:, None], col, 0.0)
        pj = col[ar, j]
        pj = torch.where(pj != 0, pj, 1.0)
        xs = xs - col * (xs[ar, j] / pj)[:, None]
        P = torch.cat([P, col.unsqueeze(2)], 2)
        piv = torch.cat([piv, pj[:, None]], 1)
        ad = torch.nonzero(act).squeeze(1)
        drop_rows.append(sub[ad])
        drop_slots.append(j[ad])
        cs[ad, j[ad]] = 0
        xs[ad, j[ad]] = 0
        ons[ad, j[ad]] = False
        ths[ad, j[ad]] = 0
        bads = ons & (torch.sign(xs) != ths) & act[:, None]
        still = bads.any(1)
        cs = torch.where((act & ~still)[:, None], xs, cs)
        act = still
        if not bool(act.any()):
            break
    # (Step budget spent: the rows left keep their last point, feasible and no worse.)
    if 3 * f > M.shape[0]:
        Pa = M.new_zeros(M.shape[0], *P.shape[1:])
        Pa[sub] = P / piv[:, None, :]
        Pb = M.new_zeros(M.shape[0], *P.shape[1:])
        Pb[sub] = P
        M.baddbmm_(Pa, Pb.transpose(1, 2), alpha=-1.0)
    else:
        M[sub] = M[sub].baddbmm_(P / piv[:, None, :], P.transpose(1, 2), alpha=-1.0)
    rr, jj = torch.cat(drop_rows), torch.cat(drop_slots)
    M[rr, jj, :] = 0
    M[rr, :, jj] = 0
    on[sub], th[sub], cS[sub] = ons, ths, torch.where(ons, cs, 0.0)
    return M, cS, th, on


def _check(c, corr, cS, idx, bb, xx, alpha, positive):
    """Duality gap, primal value and optimality violations of every row.

    ``corr = b - c G = D r`` (``r = x - c D``). The support terms come from the
    slots (codes ``cS`` at atoms ``idx``, zero on free slots), so that only one
    elementwise pass runs over all atoms: ``c.b = cS.b_S`` and
    ``c.cG = c.b - cS.corr_S``, hence ``||r||^2 = ||x||^2 - 2 c.b + c.cG``.
    The violation of atom ``j`` is ``|corr_j| - alpha`` (``corr_j - alpha``
    with ``positive``), ``-inf`` on the support; the dual scaling is
    ``max(1, max_j |corr_j| / alpha)`` over all atoms (the support's
    correlations come from the slots). The same gap as computing everything
    on the full ``(n, k)`` arrays. ``corr`` (and ``c``) may be float32 when
    ``cS``, ``bb`` and ``xx`` are float64: the gap is then assembled in float64
    with the correlations rounded to float32 (relative error ~1e-7).
    """
    corr_S = torch.gather(corr, 1, idx).to(cS.dtype)
    cb = (cS * torch.gather(bb, 1, idx)).sum(1)
    ccG = cb - (cS * corr_S).sum(1)
    rr = torch.clamp(xx - 2 * cb + ccG, min=0)
    viol = (corr - alpha) if positive else corr.abs().sub_(alpha)
    viol.masked_fill_(c != 0, -torch.inf)
    dual_norm = viol.amax(1).to(cS.dtype) + alpha
    if idx.shape[1]:  # the support too (a warm start is not a Newton point)
        on_S = torch.where(cS != 0, corr_S if positive else corr_S.abs(), -torch.inf)
        dual_norm = torch.maximum(dual_norm, on_S.amax(1))
    scale = torch.clamp(dual_norm / alpha, min=1.0)
    primal = 0.5 * rr + alpha * cS.abs().sum(1)
    dual = (xx - cb) / scale - 0.5 * rr / (scale * scale)
    return primal - dual, primal, viol


def _add_atoms(M, idx, on, cS, th, cand, valid, signs, Gw, dG, need):
    """Add up to ``q`` candidate atoms per row to the supports, as one block.

    ``M`` (a, m, m) holds ``inv(G_SS)`` in padded slot coordinates (zero rows
    and columns for free slots). With ``B = G_{S,N}`` for the candidates ``N``,
    ``U = M B`` and the Schur complement ``Sc = G_NN - B^T U``, the inverse of
    the bordered matrix is ``M + V Sc^-1 V^T`` with ``V = U - E``, ``E`` the
    one-hot columns of the free slots that receive the atoms (``U`` is zero on
    free slots, so ``V`` puts ``-U Sc^-1`` in the new rows and columns and
    ``Sc^-1`` in the new block): one read and one in-place update of ``M``
    whatever ``q`` (``q`` rank-one updates would traverse it ``3q`` times).
    ``Sc^-1`` is built atom by atom (``q x q``, cheap) so that an atom
    (numerically) in the span of the support and of the atoms accepted before
    it is skipped (Schur complement ``<= 1e-9 G_jj``), as
    when atoms join one at a time. ``need`` (the largest support after adding)
    may exceed ``m``: the slots then grow to ``need``.
    """
    a, m = on.shape
    q = cand.shape[1]
    dev, wd = M.device, M.dtype
    B = torch.where(on[:, :, None], Gw[idx[:, :, None], cand[:, None, :]], 0.0)
    U = torch.bmm(M, B)
    Sc = Gw[cand[:, :, None], cand[:, None, :]] - torch.bmm(B.transpose(1, 2), U)
    Si = torch.zeros(a, q, q, dtype=wd, device=dev)
    acc = torch.zeros(a, q, dtype=torch.bool, device=dev)
    for t in range(q):
        g = torch.where(acc, Sc[:, :, t], 0.0)
        u = torch.bmm(Si, g.unsqueeze(2)).squeeze(2)
        schur = Sc[:, t, t] - (g * u).sum(1)
        ok = valid[:, t] & (schur > 1e-9 * dG[cand[:, t]])
        u[:, t] = -1.0
        w = torch.where(ok, 1.0 / torch.where(ok, schur, 1.0), 0.0)
        Si.addcmul_((w[:, None] * u)[:, :, None], u[:, None, :])
        acc[:, t] = ok
    if need > m:
        idx, on, cS, th = (torch.cat([t, t.new_zeros(a, need - m)], 1)
                           for t in (idx, on, cS, th))
        U = torch.cat([U, U.new_zeros(a, need - m, q)], 1)
    # The i-th accepted atom of a row takes the row's i-th free slot (there are
    # at least as many free slots as accepted atoms: ``need`` counts them).
    free = torch.argsort(on.to(torch.int8), dim=1, stable=True)
    r_, t_ = torch.nonzero(acc, as_tuple=True)
    s_ = free[r_, (torch.cumsum(acc, 1) - 1)[r_, t_]]
    U[r_, s_, t_] -= 1.0
    VS = torch.bmm(U, Si)
    if need > m:
        Mn = torch.bmm(VS, U.transpose(1, 2))
        Mn[:, :m, :m] += M
        M = Mn
    else:
        M.baddbmm_(VS, U.transpose(1, 2))
    idx[r_, s_] = cand[r_, t_]
    th[r_, s_] = signs[r_, t_]
    cS[r_, s_] = 0.0
    on[r_, s_] = True
    return M, idx, on, cS, th


def lasso_gram(
    b: torch.Tensor,
    G: torch.Tensor,
    xx: torch.Tensor,
    alpha: float,
    *,
    positive: bool = False,
    max_iter: int = 1000,
    tol: float = 1e-4,
    init: torch.Tensor | None = None,
    working_set: int = 4,
    n_add: int = 4,
    method: str = "auto",
) -> tuple[torch.Tensor, int]:
    """Solve many Lasso problems sharing one dictionary, from its Gram matrix.

    Minimises ``0.5 * ||x_i - c_i D||^2 + alpha * ||c_i||_1`` for every row,
    given ``b = X D^T``, ``G = D D^T`` and ``xx = ||x_i||^2``.

    Two solvers (``method``). On CPU from zero codes, by default, the Lasso
    homotopy compiled per sample (``skdeepsparse._homotopy``): it follows each
    sample's solution path from ``alpha = max_j |b_j|`` down, one segment per
    atom joining or leaving, touching only the active atoms' Gram columns.
    Otherwise a batched active-set (feature-sign) method with no
    per-coordinate loop and no LAPACK call, so that it runs as the same few
    batched tensor operations on CPU and GPU:

    1. *Check* (one GEMM ``c @ G`` for the samples still running, none on
       the first pass from zero; one elementwise pass over the atoms, see
       ``_check``): the per-sample relative duality gap certifies the full
       problem; samples with ``gap <= tol * primal`` leave (the batch is
       compacted once a tenth of its rows have left).
    2. *Add*: the atoms that most violate the optimality conditions
       ``|D_j r| <= alpha`` (``working_set`` on the first pass, ``n_add``
       after) join each sample's support with the sign of their correlation.
       The inverse of the restricted Gram matrix ``inv(G_SS)`` is kept per
       sample in padded slot coordinates and grown by one block (Schur
       complement) update per pass, see ``_add_atoms``.
    3. *Newton*: ``c_S = inv(G_SS)(b_S - alpha s_S)`` is the exact Lasso
       solution when support and signs are right; where a sign flips, the code
       moves to the first zero crossing and that atom leaves (a downdate
       costing O(m) per row, applied to ``inv(G_SS)`` once per pass as one
       batched low-rank update), see ``_feature_sign``.

    Where the time goes (CPU, 2,000 samples, 256 coherent atoms): the check
    (GEMM and one pass over the atoms) per pass, plus a few traversals of the
    ``n x m x m`` inverses per pass; a sample needs about ``|support| / n_add``
    passes. Adding more atoms per pass was measured slower (more sign flips).

    Each pass strictly decreases every running sample's objective. A sample
    on which a pass does not (an atom that must join lies in the span of the
    support, as on overcomplete dictionaries with a small ``alpha``:
    feature-sign cannot swap it in) leaves the active set and is solved again
    by the homotopy, from zero, on CPU; so are the rows its float32 check
    passed but a final float64 check does not. Every row is thus certified
    (duality gap <= ``tol * primal`` in float64) unless ``max_iter`` ran out
    in both solvers; ``lasso_gram`` returns such rows as they stand, without a
    warning (:func:`skdeepsparse.sparse_encode` counts them in a
    ``ConvergenceWarning``). The small per-sample matrices are
    kept in float64 whatever the input dtype (coherent atoms give
    ill-conditioned ``G_SS``); the check's GEMM runs in the input dtype, or in
    float32 for float64 input when ``tol >= 1e-5`` (the gap is still assembled
    in float64 from the support; the correlations' rounding, ~1e-7 relative, is
    far below such a tol).

    Parameters
    ----------
    b : Tensor of shape (n_samples, n_components)
    G : Tensor of shape (n_components, n_components)
    xx : Tensor of shape (n_samples,)
    alpha : float
    positive : bool, default=False
    max_iter : int, default=1000
        Maximum number of passes (check, add, Newton).
    tol : float, default=1e-4
        Stop a sample when ``gap <= tol * primal`` (relative duality gap).
    init : Tensor, optional
        Warm start; its support and signs seed the active sets (samples whose
        support has a singular Gram matrix start from zero).
    working_set : int, default=4
        Atoms added per sample on the first pass.
    n_add : int, default=4
        Atoms added per sample on later passes.
    method : {"auto", "homotopy", "active_set"}, default="auto"
        ``"active_set"``: the batched tensor solver above. ``"homotopy"``: the
        Lasso homotopy (LARS-Lasso) compiled per sample with numba, CPU only
        and from zero (``init`` must be None), each sample's result certified
        by its duality gap; samples it does not certify to ``tol`` continue in
        the active-set solver from its codes (and the active set's stalled
        samples go to the homotopy, see above). ``"auto"``: the homotopy on CPU
        without ``init`` (where it is several times faster), the active-set
        solver otherwise (GPU, warm starts).

    Returns
    -------
    codes : Tensor of shape (n_samples, n_components)
    n_iter : int
        Largest number of iterations spent on one sample: path segments for
        the homotopy, passes for the active-set solver.
    """
    codes, n_iter, _ = _lasso_gram_certified(
        b, G, xx, alpha, positive=positive, max_iter=max_iter, tol=tol, init=init,
        working_set=working_set, n_add=n_add, method=method)
    return codes, n_iter


def _lasso_gram_certified(b, G, xx, alpha, *, positive=False, max_iter=1000, tol=1e-4,
                          init=None, working_set=4, n_add=4, method="auto"):
    """``lasso_gram``, plus which rows are certified: ``(codes, n_iter, certified)``.

    ``certified`` (a boolean ndarray, one per row) is True where the returned
    row's duality gap is at most ``tol`` times its primal value. The rows the
    first solver leaves uncertified go to the other one: the homotopy's to the
    active set (from the homotopy's codes); the active set's rows that stop
    making progress (an atom that must join lies in the span of the support,
    which feature-sign cannot swap in) to the homotopy, from zero, on CPU.
    A row still uncertified ran out of ``max_iter`` in both (or met a
    degenerate case neither resolves); the caller reports it.
    """
    if method not in ("auto", "homotopy", "active_set"):
        raise ValueError(f"method must be 'auto', 'homotopy' or 'active_set'; got {method!r}.")
    on_cpu = b.device.type == "cpu"
    if method == "homotopy" and (not on_cpu or init is not None):
        raise ValueError("method='homotopy' runs on CPU from zero codes (init=None).")
    solver = dict(positive=positive, max_iter=max_iter, tol=tol)
    if method == "homotopy" or (method == "auto" and on_cpu and init is None):
        codes, n_iter, ok = _homotopy_rows(b, G, xx, alpha, n_threads=torch.get_num_threads(),
                                           **solver)
        out = torch.from_numpy(codes).to(b.dtype)
        bad = np.flatnonzero(~ok)
        if bad.size:
            rows = torch.from_numpy(bad)
            rest, n_rest, status = _active_set(b[rows], G, xx[rows], alpha, init=out[rows],
                                               working_set=working_set, n_add=n_add, **solver)
            out[rows] = rest
            ok[bad] = ((status == _CERTIFIED)
                       & _certified64(rest, b[rows], G, xx[rows], alpha, positive, tol)).numpy()
            n_iter = max(n_iter, n_rest)
        return out, n_iter, ok
    codes, n_iter, status = _active_set(b, G, xx, alpha, init=init, working_set=working_set,
                                        n_add=n_add, **solver)
    ok = (status == _CERTIFIED) & _certified64(codes, b, G, xx, alpha, positive, tol)
    status = status.cpu().numpy()
    ok = ok.cpu().numpy()
    # Rows whose float32 check passed but not the float64 one go to the homotopy too.
    stalled = np.flatnonzero((status == _STALLED) | ((status == _CERTIFIED) & ~ok))
    if stalled.size:
        rows = torch.from_numpy(stalled).to(b.device)
        redo, n_redo, ok_redo = _homotopy_rows(b[rows], G, xx[rows], alpha, **solver)
        keep = torch.from_numpy(ok_redo).to(b.device)
        codes[rows] = torch.where(keep[:, None], torch.from_numpy(redo).to(codes), codes[rows])
        ok[stalled] = ok_redo
        n_iter = max(n_iter, n_redo)
    return codes, n_iter, ok


def _certified64(codes, b, G, xx, alpha, positive, tol):
    """Rows whose duality gap, recomputed densely in float64, is <= ``tol * primal``.

    The active set may check in float32 (see ``lasso_gram``), where the
    residual's norm, assembled by cancellation from ``||x||^2``, ``c.b`` and
    ``c G c``, loses its digits when the fit is close; this one GEMM in
    float64 is what certifies its rows.
    """
    c, b, G, xx = (t.to(torch.float64) for t in (codes, b, G, xx))
    corr = b - c @ G
    cb = (c * b).sum(1)
    rr = torch.clamp(xx - cb - (c * corr).sum(1), min=0)  # xx - 2 c.b + c G c
    dual_norm = (corr.clamp(min=0) if positive else corr.abs()).amax(1)
    scale = torch.clamp(dual_norm / alpha, min=1.0)
    primal = 0.5 * rr + alpha * c.abs().sum(1)
    dual = (xx - cb) / scale - 0.5 * rr / (scale * scale)
    return (primal - dual) <= tol * torch.clamp(primal, min=torch.finfo(torch.float64).tiny)


# The active set's verdict per row.
_CERTIFIED, _STALLED, _OUT_OF_ITER = 0, 1, 2


def _homotopy_rows(b, G, xx, alpha, *, positive, max_iter, tol, n_threads=1):
    """The compiled homotopy on CPU from zero: ``(codes, n_iter, certified)`` (numpy)."""
    from ._homotopy import _SINGLE_PATH_TOL, lasso_homotopy, uncertified

    n = b.shape[0]
    if n == 0:
        return np.zeros(tuple(b.shape)), 0, np.ones(0, dtype=bool)
    f64 = dict(dtype=np.float64)
    B = np.ascontiguousarray(b.detach().cpu().numpy(), **f64)
    Gn = np.ascontiguousarray(G.detach().cpu().numpy(), **f64)
    xn = np.ascontiguousarray(xx.detach().cpu().numpy(), **f64)
    codes, gaps, primals, steps = lasso_homotopy(
        B, Gn, xn, alpha, positive=positive, max_steps=max_iter,
        single_path=tol >= _SINGLE_PATH_TOL, n_threads=n_threads)
    ok = np.ones(n, dtype=bool)
    ok[uncertified(gaps, primals, tol)] = False
    return codes, int(steps.max()), ok


def _active_set(b, G, xx, alpha, *, positive, max_iter, tol, init, working_set, n_add):
    """The batched active-set solver: ``(codes, n_iter, status)``, see ``lasso_gram``.

    ``status`` per row: ``_CERTIFIED`` (gap <= tol * primal), ``_STALLED`` (a
    pass that did not lower the objective, or a refreshed inverse that still
    finds no violating atom although the gap is above tol) or
    ``_OUT_OF_ITER`` (``max_iter`` passes).
    """
    n, k = b.shape
    dt, dev = b.dtype, b.device
    codes = torch.zeros_like(b)
    status = torch.full((n,), _OUT_OF_ITER, dtype=torch.int8, device=dev)
    if n == 0:
        return codes, 0, status
    wd = torch.float64
    Gw = G.to(wd)
    Gflat, dG = Gw.reshape(-1), Gw.diagonal().contiguous()
    tiny = torch.finfo(dt).tiny
    if init is not None:
        c0 = init.clamp(min=0) if positive else init
        nz = c0 != 0
        m = max(int(nz.sum(1).max()), 1)
        order = torch.argsort((~nz).to(torch.int8), dim=1, stable=True)[:, :m]
        on = torch.gather(nz, 1, order)
        idx = torch.where(on, order, 0)
        cS = torch.where(on, torch.gather(c0, 1, idx), 0).to(wd)
        M = _exact_inverse(Gflat, k, idx, on, torch.full((n, m, m), torch.nan, dtype=wd,
                                                         device=dev))
        ok = torch.isfinite(M).flatten(1).all(1)
        M = torch.where(ok[:, None, None], M, 0.0)
        on = on & ok[:, None]
        cS = torch.where(on, cS, 0.0)
        th = torch.sign(cS)
    else:
        m = 0
        idx = torch.zeros(n, m, dtype=torch.long, device=dev)
        on = torch.zeros(n, m, dtype=torch.bool, device=dev)
        cS = torch.zeros(n, m, dtype=wd, device=dev)
        th = torch.zeros(n, m, dtype=wd, device=dev)
        M = torch.zeros(n, m, m, dtype=wd, device=dev)
    rows = torch.arange(n, device=dev)
    live = torch.ones(n, dtype=torch.bool, device=dev)
    refreshed = torch.zeros(n, dtype=torch.bool, device=dev)
    prev = torch.full((n,), torch.inf, dtype=dt, device=dev)
    bb, xa = b, xx
    it = 0
    # A float64 problem with a loose tol is checked in float32 (the GEMM and
    # the pass over all atoms, most of the time at low sparsity); the gap is
    # still assembled in float64 and the Newton steps stay exact.
    cdt = torch.float32 if dt == torch.float64 and tol >= 1e-5 else dt
    Gc, bc = G.to(cdt), b.to(cdt)
    for it in range(1, max_iter + 1):
        c = torch.zeros(rows.numel(), k, dtype=cdt, device=dev)
        cSd = torch.where(on, cS, 0.0).to(dt)
        if m:
            c.scatter_add_(1, idx, cSd.to(cdt))
            corr = bc - c @ Gc
        else:
            corr = bc
        gap, primal, viol = _check(c, corr, cSd, idx, bb, xa, alpha, positive)
        done = gap <= tol * torch.clamp(primal, min=tiny)
        q = min(working_set if it == 1 else n_add, k)
        cv, cand = torch.topk(viol, q, dim=1)
        valid = cv > 0
        stuck = ~done & ~valid.any(1) & (it > 1 or init is None)
        # No lower objective than the pass before: the atoms that must join are
        # in the span of the support (or nothing violates and the inverse was
        # refreshed already). Feature-sign cannot go on; the homotopy can.
        stalled = live & ~done & ((primal >= prev) | (stuck & refreshed))
        refresh = stuck & ~refreshed & ~stalled
        certified = live & done
        done = certified | stalled | (live & (it == max_iter))
        if bool(done.any()):
            status[rows[certified]] = _CERTIFIED
            status[rows[stalled]] = _STALLED
            if cdt == dt:
                codes[rows[done]] = c[done]
            else:
                codes[rows[done]] = torch.zeros_like(c[done], dtype=dt).scatter_add_(
                    1, idx[done], cSd[done])
            live = live & ~done
        n_live = int(live.sum())
        if n_live == 0:
            break
        if n_live <= 0.9 * live.numel():
            kr = torch.nonzero(live).squeeze(1)
            rows, bb, bc, xa, corr, cand, valid, refresh, refreshed, live, primal = (
                t[kr] for t in (rows, bb, bc, xa, corr, cand, valid, refresh, refreshed, live,
                                primal))
            M = M[kr]
            idx, on, cS, th = (t[kr] for t in (idx, on, cS, th))
        else:
            valid = valid & live[:, None]
            refresh = refresh & live
        qa = int(valid.sum(1).max())
        if qa:
            need = max(int((on.sum(1) + valid.sum(1)).max()), m)
            signs = torch.sign(torch.gather(corr, 1, cand[:, :qa])).to(wd)
            if positive:
                signs = torch.ones_like(signs)
            M, idx, on, cS, th = _add_atoms(M, idx, on, cS, th, cand[:, :qa], valid[:, :qa],
                                            signs, Gw, dG, need)
            m = need
        if bool(refresh.any()):
            r_ = torch.nonzero(refresh).squeeze(1)
            M[r_] = _exact_inverse(Gflat, k, idx[r_], on[r_], M[r_])
            refreshed = refreshed | refresh
        prev = primal
        bS = torch.gather(bb, 1, idx).to(wd)
        M, cS, th, on = _feature_sign(M, cS, th, on, bS, alpha, 2 * m + 10)
    return codes, it, status


def dictionary_gradient_step(Phi: torch.Tensor, optimizer: torch.optim.Optimizer,
                             Zs: torch.Tensor, Rs: torch.Tensor, n_rows: int, *,
                             step_cap: bool, weight_decay: float,
                             norm: float | None) -> tuple[torch.Tensor, float]:
    """One optimizer step of a linear dictionary ``Phi`` on the hand-set gradient
    ``-Rs^T Zs / n_rows`` of ``(1/2n) sum ||r||^2`` (rows of weighted codes ``Zs``
    and residuals ``Rs``); the optimizer adds the weight decay.

    With ``step_cap`` the step is lowered to ``1/L`` for this update when it is
    larger (``L`` from the global batch's Gram matrix plus ``weight_decay``: a
    step above ``1/L`` overshoots, above ``2/L`` diverges); the schedule's rate is
    left untouched. ``norm`` rescales the atoms afterwards. Returns the mean atom
    norm and 1.0 if the step was capped (else 0.0).
    """
    Phi.grad = -(Rs.T @ Zs / n_rows)
    capped, lr = 0.0, optimizer.param_groups[0]["lr"]
    if step_cap:
        try:
            # Under a process group: the Gram of the global batch, as in one process.
            G = batch_sum(Zs.T @ Zs) / batch_rows(n_rows)
            L = lipschitz_constant(G) + weight_decay
        except torch.linalg.LinAlgError:  # non-finite codes: the core reports it
            L = math.inf
        if lr * L > 1.0:
            optimizer.param_groups[0]["lr"], capped = 1.0 / L, 1.0
    try:
        optimizer.step()
    finally:
        optimizer.param_groups[0]["lr"] = lr
        Phi.grad = None
    if norm is not None:
        normalize_columns_(Phi, float(norm))
    return Phi.norm(dim=0).mean(), capped
