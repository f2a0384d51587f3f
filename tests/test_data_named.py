"""The search path of named image sets: its order, the cache folder, and label checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import data_config, tiny_set_files, tiny_set_spec, write_tiny_set

from mlptrain.data import load_data, named
from mlptrain.data.named import cache_root, search_path
from mlptrain.errors import DataError


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setitem(named.IMAGE_SETS, "mnist", tiny_set_spec(tiny_set_files(), with_sums=True))
    monkeypatch.setenv("MLPTRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLPTRAIN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cache_root_prefers_mlptrain_cache_then_xdg_then_home(monkeypatch):
    monkeypatch.setenv("MLPTRAIN_CACHE", "/c1")
    monkeypatch.setenv("XDG_CACHE_HOME", "/x")
    assert cache_root() == Path("/c1")
    monkeypatch.delenv("MLPTRAIN_CACHE")
    assert cache_root() == Path("/x/mlptrain")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "mlptrain"


def test_search_path_order(monkeypatch):
    monkeypatch.setenv("MLPTRAIN_DATA", "/d")
    monkeypatch.setenv("MLPTRAIN_CACHE", "/c")
    assert search_path("kmnist", "/p") == [
        Path("/p"), Path("/d/kmnist"), Path("/d"), Path("data/kmnist"), Path("/c/kmnist")
    ]


def test_set_is_found_under_mlptrain_data(tiny, monkeypatch):
    write_tiny_set(tiny / "store" / "mnist")
    monkeypatch.setenv("MLPTRAIN_DATA", str(tiny / "store"))
    bundle = load_data(data_config(source="mnist", download=False), seed=0)
    assert bundle.paths[0].startswith(str(tiny / "store" / "mnist"))


def test_set_is_found_in_working_directory_data_folder(tiny):
    write_tiny_set(tiny / "data" / "mnist", gz=False)
    bundle = load_data(data_config(source="mnist", download=False), seed=0)
    assert bundle.paths[0] == "data/mnist/train-images-idx3-ubyte"


def test_config_path_comes_before_the_cache(tiny):
    write_tiny_set(tiny / "cache" / "mnist")
    write_tiny_set(tiny / "mine")
    bundle = load_data(data_config(source="mnist", path=str(tiny / "mine"), download=False), seed=0)
    assert bundle.paths[0].startswith(str(tiny / "mine"))


def test_incomplete_folder_is_skipped(tiny):
    write_tiny_set(tiny / "mine")
    (tiny / "mine" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="not found locally"):
        load_data(data_config(source="mnist", path=str(tiny / "mine"), download=False), seed=0)


def test_named_set_label_beyond_its_classes_is_out_of_range(tiny, monkeypatch):
    spec = named.IMAGE_SETS["mnist"]
    monkeypatch.setitem(
        named.IMAGE_SETS, "mnist",
        named.ImageSet(name="mnist", mirrors=(), class_names=("a", "b"), n_train=30, n_test=12,
                       image_shape=(4, 4), sha256=spec.sha256),
    )
    write_tiny_set(tiny / "data" / "mnist")  # labels 0..2, but only 2 classes known
    with pytest.raises(DataError, match="label 2 is out of range; the model knows 2 classes"):
        load_data(data_config(source="mnist", download=False), seed=0)
