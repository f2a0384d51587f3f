"""Slots, budget and the grid, on in-memory Optuna studies (no training): the bookkeeping that
makes retries keep their trial directory and fresh trials count 0, 1, 2, ... ."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")

from mlptrain.sweep import study as st  # noqa: E402
from mlptrain.sweep.spec import Range, SweepSpec  # noqa: E402

State = optuna.trial.TrialState


def add(study, state, system_attrs=None, user_attrs=None) -> None:
    study.add_trial(optuna.trial.create_trial(
        state=state, value=0.5 if state == State.COMPLETE else None,
        system_attrs=system_attrs or {}, user_attrs=user_attrs or {}))


def history():
    """0 complete, 1 failed (its worker died), 2 the retry of 1, 3 fresh, 4 over budget."""
    study = optuna.create_study()
    add(study, State.COMPLETE)
    add(study, State.FAIL)
    add(study, State.COMPLETE, system_attrs={"failed_trial": 1, "retry_history": [1]})
    add(study, State.RUNNING)
    add(study, State.FAIL, user_attrs={st.OVER_BUDGET_ATTR: True})
    return study.get_trials()


def test_a_retry_keeps_the_slot_of_the_trial_it_retries_and_fresh_slots_stay_consecutive():
    trials = history()
    assert [st.slot_of(trials, n) for n in range(4)] == [0, 1, 1, 2]


def test_a_trial_after_an_over_budget_one_does_not_skip_a_slot():
    trials = history()
    study = optuna.create_study()
    for t in trials:
        study.add_trial(t)
    add(study, State.RUNNING)  # number 5: retries (2) and over-budget (4) are not slots
    assert st.slot_of(study.get_trials(), 5) == 3


def test_each_slot_is_shown_by_its_latest_trial():
    views = st.slot_views(history())
    assert sorted(views) == [0, 1, 2]
    assert [views[s].trial.number for s in (0, 1, 2)] == [0, 2, 3]
    assert st.retried_numbers(history()) == {1}


@pytest.mark.parametrize(("total", "action"), [(4, "run"), (3, "wait")])
def test_next_action_runs_while_slots_are_left_and_waits_for_running_ones(total, action):
    assert st.next_action(history(), total) == action


def test_a_queued_retry_runs_even_when_the_budget_is_spent():
    study = optuna.create_study()
    add(study, State.FAIL)
    add(study, State.WAITING, system_attrs={"failed_trial": 0, "retry_history": [0]})
    assert st.next_action(study.get_trials(), 1) == "run"
    study2 = optuna.create_study()
    add(study2, State.COMPLETE)
    assert st.next_action(study2.get_trials(), 1) == "done"


def test_slot_seeds_differ_by_slot_and_by_seed_and_repeat():
    seeds = {st.slot_seed(seed, slot) for seed in (0, 1) for slot in range(50)}
    assert len(seeds) == 100
    assert st.slot_seed(7, 3) == st.slot_seed(7, 3)


def grid_spec(trials: int) -> SweepSpec:
    return SweepSpec(source="s.yaml", name="g", base_path="b.yaml", base={}, metric="val_loss",
                     direction="minimize", trials=trials, seed=5, sampler="grid",
                     sampler_options={}, pruner="none", pruner_options={},
                     space=[Range(key="a", kind="choice", choices=[[1], [2, 2]]),
                            Range(key="b", kind="int", low=1, high=3)])


def test_the_grid_gives_every_point_once_in_slot_order():
    spec = grid_spec(6)
    study = optuna.create_study(sampler=st.make_sampler(spec))

    def objective(trial):
        return 0.0 if [st.suggest(trial, r) for r in spec.space] else 1.0

    study.optimize(objective, n_trials=6)
    points = [(t.params["a"], t.params["b"]) for t in study.trials]
    assert sorted(points) == sorted((a, b) for a in ("[1]", "[2, 2]") for b in (1, 2, 3))
    decoded = st.decode_params(study.trials[0].params, spec.space)
    assert decoded["a"] in ([1], [2, 2]) and decoded["b"] in (1, 2, 3)


def test_redact_hides_the_password_only():
    assert st.redact("postgresql://me:secret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert st.redact("postgresql://me@db/x") == "postgresql://me@db/x"
    assert st.redact("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def test_postgres_urls_get_an_installed_driver():
    url = st.driver_url("postgresql://me@db/x")
    assert url.startswith(("postgresql+psycopg://", "postgresql+psycopg2://"))
    assert url.endswith("://me@db/x")
    assert st.driver_url("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def test_the_live_table_has_a_column_per_key_and_a_row_per_trial():
    from rich.console import Console

    from mlptrain.cli.sweep import sweep_table
    from mlptrain.sweep.results import TrialRow

    rows = [TrialRow(trial=0, number=0, state="complete", value=0.25,
                     params={"optimizer.lr": 0.01, "model.hidden": [8, 8]}, duration=1.5),
            TrialRow(trial=1, number=2, state="running", value=None,
                     params={"optimizer.lr": 0.02, "model.hidden": [4]}, duration=0.4, retries=1)]
    console = Console(record=True, width=200)
    console.print(sweep_table(rows))
    text = console.export_text()
    assert "optimizer.lr" in text and "model.hidden" in text and "time (s)" in text
    assert "0.25" in text and "[8, 8]" in text and "running (retry 1)" in text
