"""Export a saved model for other runtimes: ONNX (onnxruntime and friends) and PyTorch.

``export_model(RUN_DIR | CHECKPOINT, "onnx", "model.onnx")`` writes one ``.onnx`` file;
``export_model(..., "torch", "DIR")`` writes ``DIR/model.safetensors`` and ``DIR/model.py``.
Both hold the whole inference path: the saved scaling, every layer and the output activation
(see ``export/onnx.py`` and ``export/torch.py`` for the graphs).

A model with categorical feature columns takes their one-hot encoding as input: each such
column becomes one 0/1 input per category learned in training, in place (all zeros for a
category not seen in training). The export then also writes the encoding as JSON
(``model.encoding.json`` beside the ``.onnx`` file, ``DIR/encoding.json`` for torch; see
`encoding_document`), and the graph's metadata carries the input names. Everything is built in memory
and checked first, then written atomically, so a failure leaves no half-written output. No
pickle is written anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlptrain.errors import UserError

FORMATS = ("onnx", "torch")
TORCH_FILES = ("model.safetensors", "model.py")
ENCODING_FORMAT = "mlptrain.input-encoding"


@dataclass
class ExportResult:
    format: str
    files: list[Path]
    opset: int | None = None


def model_meta(model) -> dict:
    """What a consumer needs besides the graph: task, class, feature and target names."""
    p = model.preprocessor
    return {"task": p.task, "class_names": p.class_names, "feature_names": p.feature_names,
            "input_names": p.input_names, "target_names": p.target_names,
            "source_checkpoint": str(model.path)}


def encoding_document(preprocessor) -> dict | None:
    """The JSON that says how to build a categorical model's inputs from a table's columns
    (None without categorical columns): one entry per input, in order, naming its column and,
    for a one-hot input, its category (null: the missing value)."""
    enc = getattr(preprocessor, "categorical", None)
    if enc is None:
        return None
    return {
        "format": ENCODING_FORMAT, "version": 1,
        "feature_columns": preprocessor.feature_names or list(range(enc.n_raw)),
        "inputs": enc.describe(preprocessor.feature_names),
        "rules": "numeric columns are passed as they are (the model scales them); a categorical "
                 "column becomes one input per listed category: 1.0 where the cell (stripped) "
                 "equals it, else 0.0; missing cells ('', NA, N/A, nan, null, none, ?) are the "
                 "category null; a category not listed makes every input of its column 0.0",
    }


def _encoding_bytes(preprocessor) -> bytes | None:
    import json

    document = encoding_document(preprocessor)
    return None if document is None else (json.dumps(document, indent=2) + "\n").encode("utf-8")


def export_model(target: str | Path, fmt: str, out: str | Path, *,
                 opset: int | None = None) -> ExportResult:
    """Export the checkpoint (or a run directory's best) ``target`` in ``fmt`` to ``out``."""
    from mlptrain.evaluation import load_model

    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if opset is not None and fmt != "onnx":
        raise UserError("--opset applies to --format onnx only")
    out = Path(out)
    _check_output(out, fmt)
    model = load_model(target)
    if fmt == "onnx":
        from mlptrain.export.onnx import DEFAULT_OPSET, build_onnx

        opset = DEFAULT_OPSET if opset is None else opset
        proto = build_onnx(model.net, model.preprocessor, opset=opset, meta=model_meta(model))
        payloads = {out: proto.SerializeToString()}
        encoding = _encoding_bytes(model.preprocessor)
        if encoding is not None:
            payloads[out.with_name(f"{out.stem}.encoding.json")] = encoding
        _write_files(payloads)
        return ExportResult(fmt, list(payloads), opset)
    from mlptrain.export.torch import build_torch

    steps = (model.checkpoint.meta.get("trainer") or {}).get("loop", {}).get("step", 0)
    weights, source = build_torch(model.net, model.preprocessor,
                                  num_batches_tracked=int(steps) if isinstance(steps, int) else 0,
                                  meta=model_meta(model))
    created = not out.exists()
    try:
        out.mkdir(exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the output folder: {err.strerror or err}", path=out) from None
    payloads = {out / TORCH_FILES[0]: weights, out / TORCH_FILES[1]: source.encode("utf-8")}
    encoding = _encoding_bytes(model.preprocessor)
    if encoding is not None:
        payloads[out / "encoding.json"] = encoding
    files = list(payloads)
    try:
        _write_files(payloads)
    except UserError:
        if created:
            _remove_empty(out)
        raise
    return ExportResult(fmt, files)


def _check_output(out: Path, fmt: str) -> None:
    """Fail before any work when ``out`` cannot be the output (its folder missing, a folder
    where a file is wanted, or the reverse)."""
    if fmt == "onnx":
        if out.is_dir():
            raise UserError("is a folder; --format onnx writes one file, e.g. --out model.onnx",
                            path=out)
        folder = out.parent
    else:
        if out.exists() and not out.is_dir():
            raise UserError("is a file; --format torch writes a folder (model.safetensors and "
                            "model.py)", path=out)
        folder = out if out.is_dir() else out.parent
    if not folder.is_dir():
        raise UserError("the output folder does not exist", path=folder)
    if not os.access(folder, os.W_OK):
        raise UserError("the output folder is not writable", path=folder)


def _write_files(payloads: dict[Path, bytes]) -> None:
    """Write every file to a temporary name first, then rename them all into place: either
    every file is new or none changed."""
    temps: dict[Path, Path] = {}
    try:
        for path, data in payloads.items():
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            temps[path] = tmp
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except OSError as err:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write the export: {err.strerror or err}",
                        path=next(iter(payloads))) from None


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
