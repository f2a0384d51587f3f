"""CSV files: read with the `csv` module, select columns, parse numbers with row/column errors.

- The header is detected (`header: auto`): the first row is a header when all its fields are
  non-numeric, or when some column is non-numeric in the first row but numeric below it.
- Rows are named by their line in the file (the header is row 1); blank lines are skipped.
- Missing values ('', NA, N/A, nan, null, none, ?) read as NaN, and so do 'inf' values as
  infinities: the loader then refuses them, or drops the rows (`nan_policy: drop`).
- Columns are chosen by header name or 0-based index (negative counts from the end).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlptrain.bounded import check_memory, file_size, human_bytes, open_regular
from mlptrain.data.dataset import RawData
from mlptrain.errors import DataError

MISSING = ("", "na", "n/a", "nan", "null", "none", "?")
_SNIFF_ROWS = 20


@dataclass
class CsvTable:
    """The cells of a CSV file as strings, with the file line of every row."""

    path: str
    names: list[str] | None  # header fields, or None without a header
    cells: np.ndarray  # (n, width) str
    lines: np.ndarray  # (n,) int64

    @property
    def width(self) -> int:
        return self.cells.shape[1]

    def column_name(self, j: int) -> str:
        return repr(self.names[j]) + f" ({j})" if self.names else str(j)


def _is_number(text: str) -> bool:
    if text.strip().lower() in MISSING:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_header(first: list[str], below: list[list[str]]) -> bool:
    if not all(_is_number(f) for f in first) and not any(_is_number(f) for f in first):
        return True
    for j, field in enumerate(first):
        column = [row[j] for row in below if j < len(row)]
        if not _is_number(field) and column and all(_is_number(v) for v in column):
            return True
    return False


# Bytes of memory per byte of CSV text while it is parsed: one Python string per field
# (~50 bytes of overhead each) in row lists, then a fixed-width numpy string array.
CSV_MEMORY_FACTOR = 16


def _read_rows(path: Path, delimiter: str) -> tuple[list[list[str]], list[int]]:
    rows, lines = [], []
    binary = open_regular(path, DataError, "CSV file")
    size = file_size(binary)
    try:
        check_memory(size * CSV_MEMORY_FACTOR, "", f"reading this {human_bytes(size)} CSV file",
                     DataError, path)
        with io.TextIOWrapper(binary, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            start = 1
            for row in reader:
                if row and any(field.strip() for field in row):
                    rows.append(row)
                    lines.append(start)
                start = reader.line_num + 1
    except FileNotFoundError:
        raise DataError("no such file", path=path) from None
    except IsADirectoryError:
        raise DataError("is a directory, expected a CSV file", path=path) from None
    except UnicodeDecodeError as err:
        raise DataError(
            f"is not UTF-8 text (byte {err.start}); save the CSV as UTF-8", path=path
        ) from None
    except csv.Error as err:
        raise DataError(f"is not valid CSV: {err}", path=path) from None
    except OSError as err:
        raise DataError(f"cannot be read: {err.strerror}", path=path) from None
    finally:
        binary.close()
    return rows, lines


def read_table(path: str | Path, delimiter: str = ",", header: bool | str = "auto") -> CsvTable:
    """Read a CSV file into a table of strings; checks emptiness and ragged rows."""
    path = Path(path)
    rows, lines = _read_rows(path, delimiter)
    if not rows:
        raise DataError("is empty; expected a CSV file with one sample per row", path=path)
    if header == "auto":
        header = _looks_like_header(rows[0], rows[1 : 1 + _SNIFF_ROWS])
    names = [field.strip() for field in rows[0]] if header else None
    width = len(rows[0])
    for row, line in zip(rows, lines, strict=True):
        if len(row) != width:
            raise DataError(
                f"row {line} has {len(row)} fields, expected {width} (as in row {lines[0]})",
                path=path,
            )
    body, body_lines = (rows[1:], lines[1:]) if header else (rows, lines)
    if not body:
        raise DataError("has a header but no data rows", path=path)
    cells = np.array(body, dtype=str)  # (n, width)
    return CsvTable(str(path), names, cells, np.asarray(body_lines, dtype=np.int64))


def column_index(table: CsvTable, ref: str | int, what: str) -> int:
    """The 0-based index of column `ref` (a header name or an index) of `table`."""
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise DataError(f"{what} column must be a name or an index, got {ref!r}", path=table.path)
    if isinstance(ref, int):
        if not -table.width <= ref < table.width:
            raise DataError(
                f"{what} column index {ref} is out of range; the file has {table.width} "
                f"columns (0..{table.width - 1})",
                path=table.path,
            )
        return ref % table.width
    if table.names is None:
        if ref.lstrip("-").isdigit():
            return column_index(table, int(ref), what)
        raise DataError(
            f"{what} column {ref!r} is named, but the file has no header row",
            path=table.path,
            hint="name columns by 0-based index, or add a header row (data.header: true)",
        )
    if ref not in table.names:
        raise DataError(
            f"has no {what} column {ref!r}; columns: {', '.join(table.names)}", path=table.path
        )
    return table.names.index(ref)


def numeric_columns(table: CsvTable, columns: list[int], what: str) -> np.ndarray:
    """Columns parsed as float64 (n, len(columns)); missing markers become NaN."""
    sub = table.cells[:, columns]  # (n, c) str
    lowered = np.char.lower(np.char.strip(sub))
    sub = np.where(np.isin(lowered, MISSING), "nan", sub)
    try:
        return sub.astype(np.float64)
    except ValueError:
        pass
    for j, column in enumerate(columns):
        for i, text in enumerate(sub[:, j].tolist()):
            try:
                float(text)
            except ValueError:
                raise DataError(
                    f"row {table.lines[i]}, column {table.column_name(column)}: {text!r} is not "
                    f"a number; {what} columns must be numeric",
                    path=table.path,
                    hint=None if what != "feature" else "fix the value, or name the column in "
                    "data.categorical to one-hot encode its values",
                ) from None
    raise AssertionError("unreachable: astype failed but every cell parsed")


def target_columns(table: CsvTable, target: str | int | list | None) -> list[int]:
    """Indices of the target column(s): `target` by name/index, or the last column."""
    refs = [-1] if target is None else target if isinstance(target, list) else [target]
    columns = [column_index(table, ref, "target") for ref in refs]
    if len(set(columns)) != len(columns):
        raise DataError(f"data.target names a column twice: {target!r}", path=table.path)
    return columns


def feature_columns(
    table: CsvTable, features: list | None, exclude: list[int]
) -> list[int]:
    """Indices of the feature columns: `features` by name/index, or all but `exclude`."""
    if features is None:
        columns = [j for j in range(table.width) if j not in exclude]
    else:
        columns = [column_index(table, ref, "feature") for ref in features]
    clash = sorted(set(columns) & set(exclude))
    if clash:
        raise DataError(
            f"column {table.column_name(clash[0])} is both a feature and the target",
            path=table.path,
        )
    if not columns:
        raise DataError("has no feature columns besides the target", path=table.path)
    return columns


def parse_targets(table: CsvTable, columns: list[int]) -> np.ndarray:
    """Target cells: float64 (n, k) if every cell is a number, else stripped strings (n, k)."""
    try:
        return numeric_columns(table, columns, "target")
    except DataError:
        return np.char.strip(table.cells[:, columns])


def categorical_positions(
    table: CsvTable, x_cols: list[int], declared: list | None, max_categories: int,
) -> list[int]:
    """Positions (into x_cols) of the categorical feature columns: those `declared` (names or
    indices of file columns) and every column with a cell that is not a number."""
    named = {column_index(table, ref, "categorical") for ref in declared or []}
    stray = sorted(named - set(x_cols))
    if stray:
        raise DataError(f"data.categorical names column {table.column_name(stray[0])}, which "
                        "is not a feature column", path=table.path)
    return [p for p, j in enumerate(x_cols) if j in named or _mostly_text(table.cells[:, j])]


def _mostly_text(cells: np.ndarray) -> bool:
    """Whether more than half of the non-missing cells (n,) are not numbers: a text column.
    (A numeric column with a stray word stays numeric, and its word is reported.)"""
    values, counts = np.unique(cells, return_counts=True)
    text = present = 0
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        if value.strip().lower() not in MISSING:
            present += count
            text += 0 if _is_number(value) else count
    return text * 2 > present


def feature_matrix(
    table: CsvTable, x_cols: list[int], *, declared: list | None = None,
    positions: list[int] | None = None, max_categories: int = 100,
) -> tuple[np.ndarray, dict[int, list]]:
    """Raw features (n, len(x_cols)) float32 and the vocabulary of each categorical position.

    Numeric columns hold their values; categorical ones (`positions` when given, e.g. a
    model's; else `categorical_positions`) the codes of `categorical.column_codes`.
    """
    from mlptrain.data.categorical import check_column, column_codes

    given = positions is not None
    if positions is None:
        positions = categorical_positions(table, x_cols, declared, max_categories)
    named = {column_index(table, ref, "categorical") for ref in declared or []}
    numeric = [j for p, j in enumerate(x_cols) if p not in positions]
    X = np.empty((len(table.cells), len(x_cols)), dtype=np.float32)  # (n, n_raw)
    numeric_pos = [p for p in range(len(x_cols)) if p not in positions]
    if numeric:
        X[:, numeric_pos] = numeric_columns(table, numeric, "feature")
    vocab: dict[int, list] = {}
    for p in positions:
        codes, vocab[p] = column_codes(table.cells[:, x_cols[p]])
        if not given:
            check_column(vocab[p], len(codes), x_cols[p] in named, max_categories,
                         table.column_name(x_cols[p]), table.path)
        X[:, p] = codes
    return X, vocab


def read_csv(
    path: str | Path,
    *,
    delimiter: str = ",",
    header: bool | str = "auto",
    target: str | int | list | None = None,
    features: list | None = None,
    categorical: list | None = None,
    max_categories: int = 100,
    positions: list[int] | None = None,
) -> RawData:
    """A CSV file of features and target(s) as RawData (X float32, y raw).

    categorical: columns declared categorical; text columns are too (`categorical_positions`).
    positions: the categorical feature positions to use instead (a trained model's).
    """
    table = read_table(path, delimiter, header)
    y_cols = target_columns(table, target)
    x_cols = feature_columns(table, features, y_cols)
    X, vocab = feature_matrix(table, x_cols, declared=categorical, positions=positions,
                              max_categories=max_categories)  # (n, n_features)
    names = table.names
    return RawData(
        X=X,
        y=parse_targets(table, y_cols),
        path=table.path,
        rows=table.lines,
        feature_names=None if names is None else [names[j] for j in x_cols],
        target_names=None if names is None else [names[j] for j in y_cols],
        vocab=vocab,
    )
