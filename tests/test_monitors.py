"""The best-so-far tracker and early stopping: the improvement rule, and their state read
back from a checkpoint (untrusted: a wrong type is a ValueError the checkpoint loader turns
into a clean CheckpointError)."""

from __future__ import annotations

import pytest

from mlptrain.monitors import EarlyStopping, ImprovementTracker, improves


def test_improves_by_more_than_min_delta_in_the_monitor_direction():
    assert improves(0.5, None, "min")
    assert improves(0.5, 0.6, "min", 0.05)
    assert not improves(0.55, 0.6, "min", 0.05)  # exactly min_delta is not an improvement
    assert improves(0.7, 0.6, "max", 0.05)
    assert not improves(0.65, 0.6, "max", 0.05)
    assert not improves(float("nan"), None, "min")
    assert not improves(None, 1.0, "min")


def test_tracker_state_round_trips():
    tracker = ImprovementTracker("val_loss", "min")
    assert tracker.update(0.4, 1) and not tracker.update(0.5, 2)
    again = ImprovementTracker("val_loss", "min")
    again.load_state_dict(tracker.state_dict())
    assert (again.best, again.best_epoch) == (0.4, 1)


def test_early_stopping_state_round_trips_and_stops_after_patience():
    stopper = EarlyStopping("val_loss", "min", patience=2)
    for value in (1.0, 1.0, 1.0):
        stopper.update(value)
    assert stopper.should_stop and stopper.bad_evaluations == 2
    again = EarlyStopping("val_loss", "min", patience=2)
    again.load_state_dict(stopper.state_dict())
    assert (again.best, again.bad_evaluations, again.should_stop) == (1.0, 2, True)


@pytest.mark.parametrize("state, message", [
    ({"best": [], "best_epoch": 1}, "saved best value must be a number or null, not []"),
    ({"best": "0.3", "best_epoch": 1}, "not '0.3'"),
    ({"best": True, "best_epoch": 1}, "not True"),
    ({"best": float("nan"), "best_epoch": 1}, "not nan"),
    ({"best": 0.3, "best_epoch": -1}, "saved best epoch must be an integer >= 0, not -1"),
    ({"best": 0.3, "best_epoch": 1.5}, "not 1.5"),
])
def test_tracker_refuses_a_saved_state_of_the_wrong_type(state, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ImprovementTracker("val_loss", "min").load_state_dict(state)


@pytest.mark.parametrize("state, message", [
    ({"best": {}, "bad_evaluations": 0}, "saved best value must be a number or null"),
    ({"best": None, "bad_evaluations": "2"}, "count of bad evaluations must be an integer >= 0"),
    ({"best": None, "bad_evaluations": -2}, "not -2"),
])
def test_early_stopping_refuses_a_saved_state_of_the_wrong_type(state, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping("val_loss", "min", patience=3).load_state_dict(state)
