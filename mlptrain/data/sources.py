"""Read the configured source into RawData per split: "train", and "val" / "test" when the
source has them (an image set's official test split, explicit val_path / test_path files).
"""

from __future__ import annotations

from pathlib import Path

from mlptrain.bounded import check_memory
from mlptrain.config.schema import IMAGE_SOURCES, SYNTHETIC_SOURCES, DataConfig
from mlptrain.data import idx, named
from mlptrain.data.csvfile import read_csv
from mlptrain.data.dataset import RawData
from mlptrain.data.download import Progress
from mlptrain.data.npzfile import read_npz
from mlptrain.data.synthetic import SyntheticSpec, make_synthetic
from mlptrain.errors import DataError
from mlptrain.streams import generator

SYNTHETIC_COPIES = 8  # float64 work arrays while generating, shuffling and splitting


def _synthetic(cfg: DataConfig, seed: int) -> dict[str, RawData]:
    width = cfg.n_features + 1  # features and the target
    check_memory(cfg.n_samples * width * 8 * SYNTHETIC_COPIES, "data.n_samples",
                 f"generating {cfg.n_samples} {cfg.source} samples", DataError)
    if cfg.source in ("spiral", "blobs") and cfg.n_classes > cfg.n_samples:
        raise DataError(f"data.n_classes ({cfg.n_classes}) must not exceed data.n_samples "
                        f"({cfg.n_samples}): every class needs a sample")
    spec = SyntheticSpec(cfg.n_samples, cfg.n_classes, cfg.n_features, cfg.noise)
    X, y = make_synthetic(cfg.source, spec, generator(seed, "synthetic"))
    return {"train": RawData(X=X, y=y, path=f"<{cfg.source}>")}


def _image_pair(images: Path, labels: Path) -> RawData:
    X, y = idx.read_pair(images, labels)
    return RawData(X=X, y=y, path=str(images), image=True)


def _named(cfg: DataConfig, progress: Progress | None) -> dict[str, RawData]:
    paths = named.locate(
        cfg.source, cfg.path, mirrors=cfg.mirrors, allow_download=cfg.download, progress=progress
    )
    return {
        "train": _image_pair(paths["train_images"], paths["train_labels"]),
        "test": _image_pair(paths["test_images"], paths["test_labels"]),
    }


def _idx_folder(folder: Path) -> dict[str, RawData]:
    if not folder.is_dir():
        raise DataError(
            "is not a folder; data.source idx takes a folder of train-images/train-labels "
            "files (or data.train_path naming an images file)",
            path=folder,
        )
    raws = {}
    for split, prefixes in (("train", ("train",)), ("test", ("t10k", "test"))):
        for prefix in prefixes:
            images = idx.find_in_folder(folder, prefix, "images")
            labels = idx.find_in_folder(folder, prefix, "labels")
            if images and labels:
                raws[split] = _image_pair(images, labels)
                break
    if "train" not in raws:
        raise DataError(
            "holds no train-images-idx3-ubyte[.gz] with its train-labels-idx1-ubyte[.gz]",
            path=folder,
        )
    return raws


def read_file(path: str | Path, cfg: DataConfig, positions: list[int] | None = None) -> RawData:
    """One file of features and targets, read as data.source says (csv, npz or idx images).
    positions: a CSV's categorical feature positions, when already known (a trained model's,
    or the training file's for the val/test files)."""
    if cfg.source == "npz":
        return read_npz(path, x_key=cfg.x_key, y_key=cfg.y_key)
    if cfg.source == "idx":
        return _image_pair(Path(path), idx.labels_path_for(path))
    return read_csv(
        path, delimiter=cfg.delimiter, header=cfg.header, target=cfg.target, features=cfg.features,
        categorical=cfg.categorical, max_categories=cfg.max_categories, positions=positions,
    )


def _files(cfg: DataConfig, positions: list[int] | None) -> dict[str, RawData]:
    train_path = cfg.train_path or cfg.path
    assert train_path is not None  # DataConfig's validator: a file source names a file
    if cfg.source == "idx" and cfg.train_path is None:
        raws = _idx_folder(Path(train_path))  # data.path: a folder of IDX files
    else:
        raws = {"train": read_file(train_path, cfg, positions)}
    known = sorted(raws["train"].vocab) if positions is None else positions
    for split, path in (("val", cfg.val_path), ("test", cfg.test_path)):
        if path is not None:
            raws[split] = read_file(path, cfg, known)
    return raws


def read_source(cfg: DataConfig, seed: int, progress: Progress | None,
                positions: list[int] | None = None) -> dict[str, RawData]:
    """RawData per split the source provides; "train" is always present. positions: the
    categorical feature positions of a trained model (CSV files)."""
    if cfg.source in SYNTHETIC_SOURCES:
        return _synthetic(cfg, seed)
    if cfg.source in IMAGE_SOURCES:
        return _named(cfg, progress)
    return _files(cfg, positions)
