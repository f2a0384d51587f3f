"""Bad sweep files, through the CLI: each exits 2 with a short message naming the file and the
key, before anything is created (no sweep directory, no output root, no study)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlptrain.cli import app

runner = CliRunner()
MAX_LINES = 4
BASE = "name: tiny\ndata: {source: spiral, n_samples: 200}\nmodel: {hidden: [4]}\ntrain: {epochs: 1}\n"
SPACE = "space:\n  optimizer.lr: {log_uniform: [1.0e-3, 1.0e-1]}\n"
GOOD_HEAD = "base: base.yaml\nobjective: {metric: val_loss}\ntrials: 2\n"


def sweep_text(head: str = GOOD_HEAD, space: str = SPACE) -> str:
    return head + space


# (id, sweep file text, extra CLI args, fragments the message must contain)
CASES = [
    ("unknown-top-key", GOOD_HEAD + "trails: 3\n" + SPACE, [], ["trails", "did you mean 'trials'"]),
    ("missing-base", "objective: {metric: val_loss}\n" + SPACE, [], ["'base' is required"]),
    ("missing-space", GOOD_HEAD, [], ["'space' is required"]),
    ("base-not-found", "base: nowhere.yaml\nobjective: val_loss\n" + SPACE, [],
     ["base (line 1)", "no such config file"]),
    ("base-invalid", "base: bad-base.yaml\nobjective: val_loss\n" + SPACE, [],
     ["bad-base.yaml", "did you mean 'optimizer'"]),
    ("space-not-mapping", GOOD_HEAD + "space: [optimizer.lr]\n", [], ["space (line 4)", "mapping"]),
    ("space-empty", GOOD_HEAD + "space: {}\n", [], ["space", "non-empty"]),
    ("unknown-space-key", sweep_text(space="space:\n  optimizer.lrr: {uniform: [0.01, 0.1]}\n"),
     [], ["space.optimizer.lrr (line 5)", "did you mean 'optimizer.lr'"]),
    ("section-not-key", sweep_text(space="space:\n  optimizer: {choice: [1, 2]}\n"), [],
     ["'optimizer' is not a config key"]),
    ("reserved-threads", sweep_text(space="space:\n  train.threads: {int: [1, 2]}\n"), [],
     ["space.train.threads", "cannot be searched"]),
    ("reserved-run-root", sweep_text(space="space:\n  run.root: {choice: [a, b]}\n"), [],
     ["space.run.root", "cannot be searched"]),
    ("dropout-upper-end", sweep_text(space="space:\n  model.dropout: {uniform: [0.0, 1.0]}\n"),
     [], ["space.model.dropout (line 5)", "upper end 1", "must be < 1"]),
    ("lr-upper-end", sweep_text(space="space:\n  optimizer.lr: {log_uniform: [1.0e-4, 1000]}\n"),
     [], ["space.optimizer.lr", "upper end 1000", "must be <= 100"]),
    ("log-low-zero", sweep_text(space="space:\n  optimizer.lr: {log_uniform: [0, 0.1]}\n"), [],
     ["log range needs low > 0"]),
    ("float-range-on-int", sweep_text(space="space:\n  train.batch_size: {uniform: [16, 128]}\n"),
     [], ["space.train.batch_size", "integer", "{int: [16, 128]}"]),
    ("int-range-on-string",
     sweep_text(space="space:\n  model.activation: {int: [1, 3]}\n"), [],
     ["space.model.activation", "lower end 1 is not valid"]),
    ("bad-choice", sweep_text(space="space:\n  model.activation: {choice: [relu, relux]}\n"), [],
     ["space.model.activation", 'choice "relux" is not valid']),
    ("negative-width-choice", sweep_text(space="space:\n  model.hidden: {choice: [[8], [0]]}\n"),
     [], ["space.model.hidden", "choice [0] is not valid", ">= 1"]),
    ("empty-choice", sweep_text(space="space:\n  model.activation: {choice: []}\n"), [],
     ["choice takes a list of 1 to"]),
    ("duplicate-choice", sweep_text(space="space:\n  train.batch_size: {choice: [8, 16, 8]}\n"),
     [], ["choice 8 is listed twice"]),
    ("unknown-range-kind", sweep_text(space="space:\n  optimizer.lr: {loguniform: [0.001, 0.1]}\n"),
     [], ["unknown range 'loguniform'", "did you mean 'log_uniform'"]),
    ("two-range-kinds",
     sweep_text(space="space:\n  optimizer.lr: {uniform: [0.01, 0.1], choice: [0.1]}\n"), [],
     ["exactly one of"]),
    ("low-not-below-high", sweep_text(space="space:\n  optimizer.lr: {uniform: [0.1, 0.01]}\n"),
     [], ["low must be below high"]),
    ("int-range-of-floats", sweep_text(space="space:\n  train.batch_size: {int: [8.5, 64]}\n"),
     [], ["int takes two integers"]),
    ("step-with-log",
     sweep_text(space="space:\n  optimizer.lr: {log_uniform: [0.001, 0.1], step: 0.01}\n"), [],
     ["step cannot be combined with a log range"]),
    ("range-not-pair", sweep_text(space="space:\n  optimizer.lr: {uniform: [0.01]}\n"), [],
     ["uniform takes [low, high]"]),
    ("range-not-number", sweep_text(space="space:\n  optimizer.lr: {uniform: [0.01, .nan]}\n"),
     [], ["uniform takes [low, high]"]),
    ("unknown-sampler", GOOD_HEAD + "sampler: tpee\n" + SPACE, [], ["sampler (line 4)", "tpe"]),
    ("unknown-sampler-option", GOOD_HEAD + "sampler: {tpe: {n_startup: 3}}\n" + SPACE, [],
     ["unknown option 'n_startup'", "did you mean 'n_startup_trials'"]),
    ("bad-sampler-option", GOOD_HEAD + "sampler: {tpe: {n_startup_trials: -1}}\n" + SPACE, [],
     ["n_startup_trials must be a non-negative integer"]),
    ("unknown-pruner", GOOD_HEAD + "pruner: medain\n" + SPACE, [], ["pruner", "median"]),
    ("unknown-metric", "base: base.yaml\nobjective: {metric: val_los}\n" + SPACE, [],
     ["objective (line 2)", "did you mean 'val_loss'"]),
    ("regression-metric-on-classes", "base: base.yaml\nobjective: {metric: val_mse}\n" + SPACE,
     [], ["'val_mse' is not a metric"]),
    ("bad-direction", "base: base.yaml\nobjective: {metric: val_loss, direction: up}\n" + SPACE,
     [], ["direction must be minimize or maximize"]),
    ("zero-trials", "base: base.yaml\nobjective: val_loss\ntrials: 0\n" + SPACE, [],
     ["trials (line 3)", "from 1 to"]),
    ("bool-trials", "base: base.yaml\nobjective: val_loss\ntrials: true\n" + SPACE, [],
     ["trials (line 3)"]),
    ("grid-on-continuous", GOOD_HEAD + "sampler: grid\n" + SPACE, [],
     ["grid sampler needs choice, int or a step"]),
    ("grid-too-many-trials", "base: base.yaml\nobjective: val_loss\ntrials: 5\nsampler: grid\n"
     "space:\n  train.batch_size: {choice: [8, 16]}\n", [], ["5 exceeds the grid's 2 points"]),
    ("cross-key-combination", sweep_text(space="space:\n  model.hidden: {choice: [[4], [4, 4]]}\n"
                                         "  model.activation: {choice: [[relu], [tanh]]}\n"),
     [], ["the combination", "model.hidden=[4, 4]", "activation"]),
    ("set-unknown-key", GOOD_HEAD + "set: {train.epoch: 3}\n" + SPACE, [],
     ["set.train.epoch", "did you mean 'train.epochs'"]),
    ("set-searched-key", GOOD_HEAD + "set: {optimizer.lr: 0.1}\n" + SPACE, [],
     ["set.optimizer.lr", "also searched"]),
    ("set-invalid-value", GOOD_HEAD + "set: {train.epochs: 0}\n" + SPACE, [],
     ["train.epochs", "must be >= 1"]),
    ("override-of-searched-key", sweep_text(), ["optimizer.lr=0.1"],
     ["sets optimizer.lr, which the sweep searches"]),
    ("bad-override", sweep_text(), ["train.epochs=-1"], ["train.epochs", "must be >= 1"]),
    ("bad-name", "name: ../up\n" + GOOD_HEAD + SPACE, [], ["name (line 1)", "letters, digits"]),
    ("yaml-syntax", "base: base.yaml\nspace: {optimizer.lr: [\n", [], ["line", "column"]),
    ("yaml-duplicate-key", GOOD_HEAD + "trials: 3\n" + SPACE, [], ["duplicate key 'trials'"]),
    ("yaml-python-tag", GOOD_HEAD + "seed: !!python/object/apply:os.system [echo]\n" + SPACE, [],
     ["is not allowed"]),
    ("not-a-mapping", "- base: base.yaml\n", [], ["must be a mapping"]),
    ("empty-file", "", [], ["is empty"]),
    ("zero-workers", sweep_text(), ["--workers", "0"], ["--workers must be at least 1"]),
    ("bad-storage-url", sweep_text(), ["--storage", "study.db"], ["not a database URL"]),
    ("trials-option-zero", sweep_text(), ["--trials", "0"], ["--trials", "from 1 to"]),
]


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize(("text", "args", "fragments"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_sweep_file_exits_2_naming_the_problem_and_leaves_nothing(tmp_path, text, args,
                                                                      fragments):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "bad-base.yaml").write_text(BASE + "optimzer: {lr: 0.1}\n")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(text)
    before = tree(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(sweep), *args, "--out", str(out)])
    message = result.output
    assert result.exit_code == 2, message
    assert message.startswith("error:"), message
    assert "Traceback" not in message
    assert len(message.strip().splitlines()) <= MAX_LINES, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not out.exists()
    assert tree(tmp_path) == before


def test_the_corpus_has_more_than_twenty_cases():
    assert len(CASES) >= 20


def test_every_message_names_the_sweep_file(tmp_path):
    """Spot check: the file is named (the CLI options are named by their flag instead)."""
    (tmp_path / "base.yaml").write_text(BASE)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text(space="space:\n  model.dropout: {uniform: [0.0, 1.0]}\n"))
    result = runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "out")])
    assert f"{sweep}: space.model.dropout" in result.output


def test_a_good_sweep_file_validates_with_its_keys_in_order(tmp_path):
    from mlptrain.sweep.spec import load_sweep

    (tmp_path / "base.yaml").write_text(BASE)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(GOOD_HEAD + "set: {train.epochs: 3}\nsampler: {tpe: {n_startup_trials: 1}}\n"
                     "space:\n  optimizer.lr: {log_uniform: [1.0e-3, 1.0e-1]}\n"
                     "  model.hidden: {choice: [[4], [8, 8]]}\n"
                     "  train.batch_size: {int: [8, 64], step: 8}\n")
    spec = load_sweep(sweep)
    assert spec.keys == ["optimizer.lr", "model.hidden", "train.batch_size"]
    assert spec.base["train"]["epochs"] == 3
    assert spec.metric == "val_loss" and spec.direction == "minimize"
    assert spec.sampler == "tpe" and spec.sampler_options == {"n_startup_trials": 1}
    assert spec.space[2].grid() == [8, 16, 24, 32, 40, 48, 56, 64]


def test_accuracy_objective_maximizes_by_default(tmp_path):
    from mlptrain.sweep.spec import load_sweep

    (tmp_path / "base.yaml").write_text(BASE)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("base: base.yaml\nobjective: val_accuracy\n" + SPACE)
    assert load_sweep(sweep).direction == "maximize"


def test_the_shipped_example_validates():
    from mlptrain.sweep.spec import load_sweep

    repo = Path(__file__).resolve().parents[1]
    spec = load_sweep(repo / "configs" / "sweeps" / "spiral.yaml")
    assert spec.trials >= 8 and len(spec.space) >= 3


def test_without_optuna_sweep_says_how_to_install_it(tmp_path):
    import subprocess
    import sys

    (tmp_path / "base.yaml").write_text(BASE)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text())
    code = ("import sys\nsys.modules['optuna'] = None\nfrom mlptrain.cli import main\n"
            f"sys.argv = ['mlptrain', 'sweep', {str(sweep)!r}, '--out', {str(tmp_path / 'out')!r}]\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert "needs Optuna" in done.stderr and ".[sweep]" in done.stderr
    assert not (tmp_path / "out").exists()


def test_worker_needs_storage_and_study():
    result = runner.invoke(app, ["sweep", "worker", "--study", "x"], env={
        "MLPTRAIN_SWEEP_STORAGE": ""})
    assert result.exit_code == 2
    assert "needs --storage URL and --study NAME" in result.output


def test_resume_of_a_folder_that_is_not_a_sweep(tmp_path):
    result = runner.invoke(app, ["sweep", "--resume", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a sweep directory (sweep.json is missing)" in result.output


def test_both_a_sweep_file_and_resume_is_an_error(tmp_path):
    result = runner.invoke(app, ["sweep", "x.yaml", "--resume", str(tmp_path)])
    assert result.exit_code == 2
    assert "not both" in result.output
