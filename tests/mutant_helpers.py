"""Helpers of the mutant-killing tests (tests/test_mutants_*.py)."""

from __future__ import annotations

import inspect


def defaults_applied(registry, required: dict[str, dict], resolved=("mode",)) -> int:
    """A default-constructed object holds each default its signature (the registry's one
    source, and so the config reference) documents; returns the number of values checked.
    `resolved`: arguments the constructor resolves (plateau's mode "auto" -> min or max).

    A real edit of a default changes the signature too and is caught by the README's config
    reference test (tests/test_cli_config.py); under mutmut the signature stays the original
    and this test catches it."""
    checked = 0
    for name in registry.names():
        entry = registry.entry(name)
        given = required.get(name, {})
        obj = entry.cls(**given)
        for arg, param in inspect.signature(entry.cls).parameters.items():
            if (param.default is inspect.Parameter.empty or arg in given or arg in resolved
                    or not hasattr(obj, arg)):
                continue
            value, default = getattr(obj, arg), entry.default(arg)
            assert value == (tuple(default) if isinstance(default, list) else default), (name, arg)
            checked += 1
    return checked
