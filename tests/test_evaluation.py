"""The paper's low-data protocol: first k per class, a linear layer chosen on validation."""

import numpy as np
import pytest

from skdeepsparse.datasets import load_digits_data
from skdeepsparse.evaluation import first_per_class, paper_linear_probe


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
