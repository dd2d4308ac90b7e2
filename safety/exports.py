"""A round as a spreadsheet: one row per person asked (unit, name, employee number, the current
answer in the reader's language, first and latest answer time, whether it was given on their
behalf and by whom, where they are expected and their check-in), then the totals per unit
(answers, counts per choice, assembly). CSV (streamed, line by line: 30,000 people never sit
in memory as text) and XLSX (a second sheet for the totals).

Every cell goes through ``directory.exports.safe_cell``: a name or a comment that starts with
``=`` (``=HYPERLINK(...)``) is written as text, never run as a formula. Private contacts are a
column only for administrators (the view decides, ``selectors.user_sees_private_contacts``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from directory.exports import csv_lines, safe_cell
from directory.models import User
from realtime import clock

from . import assembly_board, selectors
from .models import CheckIn, SafetyAnswer, SafetyRequest, SafetyRound
from .questions import CHOICE, OTHER_PLACE, OWN_OFFICE, PLACE, question_list

CHUNK = 2000


def _when(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _status_labels() -> dict[str, str]:
    return {
        assembly_board.ARRIVED: _("arrived"),
        assembly_board.ON_THE_WAY: _("on the way"),
        assembly_board.LATE: _("late"),
        assembly_board.MISSING: _("not arrived"),
    }


class _Labels:
    """The round's questions and answers in the reader's language, looked up once."""

    def __init__(self, round_: SafetyRound, place_names: dict[int, str]):
        self.questions = question_list(round_.questions)
        self.place_names = place_names
        self.choices = {
            q["key"]: {value: _(label) for value, label in q["choices"]}
            for q in self.questions
            if q.get("type", CHOICE) == CHOICE
        }
        self.vias = dict(SafetyAnswer.Via.choices)

    def header(self) -> list[str]:
        return [_(q["label"]) for q in self.questions]

    def answer(self, values: dict[str, Any] | None) -> list[str]:
        if not values:
            return [""] * len(self.questions)
        out = []
        for q in self.questions:
            key, value = q["key"], values.get(q["key"])
            if value is None:
                out.append("")
            elif key in self.choices:
                out.append(self.choices[key].get(value, str(value)))
            elif q.get("type") == PLACE:
                if value == OWN_OFFICE:
                    out.append(_("My own office"))
                elif value == OTHER_PLACE:
                    out.append(values.get(f"{key}_other", ""))
                else:
                    out.append(self.place_names.get(value, str(value)))
            else:
                out.append(str(value))
        return out


def _people_header(labels: _Labels, private: bool) -> list[str]:
    return [
        _("Unit"),
        _("Employee number"),
        _("Name"),
        *labels.header(),
        _("First answer at"),
        _("Latest answer at"),
        _("How"),
        _("On behalf"),
        _("Entered by"),
        _("Expected at"),
        _("Assembly"),
        _("Checked in at (place)"),
        _("Checked in at (time)"),
        _("Checked in by"),
        *([_("Private e-mail")] if private else []),
    ]


def _names(user_ids: set[int]) -> dict[int, str]:
    return {
        u.pk: u.display_name() for u in User.objects.filter(pk__in=user_ids).select_related("staff")
    }


def people_rows(*, round_: SafetyRound, private: bool) -> Iterator[list[Any]]:
    """The header, then one row per person asked, in unit order then reading."""
    index = assembly_board.places()
    labels = _Labels(round_, index.names)
    now = clock.now()
    expected = {e.request_id: e for e in assembly_board.expected(round_=round_, index=index)}
    first_visit: dict[int, tuple[int, datetime, int | None]] = {}
    for rid, pid, at, by in (
        CheckIn.objects.filter(round=round_)
        .order_by("at", "pk")
        .values_list("request_id", "place_id", "at", "entered_by_id")
    ):
        first_visit.setdefault(rid, (pid, at, by))
    names = _names(
        set(
            SafetyAnswer.objects.filter(round=round_, entered_by__isnull=False).values_list(
                "entered_by_id", flat=True
            )
        )
        | {by for _p, _a, by in first_visit.values() if by}
    )
    statuses = _status_labels()
    yes = _("yes")
    yield _people_header(labels, private)
    fields = [
        "pk",
        "unit__name",
        "staff__employee_number",
        "staff__family_name",
        "staff__given_name",
        "first_answer_at",
        "answer__at",
        "answer__values",
        "answer__via",
        "answer__entered_by_id",
    ]
    if private:
        fields.append("staff__safety_contact__email")
    rows = (
        SafetyRequest.objects.filter(round=round_)
        .order_by("unit__path", "staff__kana_sort", "pk")
        .values_list(*fields)
    )
    for row in rows.iterator(chunk_size=CHUNK):
        rid, unit, number, family, given, first_at, at, values, via, by = row[:10]
        e = expected.get(rid)
        visit = first_visit.get(rid)
        status = ""
        if e is not None:
            arrived = visit is not None
            status = statuses[
                assembly_board.status_of(round_=round_, due=e.due, arrived=arrived, now=now)
            ]
        elif visit is not None:
            status = statuses[assembly_board.ARRIVED]
        expected_at = ""
        if e is not None:
            expected_at = index.names.get(e.place_id, "") if e.place_id else e.other
        yield [
            unit,
            number,
            f"{family} {given}",
            *labels.answer(values),
            _when(first_at),
            _when(at),
            str(labels.vias.get(via, via or "")),
            yes if by else "",
            names.get(by, "") if by else "",
            expected_at,
            status,
            index.names.get(visit[0], "") if visit else "",
            _when(visit[1]) if visit else "",
            names.get(visit[2], "") if visit and visit[2] else "",
            *([row[10] or ""] if private else []),
        ]


def totals_rows(*, round_: SafetyRound) -> list[list[Any]]:
    """The header, then one row per unit (tree order, rolled up): asked, answered, counts per
    choice, and assembly (expected, arrived, late, not arrived)."""
    totals = selectors.round_totals(round_=round_, fresh=True)
    board = assembly_board.assembly_board(round_=round_, fresh=True)
    by_unit = {u.unit_id: u.counts for u in board.units}
    choices = [
        (q["key"], value, f"{_(q['label'])}: {_(label)}")
        for q in question_list(round_.questions)
        if q.get("type", CHOICE) == CHOICE
        for value, label in q["choices"]
    ]
    out: list[list[Any]] = [
        [
            _("Unit"),
            _("Tree depth"),
            _("Asked"),
            _("Have answered"),
            _("Have not answered"),
            _("Have answered (%)"),
            *[title for _k, _v, title in choices],
            _("Expected to come"),
            _("Arrived"),
            _("Late"),
            _("Not arrived"),
        ]
    ]
    for unit in totals.units:
        assembly = by_unit.get(unit.unit_id) or assembly_board.Counts()
        out.append(
            [
                unit.name,
                unit.depth,
                unit.total,
                unit.answered,
                unit.unanswered,
                unit.percent,
                *[unit.answers.get(key, {}).get(value, 0) for key, value, _t in choices],
                assembly.expected,
                assembly.arrived,
                assembly.late,
                assembly.missing,
            ]
        )
    return out


def round_csv(*, round_: SafetyRound, private: bool) -> Iterator[str]:
    """CSV text line by line: the people, a blank line, then the totals per unit."""

    def rows():
        yield from people_rows(round_=round_, private=private)
        yield []
        yield [_("Totals by unit")]
        yield from totals_rows(round_=round_)

    return csv_lines(rows())


def _xlsx_cell(value: Any) -> Any:
    value = safe_cell(value)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters break the file
    return value


def round_xlsx(*, round_: SafetyRound, private: bool) -> bytes:
    """A workbook: the people on the first sheet, the totals per unit on the second."""
    from openpyxl import Workbook  # only when a workbook is asked for: it is slow to import

    book = Workbook(write_only=True)
    people = book.create_sheet(_("Answers")[:31])
    people.freeze_panes = "D2"
    rows = people_rows(round_=round_, private=private)
    header = next(rows)
    people.append([_xlsx_cell(v) for v in header])
    # The answer and check-in times as real times in Excel (sortable, filterable).
    times = [
        header.index(name)
        for name in (_("First answer at"), _("Latest answer at"), _("Checked in at (time)"))
    ]
    for row in rows:
        for i in times:
            row[i] = _excel_time(row[i])
        people.append([_xlsx_cell(v) for v in row])
    sheet = book.create_sheet(_("Totals by unit")[:31])
    sheet.freeze_panes = "B2"
    for row in totals_rows(round_=round_):
        sheet.append([_xlsx_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _excel_time(text: str) -> datetime | str:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return text
