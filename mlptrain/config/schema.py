"""The experiment config: names, types, ranges and defaults of every field.

A config naming only `data.source` and `model.hidden` trains well: every other field has a
default chosen for that. Each field's `description` is its documentation; it flows into
`mlptrain config schema` (JSON Schema, for editors) and into the README's config reference.

Choices left as `auto` (the output activation, the loss, the initializer, the task) are
resolved from each other and from the data source, so that a regression source gets an
identity output and `mse`, a classification source `softmax` and `cross_entropy`.
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from mlptrain.config.from_registry import kind_literal, kinds_sentence, param_fields
from mlptrain.nn.activations import ACTIVATIONS, OUTPUTS, default_init_sentence
from mlptrain.nn.initializers import INITIALIZERS
from mlptrain.nn.losses import LOSSES
from mlptrain.optim.optimizers import OPTIMIZERS
from mlptrain.optim.schedules import SCHEDULES
from mlptrain.registry import shorthand
from mlptrain.threads import AUTO_ONE_THREAD_BELOW

SYNTHETIC_SOURCES = ("spiral", "xor", "moons", "circles", "blobs", "sine")
IMAGE_SOURCES = ("mnist", "fashion-mnist", "kmnist")
FILE_SOURCES = ("csv", "npz", "idx")
SOURCES = SYNTHETIC_SOURCES + IMAGE_SOURCES + FILE_SOURCES
REGRESSION_SOURCES = ("sine",)

# The names of activations, outputs, losses, initializers, optimizers and schedules, and their
# parameters, come from the registries (mlptrain/registry.py): adding one there adds it here.
Activation = kind_literal(ACTIVATIONS)
Output = Literal[("auto", *OUTPUTS)]  # type: ignore[valid-type]
LossKind = kind_literal(LOSSES, "auto")
Init = kind_literal(INITIALIZERS, "auto", aliases=True)
Source = Literal[SOURCES]  # type: ignore[valid-type]
MonitorMode = Literal["auto", "min", "max"]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
PositiveInt = Annotated[int, Field(ge=1)]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TEMPLATE_FIELDS = ("name", "timestamp", "seed")


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated,
    floats must be finite (a NaN or infinite hyper-parameter validates but cannot train)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """`epochs: true` is a mistake, not 1 (pydantic's lax mode would take it as 1)."""
        field = cls.model_fields[str(info.field_name)]
        if isinstance(value, bool) and not _admits_bool(field.annotation):
            raise ValueError(f"must not be a boolean, got {value!r}")
        _check_plain_values(value)
        return value


def _default(section: type[Section]) -> Any:
    """A section's all-defaults value, for `default_factory`."""
    return lambda: section.model_validate({})


MAX_INT = 2**63 - 1  # every integer of a config fits in int64 (numpy, JSON, the RNG seed)


def _check_plain_values(value: Any, depth: int = 0) -> None:
    """Refuse integers beyond int64 and text no file system or terminal can take (a NUL
    byte, a lone surrogate), wherever they stand in a value (lists included)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        raise ValueError(f"must be an integer of at most 19 digits (|value| <= {MAX_INT})")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid text (it holds a lone surrogate)") from None
    if isinstance(value, (list, tuple)) and depth < 4:
        for item in value:
            _check_plain_values(item, depth + 1)


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any or annotation is True:
        return True
    return any(_admits_bool(arg) for arg in getattr(annotation, "__args__", ()))


class DataConfig(Section):
    """Where the data comes from, how it is split and how it is preprocessed."""

    source: Source = Field(
        "spiral",
        description="Dataset: synthetic (spiral, xor, moons, circles, blobs, sine), named image "
        "sets in IDX format (mnist, fashion-mnist, kmnist) or a file (csv, npz, idx).",
    )
    path: str | None = Field(
        None,
        description="File or folder of the data; relative to the config file's folder (given "
        "on the command line: to the working directory). For named sets, null searches "
        "$MLPTRAIN_DATA, ./data/<name>/ and the user cache, then downloads.",
    )
    task: Literal["auto", "classification", "regression", "multilabel"] = Field(
        "auto",
        description="What the targets are. auto: from the source (sine is regression), for "
        "files from the loss, else from the targets (integer or string labels: classification).",
    )
    target: str | int | list[str | int] | None = Field(
        None,
        description="CSV target column(s), by header name or 0-based index; null: the last "
        "column. Several columns make a multi-output regression or multi-label target.",
    )
    features: list[str | int] | None = Field(
        None, description="CSV feature columns by name or index; null: every non-target column."
    )
    header: Literal["auto", True, False] = Field(
        "auto", description="Whether the CSV's first row is a header; auto: detected."
    )
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV field delimiter.")
    x_key: str = Field("X", min_length=1, description="NPZ array holding the features.")
    y_key: str = Field("y", min_length=1, description="NPZ array holding the targets.")
    train_path: str | None = Field(
        None, description="An explicit training file (csv/npz/idx images); overrides `path`."
    )
    val_path: str | None = Field(
        None, description="An explicit validation file; when set, val_fraction is not used."
    )
    test_path: str | None = Field(
        None, description="An explicit test file; when set, test_fraction is not used."
    )
    val_fraction: Fraction = Field(
        0.1, description="Share of the training data held out for validation (stratified for "
        "classification, seeded). 0 disables validation.",
    )
    test_fraction: Fraction = Field(
        0.2, description="Share held out for testing when the source has no test split of its "
        "own (synthetic sets, single files). Named image sets use their official test split.",
    )
    stratify: bool = Field(True, description="Stratify the splits by class (classification).")
    scale: Literal["minmax", "standard", "none"] = Field(
        "standard",
        description="Feature scaling fitted on the training split only: minmax to [0, 1], "
        "standard (zero mean, unit variance) or none. Image sets use one statistic over all pixels.",
    )
    target_scale: Literal["standard", "minmax", "none"] = Field(
        "standard",
        description="Regression: scaling of each target column, fitted on the training split "
        "only; the loss sees scaled targets, metrics and predictions are in the targets' own "
        "units. standard (zero mean, unit variance), minmax to [0, 1] (use it with a sigmoid "
        "output) or none.",
    )
    categorical: list[str | int] | None = Field(
        None,
        description="CSV feature columns to one-hot encode, by name or index (numbers too: a "
        "code, a zip); columns holding text are encoded without being named here. Categories "
        "are learned on the training split; a missing value is a category of its own.",
    )
    max_categories: int = Field(
        100, ge=2, le=10000,
        description="Most distinct values a categorical column may have (else an error).",
    )
    unknown_category: Literal["warn", "error"] = Field(
        "warn",
        description="A category not seen in training (eval, predict, val/test rows): all-zero "
        "one-hot columns with a warning, or an error.",
    )
    decision_threshold: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Binary classification: predict the second class when its probability is "
        "at least this (eval and predict; predict --threshold overrides it).",
    )
    nan_policy: Literal["error", "drop"] = Field(
        "error", description="Rows with NaN or infinite values: an error, or dropped."
    )
    n_samples: PositiveInt = Field(
        1500, description="Synthetic sets: number of samples generated (all splits together)."
    )
    n_classes: int = Field(
        3, ge=2, description="Synthetic sets: spiral arms or blob centres (xor, moons, circles: 2)."
    )
    n_features: int = Field(
        2, ge=1, le=1000, description="Synthetic blobs and sine: input dimension."
    )
    noise: float = Field(
        0.2, ge=0.0, description="Synthetic sets: noise level (std of the added Gaussian noise)."
    )
    mirrors: list[str] | None = Field(
        None,
        description="Base URLs tried in order to download named image sets; null: the "
        "well-known public mirrors.",
    )
    download: bool = Field(
        True, description="Download named image sets that are not found locally."
    )
    limit: PositiveInt | None = Field(
        None,
        description="Use only the first N training samples (quick experiments); null: all.",
    )

    @model_validator(mode="after")
    def _file_sources_need_a_file(self) -> DataConfig:
        if self.source in FILE_SOURCES and self.path is None and self.train_path is None:
            raise ValueError(
                f"data.source {self.source!r} needs data.path (or data.train_path) to name a file"
            )
        return self


def _one_or_list(item: Any) -> Any:
    """``item | list[item]`` for a type built at run time."""
    return item | list.__class_getitem__(item)


def _init_names() -> str:
    names = [e.name + (f" ({', '.join(e.aliases)})" if e.aliases else "")
             for e in INITIALIZERS.entries()]
    return f"{', '.join(names[:-1])} or {names[-1]}"


_MODEL_FIELDS: dict[str, Any] = {
    "hidden": (list[PositiveInt], Field(
        default_factory=lambda: [64, 64],
        description="Hidden layer widths, input to output; [] is a model with no hidden layer "
        "(logistic or softmax regression).",
    )),
    "activation": (_one_or_list(Activation), Field(
        "relu",
        description=f"Hidden activation, {kinds_sentence(ACTIVATIONS)}: one name for every "
        "hidden layer, or a list with one per hidden layer.",
    )),
    **param_fields(ACTIVATIONS),
    "output": (Output, Field(
        "auto",
        description="Output activation: softmax, sigmoid or identity; auto: matched to the loss.",
    )),
    "init": (Init, Field(
        "auto", description=f"Weight initialization, {_init_names()}; auto: "
        f"{default_init_sentence()}."
    )),
    **param_fields(INITIALIZERS),
    "bias_init": (float, Field(0.0, description="Constant initial value of every bias.")),
    "dropout": (Fraction, Field(
        0.0, description="Inverted-dropout rate after each hidden activation (0 disables)."
    )),
    "input_dropout": (Fraction, Field(
        0.0, description="Inverted-dropout rate on the input features (0 disables)."
    )),
    "batchnorm": (bool, Field(
        False,
        description="Batch normalization after each hidden dense layer, before its activation "
        "(eps 1e-5, momentum 0.1, as PyTorch).",
    )),
    "dtype": (Literal["float32", "float64"], Field(
        "float32", description="Floating-point type of parameters and computation."
    )),
}
_ModelFields: Any = create_model("ModelConfig", __base__=Section, **_MODEL_FIELDS)


class ModelConfig(_ModelFields):
    """The network: layer sizes, activations, initialization and regularization layers (the
    parameters of the registered activations and initializers included)."""

    if TYPE_CHECKING:  # the fields are generated: each is Any to the type checker
        def __getattr__(self, name: str) -> Any: ...

    @model_validator(mode="after")
    def _one_activation_per_hidden_layer(self) -> ModelConfig:
        if isinstance(self.activation, list) and len(self.activation) != len(self.hidden):
            raise ValueError(
                f"model.activation lists {len(self.activation)} activations for "
                f"{len(self.hidden)} hidden layers; give one per hidden layer, or a single name"
            )
        return self


def _loss_kinds() -> str:
    kinds = [f"{e.name} ({' or '.join(e.cls.outputs)})" for e in LOSSES.entries()]
    return f"{', '.join(kinds[:-1])} or {kinds[-1]}; auto: from the task."


_LossFields: Any = create_model("LossConfig", __base__=Section, **{
    "kind": (LossKind, Field("auto", description=_loss_kinds())),
    "class_weight": (Literal["balanced"] | list[Annotated[float, Field(ge=0.0)]] | None, Field(
        None,
        description="Classification losses: per-class weights, or balanced (n / (k * count)).",
    )),
    **param_fields(LOSSES),
})


class LossConfig(_LossFields):
    """The training loss. In YAML, `loss: mse` is shorthand for `loss: {kind: mse}`."""

    if TYPE_CHECKING:  # the fields are generated: each is Any to the type checker
        def __getattr__(self, name: str) -> Any: ...


_OPTIMIZER_FIELDS: dict[str, Any] = {
    "kind": (kind_literal(OPTIMIZERS), Field("adam", description=kinds_sentence(OPTIMIZERS) + ".")),
    "lr": (float, Field(0.001, gt=0.0, le=100.0, description="Base learning rate.")),
    **param_fields(OPTIMIZERS),
    "clip_norm": (float | None, Field(
        None, gt=0.0, description="Clip gradients to this global L2 norm; null disables.")),
}
_OptimizerFields: Any = create_model("OptimizerConfig", __base__=Section, **_OPTIMIZER_FIELDS)


class OptimizerConfig(_OptimizerFields):
    """The optimizer and its hyper-parameters: `kind`, `lr`, `clip_norm` and one field per
    parameter of the registered optimizers (optim/optimizers.py, `OPTIMIZERS`)."""

    if TYPE_CHECKING:  # the fields are generated: each is Any to the type checker
        def __getattr__(self, name: str) -> Any: ...


_ScheduleFields: Any = create_model("ScheduleConfig", __base__=Section, **{
    "kind": (kind_literal(SCHEDULES), Field(
        "constant", description=kinds_sentence(SCHEDULES) + ".")),
    **param_fields(SCHEDULES),
})


class ScheduleConfig(_ScheduleFields):
    """How the learning rate changes over training (fractional epochs: updated every step):
    `kind` and one field per parameter of the registered schedules (optim/schedules.py,
    `SCHEDULES`)."""

    if TYPE_CHECKING:  # the fields are generated: each is Any to the type checker
        def __getattr__(self, name: str) -> Any: ...


class EarlyStoppingConfig(Section):
    """Stop when the monitored metric has not improved for `patience` evaluations."""

    monitor: str = Field("val_loss", description="Metric watched, e.g. val_loss or val_accuracy.")
    mode: MonitorMode = Field(
        "auto", description="min or max; auto: max for accuracy/r2, min otherwise."
    )
    patience: int = Field(10, ge=1, description="Evaluations without improvement before stopping "
                          "(once early stopping is on).")
    min_delta: float = Field(0.0, ge=0.0, description="Smallest change that counts as improvement.")


class CheckpointConfig(Section):
    """Which checkpoints are written: always `last` and `best`, optionally periodic ones, and
    how often `last` goes to disk."""

    monitor: str = Field("val_loss", description="Metric that decides the `best` checkpoint.")
    mode: MonitorMode = Field("auto", description="min or max; auto: from the metric.")
    every: int = Field(
        0, ge=0, description="Also keep a checkpoint every N epochs (0: only last and best)."
    )
    keep_last: PositiveInt = Field(
        3, description="How many periodic checkpoints to keep (oldest deleted first)."
    )
    min_interval_s: float = Field(
        5.0, ge=0.0,
        description="Write `last` at most every this many seconds of wall time (0: after every "
        "epoch), and always after the first epoch, at the end, on Ctrl-C/SIGTERM, before an "
        "early stop and with a periodic checkpoint; `best` is kept in memory until then. A "
        "SIGKILL loses at most this much plus one epoch; --resume replays it exactly.",
    )


class TrainConfig(Section):
    """The training loop."""

    epochs: PositiveInt = Field(30, description="Maximum number of passes over the training set.")
    batch_size: PositiveInt = Field(64, description="Mini-batch size.")
    shuffle: bool = Field(True, description="Reshuffle the training set every epoch (seeded).")
    drop_last: bool = Field(False, description="Drop the last partial batch of each epoch.")
    eval_every: int = Field(
        0, ge=0, description="Evaluate on validation every N steps too (0: once per epoch)."
    )
    early_stopping: EarlyStoppingConfig | None = Field(
        None, description="Early stopping: off by default (null); giving the section, even "
        "{} or only a monitor, turns it on with the defaults below.",
    )
    checkpoint: CheckpointConfig = Field(
        default_factory=_default(CheckpointConfig), description="Checkpoint policy."
    )
    divergence_factor: float = Field(
        1e3, gt=1.0,
        description="Stop as diverged when the training loss exceeds this multiple of its "
        "first value (NaN or infinite losses always stop).",
    )
    threads: PositiveInt | Literal["auto"] | None = Field(
        "auto",
        description="BLAS threads of the training process: a count; null: every core; auto: "
        "one thread when a training step's matrix products come to under "
        f"{AUTO_ONE_THREAD_BELOW / 1e6:g} MFLOP (2 x batch x (2 x the sum of fan_in x fan_out "
        "over the layers + the same sum without the first layer)), where a second thread does "
        "not pay off, else every core that other processes did not keep busy as the run "
        "started (/proc/stat). A run's config.yaml records the count auto chose, its "
        "train.log why; the count does not change during the run (with float32 another "
        "count changes the bits).",
    )


class RunConfig(Section):
    """Where the run directory goes and how it is named."""

    root: str = Field("runs", min_length=1, description="Folder that holds the run directories.")
    name_template: str = Field(
        "{name}-{timestamp}",
        description="Run directory name; fields {name}, {timestamp}, {seed}. Must stay inside "
        "the root (no '/', no '..').",
    )
    tensorboard: bool = Field(
        False,
        description="Also write TensorBoard event files to RUN/tb/ (every metric, per-layer "
        "statistics and histograms, the config); needs pip install 'mlptrain[tensorboard]'.",
    )

    @field_validator("name_template")
    @classmethod
    def _template_stays_inside_root(cls, template: str) -> str:
        if "/" in template or "\\" in template or ".." in template or template in ("", "."):
            raise ValueError(f"must be a single folder name (no '/', '\\' or '..'), got {template!r}")
        allowed = ", ".join("{" + f + "}" for f in _TEMPLATE_FIELDS)
        try:
            fields = list(string.Formatter().parse(template))
        except ValueError as err:
            raise ValueError(f"is not a valid template {template!r} ({err})") from None
        for _, name, spec, conversion in fields:
            if name is not None and name not in _TEMPLATE_FIELDS:
                raise ValueError(f"unknown field {{{name}}} in {template!r}; allowed: {allowed}")
            if spec or conversion:
                raise ValueError(f"field {{{name}}} in {template!r} may not have a format spec "
                                 "or conversion")
        return template


def _or_kind_shorthand(schema: dict[str, Any], kinds: Any) -> None:
    """The JSON Schema of a section that a bare kind name may stand for (`loss: mse` is
    `loss: {kind: mse}`, see `_loss_name_is_shorthand`): the section's schema or that name."""
    section = {"$ref": schema.pop("$ref")} if "$ref" in schema else {"type": "object"}
    schema["anyOf"] = [section, {"type": "string", "enum": list(get_args(kinds))}]


class ExperimentConfig(Section):
    """One experiment: data, model, loss, optimizer, schedule, training loop and run output."""

    name: str = Field(
        "experiment", description="Experiment name, used in the run directory name."
    )
    seed: int = Field(
        0, ge=0, le=MAX_INT, description="Seed of every random draw (data, init, shuffling)."
    )
    data: DataConfig = Field(default_factory=_default(DataConfig), description="Data section.")
    model: ModelConfig = Field(default_factory=_default(ModelConfig), description="Model section.")
    loss: LossConfig = Field(
        default_factory=_default(LossConfig), description="Loss: a name, or {kind, class_weight, huber_delta}.",
        json_schema_extra=lambda schema: _or_kind_shorthand(schema, LossKind),
    )
    optimizer: OptimizerConfig = Field(
        default_factory=_default(OptimizerConfig), description="Optimizer section."
    )
    schedule: ScheduleConfig = Field(
        default_factory=_default(ScheduleConfig), description="Learning-rate schedule section."
    )
    train: TrainConfig = Field(default_factory=_default(TrainConfig), description="Training-loop section.")
    run: RunConfig = Field(default_factory=_default(RunConfig), description="Run-directory section.")

    @field_validator("name")
    @classmethod
    def _name_is_a_safe_folder_name(cls, name: str) -> str:
        if not _SAFE_NAME.match(name) or len(name) > 100:
            raise ValueError(
                "must be 1-100 characters of letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit, got {name!r}"
            )
        return name

    @field_validator("loss", mode="before")
    @classmethod
    def _loss_name_is_shorthand(cls, value: Any) -> Any:
        return shorthand(value)

    @model_validator(mode="after")
    def _resolve_task_loss_and_output(self) -> ExperimentConfig:
        resolve_task_loss_output(self)
        return self

    @model_validator(mode="after")
    def _warmup_ends_before_training_does(self) -> ExperimentConfig:
        schedule, epochs = self.schedule, self.train.epochs
        if schedule.kind == "cosine" and schedule.warmup_epochs >= epochs:
            raise ValueError(
                f"schedule.warmup_epochs ({schedule.warmup_epochs:g}) must be below "
                f"train.epochs ({epochs}): a cosine warm-up has to end before training does"
            )
        return self


def resolve_task_loss_output(cfg: ExperimentConfig) -> None:
    """Fill `data.task`, `loss.kind` and `model.output` from each other where they are auto,
    with what each registered loss declares (`outputs`, `task`, `default_for`).

    Raises ValueError for pairings that make no sense (softmax output with mse, ...).
    """
    data, loss, model = cfg.data, cfg.loss, cfg.model
    task: str = data.task
    if task == "auto" and data.source in SYNTHETIC_SOURCES + IMAGE_SOURCES:
        task = "regression" if data.source in REGRESSION_SOURCES else "classification"
    if task == "auto" and loss.kind != "auto":
        task = LOSSES[loss.kind].task
        if task == "regression" and model.output == "sigmoid":
            task = "auto"  # a sigmoid + mse network may fit labels or probabilities
    kind = loss.kind
    if kind == "auto" and model.output != "auto":
        kind = _first_loss(lambda cls: cls.outputs[0] == model.output)
    if kind == "auto" and task != "auto":
        kind = _first_loss(lambda cls: task in cls.default_for)
    output = model.output
    if output == "auto" and kind != "auto":
        output = LOSSES[kind].outputs[0]
    if kind != "auto" and output != "auto" and output not in LOSSES[kind].outputs:
        raise ValueError(
            f"loss {kind!r} does not fit output {output!r}; {kind} takes output "
            + " or ".join(LOSSES[kind].outputs)
        )
    regression_loss = kind != "auto" and LOSSES[kind].task == "regression"
    if task == "regression" and kind != "auto" and not regression_loss:
        raise ValueError(f"loss {kind!r} needs class labels, but data.task is regression")
    if task in ("classification", "multilabel") and regression_loss and output != "sigmoid":
        raise ValueError(
            f"loss {kind!r} with output {output!r} is a regression setup, but data.task is "
            f"{task}; use cross_entropy (softmax) or binary_cross_entropy (sigmoid)"
        )
    # Bypass validate_assignment: the values were checked above.
    object.__setattr__(data, "task", task)
    object.__setattr__(loss, "kind", kind)
    object.__setattr__(model, "output", output)


def _first_loss(fits: Any) -> str:
    """The first registered loss whose class `fits`, else auto."""
    return next((e.name for e in LOSSES.entries() if fits(e.cls)), "auto")
