"""ThresholdedVAE (Fallah & Rozell 2022): the thresholded sampler and its gradient
estimators, max-ELBO sampling, the dictionary update, deterministic transforms, and
learning on real Fashion-MNIST. (sklearn's estimator checks run in test_common.py.)"""

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from torch import nn

from skdeepsparse.distributions import (
    _straight_through,
    laplace_noise_from_uniform,
    prior_nonzero_fraction,
    shifted_soft_threshold,
    threshold_for_nonzero_fraction,
)
from skdeepsparse.likelihood import aggregation_weights
from skdeepsparse.nn import ConvDecoder, ConvEncoder
from skdeepsparse.thresholded_vae import ThresholdedVAE

FAST = dict(n_components=32, encoder_hidden_sizes=(64,), n_mc_samples=5,
            n_eval_samples=5, max_epochs=4, batch_size=64, optimizer="adam",
            learning_rate=1e-3, decoder_optimizer="adam", decoder_learning_rate=1e-2,
            device="cpu", random_state=0)


@pytest.fixture(scope="module")
def digits():
    X = load_digits().data.astype(np.float32) / 16
    return X, load_digits().target


@pytest.fixture(scope="module")
def fitted(digits):
    X, _ = digits
    return ThresholdedVAE(**FAST).fit(X[:1000])


# ---------------------------------------------------------------- the sampler
def test_shifted_soft_threshold_is_exactly_zero_inside_threshold():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(500, 20, generator=g, dtype=torch.float64)
    e = 0.3 * torch.randn(500, 20, generator=g, dtype=torch.float64)
    lam = 0.25
    z = shifted_soft_threshold(mu, e, lam)
    inside = e.abs() <= lam
    assert inside.any() and (~inside).any()
    assert torch.all(z[inside] == 0)
    expected = mu + torch.sign(e) * (e.abs() - lam)
    torch.testing.assert_close(z[~inside], expected[~inside])
    # The threshold acts on the noise: zero noise gives a zero code, never mu.
    assert torch.all(shifted_soft_threshold(mu, torch.zeros_like(mu), lam) == 0)


@pytest.mark.parametrize("base", ["laplace", "gaussian"])
def test_prior_nonzero_fraction_matches_samples(base):
    s0 = 0.1 if base == "laplace" else math.sqrt(0.1)
    lam = threshold_for_nonzero_fraction(0.1, base, s0)
    # The reference thresholds: 0.23 (Laplace) and 0.52 (Gaussian) for 10% non-zeros.
    assert lam == pytest.approx(0.23 if base == "laplace" else 0.52, abs=0.005)
    assert prior_nonzero_fraction(lam, base, s0) == pytest.approx(0.1)
    g = torch.Generator().manual_seed(1)
    n = 400_000
    if base == "laplace":
        u = s0 * laplace_noise_from_uniform(torch.rand(n, generator=g, dtype=torch.float64))
    else:
        u = s0 * torch.randn(n, generator=g, dtype=torch.float64)
    z = shifted_soft_threshold(torch.zeros(n, dtype=torch.float64), u, lam)
    frac = float((z != 0).double().mean())
    assert abs(frac - 0.1) < 4 * math.sqrt(0.1 * 0.9 / n)


def test_laplace_posterior_is_spike_and_slab():
    """P(z != 0) = exp(-lambda/b) and the slab is Laplace(mu, b) (memorylessness)."""
    g = torch.Generator().manual_seed(2)
    n, b, mu, lam = 400_000, 0.3, 0.7, 0.25
    e = b * laplace_noise_from_uniform(torch.rand(n, generator=g, dtype=torch.float64))
    z = shifted_soft_threshold(torch.full((n,), mu, dtype=torch.float64), e, lam)
    p = math.exp(-lam / b)
    frac = float((z != 0).double().mean())
    assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / n)
    slab = z[z != 0] - mu
    assert float(slab.mean()) == pytest.approx(0.0, abs=0.005)
    assert float(slab.abs().mean()) == pytest.approx(b, rel=0.01)  # E|Laplace(0,b)| = b


def test_spike_slab_kl_matches_monte_carlo():
    est = ThresholdedVAE(kl="spike_slab")
    est.prior_scale_, est.threshold_ = 0.1, 0.25
    mu = torch.tensor([0.0, 0.4, -0.2], dtype=torch.float64)
    b = torch.tensor([0.1, 0.3, 0.05], dtype=torch.float64)
    lam = torch.tensor(0.25, dtype=torch.float64)
    kl = est._kl(mu, b, lam)
    g = torch.Generator().manual_seed(3)
    n = 400_000
    e = b * laplace_noise_from_uniform(torch.rand(n, 3, generator=g, dtype=torch.float64))
    z = shifted_soft_threshold(mu, e, lam)
    p, p0 = torch.exp(-lam / b), math.exp(-0.25 / 0.1)
    log_q = torch.where(z == 0, torch.log1p(-p),
                        torch.log(p) - (z - mu).abs() / b - torch.log(2 * b))
    log_p = torch.where(z == 0, torch.full_like(z, math.log1p(-p0)),
                        math.log(p0) - z.abs() / 0.1 - math.log(0.2))
    mc = (log_q - log_p).mean(0)
    se = (log_q - log_p).std(0) / math.sqrt(n)
    assert torch.all((kl - mc).abs() < 5 * se + 1e-3)
    # Without a threshold it is the plain Laplace KL (closed form written out here).
    est.threshold_ = 0.0
    plain = mu.abs() / 0.1 + math.log(0.1) - torch.log(b) - 1 + (b / 0.1) * torch.exp(-mu.abs() / b)
    torch.testing.assert_close(est._kl(mu, b, torch.tensor(0.0, dtype=torch.float64)), plain)


@pytest.mark.parametrize("estimator", ["straight", "straight_pure", "subgradient"])
def test_gradient_estimators_match_hand_derivation(estimator):
    """Each estimator's per-entry gradient against its derivation, by autograd.

    The sample is ``z = 1[|e| > lam] (mu + sign(e)(|e| - lam))`` with noise
    ``e = w b eps``. With ``a = 1[|e| > lam]``, ``s = sign(eps)``:

    * straight (the reference: ``z = T(mu, sg(e), lam) + (mu + e) - sg(mu + e)``):
      the threshold term gives d/dmu = a, d/db = 0 (its noise is detached),
      d/dlam = -s a; the straight-through term gives d/dmu = 1, d/db = w eps.
      Sum: dz/dmu = 1 + a, dz/db = w eps (not doubled where active), dz/dlam = -s a.
    * straight_pure: only the straight-through term: 1, w eps, 0.
    * subgradient: the derivative of the threshold itself: a, a w eps, -s a.
    """
    g = torch.Generator().manual_seed(0)
    n, w = 16, 0.7
    mu = torch.randn(n, generator=g, dtype=torch.float64).requires_grad_()
    b = (0.2 + torch.rand(n, generator=g, dtype=torch.float64)).requires_grad_()
    lam = torch.full((n,), 0.25, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(n, generator=g, dtype=torch.float64)
    e = w * b * eps
    z = _straight_through(mu, e, lam, estimator, thresholding=True)
    torch.testing.assert_close(z.detach(), shifted_soft_threshold(mu, e, lam).detach())
    z.sum().backward()  # entries are independent: these are the diagonals of dz/d.
    a = (e.detach().abs() > 0.25).double()
    s = torch.sign(eps)
    assert 0 < a.sum() < n  # both kinds of entries are checked
    ones, zeros = torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    want = {
        "straight": (ones + a, w * eps, -s * a),
        "straight_pure": (ones, w * eps, zeros),
        "subgradient": (a, a * w * eps, -s * a),
    }[estimator]
    got = (mu.grad, b.grad, lam.grad if lam.grad is not None else zeros)
    for name, g_, w_ in zip(("mu", "b", "lam"), got, want, strict=True):
        torch.testing.assert_close(g_, w_, msg=f"dz/d{name}")
    if estimator == "subgradient":
        # The subgradient formula is the true derivative: central differences agree.
        h = 1e-6
        for leaf, grad in ((mu, want[0]), (b, want[1]), (lam, want[2])):
            with torch.no_grad():
                leaf += h
                up = shifted_soft_threshold(mu, w * b * eps, lam)
                leaf -= 2 * h
                down = shifted_soft_threshold(mu, w * b * eps, lam)
                leaf += h
            torch.testing.assert_close((up - down) / (2 * h), grad, rtol=1e-6, atol=1e-6)
    # Without thresholding (the VAE baselines): the plain reparameterisation.
    mu.grad = b.grad = None
    _straight_through(mu, w * b * eps, lam, estimator, thresholding=False).sum().backward()
    torch.testing.assert_close(mu.grad, ones)
    torch.testing.assert_close(b.grad, w * eps)


# ------------------------------------------------------------ max-ELBO sampling
def testaggregation_weights():
    g = torch.Generator().manual_seed(0)
    losses = torch.rand(7, 50, generator=g)
    w = aggregation_weights(losses, "max")
    assert torch.all(w.sum(0) == 1) and torch.all((w == 0) | (w == 1))
    assert torch.equal(w.argmax(0), losses.argmin(0))
    torch.testing.assert_close(aggregation_weights(losses, "avg"), torch.full_like(losses, 1 / 7))
    torch.testing.assert_close(aggregation_weights(losses, "iwae"), torch.softmax(-losses, 0))
    # The argmin is not differentiated: only the selected draw gets gradient.
    lr = losses.clone().requires_grad_(True)
    (aggregation_weights(lr, "max") * lr).sum(0).mean().backward()
    torch.testing.assert_close(lr.grad, w / 50)


def test_max_elbo_transform_picks_lowest_loss_draw(fitted, digits):
    X = torch.tensor(digits[0][1000:1100])
    with torch.no_grad():
        draws = list(fitted._eval_draws(X))
    losses = torch.stack([loss for _, loss in draws])
    codes = torch.stack([z for z, _ in draws])
    best = codes[losses.argmin(0), torch.arange(len(X))]
    max_elbo = pickle.loads(pickle.dumps(fitted)).set_params(transform_mode="max_elbo")
    np.testing.assert_array_equal(max_elbo.transform(X.numpy()), best.numpy())
    # score is minus the lowest loss (sample_method="max").
    np.testing.assert_allclose(fitted.score_samples(X.numpy()), -losses.min(0).values.numpy(),
                               rtol=1e-5)
    # Draws differ, and the kept one reconstructs better than the average draw.
    assert float(losses.std(0).mean()) > 0


class _TinyDecoder(nn.Module):
    def __init__(self, n_components, n_features, hidden=8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_components, hidden), nn.Tanh(),
                                 nn.Linear(hidden, n_features))

    def forward(self, z):
        return self.net(z)


@pytest.mark.parametrize("decoder", ["conv", _TinyDecoder])
def test_max_elbo_step_differentiates_the_kept_draw_inside_the_full_batch(
        digits, decoder, monkeypatch):
    """The step's gradient is that of the selected draw's loss, every draw decoded in
    one J x B batch (what selected it). With the conv decoder's BatchNorm, decoding
    only the kept draws (statistics over B) gives another gradient; a decoder without
    BatchNorm takes that cheaper path and must agree exactly."""
    J, B, K = 4, 32, 6
    conv = decoder == "conv"
    arch = (dict(image_shape=(8, 8), encoder_hidden_sizes=(4, 4), decoder_hidden_sizes=(4, 4))
            if conv else dict(encoder_hidden_sizes=(16,)))
    X = digits[0][:64].astype(np.float64)
    est = ThresholdedVAE(n_components=K, decoder=decoder, base_dist="gaussian",
                         n_mc_samples=J, max_epochs=1, batch_size=B, validation_fraction=0,
                         device="cpu", random_state=0, **arch).fit(X)
    module = est.module_
    params = [p for p in module.parameters() if p.requires_grad]
    Xb = torch.tensor(X[:B])
    state = est._generator.get_state()
    monkeypatch.setattr(est._optimizers[0], "step", lambda *a, **k: None)  # read, don't move
    module.train()
    try:
        est._train_step(Xb)
        got = [p.grad.clone() for p in params]

        def kept_loss_grads(full_batch: bool):
            """The reference computation, written out: same noise, straight estimator."""
            est._generator.set_state(state)
            module.zero_grad(set_to_none=True)
            Y = est._standardize(Xb)
            mu, log_b, _, _ = module.encode(Y)
            b = log_b.exp()
            e = b * torch.randn((J, B, K), generator=est._generator, dtype=Y.dtype)
            z_base = mu + e
            z = shifted_soft_threshold(mu, e.detach(), est.threshold_) + z_base - z_base.detach()
            s0 = est.prior_scale_
            kl = (0.5 * ((b / s0) ** 2 + (mu / s0) ** 2 - 1 - 2 * torch.log(b / s0))).sum(-1)
            with torch.no_grad():
                X_hat = module.decoder(z.reshape(J * B, K)).reshape(J, B, -1)
                best = (((Y - X_hat) ** 2).mean(-1) + est.kl_weight * kl).argmin(0)
            rows = torch.arange(B)
            if full_batch:
                X_hat = module.decoder(z.reshape(J * B, K)).reshape(J, B, -1)[best, rows]
            else:
                X_hat = module.decoder(z[best, rows])
            (((Y - X_hat) ** 2).mean(-1) + est.kl_weight * kl).mean().backward()
            return [p.grad.clone() for p in params]

        want = kept_loss_grads(full_batch=True)
        for g_, w_ in zip(got, want, strict=True):
            torch.testing.assert_close(g_, w_)
        if conv:  # the old step: BatchNorm statistics over the B kept draws only
            old = kept_loss_grads(full_batch=False)
            assert not all(torch.allclose(o, w_) for o, w_ in zip(old, want, strict=True))
    finally:
        module.eval()


# ------------------------------------------------------------------ transforms
def test_transform_is_deterministic_and_batch_independent(fitted, digits):
    X = digits[0][1000:1200]
    Z = fitted.transform(X)
    np.testing.assert_array_equal(Z, fitted.transform(X))
    parts = np.vstack([fitted.transform(X[:37]), fitted.transform(X[37:])])
    np.testing.assert_array_equal(Z, parts)
    perm = np.random.RandomState(0).permutation(len(X))
    np.testing.assert_array_equal(Z[perm], fitted.transform(X[perm]))
    # Same random_state, same fit and codes; another random_state, other draws.
    again = clone(fitted).fit(digits[0][:1000])
    np.testing.assert_array_equal(Z, again.transform(X))
    other = clone(fitted).set_params(random_state=1).fit(digits[0][:1000])
    assert not np.array_equal(Z, other.transform(X))


def test_pickle_round_trip(fitted, digits):
    X = digits[0][1000:1100]
    clone_ = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(fitted.transform(X), clone_.transform(X))
    np.testing.assert_array_equal(fitted.score_samples(X), clone_.score_samples(X))
    # The fitted copy keeps training.
    clone_.partial_fit(X)
    assert clone_.n_steps_ > fitted.n_steps_


def _soft_threshold_by_hand(est, X):
    """``T_lambda(mu)`` from the posterior head, and the posterior scale ``b``."""
    with torch.no_grad():
        mu, scale, lam, _ = est._posterior(est._standardize(torch.tensor(X)))
    mu, lam = mu.numpy().astype(np.float64), lam.numpy()
    return np.sign(mu) * np.maximum(np.abs(mu) - lam, 0.0), mu, scale.numpy(), lam


def test_soft_threshold_transform_is_the_soft_threshold_of_the_posterior_location(fitted,
                                                                                  digits):
    X = digits[0][1000:1200]
    fitted = pickle.loads(pickle.dumps(fitted)).set_params(transform_mode="soft_threshold")
    Z = fitted.transform(X)
    expected, mu, _, lam = _soft_threshold_by_hand(fitted, X)
    np.testing.assert_allclose(Z, expected, rtol=1e-5, atol=1e-6)
    # Exact zeros exactly where |mu| <= lambda, and codes a classifier can use.
    np.testing.assert_array_equal(Z == 0, np.abs(mu) <= lam)
    assert 0.2 < (Z == 0).mean() < 1.0 and not np.signbit(Z[Z == 0]).any()
    # Deterministic and row by row: any batch split or order, bit for bit; batches of
    # under 4 rows go through other BLAS kernels on CPU: equal up to rounding.
    np.testing.assert_array_equal(Z, fitted.transform(X))
    np.testing.assert_array_equal(Z, np.vstack([fitted.transform(X[:4]), fitted.transform(X[4:])]))
    np.testing.assert_allclose(Z[:1], fitted.transform(X[:1]), rtol=1e-5, atol=1e-6)
    perm = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_array_equal(Z[perm], fitted.transform(X[perm]))


def _location_float64(est, X, with_scale=False):
    """The location ``mu`` (and ``log b``) recomputed in float64 numpy from the
    weights: standardise, the ReLU MLP, the heads (no torch forward, no folding)."""
    linears = [m for m in est.module_.features.modules() if isinstance(m, nn.Linear)]
    h = (np.asarray(X, dtype=np.float64) - est.mean_) / est.scale_
    for lin in linears:
        h = h @ lin.weight.detach().double().numpy().T + lin.bias.detach().double().numpy()
        h = np.maximum(h, 0.0)
    heads = [est.module_.loc, est.module_.log_scale] if with_scale else [est.module_.loc]
    out = [h @ m.weight.detach().double().numpy().T + m.bias.detach().double().numpy()
           for m in heads]
    return tuple(out) if with_scale else out[0]


def _threshold_by_hand(mu, lam, mode):
    if mode == "soft_threshold":
        return np.sign(mu) * np.maximum(np.abs(mu) - lam, 0.0)
    return np.where(np.abs(mu) > lam, mu, 0.0)


def _expected_support_by_hand(mu, p):
    """Per row: keep the n = round(sum p) largest |mu|, soft-thresholded at the
    largest |mu| left out (a loop over rows, numpy)."""
    Z = np.zeros_like(mu)
    for i, (m, n) in enumerate(zip(mu, np.round(p.sum(1)).astype(int), strict=True)):
        order = np.argsort(-np.abs(m))
        t = np.abs(m[order[n]]) if n < len(m) else 0.0
        Z[i, order[:n]] = np.sign(m[order[:n]]) * (np.abs(m[order[:n]]) - t)
    return Z


@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_threshold_fast_path_matches_float64_forward(digits, monkeypatch, offset):
    """The soft/hard-threshold transform folds the standardisation into the first
    layer while the data's mean is within 4 std of zero; with a large offset (where
    folding would cancel catastrophically in float32) it standardises first. Both
    must give the float64 forward's codes, for every chunking, dtype and layout."""
    import skdeepsparse.thresholded_vae as tv

    X = digits[0][:600] + np.float32(offset)
    est = ThresholdedVAE(**{**FAST, "max_epochs": 2}).fit(X)
    assert (abs(est.mean_) > 4 * est.scale_) == (offset > 0)
    mu, log_b = _location_float64(est, X, with_scale=True)
    p = np.exp(-est.threshold_ / np.exp(log_b))
    ro = X.copy()
    ro.setflags(write=False)
    try:
        for mode in ("expected_support", "soft_threshold", "hard_threshold"):
            est.set_params(transform_mode=mode)
            if mode == "expected_support":
                expected = _expected_support_by_hand(mu, p)
                # Away from a tie in the ranking and from a rounding boundary.
                srt = np.sort(np.abs(mu), 1)
                row_ok = ((np.diff(srt, axis=1).min(1) > 1e-4)
                          & (np.abs(p.sum(1) % 1 - 0.5) > 1e-3))
                clear = np.broadcast_to(row_ok[:, None], mu.shape)
            else:
                expected = _threshold_by_hand(mu, est.threshold_, mode)
                clear = np.abs(np.abs(mu) - est.threshold_) > 1e-4  # away from the threshold
            Z = est.transform(X)
            assert Z.dtype == np.float32
            np.testing.assert_allclose(Z[clear], expected[clear], rtol=1e-4, atol=2e-5)
            np.testing.assert_array_equal((Z == 0)[clear], (expected == 0)[clear])
            assert not np.signbit(Z[Z == 0]).any()
            # Chunk boundaries (7 rows), read-only, reversed and float64 input. With
            # several threads the CPU matrix kernel splits a 7-row and a 600-row
            # product differently, so the codes agree to float rounding (bit for bit
            # with one thread), with the same zeros away from the threshold.
            monkeypatch.setattr(tv, "_THRESHOLD_CHUNK", 7)

            def same(A, B, clear=clear):
                np.testing.assert_allclose(A, B, rtol=1e-6, atol=1e-6)
                np.testing.assert_array_equal((A == 0)[clear], (B == 0)[clear])
            same(est.transform(X), Z)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # torch warns on non-writable arrays it wraps
                same(est.transform(ro), Z)
            same(est.transform(X[::-1])[::-1], Z)
            Z64 = est.transform(X.astype(np.float64))
            assert Z64.dtype == np.float64
            np.testing.assert_allclose(Z64[clear], expected[clear], rtol=1e-4, atol=2e-5)
            monkeypatch.undo()
    finally:
        est.set_params(transform_mode="expected_support")


def test_hard_threshold_is_the_l0_proximal_step():
    """``mu 1[|mu| > lambda]`` minimises ``(z - mu)^2 / 2 + lambda^2 / 2 1[z != 0]``
    (checked on a grid): the soft threshold's support, the magnitude unshrunk."""
    lam = 0.3
    mu = np.array([-1.0, -0.31, -0.29, -0.1, 0.0, 0.25, 0.35, 0.8])
    grid = np.union1d(np.linspace(-2, 2, 40_001), [0.0])
    objective = 0.5 * (grid[:, None] - mu) ** 2 + 0.5 * lam**2 * (grid[:, None] != 0)
    best = grid[objective.argmin(0)]
    np.testing.assert_allclose(best, _threshold_by_hand(mu, lam, "hard_threshold"), atol=1e-4)
    np.testing.assert_array_equal(best == 0, _threshold_by_hand(mu, lam, "soft_threshold") == 0)


def test_soft_threshold_fast_path_reads_no_scale_head(fitted, digits):
    """The default transform needs only the location: a broken scale head or noise
    generator must not change it (the other modes use them)."""
    X = digits[0][1000:1100]
    est = pickle.loads(pickle.dumps(fitted)).set_params(transform_mode="soft_threshold")
    Z = est.transform(X)
    with torch.no_grad():
        est.module_.log_scale.weight.fill_(float("nan"))
    est._generator = None
    np.testing.assert_array_equal(est.transform(X), Z)
    assert np.isnan(est.set_params(transform_mode="mean").transform(X)).all()


def _shifted_threshold_median(mu, b, lam, base):
    """Median of z = 0 if |e| <= lam else mu + sign(e)(|e| - lam), e ~ base(0, b):
    0 when p = P(z != 0) <= 1/2, else sign(mu) max(0, |mu| + lam + F_b^-1(p - 1/2))
    (solve P(z <= m) = 1 - p + F_b(m - |mu| - lam) = 1/2 for 0 < m < |mu|)."""
    from scipy import stats

    dist = stats.laplace(scale=b) if base == "laplace" else stats.norm(scale=b)
    p = 2 * dist.cdf(-lam)
    inner = np.abs(mu) + lam + dist.ppf(np.clip(p - 0.5, 1e-300, None))
    return np.where(p > 0.5, np.sign(mu) * np.maximum(0.0, inner), 0.0), p


@pytest.mark.parametrize("base", ["laplace", "gaussian"])
def test_soft_threshold_is_the_proximal_step_not_the_posterior_median(base):
    """The default code is argmin_z (z - mu)^2 / 2 + lambda |z| (a grid search
    here). The posterior statistics are checked on the model's own construction,
    the shifted threshold drawn by its sampling code (Monte Carlo): its median
    (formula above; 0 whenever P(z != 0) <= 1/2, where the soft threshold is
    not) and its mean P(z != 0) mu (transform_mode="mean")."""
    est = ThresholdedVAE(n_components=6, base_dist=base, device="cpu", random_state=0)
    est._generator = torch.Generator().manual_seed(0)
    lam = 0.25
    mu = torch.tensor([-1.0, -0.31, -0.1, 0.0, 0.25, 0.8], dtype=torch.float64)
    b = torch.tensor([0.6, 0.1, 0.3, 0.4, 0.1, 0.3], dtype=torch.float64)
    soft = np.sign(mu.numpy()) * np.maximum(np.abs(mu.numpy()) - lam, 0)
    grid = np.linspace(-2, 2, 40_001)
    objective = 0.5 * (grid[:, None] - mu.numpy()) ** 2 + lam * np.abs(grid[:, None])
    np.testing.assert_allclose(grid[objective.argmin(0)], soft, atol=1e-4)
    n = 200_001
    z = shifted_soft_threshold(mu, b * est._base_noise((n, 6), mu), lam)  # the model's draw
    median, p = _shifted_threshold_median(mu.numpy(), b.numpy(), lam, base)
    assert p[0] > 0.5 and median[0] < 0  # the non-zero branch of the formula is used
    # Standard error of these sample medians: at most about 0.005 (n = 200,001).
    np.testing.assert_allclose(z.median(0).values.numpy(), median, atol=0.02)
    np.testing.assert_allclose(z.mean(0).numpy(), p * mu.numpy(),
                               atol=float(5 * (z.var(0).max() / n) ** 0.5))
    if base == "laplace":  # the example: mu 0.8, b 0.3 -> median 0, soft 0.55
        assert median[5] == 0.0 and abs(float(z[:, 5].median())) < 1e-12
        assert soft[5] == pytest.approx(0.55)


def test_default_transform_keeps_the_posterior_expected_number_of_nonzeros(fitted, digits):
    """The default code keeps, in each row, as many non-zeros as the model's
    posterior has on average: checked against draws of the model's own shifted
    threshold (Monte Carlo, its sampling code), the support the largest ``|mu|``,
    each kept value shrunk by the largest ``|mu|`` left out."""
    assert ThresholdedVAE().transform_mode == "expected_support" == fitted.transform_mode
    X = digits[0][1000:1200]
    Z = fitted.transform(X)
    with torch.no_grad():
        mu, scale, lam, _ = fitted._posterior(fitted._standardize(torch.tensor(X)))
    n_draws = 4000
    gen = torch.Generator().manual_seed(0)
    draws = fitted._family(mu.double(), scale.double(), lam.double()).rsample((n_draws,), gen)
    counts = (draws != 0).sum(-1).double()  # (draws, rows): non-zeros per drawn code
    mc_mean, mc_se = counts.mean(0).numpy(), (counts.std(0) / n_draws**0.5).numpy()
    nnz = (Z != 0).sum(1)
    # The rounded posterior mean: within half a latent plus Monte Carlo error.
    assert np.all(np.abs(nnz - mc_mean) <= 0.5 + 4 * mc_se + 1e-9)
    assert 0.5 < (Z == 0).mean() < 0.95
    # The agreement the issue asks for: zero fractions within a point here.
    assert (Z == 0).mean() == pytest.approx(1 - mc_mean.mean() / Z.shape[1], abs=0.01)
    mu, p = mu.numpy().astype(np.float64), np.exp(-lam.item() / scale.numpy().astype(np.float64))
    rows = np.abs(p.sum(1) % 1 - 0.5) > 1e-3  # away from a rounding boundary
    np.testing.assert_allclose(Z[rows], _expected_support_by_hand(mu, p)[rows],
                               rtol=1e-5, atol=1e-6)
    assert not np.signbit(Z[Z == 0]).any()
    # Deterministic and row by row.
    np.testing.assert_array_equal(Z, fitted.transform(X))
    np.testing.assert_array_equal(Z, np.vstack([fitted.transform(X[:4]), fitted.transform(X[4:])]))
    perm = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_array_equal(Z[perm], fitted.transform(X[perm]))
    # The same codes through the general path (module forward, no folding).
    with torch.no_grad():
        general = fitted._transform_batch(torch.tensor(X)).numpy()
    np.testing.assert_allclose(Z, general, rtol=1e-5, atol=1e-6)


def test_transform_modes(fitted, digits):
    X = digits[0][1000:1200]
    est = fitted
    try:
        Z = {}
        for mode in ("max_elbo", "mean", "mode", "sample"):
            Z[mode] = est.set_params(transform_mode=mode).transform(X)
            if mode != "mode":
                # Never the all-zero codes of thresholding zero noise.
                assert (Z[mode] != 0).mean() > 0.02, mode
        assert (Z["max_elbo"] == 0).mean() > 0.5
        assert (Z["mean"] == 0).mean() < 0.01  # P(z != 0) mu: dense
        Xt = torch.tensor(X)
        with torch.no_grad():
            mu, scale, lam, _ = est._posterior(est._standardize(Xt))
            p = est._nonzero_prob(scale, lam).numpy()
        np.testing.assert_allclose(Z["mean"], p * mu.numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(Z["mode"], np.where(p > 0.5, mu.numpy(), 0))
        # "sample" is random: fresh draws, whose non-zero rate matches P(z != 0).
        again = est.transform(X)
        assert not np.array_equal(Z["sample"], again)
        nz = np.mean([(est.transform(X) != 0).mean() for _ in range(20)])
        assert nz == pytest.approx(p.mean(), abs=0.01)
    finally:
        est.set_params(transform_mode="expected_support")


def test_components_and_inverse_transform(fitted, digits):
    X = digits[0][1000:1100]
    Z = fitted.transform(X)
    np.testing.assert_allclose(fitted.inverse_transform(Z), Z @ fitted.components_ + fitted.mean_,
                               rtol=1e-4, atol=1e-5)
    assert fitted.components_.shape == (32, 64)
    assert fitted.components_.dtype == np.float32
    kl = fitted.kl_divergence(X)
    assert kl.shape == (100, 32) and np.all(kl >= -1e-5)
    with pytest.raises(ValueError, match="32 components"):
        fitted.inverse_transform(Z[:, :5])


# ------------------------------------------------------------ training pieces
def _dictionary_model(X, **kw):
    kw = {"decoder_optimizer": "sgd", **kw}  # these tests check the reference's SGD step
    return ThresholdedVAE(n_components=8, encoder_hidden_sizes=(16,), max_epochs=1,
                          n_mc_samples=3, device="cpu", random_state=0, **kw).fit(X)


def _set_decoder_lr(est, lr):
    for group in est._optimizers[1].param_groups:
        group["lr"] = lr


def test_dictionary_sgd_step_matches_formula(digits):
    est = _dictionary_model(digits[0][:200], sample_method="avg", decoder_step_cap=False,
                            decoder_weight_decay=2e-3)  # rho = 1e-3
    assert isinstance(est._optimizers[1], torch.optim.SGD)
    g = torch.Generator().manual_seed(0)
    Phi0 = est.module_.decoder.weight.detach().clone()
    Y = torch.randn(10, 64, generator=g)
    Z = torch.randn(3, 10, 8, generator=g)
    w = torch.softmax(torch.randn(3, 10, generator=g), 0)
    _set_decoder_lr(est, 0.3)
    est._update_dictionary(Y, Z @ Phi0.T, Z, w)
    grad = sum(w[j, i] * torch.outer(Y[i] - Phi0 @ Z[j, i], Z[j, i])
               for j in range(3) for i in range(10)) / 10 - 2e-3 * Phi0
    torch.testing.assert_close(est.module_.decoder.weight, Phi0 + 0.3 * grad)


def test_capped_dictionary_step_is_a_step_of_one_over_L(digits):
    """The cap scales the gradient by 1/(lr L): with plain SGD, a step of exactly 1/L."""
    est = _dictionary_model(digits[0][:200], decoder_weight_decay=2e-3)  # rho = 1e-3
    g = torch.Generator().manual_seed(0)
    Phi0 = est.module_.decoder.weight.detach().clone()
    Y = torch.randn(10, 64, generator=g)
    Z = 10 * torch.randn(1, 10, 8, generator=g)  # huge codes: lr L >> 2
    _set_decoder_lr(est, 0.5)
    _, capped = est._update_dictionary(Y, Z @ Phi0.T, Z, torch.ones(1, 10))
    L = float(torch.linalg.eigvalsh(Z[0].T.double() @ Z[0].double() / 10)[-1]) + 2e-3
    assert capped == 1.0 and 0.5 * L > 1
    grad = (Y - Z[0] @ Phi0.T).T @ Z[0] / 10 - 2e-3 * Phi0
    torch.testing.assert_close(est.module_.decoder.weight, Phi0 + grad / L,
                               rtol=1e-5, atol=1e-5)
    assert est._optimizers[1].param_groups[0]["lr"] == 0.5  # the schedule is untouched


def test_dictionary_step_cap_prevents_divergence(digits):
    X = digits[0][:200]
    est = _dictionary_model(X)
    Phi = est.module_.decoder.weight
    g = torch.Generator().manual_seed(0)
    Y = torch.randn(10, 64, generator=g)
    Z = 10 * torch.randn(1, 10, 8, generator=g)  # huge codes: lr L >> 2
    w = torch.ones(1, 10)
    _set_decoder_lr(est, 0.5)
    for _ in range(50):
        _, capped = est._update_dictionary(Y, (Z @ Phi.T).detach(), Z, w)
        assert capped == 1.0
    assert torch.isfinite(Phi).all() and float(Phi.norm()) < 100
    # The reference's fixed step diverges on the same codes.
    est2 = clone(est).set_params(decoder_step_cap=False).fit(X)
    Phi2 = est2.module_.decoder.weight
    _set_decoder_lr(est2, 0.5)
    for _ in range(50):
        est2._update_dictionary(Y, (Z @ Phi2.T).detach(), Z, w)
    assert not torch.isfinite(Phi2).all() or float(Phi2.norm()) > 1e6


def test_decoder_norm_and_adam(digits):
    est = _dictionary_model(digits[0][:300], decoder_norm=1.0, decoder_optimizer="adam")
    assert isinstance(est._optimizers[1], torch.optim.Adam)
    norms = est.module_.decoder.weight.norm(dim=0)
    torch.testing.assert_close(norms, torch.ones(8), rtol=1e-5, atol=1e-5)


def test_learned_threshold(digits):
    X = digits[0][:500]
    state = torch.get_rng_state()
    est = ThresholdedVAE(n_components=16, encoder_hidden_sizes=(32,),
                         learn_threshold=True, kl="spike_slab", max_epochs=3, n_mc_samples=4,
                         n_eval_samples=4, target_density=0.1, device="cpu",
                         random_state=0).fit(X)
    # The Gamma draws run under a forked RNG: the user's global state is untouched.
    assert torch.equal(state, torch.get_rng_state())
    hist = est.history_
    assert all(np.isfinite(h["kl_threshold"]) for h in hist)
    # Starts at the prior mean and moves away from it.
    assert est.threshold_ == pytest.approx(0.1 * math.log(10))
    assert hist[-1]["threshold"] != pytest.approx(est.threshold_, rel=1e-3)
    with torch.no_grad():
        _, _, lam, _ = est._posterior(est._standardize(torch.tensor(X[:50])))
    assert lam.shape == (50, 16) and torch.all(lam > 0)
    # The soft threshold acts on each latent with its own posterior-mean threshold,
    # and so does P(z != 0) in the default code's count.
    soft = est.set_params(transform_mode="soft_threshold").transform(X[:50])
    np.testing.assert_allclose(soft, _soft_threshold_by_hand(est, X[:50])[0],
                               rtol=1e-5, atol=1e-6)
    _, mu, b, lam = _soft_threshold_by_hand(est, X[:50])
    Z = est.set_params(transform_mode="expected_support").transform(X[:50])
    np.testing.assert_allclose(Z, _expected_support_by_hand(mu, np.exp(-lam / b)),
                               rtol=1e-5, atol=1e-6)
    hard = est.set_params(transform_mode="hard_threshold").transform(X[:50])
    np.testing.assert_allclose(hard, np.where(np.abs(mu) > lam, mu, 0), rtol=1e-5, atol=1e-6)
    assert (est.set_params(transform_mode="max_elbo").transform(X[:50]) == 0).mean() > 0.3


def test_noise_warmup_and_schedules(digits):
    X = digits[0][:640]
    est = ThresholdedVAE(n_components=8, encoder_hidden_sizes=(16,), max_epochs=10,
                         batch_size=64, validation_fraction=0, noise_warmup=(0.1, 20, 0.02),
                         warmup_fraction=0.3, optimizer="auto", learning_rate="auto",
                         decoder_optimizer="sgd", decoder_learning_rate="auto", device="cpu",
                         random_state=0).fit(X)
    w = [h["noise_scale"] for h in est.history_]
    # 10 steps an epoch: w = 0.1 for steps < 20, then + 0.02 a step up to 1 (step 65).
    assert w[0] == pytest.approx(0.1) and w[2] == pytest.approx(0.1 + 0.02 * 4.5)
    assert w[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(w, w[1:], strict=False))
    # The core's one-cycle schedule (lr at the end of each epoch): up, then down to ~0.
    lr = [h["lr"] for h in est.history_]
    peak = int(np.argmax(lr))
    assert 0 < peak < len(lr) - 1 and lr[-1] < 0.05 * max(lr)
    assert max(lr) == pytest.approx(0.01, rel=0.05)  # "auto": SGD at 0.01 (linear decoder)
    # The dictionary's StepLR: 0.5 * 0.99 ** epoch during each epoch.
    for h in est.history_:
        assert h["decoder_lr"] == pytest.approx(0.5 * 0.99 ** h["epoch"])
    # partial_fit: constant peak learning rate, steps counted on.
    steps = est.n_steps_
    est.partial_fit(X)
    assert est._optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01)
    assert est.n_steps_ == steps + 10


def test_auto_optimizer_resolution():
    auto = dict(optimizer="auto", learning_rate="auto")  # the defaults are Adam, 1e-3
    lin, conv = ThresholdedVAE(**auto), ThresholdedVAE(decoder="conv", **auto)
    assert (lin._optimizer_kind, lin._learning_rate) == ("sgd", 0.01)
    assert (conv._optimizer_kind, conv._learning_rate) == ("adam", 3e-4)
    assert ThresholdedVAE(optimizer="adam", learning_rate="auto")._learning_rate == 3e-4


def test_baselines_are_one_parameter_away(digits):
    X = digits[0][:500]
    common = dict(n_components=16, encoder_hidden_sizes=(32,), max_epochs=2,
                  n_mc_samples=3, n_eval_samples=3, device="cpu", random_state=0)
    for base in ("gaussian", "laplace"):
        vae = ThresholdedVAE(base_dist=base, threshold=0, **common).fit(X)
        Z = vae.transform(X[:100])
        assert (Z == 0).mean() == 0  # dense codes: a plain VAE
        np.testing.assert_allclose(vae.set_params(transform_mode="mean").transform(X[:100]),
                                   vae.set_params(transform_mode="mode").transform(X[:100]))
        assert vae.history_[-1]["zeros"] == 0
    tvae = ThresholdedVAE(base_dist="gaussian", target_density=0.1, **common).fit(X)
    assert tvae.threshold_ == pytest.approx(0.52, abs=0.005)  # the reference's lambda
    assert (tvae.transform(X[:100]) == 0).mean() > 0.5


def test_target_density_sets_threshold(digits):
    X = digits[0][:100]
    for base, s0 in (("laplace", 0.05), ("gaussian", 0.2)):
        est = ThresholdedVAE(n_components=4, base_dist=base, prior_scale=s0, target_density=0.2,
                             encoder_hidden_sizes=(8,), max_epochs=1, device="cpu",
                             random_state=0).fit(X)
        assert est.prior_nonzero_fraction_ == pytest.approx(0.2)
        assert est.threshold_ == pytest.approx(threshold_for_nonzero_fraction(0.2, base, s0))
    # An explicit threshold wins over target_density.
    est.set_params(threshold=0.3).fit(X)
    assert est.threshold_ == 0.3


# ----------------------------------------------------------- decoders, errors
@pytest.mark.parametrize("shape", [(28, 28), (8, 8), (3, 15, 17), (5, 5), (2, 3)])
def test_conv_geometry_round_trip(shape):
    c, h, w = (1, *shape) if len(shape) == 2 else shape
    enc = ConvEncoder((c, h, w), (4, 4, 8, 8))
    dec = ConvDecoder(6, (c, h, w), (4, 4, 8, 8))
    x = torch.rand(3, c * h * w)
    assert enc(x).shape == (3, enc.out_features)
    out = dec(torch.randn(3, 6))
    assert out.shape == (3, c * h * w) and out.min() >= 0 and out.max() <= 1
    if (h, w) == (28, 28):
        assert enc.out_features == 8  # 28 -> 14 -> 7 -> 4 -> 1, the reference encoder


def test_custom_decoder_class(digits):
    X = digits[0][:300]
    est = ThresholdedVAE(n_components=6, decoder=_TinyDecoder, decoder_kwargs={"hidden": 12},
                         encoder_hidden_sizes=(16,), max_epochs=2, device="cpu",
                         random_state=0).fit(X)
    assert est.module_.decoder.net[0].out_features == 12
    assert est.transform(X[:10]).shape == (10, 6)
    assert not hasattr(est, "components_")
    assert est.get_params()["decoder"] is _TinyDecoder  # the parameter is untouched


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(decoder="conv"), ValueError, "image_shape"),
        (dict(decoder="conv", image_shape=(7, 7)), ValueError, "49 pixels"),
        (dict(encoder="conv", image_shape=(8, -8)), ValueError, "positive ints"),
        (dict(decoder=_TinyDecoder(4, 64)), TypeError, "live module instance"),
        (dict(decoder=len), TypeError, "subclass of torch.nn.Module"),
        (dict(kl="spike_slab", base_dist="gaussian"), ValueError, "no closed form"),
        (dict(learn_threshold=True, threshold=0), ValueError, "positive threshold"),
        (dict(noise_warmup=(0, 10, 0.1)), ValueError, "noise_warmup"),
        (dict(noise_warmup=(0.1, 10)), ValueError, "noise_warmup"),
        (dict(adam_betas=(0.5, 1.5)), ValueError, "adam_betas"),
        (dict(encoder_kwargs={"hidden_sizes": (8,)}), ValueError, "user-given encoder"),
        (dict(encoder_hidden_sizes=(8, 0)), ValueError, "positive ints"),
        (dict(decoder_hidden_sizes=(8,)), ValueError, "decoder_hidden_sizes"),
        (dict(decoder=_TinyDecoder, encoder=_TinyDecoder, encoder_hidden_sizes=(8,)),
         ValueError, "encoder_hidden_sizes"),
        (dict(decoder="conv", image_shape=(8, 8), encoder_hidden_sizes=None,
              decoder_hidden_sizes=()), ValueError, "non-empty"),
        (dict(decoder="conv", image_shape=(8, 8), encoder_hidden_sizes=None,
              output_activation="none"), ValueError, "output_activation"),
        (dict(decoder="conv", image_shape=(8, 8), encoder_hidden_sizes=None, batch_size=1),
         ValueError, "batch_size"),
        (dict(base_dist="cauchy"), ValueError, "base_dist"),
        (dict(sample_method="best"), ValueError, "sample_method"),
        (dict(gradient_estimator="reinforce"), ValueError, "gradient_estimator"),
        (dict(threshold=-0.1), ValueError, "threshold"),
        (dict(target_density=1.0), ValueError, "target_density"),
        (dict(transform_mode="median"), ValueError, "transform_mode"),
        (dict(n_mc_samples=0), ValueError, "n_mc_samples"),
        (dict(decoder_learning_rate=0), ValueError, "decoder_learning_rate"),
        (dict(prior_scale=0), ValueError, "prior_scale"),
    ],
)
def test_bad_parameters(digits, params, error, match):
    X = digits[0][:50]
    est = ThresholdedVAE(n_components=4, encoder_hidden_sizes=(8,), max_epochs=1,
                         device="cpu", random_state=0)
    est.set_params(**params)
    with pytest.raises(error, match=match):
        est.fit(X)
    assert not hasattr(est, "module_")


def test_bad_inputs(fitted):
    with pytest.raises(ValueError, match="NaN"):
        clone(fitted).fit(np.full((20, 64), np.nan))
    with pytest.raises(ValueError, match="64 features"):
        fitted.transform(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="2D array"):
        fitted.transform(np.zeros(64))
    with pytest.raises(TypeError, match="[Ss]parse"):
        import scipy.sparse as sp

        fitted.transform(sp.csr_matrix(np.zeros((3, 64))))


def test_sigmoid_decoder_warns_on_data_outside_unit_range():
    X = np.random.RandomState(0).randn(40, 16).astype(np.float32)
    est = ThresholdedVAE(n_components=4, decoder="conv", image_shape=(4, 4),
                         encoder_hidden_sizes=(4,), decoder_hidden_sizes=(4,),
                         max_epochs=1, n_mc_samples=2, n_eval_samples=2, batch_size=20,
                         device="cpu", random_state=0)
    with pytest.warns(UserWarning, match="sigmoid"):
        est.fit(X)


def test_pipeline_with_classifier(digits):
    X, y = digits
    # The posterior mean (dense) suits a linear classifier better than the sparse
    # max-ELBO draw, whose support is chosen by sampling.
    pipe = make_pipeline(
        ThresholdedVAE(**{**FAST, "n_components": 64, "max_epochs": 20, "transform_mode": "mean"}),
        LogisticRegression(max_iter=3000),
    )
    pipe.fit(X[:1200], y[:1200])
    assert pipe.score(X[1200:], y[1200:]) > 0.8
    assert pipe[0].get_feature_names_out()[0] == "thresholdedvae0"


# ----------------------------------------------------------- real data
def test_fashion_mnist_sparse_codes_beat_mean_image(fashion_small):
    X, _, Xt, _ = fashion_small
    est = ThresholdedVAE(n_components=64, encoder_hidden_sizes=(256,), n_mc_samples=4,
                         n_eval_samples=8, batch_size=64, max_epochs=5, optimizer="adam",
                         learning_rate=1e-3, decoder_optimizer="adam", decoder_learning_rate=1e-2,
                         base_dist="gaussian", transform_mode="max_elbo", device="cpu",
                         random_state=0).fit(X)
    # The sampled max-ELBO code: at kl_weight 0.01 the decoder is tuned to its ~10%
    # supports, and the denser soft-threshold code reconstructs worse (docs).
    Z = est.transform(Xt)
    mse = float(((Xt - est.inverse_transform(Z)) ** 2).mean())
    mse_mean = float(((Xt - X.mean(0)) ** 2).mean())
    assert (Z == 0).mean() > 0.7
    assert mse < 0.75 * mse_mean
    # Sparse, but not collapsed onto a handful of latents.
    assert ((Z != 0).mean(0) >= 0.01).sum() >= 16


@pytest.mark.slow
def test_fashion_mnist_conv_decoder(fashion_small):
    X, _, Xt, _ = fashion_small
    est = ThresholdedVAE(n_components=64, decoder="conv", image_shape=(28, 28),
                         encoder_hidden_sizes=(16, 16, 32, 32),
                         decoder_hidden_sizes=(16, 16, 32, 32), base_dist="gaussian",
                         n_mc_samples=4, n_eval_samples=4, batch_size=64, max_epochs=6,
                         learning_rate=1e-3, transform_mode="max_elbo", device="cpu",
                         random_state=0).fit(X)
    Z = est.transform(Xt)
    X_hat = est.inverse_transform(Z)
    assert X_hat.min() >= 0 and X_hat.max() <= 1
    assert (Z == 0).mean() > 0.7
    assert ((Xt - X_hat) ** 2).mean() < 0.75 * ((Xt - X.mean(0)) ** 2).mean()


def test_only_sample_mode_is_tagged_non_deterministic():
    assert not ThresholdedVAE().__sklearn_tags__().non_deterministic
    assert ThresholdedVAE(transform_mode="sample").__sklearn_tags__().non_deterministic
