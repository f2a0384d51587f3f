"""The bad-input corpus, round 2 (issue 15): unbounded reads and allocations, untrusted
checkpoints, values that validate but cannot work, and outputs that cannot be written.

Same contract as tests/test_corpus.py, through the CLI: exit code 2, a message of at most four
lines naming the file or key, no traceback, no run directory left behind, no result file
written, a run directory that a failed resume leaves exactly as it was. Besides the markers of
test_corpus.py ("@D" the case's folder, "@RUN" a copy of a finished run), a file's content
may be FIFO (a named pipe with no writer: a read would block forever) or DEVZERO (a symlink to
/dev/zero: reported size 0, endless content).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from corpus_helpers import (
    good_csv,
    idx_bytes,
    npy_bytes,
    npz_bytes,
    npz_with_members,
    read_safetensors,
    safetensors_bytes,
    tiny_idx_pair,
)
from test_corpus import (
    IDX_CFG,
    IDX_IMAGES,
    IDX_LABELS,
    TRAIN,
    _materialize,
    _snapshot,
    assert_clean_exit_2,
    config,
    csv_cfg,
    npz_cfg,
    runner,
)

from mlptrain.cli import app

FIFO = "<fifo>"
DEVZERO = "<dev-zero>"
S = "{source: spiral, n_samples: 200}"
SPIRAL = config(S)
IMG, LBL = tiny_idx_pair()


def spiral_with(**sections: str) -> str:
    """The small spiral config with extra top-level lines, e.g. model='{hidden: [4], ...}'."""
    lines = ["name: corpus", f"data: {S}", "run: {root: '@D/runs'}"]
    sections.setdefault("model", "{hidden: [4]}")
    sections.setdefault("train", "{epochs: 2, batch_size: 16}")
    lines += [f"{k}: {v}" for k, v in sections.items()]
    return "\n".join(lines) + "\n"


def with_override(*overrides: str) -> tuple[dict, list[str], str]:
    return {"cfg.yaml": SPIRAL}, [*TRAIN, *overrides]


# ---- values that validate but cannot work ------------------------------------------------------

HUGE = "1" * 5000
NON_FINITE = [
    ("bias-init-nan", "model.bias_init=.nan", "model.bias_init"),
    ("init-scale-inf", "model.init_scale=.inf", "model.init_scale"),
    ("weight-decay-inf", "optimizer.weight_decay=.inf", "optimizer.weight_decay"),
    ("class-weight-inf", "loss.class_weight=[.inf,1,1]", "loss.class_weight"),
    ("schedule-decay-inf", "schedule.decay=.inf", "schedule.decay"),
    ("huber-delta-nan", "loss.huber_delta=.nan", "loss.huber_delta"),
    ("momentum-nan", "optimizer.momentum=.nan", "optimizer.momentum"),
    ("noise-inf", "data.noise=.inf", "data.noise"),
    ("min-delta-nan", "train.early_stopping={monitor: val_loss, min_delta: .nan}", "train.early_stopping.min_delta"),
    ("divergence-factor-inf", "train.divergence_factor=.inf", "train.divergence_factor"),
    ("clip-norm-inf", "optimizer.clip_norm=.inf", "optimizer.clip_norm"),
    ("betas-nan", "optimizer.betas=[.nan,0.9]", "optimizer.betas"),
    ("min-lr-inf", "schedule.min_lr=.inf", "schedule.min_lr"),
    ("plateau-threshold-inf", "schedule.threshold=.inf", "schedule.threshold"),
    ("eps-nan", "optimizer.eps=.nan", "optimizer.eps"),
    ("warmup-inf", "schedule.warmup_epochs=.inf", "schedule.warmup_epochs"),
    ("float-overflow-literal", "optimizer.weight_decay=1e999", "optimizer.weight_decay"),
]
VALUE_CASES = [
    (f"config-{cid}", {"cfg.yaml": SPIRAL}, [*TRAIN, override], [key, "finite"])
    for cid, override, key in NON_FINITE
] + [
    ("config-cosine-warmup-as-long-as-training", {"cfg.yaml": spiral_with(schedule="{kind: cosine, warmup_epochs: 2}")}, TRAIN, ["cfg.yaml", "schedule.warmup_epochs", "train.epochs"]),
    ("config-cosine-warmup-longer-by-override", {"cfg.yaml": SPIRAL}, [*TRAIN, "schedule.kind=cosine", "schedule.warmup_epochs=5"], ["schedule.warmup_epochs", "below train.epochs"]),
    ("config-int-over-4300-digits-in-file", {"cfg.yaml": f"seed: {HUGE}\n"}, TRAIN, ["cfg.yaml", "cannot be read", "4300"]),
    ("config-int-over-4300-digits-override", {"cfg.yaml": SPIRAL}, [*TRAIN, f"seed={HUGE}"], ["override", "cannot be read"]),
    ("config-hex-int-5000-digits", {"cfg.yaml": SPIRAL}, [*TRAIN, "seed=0x" + "f" * 5000], ["seed", "at most 19 digits"]),
    ("config-sexagesimal-int-huge", {"cfg.yaml": SPIRAL}, [*TRAIN, "seed=1:" + ":".join(["59"] * 3000)], ["seed", "at most 19 digits"]),
    ("config-epochs-beyond-int64", {"cfg.yaml": SPIRAL}, [*TRAIN, f"train.epochs={2**70}"], ["train.epochs", "at most 19 digits"]),
    ("config-hidden-beyond-int64", {"cfg.yaml": SPIRAL}, [*TRAIN, f"model.hidden=[{2**64}]"], ["model.hidden", "at most 19 digits"]),
    ("config-seed-beyond-int64", {"cfg.yaml": f"seed: {2**63}\n"}, TRAIN, ["cfg.yaml", "seed"]),
    ("config-path-nul-byte", {"cfg.yaml": config('{source: csv, path: "@D/a\\0b.csv"}')}, TRAIN, ["cfg.yaml", "data.path", "NUL"]),
    ("config-path-lone-surrogate", {"cfg.yaml": config('{source: csv, path: "@D/a\\ud800.csv"}')}, TRAIN, ["cfg.yaml", "data.path", "surrogate"]),
    ("config-run-root-nul-byte", {"cfg.yaml": SPIRAL}, [*TRAIN, 'run.root="a\\0b"'], ["run.root", "NUL"]),
    ("config-test-path-surrogate", {"cfg.yaml": SPIRAL}, [*TRAIN, 'data.test_path="\\udcff"'], ["data.test_path", "surrogate"]),
    ("config-mirror-nul-byte", {"cfg.yaml": SPIRAL}, [*TRAIN, 'data.mirrors=["http://x\\0"]'], ["data.mirrors", "NUL"]),
    ("config-x-key-nul", {"cfg.yaml": SPIRAL}, [*TRAIN, 'data.x_key="\\0"'], ["data.x_key", "NUL"]),
    ("config-delimiter-nul", {"cfg.yaml": SPIRAL}, [*TRAIN, 'data.delimiter="\\0"'], ["data.delimiter", "NUL"]),
    ("csv-zero-feature-columns", {"cfg.yaml": csv_cfg(), "d.csv": "label\n" + "a\nb\n" * 20}, TRAIN, ["d.csv", "no feature columns"]),
    ("npz-zero-features", {"cfg.yaml": npz_cfg(), "d.npz": npz_bytes(X=np.zeros((20, 0)), y=np.arange(20) % 2)}, TRAIN, ["d.npz", "'X'", "no features"]),
    ("npz-zero-rows", {"cfg.yaml": npz_cfg(), "d.npz": npz_bytes(X=np.zeros((0, 2)), y=np.zeros(0))}, TRAIN, ["d.npz", "no samples"]),
    ("idx-zero-pixel-images", {"cfg.yaml": IDX_CFG, IDX_IMAGES: idx_bytes(np.zeros((30, 0, 0), np.uint8), 2051), IDX_LABELS: LBL}, TRAIN, ["train-images-idx3-ubyte", "no pixels"]),
    ("idx-zero-images", {"cfg.yaml": IDX_CFG, IDX_IMAGES: idx_bytes(np.zeros((0, 4, 4), np.uint8), 2051), IDX_LABELS: idx_bytes(np.zeros(0, np.uint8), 2049)}, TRAIN, ["train-images-idx3-ubyte", "no samples"]),
]

# ---- allocations that cannot fit -----------------------------------------------------------------

MEMORY_CASES = [
    ("memory-hidden-1e12", {"cfg.yaml": SPIRAL}, [*TRAIN, "model.hidden=[1000000000000]"], ["model.hidden", "needs about", "available"]),
    ("memory-two-wide-layers", {"cfg.yaml": SPIRAL}, [*TRAIN, "model.hidden=[1000000,1000000]"], ["model.hidden", "TiB"]),
    ("memory-n-samples-1e12", {"cfg.yaml": SPIRAL}, [*TRAIN, "data.n_samples=1000000000000"], ["data.n_samples", "needs about"]),
    ("memory-blobs-wide-and-many", {"cfg.yaml": SPIRAL}, [*TRAIN, "data.source=blobs", "data.n_features=1000", "data.n_samples=100000000000"], ["data.n_samples", "needs about"]),
    ("memory-batch-size-1e15", {"cfg.yaml": SPIRAL}, [*TRAIN, "train.batch_size=1000000000000000"], ["train.batch_size", "needs about"]),
    ("spiral-1e8-classes", {"cfg.yaml": SPIRAL}, [*TRAIN, "data.n_classes=100000000"], ["data.n_classes", "must not exceed data.n_samples"]),
    ("blobs-more-classes-than-samples", {"cfg.yaml": SPIRAL}, [*TRAIN, "data.source=blobs", "data.n_classes=500"], ["data.n_classes", "must not exceed"]),
]

# ---- files that never end, or claim more than they hold -----------------------------------------


def _gzip_idx_bomb() -> bytes:
    """A gzip IDX file whose header promises 30 tiny images but which inflates to 64 MB."""
    header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (30, 4, 4))
    stream = io.BytesIO()
    with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=1) as out:
        out.write(header)
        block = bytes(1 << 20)
        for _ in range(64):
            out.write(block)
    return stream.getvalue()


def _gzip_idx_huge_header() -> bytes:
    """A small gzip IDX file whose header claims 60000 x 65535 x 65535 images (~240 TiB)."""
    header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (60000, 65535, 65535))
    return gzip.compress(header + bytes(1000))


def _npy_claiming(shape: tuple, descr: str = "<f8") -> bytes:
    """An .npy member whose header claims `shape` but which holds only 16 bytes of data."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    text += b" " * (64 - (10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + bytes(16)


def _npz_huge_claim(key: str = "X") -> bytes:
    members = {"X.npy": npy_bytes(np.zeros((4, 2))), "y.npy": npy_bytes(np.zeros(4))}
    members[f"{key}.npy"] = _npy_claiming((2**41,) if key == "y" else (2**40, 2))
    return npz_with_members(members)


def _npz_deflated_bomb() -> bytes:
    """An NPZ whose X member's central-directory entry claims 4 GiB uncompressed (forged)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("X.npy", npy_bytes(np.zeros((4, 2))))
        archive.writestr("y.npy", npy_bytes(np.zeros(4)))
    data = bytearray(buffer.getvalue())
    central = data.rfind(b"PK\x01\x02")  # the last central-directory entry: y.npy
    first = data.find(b"PK\x01\x02")  # X.npy
    data[first + 24 : first + 28] = (2**32 - 1).to_bytes(4, "little")  # uncompressed size
    assert central > first
    return bytes(data)


PREDICT = ["predict", "@RUN", "@D/in.csv"]
BOUNDED_CASES = [
    ("config-is-dev-zero", {"cfg.yaml": DEVZERO}, TRAIN, ["cfg.yaml", "not a regular file"]),
    ("config-is-a-fifo", {"cfg.yaml": FIFO}, TRAIN, ["cfg.yaml", "FIFO"]),
    ("config-show-dev-zero", {"cfg.yaml": DEVZERO}, ["config", "show", "@D/cfg.yaml"], ["cfg.yaml", "character device"]),
    ("csv-is-dev-zero", {"cfg.yaml": csv_cfg(), "d.csv": DEVZERO}, TRAIN, ["d.csv", "not a regular file"]),
    ("csv-is-a-fifo", {"cfg.yaml": csv_cfg(), "d.csv": FIFO}, TRAIN, ["d.csv", "FIFO"]),
    ("csv-val-path-fifo", {"cfg.yaml": csv_cfg(val_path="'@D/v.csv'"), "d.csv": good_csv(), "v.csv": FIFO}, TRAIN, ["v.csv", "FIFO"]),
    ("npz-is-dev-zero", {"cfg.yaml": npz_cfg(), "d.npz": DEVZERO}, TRAIN, ["d.npz", "not a regular file"]),
    ("npz-is-a-fifo", {"cfg.yaml": npz_cfg(), "d.npz": FIFO}, TRAIN, ["d.npz", "FIFO"]),
    ("npz-header-claims-16-tib", {"cfg.yaml": npz_cfg(), "d.npz": _npz_huge_claim("X")}, TRAIN, ["d.npz", "'X'", "header claims"]),
    ("npz-y-header-claims-16-tib", {"cfg.yaml": npz_cfg(), "d.npz": _npz_huge_claim("y")}, TRAIN, ["d.npz", "'y'", "header claims"]),
    ("npz-zip-entry-claims-4-gib", {"cfg.yaml": npz_cfg(), "d.npz": _npz_deflated_bomb()}, TRAIN, ["d.npz"]),
    ("npz-is-a-single-npy", {"cfg.yaml": npz_cfg(), "d.npz": npy_bytes(np.zeros((4, 2)))}, TRAIN, ["d.npz", "single .npy"]),
    ("idx-images-fifo", {"cfg.yaml": config("{source: idx, train_path: '@D/train-images-idx3-ubyte'}"), "train-images-idx3-ubyte": FIFO, "train-labels-idx1-ubyte": LBL}, TRAIN, ["train-images-idx3-ubyte", "FIFO"]),
    ("idx-labels-dev-zero", {"cfg.yaml": config("{source: idx, train_path: '@D/train-images-idx3-ubyte'}"), "train-images-idx3-ubyte": IMG, "train-labels-idx1-ubyte": DEVZERO}, TRAIN, ["train-labels-idx1-ubyte"]),
    ("idx-gzip-inflates-past-its-header", {"cfg.yaml": IDX_CFG, IDX_IMAGES + ".gz": _gzip_idx_bomb(), IDX_LABELS: LBL}, TRAIN, ["train-images-idx3-ubyte.gz", "more than the 496 bytes its IDX header promises"]),
    ("idx-gzip-header-claims-240-tib", {"cfg.yaml": IDX_CFG, IDX_IMAGES + ".gz": _gzip_idx_huge_header(), IDX_LABELS: LBL}, TRAIN, ["train-images-idx3-ubyte.gz", "header", "needs about"]),
    ("idx-raw-header-claims-more-than-file", {"cfg.yaml": IDX_CFG, IDX_IMAGES: (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (2**31, 2**16, 2**16)) + bytes(64), IDX_LABELS: LBL}, TRAIN, ["train-images-idx3-ubyte", "truncated"]),
    ("mirror-file-url", {"cfg.yaml": config("{source: mnist, path: '@D/none', mirrors: ['file:///dev/zero']}")}, TRAIN, ["only http:// and https://"]),
    ("mirror-ftp-url", {"cfg.yaml": config("{source: mnist, path: '@D/none', mirrors: ['ftp://127.0.0.1/']}")}, TRAIN, ["only http:// and https://"]),
    ("predict-input-dev-zero", {"in.csv": DEVZERO}, PREDICT, ["in.csv", "not a regular file"]),
    ("predict-input-fifo", {"in.csv": FIFO}, PREDICT, ["in.csv", "FIFO"]),
    ("predict-input-npz-huge-claim", {"in.npz": _npz_huge_claim("X")}, ["predict", "@RUN", "@D/in.npz"], ["in.npz", "header claims"]),
    ("eval-data-dev-zero", {"d.csv": DEVZERO}, ["eval", "@RUN", "--data", "@D/d.csv"], ["d.csv", "not a regular file"]),
    ("eval-data-fifo", {"d.csv": FIFO}, ["eval", "@RUN", "--data", "@D/d.csv"], ["d.csv", "FIFO"]),
    ("eval-checkpoint-fifo", {"m.safetensors": FIFO}, ["eval", "@D/m.safetensors"], ["m.safetensors", "FIFO"]),
    ("eval-checkpoint-dev-zero", {"m.safetensors": DEVZERO}, ["eval", "@D/m.safetensors"], ["m.safetensors", "not a regular file"]),
    ("resume-checkpoint-fifo", {"@RUN/checkpoints/last.safetensors": FIFO}, ["train", "--resume", "@RUN"], ["last.safetensors", "FIFO"]),
    ("resume-metrics-dev-zero", {"@RUN/metrics.csv": DEVZERO}, ["train", "--resume", "@RUN", "train.epochs=3"], ["metrics.csv", "not a regular file"]),
    ("resume-layers-fifo", {"@RUN/layers.jsonl": FIFO}, ["train", "--resume", "@RUN", "train.epochs=3"], ["layers.jsonl", "FIFO"]),
    ("resume-metrics-not-utf8", {"@RUN/metrics.csv": b"epoch,step\n\xff\xfe,1\n"}, ["train", "--resume", "@RUN", "train.epochs=3"], ["metrics.csv", "not UTF-8"]),
    ("plot-metrics-not-utf8", {"@RUN/metrics.csv": b"epoch,step\n\xff\xfe,1\n"}, ["plot", "@RUN", "--out", "@D/p.png"], ["metrics.csv", "not UTF-8"]),
    ("plot-metrics-dev-zero", {"@RUN/metrics.csv": DEVZERO}, ["plot", "@RUN", "--out", "@D/p.png"], ["metrics.csv", "not a regular file"]),
    ("plot-layers-fifo", {"@RUN/layers.jsonl": FIFO}, ["plot", "@RUN", "--out", "@D/p.png"], ["layers.jsonl", "FIFO"]),
]

# ---- checkpoints are untrusted ----------------------------------------------------------------------


def _meta_edit(edit):
    """Bytes of the good checkpoint with its metadata changed by edit(meta) (or header(h))."""

    def make(good: Path) -> bytes:
        tensors, header = read_safetensors(good)
        meta = json.loads(header["meta"])
        result = edit(meta, header)
        if result is not None:
            header = result
        else:
            header["meta"] = json.dumps(meta)
        return safetensors_bytes(tensors, header)

    return make


def _set(*path_and_value):
    *path, value = path_and_value

    def edit(meta, header):
        node = meta
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return _meta_edit(edit)


def _header(**fields):
    def edit(meta, header):
        return {**header, **fields}

    return _meta_edit(edit)


def _dtype_swap(dtype: str, factor: int):
    """The checkpoint with its first weight declared as `dtype` (bytes kept, shape scaled)."""

    def make(good: Path) -> bytes:
        import struct

        data = good.read_bytes()
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8 : 8 + n])
        key = next(k for k in sorted(header) if k.startswith("model.") and k.endswith("weight"))
        header[key]["dtype"] = dtype
        header[key]["shape"] = [header[key]["shape"][0], header[key]["shape"][1] * factor]
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + data[8 + n :]

    return make


DEEP_META = '{"a":' + "[" * 200_000 + "]" * 200_000 + "}"
CHECKPOINT_META = [
    ("format-version-superscript", _header(format_version="\u00b2"), ["invalid format version"]),
    ("format-version-5000-digits", _header(format_version="9" * 5000), ["invalid format version"]),
    ("metadata-200k-deep", _header(meta=DEEP_META), ["nests too deeply"]),
    ("metadata-40-deep", _set("config", "name", json.loads("[" * 40 + "]" * 40)), ["nests more than 32 levels"]),
    ("bf16-tensor", _dtype_swap("BF16", 2), ["BF16"]),
    ("float8-tensor", _dtype_swap("F8_E4M3", 4), ["F8_E4M3"]),
    ("class-names-shorter-than-outputs", _set("preprocessor", "class_names", ["a"]), ["class_names", "1 names for 3 classes"]),
    ("class-names-not-strings", _set("preprocessor", "class_names", [1, 2, 3]), ["class_names", "list of strings"]),
    ("task-unknown", _set("preprocessor", "task", "magic"), ["preprocessor.task", "'magic'"]),
    ("preprocessor-width-disagrees", _set("preprocessor", "n_features", 7), ["7 features", "2 inputs"]),
    ("preprocessor-outputs-disagree", _set("preprocessor", "n_outputs", 5), ["class_names", "5 classes"]),
    ("n-outputs-not-an-int", _set("preprocessor", "n_outputs", "3"), ["preprocessor.n_outputs"]),
]
EVAL_ONLY_META = [
    ("layer-of-1e12-units", _set("model", "layer_sizes", [2, 10**12, 3]), ["model.layer_sizes"]),
    ("layer-sizes-a-string", _set("model", "layer_sizes", "abc"), ["model.layer_sizes"]),
    ("layer-sizes-negative", _set("model", "layer_sizes", [2, -4, 3]), ["model.layer_sizes"]),
    ("layers-wide-enough-to-exhaust-memory", _set("model", "layer_sizes", [2, 2**31 - 1, 2**31 - 1, 3]), ["model.layer_sizes", "needs about"]),
]
RESUME_ONLY_META = [
    ("rng-int-too-large", _set("trainer", "rng", "shuffle", "state", "state", 10**40), ["does not match", "too large"]),
    ("rng-state-a-string", _set("trainer", "rng", "shuffle", "x"), ["does not match"]),
    ("loop-epoch-a-string", _set("trainer", "loop", "epoch", "3"), ["trainer.loop.epoch"]),
    ("loop-negative-batch-index", _set("trainer", "loop", "batch_in_epoch", -5), ["trainer.loop.batch_in_epoch", "-5"]),
    ("loop-batch-index-past-the-epoch", _set("trainer", "loop", "batch_in_epoch", 10_000), ["batch_in_epoch is 10000", "batches"]),
    ("loop-unknown-field", _set("trainer", "loop", "zzz", 1), ["trainer.loop", "'zzz'"]),
    ("loop-a-list", _set("trainer", "loop", [1]), ["trainer.loop must be an object"]),
    ("loop-status-unknown", _set("trainer", "loop", "status", "hacked"), ["trainer.loop.status"]),
    ("loop-loss-sum-nan", _set("trainer", "loop", "loss_sum", float("nan")), ["trainer.loop.loss_sum"]),
    ("loop-step-a-float", _set("trainer", "loop", "step", 1.5), ["trainer.loop.step"]),
    ("loop-step-a-bool", _set("trainer", "loop", "step", True), ["trainer.loop.step"]),
]
CHECKPOINT_CASES = [
    (f"eval-{cid}", {"m.safetensors": make}, ["eval", "@D/m.safetensors"], ["m.safetensors", *frags])
    for cid, make, frags in CHECKPOINT_META + EVAL_ONLY_META
] + [
    (f"resume-{cid}", {"@RUN/checkpoints/last.safetensors": make}, ["train", "--resume", "@RUN"],
     ["last.safetensors", *frags])
    for cid, make, frags in CHECKPOINT_META + RESUME_ONLY_META
]

# ---- outputs that cannot be written ------------------------------------------------------------------

OUTPUT_CASES = [
    ("plot-out-root", {}, ["plot", "@RUN", "--out", "/"], ["/: is a directory"]),
    ("predict-out-root", {"in.csv": "0.1,0.2\n"}, ["predict", "@RUN", "@D/in.csv", "--out", "/"], ["/: is a directory"]),
    ("predict-out-existing-folder", {"in.csv": "0.1,0.2\n", "outdir/.keep": ""}, ["predict", "@RUN", "@D/in.csv", "--out", "@D/outdir"], ["outdir", "is a directory"]),
    ("plot-out-missing-folder", {}, ["plot", "@RUN", "--out", "@D/no/such/dir/p.png"], ["p.png", "No such file"]),
]

ALL_CASES = VALUE_CASES + MEMORY_CASES + BOUNDED_CASES + CHECKPOINT_CASES + OUTPUT_CASES


def _special_files(case_dir: Path, files: dict, run_copy: Path | None) -> dict:
    """Create the FIFO and DEVZERO entries; return the remaining, ordinary files."""
    ordinary = {}
    for name, content in files.items():
        if content not in (FIFO, DEVZERO):
            ordinary[name] = content
            continue
        target = Path(name.replace("@RUN", str(run_copy)).replace("@D", str(case_dir)))
        target = target if target.is_absolute() else case_dir / target
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        if content == FIFO:
            os.mkfifo(target)
        else:
            target.symlink_to("/dev/zero")
    return ordinary


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in ALL_CASES])
def test_hostile_input_round_2_is_a_clean_exit_2(tmp_path, finished_run, monkeypatch, case):
    _, files, args, fragments = case
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLPTRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLPTRAIN_DATA", raising=False)
    uses_run = "@RUN" in " ".join(args) or any("@RUN" in k for k in files)
    run_copy = _materialize(tmp_path, {}, finished_run, uses_run)
    ordinary = _special_files(tmp_path, files, run_copy)
    _materialize_into(tmp_path, ordinary, run_copy)
    before = _snapshot_safe(run_copy) if run_copy else None
    argv = [a.replace("@RUN", str(run_copy)).replace("@D", str(tmp_path)) for a in args]
    result = runner.invoke(app, argv)
    assert_clean_exit_2(result, fragments)
    assert not (tmp_path / "runs").exists(), "a failed train left a run directory"
    assert not list(tmp_path.rglob("*.eval-*.json")), "a failed eval wrote a result file"
    cache = tmp_path / "cache"
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()], "a download"
    if run_copy is not None:
        assert _snapshot_safe(run_copy) == before, "a failed command changed the run directory"


def _materialize_into(case_dir: Path, files: dict, run_copy: Path | None) -> None:
    good = case_dir / "good.safetensors"
    for name, content in files.items():
        target = Path(name.replace("@RUN", str(run_copy)).replace("@D", str(case_dir)))
        target = target if target.is_absolute() else case_dir / target
        target.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content = content(good)
        if isinstance(content, str):
            content = content.replace("@D", str(case_dir)).encode("utf-8")
        target.write_bytes(content)


def _snapshot_safe(folder: Path) -> dict[str, bytes | str]:
    """Like test_corpus._snapshot, but FIFOs and symlinks are recorded, not read."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "->" + os.readlink(p)
        elif p.is_fifo():
            out[rel] = "fifo"
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


def test_round_2_adds_at_least_80_cases_with_unique_ids():
    ids = [case[0] for case in ALL_CASES]
    assert len(ids) >= 80, len(ids)
    assert len(set(ids)) == len(ids)
    from test_corpus import ALL_CASES as ROUND_1

    assert not set(ids) & {c[0] for c in ROUND_1}


def test_snapshot_helper_is_the_round_1_one_for_plain_files(tmp_path):
    (tmp_path / "a").write_bytes(b"x")
    assert _snapshot_safe(tmp_path) == _snapshot(tmp_path)
