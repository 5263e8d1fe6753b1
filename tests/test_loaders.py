"""The IDX loaders refuse files whose header and size disagree, and name the file."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from skdeepsparse.datasets import load_mnist


def _write_idx(folder, name, magic, shape, n_bytes=None, payload=None):
    ndim = magic & 0xFF
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in shape)
    if payload is None:
        size = int(np.prod(shape)) if n_bytes is None else n_bytes
        payload = bytes(size % 251 for size in range(size))
    assert len(shape) == ndim
    with gzip.open(folder / name, "wb") as f:
        f.write(header + payload)


def _dataset(tmp_path, n_images=10, n_labels=10, image_bytes=None, label_shape=None):
    folder = tmp_path / "mnist"
    folder.mkdir()
    _write_idx(folder, "train-images-idx3-ubyte.gz", 0x803, (n_images, 28, 28), image_bytes)
    _write_idx(folder, "train-labels-idx1-ubyte.gz", 0x801, label_shape or (n_labels,))
    return tmp_path


def test_valid_file_loads(tmp_path):
    b = load_mnist("train", data_home=_dataset(tmp_path))
    assert b.data.shape == (10, 784) and b.target.shape == (10,)
    assert load_mnist("train", data_home=tmp_path, n_samples=3).data.shape == (3, 784)


@pytest.mark.parametrize("n_bytes, word", [(784 * 9, "truncated"), (784 * 11, "trailing")])
def test_header_and_size_must_agree(tmp_path, n_bytes, word):
    home = _dataset(tmp_path, image_bytes=n_bytes)
    with pytest.raises(ValueError, match=f"train-images.*{word}"):
        load_mnist("train", data_home=home)


def test_header_announcing_more_images_than_held(tmp_path):
    # 10,000 announced over 10 held: refused, not 10 images with 10,000 labels.
    home = _dataset(tmp_path, n_images=10_000, image_bytes=784 * 10, n_labels=10_000)
    with pytest.raises(ValueError, match="truncated"):
        load_mnist("train", data_home=home)


def test_image_and_label_counts_must_agree(tmp_path):
    home = _dataset(tmp_path, n_labels=7)
    with pytest.raises(ValueError, match="10 images but .* 7 labels"):
        load_mnist("train", data_home=home)


def test_truncated_gzip_names_the_file(tmp_path):
    home = _dataset(tmp_path)
    path = home / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*gzip"):
        load_mnist("train", data_home=home)


@pytest.mark.parametrize("bad", [-1, 0, "10", 2.5, True, 11])
def test_n_samples_is_validated(tmp_path, bad):
    home = _dataset(tmp_path)
    with pytest.raises(ValueError, match="n_samples"):
        load_mnist("train", data_home=home, n_samples=bad)


# ------------------------------------------------------------------ downloads
# No network here: the opener is replaced by one that serves bytes from memory.
class _Response:
    def __init__(self, payload: bytes):
        self._payload, self._pos = payload, 0

    def read(self, n=-1):
        end = len(self._payload) if n < 0 else self._pos + n
        chunk = self._payload[self._pos:end]
        self._pos += len(chunk)
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _gz_idx(magic, shape):
    import io

    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in shape)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(header + bytes(int(np.prod(shape))))
    return buf.getvalue()


@pytest.fixture
def fake_mirror(monkeypatch):
    """Serve tiny valid IDX files under the real file names, with their checksums."""
    import hashlib

    import skdeepsparse.datasets as datasets

    files = {"train-images-idx3-ubyte.gz": _gz_idx(0x803, (5, 28, 28)),
             "train-labels-idx1-ubyte.gz": _gz_idx(0x801, (5,))}
    sums = {k: dict(v) for k, v in datasets.SHA256.items()}
    for name in files:
        sums["mnist"][name] = hashlib.sha256(files[name]).hexdigest()
    monkeypatch.setattr(datasets, "SHA256", sums)
    calls = []

    def opener(url, timeout=None):
        calls.append(url)
        if "fail" in state:
            raise datasets.urllib.error.URLError(state["fail"])
        if state.get("fail_file") and url.endswith(state["fail_file"]):
            raise datasets.urllib.error.URLError("404 Not Found")
        if state.get("first_mirror_down") and url.startswith(datasets.MIRRORS["mnist"][0]):
            raise datasets.urllib.error.URLError("503 from the first mirror")
        payload = files[url.rsplit("/", 1)[1]]
        if state.get("corrupt"):
            payload = payload[:-1] + bytes([payload[-1] ^ 0xFF])
        return _Response(payload)

    state = {}
    monkeypatch.setattr(datasets, "_urlopen", opener)
    return calls, state


def test_download_if_missing_fetches_and_checks(tmp_path, fake_mirror):
    import skdeepsparse.datasets as datasets

    calls, _ = fake_mirror
    b = load_mnist("train", data_home=tmp_path)
    assert b.data.shape == (5, 784)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert all(url.startswith(datasets.MIRRORS["mnist"][0]) for url in calls)
    # Present files are not fetched again.
    load_mnist("train", data_home=tmp_path)
    assert len(calls) == 2


def test_download_falls_back_to_the_next_mirror(tmp_path, fake_mirror):
    import skdeepsparse.datasets as datasets

    calls, state = fake_mirror
    state["first_mirror_down"] = True
    assert load_mnist("train", data_home=tmp_path).data.shape == (5, 784)
    assert any(url.startswith(datasets.MIRRORS["mnist"][1]) for url in calls)


def test_download_with_a_wrong_checksum_is_refused(tmp_path, fake_mirror):
    _, state = fake_mirror
    state["corrupt"] = True
    with pytest.raises(OSError, match="SHA-256"):
        load_mnist("train", data_home=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written is kept, not even a folder


def test_offline_download_error_is_clear(tmp_path, fake_mirror):
    _, state = fake_mirror
    state["fail"] = "[Errno -3] Temporary failure in name resolution"
    with pytest.raises(OSError, match=r"Could not download train-images.*no network") as info:
        load_mnist("train", data_home=tmp_path)
    assert str(tmp_path / "mnist") in str(info.value)
    assert "name resolution" in str(info.value)


@pytest.mark.parametrize("failure", ["fail", "second_file"])
def test_a_failed_download_leaves_nothing_behind(tmp_path, fake_mirror, failure):
    """Not a folder, not a temporary file, not the first of two files: the data
    home is as it was (here: absent), so the next attempt starts clean."""
    calls, state = fake_mirror
    home = tmp_path / "a" / "b"
    if failure == "fail":
        state["fail"] = "[Errno 101] Network is unreachable"
    else:
        state["fail_file"] = "train-labels-idx1-ubyte.gz"  # the images arrive first
    with pytest.raises(OSError, match="Could not download"):
        load_mnist("train", data_home=home)
    assert list(tmp_path.iterdir()) == []
    state.clear()
    assert load_mnist("train", data_home=home).data.shape == (5, 784)
    assert sorted(p.name for p in home.iterdir()) == ["mnist"]


def test_data_home_search_order(tmp_path, monkeypatch):
    """data_home, then $SKDEEPSPARSE_DATA, then shared/data beside the checkout,
    then ~/skdeepsparse_data (the datasets module's docstring)."""
    import skdeepsparse.datasets as datasets

    monkeypatch.setenv("SKDEEPSPARSE_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert datasets.get_data_home("~/x") == tmp_path / "home" / "x"
    assert datasets.get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SKDEEPSPARSE_DATA")
    checkout = Path(datasets.__file__).resolve().parents[2]
    beside = checkout.parent / "shared" / "data"
    if (checkout / "pyproject.toml").is_file() and beside.is_dir():
        assert datasets.get_data_home() == beside
    monkeypatch.setattr(datasets, "_checkout_data", lambda: None)
    assert datasets.get_data_home() == tmp_path / "home" / "skdeepsparse_data"
    monkeypatch.setenv("SKDEEPSPARSE_DATA", "")  # set but empty: as if unset
    assert datasets.get_data_home() == tmp_path / "home" / "skdeepsparse_data"


def test_checkout_data_needs_a_checkout(tmp_path, monkeypatch):
    """Only a checkout (pyproject.toml above src/) looks for shared/data beside itself;
    an installed package never does."""
    import skdeepsparse.datasets as datasets

    clone = tmp_path / "clone"
    (clone / "src" / "skdeepsparse").mkdir(parents=True)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.setattr(datasets, "__file__", str(clone / "src" / "skdeepsparse" / "datasets.py"))
    assert datasets._checkout_data() is None
    (clone / "pyproject.toml").write_text("")
    assert datasets._checkout_data() == tmp_path / "shared" / "data"


def test_no_download_when_disabled(tmp_path, fake_mirror):
    calls, _ = fake_mirror
    with pytest.raises(FileNotFoundError, match="download_if_missing=True"):
        load_mnist("train", data_home=tmp_path, download_if_missing=False)
    assert calls == []


def test_checksums_match_the_shared_data(data_home):
    """The SHA-256 table is that of the original files (also in shared/data/SHA256SUMS)."""
    import hashlib

    import skdeepsparse.datasets as datasets

    for name, sums in datasets.SHA256.items():
        for filename, expected in sums.items():
            path = data_home / name / filename
            assert hashlib.sha256(path.read_bytes()).hexdigest() == expected, path
