"""Shared helpers of the tests/test_data_*.py files: tiny IDX sets, CSV writers, a loopback
HTTP server that can serve, corrupt or cut off files, and a recording progress bar."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np

from mlptrain.config.schema import DataConfig
from mlptrain.data.named import STANDARD_FILES, ImageSet

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def data_config(**fields) -> DataConfig:
    """A DataConfig with `fields` (validated like a config file's data section)."""
    return DataConfig(**fields)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """The IDX encoding of a uint8 array (header: magic, then each dim, big-endian)."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int, gz: bool = False) -> Path:
    data = idx_bytes(array, magic)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tiny_images(n: int, seed: int, shape=(4, 4), n_classes: int = 3):
    """Random uint8 images (n, *shape) and labels (n,) with every class present."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    y = (np.arange(n) % n_classes).astype(np.uint8)
    return X, y


def tiny_set_files(n_train: int = 30, n_test: int = 12) -> dict[str, bytes]:
    """Raw (uncompressed) bytes of the four files of a tiny 4x4 set, by raw file name."""
    X, y = tiny_images(n_train, 1)
    Xt, yt = tiny_images(n_test, 2)
    return {
        STANDARD_FILES["train_images"]: idx_bytes(X, 2051),
        STANDARD_FILES["train_labels"]: idx_bytes(y, 2049),
        STANDARD_FILES["test_images"]: idx_bytes(Xt, 2051),
        STANDARD_FILES["test_labels"]: idx_bytes(yt, 2049),
    }


def tiny_set_spec(files: dict[str, bytes], *, with_sums: bool, mirrors=()) -> ImageSet:
    """An ImageSet describing `tiny_set_files` (checksums optional)."""
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    return ImageSet(
        name="mnist",
        mirrors=tuple(mirrors),
        class_names=("a", "b", "c"),
        n_train=30,
        n_test=12,
        image_shape=(4, 4),
        sha256=sums if with_sums else {},
    )


def write_tiny_set(folder: Path, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in tiny_set_files().items():
        target = folder / (name + (".gz" if gz else ""))
        target.write_bytes(gzip.compress(data) if gz else data)
    return folder


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class RecordingProgress:
    """A progress factory that records (total, desc) of each bar and the bytes reported."""

    def __init__(self):
        self.bars: list[dict] = []

    def __call__(self, total, desc):
        bar = {"total": total, "desc": desc, "done": 0, "closed": False}
        self.bars.append(bar)

        class _Bar:
            def update(self, n):
                bar["done"] += n

            def close(self):
                bar["closed"] = True

        return _Bar()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, str]] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        body, mode = self.routes.get(self.path, (b"", "missing"))
        if mode == "missing":
            self.send_error(404, "not found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drop":  # promise the whole body, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output clean
        pass


@contextlib.contextmanager
def http_server(routes: dict[str, tuple[bytes, str]]):
    """Serve `routes` (url path -> (body, "ok" | "drop")) on 127.0.0.1; yields (base_url, hits)."""
    handler = type("Handler", (_Handler,), {"routes": routes, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
