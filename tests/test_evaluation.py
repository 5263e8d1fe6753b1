"""The paper's low-data protocol: first k per class, a linear layer chosen on validation."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepsparse import VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_digits_data
from skdeepsparse.evaluation import (
    denoising_scores,
    evaluate,
    first_per_class,
    low_data_probe,
    paper_linear_probe,
    sample_per_class,
)
from skdeepsparse.metrics import psnr


@pytest.fixture(scope="module")
def digits():
    d = load_digits_data()
    X, y = d.data.astype(np.float32), d.target
    return X[:1000], y[:1000], X[1000:1400], y[1000:1400], X[1400:], y[1400:]


def test_first_per_class_takes_the_first_k_in_order():
    rng = np.random.RandomState(0)
    y = rng.randint(0, 4, size=200)
    for k in (1, 3, 7):
        idx = first_per_class(y, k)
        assert np.all(np.diff(idx) > 0)  # dataset order
        expected = sorted(i for c in range(4) for i in [j for j in range(200) if y[j] == c][:k])
        assert idx.tolist() == expected
        assert np.bincount(y[idx]).tolist() == [k] * 4
    assert first_per_class(["b", "a", "b", "a", "a"], 2).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "2", None])
def test_bad_k_is_refused_with_its_name(digits, k):
    with pytest.raises(ValueError, match="n_per_class"):
        first_per_class(digits[1], k)
    with pytest.raises(ValueError, match="n_per_class"):
        paper_linear_probe(*digits, n_per_class=(1, k), max_epochs=1)


def test_too_many_per_class_and_bad_parameters(digits):
    Ztr, ytr, Zv, yv, Zt, yt = digits
    with pytest.raises(ValueError, match="too many"):
        first_per_class(ytr[:30], 5)
    with pytest.raises(ValueError, match="too many"):
        paper_linear_probe(Ztr[:30], ytr[:30], Zv, yv, Zt, yt, n_per_class=(5,), max_epochs=1)
    bad = [
        (dict(n_per_class=()), "n_per_class"),
        (dict(weight_decay=(-1.0,)), "weight_decay"),
        (dict(weight_decay=()), "weight_decay"),
        (dict(l1_penalty=(np.nan,)), "l1_penalty"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(batch_size=0), "batch_size"),
        (dict(max_epochs=1.5), "max_epochs"),
        (dict(selection="f1"), "selection"),
    ]
    for kwargs, name in bad:
        with pytest.raises(ValueError, match=name):
            paper_linear_probe(*digits, **{"max_epochs": 1, **kwargs})
    with pytest.raises(ValueError, match="Z_val has 63 features"):
        paper_linear_probe(Ztr, ytr, Zv[:, 1:], yv, Zt, yt, max_epochs=1, n_per_class=(1,))
    with pytest.raises(ValueError, match="Z_test contains NaN"):
        Zt_nan = Zt.copy()
        Zt_nan[0, 0] = np.nan
        paper_linear_probe(Ztr, ytr, Zv, yv, Zt_nan, yt, max_epochs=1, n_per_class=(1,))
    with pytest.raises(ValueError, match="y_val has labels absent"):
        paper_linear_probe(Ztr, ytr, Zv, yv + 1, Zt, yt, max_epochs=1, n_per_class=(1,))
    with pytest.raises(ValueError, match="labels of Z_train"):
        paper_linear_probe(Ztr, ytr[:-1], Zv, yv, Zt, yt, max_epochs=1, n_per_class=(1,))


def test_uses_only_the_first_k_and_is_deterministic(digits):
    Ztr, ytr, Zv, yv, Zt, yt = digits
    kw = dict(n_per_class=(2,), max_epochs=5, random_state=3)
    a = paper_linear_probe(Ztr, ytr, Zv, yv, Zt, yt, **kw)
    assert a == paper_linear_probe(Ztr, ytr, Zv, yv, Zt, yt, **kw)
    keep = first_per_class(ytr, 2)
    scrambled = np.random.RandomState(0).rand(*Ztr.shape).astype(np.float32)
    scrambled[keep] = Ztr[keep]  # every other training row changed
    assert paper_linear_probe(scrambled, ytr, Zv, yv, Zt, yt, **kw) == a
    # only the selected rows, given alone, give the same answer
    assert paper_linear_probe(Ztr[keep], ytr[keep], Zv, yv, Zt, yt, **kw) == a
    b = paper_linear_probe(Ztr, ytr, Zv, yv, Zt, yt, **{**kw, "random_state": 4})
    assert b[2]["val_loss"] != a[2]["val_loss"]


def test_picks_the_epoch_with_the_lowest_validation_loss(digits):
    # A large step on 2 samples a class overfits: the validation loss rises
    # again, so the best epoch is not the last one (the reference code's bug).
    Ztr, ytr, Zv, yv, Zt, yt = digits
    kw = dict(n_per_class=(2,), learning_rate=0.2, batch_size=4, random_state=0)
    E = 12
    full = paper_linear_probe(Ztr, ytr, Zv, yv, Zt, yt, max_epochs=E, **kw)[2]
    # brute force: the best validation loss over the first e epochs, for every e
    runs = [paper_linear_probe(Ztr, ytr, Zv, yv, Zt, yt, max_epochs=e, **kw)[2]
            for e in range(1, E + 1)]
    best_so_far = [r["val_loss"] for r in runs]
    assert full["val_loss"] == min(best_so_far)
    best_epoch = best_so_far.index(min(best_so_far)) + 1
    assert full["epoch"] == best_epoch < E
    # the model kept is the one of that epoch, not the last one
    assert full["accuracy"] == runs[best_epoch - 1]["accuracy"]
    assert runs[best_epoch - 1]["epoch"] == best_epoch


def test_picks_the_hyperparameter_with_the_best_validation_score(digits):
    Ztr, ytr, Zv, yv, Zt, yt = digits
    grid = (0.0, 0.3, 3.0)
    kw = dict(n_per_class=(10,), max_epochs=6, learning_rate=0.01, random_state=1)
    for selection in ("loss", "accuracy"):
        res = paper_linear_probe(Ztr, ytr, Zv, yv, Zt, yt, weight_decay=grid,
                                 selection=selection, **kw)[10]
        single = [paper_linear_probe(Ztr, ytr, Zv, yv, Zt, yt, weight_decay=(wd,),
                                     selection=selection, **kw)[10] for wd in grid]
        assert [c["val_loss"] for c in res["candidates"]] == [s["val_loss"] for s in single]
        if selection == "loss":
            i = int(np.argmin([s["val_loss"] for s in single]))
        else:
            i = int(np.argmax([s["val_accuracy"] for s in single]))
        assert res["weight_decay"] == grid[i]
        assert res["accuracy"] == single[i]["accuracy"]
        assert res["epoch"] == single[i]["epoch"]
    # the grid matters here, so the test can tell a wrong pick
    assert len({s["val_loss"] for s in single}) == 3


def test_l1_grid_and_sensible_accuracy(digits):
    res = paper_linear_probe(*digits, n_per_class=(1, 20), l1_penalty=(0.0, 1e-3),
                             learning_rate=0.05, max_epochs=60)
    assert set(res) == {1, 20}
    assert res[20]["l1_penalty"] in (0.0, 1e-3) and len(res[20]["candidates"]) == 2
    assert 0.8 < res[20]["accuracy"] <= 1.0
    assert 0.3 < res[1]["accuracy"] < res[20]["accuracy"]


# ---------------------------------------------------------------------------
# evaluate: the low-data comparison in one call


class _FailingFit(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        raise RuntimeError("boom")

    def transform(self, X):
        return X


class _NoInverse(TransformerMixin, BaseEstimator):
    """Codes without a decoder: |x| thresholded, so it has zeros of its own."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        return np.where(np.asarray(X) > 8, np.asarray(X), 0.0)


@pytest.fixture(scope="module")
def split():
    d = load_digits_data()
    X, y = (d.data / 16.0).astype(np.float64), d.target
    return X[:1200], y[:1200], X[1200:], y[1200:]


def test_evaluate_matches_low_data_probe_on_the_same_draws(split):
    Xtr, ytr, Xte, yte = split
    ests = {"pixels": None,
            "pca": PCA(n_components=16, random_state=0),
            "scaled pca": make_pipeline(StandardScaler(), PCA(n_components=10, random_state=0))}
    kw = dict(n_per_class=(1, 3), n_seeds=3, random_state=7)
    frame = evaluate(ests, Xtr, ytr, Xte, yte, verbose=False, **kw)
    assert list(frame.columns) == ["estimator", "n_per_class", "seed", "accuracy", "fit_time",
                                   "psnr", "pct_zeros"]
    assert len(frame) == 3 * 2 * 3
    assert frame.estimator.unique().tolist() == list(ests)  # the order given
    assert frame.seed.unique().tolist() == [7, 8, 9]
    for name, est in ests.items():
        ref = low_data_probe(est, Xtr, ytr, Xte, yte, **kw)
        rows = frame[frame.estimator == name]
        for k in (1, 3):
            got = rows[rows.n_per_class == k]
            assert got.accuracy.tolist() == ref[k]["scores"]
            assert np.isclose(got.accuracy.mean(), ref[k]["mean"])
            assert np.isclose(got.accuracy.std(ddof=0), ref[k]["std"])
    # one draw recomputed from scikit-learn alone: the same labelled samples
    idx = sample_per_class(ytr, 3, random_state=8)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xtr[idx], ytr[idx])
    pix = frame[(frame.estimator == "pixels") & (frame.n_per_class == 3) & (frame.seed == 8)]
    assert pix.accuracy.item() == clf.score(Xte, yte)


def test_evaluate_reconstruction_sparsity_and_denoising_columns(split):
    Xtr, ytr, Xte, yte = split
    pca = PCA(n_components=12, random_state=0)
    frame = evaluate({"raw": None, "pca": pca, "codes only": _NoInverse()}, Xtr, ytr, Xte, yte,
                     n_per_class=(2,), n_seeds=2, denoising=(0.2, 0.5), verbose=False)
    by = {n: rows.iloc[0] for n, rows in frame.groupby("estimator")}
    assert np.isclose(by["pca"].psnr, psnr(Xte, pca.inverse_transform(pca.transform(Xte))))
    assert np.isclose(by["pca"].pct_zeros, 100 * np.mean(pca.transform(Xte) == 0))
    assert np.isclose(by["raw"].pct_zeros, 100 * np.mean(Xte == 0))
    assert np.isnan(by["raw"].psnr) and np.isnan(by["codes only"].psnr)
    assert by["pca"].fit_time > 0 and np.isnan(by["raw"].fit_time)
    for std in (0.2, 0.5):
        ref = denoising_scores(pca, Xte, std, random_state=0)
        assert np.isclose(by["pca"][f"psnr_denoised_{std:g}"], ref["psnr_denoised"])
        # the same noise for every estimator, the raw baseline included
        assert by["raw"][f"psnr_noisy_{std:g}"] == by["pca"][f"psnr_noisy_{std:g}"]
        assert np.isnan(by["raw"][f"psnr_denoised_{std:g}"])
        assert np.isnan(by["codes only"][f"psnr_denoised_{std:g}"])
    # every per-estimator value is repeated on all its rows
    assert (frame.groupby("estimator").psnr.nunique(dropna=False) == 1).all()


def test_evaluate_pipelines_of_our_estimators_and_prefit(split):
    Xtr, ytr, Xte, yte = split
    vdl = make_pipeline(VarianceRegDictionaryLearner(n_components=16, max_epochs=1,
                                                     random_state=0))
    frame = evaluate({"vdl": vdl}, Xtr, ytr, Xte, yte, n_per_class=(1,), n_seeds=1,
                     verbose=False)
    assert frame.accuracy.between(0, 1).all() and np.isfinite(frame.psnr).all()
    codes = vdl.transform(Xte)
    again = evaluate({"vdl": vdl}, Xtr, ytr, Xte, yte, n_per_class=(1,), n_seeds=1,
                     prefit=True, verbose=False)
    np.testing.assert_array_equal(vdl.transform(Xte), codes)  # not refitted
    assert np.isnan(again.fit_time).all()
    assert again.accuracy.tolist() == frame.accuracy.tolist()


def test_evaluate_failing_estimator(split):
    Xtr, ytr, Xte, yte = split
    ests = {"bad": _FailingFit(), "pixels": None}
    with pytest.raises(RuntimeError, match="boom") as info:
        evaluate(ests, Xtr, ytr, Xte, yte, n_per_class=(1,), n_seeds=1, verbose=False)
    if hasattr(info.value, "__notes__"):  # Python >= 3.11
        assert "'bad' failed at fit" in info.value.__notes__[0]
    with pytest.warns(FitFailedWarning, match=r"'bad' failed at fit \(RuntimeError: boom\)"):
        frame = evaluate(ests, Xtr, ytr, Xte, yte, n_per_class=(1, 2), n_seeds=2,
                         error_score=np.nan, verbose=False)
    bad = frame[frame.estimator == "bad"]
    assert len(bad) == 4
    assert bad.drop(columns=["estimator", "n_per_class", "seed"]).isna().all().all()
    assert frame[frame.estimator == "pixels"].accuracy.notna().all()


def test_evaluate_bad_input_is_refused_before_fitting(split):
    Xtr, ytr, Xte, yte = split
    clf = make_pipeline(StandardScaler(), LogisticRegression())
    bad = [
        (dict(estimators={}), "non-empty dict"),
        (dict(estimators=[None]), "non-empty dict"),
        (dict(estimators={"clf": clf}), r"estimators\['clf'\] \(Pipeline\) has no transform"),
        (dict(estimators={1: None}), "names must be strings"),
        (dict(n_per_class=()), "n_per_class"),
        (dict(n_per_class=(1, 0)), "n_per_class"),
        (dict(n_seeds=0), "n_seeds"),
        (dict(denoising=-0.1), "denoising"),
        (dict(error_score="ignore"), "error_score"),
        (dict(n_per_class=(1, 10_000)), "too many"),
    ]
    for kwargs, msg in bad:
        kwargs = {"estimators": {"bad": _FailingFit()}, **kwargs}
        with pytest.raises(ValueError, match=msg):
            evaluate(X_train=Xtr, y_train=ytr, X_test=Xte, y_test=yte, verbose=False, **kwargs)
    with pytest.raises(ValueError, match="X_test must be 2-D"):
        evaluate({"raw": None}, Xtr, ytr, Xte, yte[:-1], verbose=False)


def test_evaluate_verbose_prints_one_line_per_estimator(split, capsys):
    Xtr, ytr, Xte, yte = split
    evaluate({"raw": None, "pca": PCA(8)}, Xtr, ytr, Xte, yte, n_per_class=(1, 2), n_seeds=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("raw: accuracy by labels/class 1: ")
    assert out[1].startswith("pca: accuracy by labels/class 1: ") and "PSNR" in out[1]


def test_plot_low_data_draws_mean_and_std(split):
    pytest.importorskip("matplotlib")
    from skdeepsparse.plotting import plot_low_data

    Xtr, ytr, Xte, yte = split
    frame = evaluate({"raw": None, "pca": PCA(8)}, Xtr, ytr, Xte, yte, n_per_class=(1, 4),
                     n_seeds=3, verbose=False)
    fig = plot_low_data(frame, title="digits")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["raw", "pca"]
    for container, name in zip(ax.containers, ["raw", "pca"], strict=True):
        x, y = container.lines[0].get_data()
        ref = low_data_probe(None if name == "raw" else PCA(8).fit(Xtr), Xtr, ytr, Xte, yte,
                             n_per_class=(1, 4), n_seeds=3)
        assert np.asarray(x, dtype=float).tolist() == [1, 4]
        np.testing.assert_allclose(np.asarray(y, dtype=float), [ref[1]["mean"], ref[4]["mean"]])
    with pytest.raises(ValueError, match="missing"):
        plot_low_data(frame.drop(columns="accuracy"))
