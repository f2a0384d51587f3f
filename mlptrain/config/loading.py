"""Safe YAML -> validated `ExperimentConfig`, with command-line overrides.

Every failure is a `ConfigError` of one or two lines naming the file, the key path (and line,
where the YAML has one), what is wrong and what is allowed:

    cfg.yaml: optimizer.lr (line 7): must be > 0, got -0.1
    cfg.yaml: unknown key 'optimzer' (line 3); did you mean 'optimizer'?

YAML is read with a `SafeLoader` subclass that also rejects duplicate keys and documents
whose aliases expand past a size limit ("billion laughs"); tags such as `!!python/object`
are refused by the safe constructor itself.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mlptrain.config.paths import keys_under, resolve_paths
from mlptrain.config.schema import ExperimentConfig
from mlptrain.errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000
MAX_EXPANDED_NODES = 100_000

KeyPath = tuple[str, ...]


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base`: merged keys may be overridden; super() flattens them
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise _DuplicateKey(key, line, first_line[key])
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first_line: int):
        super().__init__(f"duplicate key {key!r} at line {line} (first defined at line {first_line})")


def _count_expanded_nodes(node: yaml.Node, memo: dict[int, int]) -> int:
    """Number of nodes the document has once every alias is expanded (memoized per node)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a recursive alias counts once; the constructor handles the cycle
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(
            _count_expanded_nodes(k, memo) + _count_expanded_nodes(v, memo) for k, v in node.value
        )
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_count_expanded_nodes(child, memo) for child in node.value)
    else:
        total = 1
    memo[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
    return memo[id(node)]


def _key_lines(node: yaml.Node, prefix: KeyPath = ()) -> dict[KeyPath, int]:
    """Map each key path of the document to the 1-based line where the key stands."""
    lines: dict[KeyPath, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                path = (*prefix, str(key_node.value))
                lines[path] = key_node.start_mark.line + 1
                lines.update(_key_lines(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            lines[(*prefix, str(index))] = child.start_mark.line + 1
            lines.update(_key_lines(child, (*prefix, str(index))))
    return lines


def parse_yaml(text: str | bytes, source: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse one YAML document safely; return the value and the line of every key path."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"not valid UTF-8 text (byte {err.start}); save the config as UTF-8", path=source
            ) from None
    try:
        loader = _StrictLoader(text)  # the reader rejects control characters right here
    except yaml.reader.ReaderError as err:
        char = err.character if isinstance(err.character, int) else ord(err.character)
        raise ConfigError(
            f"character #x{char:04x} at position {err.position} is not allowed in YAML", path=source
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        if _count_expanded_nodes(node, {}) > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"the document expands to more than {MAX_EXPANDED_NODES} values through "
                "anchors and aliases; refusing to load it",
                path=source,
            )
        value = loader.construct_document(node)
        return value, _key_lines(node)
    except _DuplicateKey as err:
        raise ConfigError(str(err), path=source) from None
    except yaml.MarkedYAMLError as err:
        raise ConfigError(_describe_yaml_error(err), path=source) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid YAML: {err}", path=source) from None
    except RecursionError:
        raise ConfigError("the document nests too deeply", path=source) from None
    except ValueError as err:  # an integer past Python's 4,300-digit conversion limit
        raise ConfigError(f"holds a value that cannot be read: {_short(str(err), 120)}",
                          path=source) from None
    finally:
        loader.dispose()


def _describe_yaml_error(err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = err.problem or err.context or "invalid YAML"
    if err.context and problem.startswith("but "):  # "but found another document"
        problem = f"{err.context}, {problem}"
    if "found character '\\t'" in problem or "found character '\\t'" in str(err):
        problem += " (YAML indentation must use spaces, not tabs)"
    if "could not determine a constructor for the tag" in problem:
        problem = problem.replace("could not determine a constructor for the tag", "tag") + (
            " is not allowed (only plain YAML values are)"
        )
    return f"{where}{problem}"


def read_config_file(path: str | Path) -> tuple[dict, dict[KeyPath, int]]:
    """Read a config file into a raw mapping and its key lines; errors name the file."""
    from mlptrain.bounded import read_bounded

    source = str(path)
    raw_bytes = read_bounded(path, MAX_CONFIG_BYTES, ConfigError, "YAML config file")
    value, lines = parse_yaml(raw_bytes, source)
    if value is None:
        raise ConfigError(
            "is empty; a config is a mapping such as 'data: {source: spiral}'", path=source
        )
    if not isinstance(value, dict):
        raise ConfigError(
            f"must be a mapping of sections (data, model, ...), got a {type(value).__name__}",
            path=source,
        )
    return value, lines


def apply_overrides(raw: dict, overrides: Iterable[str]) -> dict[KeyPath, str]:
    """Apply `key.path=value` overrides to `raw` in place; return path -> override text.

    Values are parsed as YAML (so `0.05`, `true`, `[64, 32]` and `null` are typed); the
    schema then validates them like values from the file.
    """
    applied: dict[KeyPath, str] = {}
    for text in overrides:
        shown = _short(repr(text), 60)
        key, sep, value_text = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"override {shown} is not of the form key.path=value (e.g. optimizer.lr=0.05)"
            )
        path = tuple(key.split("."))
        if any(part == "" for part in path):
            raise ConfigError(f"override {shown} has an empty part in its key path {key!r}")
        value, _ = parse_yaml(value_text, f"override {shown}")
        _set_path(raw, path, value, shown)
        applied[path] = text
    return applied


def _set_path(raw: dict, path: KeyPath, value: Any, text: str) -> None:
    node = raw
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if isinstance(child, str) and path[: depth + 1] == ("loss",):
            child = node[part] = {"kind": child}  # loss: mse, then loss.huber_delta=2
        if not isinstance(child, dict):
            prefix = ".".join(path[: depth + 1])
            raise ConfigError(
                f"override {text}: {prefix} is a {type(child).__name__}, not a section"
            )
        node = child
    node[path[-1]] = value


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Read, override and validate an experiment config file. Relative paths written in the
    file resolve against its folder, those of overrides against the working directory."""
    raw, lines = read_config_file(path)
    resolve_paths(raw, Path(path).parent)
    applied = apply_overrides(raw, overrides)
    resolve_paths(raw, Path.cwd(), keys_under(applied))
    cfg = validate_config(raw, source=str(path), lines=lines, overrides=applied)
    return with_absolute_paths(cfg)


def with_absolute_paths(cfg: ExperimentConfig) -> ExperimentConfig:
    """`cfg` with every path still relative (defaults such as `run.root: runs`, the Python
    API's) made absolute against the working directory (config/paths.py)."""
    raw = cfg.model_dump(mode="json")
    resolve_paths(raw, Path.cwd())
    return cfg if raw == cfg.model_dump(mode="json") else validate_config(raw, source="config")


def validate_config(
    raw: Mapping[str, Any],
    source: str = "<config>",
    lines: Mapping[KeyPath, int] | None = None,
    overrides: Mapping[KeyPath, str] | None = None,
) -> ExperimentConfig:
    """Validate a raw mapping into an `ExperimentConfig`, raising a readable ConfigError."""
    try:
        return ExperimentConfig.model_validate(dict(raw))
    except ValidationError as err:
        messages = [
            _describe_error(e, lines or {}, overrides or {}) for e in _most_specific(err.errors())
        ]
        first, rest = messages[0], len(messages) - 1
        more = f"\n  ({rest} more problem{'s' if rest > 1 else ''}; fix this one first)" if rest else ""
        raise ConfigError(first + more, path=source) from None


def _most_specific(errors: list) -> list:
    """Drop a union's "expected 'balanced'" when another branch of the same field says more
    (class_weight: [.inf, 1] is a list with a non-finite item, not a wrong literal)."""
    locs = [_clean_loc(e["loc"]) for e in errors]
    kept = [e for e, loc in zip(errors, locs, strict=True) if not (
        e["type"] == "literal_error" and any(other != loc and other[: len(loc)] == loc
                                             for other in locs))]
    return kept or errors


def _describe_error(
    error: Mapping[str, Any], lines: Mapping[KeyPath, int], overrides: Mapping[KeyPath, str]
) -> str:
    loc = _clean_loc(error["loc"])
    key = ".".join(loc) if loc else "(top level)"
    where = _where(loc, lines, overrides)
    kind = error["type"]
    if kind == "extra_forbidden":
        loc = loc or tuple(str(part) for part in error["loc"])
        key = ".".join(loc)
        parent, bad = loc[:-1], loc[-1]
        allowed = _allowed_keys(parent)
        hint = difflib.get_close_matches(bad, allowed, n=1, cutoff=0.6)
        section = ".".join(parent) or "the top level"
        suggestion = f"did you mean '{hint[0]}'?" if hint else "allowed: " + ", ".join(allowed)
        return f"unknown key '{key}'{where} in {section}; {suggestion}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{key}{where}: {error['input']!r} is not allowed; expected {expected}"
    if kind == "missing":
        return f"{key}{where}: required"
    message = error["msg"].removeprefix("Value error, ")
    for said, plain in _PLAIN_WORDS:
        message = message.replace(said, plain)
    got = error.get("input")
    shown = "" if isinstance(got, Mapping) or "got" in message else f", got {_short_repr(got)}"
    return f"{key}{where}: {_lower_first(message)}{shown}"


_PLAIN_WORDS = (
    ("Input should be greater than or equal to", "must be >="),
    ("Input should be less than or equal to", "must be <="),
    ("Input should be greater than", "must be >"),
    ("Input should be less than", "must be <"),
    ("Input should be", "must be"),
)


_BRANCH_LABEL = re.compile(r"[a-z][a-z_-]*\[.*\]")


def _clean_loc(loc: Iterable[Any]) -> tuple[str, ...]:
    """Drop pydantic's union-branch labels (e.g. 'list[...]', 'literal[...]') from a loc."""
    cleaned = []
    for part in loc:
        text = str(part)
        if _BRANCH_LABEL.fullmatch(text) or text in ("str", "int", "float", "bool"):
            continue
        cleaned.append(text)
    return tuple(cleaned)


def _where(loc: KeyPath, lines: Mapping[KeyPath, int], overrides: Mapping[KeyPath, str]) -> str:
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in overrides:
            return f" (from override {_short(repr(overrides[loc[:cut]]), 60)})"
        if loc[:cut] in lines:
            return f" (line {lines[loc[:cut]]})"
    return ""


def _allowed_keys(parent: KeyPath) -> list[str]:
    model: type[BaseModel] = ExperimentConfig
    for part in parent:
        field = model.model_fields.get(part)
        sub = _model_of(field.annotation) if field else None
        if sub is None:
            return []
        model = sub
    return list(model.model_fields)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_repr(value: Any) -> str:
    """repr of a value for a message, cut to one readable line (a 5,000-digit integer too)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return _short(repr(value))


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def config_to_yaml(cfg: ExperimentConfig) -> str:
    """The resolved config as YAML, in schema order (what `config show` prints)."""
    return yaml.safe_dump(
        cfg.model_dump(mode="json"), sort_keys=False, default_flow_style=None, width=100
    )
