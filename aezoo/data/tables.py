"""Your CSV and TSV tables: how a ``.csv``/``.tsv`` file of numbers becomes features and labels.

The standard library reads the text: the :mod:`csv` module finds the delimiter (``,``, ``;`` or a
tab) and splits rows, quotes included; NumPy turns the cells into numbers (Python's float syntax:
``1.5``, `` 2 ``, ``1e3``, ``nan``). A first row in which no cell is a number is the header; blank
rows are skipped. The features are standardised per column (``mean``/``std`` of this data; a
constant column gets ``std=1``), and ``label_column`` (a header name, or an index, negative from
the end) becomes integer labels, left out of the features. The file is always loaded whole. A
ragged row or a cell that is not a number is a :class:`~aezoo.core.errors.DataError` that names
the file, the line and the column.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.errors import DataError, close_matches
from ._checks import int_labels, one_line
from .memory import DeviceDataset, _finish

__all__ = ["CSV_SUFFIXES", "load_csv", "read_csv"]

CSV_SUFFIXES = (".csv", ".tsv")
_SNIFF_CHARS = 8192  # the text the delimiter is guessed from


def load_csv(path: Path, *, device: str | torch.device = "cpu", label_column: str | int | None = None) -> DeviceDataset:
    """A table of numbers as a dataset on ``device``, standardised per column.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp(), "t.csv"); _ = f.write_text("a,b,label\\n1,2,0\\n3,5,1\\n")
    >>> ds = load_csv(f, label_column="label")
    >>> ds.x.tolist(), ds.y.tolist()
    ([[-1.0, -1.0], [1.0, 1.0]], [0, 1])
    """
    raw, y = read_csv(path, label_column)
    return _finish(raw, y, name=path.name, device=device, standardise=True)


def read_csv(path: Path, label_column: str | int | None = None) -> tuple[Tensor, Tensor | None]:
    """``(features (N, F) float32, labels (N,) int64 or None)`` of a CSV/TSV file, unscaled.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp(), "t.csv"); _ = f.write_text("1;2;7\\n3;4;8\\n")
    >>> x, y = read_csv(f, label_column=-1)
    >>> x.tolist(), y.tolist()
    ([[1.0, 2.0], [3.0, 4.0]], [7, 8])
    """
    try:
        rows = _rows(path)
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not UTF-8 text (byte {e.start}: {e.object[e.start : e.start + 1]!r}); save the CSV as "
            "UTF-8 (e.g. pandas: df.to_csv(path, encoding='utf-8'))"
        ) from None
    except csv.Error as e:
        raise DataError(f"cannot parse {path} as CSV ({one_line(e)}); aezoo reads numeric CSV columns") from None
    if not rows:
        raise DataError(f"{path} is empty; expected rows of numbers")
    header = [cell.strip() for cell in rows[0][1]] if not any(map(_is_number, rows[0][1])) else None
    body = rows[1:] if header else rows
    names = header or [str(i) for i in range(len(rows[0][1]))]
    label = _label_index(label_column, names, header is not None, path)
    data = torch.from_numpy(_numbers(body, names, path, "header" if header else "first row"))
    if label is None:
        return data.float(), None
    y = int_labels(data[:, label], path, names[label])
    return data[:, [i for i in range(len(names)) if i != label]].float(), y


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file, each with the line it ends on."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(_SNIFF_CHARS)
        f.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
        reader = csv.reader(f, dialect)
        return [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]


def _numbers(body: list[tuple[int, list[str]]], names: list[str], path: Path, first: str) -> np.ndarray:
    """The cells as one ``(rows, columns)`` float64 array, converted by NumPy as ``float()`` converts them."""
    if not body:
        return np.empty((0, len(names)))
    try:
        values = np.array([row for _, row in body], dtype=np.float64)
    except ValueError as e:  # a ragged row or a word; NumPy does not say where
        raise _first_problem(body, names, path, first, e) from None
    if values.shape != (len(body), len(names)):  # every row one width, but not the first row's
        raise _first_problem(body, names, path, first, None)
    return values


def _first_problem(
    body: list[tuple[int, list[str]]], names: list[str], path: Path, first: str, e: ValueError | None
) -> DataError:
    """The first row (in file order) that is ragged or holds a word, as an error naming its line and column."""
    for line, row in body:
        if len(row) != len(names):
            return DataError(f"{path}, line {line}: {len(row)} columns where the {first} has {len(names)}")
        for c, cell in enumerate(row):
            if not _is_number(cell):
                return DataError(
                    f"{path}, line {line}, column {c + 1} ({names[c]!r}): {cell!r} is not a number; "
                    "aezoo reads numeric CSV columns only (encode categories as numbers first)"
                )
    return DataError(f"cannot read {path} as numbers ({one_line(e) if e else 'unexpected shape'})")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _label_index(label_column: str | int | None, names: list[str], has_header: bool, path: Path) -> int | None:
    """Which column holds the labels: a header name, or an index (a string of digits without a header)."""
    if label_column is None:
        return None
    if not has_header and isinstance(label_column, str) and label_column.lstrip("-").isdigit():
        label_column = int(label_column)
    if isinstance(label_column, int) and not isinstance(label_column, bool):
        if not -len(names) <= label_column < len(names):
            raise DataError(f"label_column={label_column} is out of range; {path} has {len(names)} columns")
        return label_column % len(names)
    if has_header and label_column in names:
        return names.index(label_column)
    near = close_matches(str(label_column), names)
    hint = f"; did you mean {', '.join(map(repr, near))}?" if near else f"; columns: {', '.join(map(repr, names))}"
    raise DataError(f"label column {label_column!r} not found in {path}{hint}")
