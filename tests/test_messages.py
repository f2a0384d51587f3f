"""Messages a new user meets (issue 13, item 10): each bad input is exit 2 and a message
that names the key, says what is wrong and, where it can, what was meant, within four lines.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from data_helpers import tiny_set_files, tiny_set_spec
from tools_helpers import assert_clean_error, assert_ok, run, train_run

from mlptrain.data import named

MAX_LINES = 4


def write_config(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_lines(result) -> list[str]:
    lines = result.output.strip().splitlines()
    assert len(lines) <= MAX_LINES, result.output
    return lines


# ---- config messages ---------------------------------------------------------------------


def test_a_wrongly_cased_activation_is_one_problem_with_the_name_meant(tmp_path):
    result = run("config", "show", write_config(tmp_path, "model: {activation: ReLU}\n"))
    assert_clean_error(result, "model.activation (line 1)", "'ReLU' is not allowed",
                       "did you mean 'relu'?")
    assert "more problem" not in result.output  # the list branch of the union is not a problem
    assert len(error_lines(result)) == 1


def test_a_wrongly_cased_optimizer_kind_suggests_the_lower_case_name(tmp_path):
    result = run("config", "show", write_config(tmp_path, "optimizer: {kind: Adam}\n"))
    assert_clean_error(result, "optimizer.kind (line 1)", "did you mean 'adam'?", "'sgd'")


def test_a_section_given_as_a_name_says_how_to_write_it_and_no_class_name(tmp_path):
    result = run("config", "show", write_config(tmp_path, "optimizer: adam\n"))
    assert_clean_error(result, "optimizer (line 1)", "did you mean 'optimizer: {kind: adam}'?")
    assert "OptimizerConfig" not in result.output and "dictionary" not in result.output
    other = run("config", "show", write_config(tmp_path, "train: 5\n"))
    assert_clean_error(other, "train (line 1)", "must be a section with keys such as epochs")
    assert "TrainConfig" not in other.output


@pytest.mark.parametrize(("text", "meant"), [
    ("lr: 0.01\n", "optimizer.lr"),                   # top level -> its section
    ("train: {lr: 0.01}\n", "optimizer.lr"),          # another section
    ("Epochs: 3\n", "train.epochs"),                  # case-insensitive
    ("data: {hiden: [8]}\n", "model.hidden"),         # a near name in another section
    ("optimizer: {LR: 0.01}\n", "lr"),                # own section, other case
])
def test_an_unknown_key_suggests_the_key_meant_in_any_section(tmp_path, text, meant):
    result = run("config", "show", write_config(tmp_path, text))
    assert_clean_error(result, "unknown key", f"did you mean '{meant}'?")


def test_several_problems_are_shown_at_once_in_file_order(tmp_path):
    text = "optimizer:\n  kind: Adam\n  lr: -1\ntrain: {epochs: 0}\n"
    lines = error_lines(run("config", "show", write_config(tmp_path, text)))
    assert len(lines) == 3, lines
    assert "optimizer.kind (line 2)" in lines[0] and "cfg.yaml" in lines[0]
    assert "optimizer.lr (line 3): must be > 0, got -1" in lines[1]
    assert "train.epochs (line 4): must be >= 1, got 0" in lines[2]


def test_more_problems_than_fit_end_with_how_many_more(tmp_path):
    text = ("optimizer:\n  kind: Adam\n  lr: -1\ntrain: {epochs: 0, batch_size: 0}\n"
            "model: {dropout: 2, input_dropout: 3}\n")
    result = run("train", write_config(tmp_path, text))
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == MAX_LINES
    assert "optimizer.kind" in lines[0] and "optimizer.lr" in lines[1]
    assert "train.epochs" in lines[2]
    assert lines[3].strip() == "(and 3 more problems)"


def test_problems_from_overrides_are_listed_with_the_override(tmp_path):
    config = write_config(tmp_path, "name: x\n")
    result = run("config", "show", config, "optimizer.lr=-1", "train.epochs=0")
    lines = error_lines(result)
    assert result.exit_code == 2 and len(lines) == 2
    assert "optimizer.lr (from override 'optimizer.lr=-1')" in result.output
    assert "train.epochs (from override 'train.epochs=0')" in result.output


@pytest.mark.parametrize("command", ["config show", "train"])
def test_config_show_rejects_the_monitor_train_rejects(tmp_path, command):
    config = write_config(tmp_path, "train: {early_stopping: {monitor: val_acuracy}, epochs: 1}\n"
                          f"run: {{root: {tmp_path / 'runs'}}}\n")
    result = run(*command.split(), config)
    assert_clean_error(result, "train.early_stopping.monitor (line 1)", "'val_acuracy'",
                       "not a metric", "did you mean 'val_accuracy'?")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["config show", "train"])
def test_an_accuracy_monitor_on_a_regression_source_is_refused_by_both(tmp_path, command):
    config = write_config(tmp_path, "data: {source: sine}\ntrain: {checkpoint: {monitor: "
                          f"val_accuracy}}}}\nrun: {{root: {tmp_path / 'runs'}}}\n")
    result = run(*command.split(), config)
    assert_clean_error(result, "train.checkpoint.monitor (line 2)", "'val_accuracy'",
                       "not a metric of a regression run", "val_r2")


@pytest.mark.parametrize("command", ["config show", "train"])
def test_a_two_class_monitor_on_a_three_class_source_is_refused_by_both(tmp_path, command):
    # ROC-AUC and average precision exist only for two classes; spiral has n_classes: 3.
    config = write_config(tmp_path, "train: {checkpoint: {monitor: val_roc_auc}, epochs: 1}\n"
                          f"run: {{root: {tmp_path / 'runs'}}}\n")
    result = run(*command.split(), config)
    assert_clean_error(result, "train.checkpoint.monitor (line 1)", "'val_roc_auc'",
                       "not a metric of a 3-class classification run", "val_f1_macro")
    assert "val_average_precision" not in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("data", ["{source: moons}", "{source: blobs, n_classes: 2}"])
def test_a_two_class_monitor_on_a_two_class_source_is_accepted(tmp_path, data):
    config = write_config(tmp_path, f"data: {data}\n"
                          "train: {checkpoint: {monitor: val_average_precision}}\n")
    result = run("config", "show", config)
    assert_ok(result)
    assert "monitor: val_average_precision" in result.output


def test_a_plateau_schedule_monitor_is_checked_too(tmp_path):
    result = run("config", "show", write_config(tmp_path, "schedule: {kind: plateau, monitor: "
                                                "loss}\n"))
    assert_clean_error(result, "schedule.monitor (line 1)", "'loss' is not a metric")


@pytest.mark.parametrize("key", ["path", "train_path", "test_path"])
def test_a_file_path_given_to_a_synthetic_source_is_an_error(tmp_path, key):
    config = write_config(tmp_path, f"data: {{source: spiral, {key}: points.csv}}\n")
    result = run("config", "show", config)
    assert_clean_error(result, f"data.{key} (line 1)", "spiral is generated from the seed",
                       "csv, npz or idx")
    by_override = run("train", write_config(tmp_path, "data: {source: moons}\n", "m.yaml"),
                      f"data.{key}=x.csv")
    assert_clean_error(by_override, f"data.{key} (from override", "moons is generated")


def test_fashion_mnist_pointed_at_mnist_files_is_refused(tmp_path, monkeypatch):
    """The sets' headers and sizes are identical: the labels files' SHA-256 tell them apart.
    Here MNIST's sums are those of a tiny set written to a folder given as fashion-mnist."""
    files = tiny_set_files()
    monkeypatch.setitem(named.IMAGE_SETS, "mnist", tiny_set_spec(files, with_sums=True))
    monkeypatch.setenv("MLPTRAIN_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, data in files.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))
    config = write_config(tmp_path, f"data: {{source: fashion-mnist, path: {folder}, "
                          "download: false}\n")
    result = run("train", config, "--out", tmp_path / "runs")
    assert_clean_error(result, "train-labels-idx1-ubyte.gz", "is mnist's train labels file",
                       "not fashion-mnist's", "data.source: mnist")
    assert not (tmp_path / "runs").exists()


MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.mark.skipif(not MNIST.is_dir(), reason="the shared MNIST files are not on this machine")
@pytest.mark.parametrize("source", ["fashion-mnist", "kmnist"])
def test_the_real_mnist_files_are_refused_as_another_set(tmp_path, source):
    config = write_config(tmp_path, f"data: {{source: {source}, path: {MNIST}, download: false}}\n")
    result = run("train", config, "--out", tmp_path / "runs")
    assert_clean_error(result, "is mnist's train labels file", f"not {source}'s")


# ---- predict messages ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory) -> Path:
    """A run on a CSV with named feature columns a, b, c and a target column 'kind'."""
    root = tmp_path_factory.mktemp("csv-run")
    rows = [f"{i % 7 / 7:.3f},{i % 5 / 5:.3f},{i % 3 / 3:.3f},{'yes' if i % 2 else 'no'}"
            for i in range(60)]
    path = root / "train.csv"
    path.write_text("a,b,c,kind\n" + "\n".join(rows) + "\n")
    return train_run(root, data={"source": "csv", "path": str(path), "target": "kind"},
                     train={"epochs": 1})


def test_predict_names_the_missing_feature_column_not_the_target(csv_run, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("a,b\n0.1,0.2\n")
    result = run("predict", csv_run, source)
    assert_clean_error(result, "in.csv", "has no feature column 'c'", "a, b, c")
    assert "target" not in result.output
    wider = tmp_path / "wide.csv"
    wider.write_text("a,b,kind\n0.1,0.2,yes\n")  # the target is there, a feature is not
    assert_clean_error(run("predict", csv_run, wider), "has no feature column 'c'")


def test_predict_on_a_headerless_file_of_too_few_columns_says_how_many_it_needs(csv_run, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("0.1,0.2\n")
    result = run("predict", csv_run, source)
    assert_clean_error(result, "has 2 columns; the model expects 3 feature columns")
    assert "target" not in result.output


def test_predict_on_a_nan_does_not_suggest_a_setting_it_does_not_take(csv_run, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("a,b,c\n0.1,nan,0.3\n")
    result = run("predict", csv_run, source)
    assert_clean_error(result, "in.csv", "row 2", "'b' is nan", "fill or remove those rows")
    assert "nan_policy" not in result.output
    source.write_text("a,b,c\n0.1,0.2,0.3\n")
    assert assert_ok(run("predict", csv_run, source)).splitlines()[0] == "prediction"
