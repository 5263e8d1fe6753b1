"""The default thread policy, ``n_threads="auto"``: never more threads than free cores."""

import subprocess
import sys
import time

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
