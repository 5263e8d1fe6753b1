"""Data-parallel training on torch.distributed (issue #31): 2 gloo processes on loopback.

Each rank fits its half of the data (rows r::2) with the same ``random_state``.
Checked against an independent fit: one process on the union ordered as the
global row numbering (rank 0's rows, then rank 1's), which draws the same
global batches; for a model that is deterministic given its batches the two
fits must agree to float tolerance.
"""

from __future__ import annotations

import datetime
import os
import time

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.datasets import load_digits

from skdeepsparse import (
    DistributedTrainingError,
    config_context,
    independent_fits,
    registry,
    set_config,
)
from skdeepsparse._distributed import is_active

# The test presets stop after two epochs on purpose: their "still improving"
# ConvergenceWarning says nothing here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# (estimator, preset, overrides, deterministic given the batches). The SVAE's
# "test" preset uses the analytic reconstruction term and the closed-form Laplace
# KL; VDL's FISTA is deterministic. The others draw noise per local row from the
# rank's own generator, so only the ranks' agreement is checked for them.
CASES = [
    # inference_tol=0: a fixed number of FISTA iterations, so that no stopping
    # decision can flip on a last-bit difference of the summation order.
    ("VarianceRegDictionaryLearner", "test",
     {"validation_fraction": 0.0, "inference_tol": 0.0}, True),
    ("VarianceRegDictionaryLearner", "test_mlp",
     {"validation_fraction": 0.0, "inference_tol": 0.0}, True),
    # The global stopping rule and validation split (ranks' agreement only).
    ("VarianceRegDictionaryLearner", "test", {"validation_fraction": 0.25}, False),
    ("SVAETransformer", "test", {"validation_fraction": 0.25, "n_iter_no_change": 1}, True),
    ("ThresholdedVAE", "test", {}, False),
    ("SpikeSlabGenerator", "test", {}, False),
    ("VariationalSparseCoding", "test", {}, False),
    ("SVAETransformer", "test_cauchy", {}, False),  # Monte Carlo KL
    ("ThresholdedVAE", "test_spike_slab", {}, False),
    ("SpikeSlabGenerator", "test_persistent", {}, False),  # per-row chains: local rows
]
TIMEOUT_S = 6


def _data():
    X = load_digits().data[:96] / 16.0
    return X.astype(np.float64)


def _params(name, preset, overrides):
    return {**registry.presets(name)[preset], "batch_size": 24, "max_epochs": 2,
            **overrides}


def _result(est):
    hist = [{k: v for k, v in rec.items() if k != "time"} for rec in est.history_]
    fitted = {k: getattr(est, k) for k in ("kl_per_component_", "posterior_mean_variance_",
                                            "mean_", "scale_", "data_scale_") if hasattr(est, k)}
    return {"state": {k: v.detach().clone() for k, v in est.module_.state_dict().items()},
            "history": hist, "fitted": fitted}


def _worker(rank, world, init, out_dir):
    # One thread everywhere: the reference fits too, so that the float summation
    # order (and hence FISTA's stopping decisions) cannot depend on the load.
    set_config(n_threads=1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=TIMEOUT_S))
    X = _data()[rank::world]
    results = {}
    for i, (name, preset, overrides, _) in enumerate(CASES):
        est = registry.ESTIMATORS[name].cls(**_params(name, preset, overrides))
        try:
            results[i] = _result(est.fit(X))
        except Exception as exc:  # reported to the parent, which fails the test
            results[i] = {"error": f"{type(exc).__name__}: {exc}"}
    # Uneven local sizes: rank 0 holds 64 rows, rank 1 the other 32.
    X_all = _data()
    name, preset, overrides, _ = CASES[0]
    X_uneven = X_all[:64] if rank == 0 else X_all[64:]
    est = registry.ESTIMATORS[name].cls(**_params(name, preset, overrides))
    results["uneven"] = _result(est.fit(X_uneven))
    # partial_fit: two calls, each on this rank's half of a chunk.
    est = registry.make("SVAETransformer", "test", batch_size=16)
    for chunk in (X_all[:48], X_all[48:]):
        est.partial_fit(chunk[rank::world])
    results["partial"] = _result(est)
    # Divergence in a warm fit: every rank raises and keeps its previous model.
    est = registry.ESTIMATORS[name].cls(**_params(name, preset, overrides)).fit(X)
    before = _result(est)
    est.set_params(optimizer="sgd", learning_rate=1e30, warm_start=True)
    try:
        est.fit(X)
        results["diverged"] = {"error": None}
    except Exception as exc:
        results["diverged"] = {"error": type(exc).__name__, "before": before,
                               "after": _result(est)}
    # BatchNorm (the thresholded VAE's conv configuration) is refused on every rank.
    try:
        registry.make("ThresholdedVAE", "test_conv").fit(X)
        results["batchnorm"] = None
    except NotImplementedError as exc:
        results["batchnorm"] = str(exc)
    # Opted out: each rank fits its own model on its own rows, no collective.
    with independent_fits():
        est = registry.make("SVAETransformer", "test")
        results["independent"] = _result(est.fit(X[: 20 + 10 * rank]))
    # A rank that calls fit without the others fails with a clear error in time.
    dist.barrier()
    if rank == 1:
        est = registry.make("SVAETransformer", "test")
        t0 = time.monotonic()
        try:
            est.fit(X)
            results["alone"] = {"error": None}
        except DistributedTrainingError as exc:
            results["alone"] = {"error": str(exc), "seconds": time.monotonic() - t0,
                                "fitted": hasattr(est, "module_")}
    else:
        time.sleep(TIMEOUT_S + 3)
    torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    init = f"file://{tmp / 'rendezvous'}"
    mp.spawn(_worker, args=(2, init, str(tmp)), nprocs=2, join=True)
    return [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(2)]


def test_no_process_group_is_inactive():
    assert not is_active()


@pytest.mark.parametrize("i", range(len(CASES)),
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_ranks_agree_and_match_one_process(two_ranks, i):
    name, preset, overrides, deterministic = CASES[i]
    r0, r1 = (res[i] for res in two_ranks)
    assert "error" not in r0, r0.get("error")
    assert "error" not in r1, r1.get("error")
    for k, v in r0["state"].items():  # every rank ends with the same model
        torch.testing.assert_close(r1["state"][k], v, rtol=0, atol=0)
    assert r0["history"] == r1["history"]
    for k, v in r0["fitted"].items():
        np.testing.assert_array_equal(r1["fitted"][k], v, err_msg=k)
    if not deterministic:
        return
    X = _data()
    union = np.concatenate([X[0::2], X[1::2]])  # the global row numbering
    with config_context(n_threads=1):
        one = registry.ESTIMATORS[name].cls(**_params(name, preset, overrides)).fit(union)
    ref = _result(one)
    for k, v in ref["state"].items():
        torch.testing.assert_close(r0["state"][k], v, rtol=1e-6, atol=1e-8)
    assert set(r0["fitted"]) == set(ref["fitted"])
    for k, v in ref["fitted"].items():  # standardisation, data scale, SVAE activity
        np.testing.assert_allclose(r0["fitted"][k], v, rtol=1e-6, atol=1e-10, err_msg=k)
    assert len(r0["history"]) == len(ref["history"])
    for got, want in zip(r0["history"], ref["history"], strict=True):
        assert set(got) == set(want)
        for key in ("loss", "val_loss", "lr", "epoch"):
            if key in want:
                assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key


def test_rank_alone_fails_clearly(two_ranks):
    alone = two_ranks[1]["alone"]
    assert alone["error"] is not None, "fit on one rank alone should fail"
    assert "did not take part" in alone["error"]
    assert alone["seconds"] < TIMEOUT_S + 5
    assert not alone["fitted"]  # the transaction left no half-fitted model


def _assert_same_state(got, want, **tol):
    assert set(got) == set(want)
    for k, v in want.items():
        torch.testing.assert_close(got[k], v, **tol)


def test_uneven_local_sizes(two_ranks):
    r0, r1 = (res["uneven"] for res in two_ranks)
    _assert_same_state(r1["state"], r0["state"], rtol=0, atol=0)
    name, preset, overrides, _ = CASES[0]
    with config_context(n_threads=1):
        one = registry.ESTIMATORS[name].cls(**_params(name, preset, overrides)).fit(_data())
    _assert_same_state(r0["state"], _result(one)["state"], rtol=1e-6, atol=1e-8)


def test_partial_fit_matches_one_process(two_ranks):
    r0, r1 = (res["partial"] for res in two_ranks)
    _assert_same_state(r1["state"], r0["state"], rtol=0, atol=0)
    X = _data()
    one = registry.make("SVAETransformer", "test", batch_size=16)
    with config_context(n_threads=1):
        for chunk in (X[:48], X[48:]):
            one.partial_fit(np.concatenate([chunk[0::2], chunk[1::2]]))
    _assert_same_state(r0["state"], _result(one)["state"], rtol=1e-6, atol=1e-8)
    assert [h["loss"] for h in r0["history"]] == pytest.approx(
        [h["loss"] for h in one.history_], rel=1e-6)


def test_divergence_rolls_back_every_rank(two_ranks):
    for res in two_ranks:
        d = res["diverged"]
        assert d["error"] == "TrainingDivergedError"
        _assert_same_state(d["after"]["state"], d["before"]["state"], rtol=0, atol=0)
        assert d["after"]["history"] == d["before"]["history"]


def test_batchnorm_refused_on_every_rank(two_ranks):
    for res in two_ranks:
        assert res["batchnorm"] is not None and "BatchNorm" in res["batchnorm"]


def test_independent_fits_opt_out(two_ranks):
    for rank, res in enumerate(two_ranks):
        X = _data()[rank::2]  # the rank's own rows, as in _worker
        with config_context(n_threads=1):
            one = registry.make("SVAETransformer", "test").fit(X[: 20 + 10 * rank])
        _assert_same_state(res["independent"]["state"], _result(one)["state"], rtol=0, atol=0)
