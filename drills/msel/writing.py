"""Writing a scenario file: the rows of an export (the format the import reads), as CSV with a
BOM or as XLSX, every cell through ``directory.exports.safe_cell``."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from directory.exports import csv_lines, safe_cell
from directory.models import Post

from ..models import Scenario
from .cells import COLUMNS, CONTROL, KINDS, PRIORITIES, expectations_format, offset_format


# --- writing a file -------------------------------------------------------------------------
def export_rows(*, scenario: Scenario, english: bool) -> list[list[Any]]:
    """Header and one row per inject in number order, as the import reads them back. A post
    is written by name, or by code where several posts share the name (副本部長)."""
    shared = {n for n, c in Counter(Post.objects.values_list("name", flat=True)).items() if c > 1}
    lang = 1 if english else 0
    rows: list[list[Any]] = [[c.name if english else c.japanese[0] for c in COLUMNS]]
    injects = scenario.injects.select_related("from_post", "to_group", "contingency")
    for i in injects.prefetch_related("to_units").order_by("number"):
        post = i.from_post
        rows.append(
            [
                i.number,
                offset_format(i.offset),
                KINDS[i.kind][lang],
                (post.code if post.name in shared else post.name)
                if post
                else ("control" if english else CONTROL),
                i.to_group.name if i.to_group else "",
                " ".join(u.code for u in sorted(i.to_units.all(), key=lambda u: u.code)),
                PRIORITIES[i.priority][lang],
                i.text,
                expectations_format(i.expectations, english=english),
                i.objective,
                i.contingency.number if i.contingency else "",
                ("yes" if english else "○") if i.only_as_contingency else "",
            ]
        )
    return rows


def export_csv(*, scenario: Scenario, english: bool) -> bytes:
    """UTF-8 with a BOM (Excel in Japan opens it as UTF-8); every cell through ``safe_cell``."""
    return "".join(csv_lines(export_rows(scenario=scenario, english=english))).encode("utf-8")


WIDTHS = (6, 10, 18, 14, 22, 16, 8, 60, 36, 30, 8, 10)


def export_xlsx(*, scenario: Scenario, english: bool) -> bytes:
    """The same rows as a workbook; times are text cells (Excel would read 05:00 as 5 hours)."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "MSEL"
    for row in export_rows(scenario=scenario, english=english):
        sheet.append([safe_cell(v) for v in row])
    for index, width in enumerate(WIDTHS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = width
        for cell in sheet[letter][1:]:
            if isinstance(cell.value, str):
                cell.number_format = "@"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
