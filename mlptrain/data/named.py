"""Named image sets in IDX format (mnist, fashion-mnist, kmnist): where their files are.

A set's four files are looked for, raw or `.gz`, in the first folder of the search path that
holds all four:

1. `data.path` (the config);
2. `$MLPTRAIN_DATA/<name>/`, then `$MLPTRAIN_DATA` itself;
3. `./data/<name>/` (relative to the working directory);
4. the user cache, `<cache>/<name>/`, where `<cache>` is `$MLPTRAIN_CACHE`, else
   `$XDG_CACHE_HOME/mlptrain`, else `~/.cache/mlptrain`.

Files missing from all of them are downloaded into the cache (see `download.py`) when
`data.download` is true, from `data.mirrors` or the set's well-known mirrors. A download is
verified before it is moved into place: by the SHA-256 of its decompressed bytes where the
set's sums are known (MNIST), and always by its IDX header (magic, count, 28x28). Local
files whose labels are byte for byte another set's (MNIST's files named as fashion-mnist) are
refused.

`IMAGE_SETS` is a registry: tests (or a user) may add sets to it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlptrain.data import idx
from mlptrain.data.download import Progress, download
from mlptrain.errors import DataError

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
STANDARD_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class ImageSet:
    """A named IDX image set: its files, sizes, checksums, classes and mirrors."""

    name: str
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    n_train: int = 60_000
    n_test: int = 10_000
    image_shape: tuple[int, int] = (28, 28)
    files: dict[str, str] = field(default_factory=lambda: dict(STANDARD_FILES))
    sha256: dict[str, str] = field(default_factory=dict)  # raw file name -> sum of raw bytes

    def expected(self, role: str) -> tuple[int, tuple[int, ...]]:
        """The IDX magic and dims a file of `role` must have."""
        n = self.n_train if role.startswith("train") else self.n_test
        if role.endswith("images"):
            return idx.IMAGES_MAGIC, (n, *self.image_shape)
        return idx.LABELS_MAGIC, (n,)


IMAGE_SETS: dict[str, ImageSet] = {
    "mnist": ImageSet(
        name="mnist",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        class_names=tuple(str(d) for d in range(10)),
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    ),
    "fashion-mnist": ImageSet(
        name="fashion-mnist",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
    "kmnist": ImageSet(
        name="kmnist",
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    ),
}


def cache_root() -> Path:
    """The user cache folder: $MLPTRAIN_CACHE, $XDG_CACHE_HOME/mlptrain or ~/.cache/mlptrain."""
    if os.environ.get("MLPTRAIN_CACHE"):
        return Path(os.environ["MLPTRAIN_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "mlptrain"
    return Path.home() / ".cache" / "mlptrain"


def search_path(name: str, data_path: str | None = None) -> list[Path]:
    """The folders searched for set `name`, in order (see the module docstring)."""
    folders = [Path(data_path).expanduser()] if data_path else []
    if os.environ.get("MLPTRAIN_DATA"):
        root = Path(os.environ["MLPTRAIN_DATA"]).expanduser()
        folders += [root / name, root]
    folders += [Path("data") / name, cache_root() / name]
    return folders


def _file_in(folder: Path, filename: str) -> Path | None:
    for candidate in (folder / filename, folder / f"{filename}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_local(spec: ImageSet, folders: Sequence[Path]) -> dict[str, Path] | None:
    """The four files from the first folder that holds them all, or None."""
    for folder in folders:
        found = {role: _file_in(folder, spec.files[role]) for role in ROLES}
        if all(found.values()):
            return found  # type: ignore[return-value]
    return None


def verifier(spec: ImageSet, role: str):
    """A check of a downloaded file of `role`: IDX header and size, then SHA-256 if known."""
    filename = spec.files[role]
    magic, dims = spec.expected(role)

    def verify(path: Path) -> None:
        raw = idx.decompress(path.read_bytes(), filename)
        array = idx.parse(raw, filename, magic)
        if array.shape != dims:
            raise DataError(
                f"holds shape {array.shape}, expected {dims} for {spec.name}", path=filename
            )
        want = spec.sha256.get(filename)
        if want is not None:
            got = hashlib.sha256(raw).hexdigest()
            if got != want:
                raise DataError(
                    f"SHA-256 mismatch of the decompressed file: expected {want[:12]}..., "
                    f"got {got[:12]}...",
                    path=filename,
                )

    return verify


def check_not_another_set(spec: ImageSet, paths: dict[str, Path]) -> None:
    """Refuse local files that are another set's (fashion-mnist pointed at MNIST's folder):
    the header and sizes of these sets are identical, so the labels files are compared, by
    the SHA-256 of their decompressed bytes, with the sums known for every other set."""
    for role in ("train_labels", "test_labels"):
        filename = spec.files[role]
        others = [s for s in IMAGE_SETS.values() if s.name != spec.name and filename in s.sha256]
        if not others:
            continue
        digest = hashlib.sha256(idx.read_bytes(paths[role])).hexdigest()
        for other in others:
            if other.sha256[filename] == digest:
                raise DataError(
                    f"is {other.name}'s {role.replace('_', ' ')} file (its SHA-256 is "
                    f"{other.name}'s), not {spec.name}'s; point data.path at the {spec.name} "
                    f"files, or set data.source: {other.name}", path=paths[role])


def _not_found(spec: ImageSet, folders: Sequence[Path], why: str) -> DataError:
    names = ", ".join(f"{spec.files[r]}[.gz]" for r in ROLES)
    where = ", ".join(str(f) for f in folders)
    return DataError(
        f"{spec.name}: its IDX files were not found locally, and {why}",
        hint=f"put {names} in one of: {where} (or set data.path to their folder)",
    )


def locate(
    name: str,
    data_path: str | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    allow_download: bool = True,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Paths of the four files of image set `name`, downloading missing ones into the cache."""
    spec = IMAGE_SETS[name]
    folders = search_path(name, data_path)
    found = find_local(spec, folders)
    if found is not None:
        check_not_another_set(spec, found)
        return found
    if not allow_download:
        raise _not_found(spec, folders, "data.download is false")
    bases = list(mirrors) if mirrors is not None else list(spec.mirrors)
    if not bases:
        raise _not_found(spec, folders, "data.mirrors is empty")
    target = cache_root() / name
    paths: dict[str, Path] = {}
    for role in ROLES:
        filename = spec.files[role]
        cached = _file_in(target, filename)
        if cached is None:
            urls = [base.rstrip("/") + f"/{filename}.gz" for base in bases]
            cached = target / f"{filename}.gz"
            try:
                download(urls, cached, verifier(spec, role), progress=progress)
            except DataError as err:
                raise _not_found(spec, folders, f"the download failed: {err.message}") from None
        paths[role] = cached
    return paths
