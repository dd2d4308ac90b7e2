"""Reading an upload (pure): bytes → a ``Table`` of strings (encoding detection, XLSX via
openpyxl), then the header mapped onto the known columns and each row turned into a record of
stripped cells with the per-cell format checks (required, length, a value without a header)."""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import (
    ERR_DUPLICATE_COLUMN,
    ERR_EXTRA_CELL,
    ERR_FILE_EMPTY,
    ERR_FILE_ENCODING,
    ERR_FILE_TYPE,
    ERR_FILE_XLSX,
    ERR_MISSING_COLUMN,
    ERR_REQUIRED,
    ERR_TOO_LONG,
    ERR_UNKNOWN_COLUMN,
    ImportFileError,
    RowError,
)


# --- reading --------------------------------------------------------------------------------
@dataclass
class Table:
    encoding: str
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (spreadsheet row number, cells)


def decode_csv(content: bytes) -> tuple[str, str]:
    """(text, encoding): BOM → utf-8-sig; else strict UTF-8; else cp932 (Excel's Shift_JIS)."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content.decode("utf-8-sig"), "utf-8-sig"
    for encoding in ("utf-8", "cp932"):
        try:
            return content.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportFileError(ERR_FILE_ENCODING)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 100001.0 typed as a number in Excel
    return str(value)


def _strip_blank_tail(cells: list[str]) -> list[str]:
    while cells and not cells[-1].strip():
        cells.pop()
    return cells


def read_table(*, filename: str, content: bytes) -> Table:
    is_zip = content.startswith(b"PK\x03\x04")
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm")) or (is_zip and not name.endswith(".csv")):
        lines, encoding = _xlsx_lines(content), "xlsx"
    elif name.endswith((".csv", ".txt")) or not name.rpartition(".")[1]:
        text, encoding = decode_csv(content)
        lines = (list(r) for r in csv.reader(io.StringIO(text, newline="")))
    else:
        raise ImportFileError(ERR_FILE_TYPE)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for number, cells in enumerate(lines, start=1):
            cells = _strip_blank_tail(cells)
            if header is None:
                if number != 1 or not cells:
                    raise ImportFileError(ERR_FILE_EMPTY)
                header = cells
            elif cells:  # blank rows (Excel leaves some at the end) are skipped, not numbered away
                rows.append((number, cells))
    except csv.Error as exc:
        raise ImportFileError(ERR_FILE_ENCODING) from exc
    if header is None:
        raise ImportFileError(ERR_FILE_EMPTY)
    return Table(encoding=encoding, header=header, rows=rows)


def _xlsx_lines(content: bytes) -> Iterator[list[str]]:
    import openpyxl  # only when a workbook is uploaded: it is slow to import

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError(ERR_FILE_XLSX) from exc
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers store a wrong size; read what is there
        for values in sheet.iter_rows(min_row=1, values_only=True):
            yield [_cell_text(v) for v in values]
    finally:
        workbook.close()


# --- header mapping -----------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str  # English header and the key used in code
    japanese: tuple[str, ...]
    required: bool
    max_length: int | None = None

    @property
    def label(self) -> str:
        return f"{self.japanese[0]} / {self.name}"


STAFF_COLUMNS = (
    Column("employee_number", ("職員番号",), True, 20),
    Column("family_name", ("姓",), True, 50),
    Column("given_name", ("名",), True, 50),
    Column("family_kana", ("姓カナ", "せい", "姓かな", "セイ"), True, 100),
    Column("given_kana", ("名カナ", "めい", "名かな", "メイ"), True, 100),
    Column("unit_code", ("所属コード",), True, 20),
    Column("job_title", ("職名",), False, 100),
    Column("email", ("メール", "メールアドレス"), False, 254),
    Column("mobile", ("携帯電話", "携帯"), False, 30),
    Column("active", ("在職",), False),
)
UNIT_COLUMNS = (
    Column("code", ("所属コード", "unit_code"), True, 20),
    Column("name", ("名称",), True, 100),
    Column("kana", ("よみ", "読み", "かな"), False, 200),
    Column("kind", ("種別",), True),
    Column("parent_code", ("上位所属コード",), False, 20),
)


def norm_header(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "_")


def norm_code(text: str) -> str:
    """Employee numbers and unit codes: NFKC (full-width digits → ASCII), no whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def map_header(
    header: list[str], columns: tuple[Column, ...]
) -> tuple[dict[str, tuple[int, str]], list[RowError]]:
    """{column name: (index, header as written)} and the header errors (row 1)."""
    aliases = {norm_header(a): c.name for c in columns for a in (c.name, *c.japanese)}
    found: dict[str, tuple[int, str]] = {}
    errors: list[RowError] = []
    for index, text in enumerate(header):
        if not text.strip():
            continue  # an unnamed column; a value under it is reported per row
        name = aliases.get(norm_header(text))
        if name is None:
            errors.append(RowError(1, text.strip(), str(ERR_UNKNOWN_COLUMN)))
        elif name in found:
            errors.append(RowError(1, text.strip(), str(ERR_DUPLICATE_COLUMN)))
        else:
            found[name] = (index, text.strip())
    for column in columns:
        if column.required and column.name not in found:
            errors.append(RowError(1, column.label, str(ERR_MISSING_COLUMN)))
    return found, errors


def table_records(
    table: Table, columns: tuple[Column, ...], errors: list[RowError]
) -> tuple[list[tuple[int, dict[str, str]]], dict[str, str]]:
    """Rows as {column: stripped text} with per-cell format checks; header errors stop here."""
    found, header_errors = map_header(table.header, columns)
    errors.extend(header_errors)
    if header_errors:
        return [], {}
    labels = {name: text for name, (_i, text) in found.items()}
    by_name = {c.name: c for c in columns}
    known = {i for i, _t in found.values()}
    records = []
    for number, cells in table.rows:
        record: dict[str, str] = {}
        for name, (index, label) in found.items():
            value = cells[index].strip() if index < len(cells) else ""
            column = by_name[name]
            if column.required and not value:
                errors.append(RowError(number, label, str(ERR_REQUIRED)))
            elif column.max_length and len(value) > column.max_length:
                errors.append(
                    RowError(number, label, str(ERR_TOO_LONG) % {"max": column.max_length})
                )
            record[name] = value
        for index, value in enumerate(cells):
            if index not in known and value.strip():
                errors.append(RowError(number, f"#{index + 1}", str(ERR_EXTRA_CELL)))
        records.append((number, record))
    return records, labels
