"""Learning-rate schedules: values at given steps, fractional epochs, exact state restore."""

from __future__ import annotations

import json
import math

import pytest

from mlptrain.optim import SCHEDULES, get_schedule


def test_constant():
    assert get_schedule("constant", 0.1).lr_at(12345, 10) == 0.1


def test_step_decays_every_step_size_epochs():
    s = get_schedule("step", 1.0, step_size=2, gamma=0.5)
    assert [s.lr_at(k * 10, 10) for k in range(6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert s.lr_at(19, 10) == 1.0 and s.lr_at(20, 10) == 0.5


def test_exponential_per_epoch_with_fractional_epochs():
    s = get_schedule("exponential", 1.0, gamma=0.9)
    assert s.lr_at(30, 10) == pytest.approx(0.9**3)
    assert s.lr_at(15, 10) == pytest.approx(0.9**1.5)


def test_cosine_with_warmup():
    s = get_schedule("cosine", 1.0, epochs=10, min_lr=0.1, warmup_epochs=2)
    assert s.lr_at(0, 5) == pytest.approx(1 / 10)  # warm-up: (step + 1) / (2 * 5)
    assert s.lr_at(4, 5) == pytest.approx(5 / 10)
    assert s.lr_at(10, 5) == pytest.approx(1.0)  # end of warm-up, start of cosine
    assert s.lr_at(30, 5) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway (epoch 6 of 2..10)
    assert s.lr_at(50, 5) == pytest.approx(0.1)
    assert s.lr_at(80, 5) == pytest.approx(0.1)  # past the end: min_lr
    plain = get_schedule("cosine", 2.0, epochs=4)
    assert plain.lr_at(0, 3) == 2.0 and plain.lr_at(3, 3) == pytest.approx(1 + math.cos(math.pi / 4))


def test_inverse_time():
    s = get_schedule("inverse_time", 1.0, decay=0.5, power=2.0)
    assert s.lr_at(40, 10) == pytest.approx(1 / 3**2)


def test_reduce_on_plateau_follows_pytorch_counting():
    s = get_schedule("reduce_on_plateau", 1.0, factor=0.5, patience=2, min_lr=0.2)
    lrs = []
    for m in [1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]:
        s.end_epoch(m)
        lrs.append(s.lr_at(0, 1))
    # 3 non-improving epochs (> patience 2) halve the lr; never below min_lr
    assert lrs == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]


def test_reduce_on_plateau_mode_max_and_threshold():
    s = get_schedule("reduce_on_plateau", 1.0, mode="max", patience=0, threshold=0.1)
    s.end_epoch(1.0)
    s.end_epoch(1.05)  # not > 1.0 * 1.1: counts as bad, patience 0 -> reduce
    assert s.lr_at(0, 1) == pytest.approx(0.1)
    s.end_epoch(float("nan"))  # never an improvement
    assert s.lr_at(0, 1) == pytest.approx(0.01)


def test_reduce_on_plateau_state_restores_exactly():
    a = get_schedule("reduce_on_plateau", 1.0, patience=1, cooldown=1)
    for m in [3.0, 3.0, 3.0, 2.0]:
        a.end_epoch(m)
    state = json.loads(json.dumps(a.state_dict()))
    b = get_schedule("reduce_on_plateau", 1.0, patience=1, cooldown=1)
    b.load_state_dict(state)
    for m in [2.0, 2.0, 2.5, 1.0, 1.0, 1.0]:
        a.end_epoch(m)
        b.end_epoch(m)
        assert a.lr_at(0, 1) == b.lr_at(0, 1)
    assert a.state_dict() == b.state_dict()


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_state_dict_round_trip_and_strictness(name):
    kw = {"step": {"step_size": 1}, "exponential": {"gamma": 0.9}, "cosine": {"epochs": 3}}.get(name, {})
    s = get_schedule(name, 0.1, **kw)
    s.load_state_dict(s.state_dict())
    with pytest.raises(ValueError):
        s.load_state_dict({"arrays": {}, "scalars": {"name": "other"}})
    with pytest.raises(ValueError):
        s.load_state_dict({"arrays": {}, "scalars": {**s.state_dict()["scalars"], "extra": 1}})


@pytest.mark.parametrize("name,kw,match", [
    ("step", {"step_size": 0}, "step_size must be an int >= 1, got 0"),
    ("cosine", {"epochs": 5, "warmup_epochs": 5}, "warmup_epochs must be in"),
    ("reduce_on_plateau", {"mode": "up"}, "mode must be 'min' or 'max', got 'up'"),
    ("linear", {}, "unknown schedule 'linear'"),
])
def test_bad_schedule_arguments_are_named(name, kw, match):
    with pytest.raises(ValueError, match=match):
        get_schedule(name, 0.1, **kw)


def test_plateau_mode_auto_follows_the_monitored_metric_like_the_config():
    assert get_schedule("plateau", 1.0).mode == "min"  # monitor val_loss
    s = get_schedule("plateau", 1.0, monitor="val_accuracy", patience=0)
    assert (s.monitor, s.mode) == ("val_accuracy", "max")
    s.end_epoch(0.5)
    s.end_epoch(0.4)  # worse for an accuracy: reduced at once (patience 0)
    assert s.lr_at(0, 1) == pytest.approx(0.1)
    assert get_schedule("plateau", 1.0, monitor="val_accuracy", mode="min").mode == "min"
