"""Reading a scenario file: CSV (through ``directory.importing``: cp932 or UTF-8, with or
without a BOM) or XLSX (formulas as written, so they are refused), the header mapped onto the
columns, and each row read into an inject's values, every bad cell named by row, column and
reason. Posts, groups and units are looked up once per file (``Lookup``)."""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from directory.importing import (
    ERR_FILE_EMPTY,
    ERR_FILE_NO_ROWS,
    ERR_FILE_XLSX,
    ERR_REQUIRED,
    ImportFileError,
    RowError,
    Table,
    norm_code,
    read_table,
)
from directory.importing.parse import table_records
from directory.models import OrgUnit, Post
from messaging.models import CommandGroup, Message

from ..models import Inject
from .cells import (
    COLUMNS,
    CONTROL_WORDS,
    DASHES,
    ERR_FLAG,
    ERR_FORMULA,
    ERR_GROUP,
    ERR_GROUP_AMBIGUOUS,
    ERR_KIND,
    ERR_NUMBER,
    ERR_POST,
    ERR_POST_AMBIGUOUS,
    ERR_PRIORITY,
    ERR_TIME,
    ERR_UNIT,
    ERR_UNIT_AMBIGUOUS,
    FORMULA,
    KIND_WORDS,
    LIST_SPLIT,
    NO,
    PRIORITY_WORDS,
    YES,
    expectations_parse,
    fold,
    offset_parse,
)


# --- what names in a file refer to ----------------------------------------------------------
@dataclass
class Lookup:
    """Posts, command groups and units by the names a planner writes, read once per file."""

    posts_by_code: dict[str, Post] = field(default_factory=dict)
    posts_by_name: dict[str, list[Post]] = field(default_factory=dict)
    groups_by_name: dict[str, list[CommandGroup]] = field(default_factory=dict)
    units_by_code: dict[str, OrgUnit] = field(default_factory=dict)
    units_by_name: dict[str, list[OrgUnit]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Lookup:
        out = cls()
        for post in Post.objects.only("id", "code", "name").order_by("sort_order", "pk"):
            out.posts_by_code[norm_code(post.code)] = post
            out.posts_by_name.setdefault(fold(post.name), []).append(post)
        groups = CommandGroup.objects.filter(is_active=True).exclude(kind=CommandGroup.Kind.DIRECT)
        for group in groups.only("id", "name", "kind"):
            out.groups_by_name.setdefault(fold(group.name), []).append(group)
        for unit in OrgUnit.objects.only("id", "code", "name"):
            out.units_by_code[norm_code(unit.code)] = unit
            out.units_by_name.setdefault(fold(unit.name), []).append(unit)
        return out

    def post(self, word: str) -> tuple[Post | None, str]:
        """(post, "") or (None, error) for a post code or name."""
        if (post := self.posts_by_code.get(norm_code(word))) is not None:
            return post, ""
        found = self.posts_by_name.get(fold(word), [])
        if len(found) == 1:
            return found[0], ""
        if found:
            codes = ", ".join(p.code for p in found)
            return None, str(ERR_POST_AMBIGUOUS % {"post": word, "codes": codes})
        return None, str(ERR_POST % {"post": word})

    def post_name(self, word: str) -> tuple[str, str]:
        """For expectations (measured by post name): (name, "") or ("", error). A name several
        posts share (副本部長) is fine here: each of them is measured."""
        if fold(word) in self.posts_by_name:
            return self.posts_by_name[fold(word)][0].name, ""
        post, error = self.post(word)
        return (post.name, "") if post is not None else ("", error)

    def post_names(self) -> list[str]:
        return sorted({posts[0].name for posts in self.posts_by_name.values()})

    def group(self, word: str) -> tuple[CommandGroup | None, str]:
        found = self.groups_by_name.get(fold(word), [])
        if len(found) == 1:
            return found[0], ""
        return None, str((ERR_GROUP_AMBIGUOUS if found else ERR_GROUP) % {"group": word})

    def units(self, text: str) -> tuple[list[OrgUnit], list[str]]:
        """Unit codes (or names) separated by spaces or ・."""
        units, errors = [], []
        for word in LIST_SPLIT.split(unicodedata.normalize("NFKC", text)):
            if not word:
                continue
            unit = self.units_by_code.get(norm_code(word))
            found = [unit] if unit is not None else self.units_by_name.get(fold(word), [])
            if len(found) == 1:
                if found[0] not in units:
                    units.append(found[0])
            else:
                errors.append(str((ERR_UNIT_AMBIGUOUS if found else ERR_UNIT) % {"unit": word}))
        return units, errors


# --- reading a file -------------------------------------------------------------------------
@dataclass
class Row:
    """One inject as read from the file; ``None`` where the cell was wrong (see the errors)."""

    row: int
    number: int | None = None
    offset: int | None = None
    kind: str | None = None
    from_post: Post | None = None
    to_group: CommandGroup | None = None
    to_units: list[OrgUnit] = field(default_factory=list)
    priority: str = ""  # empty: urgent for an instruction, normal otherwise (as it is sent)
    text: str = ""
    expectations: list[dict[str, Any]] = field(default_factory=list)
    objective: str = ""
    contingency: int | None = None
    only_as_contingency: bool = False
    bad: set[str] = field(default_factory=set)  # columns with an error already


def number_parse(text: str) -> int | None:
    value = unicodedata.normalize("NFKC", text).strip()
    if value.endswith(".0"):  # typed as a number in a spreadsheet
        value = value[:-2]
    return int(value) if re.fullmatch(r"\d{1,5}", value) and int(value) > 0 else None


def _xlsx_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.time):  # a time typed into Excel: hh:mm:ss
        return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if isinstance(value, dt.timedelta):  # an elapsed-time cell ([h]:mm:ss)
        hours, rest = divmod(int(value.total_seconds()), 3600)
        return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return str(getattr(value, "text", value))  # an array formula's text


def _xlsx_lines(content: bytes) -> Iterator[list[str]]:
    """The first sheet's cells as text; formulas as written (``=A1``), so they are refused
    rather than read as whatever value the writer cached."""
    import openpyxl  # only when a workbook is uploaded: it is slow to import

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError(ERR_FILE_XLSX) from exc
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()
        for values in sheet.iter_rows(values_only=True):
            yield [_xlsx_text(v) for v in values]
    finally:
        workbook.close()


def _table(filename: str, content: bytes) -> Table:
    name = filename.lower()
    if not (name.endswith((".xlsx", ".xlsm")) or content.startswith(b"PK\x03\x04")):
        return read_table(filename=filename, content=content)  # CSV: cp932 / UTF-8 (BOM)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(_xlsx_lines(content), start=1):
        while cells and not cells[-1].strip():
            cells.pop()
        if header is None:
            if number != 1 or not cells:
                raise ImportFileError(ERR_FILE_EMPTY)
            header = cells
        elif cells:
            rows.append((number, cells))
    if header is None:
        raise ImportFileError(ERR_FILE_EMPTY)
    return Table(encoding="xlsx", header=header, rows=rows)


def _cell(value: str) -> tuple[str, bool]:
    """(text, looks like a formula). An apostrophe before =, +, - or @ keeps it text (and is
    how exports write such text); a cell of only a dash means nothing."""
    if value[:1] == "'" and value[1:2] in FORMULA:
        return value[1:], False
    if value in DASHES:
        return "", False
    return value, value[:1] in FORMULA


def read(*, filename: str, content: bytes) -> tuple[list[Row], list[RowError], dict[str, str]]:
    """The rows of a file, the errors of its cells (row, column as written, reason) and the
    header of each column as written (for the errors the caller adds)."""
    try:
        table = _table(filename, content)
    except ImportFileError as exc:
        row = 1 if exc.message is ERR_FILE_EMPTY else None
        return [], [RowError(row, "", str(exc.message))], {}
    errors: list[RowError] = []
    records, labels = table_records(table, COLUMNS, errors)
    if errors and not records:
        return [], errors, labels
    if not records:
        return [], [RowError(2, "", str(ERR_FILE_NO_ROWS))], labels
    required = {c.name for c in COLUMNS if c.required}
    lookup = Lookup.load()
    rows = []
    for number, record in records:
        row = Row(row=number)
        for name, raw in record.items():
            value, formula = _cell(raw)
            if formula:
                problems = [str(ERR_FORMULA)]
            elif not value and name in required:  # an empty one is reported already, a dash not
                problems = [str(ERR_REQUIRED) if raw else ""]
            else:
                problems = _read_cell(row, name, value, lookup)
            errors += [RowError(number, labels[name], m) for m in problems if m]
            if problems:
                row.bad.add(name)
        if not row.priority:
            instruction = row.kind == Inject.Kind.INSTRUCTION
            row.priority = Message.Priority.URGENT if instruction else Message.Priority.NORMAL
        rows.append(row)
    return rows, errors, labels


def _read_cell(row: Row, name: str, value: str, lookup: Lookup) -> list[str]:
    error = ""
    if name == "number":
        row.number = number_parse(value)
        error = "" if row.number else str(ERR_NUMBER)
    elif name == "time":
        row.offset = offset_parse(value)
        error = "" if row.offset is not None else str(ERR_TIME)
    elif name == "kind":
        row.kind = KIND_WORDS.get(fold(value))
        error = "" if row.kind else str(ERR_KIND)
    elif name == "from" and fold(value) not in CONTROL_WORDS | {""}:
        row.from_post, error = lookup.post(value)
    elif name == "to_group" and value:
        row.to_group, error = lookup.group(value)
    elif name == "to_units":
        row.to_units, errors = lookup.units(value)
        return errors
    elif name == "priority" and value:
        row.priority = PRIORITY_WORDS.get(fold(value), "")
        error = "" if row.priority else str(ERR_PRIORITY)  # (the row is not written then)
    elif name in ("text", "objective"):
        setattr(row, name, value)
    elif name == "expectations":
        row.expectations, errors = expectations_parse(value, lookup.post_name)
        return errors
    elif name == "contingency" and value:
        row.contingency = number_parse(value)
        error = "" if row.contingency else str(ERR_NUMBER)
    elif name == "only_as_contingency":
        flag = fold(value)
        row.only_as_contingency = flag in YES
        error = "" if flag in YES | NO else str(ERR_FLAG)
    return [error] if error else []
