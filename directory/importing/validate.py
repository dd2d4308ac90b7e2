"""Checking and planning: records + what the database holds now → a ``Plan`` (create / update /
unchanged / deactivate) or the list of errors, one per bad cell, with the row number the user
sees. ``plan_staff`` and ``plan_units`` are pure; ``job_read_and_plan`` loads the directory's
current rows for them (reads only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from ..models import ImportJob, OrgUnit, Staff
from .errors import (
    ERR_BAD_ACTIVE,
    ERR_BAD_EMAIL,
    ERR_DUPLICATE_EMPLOYEE,
    ERR_DUPLICATE_UNIT,
    ERR_FILE_NO_ROWS,
    ERR_UNIT_CYCLE,
    ERR_UNKNOWN_KIND,
    ERR_UNKNOWN_PARENT,
    ERR_UNKNOWN_UNIT,
    ImportFileError,
    RowError,
)
from .parse import (
    STAFF_COLUMNS,
    UNIT_COLUMNS,
    Table,
    norm_code,
    norm_header,
    read_table,
    table_records,
)

SAMPLE_SIZE = 10

# --- value vocabularies ---------------------------------------------------------------------
UNIT_KINDS = {
    **{k: k for k in OrgUnit.Kind.values},
    "市": "city",
    "局": "bureau",
    "区": "ward",
    "室": "office",
    "部": "department",
    "課": "section",
}
ACTIVE_VALUES = {
    **dict.fromkeys(("1", "true", "yes", "y", "在職", "○", "〇", "はい", ""), True),
    **dict.fromkeys(("0", "false", "no", "n", "退職", "×", "いいえ"), False),
}


# --- planning (pure) ------------------------------------------------------------------------
STAFF_FIELDS = (
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "unit_id",
    "job_title",
    "email",
    "mobile",
    "is_active",
)


@dataclass
class Plan:
    errors: list[RowError] = field(default_factory=list)
    create: list[Any] = field(default_factory=list)
    update: list[Any] = field(default_factory=list)
    deactivate: list[Any] = field(default_factory=list)
    unchanged: int = 0
    total_rows: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"created": [], "updated": [], "unchanged": [], "deactivated": []}
    )
    missing_active: int = 0
    reactivated: int = 0
    changed_fields: set[str] = field(default_factory=set)  # what ``update`` rows have changed

    def sample(self, bucket: str, item: dict[str, Any]) -> None:
        if len(self.samples[bucket]) < SAMPLE_SIZE:
            self.samples[bucket].append(item)

    def summary(self) -> dict[str, Any]:
        return {
            "total_rows": self.total_rows,
            "counts": {
                "created": len(self.create),
                "updated": len(self.update),
                "unchanged": self.unchanged,
                "deactivated": len(self.deactivate),
            },
            "reactivated": self.reactivated,
            "missing_active": self.missing_active,
            "samples": self.samples,
        }


def plan_staff(
    table: Table,
    *,
    existing: Mapping[str, Staff],
    unit_ids: Mapping[str, int],
    deactivate_missing: bool,
) -> Plan:
    """Compare the roster with ``existing`` (employee number → Staff loaded for this plan).

    Rows to update are the existing instances with the new values set on them; rows to create
    are new, unsaved instances. Search keys are filled in by ``apply_staff``.
    """
    plan = Plan(total_rows=len(table.rows))
    records, labels = table_records(table, STAFF_COLUMNS, plan.errors)
    seen: dict[str, int] = {}
    unit_codes = {pk: code for code, pk in unit_ids.items()}
    for number, rec in records:
        number_key = norm_code(rec["employee_number"])
        if number_key in seen:
            plan.errors.append(
                RowError(
                    number,
                    labels["employee_number"],
                    str(ERR_DUPLICATE_EMPLOYEE) % {"row": seen[number_key]},
                )
            )
        elif number_key:
            seen[number_key] = number
        unit_code = norm_code(rec["unit_code"])
        unit_id = unit_ids.get(unit_code)
        if unit_code and unit_id is None:
            plan.errors.append(RowError(number, labels["unit_code"], str(ERR_UNKNOWN_UNIT)))
        email = rec.get("email", "")
        if email:
            try:
                validate_email(email)
            except ValidationError:
                plan.errors.append(RowError(number, labels["email"], str(ERR_BAD_EMAIL)))
        active = ACTIVE_VALUES.get(norm_header(rec.get("active", "")))
        if active is None:
            plan.errors.append(RowError(number, labels["active"], str(ERR_BAD_ACTIVE)))
        if plan.errors:
            continue  # once anything is wrong nothing will be written: keep checking, stop planning
        values: dict[str, Any] = {
            "family_name": rec["family_name"],
            "given_name": rec["given_name"],
            "family_kana": rec["family_kana"],
            "given_kana": rec["given_kana"],
            "unit_id": unit_id,
            "is_active": active,
        }
        for name in ("job_title", "email", "mobile"):
            if name in rec:  # an optional column left out of the file leaves the field alone
                values[name] = rec[name]
        staff = existing.get(number_key)
        if staff is None:
            staff = Staff(employee_number=number_key, **values)
            plan.create.append(staff)
            plan.sample(
                "created",
                {
                    "row": number,
                    "employee_number": number_key,
                    "name": staff.full_name,
                    "unit_code": unit_code,
                },
            )
            continue
        changes = {k: [getattr(staff, k), v] for k, v in values.items() if getattr(staff, k) != v}
        if not changes:
            plan.unchanged += 1
            plan.sample(
                "unchanged", {"row": number, "employee_number": number_key, "name": staff.full_name}
            )
            continue
        if "is_active" in changes and active:
            plan.reactivated += 1
        plan.changed_fields.update(changes)
        if "unit_id" in changes:
            changes["unit_code"] = [unit_codes.get(changes.pop("unit_id")[0], ""), unit_code]
        for k, v in values.items():
            setattr(staff, k, v)
        plan.update.append(staff)
        plan.sample(
            "updated",
            {
                "row": number,
                "employee_number": number_key,
                "name": staff.full_name,
                "changes": changes,
            },
        )
    if plan.errors:
        plan.create, plan.update = [], []
        return plan
    for number_key, staff in existing.items():
        if number_key in seen or not staff.is_active:
            continue
        plan.missing_active += 1
        if deactivate_missing:
            staff.is_active = False
            plan.deactivate.append(staff)
            plan.sample("deactivated", {"employee_number": number_key, "name": staff.full_name})
    return plan


def plan_units(table: Table, *, existing: Mapping[str, OrgUnit]) -> Plan:
    """Units by code. Parents may come later in the file or already be in the directory."""
    plan = Plan(total_rows=len(table.rows))
    records, labels = table_records(table, UNIT_COLUMNS, plan.errors)
    by_code: dict[str, tuple[int, dict[str, str]]] = {}
    for number, rec in records:
        code = norm_code(rec["code"])
        rec["code"] = code
        rec["parent_code"] = norm_code(rec.get("parent_code", ""))
        if code in by_code:
            plan.errors.append(
                RowError(
                    number, labels["code"], str(ERR_DUPLICATE_UNIT) % {"row": by_code[code][0]}
                )
            )
            continue
        if code:
            by_code[code] = (number, rec)
        kind = UNIT_KINDS.get(norm_header(rec["kind"]))
        if rec["kind"] and kind is None:
            plan.errors.append(RowError(number, labels["kind"], str(ERR_UNKNOWN_KIND)))
        rec["kind"] = kind or ""
    # The tree after the import: the directory's parent links, overridden by the file's.
    code_of = {u.pk: code for code, u in existing.items()}
    parent_of = {code: code_of.get(u.parent_id, "") for code, u in existing.items()}
    for code, (number, rec) in by_code.items():
        parent_of[code] = rec["parent_code"]
        parent = rec["parent_code"]
        if parent and parent not in by_code and parent not in existing:
            plan.errors.append(RowError(number, labels["parent_code"], str(ERR_UNKNOWN_PARENT)))
    for code, (number, _rec) in by_code.items():
        # Report the units on the loop itself, not those that merely hang below it.
        seen, node = {code}, parent_of.get(code, "")
        while node and node in parent_of and node not in seen:
            seen.add(node)
            node = parent_of[node]
        if node == code:
            plan.errors.append(RowError(number, labels["parent_code"], str(ERR_UNIT_CYCLE)))
    if plan.errors:
        plan.errors.sort(key=lambda e: e.row or 0)
        return plan
    for code, (number, rec) in by_code.items():
        values = {"name": rec["name"], "kind": rec["kind"]}
        if "kana" in labels:
            values["kana"] = rec["kana"]
        unit = existing.get(code)
        if unit is None:
            unit = OrgUnit(code=code, **values)
            unit.parent_code = rec["parent_code"]  # resolved to an id by apply_units
            plan.create.append(unit)
            plan.sample(
                "created",
                {"row": number, "code": code, "name": unit.name, "parent_code": rec["parent_code"]},
            )
            continue
        changes = {k: [getattr(unit, k), v] for k, v in values.items() if getattr(unit, k) != v}
        old_parent = code_of.get(unit.parent_id, "")
        if old_parent != rec["parent_code"]:
            changes["parent_code"] = [old_parent, rec["parent_code"]]
        if not changes:
            plan.unchanged += 1
            plan.sample("unchanged", {"row": number, "code": code, "name": unit.name})
            continue
        for k, v in values.items():
            setattr(unit, k, v)
        unit.parent_code = rec["parent_code"]
        plan.update.append(unit)
        plan.sample("updated", {"row": number, "code": code, "name": unit.name, "changes": changes})
    return plan


# --- against the directory now (reads) -----------------------------------------------------
def _load_staff() -> dict[str, Staff]:
    fields = ("id", "employee_number", *STAFF_FIELDS, "user_id")
    return {s.employee_number: s for s in Staff.objects.only(*fields).order_by()}


def _load_units() -> dict[str, OrgUnit]:
    fields = ("id", "code", "name", "kana", "kind", "parent_id")
    return {u.code: u for u in OrgUnit.objects.only(*fields).order_by()}


def _job_plan(job: ImportJob, table: Table) -> Plan:
    """Plan a job's table against the directory as it is now."""
    if job.kind == ImportJob.Kind.UNITS:
        return plan_units(table, existing=_load_units())
    unit_ids = dict(OrgUnit.objects.values_list("code", "id"))
    return plan_staff(
        table, existing=_load_staff(), unit_ids=unit_ids, deactivate_missing=job.deactivate_missing
    )


def job_read_and_plan(job: ImportJob) -> tuple[Plan | None, list[RowError]]:
    """Read the job's stored file and plan it: (plan, errors); no plan if the file is unreadable.

    Sets ``job.encoding`` (not saved).
    """
    try:
        table = read_table(filename=job.filename, content=bytes(job.content))
    except ImportFileError as exc:
        return None, [RowError(None, "", str(exc.message))]
    job.encoding = table.encoding
    plan = _job_plan(job, table)
    if not plan.errors and not table.rows:
        return plan, [RowError(None, "", str(ERR_FILE_NO_ROWS))]
    return plan, plan.errors
