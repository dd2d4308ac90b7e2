"""Bulk import of the HR roster (staff) and the unit list from CSV or XLSX, all-or-nothing.

Four steps, one module each, top to bottom:

* ``parse`` (pure): bytes → header + rows of strings (encoding detection, XLSX via openpyxl),
  the header mapped onto the known columns, each row a record with per-cell format checks;
* ``validate``: records + what the database holds now → a plan (create / update / unchanged /
  deactivate) or a list of errors, one per bad cell, with the row number the user sees;
* ``jobs``: ``import_check_size`` and ``import_preview``, which stores an ``ImportJob`` with the
  plan's summary or errors;
* ``apply``: ``import_apply`` re-reads the stored file, re-plans against the current database
  and writes the plan in one transaction with ``bulk_create``/``bulk_update``.

``errors`` holds the messages users see. Callers use ``from directory import importing`` and
the names re-exported here. The column formats are documented in docs/import-format.md.
"""

from __future__ import annotations

from .apply import BATCH_SIZE, UPDATE_BATCH_SIZE, apply_staff, apply_units, import_apply
from .errors import (
    ERR_BAD_ACTIVE,
    ERR_BAD_EMAIL,
    ERR_DUPLICATE_COLUMN,
    ERR_DUPLICATE_EMPLOYEE,
    ERR_DUPLICATE_UNIT,
    ERR_EXTRA_CELL,
    ERR_FILE_EMPTY,
    ERR_FILE_ENCODING,
    ERR_FILE_NO_ROWS,
    ERR_FILE_TOO_LARGE,
    ERR_FILE_TYPE,
    ERR_FILE_XLSX,
    ERR_JOB_APPLIED,
    ERR_JOB_INVALID,
    ERR_MISSING_COLUMN,
    ERR_REQUIRED,
    ERR_TOO_LONG,
    ERR_UNIT_CYCLE,
    ERR_UNKNOWN_COLUMN,
    ERR_UNKNOWN_KIND,
    ERR_UNKNOWN_PARENT,
    ERR_UNKNOWN_UNIT,
    ImportFileError,
    RowError,
)
from .jobs import import_check_size, import_preview
from .parse import (
    STAFF_COLUMNS,
    UNIT_COLUMNS,
    Column,
    Table,
    decode_csv,
    map_header,
    norm_code,
    norm_header,
    read_table,
)
from .validate import (
    ACTIVE_VALUES,
    SAMPLE_SIZE,
    STAFF_FIELDS,
    UNIT_KINDS,
    Plan,
    plan_staff,
    plan_units,
)

__all__ = [
    "ACTIVE_VALUES",
    "BATCH_SIZE",
    "ERR_BAD_ACTIVE",
    "ERR_BAD_EMAIL",
    "ERR_DUPLICATE_COLUMN",
    "ERR_DUPLICATE_EMPLOYEE",
    "ERR_DUPLICATE_UNIT",
    "ERR_EXTRA_CELL",
    "ERR_FILE_EMPTY",
    "ERR_FILE_ENCODING",
    "ERR_FILE_NO_ROWS",
    "ERR_FILE_TOO_LARGE",
    "ERR_FILE_TYPE",
    "ERR_FILE_XLSX",
    "ERR_JOB_APPLIED",
    "ERR_JOB_INVALID",
    "ERR_MISSING_COLUMN",
    "ERR_REQUIRED",
    "ERR_TOO_LONG",
    "ERR_UNIT_CYCLE",
    "ERR_UNKNOWN_COLUMN",
    "ERR_UNKNOWN_KIND",
    "ERR_UNKNOWN_PARENT",
    "ERR_UNKNOWN_UNIT",
    "SAMPLE_SIZE",
    "STAFF_COLUMNS",
    "STAFF_FIELDS",
    "UNIT_COLUMNS",
    "UNIT_KINDS",
    "UPDATE_BATCH_SIZE",
    "Column",
    "ImportFileError",
    "Plan",
    "RowError",
    "Table",
    "apply_staff",
    "apply_units",
    "decode_csv",
    "import_apply",
    "import_check_size",
    "import_preview",
    "map_header",
    "norm_code",
    "norm_header",
    "plan_staff",
    "plan_units",
    "read_table",
]
