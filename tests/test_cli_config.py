"""The CLI on configs: `config show`, `config schema`, overrides, and every bad-config path.

Each bad config must end with exit code 2, a short message naming the file and the key,
and no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlptrain.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def write(tmp_path: Path, text: str | bytes, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def assert_clean_error(result, *fragments: str, code: int = 2) -> None:
    output = result.output  # stdout and stderr, interleaved
    assert result.exit_code == code, output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) <= 4, output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in {output!r}"


BAD_CONFIGS = [
    # (id, yaml text, overrides, fragments expected in the message)
    ("unknown-top-key", "optimzer: {lr: 0.1}\n", [], ["unknown key 'optimzer'", "did you mean 'optimizer'"]),
    ("unknown-nested-key", "optimizer: {lrr: 0.1}\n", [], ["optimizer.lrr", "did you mean 'lr'"]),
    ("negative-lr", "optimizer:\n  lr: -0.1\n", [], ["optimizer.lr", "line 2", "must be > 0", "-0.1"]),
    ("batch-size-zero", "train: {batch_size: 0}\n", [], ["train.batch_size", "must be >= 1"]),
    ("dropout-too-big", "model: {dropout: 1.5}\n", [], ["model.dropout", "must be < 1", "1.5"]),
    ("layer-of-size-zero", "model: {hidden: [64, 0]}\n", [], ["model.hidden.1", "must be >= 1"]),
    ("hidden-not-a-list", "model: {hidden: 64}\n", [], ["model.hidden", "list"]),
    ("wrong-type-epochs", "train: {epochs: many}\n", [], ["train.epochs", "integer", "many"]),
    ("unknown-activation", "model: {activation: relu6}\n", [], ["model.activation", "relu6"]),
    ("unknown-optimizer", "optimizer: {kind: lion}\n", [], ["optimizer.kind", "'lion'", "sgd"]),
    ("unknown-source", "data: {source: cifar}\n", [], ["data.source", "'cifar'", "mnist"]),
    ("softmax-with-mse", "model: {output: softmax}\nloss: mse\n", [], ["'mse' does not fit output 'softmax'"]),
    ("ce-on-regression", "data: {source: sine}\nloss: cross_entropy\n", [], ["needs class labels", "regression"]),
    ("activation-list-length", "model: {hidden: [8, 8], activation: [relu]}\n", [], ["1 activations for 2 hidden layers"]),
    ("csv-without-path", "data: {source: csv}\n", [], ["data.source 'csv' needs data.path"]),
    ("val-fraction-one", "data: {val_fraction: 1.0}\n", [], ["data.val_fraction", "must be < 1"]),
    ("name-with-slash", "name: ../escape\n", [], ["name", "letters, digits"]),
    ("template-escape", "run: {name_template: '../{name}'}\n", [], ["run.name_template", "single folder name"]),
    ("template-unknown-field", "run: {name_template: '{user}-{name}'}\n", [], ["run.name_template", "{name}"]),
    ("not-a-mapping", "- just\n- a list\n", [], ["must be a mapping"]),
    ("empty-file", "", [], ["is empty"]),
    ("syntax-error", "model: {hidden: [64, 32}\n", [], ["line 1", "column"]),
    ("tab-indent", "model:\n\thidden: [3]\n", [], ["line 2", "tabs"]),
    ("duplicate-key", "seed: 1\nseed: 2\n", [], ["duplicate key 'seed'", "line 2", "line 1"]),
    ("python-tag", "seed: !!python/object/apply:os.system ['echo pwned']\n", [], ["is not allowed"]),
    ("billion-laughs",
     "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n", [], ["expands to more than"]),
    ("override-unknown-key", "seed: 0\n", ["optimizer.lrr=0.1"], ["optimizer.lrr", "from override", "did you mean 'lr'"]),
    ("override-bad-value", "seed: 0\n", ["train.batch_size=-3"], ["train.batch_size", "from override", "must be >= 1"]),
    ("override-no-equals", "seed: 0\n", ["optimizer.lr"], ["not of the form key.path=value"]),
    ("override-into-scalar", "seed: 0\n", ["seed.x=1"], ["seed is a int, not a section"]),
    ("negative-weight-decay", "optimizer: {weight_decay: -1}\n", [], ["optimizer.weight_decay", "must be >= 0"]),
    ("key-with-record-separator", 'optimizer: {"lr\\x1e": 1, "lr\\u2028": 2}\n', [],
     ["unknown key 'optimizer.lr\\x1e'", "unknown key 'optimizer.lr\\u2028'"]),
    ("betas-out-of-range", "optimizer: {betas: [0.9, 1.5]}\n", [], ["optimizer.betas.1", "must be < 1"]),
]


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_a_clean_exit_2_for_config_show(tmp_path, case):
    _, text, overrides, fragments = case
    path = write(tmp_path, text)
    result = run("config", "show", path, *overrides)
    named = [] if overrides else [str(path)]  # an override's error names the override instead
    assert_clean_error(result, *named, *fragments)


@pytest.mark.parametrize("case", BAD_CONFIGS[:8], ids=[c[0] for c in BAD_CONFIGS[:8]])
def test_bad_config_is_a_clean_exit_2_for_train_and_writes_nothing(tmp_path, case):
    _, text, overrides, fragments = case
    path = write(tmp_path, text + f"run: {{root: {tmp_path / 'runs'}}}\n" if "run:" not in text else text)
    result = run("train", path, *overrides)
    assert_clean_error(result, *fragments)
    assert not (tmp_path / "runs").exists()


def test_missing_config_file_names_the_file(tmp_path):
    result = run("config", "show", tmp_path / "nope.yaml")
    assert_clean_error(result, "nope.yaml", "no such file")


def test_config_that_is_a_directory_is_refused(tmp_path):
    result = run("config", "show", tmp_path)
    assert_clean_error(result, "is a directory")


def test_non_utf8_config_is_refused(tmp_path):
    path = write(tmp_path, b"seed: 0\nname: \xff\xfe\n")
    assert_clean_error(run("config", "show", path), "not valid UTF-8")


def test_train_without_config_or_resume_is_a_clean_error():
    assert_clean_error(run("train"), "missing CONFIG")


def test_debug_flag_shows_the_traceback(tmp_path):
    path = write(tmp_path, "optimizer: {lr: -1}\n")
    result = run("config", "show", path, "--debug")
    assert result.exit_code != 0
    assert result.exception is not None
    assert type(result.exception).__name__ == "ConfigError"


def test_config_show_fills_every_default(tmp_path):
    path = write(tmp_path, "data: {source: spiral}\nmodel: {hidden: [16]}\n")
    result = run("config", "show", path)
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert shown["model"]["hidden"] == [16]
    assert shown["optimizer"]["lr"] == pytest.approx(0.001)
    assert shown["loss"]["kind"] == "cross_entropy"  # resolved from the classification source
    assert shown["model"]["output"] == "softmax"
    assert set(shown) == {"name", "seed", "data", "model", "loss", "optimizer", "schedule", "train", "run"}


def test_config_show_applies_typed_overrides_both_ways(tmp_path):
    path = write(tmp_path, "data: {source: spiral}\n")
    result = run("config", "show", path, "optimizer.lr=0.05", "--set", "model.hidden=[8, 4]",
                 "-s", "train.early_stopping={patience: 3}")
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert shown["optimizer"]["lr"] == 0.05
    assert shown["model"]["hidden"] == [8, 4]
    assert shown["train"]["early_stopping"]["patience"] == 3
    assert shown["train"]["early_stopping"]["monitor"] == "val_loss"


def test_regression_source_resolves_identity_output_and_mse(tmp_path):
    path = write(tmp_path, "data: {source: sine}\n")
    shown = yaml.safe_load(run("config", "show", path).output)
    assert (shown["loss"]["kind"], shown["model"]["output"], shown["data"]["task"]) == (
        "mse", "identity", "regression")


def test_resolved_config_round_trips_through_show(tmp_path):
    path = write(tmp_path, "data: {source: moons}\nloss: {kind: cross_entropy, class_weight: balanced}\n")
    first = run("config", "show", path).output
    again = run("config", "show", write(tmp_path, first, "again.yaml")).output
    assert first == again


def test_config_schema_is_valid_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    result = run("config", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "optimizer" in schema["properties"]
    validator = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load((REPO / "configs" / "spiral.yaml").read_text())
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors({"optimizer": {"lr": "fast"}}))


def json_schema_validator():
    """A validator of the schema `mlptrain config schema` prints (what an editor is given)."""
    jsonschema = pytest.importorskip("jsonschema")
    result = run("config", "schema")
    assert result.exit_code == 0, result.output
    return jsonschema.Draft202012Validator(json.loads(result.output))


def schema_errors(validator, value) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_and_its_resolved_form_validate_against_the_json_schema(config):
    validator = json_schema_validator()
    assert schema_errors(validator, yaml.safe_load(config.read_text())) == []
    shown = run("config", "show", config)
    assert shown.exit_code == 0, shown.output
    assert schema_errors(validator, yaml.safe_load(shown.output)) == []


@pytest.mark.parametrize("loss", ["mse", {"kind": "huber", "huber_delta": 2.0}])
def test_the_json_schema_takes_the_loss_shorthand_and_the_section(loss):
    assert schema_errors(json_schema_validator(), {"loss": loss}) == []


@pytest.mark.parametrize("loss", ["squared", 3, {"kind": "squared"}, {"knd": "mse"}])
def test_the_json_schema_rejects_what_the_loader_rejects_for_loss(loss, tmp_path):
    assert schema_errors(json_schema_validator(), {"loss": loss})
    path = write(tmp_path, yaml.safe_dump({"loss": loss}))
    assert run("config", "show", path).exit_code == 2


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(config):
    result = run("config", "show", config)
    assert result.exit_code == 0, result.output


def test_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("train", "eval", "gradcheck", "config"):
        assert command in result.output


@pytest.mark.parametrize("command", [["train"], ["eval"], ["gradcheck"], ["config", "show"], ["config", "schema"]])
def test_every_command_help_has_an_example(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output
    assert "mlptrain " in result.output


def test_version_flag_prints_the_version():
    from mlptrain import __version__

    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"mlptrain {__version__}"


def test_readme_config_reference_matches_the_schema():
    from mlptrain.config.reference import markdown_reference

    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- config-reference:start -->\n") + len("<!-- config-reference:start -->\n")
    end = readme.index("<!-- config-reference:end -->")
    assert readme[start:end] == markdown_reference(), "regenerate: mlptrain config reference"
