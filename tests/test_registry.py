"""The registries are the one source of names and defaults: the config sections, the builders
and the Python API agree, and a class registered in one place reaches all of them."""

from __future__ import annotations

import inspect

import pytest

from mlptrain.config.schema import ExperimentConfig
from mlptrain.optim import OPTIMIZERS, SCHEDULES, get_optimizer, get_schedule
from mlptrain.registry import Param, Registry, parse_spec

SECTIONS = [("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)]


@pytest.mark.parametrize(("section", "registry"), SECTIONS)
def test_every_config_default_is_the_constructors_default(section, registry):
    """A fresh config section holds, for every registered class and parameter, exactly the
    value that the class's constructor would use when the argument is left out."""
    cfg = getattr(ExperimentConfig(), section)
    checked = 0
    for entry in registry.entries():
        signature = inspect.signature(entry.cls)
        for p in entry.params:
            assert getattr(cfg, p.key) == signature.parameters[p.name].default, (entry.name, p)
            checked += 1
    assert checked >= len(registry.entries())


def test_the_defaults_the_issue_found_disagreeing_now_agree_with_the_config():
    """rmsprop momentum, AdamW weight decay and Adagrad eps: the config's documented values
    are the Python API's defaults too."""
    cfg = ExperimentConfig().optimizer
    assert get_optimizer("rmsprop").momentum == cfg.momentum == 0.9
    assert get_optimizer("adamw").weight_decay == cfg.weight_decay == 0.0
    assert get_optimizer("adagrad").eps == cfg.eps == 1e-8
    assert get_optimizer("sgd").momentum == cfg.momentum
    schedule = ExperimentConfig().schedule
    assert get_schedule("inverse_time", 1.0).power == schedule.power == 0.5
    assert get_schedule("plateau", 1.0).patience == schedule.patience == 5


def test_the_plateau_schedule_has_one_name_and_old_checkpoints_still_load():
    """`plateau` in configs, the registry and the saved state; `reduce_on_plateau` (the old
    registry name) is a Python alias, not a config name, and its saved states still load."""
    plateau = get_schedule("reduce_on_plateau", 1.0)
    assert plateau.name == "plateau" and SCHEDULES.entry("reduce_on_plateau").name == "plateau"
    old = {"arrays": {}, "scalars": {**plateau.state_dict()["scalars"], "name": "reduce_on_plateau",
                                     "best": 0.5, "num_bad": 2}}
    plateau.load_state_dict(old)
    assert (plateau.best, plateau.num_bad) == (0.5, 2)
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="'constant', 'step', 'exponential'"):
        ExperimentConfig.model_validate({"schedule": {"kind": "reduce_on_plateau"}})


def test_the_reference_names_pytorchs_default_where_ours_differs():
    from mlptrain.config.reference import markdown_reference

    rows = {line.split("|")[1].strip(): line for line in markdown_reference().splitlines()[2:]}
    assert "0.01 for adamw" in rows["`optimizer.weight_decay`"]
    assert "1e-10 for adagrad" in rows["`optimizer.eps`"]
    assert "0.0 for sgd, 0.0 for rmsprop" in rows["`optimizer.momentum`"]
    assert "PyTorch" not in rows["`optimizer.alpha`"]


class _Plain:
    def __init__(self, size: int = 3, rate: float = 0.5):
        self.size, self.rate = size, rate


class _Other:
    def __init__(self, rate: float = 0.25):
        self.rate = rate


def test_a_shared_config_key_must_have_one_default():
    reg: Registry[object] = Registry("thing", shared=[Param("rate", "a rate.", gt=0)])
    reg.add("plain", _Plain, params=("rate",))
    with pytest.raises(ValueError, match="default rate=0.25 disagrees with 'plain'"):
        reg.add("other", _Other, params=("rate",))
    assert "other" not in reg


def test_registration_refuses_unknown_or_required_parameters_and_duplicate_names():
    reg: Registry[object] = Registry("thing")
    with pytest.raises(ValueError, match="unknown shared parameter 'size'"):
        reg.add("plain", _Plain, params=("size",))
    with pytest.raises(ValueError, match="parameter 'width' must be a constructor argument"):
        reg.add("plain", _Plain, params=(Param("width", "w"),))
    reg.add("plain", _Plain, aliases=("simple",))
    with pytest.raises(ValueError, match="thing 'simple' is already registered"):
        reg.add("simple", _Other)
    assert reg.entry("simple").name == "plain" and list(reg) == ["plain", "simple"]
    assert reg.names() == ("plain",)


def test_create_parses_a_name_or_a_dict_and_names_bad_options():
    reg: Registry[_Plain] = Registry("thing")
    reg.add("plain", _Plain)
    assert reg.create("plain").size == 3
    assert reg.create({"name": "plain", "size": 5}).size == 5
    assert reg.create({"kind": "plain", "rate": 0.1}, size=7).size == 7
    with pytest.raises(ValueError, match=r"unknown thing 'flat'; choose one of \['plain'\]"):
        reg.create("flat")
    with pytest.raises(ValueError, match="bad options for thing 'plain': {'depth': 2}"):
        reg.create({"name": "plain", "depth": 2})
    for bad in (3, {"size": 1}, {"name": 1}, {"name": "plain", "kind": "plain"}):
        with pytest.raises(ValueError, match="thing must be a name or a dict with a 'name'"):
            parse_spec(bad, "thing")
