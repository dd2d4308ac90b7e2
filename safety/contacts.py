"""Private contacts for safety confirmation (SafetyContact): a private e-mail address, which the
request to answer is also sent to (notify.py). The person sets their own on /safety/contact/;
administrators import them in bulk from CSV (employee number, private e-mail; UTF-8 or
Shift_JIS, or an Excel workbook) in the admin. An import is all or nothing: every bad row is
named with its row, column and reason, and nothing is written. Only administrators and the
person see an address (selectors.user_sees_private_contacts)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext_lazy

from directory import importing
from directory.importing import Column, ImportFileError, RowError, read_table
from directory.importing.parse import table_records
from directory.models import Staff, User
from directory.services import audit_record
from realtime import clock

from . import selectors
from .models import SafetyContact

ERR_EMAIL = gettext_lazy("Enter a valid e-mail address.")
ERR_NO_STAFF = gettext_lazy("No member of staff has this employee number.")
ERR_DUPLICATE = gettext_lazy("This employee number already appears in row %(row)d.")
ERR_NO_ROWS = gettext_lazy("The file has no rows to import.")
ERR_NOT_ADMIN = gettext_lazy("Only administrators can import private contacts.")

EMAIL_MAX = 254
COLUMNS = (
    Column("employee_number", ("職員番号",), True, 20),
    Column(
        "email",
        ("私用メール", "私用メールアドレス", "メール", "メールアドレス", "private_email", "e-mail"),
        True,
        EMAIL_MAX,
    ),
)


def _valid_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return len(value) <= EMAIL_MAX


@transaction.atomic
def contact_set(
    *, staff: Staff, email: str, actor: User | None, source: str = "self"
) -> SafetyContact | None:
    """Set (or, with an empty address, remove) someone's private e-mail. The person for
    themselves, or an administrator; audited without the address."""
    if actor is not None and actor.pk != staff.user_id:
        if not selectors.user_sees_private_contacts(user=actor):
            raise PermissionDenied(ERR_NOT_ADMIN)
    email = (email or "").strip()
    if not email:
        deleted, _rows = SafetyContact.objects.filter(staff=staff).delete()
        if deleted:
            audit_record(actor=actor, action="safety.contact_remove", target=staff)
        return None
    if not _valid_email(email):
        raise ValidationError({"email": ERR_EMAIL})
    contact, created = SafetyContact.objects.update_or_create(
        staff=staff, defaults={"email": email, "source": source}
    )
    audit_record(
        actor=actor,
        action="safety.contact_set",
        target=staff,
        data={"source": source, "created": created},
    )
    return contact


class ContactsImportInvalid(ValidationError):
    """Every bad row (row, column, reason); nothing was imported."""

    def __init__(self, errors: list[RowError]):
        super().__init__([e.message for e in errors])
        self.errors = errors


@dataclass
class ContactsImported:
    created: int
    updated: int

    @property
    def rows(self) -> int:
        return self.created + self.updated


def _looks_like_data(header: list[str]) -> bool:
    """A file without a header row starts with an employee number (digits), not a name."""
    return bool(header) and importing.norm_code(header[0]).isdigit()


def contacts_import(*, filename: str, content: bytes, actor: User) -> ContactsImported:
    """Import private e-mails (employee number, e-mail per row; a header row is optional).
    All or nothing: raises ContactsImportInvalid with every bad row, writing nothing."""
    if not selectors.user_sees_private_contacts(user=actor):
        raise PermissionDenied(ERR_NOT_ADMIN)
    importing.import_check_size(size=len(content))
    try:
        table = read_table(filename=filename, content=content)
    except ImportFileError as exc:
        raise ContactsImportInvalid([RowError(None, "", str(exc.message))]) from exc
    if _looks_like_data(table.header):
        table.rows.insert(0, (1, table.header))
        table.header = [COLUMNS[0].name, COLUMNS[1].name]
    errors: list[RowError] = []
    records, labels = table_records(table, COLUMNS, errors)
    if not errors and not records:
        errors.append(RowError(None, "", str(ERR_NO_ROWS)))
    numbers = {importing.norm_code(r["employee_number"]) for _n, r in records}
    staff_ids = dict(
        Staff.objects.filter(employee_number__in=numbers).values_list("employee_number", "id")
    )
    seen: dict[str, int] = {}
    wanted: dict[int, str] = {}
    for row, record in records:
        number = importing.norm_code(record.get("employee_number", ""))
        email = record.get("email", "").strip()
        number_label = labels.get("employee_number", COLUMNS[0].label)
        if number and number in seen:
            errors.append(RowError(row, number_label, str(ERR_DUPLICATE) % {"row": seen[number]}))
        elif number and number not in staff_ids:
            errors.append(RowError(row, number_label, str(ERR_NO_STAFF)))
        if email and not _valid_email(email):
            errors.append(RowError(row, labels.get("email", COLUMNS[1].label), str(ERR_EMAIL)))
        if number:
            seen.setdefault(number, row)
        if number in staff_ids and email:
            wanted[staff_ids[number]] = email
    if errors:
        raise ContactsImportInvalid(sorted(errors, key=lambda e: (e.row or 0, e.column)))
    return _write(wanted, actor=actor, filename=filename)


@transaction.atomic
def _write(wanted: dict[int, str], *, actor: User, filename: str) -> ContactsImported:
    now = clock.now()
    existing = {c.staff_id: c for c in SafetyContact.objects.filter(staff_id__in=wanted)}
    changed = []
    for staff_id, contact in existing.items():
        contact.email, contact.source, contact.updated_at = wanted[staff_id], "import", now
        changed.append(contact)
    SafetyContact.objects.bulk_update(changed, ["email", "source", "updated_at"], batch_size=1000)
    SafetyContact.objects.bulk_create(
        [
            SafetyContact(staff_id=staff_id, email=email, source="import", updated_at=now)
            for staff_id, email in wanted.items()
            if staff_id not in existing
        ],
        batch_size=1000,
    )
    result = ContactsImported(created=len(wanted) - len(existing), updated=len(existing))
    audit_record(
        actor=actor,
        action="safety.contacts_import",
        data={"file": filename[:100], "created": result.created, "updated": result.updated},
    )
    return result
