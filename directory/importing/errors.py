"""What can be wrong with an import: the messages users see (tests import these), the error for
a file that cannot be read at all, and one bad cell (``RowError``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

ERR_FILE_TOO_LARGE = _("The file is larger than %(max_mb)s MB.")
ERR_FILE_TYPE = _("Upload a CSV file (.csv) or an Excel workbook (.xlsx).")
ERR_FILE_ENCODING = _(
    "The file could not be read as text. Save it as CSV (UTF-8 or Shift_JIS) and upload it again."
)
ERR_FILE_XLSX = _("The Excel workbook could not be read.")
ERR_FILE_EMPTY = _("The file has no header row.")
ERR_FILE_NO_ROWS = _("The file has a header row but no data rows.")
ERR_UNKNOWN_COLUMN = _("Unknown column.")
ERR_DUPLICATE_COLUMN = _("This column appears more than once.")
ERR_MISSING_COLUMN = _("Required column is missing.")
ERR_EXTRA_CELL = _("Value in a column without a header.")
ERR_REQUIRED = _("This field is required.")
ERR_TOO_LONG = _("Longer than %(max)d characters.")
ERR_BAD_EMAIL = _("Not a valid e-mail address.")
ERR_BAD_ACTIVE = _("Write 1 or 0 (or 在職 / 退職).")
ERR_UNKNOWN_UNIT = _("No unit has this code.")
ERR_DUPLICATE_EMPLOYEE = _("This employee number already appears in row %(row)d.")
ERR_DUPLICATE_UNIT = _("This unit code already appears in row %(row)d.")
ERR_UNKNOWN_KIND = _("Unknown kind; use city, bureau, ward, office, department or section.")
ERR_UNKNOWN_PARENT = _("No unit has this parent code, in the file or in the directory.")
ERR_UNIT_CYCLE = _("The parent chain of this unit loops back to itself.")
ERR_JOB_INVALID = _("This import has errors and cannot be applied.")
ERR_JOB_APPLIED = _("This import has already been applied.")


class ImportFileError(Exception):
    """The file as a whole cannot be read (not a per-row problem)."""

    def __init__(self, message: Any):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class RowError:
    row: int | None  # spreadsheet row (header = 1); None for the whole file
    column: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}
