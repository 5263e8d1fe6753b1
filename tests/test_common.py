"""What every estimator must do, run over every registered estimator and a toy one.

The cases are the ``test`` presets of :mod:`skdeepsparse.registry` (a new
estimator gets all of these tests by registering), plus
:class:`ToySparseAutoencoder` below, the smallest estimator on the core: it
documents the hook contract of :class:`~skdeepsparse._base.BaseSparseEstimator`.

- scikit-learn's ``parametrize_with_checks`` (presets without ``image_shape``);
- persistence: pickle and joblib round trips, a model saved on a GPU host loads
  on a CPU host, reloaded models keep training;
- a pipeline with a classifier; bad input; ``partial_fit``;
- thread-safety: concurrent ``transform`` / ``score_samples`` are bit-identical
  to serial ones and change nothing in the module;
- reload, then a diverging ``partial_fit``, then a normal one succeeds;
- parameters changed after ``fit``: optimizer settings are honoured, an
  architecture parameter is refused by name, an invalid value is refused at
  ``transform``;
- Ctrl-C with a validation split names the best-validation epoch that it kept.
"""

from __future__ import annotations

import pickle
import sys
import threading
import warnings
from numbers import Integral, Real

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

from skdeepsparse import TrainingDivergedError, registry
from skdeepsparse._base import BaseSparseEstimator


class ToySparseAutoencoder(BaseSparseEstimator):
    """A one-layer sparse autoencoder: the example of the model contract that
    :class:`~skdeepsparse._base.BaseSparseEstimator`'s docstring writes down.

    A model lists every parameter in ``__init__`` (its own, then the shared
    ones of the core, which sklearn needs explicit), extends
    ``_parameter_constraints`` and supplies its mathematics through hooks:

    - ``_on_fit_start(X)``: fitted constants, once per fresh fit (here the
      core's scalar standardisation ``mean_`` / ``scale_``);
    - ``_build_module(n_features)``: a new ``nn.Module`` with every learned
      tensor (the core draws its initial weights from a seeded generator of
      its own and moves it);
    - ``_train_step(X, rows)``: one update with the optimizer(s) the core
      built (``self._optimizer("main")``; the core steps the schedules);
      returns a dict with ``"loss"``;
    - ``_transform_batch``, ``_inverse_transform_batch``,
      ``_score_samples_batch``: tensors in, tensors out; they must not change
      the module (several threads may call them at once).

    One optimizer group (``"main"``, every parameter) is the default; a model
    that trains a part apart declares ``_optimizer_groups`` and
    ``_parameter_groups``. ``_free_params`` names the parameters that are read
    at every use and may change after ``fit``; any other changed parameter
    (outside the optimizer and loop settings, and ``device``, which moves the
    model) is refused by ``partial_fit``, ``warm_start`` and ``transform``.
    """

    _parameter_constraints = {
        **BaseSparseEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "sparsity_reg": [Interval(Real, 0, None, closed="left")],
        "transform_mode": [StrOptions({"relu", "linear"})],
        "standardize": ["boolean"],
    }
    _free_params = frozenset({"sparsity_reg", "transform_mode"})
    _default_learning_rate = 1e-2

    def __init__(
        self,
        n_components: int = 4,
        *,
        sparsity_reg: float = 0.01,
        transform_mode: str = "relu",
        standardize: bool = True,
        optimizer: str = "adam",
        learning_rate: float | str = "auto",
        momentum: float = 0.9,
        adam_betas: tuple = (0.9, 0.999),
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        lr_decay: float = 1.0,
        lr_decay_every: int = 1,
        warmup_fraction: float = 0.05,
        batch_size: int = 32,
        max_epochs: int = 3,
        validation_fraction: float = 0.1,
        n_iter_no_change: int | None = None,
        tol: float = 0.0,
        shuffle: bool = True,
        warm_start: bool = False,
        device="cpu",
        random_state=None,
        verbose: int = 0,
    ):
        self.n_components = n_components
        self.sparsity_reg = sparsity_reg
        self.transform_mode = transform_mode
        self.standardize = standardize
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.adam_betas = adam_betas
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.lr_decay_every = lr_decay_every
        self.warmup_fraction = warmup_fraction
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _on_fit_start(self, X):
        self._fit_standardization(X, self.standardize)

    def _build_module(self, n_features):
        return nn.ModuleDict({"encoder": nn.Linear(n_features, self.n_components),
                              "decoder": nn.Linear(self.n_components, n_features)})

    def _encode(self, Xs):
        H = self.module_["encoder"](Xs)
        return torch.relu(H) if self.transform_mode == "relu" else H

    def _train_step(self, X, rows=None):
        opt = self._optimizer("main")
        Xs = self._standardize(X)
        Z = torch.relu(self.module_["encoder"](Xs))
        mse = ((self.module_["decoder"](Z) - Xs) ** 2).mean()
        loss = mse + self.sparsity_reg * Z.abs().sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach(), "mse": mse.detach()}

    def _transform_batch(self, X):
        return self._encode(self._standardize(X))

    def _inverse_transform_batch(self, Z):
        return self._unstandardize(self.module_["decoder"](Z))

    def _score_samples_batch(self, X):
        Xs = self._standardize(X)
        return -((self.module_["decoder"](self._encode(Xs)) - Xs) ** 2).mean(1)


_TOY = "ToySparseAutoencoder"
TOY_PRESET = dict(n_components=4, max_epochs=3, batch_size=16, random_state=0)

# Checks that are expected to fail, by estimator name: {check name: reason}.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}

CASES = [(name, preset) for name in registry.ESTIMATORS for preset in registry.test_presets(name)]
CASES.append((_TOY, "test"))
CASE_IDS = [f"{name}-{preset}" for name, preset in CASES]


def make(name: str, preset: str = "test", **overrides):
    if name == _TOY:
        return ToySparseAutoencoder(**{**TOY_PRESET, **overrides})
    return registry.make(name, preset, **overrides)


@pytest.mark.parametrize("name, preset", CASES, ids=CASE_IDS)
def test_preset_builds_and_validates(name, preset):
    """Every test preset names parameters that exist and hold valid values."""
    est = make(name, preset)
    est._validate_params()
    if name != _TOY:
        assert est.get_params()["random_state"] == 0 and est.get_params()["device"] == "cpu"


def _checked_estimators():
    """Instances for scikit-learn's checks; presets that need images are left out.

    A preset that cannot be built (a model being renamed) is left out here and
    fails in ``test_preset_builds_and_validates``.
    """
    out = [ToySparseAutoencoder(**TOY_PRESET)]
    for name in registry.ESTIMATORS:
        for preset, params in registry.test_presets(name).items():
            if "image_shape" in params:
                continue
            try:
                out.append(registry.make(name, preset))
            except TypeError:
                continue
    return out


@parametrize_with_checks(
    _checked_estimators(),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return (d.data[:160] / 16.0).astype(np.float32), d.target[:160]


@pytest.fixture(params=CASES, ids=CASE_IDS)
def case(request):
    return request.param


def _fitted(case, X, **overrides):
    name, preset = case
    return make(name, preset, **overrides).fit(X)


def _module_state(est):
    return {k: v.detach().clone() for k, v in est.module_.state_dict().items()}


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"module state {k!r} changed"


# ------------------------------------------------------------------ persistence


@pytest.mark.parametrize("dumper", ["pickle", "joblib"])
def test_persistence_round_trip(case, digits, tmp_path, dumper):
    X = digits[0]
    est = _fitted(case, X)
    if dumper == "pickle":
        new = pickle.loads(pickle.dumps(est))
    else:
        joblib.dump(est, tmp_path / "m.joblib")
        new = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(new.transform(X), est.transform(X))
    np.testing.assert_array_equal(new.score_samples(X), est.score_samples(X))
    # training continues after loading, optimizer state included
    steps = new.n_steps_
    new.partial_fit(X)
    assert new.n_steps_ > steps
    assert np.isfinite(new.transform(X)).all()


def test_gpu_saved_model_loads_and_transforms_on_cpu(case, digits, tmp_path):
    """A model saved on a GPU host loads on a CPU host.

    A CPU-only machine cannot produce CUDA tensors, so the GPU side is simulated
    the way it reaches disk: pickling moves every tensor to the CPU and keeps only
    the fitted ``device_``; here that ``device_`` says ``cuda:0``. The real GPU
    round trip is in ``tests/test_gpu.py``.
    """
    X = digits[0]
    est = _fitted(case, X)
    expected = est.transform(X)
    est.device_ = torch.device("cuda", 0)  # as fitted on a GPU host
    joblib.dump(est, tmp_path / "model.joblib")
    if torch.cuda.is_available():
        loaded = joblib.load(tmp_path / "model.joblib")
        assert loaded.device_.type == "cuda"
    else:
        with pytest.warns(UserWarning, match="loaded on the CPU"):
            loaded = joblib.load(tmp_path / "model.joblib")
        assert loaded.device_ == torch.device("cpu")
        assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    np.testing.assert_allclose(loaded.transform(X), expected, rtol=1e-5, atol=1e-6)
    steps = loaded.n_steps_
    loaded.partial_fit(X)
    assert loaded.n_steps_ > steps


# ------------------------------------------------------------ pipeline, inputs


def test_pipeline_with_classifier(case, digits):
    X, y = digits
    name, preset = case
    pipe = make_pipeline(make(name, preset), LogisticRegression(max_iter=300))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tiny model's codes may not converge the probe
        pipe.fit(X, y)
    proba = pipe.predict_proba(X[:20])
    assert proba.shape == (20, len(np.unique(y)))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert 0.0 <= pipe.score(X, y) <= 1.0
    names = pipe[0].get_feature_names_out()
    assert len(names) == pipe[0].transform(X[:2]).shape[1]


_BAD = {
    "nan": (np.full((5, 64), np.nan), "NaN"),
    "inf": (np.full((5, 64), np.inf), "infinity"),
    "1d": (np.zeros(64), "2D array"),
    "empty": (np.zeros((0, 64)), "0 sample"),
    "strings": (np.array([["a"] * 64] * 5), "convert|dtype|string"),
    "sparse": (sp.random(5, 64, density=0.5, format="csr", random_state=0), "[Ss]parse"),
}


@pytest.mark.parametrize("kind", list(_BAD))
def test_bad_input_is_a_clear_error(case, digits, kind):
    bad, match = _BAD[kind]
    name, preset = case
    with pytest.raises((ValueError, TypeError), match=match):
        make(name, preset).fit(bad)
    est = _fitted(case, digits[0])
    with pytest.raises((ValueError, TypeError), match=match):
        est.transform(bad)


def test_wrong_width_is_a_clear_error(case, digits):
    est = _fitted(case, digits[0])
    k = est.transform(digits[0][:2]).shape[1]
    with pytest.raises(ValueError, match="64 features"):
        est.transform(np.zeros((3, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(np.zeros((3, 10), dtype=np.float32))
    with pytest.raises(ValueError, match=f"{k} components"):
        est.inverse_transform(np.zeros((3, k + 1), dtype=np.float32))


def test_partial_fit(case, digits):
    X = digits[0]
    name, preset = case
    est = make(name, preset)
    est.partial_fit(X[:80])
    state, steps = _module_state(est), est.n_steps_
    est.partial_fit(X[80:])
    assert est.n_steps_ > steps
    after = _module_state(est)
    assert any(not torch.equal(state[k], after[k]) for k in state), "partial_fit learned nothing"
    assert np.isfinite(est.transform(X)).all()


# --------------------------------------------------------------- thread-safety


def test_concurrent_transform_is_serial_and_changes_nothing(case, digits):
    X = digits[0]
    est = _fitted(case, X)
    serial = {"transform": est.transform(X), "score_samples": est.score_samples(X)}
    serial["inverse_transform"] = est.inverse_transform(serial["transform"])
    args = {"transform": X, "score_samples": X, "inverse_transform": serial["transform"]}
    state = _module_state(est)
    grads = [p.requires_grad for p in est.module_.parameters()]
    kinds = ["transform", "transform", "score_samples", "inverse_transform"] * 2
    results, errors = [], []
    barrier = threading.Barrier(len(kinds))

    def work(kind):
        try:
            barrier.wait()
            for _ in range(2):
                results.append((kind, getattr(est, kind)(args[kind])))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(kind,)) for kind in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 2 * len(kinds)
    for kind, out in results:
        np.testing.assert_array_equal(out, serial[kind], err_msg=kind)
    _assert_same_state(state, _module_state(est))
    assert [p.requires_grad for p in est.module_.parameters()] == grads
    assert not est.module_.training
    steps = est.n_steps_
    est.partial_fit(X)
    assert est.n_steps_ > steps and np.isfinite(est.transform(X)).all()


# ------------------------------------------------------ failures and recovery


def _poison(est):
    """Fill every parameter and every optimizer state tensor with NaN."""
    with torch.no_grad():
        for p in est.module_.parameters():
            p.fill_(float("nan"))
    for opt in est._optimizers:
        for st in opt.state.values():
            for v in st.values():
                if isinstance(v, torch.Tensor) and v.is_floating_point():
                    v.fill_(float("nan"))


def test_reload_then_fail_then_train(case, digits, tmp_path, monkeypatch):
    X = digits[0]
    est = _fitted(case, X)
    joblib.dump(est, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    before = loaded.transform(X)
    cls = type(loaded)
    real = cls._train_step

    def diverging(self, batch, rows=None):
        stats = real(self, batch, rows)
        _poison(self)
        return stats

    monkeypatch.setattr(cls, "_train_step", diverging)
    with pytest.raises(TrainingDivergedError):
        loaded.partial_fit(X)
    monkeypatch.setattr(cls, "_train_step", real)
    np.testing.assert_array_equal(loaded.transform(X), before)
    loaded.partial_fit(X)
    assert np.isfinite(loaded.transform(X)).all()
    assert all(torch.isfinite(p).all() for p in loaded.module_.parameters())
    for opt in loaded._optimizers:
        for st in opt.state.values():
            for v in st.values():
                if isinstance(v, torch.Tensor):
                    assert torch.isfinite(v).all()
    # a second model loaded from the same file is untouched by all this
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").transform(X), before)


# ---------------------------------------------------- parameters after fit


def test_changed_learning_rate_is_used_by_partial_fit(case, digits, monkeypatch):
    X = digits[0]
    est = _fitted(case, X)
    cls, real, seen = type(est), type(est)._train_step, []

    def spy(self, batch, rows=None):
        seen.append(self._optimizers[0].param_groups[0]["lr"])
        return real(self, batch, rows)

    monkeypatch.setattr(cls, "_train_step", spy)
    est.set_params(learning_rate=0.0123)
    est.partial_fit(X)
    assert seen and seen[0] == pytest.approx(0.0123)
    if est.lr_schedule != "step":
        assert est._optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0123)


def test_changed_optimizer_after_reload(case, digits, tmp_path):
    X = digits[0]
    fitted = _fitted(case, X)
    new = "adam" if isinstance(fitted._optimizers[0], torch.optim.SGD) else "sgd"
    joblib.dump(fitted, tmp_path / "m.joblib")
    est = joblib.load(tmp_path / "m.joblib")
    est.set_params(optimizer=new)
    est.partial_fit(X)
    expected = torch.optim.SGD if new == "sgd" else torch.optim.Adam
    assert isinstance(est._optimizers[0], expected)
    assert np.isfinite(est.transform(X)).all()


def test_changed_architecture_is_refused_by_name(case, digits):
    X = digits[0]
    est = _fitted(case, X)
    expected = est.transform(X)
    k = est.get_params()["n_components"]
    est.set_params(n_components=k + 1)
    with pytest.raises(ValueError, match="n_components"):
        est.partial_fit(X)
    with pytest.raises(ValueError, match="n_components"):
        est.transform(X)
    est.set_params(warm_start=True)
    with pytest.raises(ValueError, match="n_components"):
        est.fit(X)
    est.set_params(n_components=k)
    np.testing.assert_array_equal(est.transform(X), expected)


def test_invalid_value_set_after_fit_is_refused_at_transform(case, digits):
    est = _fitted(case, digits[0])
    param = "transform_mode" if "transform_mode" in est.get_params() else "optimizer"
    est.set_params(**{param: "bogus"})
    with pytest.raises(ValueError, match=param):
        est.transform(digits[0])


def test_interrupt_with_validation_names_the_epoch_kept(case, digits, monkeypatch):
    X = digits[0]
    name, preset = case
    est = make(name, preset, validation_fraction=0.3, max_epochs=5, n_iter_no_change=None)
    cls, real = type(est), type(est)._train_step

    def interrupt_in_third_epoch(self, batch, rows=None):
        if self.n_iter_ == 2:
            raise KeyboardInterrupt
        return real(self, batch, rows)

    monkeypatch.setattr(cls, "_train_step", interrupt_in_third_epoch)
    with pytest.warns(UserWarning, match="interrupted") as record:
        est.fit(X)
    message = " ".join(str(w.message) for w in record if "interrupted" in str(w.message))
    assert est.n_iter_ == 2 and len(est.history_) == 2
    assert est.best_epoch_ in (0, 1)
    assert "best validation" in message and f"({est.best_epoch_})" in message, message
    assert "last completed" not in message
    assert np.isfinite(est.transform(X)).all()


# -------------------------------------------------------------- input scale
def _scale_warnings(est, X):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        est.fit(X)
    return [str(w.message) for w in record
            if issubclass(w.category, UserWarning) and "data range over" in str(w.message)]


def test_input_scale_is_handled_one_way(case, digits):
    """Every estimator either standardises the data itself or checks the scale its
    likelihood needs (``_input_scale``), and says so naming the observed range."""
    name, preset = case
    X01 = digits[0]
    X16 = X01 * 16.0  # scikit-learn's raw 0..16 digits
    est = make(name, preset, max_epochs=1)
    need = est._input_scale
    assert _scale_warnings(make(name, preset, max_epochs=1), X01) == []
    messages = _scale_warnings(est, X16)
    numeric_std = isinstance(need, str) and isinstance(getattr(est, need), (int, float))
    if need is None or (isinstance(need, str) and not numeric_std):
        # The model standardises (or scales its likelihood to the data): no warning.
        assert messages == [], messages
    else:
        assert len(messages) == 1 and "[0, 16]" in messages[0], messages
        assert name in messages[0]


def test_svae_with_a_fixed_likelihood_std_warns_on_0_16_data(digits):
    X16 = digits[0] * 16.0
    est = make("SVAETransformer", "test", max_epochs=1, likelihood_std=0.135)
    messages = _scale_warnings(est, X16)
    assert len(messages) == 1 and "likelihood_std=0.135" in messages[0], messages


def test_spike_slab_sigmoid_needs_unit_range(digits):
    messages = _scale_warnings(make("SpikeSlabGenerator", "test", max_epochs=1),
                               digits[0] * 16.0)
    assert len(messages) == 1 and "needs data in [0, 1]" in messages[0], messages
    assert "output_activation='sigmoid'" in messages[0]


# ------------------------------------------------------------ optimizer groups
GROUPED = [name for name in registry.ESTIMATORS
           if "decoder" in registry.ESTIMATORS[name].cls._optimizer_groups]


def _group_tensors(est, group):
    out = []
    for item in est._parameter_groups()[group]:
        out.extend(item["params"] if isinstance(item, dict) else [item])
    return [t.detach().clone() for t in out]


@pytest.mark.parametrize("name", GROUPED)
def test_decoder_weight_decay_means_the_same_in_every_model(name, digits):
    """torch's convention in every model: ``decoder_weight_decay`` adds
    ``decoder_weight_decay * theta`` to the gradient of each decoder weight, so one
    SGD step from ``theta0`` moves it by ``-lr * decoder_weight_decay * theta0``
    more than the same step without it (derivation: d/dtheta of wd/2 ||theta||^2)."""
    X = digits[0].astype(np.float64)
    lr, wd = 0.1, 0.05
    params = make(name).get_params()
    fixed = dict(decoder_optimizer="sgd", decoder_momentum=0.0, decoder_learning_rate=lr,
                 decoder_lr_schedule="constant", batch_size=len(X), validation_fraction=0.0,
                 max_epochs=1, shuffle=False)
    fixed.update({k: v for k, v in (("decoder_step_cap", False), ("decoder_norm", None))
                  if k in params})
    est = make(name, **fixed).fit(X)
    theta0 = _group_tensors(est, "decoder")
    assert theta0, "the model declares a decoder group but trains nothing in it"
    with_wd = pickle.loads(pickle.dumps(est)).set_params(decoder_weight_decay=wd,
                                                          warm_start=True)
    without = pickle.loads(pickle.dumps(est)).set_params(decoder_weight_decay=0.0,
                                                          warm_start=True)
    a = _group_tensors(with_wd.fit(X), "decoder")
    b = _group_tensors(without.fit(X), "decoder")
    for t0, ta, tb in zip(theta0, a, b, strict=True):
        torch.testing.assert_close(ta - tb, -lr * wd * t0, rtol=1e-6, atol=1e-9)


def test_group_parameters_route_by_one_rule(digits):
    """``<group>_<name>`` sets the group's value; None takes the main group's."""
    from skdeepsparse import VarianceRegDictionaryLearner

    X = digits[0]
    common = dict(n_components=4, max_epochs=1, inference_steps=5, device="cpu",
                  random_state=0)
    est = VarianceRegDictionaryLearner(optimizer="sgd", momentum=0.5, decoder_learning_rate=0.02,
                                       decoder_lr_schedule=None, **common).fit(X)
    main, dec = est._optimizer("main"), est._optimizer("decoder")
    assert isinstance(dec, torch.optim.SGD)  # decoder_optimizer=None: the main one's
    assert dec.defaults["momentum"] == 0.5 and dec.defaults["lr"] == 0.02
    assert main.defaults["lr"] == est.learning_rate
    assert est.history_[0]["decoder_lr"] == pytest.approx(0.02)
    est2 = VarianceRegDictionaryLearner(optimizer="sgd", decoder_optimizer="adam",
                                        decoder_adam_betas=(0.5, 0.9), **common).fit(X)
    assert isinstance(est2._optimizer("decoder"), torch.optim.Adam)
    assert est2._optimizer("decoder").defaults["betas"] == (0.5, 0.9)
    assert isinstance(est2._optimizer("main"), torch.optim.SGD)
    # A changed group parameter rebuilds that group's optimizer, never refuses.
    est2.set_params(decoder_optimizer="sgd").partial_fit(X)
    assert isinstance(est2._optimizer("decoder"), torch.optim.SGD)
    with pytest.raises(ValueError, match="decoder_adam_betas"):
        VarianceRegDictionaryLearner(decoder_adam_betas=(1.5, 0.9), **common).fit(X)


# ------------------------------------------------------ reproducible under threads
def test_fits_in_threads_equal_serial_fits_whatever_the_global_seed(digits):
    """No estimator draws from torch's global generator, initial weights included:
    the ``test`` presets fitted in concurrent threads, while another thread keeps
    re-seeding torch, give the fits run one after another."""
    X = digits[0]
    names = sorted(registry.ESTIMATORS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = {name: make(name).fit(X).transform(X) for name in names}
    keys = [(name, copy) for name in names for copy in range(2)]
    results, errors, stop = {}, [], threading.Event()

    def reseed():
        seed = 0
        while not stop.is_set():
            torch.manual_seed(seed)
            seed += 1

    def work(key):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results[key] = make(key[0]).fit(X).transform(X)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((key, exc))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: races show up at once
    seeder = threading.Thread(target=reseed)
    seeder.start()
    try:
        threads = [threading.Thread(target=work, args=(key,)) for key in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop.set()
        seeder.join()
        sys.setswitchinterval(interval)
    assert not errors, errors
    for name, copy in keys:
        np.testing.assert_array_equal(results[name, copy], serial[name],
                                      err_msg=f"{name}, thread {copy}")


def _initial_state(name, X):
    est = make(name)
    est._validate_params()
    est._initialize(X)
    return torch.cat([v.flatten().double() for v in est.module_.state_dict().values()])


def test_initial_weights_ignore_a_thread_that_seeds_torch(digits):
    """The initial weights alone, many times (a build is short: a race with the
    seeding thread is rare per fit, frequent over 100 builds)."""
    X = digits[0]
    names = sorted(registry.ESTIMATORS)
    ref = {name: _initial_state(name, X) for name in names}
    stop = threading.Event()

    def reseed():
        seed = 0
        while not stop.is_set():
            torch.manual_seed(seed)
            seed += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    seeder = threading.Thread(target=reseed)
    seeder.start()
    try:
        changed = {name: sum(not torch.equal(_initial_state(name, X), ref[name])
                             for _ in range(25)) for name in names}
    finally:
        stop.set()
        seeder.join()
        sys.setswitchinterval(interval)
    assert not any(changed.values()), changed
