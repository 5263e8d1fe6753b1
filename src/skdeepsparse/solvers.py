"""Pure tensor solvers: soft thresholding, (F)ISTA, Lipschitz constants, Lasso.

Everything here works on batches (one row per sample) on any device and in the
dtype of its inputs.  No function here touches module state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = [
    "soft_threshold",
    "fista",
    "linear_recon_grad",
    "decoder_recon_grad",
    "mlp_recon_grad",
    "lipschitz_constant",
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
            if bool(converged.all()):
                return z_new, n_iter
        # x = z_new + ((t - 1) / t_new) (z_new - z), as one extrapolation.
        x = torch.lerp(z, z_new, 1.0 + (t - 1.0) / t_new)
        z = z_new
        t = t_new
    return z, n_iter


def linear_recon_grad(
    Y: torch.Tensor, W: torch.Tensor, scale: float = 1.0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Gradient of ``scale * sum_i ||y_i - W z_i||^2`` in ``Z``, through the Gram matrix.

    ``W`` has shape (n_features, n_components) (atoms as columns). ``W^T W`` and
    ``Y W`` are computed once, so each call costs ``n * k^2`` instead of
    ``2 * n * k * p``.
    """
    G = W.T @ W
    YW = Y @ W

    def grad(Z: torch.Tensor) -> torch.Tensor:
        return (2.0 * scale) * (Z @ G - YW)

    return grad


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


def _duality_gap(c, cG, b, xx, alpha, positive):
    """Per-sample Lasso duality gap and primal value, all in code space.

    With ``b = X D^T``, ``G = D D^T`` and residual ``r = x - c D``:
    ``||r||^2 = ||x||^2 - 2 c.b + c.cG`` and ``D r = b - cG``.
    """
    cb = (c * b).sum(1)
    rr = torch.clamp(xx - 2 * cb + (c * cG).sum(1), min=0)
    corr = b - cG
    dual_norm = corr.clamp(min=0).amax(1) if positive else corr.abs().amax(1)
    scale = torch.clamp(dual_norm / alpha, min=1.0)
    primal = 0.5 * rr + alpha * c.abs().sum(1)
    # Dual point theta = r / scale; D(theta) = <x, theta> - 0.5 ||theta||^2.
    dual = (xx - cb) / scale - 0.5 * rr / (scale * scale)
    return primal - dual, primal


def _remove_slot(M, slot):
    """Drop one slot per row from padded inverse Gram matrices, in place.

    ``M`` (n, m, m) holds ``inv(G_SS)`` in slot coordinates (zero rows and
    columns for free slots). Removing slot ``j`` is the rank-one downdate
    ``M - M[:, j] M[j, :] / M[j, j]``, which also zeroes row and column ``j``.
    """
    ar = torch.arange(M.shape[0], device=M.device)
    col = M[ar, :, slot]
    mjj = col[ar, slot]
    M.addcmul_(col[:, :, None], (-col / torch.where(mjj != 0, mjj, 1.0)[:, None])[:, None, :])
    M[ar, slot, :] = 0
    M[ar, :, slot] = 0
    return M


def _pad_cols(t, extra):
    """``t`` (n, m) with ``extra`` zero (False) columns appended."""
    return torch.cat([t, t.new_zeros(t.shape[0], extra)], 1)


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
    support (rank-one downdate of ``M``) and the step is repeated: the
    feature-sign / LARS-drop rule, which terminates. Rows are processed as a
    batch and leave it once consistent. Returns updated ``M, cS, th, on``.
    """
    sub = torch.arange(cS.shape[0], device=cS.device)
    outM, outc, outth, outon = M, cS.clone(), th.clone(), on.clone()
    Ms, cs, ths, ons, bs = M, cS, th, on, bS
    for _ in range(max_steps):
        rhs = torch.where(ons, bs - alpha * ths, 0.0)
        x = torch.where(ons, torch.bmm(Ms, rhs.unsqueeze(2)).squeeze(2), 0.0)
        bad = ons & (torch.sign(x) != ths)
        flipped = bad.any(1)
        good = ~flipped
        if bool(good.any()):
            g = sub[good]
            outc[g], outM[g], outth[g], outon[g] = x[good], Ms[good], ths[good], ons[good]
        if not bool(flipped.any()):
            return outM, outc, outth, outon
        sub, Ms, cs, ths, ons, bs, x, bad = (
            sub[flipped], Ms[flipped], cs[flipped], ths[flipped], ons[flipped], bs[flipped],
            x[flipped], bad[flipped],
        )
        den = cs - x
        t = torch.where(bad, torch.where(den != 0, cs / torch.where(den != 0, den, 1.0), 0.0),
                        torch.inf)
        t1, j = t.min(1)
        cs = cs + t1.clamp(0, 1)[:, None] * (x - cs)
        ar = torch.arange(cs.shape[0], device=cs.device)
        cs[ar, j] = 0
        ons[ar, j] = False
        ths[ar, j] = 0
        Ms = _remove_slot(Ms, j)
    # Step budget spent: keep the last point, which is feasible and no worse.
    outc[sub], outM[sub], outth[sub], outon[sub] = cs, Ms, ths, ons
    return outM, outc, outth, outon


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
) -> tuple[torch.Tensor, int]:
    """Solve many Lasso problems sharing one dictionary, from its Gram matrix.

    Minimises ``0.5 * ||x_i - c_i D||^2 + alpha * ||c_i||_1`` for every row,
    given ``b = X D^T``, ``G = D D^T`` and ``xx = ||x_i||^2``.

    A batched active-set (feature-sign) method with no per-coordinate loop and
    no LAPACK call, so that it runs as the same few batched tensor operations
    on CPU and GPU:

    1. *Check* (one GEMM ``c @ G`` for the samples still running): the
       per-sample relative duality gap certifies the full problem; samples with
       ``gap <= tol * primal`` leave.
    2. *Add*: the atoms that most violate the optimality conditions
       ``|D_j r| <= alpha`` (``working_set`` on the first pass, ``n_add``
       after) join each sample's support with the sign of their correlation.
       The inverse of the restricted Gram matrix ``inv(G_SS)`` is kept per
       sample in padded slot coordinates and grown by rank-one (Schur
       complement) updates.
    3. *Newton*: ``c_S = inv(G_SS)(b_S - alpha s_S)`` is the exact Lasso
       solution when support and signs are right; where a sign flips, the code
       moves to the first zero crossing and that atom leaves (rank-one
       downdate), see ``_feature_sign``.

    Each pass strictly decreases every running sample's objective, so the
    method terminates; the returned codes are the exact Lasso solution up to
    the tolerance (in practice to rounding). The small per-sample matrices are
    kept in float64 whatever the input dtype (coherent atoms give
    ill-conditioned ``G_SS``); the GEMMs run in the input dtype.

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

    Returns
    -------
    codes : Tensor of shape (n_samples, n_components)
    n_iter : int
        Largest number of passes spent on one sample.
    """
    n, k = b.shape
    dt, dev = b.dtype, b.device
    codes = torch.zeros_like(b)
    if n == 0:
        return codes, 0
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
        m = 1
        idx = torch.zeros(n, m, dtype=torch.long, device=dev)
        on = torch.zeros(n, m, dtype=torch.bool, device=dev)
        cS = torch.zeros(n, m, dtype=wd, device=dev)
        th = torch.zeros(n, m, dtype=wd, device=dev)
        M = torch.zeros(n, m, m, dtype=wd, device=dev)
    rows = torch.arange(n, device=dev)
    refreshed = torch.zeros(n, dtype=torch.bool, device=dev)
    bb, xa = b, xx
    it = 0
    for it in range(1, max_iter + 1):
        c = torch.zeros(rows.numel(), k, dtype=dt, device=dev).scatter_add_(
            1, idx, torch.where(on, cS, 0.0).to(dt))
        cG = c @ G
        gap, primal = _duality_gap(c, cG, bb, xa, alpha, positive)
        done = gap <= tol * torch.clamp(primal, min=tiny)
        corr = bb - cG
        viol = (corr if positive else corr.abs()) - alpha
        viol = torch.where(torch.zeros_like(c, dtype=torch.bool).scatter_(1, idx, on),
                           -torch.inf, viol)
        q = min(working_set if it == 1 else n_add, k)
        cv, cand = torch.topk(viol, q, dim=1)
        valid = cv > 0
        # No violator left but the gap is above tol: the rank-one updates may
        # have drifted, so recompute those inverses exactly once and redo the
        # Newton step; if that does not help, tol is below the dtype's precision.
        stuck = ~done & ~valid.any(1) & (it > 1 or init is None)
        refresh = stuck & ~refreshed
        done = done | (stuck & refreshed) | (it == max_iter)
        if bool(done.any()):
            codes[rows[done]] = c[done]
            keep = ~done
            rows, bb, xa, corr, cand, valid, refresh, refreshed = (
                rows[keep], bb[keep], xa[keep], corr[keep], cand[keep], valid[keep],
                refresh[keep], refreshed[keep])
            idx, on, cS, th, M = idx[keep], on[keep], cS[keep], th[keep], M[keep]
        a = rows.numel()
        if a == 0:
            break
        need = int((on.sum(1) + valid.sum(1)).max())
        if need > m:
            idx, on, cS, th = (_pad_cols(t, need - m) for t in (idx, on, cS, th))
            M2 = torch.zeros(a, need, need, dtype=wd, device=dev)
            M2[:, :m, :m] = M
            M, m = M2, need
        ar = torch.arange(a, device=dev)
        signs = torch.sign(torch.gather(corr, 1, cand)).to(wd)
        for t in range(q):
            add = valid[:, t]
            if not bool(add.any()):
                continue
            j = cand[:, t]
            slot = (~on).to(torch.int8).argmax(1)
            g = torch.where(on, Gflat[idx * k + j[:, None]], 0.0)
            u = torch.bmm(M, g.unsqueeze(2)).squeeze(2)
            schur = dG[j] - (g * u).sum(1)
            # An atom (numerically) in the span of the support cannot join it
            # (overcomplete dictionaries, duplicates): it is skipped this pass.
            add = add & (schur > 1e-9 * dG[j])
            u[ar, slot] = -1.0
            w = torch.where(add, 1.0 / torch.where(add, schur, 1.0), 0.0)
            M.addcmul_((w[:, None] * u)[:, :, None], u[:, None, :])
            idx[ar, slot] = torch.where(add, j, idx[ar, slot])
            on[ar, slot] |= add
            th[ar, slot] = torch.where(add, 1.0 if positive else signs[:, t], th[ar, slot])
            cS[ar, slot] = torch.where(add, 0.0, cS[ar, slot])
        if bool(refresh.any()):
            r_ = torch.nonzero(refresh).squeeze(1)
            M[r_] = _exact_inverse(Gflat, k, idx[r_], on[r_], M[r_])
            refreshed = refreshed | refresh
        bS = torch.gather(bb, 1, idx).to(wd)
        M, cS, th, on = _feature_sign(M, cS, th, on, bS, alpha, 2 * m + 10)
    return codes, it
