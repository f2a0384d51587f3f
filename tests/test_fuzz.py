"""Fuzzing (hypothesis): no input reaches "internal error".

Generated configs, override strings, CSV / NPZ / IDX files, mutated checkpoints and mutated
run-directory files go through the library entry points the CLI calls (in-process, so that
hundreds of examples take seconds). Each call must end in success or in an error the CLI turns
into exit 2 (or 1): an `MlptrainError` or an `OSError` with a message of at most four lines.
Anything else is what `mlptrain` reports as exit 3, "internal error", and fails the test with
the input that caused it.

The default run does ~50 examples per target (a few hundred in all, a few seconds); the
`slow` run (CI runs it) does `SLOW_EXAMPLES` per target, 10,000+ in all: see the README of the
tests in the closing note of issue 15 for its duration (measured: see test_fuzz_slow_* below).
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from corpus_helpers import read_safetensors, safetensors_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlptrain.config import apply_overrides, validate_config
from mlptrain.errors import MlptrainError
from mlptrain.experiment import start_run

FAST_EXAMPLES = 50
SLOW_EXAMPLES = 1500  # x 7 targets = 10,500 examples
COMMON = {"deadline": None, "database": None, "derandomize": True,
          "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                    HealthCheck.filter_too_much]}


def exit_code_of(call) -> int:
    """The exit code the CLI's error boundary gives to what `call()` raises (0: nothing)."""
    try:
        call()
    except MlptrainError as err:
        assert len(str(err).strip().splitlines()) <= 4, str(err)
        assert str(err).strip(), "an error without a message"
        return err.exit_code
    except OSError:
        return 2
    return 0


def assert_no_internal_error(call) -> None:
    try:
        code = exit_code_of(call)
    except Exception as err:  # the CLI's "internal error (a bug in mlptrain)", exit 3
        raise AssertionError(f"exit 3: {type(err).__name__}: {err}") from err
    assert code in (0, 1, 2)


# ---- strategies ------------------------------------------------------------------------------------

HOSTILE_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -0.0, 1e-320, 1e308]),
    st.text(max_size=12),
    st.sampled_from(["\x00", "\ud800", "a\udcff", "../..", "/", "", "auto", "relu", "adam",
                     "cosine", "val_loss", "{name}", "{seed:>99}", "balanced", "csv", "spiral"]),
)
HOSTILE = st.recursive(HOSTILE_SCALARS,
                       lambda inner: st.one_of(st.lists(inner, max_size=4),
                                               st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                       max_leaves=6)
SECTION_KEYS = {
    "data": ["source", "n_samples", "n_classes", "n_features", "noise", "val_fraction",
             "test_fraction", "scale", "task", "limit", "path", "delimiter"],
    "model": ["hidden", "activation", "dropout", "input_dropout", "init", "init_scale",
              "bias_init", "batchnorm", "output", "leaky_slope", "dtype"],
    "loss": ["kind", "class_weight", "huber_delta"],
    "optimizer": ["kind", "lr", "momentum", "betas", "eps", "weight_decay", "clip_norm", "alpha"],
    "schedule": ["kind", "step_size", "gamma", "warmup_epochs", "min_lr", "decay", "power",
                 "factor", "patience", "monitor"],
    "train": ["epochs", "batch_size", "eval_every", "early_stopping", "divergence_factor",
              "drop_last", "shuffle"],
}


@st.composite
def raw_configs(draw):
    """A small spiral config with a few keys set to hostile (or plausible) values."""
    raw = {"name": "fuzz", "data": {"source": "spiral", "n_samples": 120},
           "model": {"hidden": [4]}, "train": {"epochs": 1, "batch_size": 32}}
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(SECTION_KEYS)))
        key = draw(st.sampled_from(SECTION_KEYS[section]))
        raw.setdefault(section, {})[key] = draw(HOSTILE)
    if draw(st.booleans()):
        raw[draw(st.sampled_from(["seed", "name", "bogus"]))] = draw(HOSTILE_SCALARS)
    return raw


def _small_enough(cfg) -> bool:
    """Train only what takes milliseconds: the fuzz looks for crashes, not for long runs."""
    d, m, t = cfg.data, cfg.model, cfg.train
    return (d.source in ("spiral", "xor", "moons", "circles", "blobs", "sine")
            and d.n_samples <= 400 and d.n_features <= 8 and d.n_classes <= 10
            and all(h <= 32 for h in m.hidden) and len(m.hidden) <= 3 and t.epochs <= 2
            and t.eval_every in (0, 1, 2, 3))


def _train_briefly(cfg, root: Path) -> None:
    if not _small_enough(cfg):
        return
    cfg.run.root = str(root)
    cfg.run.name_template = "{name}"
    try:
        start_run(cfg, argv=["fuzz"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_config(raw: dict, overrides: list[str] = ()) -> None:
    root = Path(tempfile.mkdtemp(prefix="fuzz-runs-"))

    def call():
        work = copy.deepcopy(raw)
        applied = apply_overrides(work, overrides)
        cfg = validate_config(work, source="fuzz.yaml", overrides=applied)
        from mlptrain.config import config_to_yaml

        config_to_yaml(cfg)
        _train_briefly(cfg, root)

    try:
        assert_no_internal_error(call)
    finally:
        shutil.rmtree(root, ignore_errors=True)


OVERRIDE_TEXT = st.one_of(
    st.text(alphabet=st.sampled_from(list("abcdefghijklmnoprstuvwxyz._=[]{}:,'\"!&*0123456789 -\\#")),
            max_size=40),
    st.builds(lambda k, v: f"{k}={v}",
              st.sampled_from([f"{s}.{k}" for s, keys in SECTION_KEYS.items() for k in keys]
                              + ["seed", "name", "data", "model.hidden.0", "loss", ".x", "a..b"]),
              st.one_of(st.text(max_size=20), st.sampled_from([
                  ".nan", ".inf", "-.inf", "1e999", "0x" + "f" * 40, "1:59:59", "!!binary aGk=",
                  "*x", "&a [*a]", "[" * 50, "'\\0'", '"\\ud800"', "{a: 1}", "[1, 2, 3]",
                  "null", "~", "yes", "2e64", "-0", "[0]", "[1000000000000]"]))),
)


# ---- data files -------------------------------------------------------------------------------------

CSV_CELLS = st.one_of(st.sampled_from(["1", "0", "-2.5", "nan", "inf", "", "NA", "?", "yes",
                                       "no", "1e309", "0x10", "été", '"', "a,b", " 3 "]),
                      st.text(max_size=6))


@st.composite
def csv_bytes(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(CSV_CELLS, min_size=width, max_size=width + draw(st.integers(0, 1))),
                         min_size=0, max_size=25))
    header = draw(st.booleans())
    lines = ([",".join(f"c{j}" for j in range(width))] if header else []) + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


NPY_DTYPES = ["<f4", "<f8", "|u1", "<i8", "|b1", "<c8", "<U3", "|O", "<f2", ">f8", "<M8[s]"]


@st.composite
def npz_bytes(draw):
    """A zip of .npy members: real arrays, or headers that lie about shape and dtype."""
    members = {}
    for key in draw(st.lists(st.sampled_from(["X", "y", "z"]), min_size=0, max_size=3, unique=True)):
        if draw(st.booleans()):
            shape = tuple(draw(st.lists(st.integers(0, 6), max_size=3)))
            dtype = draw(st.sampled_from(["f4", "f8", "u1", "i8", "U2", "c8", "b1"]))
            array = np.zeros(shape, dtype=dtype)
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            members[key + ".npy"] = buffer.getvalue()
        else:
            shape = tuple(draw(st.lists(st.integers(0, 2**45), max_size=3)))
            descr = draw(st.sampled_from(NPY_DTYPES))
            text = repr({"descr": descr, "fortran_order": draw(st.booleans()), "shape": shape})
            text = text.encode("latin1") + b" " * 8 + b"\n"
            members[key + ".npy"] = (b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
                                     + draw(st.binary(max_size=64)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    if draw(st.integers(0, 5)) == 0 and data:  # a flipped byte
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
    return data


@st.composite
def idx_bytes(draw):
    kind = draw(st.sampled_from([2051, 2049, draw(st.integers(0, 2**32 - 1))]))
    ndim = 3 if kind == 2051 else 1 if kind == 2049 else draw(st.integers(0, 4))
    dims = [draw(st.one_of(st.integers(0, 5), st.integers(0, 2**32 - 1))) for _ in range(ndim)]
    body_len = draw(st.integers(0, 200))
    if all(d <= 5 for d in dims) and draw(st.booleans()):
        body_len = int(np.prod(dims)) if dims else 0
    data = kind.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + bytes(body_len)
    data = data[: draw(st.integers(0, len(data)))] if draw(st.integers(0, 4)) == 0 else data
    if draw(st.booleans()):
        data = gzip.compress(data)
        if draw(st.integers(0, 3)) == 0:
            data = data[: draw(st.integers(0, len(data)))]
    return data


def check_data_file(kind: str, data: bytes) -> None:
    from mlptrain.config.schema import DataConfig
    from mlptrain.data import load_data
    from mlptrain.data.idx import read_images, read_labels

    folder = Path(tempfile.mkdtemp(prefix="fuzz-data-"))
    try:
        if kind == "idx":
            path = folder / "train-images-idx3-ubyte"
            path.write_bytes(data)
            assert_no_internal_error(lambda: read_images(path))
            assert_no_internal_error(lambda: read_labels(path))
            return
        path = folder / f"d.{kind}"
        path.write_bytes(data)
        for task in ("auto", "regression"):
            cfg = DataConfig(source=kind, path=str(path), task=task)
            assert_no_internal_error(lambda cfg=cfg: load_data(cfg, seed=0))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---- checkpoints and run directories -----------------------------------------------------------------


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-good")
    raw = {"name": "good", "data": {"source": "spiral", "n_samples": 150},
           "model": {"hidden": [6]}, "train": {"epochs": 2, "batch_size": 32},
           "run": {"root": str(root)}}
    return start_run(validate_config(raw)).run_dir


def _paths(value, prefix=()):
    """Every (path, value) of a JSON document, for picking a place to mutate."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@st.composite
def meta_mutations(draw, meta: dict):
    paths = [p for p in _paths(meta) if p]
    mutated = copy.deepcopy(meta)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        node = mutated
        try:
            for part in path[:-1]:
                node = node[part]
            if draw(st.integers(0, 4)) == 0 and isinstance(node, dict):
                node.pop(path[-1], None)
            else:
                node[path[-1]] = draw(HOSTILE)
        except (KeyError, IndexError, TypeError):
            continue
    return mutated


def check_checkpoint(run: Path, tensors: dict, header: dict, meta: dict, byte_flip) -> None:
    from mlptrain.evaluation import evaluate_checkpoint
    from mlptrain.experiment import resume_run
    from mlptrain.prediction import predict_file

    folder = Path(tempfile.mkdtemp(prefix="fuzz-ckpt-"))
    try:
        copy_dir = folder / "run"
        shutil.copytree(run, copy_dir)
        try:
            data = safetensors_bytes(tensors, {**header, "meta": json.dumps(meta)})
        except (ValueError, TypeError):  # not JSON-able (a surrogate); another example
            return
        if byte_flip is not None:
            i = byte_flip % len(data)
            data = data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1 :]
        for tag in ("best", "last"):
            (copy_dir / "checkpoints" / f"{tag}.safetensors").write_bytes(data)
        points = folder / "p.csv"
        points.write_text("0.1,0.2\n-1,3\n")
        assert_no_internal_error(lambda: evaluate_checkpoint(copy_dir, write=False))
        assert_no_internal_error(lambda: predict_file(copy_dir, points, proba=True))
        assert_no_internal_error(lambda: resume_run(copy_dir, overrides=["train.epochs=3"]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


RUN_FILE_TEXT = st.one_of(st.binary(max_size=400), st.text(max_size=200).map(
    lambda t: t.encode("utf-8", "surrogatepass")), st.lists(st.one_of(
        st.just('{"epoch": 1, "step": 1, "layers": [{"layer": 0, "grad_norm": null}]}'),
        st.just('{"epoch": null, "layers": null}'), st.just("[1, 2]"), st.just("null"),
        st.just('{"step": "x"}'), st.just('{"epoch": 1, "layers": [null, 3]}'),
        st.just("epoch,step,train_loss\n1,4,0.5"), st.just("epoch,step\nx,y,z"),
        st.just("1,2,3,4,5")), max_size=6).map(lambda rows: "\n".join(rows).encode()))


def check_run_files(run: Path, name: str, data: bytes) -> None:
    from mlptrain.plotting import read_history
    from mlptrain.rundir import RunDir
    from mlptrain.runs import read_run

    folder = Path(tempfile.mkdtemp(prefix="fuzz-rundir-"))
    try:
        copy_dir = folder / "run"
        shutil.copytree(run, copy_dir)
        (copy_dir / name).write_bytes(data)
        assert_no_internal_error(lambda: read_history(copy_dir))
        assert_no_internal_error(lambda: read_run(copy_dir))
        assert_no_internal_error(lambda: RunDir(copy_dir).truncate_history(4))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---- the tests: a fast default run, and a slow one of 10,000+ examples -------------------------------


def _fuzz_all(examples: int, good_run: Path) -> None:
    tensors, header = read_safetensors(good_run / "checkpoints" / "last.safetensors")
    meta = json.loads(header["meta"])
    few = settings(max_examples=examples, **COMMON)
    checkpoint_examples = settings(max_examples=max(examples // 5, 10), **COMMON)

    few(given(raw_configs())(lambda raw: check_config(raw)))()
    few(given(st.lists(OVERRIDE_TEXT, min_size=1, max_size=3))(
        lambda overrides: check_config({"name": "fuzz", "data": {"source": "spiral",
                                        "n_samples": 120}, "model": {"hidden": [4]},
                                        "train": {"epochs": 1}}, overrides)))()
    few(given(csv_bytes())(lambda data: check_data_file("csv", data)))()
    few(given(npz_bytes())(lambda data: check_data_file("npz", data)))()
    few(given(idx_bytes())(lambda data: check_data_file("idx", data)))()
    checkpoint_examples(given(meta_mutations(meta), st.one_of(st.none(), st.integers(0, 10**6)))(
        lambda mutated, flip: check_checkpoint(good_run, tensors, header, mutated, flip)))()
    few(given(st.sampled_from(["metrics.csv", "layers.jsonl", "summary.json", "config.yaml"]),
              RUN_FILE_TEXT)(lambda name, data: check_run_files(good_run, name, data)))()


def test_fuzz_no_input_reaches_internal_error(good_run):
    """~50 examples per target (checkpoints: 10, each resumes a run): a few hundred in all."""
    _fuzz_all(FAST_EXAMPLES, good_run)


@pytest.mark.slow
def test_fuzz_slow_ten_thousand_examples(good_run):
    """1,500 examples per target (checkpoints: 300): 9,300 + the checkpoint ones."""
    _fuzz_all(SLOW_EXAMPLES + 200, good_run)
