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
from mlptrain.config.schema import IMAGE_SOURCES, SYNTHETIC_SOURCES, ExperimentConfig
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


MAX_PROBLEMS_SHOWN = 4  # a message stays within four lines: up to 4 problems, or 3 and "N more"


def validate_config(
    raw: Mapping[str, Any],
    source: str = "<config>",
    lines: Mapping[KeyPath, int] | None = None,
    overrides: Mapping[KeyPath, str] | None = None,
) -> ExperimentConfig:
    """Validate a raw mapping into an `ExperimentConfig`, raising a readable ConfigError that
    lists every problem found (up to `MAX_PROBLEMS_SHOWN` lines), one line each."""
    lines, overrides = lines or {}, overrides or {}
    try:
        cfg = ExperimentConfig.model_validate(dict(raw))
    except ValidationError as err:
        errors = sorted(_most_specific(err.errors()),  # in the order they stand in the file
                        key=lambda e: _line_of(_clean_loc(e["loc"]), lines))
        messages = _unique(_describe_error(e, lines, overrides) for e in errors)
        raise ConfigError(_problem_list(messages), path=source) from None
    problems = consistency_problems(cfg)
    if problems:
        raise ConfigError(_problem_list([f"{'.'.join(loc)}{_where(loc, lines, overrides)}: {text}"
                                         for loc, text in problems]), path=source)
    return cfg


def _problem_list(messages: list[str]) -> str:
    """One problem per line: all of them when they fit in `MAX_PROBLEMS_SHOWN` lines, else the
    first ones and a last line saying how many more there are. Characters that are not
    printable (a key holding a line or record separator) are shown escaped, so that each
    problem stays one line."""
    messages = [_one_line(message) for message in messages]
    if len(messages) <= MAX_PROBLEMS_SHOWN:
        return "\n  ".join(messages)
    shown = messages[: MAX_PROBLEMS_SHOWN - 1]
    return "\n  ".join([*shown, f"(and {len(messages) - len(shown)} more problems)"])


def _one_line(message: str) -> str:
    """`message` with every non-printable character escaped (\\x1e, \\n, \\u2028)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in message)


def _unique(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))


def consistency_problems(cfg: ExperimentConfig) -> list[tuple[KeyPath, str]]:
    """Settings that validate one by one but that the run would reject or silently ignore:
    a monitor that is not a metric of the task, a file path given to a generated data set."""
    from mlptrain.metrics import metric_names

    problems: list[tuple[KeyPath, str]] = []
    data = cfg.data
    if data.source in SYNTHETIC_SOURCES:
        for key in ("path", "train_path", "val_path", "test_path"):
            if getattr(data, key) is not None:
                problems.append((("data", key), (
                    f"{data.source} is generated from the seed and reads no file; remove "
                    f"data.{key}, or set data.source to csv, npz or idx")))
    tasks = [data.task] if data.task != "auto" else ["classification", "multilabel", "regression"]
    classes = _class_count(cfg)
    binary = classes in (None, 2)  # ROC-AUC and average precision: two classes only
    names = _unique(n for t in tasks for n in metric_names(t, has_val=True, binary=binary))
    watched: list[tuple[KeyPath, str]] = [(("train", "checkpoint", "monitor"),
                                           cfg.train.checkpoint.monitor)]
    if cfg.train.early_stopping is not None:
        watched.append((("train", "early_stopping", "monitor"), cfg.train.early_stopping.monitor))
    if cfg.schedule.kind == "plateau":
        watched.append((("schedule", "monitor"), cfg.schedule.monitor))
    for loc, name in watched:
        if name not in names:
            hint = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            task = f"a {data.task} run" if data.task != "auto" else "any run"
            if data.task == "classification" and classes is not None:
                task = f"a {classes}-class classification run"
            problems.append((loc, f"{name!r} is not a metric of {task}; "
                             + (f"did you mean {hint[0]!r}? " if hint else "")
                             + "allowed: " + ", ".join(names)))
    return problems


def _class_count(cfg: ExperimentConfig) -> int | None:
    """The number of classes a classification run of `cfg` has, when the config alone says
    it (a synthetic set, an image set); None when only the data says it (a file)."""
    from mlptrain.data.named import IMAGE_SETS
    from mlptrain.data.synthetic import class_count

    if cfg.data.source in IMAGE_SOURCES:
        return len(IMAGE_SETS[cfg.data.source].class_names)
    if cfg.data.source in SYNTHETIC_SOURCES:
        return class_count(cfg.data.source, cfg.data.n_classes)
    return None


def _most_specific(errors: list) -> list:
    """Keep, for each value that several branches of a union rejected, the errors of the
    branch that fits it best: one that looked inside the value (class_weight: [.inf, 1] is a
    list with a non-finite item) over one that refused its value (activation: ReLU is not an
    allowed name) over one that refused its type (ReLU is not a list)."""
    best: dict[KeyPath, int] = {}
    scored = []
    for error in errors:
        site, score = _union_site(error)
        scored.append((error, site, score))
        if site is not None:
            best[site] = max(best.get(site, 0), score)
    kept = [e for e, site, score in scored if site is None or score == best[site]]
    return kept or errors


def _union_site(error: Mapping[str, Any]) -> tuple[KeyPath | None, int]:
    """(the key path of the union whose branch raised `error`, how well the branch fits:
    2 the error is inside the value, 1 the value was refused, 0 its type was refused)."""
    loc = [str(part) for part in error["loc"]]
    for i, part in enumerate(loc):
        if _is_branch_label(part):
            if len(loc) > i + 1 and not all(_is_branch_label(p) for p in loc[i + 1:]):
                return tuple(loc[:i]), 2
            return tuple(loc[:i]), 0 if error["type"].endswith("_type") else 1
    return None, 0


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
        section = ".".join(loc[:-1]) or "the top level"
        return f"unknown key '{key}'{where} in {section}; {_key_suggestion(loc)}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        hint = _value_suggestion(error["input"], _literal_values(expected))
        return f"{key}{where}: {error['input']!r} is not allowed; {hint}expected {expected}"
    if kind == "missing":
        return f"{key}{where}: required"
    if kind in ("model_type", "model_attributes_type", "dict_type") and loc:
        return f"{key}{where}: {_section_message(loc, error.get('input'))}"
    message = error["msg"].removeprefix("Value error, ")
    for said, plain in _PLAIN_WORDS:
        message = message.replace(said, plain)
    got = error.get("input")
    shown = "" if isinstance(got, Mapping) or "got" in message else f", got {_short_repr(got)}"
    return f"{key}{where}: {_lower_first(message)}{shown}"


def _key_suggestion(loc: KeyPath) -> str:
    """"did you mean ..." for an unknown key: a close name in its own section, else the same
    name (any case) or a close one in another section (top-level lr -> optimizer.lr); else the
    keys its section allows."""
    parent, bad = loc[:-1], loc[-1]
    allowed = _allowed_keys(parent)
    near = _close(bad, allowed)
    if near:
        return f"did you mean '{near}'?"
    elsewhere = {".".join(path): path[-1] for path in _all_key_paths() if path[:-1] != parent}
    exact = [full for full, name in elsewhere.items() if name.lower() == bad.lower()]
    if exact:
        return f"did you mean '{exact[0]}'?" if len(exact) == 1 else (
            "did you mean " + " or ".join(f"'{e}'" for e in exact[:3]) + "?")
    near_names = difflib.get_close_matches(bad.lower(), sorted(set(elsewhere.values())), n=1,
                                           cutoff=0.8)
    if near_names:
        return f"did you mean '{next(f for f, n in elsewhere.items() if n == near_names[0])}'?"
    return "allowed: " + ", ".join(allowed)


def _close(bad: str, allowed: list[str]) -> str | None:
    """The allowed name equal to `bad` but for case, else the closest one (difflib)."""
    for name in allowed:
        if name.lower() == bad.lower():
            return name
    near = difflib.get_close_matches(bad.lower(), allowed, n=1, cutoff=0.6)
    return near[0] if near else None


def _value_suggestion(value: Any, allowed: list[str]) -> str:
    if not isinstance(value, str):
        return ""
    near = _close(value, allowed)
    return f"did you mean {near!r}? " if near else ""


def _literal_values(expected: str) -> list[str]:
    """"'sgd', 'adam' or 'adagrad'" (pydantic's ctx) -> ['sgd', 'adam', 'adagrad']."""
    return re.findall(r"'([^']*)'", expected)


def _section_message(loc: KeyPath, value: Any) -> str:
    """A section given as a bare value: `optimizer: adam` -> `optimizer: {kind: adam}`."""
    keys = _allowed_keys(loc)
    shown = _short_repr(value)
    if "kind" in keys and isinstance(value, str):
        kinds = _literal_values(str(_field_annotation(loc + ("kind",))))
        near = _close(value, kinds)
        if near:
            return (f"is a section, not a name (got {shown}); did you mean "
                    f"'{loc[-1]}: {{kind: {near}}}'?")
    return f"must be a section with keys such as {', '.join(keys[:4])}, got {shown}"


def _field_annotation(path: KeyPath) -> Any:
    model: type[BaseModel] = ExperimentConfig
    for part in path[:-1]:
        sub = _model_of(model.model_fields[part].annotation)
        if sub is None:
            return None
        model = sub
    field = model.model_fields.get(path[-1])
    return field.annotation if field else None


def _all_key_paths(model: type[BaseModel] = ExperimentConfig, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every key path of the schema, sections included (data, data.path, ...)."""
    paths = []
    for name, field in model.model_fields.items():
        paths.append((*prefix, name))
        sub = _model_of(field.annotation)
        if sub is not None:
            paths += _all_key_paths(sub, (*prefix, name))
    return paths


_PLAIN_WORDS = (
    ("Input should be greater than or equal to", "must be >="),
    ("Input should be less than or equal to", "must be <="),
    ("Input should be greater than", "must be >"),
    ("Input should be less than", "must be <"),
    ("Input should be", "must be"),
)


_BRANCH_LABEL = re.compile(r"[a-z][a-z_-]*\[.*\]")


def _is_branch_label(part: str) -> bool:
    return bool(_BRANCH_LABEL.fullmatch(part)) or part in ("str", "int", "float", "bool")


def _clean_loc(loc: Iterable[Any]) -> tuple[str, ...]:
    """Drop pydantic's union-branch labels (e.g. 'list[...]', 'literal[...]') from a loc."""
    return tuple(str(part) for part in loc if not _is_branch_label(str(part)))


def _where(loc: KeyPath, lines: Mapping[KeyPath, int], overrides: Mapping[KeyPath, str]) -> str:
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in overrides:
            return f" (from override {_short(repr(overrides[loc[:cut]]), 60)})"
        if loc[:cut] in lines:
            return f" (line {lines[loc[:cut]]})"
    return ""


def _line_of(loc: KeyPath, lines: Mapping[KeyPath, int]) -> float:
    """The line of the innermost key of `loc` that the file has (inf: not in the file)."""
    return next((lines[loc[:cut]] for cut in range(len(loc), 0, -1) if loc[:cut] in lines),
                float("inf"))


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
