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
        Per-sample stopping tolerance on the relative change
        ``||z_k - z_{k-1}|| / ||z_{k-1}||``. A sample that meets it is frozen
        (no further updates, momentum included); the loop ends when every
        sample is frozen.

    Returns
    -------
    z : Tensor
        The codes.
    n_iter : int
        Iterations run.
    """
    z = z0.detach().clone()
    x = z.clone()
    t = 1.0
    active = torch.ones(z.shape[0], 1, dtype=torch.bool, device=z.device)
    thresh = step * alpha
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        g = grad(x)
        z_new = soft_threshold(x - step * g, thresh, positive)
        t_new = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        x_new = z_new + ((t - 1.0) / t_new) * (z_new - z)
        diff = (z_new - z).norm(dim=1, keepdim=True)
        ref = z.norm(dim=1, keepdim=True)
        # An all-zero previous iterate counts as converged only if nothing moved.
        converged = torch.where(ref > 0, diff < tol * ref, diff == 0)
        z = torch.where(active, z_new, z)
        x = torch.where(active, x_new, x)
        active = active & ~converged
        t = t_new
        if tol > 0 and n_iter % 5 == 0 and not bool(active.any()):
            break
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


def _newton_polish(c, b, G, alpha, positive, max_support):
    """Solve the Lasso restricted to each sample's current support and signs.

    On the right support the Lasso solution is ``c_S = G_SS^{-1}(b_S - alpha s_S)``.
    ``G`` is a batch of Gram matrices (n, m, m). Returns the candidate codes and a
    mask of the samples whose candidate kept the assumed signs (the caller checks
    optimality with the duality gap).
    """
    n, k = c.shape
    nz = c != 0
    sizes = nz.sum(1)
    ok = (sizes > 0) & (sizes <= max_support)
    valid = torch.zeros(n, dtype=torch.bool, device=c.device)
    out = c.clone()
    rows = torch.nonzero(ok).squeeze(1)
    if rows.numel() == 0:
        return out, valid
    m = int(sizes[rows].max())
    # Support indices first (stable sort of the zero mask), padded past the size.
    order = torch.argsort((~nz[rows]).to(torch.int8), dim=1, stable=True)[:, :m]
    pad = torch.arange(m, device=c.device)[None, :] >= sizes[rows][:, None]
    idx = torch.where(pad, torch.zeros_like(order), order)
    G_sub = G[rows[:, None, None], idx[:, :, None], idx[:, None, :]]
    eye = torch.eye(m, dtype=c.dtype, device=c.device).expand_as(G_sub)
    G_sub = torch.where(pad[:, :, None] | pad[:, None, :], eye, G_sub)
    signs = torch.sign(torch.gather(c[rows], 1, idx))
    rhs = torch.where(pad, 0.0, torch.gather(b[rows], 1, idx) - alpha * signs)
    sol, info = torch.linalg.solve_ex(G_sub, rhs.unsqueeze(2))
    sol = sol.squeeze(2)
    good = (info == 0) & torch.isfinite(sol).all(1) & ((sol * signs > 0) | pad).all(1)
    new = torch.zeros(rows.numel(), k, dtype=c.dtype, device=c.device)
    new.scatter_(1, idx, torch.where(pad, 0.0, sol))
    out[rows] = torch.where(good[:, None], new, c[rows])
    valid[rows] = good
    return out, valid


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
    working_set: int = 32,
    check_every: int = 5,
) -> tuple[torch.Tensor, int]:
    """Solve many Lasso problems sharing one dictionary, from its Gram matrix.

    Minimises ``0.5 * ||x_i - c_i D||^2 + alpha * ||c_i||_1`` for every row,
    given ``b = X D^T``, ``G = D D^T`` and ``xx = ||x_i||^2``.

    A working-set method: each sample's problem is solved on a small set of
    atoms (its current support plus the atoms that most violate the optimality
    conditions, initially the ``working_set`` atoms most correlated with it),
    then the optimality of the result is checked on the full dictionary with
    the duality gap. Samples that pass leave; the others get a new working set
    (doubled in size, for that sample only, when its support and violators no
    longer fit) and are solved again. The restricted problems are small dense
    batches, solved by coordinate descent vectorised over samples plus Newton
    steps on the current support, which give the exact Lasso solution as soon
    as the support and signs are right. When a working set reaches the full
    dictionary this is plain coordinate descent, so the method always converges.

    Parameters
    ----------
    b : Tensor of shape (n_samples, n_components)
    G : Tensor of shape (n_components, n_components)
    xx : Tensor of shape (n_samples,)
    alpha : float
    positive : bool, default=False
    max_iter : int, default=1000
        Sweep budget of each restricted solve.
    tol : float, default=1e-4
        Stop a sample when ``gap <= tol * primal`` (relative duality gap) on the
        full problem.
    init : Tensor, optional
        Warm start; its support seeds the working sets.
    working_set : int, default=32
        Initial working-set size.
    check_every : int, default=5
        Sweeps between gap checks and Newton steps in the restricted solves.

    Returns
    -------
    codes : Tensor of shape (n_samples, n_components)
    n_iter : int
        Largest total number of restricted sweeps spent on one sample.
    """
    n, k = b.shape
    codes = torch.zeros_like(b) if init is None else init.clone()
    if n == 0:
        return codes, 0
    tiny = torch.finfo(b.dtype).tiny
    corr = b - codes @ G if init is not None else b
    score = torch.where(codes != 0, torch.inf, corr if positive else corr.abs())
    # Pending groups of samples, each with its working-set size.
    groups = [(torch.arange(n, device=b.device), min(k, working_set), score, codes.clone(), 0)]
    worst = 0
    while groups:
        rows, m, score, c, spent = groups.pop(0)
        bb, xxa = b[rows], xx[rows]
        W = torch.topk(score, m, dim=1, sorted=False).indices
        GW = G[W[:, :, None], W[:, None, :]]
        cW, it = _restricted_lasso_cd(
            torch.gather(bb, 1, W), GW, xxa, alpha, positive, torch.gather(c, 1, W),
            max_iter, tol / 2, check_every,
        )
        spent += it
        c = torch.zeros_like(bb).scatter_(1, W, cW)
        cG = c @ G
        gap, primal = _duality_gap(c, cG, bb, xxa, alpha, positive)
        done = gap <= tol * torch.clamp(primal, min=tiny)
        if m == k:
            done[:] = True
        codes[rows[done]] = c[done]
        if bool(done.all()):
            worst = max(worst, spent)
            continue
        keep = ~done
        rows, c, cG, bb = rows[keep], c[keep], cG[keep], bb[keep]
        corr = bb - cG
        viol = (corr if positive else corr.abs()) - alpha
        need = ((c != 0) | (viol > 0)).sum(1)
        score = torch.where(c != 0, torch.inf, viol)
        # Samples whose support and violators fit keep their size; the others
        # move to a working set twice as large (or as large as they need).
        fits = need <= m
        for mask, size in ((fits, m), (~fits, None)):
            if bool(mask.any()):
                if size is None:
                    size = min(k, max(2 * m, int(need[mask].max())))
                groups.append((rows[mask], size, score[mask], c[mask], spent))
    return codes, worst


def _restricted_lasso_cd(b, G, xx, alpha, positive, c, max_iter, tol, check_every):
    """Cyclic coordinate descent, vectorised over samples, on small Lasso problems.

    ``b`` (n, m), ``G`` (n, m, m), warm start ``c`` (n, m); ``max_iter`` counts
    sweeps. Every ``check_every`` sweeps a Newton step on each sample's support
    is tried, and samples whose relative duality gap on the restricted problem
    is <= ``tol`` leave the batch.
    """
    n, m = b.shape
    out = c.clone()
    rows = torch.arange(n, device=b.device)
    c = c.clone()
    r = b - torch.bmm(G, c.unsqueeze(2)).squeeze(2)
    diag = torch.clamp(G.diagonal(dim1=1, dim2=2), min=torch.finfo(b.dtype).tiny)
    Gt = G.transpose(1, 2).contiguous()  # column j of G as a contiguous row
    sweeps = 0
    for sweeps in range(1, max_iter + 1):  # noqa: B007
        for j in range(m):
            cj = c[:, j]
            z = r[:, j] + diag[:, j] * cj
            new = soft_threshold(z, alpha, positive) / diag[:, j]
            delta = new - cj
            c[:, j] = new
            r -= Gt[:, j, :] * delta[:, None]
        if sweeps % check_every == 0 or sweeps == max_iter:
            cG = b - r
            gap, primal = _duality_gap(c, cG, b, xx, alpha, positive)
            cand, valid = _newton_polish(c, b, G, alpha, positive, m)
            if bool(valid.any()):
                cGc = torch.bmm(G, cand.unsqueeze(2)).squeeze(2)
                gap_c, _ = _duality_gap(cand, cGc, b, xx, alpha, positive)
                better = valid & (gap_c < gap)
                c = torch.where(better[:, None], cand, c)
                r = torch.where(better[:, None], b - cGc, r)
                gap = torch.where(better, gap_c, gap)
            done = gap <= tol * torch.clamp(primal, min=torch.finfo(b.dtype).tiny)
            if bool(done.any()):
                out[rows[done]] = c[done]
                keep = ~done
                rows, c, r, b, G, Gt, xx, diag = (
                    rows[keep], c[keep], r[keep], b[keep], G[keep], Gt[keep], xx[keep],
                    diag[keep],
                )
            if rows.numel() == 0:
                break
    if rows.numel():
        out[rows] = c
    return out, sweeps
