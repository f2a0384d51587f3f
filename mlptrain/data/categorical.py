"""Categorical feature columns: text one-hot encoded, categories learned on the training split.

Which columns: a CSV feature column is categorical when `data.categorical` names it, or when
one of its cells is neither a number nor a missing marker (detected automatically). A detected
column whose values are all distinct (in a file of more than `ID_MIN_ROWS` rows) looks like an
identifier and is refused, and so is any column with more than `data.max_categories` distinct
values; declaring a column skips the identifier check.

Reading (`column_codes`): cells are stripped; every missing marker ('', NA, N/A, nan, null,
none, ?) is the one category `None` ("missing is its own category"). The file's column holds,
in the raw features (float32), the index of each cell's text in the file's vocabulary
(`RawData.vocab[position]`, first appearance order).

Encoding (`CategoricalEncoder`): fitted on the training split's codes only, the categories of
a column are the texts that occur in it, sorted (missing last). `expand` turns raw features
(n, n_raw) into the network's inputs (n, n_inputs): each categorical column is replaced, in
place, by one 0/1 column per category; a category never seen in training is all zeros, with a
`DataWarning` (`data.unknown_category: warn`) or a DataError (`error`). Numeric columns pass
through unchanged (scaling comes after, and leaves the 0/1 columns as they are).

Saved state (`to_dict` / `from_dict`, JSON in the checkpoint's preprocessor metadata):
``{"positions": [...], "categories": [[...], ...], "n_raw": int}``; read back strictly.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mlptrain.errors import DataError, DataWarning

MISSING = ("", "na", "n/a", "nan", "null", "none", "?")  # as csvfile.MISSING
UNKNOWN_POLICIES = ("warn", "error")
ID_MIN_ROWS = 10  # all-distinct text in more rows than this looks like an identifier
MAX_SAVED_CATEGORIES = 100_000  # per column, when reading a checkpoint back
MAX_CATEGORY_CHARS = 1000
_SHOWN = 3  # unknown categories named in a message


def column_codes(cells: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Codes (n,) float32 of text cells (n,) into their vocabulary (first appearance order);
    missing markers are the category None."""
    texts = [c.strip() for c in cells.tolist()]
    keys = [None if t.lower() in MISSING else t for t in texts]
    vocab: dict[str | None, int] = {}
    codes = np.fromiter((vocab.setdefault(k, len(vocab)) for k in keys), dtype=np.float32,
                        count=len(keys))
    return codes, list(vocab)


def check_column(vocab: list[str | None], n_rows: int, declared: bool, max_categories: int,
                 name: str, path: str) -> None:
    """Refuse a column that looks like an identifier (detected only) or has too many values."""
    distinct = len(vocab)
    if not declared and distinct == n_rows and n_rows > ID_MIN_ROWS:
        raise DataError(
            f"feature column {name} holds text with all {n_rows} values distinct: it looks "
            "like an identifier, not a feature",
            path=path,
            hint="leave it out (list the feature columns in data.features), or name it in "
            "data.categorical to one-hot encode it anyway",
        )
    if distinct > max_categories:
        raise DataError(
            f"feature column {name} has {distinct} distinct values, more than "
            f"data.max_categories ({max_categories})",
            path=path,
            hint="raise data.max_categories, or leave the column out (data.features)",
        )


def _sorted_categories(values: set) -> list[str | None]:
    texts = sorted(v for v in values if v is not None)
    return texts + ([None] if None in values else [])


def shown(category: str | None) -> str:
    """How a message shows a category: its text quoted, or <missing>."""
    return "<missing>" if category is None else repr(category)


class CategoricalEncoder:
    """The categories of each categorical column, and the one-hot layout of the inputs."""

    def __init__(self, positions: list[int], categories: list[list[str | None]], n_raw: int):
        if len(positions) != len(categories) or not positions:
            raise ValueError("one list of categories per categorical position is needed")
        if sorted(set(positions)) != list(positions) or not 0 <= positions[0] <= positions[-1] < n_raw:
            raise ValueError(f"positions must be increasing in [0, {n_raw}), got {positions}")
        for cats in categories:
            if not cats or len(set(cats)) != len(cats):
                raise ValueError("every categorical column needs distinct categories")
        self.positions = list(positions)
        self.categories = [list(c) for c in categories]
        self.n_raw = int(n_raw)

    @property
    def n_inputs(self) -> int:
        """The width of the encoded features: numeric columns plus one per category."""
        return self.n_raw - len(self.positions) + sum(len(c) for c in self.categories)

    def one_hot_mask(self) -> np.ndarray:
        """(n_inputs,) bool: True at the encoded inputs that are one-hot columns."""
        widths = np.ones(self.n_raw, dtype=np.int64)
        widths[self.positions] = [len(c) for c in self.categories]
        flags = np.zeros(self.n_raw, dtype=bool)
        flags[self.positions] = True
        return np.repeat(flags, widths)

    @classmethod
    def fit(cls, X: np.ndarray, vocab: dict[int, list[str | None]]) -> CategoricalEncoder:
        """The categories that occur in the training rows X (n, n_raw) of vocabulary codes."""
        positions = sorted(vocab)
        categories = []
        for p in positions:
            present = np.unique(X[:, p].astype(np.int64))  # codes seen in training
            categories.append(_sorted_categories({vocab[p][c] for c in present.tolist()}))
        return cls(positions, categories, X.shape[1])

    def input_names(self, feature_names: list[str] | None) -> list[str]:
        """Names of the encoded inputs: a numeric column's own, `column=category` for one-hot
        columns (`column=` for the missing category); columns are numbered without names."""
        names = feature_names or [str(j) for j in range(self.n_raw)]
        out: list[str] = []
        cats = dict(zip(self.positions, self.categories, strict=True))
        for j, name in enumerate(names):
            if j in cats:
                out += [f"{name}={'' if c is None else c}" for c in cats[j]]
            else:
                out.append(name)
        return out

    def describe(self, feature_names: list[str] | None) -> list[dict[str, Any]]:
        """One entry per encoded input: its column, and for one-hot inputs the category."""
        names = feature_names or [str(j) for j in range(self.n_raw)]
        cats = dict(zip(self.positions, self.categories, strict=True))
        out: list[dict[str, Any]] = []
        for j, name in enumerate(names):
            if j in cats:
                out += [{"column": name, "category": c} for c in cats[j]]
            else:
                out.append({"column": name})
        return out

    def expand(self, X: np.ndarray, vocab: dict[int, list[str | None]], *, policy: str = "warn",
               path: str = "", rows: np.ndarray | None = None,
               names: list[str] | None = None) -> np.ndarray:
        """Encoded inputs (n, n_inputs) float32 of raw features X (n, n_raw) holding codes into
        `vocab` at the categorical positions. Unknown categories: all zeros, and a warning
        (policy warn) or a DataError (error) naming the column, the values and a row."""
        if sorted(vocab) != self.positions:
            raise DataError(
                f"has categorical feature columns {_where(sorted(vocab), names)}; the model "
                f"was trained with categorical columns {_where(self.positions, names)}", path=path)
        blocks, start = [], 0
        for p, cats in zip(self.positions, self.categories, strict=True):
            blocks.append(X[:, start:p].astype(np.float32))
            blocks.append(self._one_hot(X[:, p], vocab[p], cats, policy, path, rows,
                                        _where([p], names)))
            start = p + 1
        blocks.append(X[:, start:].astype(np.float32))
        return np.hstack(blocks)  # (n, n_inputs)

    @staticmethod
    def _one_hot(codes: np.ndarray, vocab: list[str | None], cats: list[str | None],
                 policy: str, path: str, rows: np.ndarray | None, column: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(cats)}
        lookup = np.array([index.get(v, -1) for v in vocab], dtype=np.int64)  # vocab -> category
        ids = lookup[codes.astype(np.int64)]  # (n,) category id, -1 unknown
        out = (ids[:, None] == np.arange(len(cats))[None, :]).astype(np.float32)  # (n, k)
        unknown = np.flatnonzero(ids < 0)
        if len(unknown):
            _report_unknown(unknown, codes, vocab, policy, path, rows, column)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"positions": list(self.positions), "categories": [list(c) for c in self.categories],
                "n_raw": self.n_raw}

    @classmethod
    def from_dict(cls, state: Any) -> CategoricalEncoder:
        """The exact inverse of `to_dict`; every field checked (a checkpoint is untrusted)."""
        if not isinstance(state, dict) or set(state) != {"positions", "categories", "n_raw"}:
            raise DataError("the saved categorical encoding must be an object with positions, "
                            "categories and n_raw")
        n_raw, positions, categories = state["n_raw"], state["positions"], state["categories"]
        if not _is_int(n_raw) or not 1 <= n_raw <= 1_000_000:
            raise DataError(f"the saved categorical n_raw must be a positive integer, got {n_raw!r}")
        if not isinstance(positions, list) or not all(_is_int(p) for p in positions):
            raise DataError("the saved categorical positions must be a list of integers")
        if not isinstance(categories, list) or not all(
            isinstance(c, list) and 0 < len(c) <= MAX_SAVED_CATEGORIES
            and all(v is None or (isinstance(v, str) and len(v) <= MAX_CATEGORY_CHARS) for v in c)
            for c in categories
        ):
            raise DataError("the saved categories must be lists of strings (or null: missing)")
        try:
            return cls(positions, categories, n_raw)
        except ValueError as err:
            raise DataError(f"the saved categorical encoding is invalid: {err}") from None

    def __repr__(self) -> str:
        return f"CategoricalEncoder(positions={self.positions}, n_inputs={self.n_inputs})"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _where(positions: list[int], names: list[str] | None) -> str:
    if not positions:
        return "no column"
    return ", ".join(repr(names[p]) if names and p < len(names) else str(p)
                     for p in positions)


def _report_unknown(unknown: np.ndarray, codes: np.ndarray, vocab: list[str | None], policy: str,
                    path: str, rows: np.ndarray | None, column: str) -> None:
    first = int(unknown[0])
    values = list(dict.fromkeys(vocab[int(codes[i])] for i in unknown))
    listed = ", ".join(shown(v) for v in values[:_SHOWN]) + (", ..." if len(values) > _SHOWN else "")
    row = f"row {int(rows[first])}" if rows is not None else f"sample {first}"
    rows_text = "1 row holds" if len(unknown) == 1 else f"{len(unknown)} rows hold"
    message = (f"feature column {column}: {rows_text} a category not seen in training ({listed}; "
               f"first at {row})")
    if policy == "error":
        raise DataError(message, path=path,
                        hint="set data.unknown_category: warn to encode them as all zeros")
    where = f"{path}: " if path else ""
    warnings.warn(f"{where}{message}; encoded as all zeros", DataWarning, stacklevel=2)
