"""Optimizers, schedules and clipping against updates and values computed here by hand: written
to kill mutmut's mutants of mlptrain/optim/ (see the README's contributing section)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mutant_helpers import defaults_applied

from mlptrain.optim import clip_grad_norm_, get_optimizer, get_schedule
from mlptrain.optim.clipping import global_norm

# ---- clipping ---------------------------------------------------------------------------------


def test_clip_scales_by_max_norm_over_norm_plus_1e_6_exactly():
    g = np.array([3.0, 4.0])  # norm 5
    assert clip_grad_norm_(g, 2.0) == 5.0
    np.testing.assert_allclose(g, np.array([3.0, 4.0]) * 2.0 / (5.0 + 1e-6), rtol=1e-15)


def test_a_norm_equal_to_max_norm_is_left_alone():
    g = np.array([3.0, 4.0])
    clip_grad_norm_(g, 5.0)
    np.testing.assert_array_equal(g, [3.0, 4.0])


def test_global_norm_of_a_matrix_is_the_frobenius_norm():
    assert global_norm(np.array([[1.0, 2.0], [2.0, 4.0]])) == 5.0
    g = np.array([np.nan, 1.0])
    assert math.isnan(clip_grad_norm_(g, 1.0))
    assert g[1] == 1.0


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_clip_refuses_a_max_norm_that_is_not_positive(bad):
    with pytest.raises(ValueError) as info:
        clip_grad_norm_(np.ones(2), bad)
    assert str(info.value) == f"max_norm must be > 0, got {bad!r}"


# ---- schedules --------------------------------------------------------------------------------


def test_cosine_fractional_warmup_reaches_lr_and_caps_it():
    s = get_schedule("cosine", 2.0, epochs=10, warmup_epochs=1.5)  # 4.5 warm-up steps of 3
    assert s.lr_at(0, 3) == pytest.approx(2.0 / 4.5)
    assert s.lr_at(3, 3) == pytest.approx(2.0 * 4 / 4.5)
    assert s.lr_at(4, 3) == pytest.approx(2.0)  # (4 + 1) / 4.5 > 1: capped at lr
    # after warm-up: q = (epoch - 1.5) / 8.5
    assert s.lr_at(9, 3) == pytest.approx(1.0 * (1 + math.cos(math.pi * 1.5 / 8.5)))


def test_cosine_with_min_lr_zero_ends_at_zero():
    s = get_schedule("cosine", 1.0, epochs=4, min_lr=0.0, warmup_epochs=0.0)
    assert s.lr_at(0, 2) == 1.0
    assert s.lr_at(4, 2) == pytest.approx(0.5)  # halfway: epoch 2 of 4
    assert s.lr_at(100, 2) == pytest.approx(0.0, abs=1e-15)


def test_step_decay_floor_at_exact_multiples():
    s = get_schedule("step", 1.0, step_size=3, gamma=0.1)
    assert [s.lr_at(e, 1) for e in (0, 2, 3, 5, 6)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    third = get_schedule("step", 1.0, step_size=1, gamma=0.5)
    assert third.lr_at(1, 3) == 1.0 and third.lr_at(3, 3) == 0.5  # epoch 1/3 and 1


def test_inverse_time_by_hand_and_zero_decay():
    s = get_schedule("inverse_time", 0.6, decay=1.0, power=1.0)
    assert s.lr_at(20, 10) == pytest.approx(0.6 / 3)
    assert get_schedule("inverse_time", 0.6, decay=0.0).lr_at(50, 1) == 0.6


def test_plateau_min_mode_with_negative_best_and_cooldown():
    s = get_schedule("plateau", 1.0, mode="min", factor=0.1, patience=0, threshold=0.1,
                     cooldown=1)
    s.end_epoch(-10.0)
    s.end_epoch(-10.5)  # not < -10 - 1: bad -> reduce, cooldown 1
    assert s.lr_at(0, 1) == pytest.approx(0.1)
    s.end_epoch(-10.5)  # bad, but in cooldown: no reduction
    assert s.lr_at(0, 1) == pytest.approx(0.1)
    s.end_epoch(-12.0)  # < -11: better
    assert s.best == -12.0 and s.num_bad == 0
    s.end_epoch(-12.0)
    assert s.lr_at(0, 1) == pytest.approx(0.01)


def test_plateau_max_mode_with_negative_best_and_exact_threshold():
    s = get_schedule("plateau", 1.0, mode="max", factor=0.1, patience=0, threshold=0.5)
    s.end_epoch(-2.0)
    s.end_epoch(-1.0)  # -1 > -2 + 1 is false (equal): bad -> reduce
    assert s.lr_at(0, 1) == pytest.approx(0.1)
    s.end_epoch(-0.5)  # > -2 + 1: better
    assert s.best == -0.5
    s = get_schedule("plateau", 1.0, mode="max", factor=0.1, patience=0, threshold=0.5)
    s.end_epoch(2.0)
    s.end_epoch(3.0)  # 3 > 2 * 1.5 is false (equal): bad
    assert s.lr_at(0, 1) == pytest.approx(0.1)
    s = get_schedule("plateau", 1.0, mode="min", factor=0.1, patience=0, threshold=0.5)
    s.end_epoch(2.0)
    s.end_epoch(1.0)  # 1 < 2 * 0.5 is false (equal): bad
    assert s.lr_at(0, 1) == pytest.approx(0.1)


def test_plateau_needs_the_metric_and_state_round_trips_with_a_best():
    s = get_schedule("plateau", 1.0, mode="min", factor=0.1, patience=1, cooldown=0)
    with pytest.raises(ValueError) as info:
        s.end_epoch(None)
    assert str(info.value) == "plateau needs the monitored metric at every epoch end"
    s.end_epoch(1.0)
    s.end_epoch(2.0)
    state = s.state_dict()
    assert state == {"arrays": {}, "scalars": {"name": "plateau", "current_lr": 1.0,
                                               "best": 1.0, "num_bad": 1, "cooldown_left": 0}}
    t = get_schedule("plateau", 1.0, mode="min", factor=0.1, patience=1, cooldown=0)
    t.load_state_dict(state)
    assert (t.current_lr, t.best, t.num_bad, t.cooldown_left) == (1.0, 1.0, 1, 0)
    t.end_epoch(2.0)
    assert t.lr_at(0, 1) == pytest.approx(0.1)


@pytest.mark.parametrize("name,kwargs,message", [
    ("constant", {"lr": 0}, "lr must be > 0, got 0"),
    ("step", {"lr": 1.0, "step_size": 1.5}, "step_size must be an int >= 1, got 1.5"),
    ("step", {"lr": 1.0, "step_size": 2, "gamma": 0}, "gamma must be > 0, got 0"),
    ("exponential", {"lr": 1.0, "gamma": -1}, "gamma must be > 0, got -1"),
    ("cosine", {"lr": 1.0, "epochs": 0}, "epochs must be > 0, got 0"),
    ("cosine", {"lr": 1.0, "epochs": 5, "min_lr": 2.0}, "min_lr must be in [0, lr], got 2.0"),
    ("cosine", {"lr": 1.0, "epochs": 5, "min_lr": -0.1}, "min_lr must be in [0, lr], got -0.1"),
    ("cosine", {"lr": 1.0, "epochs": 5, "warmup_epochs": -1},
     "warmup_epochs must be in [0, epochs), got -1"),
    ("inverse_time", {"lr": 1.0, "decay": -1}, "decay must be >= 0, got -1"),
    ("inverse_time", {"lr": 1.0, "power": 0}, "power must be > 0, got 0"),
    ("reduce_on_plateau", {"lr": 1.0, "factor": 1.0}, "factor must be in (0, 1), got 1.0"),
    ("reduce_on_plateau", {"lr": 1.0, "factor": 0.0}, "factor must be in (0, 1), got 0.0"),
    ("reduce_on_plateau", {"lr": 1.0, "patience": -1}, "patience must be an int >= 0, got -1"),
    ("reduce_on_plateau", {"lr": 1.0, "patience": 1.0}, "patience must be an int >= 0, got 1.0"),
    ("reduce_on_plateau", {"lr": 1.0, "cooldown": -1}, "cooldown must be an int >= 0, got -1"),
    ("reduce_on_plateau", {"lr": 1.0, "threshold": -1, "min_lr": 0.5},
     "threshold and min_lr must be >= 0, got -1, 0.5"),
    ("reduce_on_plateau", {"lr": 1.0, "min_lr": -1, "threshold": 0.5},
     "threshold and min_lr must be >= 0, got 0.5, -1"),
    ("constant", {"lr": 1.0, "gamma": 2}, "bad options for schedule 'constant': {'gamma': 2}"),
])
def test_schedule_errors_name_the_bad_value(name, kwargs, message):
    kwargs = dict(kwargs)  # the parameter is shared between runs: never mutate it
    lr = kwargs.pop("lr")
    with pytest.raises(ValueError) as info:
        get_schedule(name, lr, **kwargs)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("step,per_epoch,message", [
    (0, 0, "steps_per_epoch must be >= 1, got 0"),
    (-1, 1, "step must be >= 0, got -1"),
])
def test_lr_at_refuses_bad_steps(step, per_epoch, message):
    for s in (get_schedule("constant", 1.0), get_schedule("cosine", 1.0, epochs=2),
              get_schedule("plateau", 1.0)):
        with pytest.raises(ValueError) as info:
            s.lr_at(step, per_epoch)
        assert str(info.value) == message


def test_schedule_state_strictness_messages():
    s = get_schedule("constant", 1.0)
    assert s.state_dict() == {"arrays": {}, "scalars": {"name": "constant"}}
    s.end_epoch(1.0)  # a no-op
    for bad in ({"arrays": {"x": 1}, "scalars": {"name": "constant"}}, {"scalars": {}}, []):
        with pytest.raises(ValueError) as info:
            s.load_state_dict(bad)
        assert str(info.value) == "schedule state must be {'arrays': {}, 'scalars': {...}}"
    with pytest.raises(ValueError) as info:
        s.load_state_dict({"arrays": {}, "scalars": {"name": "step"}})
    assert str(info.value) == "schedule state is for 'step', not 'constant'"
    with pytest.raises(ValueError) as info:
        s.load_state_dict({"arrays": {}, "scalars": {"name": "constant", "t": 1}})
    assert str(info.value) == "schedule scalars must have keys ['name'], got ['name', 't']"


# ---- optimizers -----------------------------------------------------------------------------

P0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.1, 0.2, -0.3])
G2 = np.array([-0.2, 0.4, 0.1])
G3 = np.array([0.3, -0.1, 0.2])


def test_sgd_dampening_by_hand():
    opt = get_optimizer("sgd", momentum=0.5, dampening=0.25)
    p = P0.copy()
    for g in (G1, G2, G3):
        opt.step(p, g, 0.1)
    buf = G1  # the first step copies the gradient
    q = P0 - 0.1 * buf
    buf = 0.5 * buf + 0.75 * G2
    q = q - 0.1 * buf
    buf = 0.5 * buf + 0.75 * G3
    np.testing.assert_allclose(p, q - 0.1 * buf, rtol=1e-15)


def test_sgd_without_momentum_keeps_no_state_and_decays_every_entry_without_a_mask():
    opt = get_optimizer("sgd", momentum=0.0, weight_decay=0.5)
    p = P0.copy()
    opt.step(p, G1, 0.1)
    np.testing.assert_allclose(p, P0 - 0.1 * (G1 + 0.5 * P0), rtol=1e-15)
    assert opt.state_dict() == {"arrays": {}, "scalars": {"name": "sgd", "t": 1}}


@pytest.mark.parametrize("name", ["adam", "rmsprop", "adagrad"])
def test_coupled_decay_without_a_mask_decays_every_entry(name):
    decayed = get_optimizer(name, weight_decay=0.5)
    plain = get_optimizer(name)
    p, q = P0.copy(), P0.copy()
    decayed.step(p, G1, 0.1)
    plain.step(q, G1 + 0.5 * P0, 0.1)  # coupled L2 is the gradient of 0.25 * ||p||^2 added
    np.testing.assert_allclose(p, q, rtol=1e-15)


def test_adamw_without_a_mask_shrinks_every_entry_first():
    opt = get_optimizer("adamw", weight_decay=0.5, eps=1e-8)
    p = P0.copy()
    opt.step(p, G1, 0.1)
    np.testing.assert_allclose(p, P0 * (1 - 0.1 * 0.5) - 0.1 * G1 / (np.abs(G1) + 1e-8), rtol=1e-12)


def test_adagrad_and_rmsprop_eps_enter_the_denominator():
    for name, kwargs in (("adagrad", {"eps": 0.5}), ("rmsprop", {"eps": 0.5, "alpha": 0.75})):
        p = np.array([0.0])
        get_optimizer(name, **kwargs).step(p, np.array([2.0]), 1.0)
        v = 4.0 if name == "adagrad" else 0.25 * 4.0
        assert p[0] == pytest.approx(-2.0 / (math.sqrt(v) + 0.5), rel=1e-15)


def test_adam_eps_and_betas_by_hand():
    opt = get_optimizer("adam", betas=[0.5, 0.75], eps=0.1)
    p = np.array([0.0])
    opt.step(p, np.array([2.0]), 1.0)
    # m = 1, v = 1; m_hat = 2, sqrt(v_hat) = 2: p -= 2 / (2 + 0.1)
    assert p[0] == pytest.approx(-2.0 / 2.1, rel=1e-14)
    assert opt.betas == (0.5, 0.75) and opt.t == 1


def test_optimizer_state_before_the_first_step_is_empty_and_loads():
    opt = get_optimizer("adam")
    state = opt.state_dict()
    assert state == {"arrays": {}, "scalars": {"name": "adam", "t": 0}}
    fresh = get_optimizer("adam")
    fresh.load_state_dict(state)
    p = P0.copy()
    fresh.step(p, G1, 0.1)
    np.testing.assert_allclose(p, P0 - 0.1 * G1 / (np.abs(G1) + 1e-8), rtol=1e-12)


def test_loading_empty_state_after_steps_restarts_the_moments():
    opt = get_optimizer("adam")
    p = P0.copy()
    opt.step(p, G1, 0.1)
    opt.load_state_dict({"arrays": {}, "scalars": {"name": "adam", "t": 0}})
    q = P0.copy()
    opt.step(q, G2, 0.1)
    np.testing.assert_allclose(q, P0 - 0.1 * G2 / (np.abs(G2) + 1e-8), rtol=1e-12)


def _messages(call) -> str:
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


def test_optimizer_step_and_state_errors_name_what_is_wrong():
    opt = get_optimizer("adam")
    assert _messages(lambda: opt.step(np.zeros((2, 2)), np.zeros((2, 2)), 0.1)) == (
        "params and grads must be 1-D arrays of one shape and dtype, got (2, 2)/float64 and "
        "(2, 2)/float64")
    assert _messages(lambda: opt.step(np.zeros(2), np.zeros(2, np.float32), 0.1)) == (
        "params and grads must be 1-D arrays of one shape and dtype, got (2,)/float64 and "
        "(2,)/float32")
    opt.step(np.zeros(3), np.zeros(3), 0.1)
    assert _messages(lambda: opt.step(np.zeros(4), np.zeros(4), 0.1)) == (
        "optimizer state is for 3 parameters, got 4")
    masked = get_optimizer("sgd", weight_decay=0.1, decay_mask=np.ones(2))
    assert _messages(lambda: masked.step(np.zeros(3), np.zeros(3), 0.1)) == (
        "decay_mask has shape (2,), params (3,)")
    state = opt.state_dict()
    fresh = get_optimizer("adam")
    assert _messages(lambda: fresh.load_state_dict({"arrays": {}})) == (
        "optimizer state must be a dict with keys 'arrays' and 'scalars'")
    assert _messages(lambda: fresh.load_state_dict(
        {"arrays": state["arrays"], "scalars": {"name": "adam"}})) == (
        "optimizer scalars must have keys ['name', 't'], got ['name']")
    assert _messages(lambda: fresh.load_state_dict(
        {"arrays": {"exp_avg": np.zeros(3)}, "scalars": state["scalars"]})) == (
        "optimizer arrays must have keys ['exp_avg', 'exp_avg_sq'], got ['exp_avg']")
    assert _messages(lambda: fresh.load_state_dict(
        {"arrays": {"exp_avg": np.zeros((3, 1)), "exp_avg_sq": np.zeros((3, 1))},
         "scalars": state["scalars"]})) == (
        "optimizer arrays must be 1-D of one shape, got [(3, 1)]")
    assert _messages(lambda: fresh.load_state_dict(
        {"arrays": {"exp_avg": np.zeros(3, int), "exp_avg_sq": np.zeros(3, int)},
         "scalars": state["scalars"]})) == (
        "optimizer arrays must share a float dtype, got ['int64']")
    assert _messages(lambda: opt.load_state_dict(
        {"arrays": {k: np.zeros(3, np.float32) for k in state["arrays"]},
         "scalars": state["scalars"]})) == (
        "optimizer array 'exp_avg' is (3,)/float32, expected (3,)/float64")


def test_state_for_other_parameters_is_refused_once_the_buffers_exist():
    opt = get_optimizer("sgd", momentum=0.5)
    opt.step(np.zeros(3), np.ones(3), 0.1)
    other = get_optimizer("sgd", momentum=0.5)
    other.step(np.zeros(4), np.ones(4), 0.1)
    opt.state = {}  # buffers dropped, scratch kept: the shapes are checked against scratch
    assert _messages(lambda: opt.load_state_dict(other.state_dict())) == (
        "optimizer state does not match the parameters")
    float32 = get_optimizer("adam")
    float32.load_state_dict({"arrays": {"exp_avg": np.zeros(2, np.float32),
                                        "exp_avg_sq": np.zeros(2, np.float32)},
                             "scalars": {"name": "adam", "t": 1}})
    assert _messages(lambda: float32.step(np.zeros(2), np.zeros(2), 0.1)) == (
        "optimizer state 'exp_avg' has dtype float32, parameters have float64")


@pytest.mark.parametrize("name,kwargs,message", [
    ("sgd", {"momentum": -0.1}, "momentum must be in [0, 1), got -0.1"),
    ("sgd", {"momentum": 1.0}, "momentum must be in [0, 1), got 1.0"),
    ("sgd", {"momentum": 0.5, "nesterov": True, "dampening": 0.1},
     "nesterov needs momentum > 0 and dampening = 0"),
    ("adam", {"betas": (1.0, 0.9)}, "betas must be in [0, 1), got (1.0, 0.9)"),
    ("adam", {"betas": (-0.1, 0.9)}, "betas must be in [0, 1), got (-0.1, 0.9)"),
    ("adam", {"betas": (0.9, -0.1)}, "betas must be in [0, 1), got (0.9, -0.1)"),
    ("adam", {"eps": 0}, "eps must be > 0, got 0"),
    ("rmsprop", {"alpha": 1.0}, "alpha must be in [0, 1), got 1.0"),
    ("rmsprop", {"momentum": 1.0}, "momentum must be in [0, 1), got 1.0"),
    ("rmsprop", {"momentum": -1.0}, "momentum must be in [0, 1), got -1.0"),
    ("rmsprop", {"eps": -1}, "eps must be > 0, got -1"),
    ("adagrad", {"eps": 0}, "eps must be > 0, got 0"),
    ("sgd", {"weight_decay": float("nan")}, "weight_decay must be >= 0, got nan"),
])
def test_optimizer_arguments_are_named_with_their_range(name, kwargs, message):
    assert _messages(lambda: get_optimizer(name, **kwargs)).startswith(message)


def test_optimizer_bounds_are_inclusive_where_documented():
    get_optimizer("sgd", momentum=0.0)
    get_optimizer("adam", betas=(0.0, 0.0))
    get_optimizer("rmsprop", alpha=0.0, momentum=0.0)
    get_optimizer("adamw", weight_decay=0.0)


# ---- defaults ---------------------------------------------------------------------------------


def test_default_constructed_optimizers_and_schedules_hold_the_documented_defaults():
    from mlptrain.optim import OPTIMIZERS, SCHEDULES

    assert defaults_applied(OPTIMIZERS, {}) >= 15
    assert defaults_applied(SCHEDULES, {name: {"lr": 1.0} for name in SCHEDULES.names()}
                             | {"cosine": {"lr": 1.0, "epochs": 10}}) >= 10


def test_plateau_improvement_thresholds_met_exactly_or_passed():
    s = get_schedule("plateau", 1.0, mode="min", factor=0.1, patience=0, threshold=0.1)
    s.end_epoch(-10.0)
    s.end_epoch(-11.0)  # exactly best - |best| * threshold: not better (strict)
    assert s.best == -10.0 and s.lr_at(0, 1) == pytest.approx(0.1)
    s = get_schedule("plateau", 1.0, mode="max", factor=0.1, patience=0, threshold=0.5)
    s.end_epoch(2.0)
    s.end_epoch(3.5)  # > 2 * 1.5: better
    assert s.best == 3.5 and s.lr_at(0, 1) == 1.0
    s = get_schedule("plateau", 1.0, mode="max", factor=0.1, patience=0, threshold=0.5)
    s.end_epoch(-2.0)
    s.end_epoch(-1.0)  # exactly best + |best| * threshold: not better
    assert s.best == -2.0


def test_cosine_min_lr_may_equal_lr():
    s = get_schedule("cosine", 0.5, epochs=3, min_lr=0.5, warmup_epochs=0.0)
    assert s.lr_at(2, 1) == 0.5


@pytest.mark.parametrize("name", ["rmsprop", "adagrad"])
def test_coupled_decay_of_rmsprop_and_adagrad_respects_the_mask(name):
    mask = np.array([1.0, 0.0, 1.0])
    decayed = get_optimizer(name, weight_decay=0.5, decay_mask=mask)
    plain = get_optimizer(name)
    p, q = P0.copy(), P0.copy()
    decayed.step(p, G1, 0.1)
    plain.step(q, G1 + 0.5 * mask * P0, 0.1)
    np.testing.assert_allclose(p, q, rtol=1e-15)


def test_rmsprop_without_momentum_keeps_only_its_square_average():
    opt = get_optimizer("rmsprop", momentum=0.0)
    opt.step(P0.copy(), G1, 0.1)
    assert set(opt.state_dict()["arrays"]) == {"square_avg"}
    with_momentum = get_optimizer("rmsprop", momentum=0.5)
    with_momentum.step(P0.copy(), G1, 0.1)
    assert set(with_momentum.state_dict()["arrays"]) == {"square_avg", "momentum_buffer"}


def test_zero_eps_is_refused_and_zero_threshold_is_allowed():
    assert _messages(lambda: get_optimizer("rmsprop", eps=0.0)) == "eps must be > 0, got 0.0"
    s = get_schedule("plateau", 1.0, mode="min", factor=0.5, patience=0, threshold=0.0)
    s.end_epoch(1.0)
    s.end_epoch(0.999)  # any decrease is better with threshold 0
    assert s.best == 0.999 and s.lr_at(0, 1) == 1.0


def test_a_fresh_plateau_schedule_has_no_bad_epochs_and_no_cooldown():
    s = get_schedule("plateau", 1.0, mode="min", factor=0.5, patience=1, cooldown=0)
    assert s.state_dict()["scalars"] == {"name": "plateau", "current_lr": 1.0, "best": None,
                                         "num_bad": 0, "cooldown_left": 0}


def test_flush_keeps_the_smallest_normal_number():
    opt = get_optimizer("sgd", momentum=0.5)
    opt.step(np.zeros(2, np.float32), np.zeros(2, np.float32), 0.0)
    tiny = np.finfo(np.float32).tiny
    opt.state["momentum_buffer"][:] = [tiny, -tiny]
    opt._flush_subnormals()
    np.testing.assert_array_equal(opt.state["momentum_buffer"], np.array([tiny, -tiny], np.float32))


def test_a_step_reuses_its_scratch_buffers():
    opt = get_optimizer("adam")
    p = P0.copy()
    opt.step(p, G1, 0.1)
    scratch = opt._tmp
    opt.step(p, G2, 0.1)
    assert opt._tmp is scratch  # "a step allocates nothing" (module docstring)


def test_weight_decay_of_one_is_applied():
    opt = get_optimizer("sgd", momentum=0.0, weight_decay=1.0)
    p = P0.copy()
    opt.step(p, G1, 0.1)
    np.testing.assert_allclose(p, P0 - 0.1 * (G1 + P0), rtol=1e-15)


def test_loaded_state_is_a_copy_of_the_callers_arrays():
    opt = get_optimizer("adam")
    opt.step(P0.copy(), G1, 0.1)
    state = opt.state_dict()
    saved = {k: v.copy() for k, v in state["arrays"].items()}
    fresh = get_optimizer("adam")
    fresh.load_state_dict(state)
    fresh.step(P0.copy(), G2, 0.1)
    for k, v in state["arrays"].items():
        np.testing.assert_array_equal(v, saved[k])


def test_plateau_loads_a_state_saved_under_its_former_name():
    s = get_schedule("plateau", 1.0, mode="min", factor=0.5, patience=0)
    s.load_state_dict({"arrays": {}, "scalars": {"name": "reduce_on_plateau", "current_lr": 0.25,
                                                 "best": 2.0, "num_bad": 0, "cooldown_left": 0}})
    assert s.lr_at(0, 1) == 0.25 and s.best == 2.0
    assert s.state_dict()["scalars"]["name"] == "plateau"


def test_plateau_cooldown_of_two_epochs_delays_the_next_reduction_by_two():
    """patience 0, a constant metric: epoch 1 sets the best; epoch 2 is bad -> reduce and
    cool down for 2 epochs (3 and 4 count no bad epochs); epoch 5 is bad -> reduce; 8 too."""
    from mlptrain.optim.schedules import ReduceOnPlateau

    schedule = ReduceOnPlateau(1.0, mode="min", factor=0.5, patience=0, cooldown=2)
    lrs = []
    for _ in range(8):
        schedule.end_epoch(3.0)
        lrs.append(schedule.lr_at(0, 1))
    assert lrs == [1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
