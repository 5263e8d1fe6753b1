"""The shared estimator core, exercised through VarianceRegDictionaryLearner.

These tests are VDL-specific in form only. What every estimator must do
(persistence, bad input, partial_fit, thread-safety, recovery, parameters
changed after fit) is in ``tests/test_common.py``, over every registered
estimator.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import skdeepsparse._base as base
from skdeepsparse import TrainingDivergedError, VarianceRegDictionaryLearner
from skdeepsparse._base import resolve_device
from skdeepsparse.exceptions import FitInterruptedWarning


def make(**kw):
    params = dict(n_components=8, max_epochs=3, inference_steps=20, batch_size=64,
                  device="cpu", random_state=0, decoder_learning_rate=3e-3, learning_rate=1e-3)
    params.update(kw)
    return VarianceRegDictionaryLearner(**params)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(digits, dtype):
    X = digits[0][:200].astype(dtype)
    est = make().fit(X)
    assert est.transform(X).dtype == dtype
    assert est.inverse_transform(est.transform(X)).dtype == dtype
    assert est.module_.decoder.weight.dtype == (
        torch.float32 if dtype == np.float32 else torch.float64
    )
    # A float64 model accepts float32 input and answers in the input's dtype.
    assert est.transform(X.astype(np.float32)).dtype == np.float32


def test_device_resolution_keeps_parameter(digits):
    est = make(device="auto").fit(digits[0][:100])
    assert est.device == "auto"
    assert est.device_ == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        make(device="tpu").fit(digits[0][:100])
    with pytest.raises(ValueError, match="'device'"):
        make(device=3).fit(digits[0][:100])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_seeding_is_local_and_reproducible(digits):
    X = digits[0][:200]
    state = torch.get_rng_state()
    a = make(random_state=3).fit(X).transform(X)
    assert torch.equal(state, torch.get_rng_state()), "fit touched the global torch RNG"
    b = make(random_state=3).fit(X).transform(X)
    c = make(random_state=4).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_clone_is_unfitted(digits):
    est = make().fit(digits[0][:100])
    twin = clone(est)
    assert not hasattr(twin, "module_")
    assert twin.get_params() == est.get_params()


def test_warm_start_continues(digits):
    X = digits[0][:300]
    est = make(warm_start=True, max_epochs=2).fit(X)
    W0 = est.module_.decoder.weight.detach().clone()
    est.fit(X)
    assert est.n_iter_ == 4 and len(est.history_) == 4
    assert not torch.equal(W0, est.module_.decoder.weight.detach())
    cold = make(warm_start=False, max_epochs=2).fit(X).fit(X)
    assert cold.n_iter_ == 2


def test_validation_restore_best_and_early_stopping(digits):
    X = digits[0][:400]
    est = make(max_epochs=6, validation_fraction=0.25).fit(X)
    losses = [h["val_loss"] for h in est.history_]
    assert est.best_validation_loss_ == pytest.approx(min(losses))
    assert est.history_[est.best_epoch_]["val_loss"] == pytest.approx(min(losses))
    # A huge tol means no epoch counts as an improvement after the first: the
    # stopping rule uses tol, restore-best keeps the lowest validation loss.
    stopped = make(max_epochs=10, validation_fraction=0.25, n_iter_no_change=2, tol=10.0).fit(X)
    assert stopped.n_iter_ == 3
    val = [h["val_loss"] for h in stopped.history_]
    assert stopped.best_epoch_ == int(np.argmin(val))


def test_history_records_epochs(digits):
    est = make(max_epochs=2).fit(digits[0][:200])
    assert est.n_iter_ == 2 and len(est.history_) == 2
    for key in ("loss", "recon", "zeros", "code_std", "col_norm", "time", "val_loss"):
        assert key in est.history_[0]


def test_diverging_fit_keeps_previous_model(digits):
    X = digits[0][:200]
    est = make().fit(X)
    before = est.transform(X)
    n_iter, hist = est.n_iter_, len(est.history_)
    est.set_params(inference_step_size=1e30, warm_start=True)
    with pytest.raises(TrainingDivergedError, match="diverged"), pytest.warns(
            UserWarning, match="is unstable"):
        est.fit(X)
    est.set_params(inference_step_size=0.5)
    np.testing.assert_array_equal(est.transform(X), before)
    assert est.n_iter_ == n_iter and len(est.history_) == hist
    # A cold refit that diverges also leaves the old model in place.
    est.set_params(inference_step_size=1e30, warm_start=False)
    with pytest.raises(TrainingDivergedError), pytest.warns(UserWarning, match="is unstable"):
        est.fit(X)
    est.set_params(inference_step_size=0.5)
    np.testing.assert_array_equal(est.transform(X), before)
    # partial_fit too.
    est.set_params(inference_step_size=1e30)
    with pytest.raises(TrainingDivergedError), pytest.warns(UserWarning, match="is unstable"):
        est.partial_fit(X)
    est.set_params(inference_step_size=0.5)
    np.testing.assert_array_equal(est.transform(X), before)


def test_failed_first_fit_leaves_estimator_unfitted(digits):
    est = make(inference_step_size=1e30)
    with pytest.raises(TrainingDivergedError), pytest.warns(UserWarning, match="is unstable"):
        est.fit(digits[0][:200])
    assert not hasattr(est, "module_") and not hasattr(est, "n_features_in_")


def test_keyboard_interrupt_keeps_last_epoch(digits, monkeypatch):
    X = digits[0][:256]
    est = make(max_epochs=5, batch_size=64, validation_fraction=0.0)
    real = VarianceRegDictionaryLearner._train_step
    calls = {"n": 0}

    def flaky(self, batch, rows=None):
        calls["n"] += 1
        if calls["n"] == 6:  # second batch of the second epoch
            raise KeyboardInterrupt
        return real(self, batch, rows)

    monkeypatch.setattr(VarianceRegDictionaryLearner, "_train_step", flaky)
    with pytest.warns(FitInterruptedWarning,
                      match=r"fit interrupted; keeping the last completed epoch \(0\)"):
        est.fit(X)
    assert est.n_iter_ == 1 and est.interrupted_ is True
    assert np.isfinite(est.transform(X)).all()
    # The next call that completes says so; an interrupt in a partial_fit's first
    # epoch propagates and leaves the model (and interrupted_) as it was.
    calls["n"] = -100
    est.partial_fit(X)
    assert est.interrupted_ is False and est.n_iter_ == 2
    calls["n"] = 5
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X)
    assert est.interrupted_ is False and est.n_iter_ == 2


def test_interrupted_is_false_after_a_complete_fit(digits):
    assert make(max_epochs=1).fit(digits[0][:100]).interrupted_ is False


def test_device_change_that_only_moves_the_module_is_honoured(digits):
    X = digits[0][:200]
    est = make(device="cpu", max_epochs=1).fit(X)
    before = est.transform(X)
    est.set_params(device="auto")  # the CPU here, or a GPU: the same architecture
    np.testing.assert_allclose(est.transform(X), before, rtol=1e-5, atol=1e-6)
    est.partial_fit(X)
    assert est.device_ == resolve_device("auto") and est.n_iter_ == 2
    assert next(est.module_.parameters()).device.type == est.device_.type
    est.set_params(device="cpu", warm_start=True).fit(X)
    assert est.device_ == torch.device("cpu") and est.n_iter_ == 3
    with pytest.raises(ValueError, match="device"):
        est.set_params(device="tpu").transform(X)


def test_batched_transform_bounds_memory(digits, monkeypatch):
    X = digits[0][:300]
    est = make().fit(X)
    full = est.transform(X)
    monkeypatch.setattr(base, "_TRANSFORM_CHUNK", 7)
    np.testing.assert_allclose(est.transform(X), full, atol=1e-6)


def test_set_output_pandas_and_feature_names(digits):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(digits[0][:100], columns=[f"px{i}" for i in range(64)])
    est = make().set_output(transform="pandas").fit(df)
    out = est.transform(df)
    assert list(out.columns) == [f"varianceregdictionarylearner{i}" for i in range(8)]
    assert list(est.feature_names_in_) == list(df.columns)


def test_verbose_progress_bar(digits, capsys):
    make(verbose=1, max_epochs=2).fit(digits[0][:100])
    err = capsys.readouterr().err
    assert "VarianceRegDictionaryLearner" in err and "2/2" in err


def test_pipeline_gridsearch_parallel(digits):
    X, y = digits
    pipe = make_pipeline(make(n_components=16, max_epochs=2), LogisticRegression(max_iter=500))
    search = GridSearchCV(
        pipe, {"varianceregdictionarylearner__sparsity_reg": [0.01, 0.05]}, cv=2, n_jobs=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X[:400], y[:400])
    assert search.best_score_ > 0.5
    # Unsupervised search uses score() (higher is better) without a scoring argument.
    search = GridSearchCV(make(max_epochs=2), {"n_components": [4, 16]}, cv=2)
    search.fit(X[:400])
    assert search.best_params_["n_components"] == 16


def test_pickling_does_not_alter_the_estimator(digits):
    X = digits[0][:100]
    est = make().fit(X)
    opt, gen = est._optimizers, est._generator
    pickle.dumps(est)
    assert est._optimizers is opt and est._generator is gen


# ------------------------------------------------------------ training controls
def test_early_stopping_without_validation_uses_the_training_loss(digits, capsys, caplog):
    X = digits[0][:200]
    with caplog.at_level("INFO", logger="skdeepsparse"):
        est = make(max_epochs=10, validation_fraction=0.0, n_iter_no_change=2, tol=10.0).fit(X)
    assert est.n_iter_ == 3 and len(est.history_) == 3
    assert "val_loss" not in est.history_[0]
    assert not hasattr(est, "best_epoch_")
    assert "early stopping after epoch 2: no training loss" in caplog.text
    assert capsys.readouterr().out == ""  # messages go to logging, never to stdout


def test_convergence_warning_only_when_convergence_is_monitored(digits):
    X = digits[0][:200]
    # n_iter_no_change set, tol=0 and max_epochs too short: the loss still improves.
    with pytest.warns(ConvergenceWarning, match="max_epochs=2 reached while the training"):
        make(max_epochs=2, validation_fraction=0.0, n_iter_no_change=5).fit(X)
    with pytest.warns(ConvergenceWarning, match="validation loss"):
        make(max_epochs=2, validation_fraction=0.25, n_iter_no_change=5).fit(X)
    # A fixed budget (the default) and partial_fit never warn.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        make(max_epochs=2).fit(X)
        make(n_iter_no_change=5).partial_fit(X)
        # Stopping early is convergence: no warning either.
        make(max_epochs=10, validation_fraction=0.0, n_iter_no_change=1, tol=10.0).fit(X)


def test_partial_fit_records_history_and_shows_progress(digits, capsys):
    X = digits[0][:200]
    est = make(verbose=2, batch_size=50)
    est.partial_fit(X).partial_fit(X)
    assert est.n_iter_ == 2 and len(est.history_) == 2
    assert [h["epoch"] for h in est.history_] == [0, 1]
    assert "loss" in est.history_[0] and "val_loss" not in est.history_[0]
    err = capsys.readouterr().err
    assert "partial_fit (epoch 1)" in err and "4/4" in err
    # A failing partial_fit rolls its record back.
    est.set_params(inference_step_size=1e30)
    with pytest.raises(TrainingDivergedError), pytest.warns(UserWarning, match="is unstable"):
        est.partial_fit(X)
    assert len(est.history_) == 2


# ----------------------------------------------------------------- threads
def _record_threads(monkeypatch):
    seen = []
    real = VarianceRegDictionaryLearner._train_step
    real_t = VarianceRegDictionaryLearner._transform_batch

    def step(self, batch, rows=None):
        seen.append(("fit", torch.get_num_threads()))
        return real(self, batch, rows)

    def transform(self, batch):
        seen.append(("transform", torch.get_num_threads()))
        return real_t(self, batch)

    monkeypatch.setattr(VarianceRegDictionaryLearner, "_train_step", step)
    monkeypatch.setattr(VarianceRegDictionaryLearner, "_transform_batch", transform)
    return seen


def test_config_context_limits_torch_threads(digits, monkeypatch):
    from skdeepsparse._config import config_context, get_config

    X = digits[0][:100]
    seen = _record_threads(monkeypatch)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with config_context(n_threads=1):
            assert get_config()["n_threads"] == 1
            est = make(max_epochs=1).fit(X)
            est.transform(X)
            assert torch.get_num_threads() == 2  # restored after every call
        assert get_config()["n_threads"] == "auto"
        assert {n for _, n in seen} == {1}
        assert {kind for kind, _ in seen} == {"fit", "transform"}
        seen.clear()
        with config_context(n_threads=None):
            est.transform(X)
        assert {n for _, n in seen} == {2}  # no limit with n_threads=None
    finally:
        torch.set_num_threads(before)


def test_set_config_and_its_validation(digits, monkeypatch):
    from skdeepsparse._config import config_context, get_config, set_config

    seen = _record_threads(monkeypatch)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        set_config(n_threads=1)
        make(max_epochs=1).partial_fit(digits[0][:100])
        assert {n for _, n in seen} == {1} and torch.get_num_threads() == 2
        # A limit never raises the thread count above PyTorch's.
        with config_context(n_threads=64):
            seen.clear()
            make(max_epochs=1).fit(digits[0][:100])
            assert {n for _, n in seen} == {2}
    finally:
        set_config(n_threads="auto")
        torch.set_num_threads(before)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_threads"):
            set_config(n_threads=bad)
        with pytest.raises(ValueError, match="n_threads"), config_context(n_threads=bad):
            pass
    assert get_config()["n_threads"] == "auto"


def test_threadpoolctl_limits_are_honoured(digits, monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = _record_threads(monkeypatch)
    with threadpoolctl.threadpool_limits(limits=1):
        make(max_epochs=1).fit(digits[0][:100])
    # PyTorch reads the OpenMP limit that threadpoolctl sets.
    assert {n for _, n in seen} == {1}


def test_thread_limit_from_the_environment(monkeypatch):
    import skdeepsparse._config as config

    monkeypatch.setenv("SKDEEPSPARSE_N_THREADS", "3")
    assert config._default_n_threads() == 3
    monkeypatch.setenv("SKDEEPSPARSE_N_THREADS", "many")
    with pytest.raises(ValueError, match="SKDEEPSPARSE_N_THREADS"):
        config._default_n_threads()
