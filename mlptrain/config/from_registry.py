"""Config fields generated from the registries (mlptrain/registry.py).

`kind_literal` is the `Literal` of a registry's names (what `kind:` or `activation:` accepts);
`param_fields` is one pydantic field per config key of a registry's parameters, with the
constructor's default, the `Param`'s constraints and a description naming which kinds read
it (and PyTorch's default where ours differs). The sections of schema.py splice both in, so
a registered class needs no edit here or there.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.fields import FieldInfo

from mlptrain.registry import Entry, Param, Registry


def kind_literal(registry: Registry[Any], *extra: str, aliases: bool = False) -> Any:
    """``Literal[*extra, *names]``: the names a config may give (with `aliases`, those too)."""
    names = tuple(registry) if aliases else registry.names()
    return Literal[(*extra, *names)]


def kinds_sentence(registry: Registry[Any], last: str = "or") -> str:
    """``"sgd (with momentum / Nesterov), adam, ... or adagrad"`` from the entries' summaries."""
    parts = [e.summary for e in registry.entries()]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} {last} {parts[-1]}"


def param_fields(registry: Registry[Any]) -> dict[str, Any]:
    """config key -> (annotation, Field) for every parameter of the registry, in first-use
    order (common parameters last)."""
    fields: dict[str, Any] = {}
    common = {p.key for p in registry.common}
    by_key = registry.params_by_key()
    for key in [k for k in by_key if k not in common] + [k for k in by_key if k in common]:
        users = by_key[key]
        entry, param = users[0]
        default = entry.default(param.name)
        annotation = _annotation(param, default)
        bounds = {} if _is_tuple(annotation) else param.constraints  # tuples: on each item
        field: FieldInfo = Field(default, description=describe(users, key in common), **bounds)
        fields[key] = (annotation, field)
    return fields


def describe(users: list[tuple[Entry[Any], Param]], common: bool) -> str:
    """The reference text of one config key: who reads it, what it is, where PyTorch's
    default differs from ours."""
    groups: dict[str, list[str]] = {}
    for entry, param in users:
        groups.setdefault(param.description, []).append(entry.name)
    if common and len(groups) == 1:
        text = next(iter(groups))
    else:
        text = "; ".join(f"{', '.join(names)}: {desc.rstrip('.')}"
                         for desc, names in groups.items()) + "."
    notes = [f"{entry.pytorch[param.name]!r} for {entry.name}"
             for entry, param in users if param.name in entry.pytorch]
    if notes:
        text += f" PyTorch's constructor default differs: {', '.join(notes)}."
    return text


def _annotation(param: Param, default: Any) -> Any:
    annotation = param.annotation if param.annotation is not None else type(default)
    if _is_tuple(annotation) and param.constraints:  # bounds apply to every item
        items = tuple(Annotated[arg, Field(**param.constraints)]
                      for arg in typing.get_args(annotation))
        return tuple[items]  # type: ignore[valid-type]
    return annotation


def _is_tuple(annotation: Any) -> bool:
    return typing.get_origin(annotation) is tuple
