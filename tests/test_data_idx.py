"""IDX files: parsing, the structural checks (magic, size, counts), the idx source, and the
real MNIST when the shared copy is present."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from data_helpers import SHARED_MNIST, data_config, tiny_images, write_idx, write_tiny_set

from mlptrain.data import idx, load_data
from mlptrain.errors import DataError


def test_images_and_labels_read_as_flat_uint8_from_raw_or_gz(tmp_path):
    X, y = tiny_images(5, 0, shape=(3, 4))
    write_idx(tmp_path / "a-images-idx3-ubyte.gz", X, 2051, gz=True)
    write_idx(tmp_path / "a-labels-idx1-ubyte", y, 2049)
    images, labels = idx.read_pair(tmp_path / "a-images-idx3-ubyte.gz", tmp_path / "a-labels-idx1-ubyte")
    assert images.dtype == np.uint8 and images.shape == (5, 12)
    np.testing.assert_array_equal(images, X.reshape(5, 12))
    assert labels.tolist() == y.tolist()


def test_wrong_magic_says_what_the_file_is(tmp_path):
    _, y = tiny_images(5, 0)
    path = write_idx(tmp_path / "x-images-idx3-ubyte", y, 2049)
    with pytest.raises(DataError, match=r"wrong magic number 2049 \(labels\); expected 2051"):
        idx.read_images(path)


def test_truncated_file_reports_promised_and_actual_size(tmp_path):
    X, _ = tiny_images(5, 0)
    path = write_idx(tmp_path / "x-images-idx3-ubyte", X, 2051)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"is truncated: the header promises 5x4x4 values \(96 bytes\)"):
        idx.read_images(path)


def test_truncated_gzip_is_a_data_error(tmp_path):
    X, _ = tiny_images(50, 0)
    path = tmp_path / "x-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(X.tobytes())[:40])
    with pytest.raises(DataError, match="damaged or truncated gzip"):
        idx.read_images(path)


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        idx.read_images(path)


def test_images_labels_count_mismatch(tmp_path):
    X, _ = tiny_images(5, 0)
    _, y = tiny_images(4, 0)
    write_idx(tmp_path / "t-images-idx3-ubyte", X, 2051)
    write_idx(tmp_path / "t-labels-idx1-ubyte", y, 2049)
    with pytest.raises(DataError, match="holds 5 images but its labels file t-labels-idx1-ubyte holds 4"):
        idx.read_pair(tmp_path / "t-images-idx3-ubyte", tmp_path / "t-labels-idx1-ubyte")


def test_idx_source_folder_uses_t10k_files_as_the_test_split(tmp_path):
    folder = write_tiny_set(tmp_path / "set")
    bundle = load_data(data_config(source="idx", path=str(folder), val_fraction=0.2), seed=0)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (24, 6, 12)
    assert bundle.train.X.dtype == np.uint8 and bundle.n_features == 16


def test_idx_source_without_test_files_carves_test_fraction(tmp_path):
    folder = write_tiny_set(tmp_path / "set")
    for path in folder.glob("t10k-*"):
        path.unlink()
    bundle = load_data(
        data_config(source="idx", path=str(folder), val_fraction=0.0, test_fraction=0.2), seed=0
    )
    assert (len(bundle.train), len(bundle.test)) == (24, 6)


def test_train_path_finds_its_labels_file_by_name(tmp_path):
    folder = write_tiny_set(tmp_path / "set", gz=False)
    cfg = data_config(
        source="idx", train_path=str(folder / "train-images-idx3-ubyte"),
        test_path=str(folder / "t10k-images-idx3-ubyte"), val_fraction=0.0,
    )
    bundle = load_data(cfg, seed=0)
    assert (len(bundle.train), len(bundle.test)) == (30, 12)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="has no labels file beside it"):
        load_data(cfg, seed=0)


@pytest.fixture(scope="module")
def mnist_bundle():
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("the shared MNIST copy is not present")
    return load_data(data_config(source="mnist", path=str(SHARED_MNIST)), seed=0)


def test_real_mnist_has_60000_training_and_10000_test_images_as_uint8(mnist_bundle):
    sizes = mnist_bundle.describe()["sizes"]
    assert sizes["train"] + sizes["val"] == 60_000 and sizes["val"] == 6_000
    assert sizes["test"] == 10_000
    assert mnist_bundle.train.X.dtype == np.uint8 and mnist_bundle.train.X.shape[1] == 784
    batch = mnist_bundle.preprocessor.transform(mnist_bundle.train.X[:128])
    assert batch.dtype == np.float32 and abs(batch.mean()) < 0.2
