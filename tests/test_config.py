"""The configuration: the default thread policy, ``n_threads="auto"`` (never more
threads than free cores, a model's own cap), and the ``check_collapse`` setting."""

import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import skdeepsparse._config as config
from skdeepsparse import config_context, get_config


@pytest.fixture
def fresh_load(monkeypatch):
    """No load measurement reused from an earlier test."""
    monkeypatch.setitem(config._load_cache, "at", -float("inf"))


def test_auto_is_the_default():
    assert get_config()["n_threads"] == "auto"
    assert config._default_n_threads() == "auto"


@pytest.mark.parametrize("raw, expected", [("auto", "auto"), (" AUTO ", "auto"), ("3", 3),
                                           ("", "auto")])
def test_environment_variable(monkeypatch, raw, expected):
    monkeypatch.setenv("SKDEEPSPARSE_N_THREADS", raw)
    assert config._default_n_threads() == expected


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", "Auto", "all"])
def test_bad_settings_name_the_parameter(bad):
    with pytest.raises(ValueError, match="n_threads must be 'auto', None or a positive int"):
        config.set_config(n_threads=bad)
    assert get_config()["n_threads"] == "auto"


@pytest.mark.parametrize(
    "setting, free, cap, expected",
    [
        ("auto", 4, None, 4),   # quiet machine: PyTorch's count
        ("auto", 1, None, 1),   # one core free: one thread
        ("auto", 2, None, 2),
        ("auto", 8, None, 4),   # never above PyTorch's count
        ("auto", None, None, 4),  # no load figure (Windows): PyTorch's count
        ("auto", 4, 1, 1),      # a model's cap applies to "auto" ...
        (3, 4, 1, 3),           # ... but not to a fixed limit
        (8, 1, None, 4),        # a fixed limit never raises PyTorch's count
        (None, 1, 1, 4),        # None: PyTorch's setting untouched
    ],
)
def test_resolve_threads(monkeypatch, setting, free, cap, expected):
    monkeypatch.setattr(config, "_available_cores", lambda: free)
    assert config._resolve_threads(setting, 4, cap) == expected


def test_available_cores_subtracts_other_tasks_and_is_reused(monkeypatch, fresh_load):
    calls = []

    def others():
        calls.append(1)
        return 1.0

    monkeypatch.setattr(config, "_other_tasks", others)
    monkeypatch.setattr(config, "_usable_cpus", lambda: 4)
    assert config._available_cores() == 3
    assert config._available_cores() == 3
    assert len(calls) == 1  # measured once, reused within _LOAD_TTL_S
    monkeypatch.setitem(config._load_cache, "at", -float("inf"))
    monkeypatch.setattr(config, "_other_tasks", lambda: 9.0)
    assert config._available_cores() == 1  # never below one


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/loadavg")
def test_a_busy_process_beside_is_seen(fresh_load):
    """A busy loop in another process counts as a task wanting a core, at once
    (the 1-minute load average would take a minute to notice it)."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert config._other_tasks() >= 1
        assert config._available_cores() <= max(1, config._usable_cpus() - 1)
    finally:
        busy.kill()
        busy.wait()


def test_the_core_applies_the_auto_policy(monkeypatch, fresh_load):
    """``_thread_limit`` (what every estimator method runs in) sets the free cores
    for the call and gives PyTorch its setting back."""
    monkeypatch.setattr(config, "_available_cores", lambda: 1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with config_context(n_threads="auto"), config._thread_limit():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(config, "_available_cores", lambda: 2)
        with config_context(n_threads="auto"), config._thread_limit(cap=1):
            assert torch.get_num_threads() == 1  # the model's cap
        with config_context(n_threads=None), config._thread_limit(cap=1):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------ a model's own cap
def _threads_seen(monkeypatch, cls, method):
    """Wrap ``cls.method`` to record PyTorch's thread count at each call."""
    seen = []
    original = getattr(cls, method)

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, spy)
    return seen


@pytest.mark.parametrize("setting, expected", [("auto", 1), (2, 2)])
def test_variance_reg_caps_auto_at_one_thread(monkeypatch, fresh_load, setting, expected):
    """VarianceRegDictionaryLearner runs on one thread under "auto" even on a quiet
    machine (``_auto_threads = 1``), in fit and transform; a fixed n_threads is
    honoured as given; PyTorch's count is restored after each call."""
    from skdeepsparse import SVAETransformer, VarianceRegDictionaryLearner

    monkeypatch.setattr(config, "_available_cores", lambda: 2)  # a quiet 2-core machine
    X = np.random.default_rng(0).random((60, 8))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for cls, capped in ((VarianceRegDictionaryLearner, expected), (SVAETransformer, 2)):
            fit_seen = _threads_seen(monkeypatch, cls, "_train_step")
            transform_seen = _threads_seen(monkeypatch, cls, "_transform_batch")
            est = cls(n_components=3, max_epochs=1, batch_size=20, random_state=0,
                      device="cpu")
            with config_context(n_threads=setting):
                est.fit(X)
                assert torch.get_num_threads() == 2
                est.transform(X)
                assert torch.get_num_threads() == 2
            assert set(fit_seen) == {capped} and set(transform_seen) == {capped}, cls
    finally:
        torch.set_num_threads(before)


def test_check_collapse_setting():
    assert get_config()["check_collapse"] == "auto"
    with config_context(check_collapse=False):
        assert get_config() == {"n_threads": get_config()["n_threads"],
                                "check_collapse": False}
    with config_context(n_threads=1):  # the other setting is kept
        assert get_config()["check_collapse"] == "auto"
    for bad in ("yes", None, 1):
        with pytest.raises(ValueError, match="check_collapse must be 'auto', True or False"):
            config.set_config(check_collapse=bad)
    assert get_config()["check_collapse"] == "auto"


def test_set_config_keeps_what_it_is_not_given():
    before = get_config()
    try:
        config.set_config(n_threads=1)
        config.set_config(check_collapse=False)
        assert get_config() == {"n_threads": 1, "check_collapse": False}
    finally:
        config.set_config(**before)
    assert get_config() == before
