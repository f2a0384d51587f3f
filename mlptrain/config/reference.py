"""The config reference as Markdown, generated from the schema (`mlptrain config reference`).

The README embeds this text verbatim, and a test checks that it still matches, so the
documentation of every field cannot drift from the code.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from mlptrain.config.schema import ExperimentConfig


def markdown_reference() -> str:
    """One table per section: key, default, description (with the allowed values)."""
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    lines += _rows(ExperimentConfig, "")
    return "\n".join(lines) + "\n"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _section_model(field.annotation)
        if sub is not None:
            rows.append(f"| **`{key}`** | | {field.description} |")
            rows += _rows(sub, key + ".")
            continue
        rows.append(f"| `{key}` | {_default(field)} | {field.description} |")
    return rows


def _section_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return ""
    return "`" + json.dumps(value) + "`"
