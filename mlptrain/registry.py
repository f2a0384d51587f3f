"""Registries: the one place where a name meets its class and its config parameters.

One registry per concept (activations, losses, initializers, optimizers, schedules), each
declared next to its classes. A class joins the library by registering itself::

    @OPTIMIZERS.register("lion", params=("betas", Param("lion_eps", "Lion's epsilon.", gt=0)),
                         summary="lion (sign of the interpolated momentum)")
    class Lion(Optimizer):
        name = "lion"
        def __init__(self, betas=(0.9, 0.99), lion_eps=1e-8, weight_decay=0.0, decay_mask=None): ...

and from then on the config schema (the `kind` names and one field per config parameter),
the builders (config section -> constructor kwargs), gradcheck's built-in matrix and the
generated config reference (`mlptrain config reference`) all know it.

A parameter's DEFAULT is the constructor's (read from its signature, so it is written once);
a `Param` adds what the config needs: a description, range constraints, the config key when
it differs from the argument's name, and the type when the default's type does not say it.
Parameters that several classes take (the momentum of sgd and rmsprop) are one config field,
so registration refuses two classes that disagree on its default. `pytorch` records
PyTorch's constructor default where ours deliberately differs; the reference says so.

A registry is a read-only mapping name -> class (aliases included), so ``REG[name](**kw)``,
``name in REG`` and ``sorted(REG)`` work as with a dict. `create` builds an instance from a
spec: a name, or a dict ``{"name": ..., **kwargs}`` (``"kind"`` may stand for ``"name"``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
C = TypeVar("C", bound=type)

REQUIRED = inspect.Parameter.empty  # a constructor argument without a default


@dataclass(frozen=True, eq=False)
class Param:
    """A constructor argument that the config exposes.

    name: the constructor's argument; key: its config field (default: name); description:
    the text of the config reference; annotation: the config type (default: the default's
    type); constraints: pydantic `Field` bounds (ge, gt, le, lt).
    """

    name: str
    description: str
    key: str = ""
    annotation: Any = None
    constraints: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, name: str, description: str, *, key: str = "", annotation: Any = None,
                 **constraints: Any):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "key", key or name)
        object.__setattr__(self, "annotation", annotation)
        object.__setattr__(self, "constraints", dict(constraints))


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered class: its name, the config parameters it takes and their defaults."""

    name: str
    cls: type[T]
    params: tuple[Param, ...]
    summary: str  # how the reference lists it, e.g. "sgd (with momentum / Nesterov)"
    pytorch: Mapping[str, Any]  # argument -> PyTorch's default, where ours differs
    aliases: tuple[str, ...] = ()

    def default(self, argument: str) -> Any:
        """The constructor's default of `argument` (REQUIRED when it has none)."""
        return _signature(self.cls).parameters[argument].default

    def accepts(self, argument: str) -> bool:
        return argument in _signature(self.cls).parameters


def _signature(cls: type) -> inspect.Signature:
    return inspect.signature(cls)  # the constructor's arguments, without self


class Registry(Mapping[str, type[T]]):
    """name (or alias) -> class, with an `Entry` per canonical name, in registration order.

    concept: the word used in messages ("optimizer", "init"); common: parameters every
    registered class takes (weight_decay of the optimizers); shared: parameters declared once
    for the classes that name them in `register(params=...)`.
    """

    def __init__(self, concept: str, *, common: Sequence[Param] = (),
                 shared: Sequence[Param] = ()):
        self.concept = concept
        self.common = tuple(common)
        self._shared = {p.name: p for p in (*common, *shared)}
        self._entries: dict[str, Entry[T]] = {}
        self._classes: dict[str, type[T]] = {}
        self._canonical: dict[str, str] = {}  # name or alias -> name

    # ---- registration ------------------------------------------------------------------------

    def register(self, name: str, *, params: Sequence[str | Param] = (), summary: str = "",
                 pytorch: Mapping[str, Any] | None = None,
                 aliases: Sequence[str] = ()) -> Callable[[C], C]:
        """Class decorator: add `cls` under `name` (and `aliases`). `params` are the config
        parameters it takes beyond `common`: a `Param`, or the name of a shared one."""

        def add(cls: C) -> C:
            self.add(name, cls, params=params, summary=summary, pytorch=pytorch,
                     aliases=aliases)
            return cls

        return add

    def add(self, name: str, cls: type[T], *, params: Sequence[str | Param] = (),
            summary: str = "", pytorch: Mapping[str, Any] | None = None,
            aliases: Sequence[str] = ()) -> Entry[T]:
        """The non-decorator form of `register`; returns the new entry."""
        for key in (name, *aliases):
            if key in self._classes:
                raise ValueError(f"{self.concept} {key!r} is already registered")
        resolved = tuple(self._param(p, name) for p in params) + self.common
        entry = Entry(name, cls, resolved, summary or name, dict(pytorch or {}), tuple(aliases))
        self._check(entry)
        self._entries[name] = entry
        for key in (name, *aliases):
            self._classes[key] = cls
            self._canonical[key] = name
        return entry

    def unregister(self, name: str) -> None:
        """Remove `name` and its aliases (tests register throw-away classes)."""
        entry = self._entries.pop(name)
        for key in (name, *entry.aliases):
            del self._classes[key], self._canonical[key]

    def _param(self, p: str | Param, owner: str) -> Param:
        if isinstance(p, Param):
            return p
        if p not in self._shared:
            raise ValueError(f"{self.concept} {owner!r}: unknown shared parameter {p!r}; "
                             f"pass a Param(...) to describe it")
        return self._shared[p]

    def _check(self, new: Entry[T]) -> None:
        """Every config parameter is a constructor argument with a default, and one config
        key has one default (and one type) whichever class reads it."""
        for p in new.params:
            if not new.accepts(p.name) or new.default(p.name) is REQUIRED:
                raise ValueError(f"{self.concept} {new.name!r}: parameter {p.name!r} must be "
                                 f"a constructor argument with a default")
            for other, q in self.params_by_key().get(p.key, []):
                if other.default(q.name) != new.default(p.name):
                    raise ValueError(
                        f"{self.concept} {new.name!r}: default {p.name}="
                        f"{new.default(p.name)!r} disagrees with {other.name!r}'s "
                        f"{q.name}={other.default(q.name)!r}; config key {p.key!r} has one default")

    # ---- reading -----------------------------------------------------------------------------

    def names(self) -> tuple[str, ...]:
        """Canonical names in registration order (no aliases)."""
        return tuple(self._entries)

    def entries(self) -> tuple[Entry[T], ...]:
        return tuple(self._entries.values())

    def entry(self, name: str) -> Entry[T]:
        """The entry of a canonical name or an alias; ValueError naming the choices."""
        self._check_known(name)
        return self._entries[self._canonical[name]]

    def params_by_key(self) -> dict[str, list[tuple[Entry[T], Param]]]:
        """config key -> the (entry, param) pairs that read it, keys in first-use order."""
        keys: dict[str, list[tuple[Entry[T], Param]]] = {}
        for e in self._entries.values():
            for p in e.params:
                keys.setdefault(p.key, []).append((e, p))
        return keys

    def kwargs_from(self, name: str, section: Any) -> dict[str, Any]:
        """The constructor kwargs of `name` read from a config section's fields."""
        return {p.name: getattr(section, p.key) for p in self.entry(name).params}

    def __getitem__(self, name: str) -> type[T]:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"Registry({self.concept!r}, {list(self._entries)})"

    # ---- building ----------------------------------------------------------------------------

    def _check_known(self, name: str, extra: Sequence[str] = ()) -> None:
        if name not in self._classes:
            raise ValueError(f"unknown {self.concept} {name!r}; choose one of "
                             f"{sorted([*self._classes, *extra])}")

    def create(self, spec: str | Mapping[str, Any], /, *args: Any, **kwargs: Any) -> T:
        """An instance from a name or ``{"name": ..., **options}``; `args` and `kwargs` are
        passed on (kwargs override the spec's options). ValueError for an unknown name or
        options the constructor does not take."""
        name, options = parse_spec(spec, self.concept)
        options.update(kwargs)
        self._check_known(name)
        try:
            return self._classes[name](*args, **options)
        except TypeError as exc:
            raise ValueError(f"bad options for {self.concept} {name!r}: {options!r} ({exc})") from None


def parse_spec(spec: Any, concept: str) -> tuple[str, dict[str, Any]]:
    """``"tanh"`` or ``{"name": "elu", "alpha": 0.5}`` (or ``{"kind": ...}``) ->
    ``(name, options)``; ValueError for anything else."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping):
        keys = [k for k in ("name", "kind") if k in spec]
        if len(keys) == 1 and isinstance(spec[keys[0]], str):
            options = dict(spec)
            return options.pop(keys[0]), options
    raise ValueError(f"{concept} must be a name or a dict with a 'name', got {spec!r}")


def shorthand(value: Any) -> Any:
    """A config section that a bare name stands for: ``"mse"`` -> ``{"kind": "mse"}``."""
    return {"kind": value} if isinstance(value, str) else value
