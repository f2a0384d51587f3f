"""From a `DataConfig` to a `DataBundle`: read, clean, encode, split, limit, fit scaling.

    raw splits (sources.py) -> NaN/inf check or drop -> targets encoded (targets.py)
      -> test carved (test_fraction, unless the source has a test split or test_path)
      -> validation carved from training (val_fraction, unless val_path), stratified
      -> data.limit: the first N training samples
      -> categorical columns one-hot encoded, categories learned on the training split
         (categorical.py; or the given preprocessor's, before splitting)
      -> preprocessing fitted on the training split only (or the given fitted one checked):
         feature scaling, and for regression the targets' scaling (data.target_scale)

Every random draw comes from the seed's `split` stream (streams.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlptrain.config.schema import IMAGE_SOURCES, DataConfig
from mlptrain.data import idx
from mlptrain.data.categorical import CategoricalEncoder
from mlptrain.data.csvfile import (
    feature_columns,
    feature_matrix,
    read_table,
    target_columns,
)
from mlptrain.data.dataset import DataBundle, RawData, Split
from mlptrain.data.download import Progress
from mlptrain.data.npzfile import read_npz
from mlptrain.data.preprocessing import Preprocessor
from mlptrain.data.sources import read_source
from mlptrain.data.splits import holdout, stratify_labels
from mlptrain.data.target_scaling import TargetScaling
from mlptrain.data.targets import encode_targets
from mlptrain.errors import DataError
from mlptrain.streams import generator


def _non_finite(raw: RawData) -> np.ndarray:
    """Mask (n,) of samples with a NaN or infinite feature or numeric target."""
    bad = np.zeros(len(raw.X), dtype=bool)
    if raw.X.dtype.kind == "f":
        bad |= ~np.isfinite(raw.X).all(axis=1)
    if raw.y is not None and raw.y.dtype.kind == "f":
        y = raw.y.reshape(len(raw.y), -1)
        bad |= ~np.isfinite(y).all(axis=1)
    return bad


def _describe_non_finite(raw: RawData, i: int) -> str:
    row_x = raw.X[i]
    if raw.X.dtype.kind == "f" and not np.isfinite(row_x).all():
        j = int(np.argmin(np.isfinite(row_x)))
        name = repr(raw.feature_names[j]) if raw.feature_names else str(j)
        return f"feature column {name} is {row_x[j]}"
    assert raw.y is not None  # row i is bad and its features are finite: its target is not
    y = raw.y.reshape(len(raw.y), -1)[i]
    j = int(np.argmin(np.isfinite(y)))
    name = repr(raw.target_names[j]) if raw.target_names else str(j)
    return f"target column {name} is {y[j]}"


def clean(raw: RawData, nan_policy: str) -> RawData:
    """`raw` without NaN/infinite samples (nan_policy drop) or a DataError naming the first."""
    bad = _non_finite(raw)
    if not bad.any():
        return raw
    if nan_policy == "error":
        i, count = int(np.argmax(bad)), int(bad.sum())
        raise DataError(
            f"{raw.where(i)}: {_describe_non_finite(raw, i)}; NaN and infinite values are not "
            f"allowed ({count} such row{'' if count == 1 else 's'})",
            path=raw.path,
            hint="fix the file, or set data.nan_policy: drop to skip those rows",
        )
    if bad.all():
        raise DataError(
            f"every one of its {len(bad)} rows holds a NaN or infinite value; none left after "
            "dropping them",
            path=raw.path,
        )
    return raw.take(~bad)


def _carve(
    parts: dict[str, Split], into: str, fraction: float, rng: np.random.Generator, stratify: bool
) -> None:
    """Move a `fraction` hold-out of parts["train"] into parts[into]."""
    train = parts["train"]
    labels = stratify_labels(train.y) if stratify else None
    keep, held = holdout(len(train), fraction, rng, labels)
    parts[into] = Split(train.X[held], train.y[held])
    parts["train"] = Split(train.X[keep], train.y[keep])


def _split(
    raws: dict[str, RawData], y: dict[str, np.ndarray], cfg: DataConfig, task: str, seed: int
) -> dict[str, Split]:
    parts = {name: Split(raw.X, y[name]) for name, raw in raws.items()}
    rng = generator(seed, "split")
    stratify = cfg.stratify and task != "regression"
    if "test" not in parts and cfg.test_fraction > 0:
        _carve(parts, "test", cfg.test_fraction, rng, stratify)
    if "val" not in parts and cfg.val_fraction > 0:
        _carve(parts, "val", cfg.val_fraction, rng, stratify)
    if cfg.limit is not None and cfg.limit < len(parts["train"]):
        train = parts["train"]
        parts["train"] = Split(train.X[: cfg.limit], train.y[: cfg.limit])
    for name, part in parts.items():
        if len(part) == 0:
            raise DataError(
                f"the {name} split has no samples ({sum(len(r.X) for r in raws.values())} "
                f"samples in all, test_fraction {cfg.test_fraction}, val_fraction "
                f"{cfg.val_fraction})",
                path=raws["train"].path,
                hint="use more data, or smaller fractions",
            )
    return parts


def _check_fitted(pre: Preprocessor, raws: dict[str, RawData], task: str, n_outputs: int) -> None:
    for raw in raws.values():
        pre.check_width(raw.X, raw.path)
    if (task, n_outputs) != (pre.task, pre.n_outputs):
        raise DataError(
            f"holds a {task} task with {n_outputs} outputs, the model was trained for "
            f"{pre.task} with {pre.n_outputs}",
            path=raws["train"].path,
        )


def _encode_raw(raw: RawData, pre: Preprocessor, policy: str) -> RawData:
    """A file's raw features with its categorical columns encoded by a fitted preprocessor."""
    if pre.categorical is None:
        return raw
    X = pre.categorical.expand(raw.X, raw.vocab, policy=policy, path=raw.path, rows=raw.rows,
                               names=raw.feature_names)
    return RawData(X=X, y=raw.y, path=raw.path, rows=raw.rows, feature_names=raw.feature_names,
                   target_names=raw.target_names, image=raw.image)


def _encode_parts(parts: dict[str, Split], raws: dict[str, RawData],
                  policy: str) -> CategoricalEncoder | None:
    """Fit the categories on the training split and encode every split in place."""
    train = raws["train"]
    if not train.vocab:
        return None
    encoder = CategoricalEncoder.fit(parts["train"].X, train.vocab)
    for name, part in parts.items():
        raw = raws.get(name, train)  # a split carved from the training file shares its codes
        X = encoder.expand(part.X, raw.vocab, policy=policy, path=f"{raw.path} ({name} split)",
                           names=train.feature_names)
        parts[name] = Split(X, part.y)
    return encoder


def _model_positions(pre: Preprocessor | None) -> list[int] | None:
    """The categorical positions of a fitted preprocessor (none: []), or None to detect them."""
    if pre is None:
        return None
    return [] if pre.categorical is None else pre.categorical.positions


def load_data(
    cfg: DataConfig,
    seed: int = 0,
    loss_kind: str = "auto",
    progress: Progress | None = None,
    preprocessor: Preprocessor | None = None,
) -> DataBundle:
    """The configured data, split and with its preprocessor (see the module docstring).

    progress: optional callable(total_bytes, desc) -> bar with update(n) and close(), used
    while downloading. preprocessor: an already-fitted one (eval, predict), never refitted;
    None fits a new one on the training split.
    """
    raws = read_source(cfg, seed, progress, _model_positions(preprocessor))
    return bundle_from_raws(raws, cfg, seed, loss_kind, preprocessor)


def bundle_from_raws(
    raws: dict[str, RawData],
    cfg: DataConfig,
    seed: int = 0,
    loss_kind: str = "auto",
    preprocessor: Preprocessor | None = None,
    source: str | None = None,
) -> DataBundle:
    """`load_data` after reading: the splits' raw data (from files, or arrays in memory, see
    `data.arrays`) cleaned, encoded, split and scaled as the module docstring says."""
    raws = {name: clean(raw, cfg.nan_policy) for name, raw in raws.items()}
    if preprocessor is not None:
        raws = {name: _encode_raw(raw, preprocessor, cfg.unknown_category)
                for name, raw in raws.items()}
    train = raws["train"]
    names = preprocessor.class_names if preprocessor is not None else None
    if names is None and cfg.source in IMAGE_SOURCES:
        from mlptrain.data.named import IMAGE_SETS

        names = list(IMAGE_SETS[cfg.source].class_names)
    encoded = encode_targets(raws, cfg.task, loss_kind, names)
    if preprocessor is not None:
        _check_fitted(preprocessor, raws, encoded.task, encoded.n_outputs)
    parts = _split(raws, encoded.y, cfg, encoded.task, seed)
    if preprocessor is None:
        categorical = _encode_parts(parts, raws, cfg.unknown_category)
        target_scaling = None
        if encoded.task == "regression":
            target_scaling = TargetScaling.fit(parts["train"].y, cfg.target_scale)
        preprocessor = Preprocessor.fit(
            parts["train"].X,
            cfg.scale,
            global_stats=train.image,
            task=encoded.task,
            n_outputs=encoded.n_outputs,
            class_names=encoded.class_names,
            feature_names=train.feature_names,
            target_names=train.target_names,
            target_scaling=target_scaling,
            categorical=categorical,
        )
    return DataBundle(
        train=parts["train"],
        val=parts.get("val"),
        test=parts.get("test"),
        task=encoded.task,
        n_features=parts["train"].X.shape[1],
        n_outputs=encoded.n_outputs,
        class_names=encoded.class_names,
        preprocessor=preprocessor,
        source=source or cfg.source,
        paths=[raw.path for raw in raws.values() if not raw.path.startswith("<")],
    )


def file_format(path: Path, cfg: DataConfig) -> str:
    """csv, npz or idx: from the name (a folder is a folder of IDX files), else from the source
    the model was trained on."""
    name = path.name.lower()
    if name.endswith(".npz"):
        return "npz"
    if "idx" in name or "ubyte" in name or path.is_dir():
        return "idx"
    if name.endswith((".csv", ".tsv", ".txt", ".csv.gz")):
        return "csv"
    if cfg.source in IMAGE_SOURCES or cfg.source == "idx":
        return "idx"
    return "npz" if cfg.source == "npz" else "csv"


def _csv_features(path: Path, cfg: DataConfig, pre: Preprocessor) -> RawData:
    """A CSV's feature columns (the model's by name, else by count) with categorical columns
    encoded by the model's categories."""
    table = read_table(path, cfg.delimiter, cfg.header)
    n_raw = pre.n_features if pre.categorical is None else pre.categorical.n_raw
    header, wanted = table.names or [], pre.feature_names or []
    named = bool(header and wanted)
    missing = [n for n in wanted if named and n not in header]
    if named and not missing:
        columns = [header.index(name) for name in wanted]
    elif missing and len(missing) < len(wanted):  # a header short of some features
        raise DataError(f"has no feature column {', '.join(map(repr, missing))}; the model's "
                        f"features are {', '.join(wanted)}", path=path)
    elif table.width == n_raw:
        columns = list(range(table.width))
    elif table.width < n_raw:
        raise DataError(f"has {table.width} columns; the model expects {n_raw} "
                        "feature columns", path=path)
    else:
        try:
            targets = target_columns(table, cfg.target)
        except DataError:
            raise DataError(f"has {table.width} columns; the model expects {n_raw} "
                            f"feature columns (or those and the target column)", path=path) from None
        if table.width != n_raw + len(targets):
            raise DataError(
                f"has {table.width} columns; the model expects {n_raw} feature "
                f"columns (or {n_raw + len(targets)} with the target column)",
                path=path,
            )
        columns = feature_columns(table, cfg.features, targets)
    X, vocab = feature_matrix(table, columns, positions=_model_positions(pre))
    names = None if table.names is None else [table.names[j] for j in columns]
    raw = RawData(X=X, y=None, path=str(path), rows=table.lines, feature_names=names,
                  vocab=vocab)
    return _encode_raw(raw, pre, cfg.unknown_category)


def load_features(path: str | Path, cfg: DataConfig, preprocessor: Preprocessor) -> np.ndarray:
    """Raw features (n, n_features) of a file to predict on, checked against the model.

    CSV: the model's feature columns by header name when the file has them, else every
    column (or every non-target column, so a labelled file works too). NPZ: data.x_key.
    IDX: an images file. NaN or infinite values are always an error here.
    """
    path = Path(path)
    kind = file_format(path, cfg)
    if kind == "npz":
        raw = read_npz(path, x_key=cfg.x_key, y_key=None)
    elif kind == "idx":
        raw = RawData(X=idx.read_images(path), y=None, path=str(path), image=True)
    else:
        raw = _csv_features(path, cfg, preprocessor)
    preprocessor.check_width(raw.X, str(path))
    if len(raw.X) == 0:
        raise DataError("holds no samples", path=path)
    return clean(raw, "error").X
