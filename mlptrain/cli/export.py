"""`mlptrain export`: a saved model as ONNX (onnxruntime) or PyTorch (safetensors + model.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.common import Debug, Target, console, user_errors


def export(
    checkpoint: Target,
    fmt: Annotated[str, typer.Option("--format", "-f", help="onnx (one .onnx file) or torch (a "
                                     "folder: model.safetensors and model.py).",
                                     show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file, or the folder for "
                                      "torch (created if missing).", show_default=False)],
    opset: Annotated[int | None, typer.Option("--opset", help="ONNX opset (default 17, with IR "
                                              "version 8 for older onnxruntime releases).",
                                              show_default=False)] = None,
    debug: Debug = False,
) -> None:
    """Export a saved model, preprocessing and output activation included, to ONNX or PyTorch."""
    with user_errors(debug):
        from mlptrain.export import export_model

        result = export_model(checkpoint, fmt, out, opset=opset)
        extra = f" (opset {result.opset})" if result.opset is not None else ""
        for path in result.files:
            console().print(f"written: {path}{extra}")


def register(app: typer.Typer) -> None:
    """Add `export` to `app`."""
    app.command(epilog=_EPILOG)(export)


_EPILOG = (
    "ONNX: input 'features' (batch, n_features), raw features; output 'probabilities' "
    "(softmax, sigmoid) or 'values' (regression). PyTorch: build() in model.py returns the "
    "module; load model.safetensors into it with load_state_dict(strict=True).\n\n"
    "Examples:\n\n  mlptrain export runs/spiral-20260101-120000 --format onnx --out spiral.onnx"
    "\n\n  mlptrain export runs/x/checkpoints/best.safetensors --format torch --out spiral-torch"
)
