"""Downloads of named image sets over a real loopback HTTP server: verified, atomic, with
mirror fallback; and the clear error when nothing is found and nothing can be fetched."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from data_helpers import RecordingProgress, data_config, http_server, tiny_set_files, tiny_set_spec

from mlptrain.data import load_data, named
from mlptrain.data.download import download
from mlptrain.errors import DataError


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty cache and no MLPTRAIN_DATA; the working directory has no ./data/mnist."""
    monkeypatch.setenv("MLPTRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLPTRAIN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cache" / "mnist"


def _routes(files, prefix="/m", corrupt=None, drop=None):
    routes = {}
    for name, data in files.items():
        body = gzip.compress(data)
        mode = "ok"
        if name == corrupt:
            raw = bytearray(data)
            raw[-1] ^= 0xFF  # same size and header, one pixel differs
            body = gzip.compress(bytes(raw))
        if name == drop:
            mode = "drop"
        routes[f"{prefix}/{name}.gz"] = (body, mode)
    return routes


def _use_tiny_set(monkeypatch, files, with_sums=True):
    monkeypatch.setitem(named.IMAGE_SETS, "mnist", tiny_set_spec(files, with_sums=with_sums))


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_fetches_verifies_and_caches_the_set(isolated, monkeypatch):
    files = tiny_set_files()
    _use_tiny_set(monkeypatch, files)
    progress = RecordingProgress()
    with http_server(_routes(files)) as (base, hits):
        cfg = data_config(source="mnist", mirrors=[base + "/m/"], val_fraction=0.2)
        bundle = load_data(cfg, seed=0, progress=progress)
    assert len(hits) == 4
    assert sorted(_leftovers(isolated)) == sorted(f"{n}.gz" for n in files)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (24, 6, 12)
    assert bundle.train.X.dtype == np.uint8 and bundle.class_names == ["a", "b", "c"]
    assert len(progress.bars) == 4
    assert all(bar["closed"] and bar["done"] == bar["total"] > 0 for bar in progress.bars)


def test_second_load_uses_the_cache_without_network(isolated, monkeypatch):
    files = tiny_set_files()
    _use_tiny_set(monkeypatch, files)
    with http_server(_routes(files)) as (base, _):
        load_data(data_config(source="mnist", mirrors=[base + "/m"]), seed=0)
    cfg = data_config(source="mnist", mirrors=["http://127.0.0.1:9/"], download=False)
    bundle = load_data(cfg, seed=0)
    assert bundle.paths[0].startswith(str(isolated))


def test_checksum_mismatch_is_refused_and_leaves_no_file(isolated, monkeypatch):
    files = tiny_set_files()
    _use_tiny_set(monkeypatch, files)
    with http_server(_routes(files, corrupt="train-images-idx3-ubyte")) as (base, _):
        with pytest.raises(DataError, match="SHA-256 mismatch") as info:
            load_data(data_config(source="mnist", mirrors=[base + "/m"]), seed=0)
    assert "train-images-idx3-ubyte" in str(info.value)
    assert "train-images-idx3-ubyte.gz" not in _leftovers(isolated)
    assert not [n for n in _leftovers(isolated) if ".part" in n]


def test_interrupted_download_leaves_no_complete_looking_file(isolated, monkeypatch):
    files = tiny_set_files()
    _use_tiny_set(monkeypatch, files)
    with http_server(_routes(files, drop="t10k-images-idx3-ubyte")) as (base, _):
        with pytest.raises(DataError, match=r"connection dropped after \d+ of \d+ bytes"):
            load_data(data_config(source="mnist", mirrors=[base + "/m"]), seed=0)
    left = _leftovers(isolated)
    assert "t10k-images-idx3-ubyte.gz" not in left
    assert not [n for n in left if ".part" in n]


def test_falls_back_to_the_second_mirror_when_the_first_fails(isolated, monkeypatch):
    files = tiny_set_files()
    _use_tiny_set(monkeypatch, files)
    with http_server(_routes(files, prefix="/good")) as (base, hits):
        mirrors = [base + "/broken/", "http://127.0.0.1:9/", base + "/good/"]
        bundle = load_data(data_config(source="mnist", mirrors=mirrors), seed=0)
    assert len(bundle.test) == 12
    assert sum(h.startswith("/broken/") for h in hits) == 4
    assert sum(h.startswith("/good/") for h in hits) == 4


def test_without_known_sums_the_header_and_size_are_verified(isolated, monkeypatch):
    files = tiny_set_files()
    _use_tiny_set(monkeypatch, files, with_sums=False)
    served = dict(files)
    served["train-labels-idx1-ubyte"] = files["train-labels-idx1-ubyte"][:-3]  # truncated
    with http_server(_routes(served)) as (base, _):
        with pytest.raises(DataError, match="truncated"):
            load_data(data_config(source="mnist", mirrors=[base + "/m"]), seed=0)
    assert "train-labels-idx1-ubyte.gz" not in _leftovers(isolated)


def test_wrong_kind_of_file_from_a_mirror_is_refused_by_magic(isolated, monkeypatch):
    files = tiny_set_files()
    _use_tiny_set(monkeypatch, files, with_sums=False)
    served = dict(files)
    served["t10k-labels-idx1-ubyte"] = files["t10k-images-idx3-ubyte"]  # mislabelled
    with http_server(_routes(served)) as (base, _):
        with pytest.raises(DataError, match="wrong magic number 2051"):
            load_data(data_config(source="mnist", mirrors=[base + "/m"]), seed=0)


def test_offline_without_files_names_every_folder_of_the_search_path(isolated, monkeypatch):
    _use_tiny_set(monkeypatch, tiny_set_files())
    monkeypatch.setenv("MLPTRAIN_DATA", "/nowhere/datasets")
    with pytest.raises(DataError) as info:
        load_data(data_config(source="mnist", path="/nowhere/mine", download=False), seed=0)
    text = str(info.value)
    for folder in ("/nowhere/mine", "/nowhere/datasets/mnist", "/nowhere/datasets",
                   "data/mnist", str(isolated)):
        assert folder in text
    assert "train-images-idx3-ubyte" in text and "download is false" in text


def test_unreachable_mirrors_give_one_error_listing_each_failure(isolated, monkeypatch):
    _use_tiny_set(monkeypatch, tiny_set_files())
    cfg = data_config(source="mnist", mirrors=["http://127.0.0.1:9/a/", "http://127.0.0.1:9/b/"])
    with pytest.raises(DataError, match="download failed") as info:
        load_data(cfg, seed=0)
    assert "127.0.0.1:9/a/" in str(info.value) and "127.0.0.1:9/b/" in str(info.value)
    assert "hint: put" in str(info.value)


def test_download_function_replaces_the_destination_only_after_verification(tmp_path):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")

    def reject(path):
        assert path.read_bytes() == b"new content" and path != dest
        raise DataError("rejected by test")

    with http_server({"/f": (b"new content", "ok")}) as (base, _):
        with pytest.raises(DataError, match="rejected by test"):
            download([base + "/f"], dest, reject)
        assert dest.read_bytes() == b"old"
        used = download([base + "/missing", base + "/f"], dest, lambda path: None)
    assert used.endswith("/f") and dest.read_bytes() == b"new content"
    assert _leftovers(tmp_path) == ["out.bin"]


def test_train_downloads_with_a_progress_bar_through_the_cli(isolated, monkeypatch):
    from typer.testing import CliRunner

    from mlptrain.cli import app

    files = tiny_set_files()
    _use_tiny_set(monkeypatch, files)
    with http_server(_routes(files)) as (base, hits):
        home = isolated.parent.parent  # the test's tmp_path (the cache is home/cache/mnist)
        config = home / "tiny.yaml"
        config.write_text(
            "data: {source: mnist, mirrors: ['" + base + "/m/'], val_fraction: 0.2}\n"
            "model: {hidden: [4]}\ntrain: {epochs: 1}\n"
            f"run: {{root: {home / 'runs'}}}\n"
        )
        result = CliRunner().invoke(app, ["train", str(config)])
    assert result.exit_code == 0, result.output
    assert len(hits) == 4
    assert "download train-images-idx3-ubyte" in result.output
    assert sorted(_leftovers(isolated)) == sorted(f"{n}.gz" for n in files)
