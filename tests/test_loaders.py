"""The IDX loaders refuse files whose header and size disagree, and name the file."""

import gzip

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
