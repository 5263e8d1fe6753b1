"""The ``skdeepsparse`` command, and the application's separation from the library."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import skdeepsparse
from skdeepsparse.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| model |" in out and "VarianceRegDictionaryLearner" in out
    result = json.loads((tmp_path / "demo.json").read_text())
    rows = result["rows"]
    # figures vary by CPU: the machine and the versions are recorded with them
    for key in ("cpu", "cpu_count", "torch_threads", "n_threads", "torch", "sklearn", "numpy"):
        assert key in result["hardware"], key
    assert result["hardware"]["cpu"] in (tmp_path / "demo.md").read_text()
    names = [r["model"] for r in rows]
    assert "raw pixels" in names and "MiniBatchDictionaryLearning (64)" in names
    for r in rows:
        assert 0 <= r["pct_zeros"] <= 100 and 0 < r["probe10_mean"] <= 1
    assert (tmp_path / "atoms.png").stat().st_size > 1000


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"skdeepsparse {skdeepsparse.__version__}"


def test_help_and_version_import_no_torch_nor_sklearn():
    """``skdeepsparse --help`` / ``--version`` answer without the heavy imports."""
    code = (
        "import sys\n"
        "from skdeepsparse.cli import main\n"
        "for argv in (['--help'], ['--version'], ['benchmark', '--help'], ['demo', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, argv\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert "HEAVY []" in out, out[-300:]


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "skdeepsparse", "--help"], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    assert "demo" in out and "benchmark" in out and "--version" in out


def _imports(path: Path):
    """(module, level, names) of every import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0, []
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, [a.name for a in node.names]


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "src" / "skdeepsparse" / "app").glob("*.py"))
    + [ROOT / "benchmarks" / "_common.py", *sorted(ROOT.glob("benchmarks/**/run_all.py"))],
    ids=lambda p: p.name,
)
def test_application_uses_only_public_api(path):
    """The application imports public names only: no ``skdeepsparse._*`` module or
    name, and no relative import reaching out of ``skdeepsparse.app``."""
    for module, level, names in _imports(path):
        if level > 1:
            pytest.fail(f"{path.name}: relative import out of the app package ({module})")
        parts = module.split(".")
        if level == 0 and parts[0] != "skdeepsparse":
            continue
        assert not any(p.startswith("_") for p in parts if p != "__future__"), (path, module)
        assert not any(n.startswith("_") and not n.endswith("__") for n in names), (
            path, module, names)
    # no private attribute of an estimator either (`est._something`; the app's own
    # classes may use theirs through `self`)
    tree = ast.parse(path.read_text())
    private = sorted({node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                      and node.attr.startswith("_") and not node.attr.startswith("__")
                      and not (isinstance(node.value, ast.Name) and node.value.id == "self")})
    assert not private, (path.name, private)


# ------------------------------------------------------------------ misuse
@pytest.mark.parametrize(
    "argv, word",
    [
        (["demo", "--seed", "-1"], "seed"),
        (["demo", "--seed", "abc"], "--seed"),
        (["demo", "--unknown"], "unrecognized"),
        (["benchmark", "--datasets", "cifar10"], "invalid choice"),
        (["benchmark", "--fit-repeats", "0"], "--fit-repeats"),
        (["benchmark", "--transform-repeats", "x"], "--transform-repeats"),
        (["benchmark", "--quick", "--full"], "not allowed with"),
        (["benchmark", "--models"], "--models"),
        ([], "command"),
        (["train"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path, capsys, argv, word):
    out = tmp_path / "out"
    try:
        code = main([*argv, "--output-dir", str(out)] if argv and argv[0] in ("demo", "benchmark")
                    else argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and word in err and "Traceback" not in err, err
    assert not out.exists()


def test_demo_output_dir_checked_before_any_fit(tmp_path, capsys, monkeypatch):
    import skdeepsparse.app.demo as demo

    def no_models(quick):
        raise AssertionError("models built before the arguments were validated")

    monkeypatch.setattr(demo, "demo_models", no_models)
    target = tmp_path / "file"
    target.write_text("")
    assert main(["demo", "--quick", "--output-dir", str(target / "sub"), "--seed", "-3"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "output_dir" in lines[0] and "seed" in lines[1]
    for argv in (["--debug", "demo"], ["demo", "--debug"]):
        with pytest.raises(ValueError, match="seed"):
            main([*argv, "--seed", "-3", "--output-dir", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_demo_error_while_running_leaves_no_folder(tmp_path, capsys, monkeypatch):
    import skdeepsparse.app.demo as demo

    def failing(quick):
        def build():
            raise RuntimeError("cannot build")
        return {"broken": build}

    monkeypatch.setattr(demo, "demo_models", failing)
    out = tmp_path / "out"
    assert main(["demo", "--quick", "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: cannot build" in err
    assert not out.exists()


def test_every_option_has_help_text():
    import argparse

    from skdeepsparse.app import options

    for add in (options.add_demo_arguments, options.add_benchmark_arguments):
        parser = argparse.ArgumentParser()
        add(parser)
        for action in parser._actions:
            assert action.help, f"{add.__name__}: {action.option_strings} has no help text"


def test_a_checkout_folder_cannot_shadow_the_installed_package(tmp_path):
    # A clone named skdeepsparse, seen from its parent folder: with the src/
    # layout it is only a namespace portion, and the installed package wins.
    (tmp_path / "skdeepsparse" / "src").mkdir(parents=True)
    out = subprocess.run(
        [sys.executable, "-c",
         "import skdeepsparse; from skdeepsparse import VarianceRegDictionaryLearner; "
         "print(skdeepsparse.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert out.strip().endswith("__init__.py")


# ------------------------------------------------------------------ Ctrl-C
@pytest.fixture
def ctrl_c_in_second_epoch(monkeypatch):
    """Ctrl-C during the second epoch of the next skdeepsparse fit.

    A global optimizer hook (public torch API) raises KeyboardInterrupt at the
    first optimizer step after one full epoch, as a user's Ctrl-C would; the
    estimator then keeps its first epoch and returns (``interrupted_``).
    """
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    from skdeepsparse import SVAETransformer

    state = {"steps": 0, "per_epoch": None}
    real_fit = SVAETransformer.fit

    def fit(self, X, y=None):
        # at least two epochs, all rows trained on: one epoch is ceil(n / batch) steps
        self.set_params(max_epochs=max(2, self.max_epochs), validation_fraction=0.0)
        state["per_epoch"] = -(-len(X) // self.batch_size)
        state["steps"] = 0
        return real_fit(self, X, y)

    def pre_step(optimizer, args, kwargs):
        if state["per_epoch"] is None:
            return
        state["steps"] += 1
        if state["steps"] > state["per_epoch"]:
            raise KeyboardInterrupt

    monkeypatch.setattr(SVAETransformer, "fit", fit)
    handle = register_optimizer_step_pre_hook(pre_step)
    yield state
    handle.remove()


def _svae_demo_models(quick):
    from skdeepsparse import SVAETransformer

    return {"raw pixels": lambda: None,
            "SVAETransformer": lambda: SVAETransformer(
                n_components=8, max_epochs=5, batch_size=256, validation_fraction=0.0,
                device="cpu", random_state=0)}


def test_demo_ctrl_c_exits_130_and_reports_nothing(tmp_path, capsys, monkeypatch,
                                                   ctrl_c_in_second_epoch):
    import skdeepsparse.app.demo as demo

    monkeypatch.setattr(demo, "demo_models", _svae_demo_models)
    out = tmp_path / "out"
    assert main(["demo", "--output-dir", str(out)]) == 130
    captured = capsys.readouterr()
    assert ctrl_c_in_second_epoch["steps"] > ctrl_c_in_second_epoch["per_epoch"]
    assert "interrupted" in captured.err
    assert "| model |" not in captured.out  # no table of a truncated model
    assert not out.exists()


def test_an_interrupted_estimator_is_never_a_result(monkeypatch):
    """Whatever way the estimator tells of the interrupt (``interrupted_``, the
    core's warning), the application's fit raises KeyboardInterrupt."""
    import warnings

    from sklearn.base import BaseEstimator

    from skdeepsparse.app.interrupt import fit

    class KeepsLastEpoch(BaseEstimator):
        def __init__(self, how="attribute"):
            self.how = how

        def fit(self, X, y=None):
            if self.how == "attribute":
                self.interrupted_ = True
            else:
                warnings.warn("KeepsLastEpoch.fit interrupted; keeping the last completed "
                              "epoch (0).", UserWarning, stacklevel=2)
            return self

    class Finishes(BaseEstimator):
        def fit(self, X, y=None):
            warnings.warn("an unrelated warning", UserWarning, stacklevel=2)
            self.interrupted_ = False
            return self

    for how in ("attribute", "warning"):
        with pytest.raises(KeyboardInterrupt):
            fit(KeepsLastEpoch(how), [[0.0]])
    with pytest.warns(UserWarning, match="unrelated"):
        assert fit(Finishes(), [[0.0]]).interrupted_ is False


def test_benchmark_ctrl_c_exits_130_and_caches_no_truncated_unit(
        tmp_path, capsys, data_home, ctrl_c_in_second_epoch):
    out = tmp_path / "bench"
    argv = ["benchmark", "--quick", "--datasets", "mnist", "--models", "raw pixels",
            "SVAETransformer", "--no-sweep", "--fit-repeats", "1", "--transform-repeats", "1",
            "--no-progress", "--device", "cpu", "--data-home", str(data_home),
            "--output-dir", str(out)]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert "interrupted" in captured.err
    assert ctrl_c_in_second_epoch["steps"] > ctrl_c_in_second_epoch["per_epoch"]
    cached = [json.loads(p.read_text()) for p in (out / "cache").glob("*.json")]
    # raw pixels finished; the interrupted SVAETransformer unit is not cached
    assert len(cached) == 1
    assert not (out / "results.json").exists() and not (out / "report.md").exists()


def test_threads_option(tmp_path, capsys, monkeypatch):
    import skdeepsparse.app.demo as demo
    from skdeepsparse import get_config

    seen = []

    def record(output_dir, **kw):
        seen.append(get_config()["n_threads"])
        return []

    monkeypatch.setattr(demo, "run_demo", record)
    assert main(["demo", "--output-dir", str(tmp_path), "--threads", "1"]) == 0
    assert main(["demo", "--output-dir", str(tmp_path)]) == 0
    assert seen == [1, "auto"]
    assert get_config()["n_threads"] == "auto"  # only for the command's duration
    for bad in ("0", "two"):
        with pytest.raises(SystemExit) as exc:
            main(["demo", "--threads", bad])
        assert exc.value.code == 2
        assert "--threads" in capsys.readouterr().err


def test_unwritable_output_dir_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import skdeepsparse.app.demo as demo
    from skdeepsparse.app.options import check_output_dir

    def no_models(quick):
        raise AssertionError("models built before the output folder was checked")

    monkeypatch.setattr(demo, "demo_models", no_models)
    locked = tmp_path / "locked"
    locked.mkdir()
    # A folder where no file can be created, whatever os.access says (root passes it).
    real = __import__("tempfile").TemporaryFile

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == locked:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr("tempfile.TemporaryFile", refuse)
    assert "not writable" in check_output_dir(locked)
    assert "cannot be created" in check_output_dir(locked / "a" / "b")
    assert check_output_dir(tmp_path / "new" / "folder") is None
    assert main(["demo", "--output-dir", str(locked / "sub")]) == 2
    assert "output_dir" in capsys.readouterr().err
    assert list(locked.iterdir()) == []
