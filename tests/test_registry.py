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


# A new activation (the README's example), loss, optimizer and schedule, each written as a
# class and registered in one place (nothing else edited), in a fresh interpreter: the schema
# is built at import.
NEW_CLASSES = '''
import json, sys
import numpy as np
from mlptrain.registry import Param
from mlptrain.nn.activations import ACTIVATIONS, Activation
from mlptrain.nn.losses import LOSSES, MSE
from mlptrain.optim.optimizers import OPTIMIZERS, Optimizer
from mlptrain.optim.schedules import SCHEDULES, Schedule, _check_step


@LOSSES.register("scaled_mse", params=(Param("scale", "factor on r^2.", key="mse_scale", gt=0),))
class ScaledMSE(MSE):
    """scale * r^2."""
    name = "scaled_mse"
    default_for = ()

    def __init__(self, output=None, scale: float = 0.5):
        super().__init__(output)
        self.scale = scale

    def _f(self, r):
        return self.scale * r * r

    def _df(self, r, out):
        return np.multiply(r, 2.0 * self.scale, out=out)


@OPTIMIZERS.register("signsgd", params=(Param("gain", "factor on the sign step.", gt=0),))
class SignSGD(Optimizer):
    """p -= lr * gain * sign(g)."""
    name = "signsgd"

    def __init__(self, gain: float = 1.0, weight_decay: float = 0.0, decay_mask=None):
        super().__init__(weight_decay, decay_mask)
        self.gain = gain

    def _update(self, p, grads, lr):
        p -= lr * self.gain * np.sign(self._decayed_grad(p, grads))


@SCHEDULES.register("linear", params=(Param("end_factor", "lr factor at the end.", ge=0, le=1),))
class Linear(Schedule):
    """lr * (1 - (1 - end_factor) * epoch / epochs)."""
    name = "linear"

    def __init__(self, lr, epochs, end_factor: float = 0.0):
        super().__init__(lr)
        self.epochs, self.end_factor = epochs, end_factor

    def lr_at(self, step, steps_per_epoch):
        q = min(_check_step(step, steps_per_epoch) / self.epochs, 1.0)
        return self.lr * (1.0 - (1.0 - self.end_factor) * q)


from mlptrain.builders import build_loss, build_model, build_optimizer, build_schedule
from mlptrain.config import validate_config
from mlptrain.config.reference import markdown_reference
from mlptrain.config.schema import ExperimentConfig
from mlptrain.data import load_data
from mlptrain.gradcheck import builtin_problems, run_checks

raw = {"data": {"source": "sine", "n_samples": 60},
       "model": {"hidden": [4], "activation": "softsign"},
       "loss": {"kind": "scaled_mse", "mse_scale": 0.25},
       "optimizer": {"kind": "signsgd", "gain": 0.5},
       "schedule": {"kind": "linear", "end_factor": 0.1}, "train": {"epochs": 4}}
cfg = validate_config(raw, source="test")
bundle = load_data(cfg.data, seed=0, loss_kind=cfg.loss.kind)
net = build_model(cfg, bundle)
loss = build_loss(cfg, bundle)
loss = getattr(loss, "loss", loss)  # inside the target scaling
opt, sched = build_optimizer(cfg, net), build_schedule(cfg)
schema = json.dumps(ExperimentConfig.model_json_schema())
problems = [p for p in builtin_problems() if "softsign" in p.name or "scaled_mse" in p.name]
report = run_checks(problems)
ref = markdown_reference()
print(json.dumps({
    "built": [type(net.hidden[0].act).__name__, type(loss).__name__, loss.scale,
              type(opt).__name__, opt.gain, type(sched).__name__, sched.end_factor,
              sched.epochs, cfg.model.output],
    "schema": [name in schema for name in
               ("softsign", "scaled_mse", "mse_scale", "signsgd", "gain", "linear", "end_factor")],
    "gradcheck": [[c.name, report.component_passed(c), c.checked] for c in report.components],
    "max_rel": max(c.max_rel for c in report.components),
    "reference": [line for line in ref.splitlines() if any(
        k in line for k in ("softsign", "scaled_mse", "mse_scale", "signsgd", "gain", "linear",
                            "end_factor"))],
}))
'''


def test_a_class_registered_in_one_place_reaches_schema_builders_gradcheck_and_reference():
    import json
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    example = readme.split("## Contributing", 1)[1].split("```py\n", 1)[1].split("```", 1)[0]
    assert '@ACTIVATIONS.register("softsign")' in example
    done = subprocess.run([sys.executable, "-c", example + NEW_CLASSES], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["built"] == ["Softsign", "ScaledMSE", 0.25, "SignSGD", 0.5, "Linear", 0.1, 4,
                            "identity"]
    assert all(out["schema"]), out["schema"]
    checks = {name: (passed, checked) for name, passed, checked in out["gradcheck"]}
    assert set(checks) == {"activation softsign", "loss scaled_mse + identity",
                           "loss scaled_mse + sigmoid"}
    assert all(passed and checked > 40 for passed, checked in checks.values()), checks
    assert out["max_rel"] < 1e-6
    ref = "\n".join(out["reference"])
    assert "softplus, gelu or softsign: one name" in ref  # the model.activation row
    for row in ("| `loss.mse_scale` | `0.5` | scaled_mse: factor on r^2. |",
                "| `optimizer.gain` | `1.0` | signsgd: factor on the sign step. |",
                "| `schedule.end_factor` | `0.0` | linear: lr factor at the end. |"):
        assert row in ref
    assert "scaled_mse (identity or sigmoid); auto" in ref
    assert " or signsgd." in ref and "plateau (reduce on plateau of a monitored metric) " \
        "or linear." in ref
