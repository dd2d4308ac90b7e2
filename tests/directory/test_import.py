"""Bulk import of the roster and the unit list: reading, checking, planning and applying."""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.utils import translation

from directory import importing
from directory.importing import import_apply, import_preview
from directory.models import AuditEntry, ImportJob, OrgUnit, Staff
from directory.services import staff_search_fields, unit_search_key
from tests.factories import OrgUnitFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER_JA = ["職員番号", "姓", "名", "姓カナ", "名カナ", "所属コード", "職名", "メール", "携帯電話"]
HEADER_EN = [
    "employee_number",
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "unit_code",
    "job_title",
    "email",
    "mobile",
]
UNIT_HEADER = ["所属コード", "名称", "よみ", "種別", "上位所属コード"]


def row(n: int, unit_code: str = "K001", **over: str) -> list[str]:
    values = {
        "employee_number": f"{200000 + n}",
        "family_name": "佐藤",
        "given_name": f"花子{n}",
        "family_kana": "サトウ",
        "given_kana": f"ハナコ{n}",
        "unit_code": unit_code,
        "job_title": "主事",
        "email": f"hanako{n}@city.example.jp",
        "mobile": "090-0000-0000",
    }
    values.update(over)
    return [values[k] for k in HEADER_EN]


def csv_bytes(
    rows: list[list[str]], header: list[str] = HEADER_JA, encoding: str = "utf-8"
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def preview(
    content: bytes,
    *,
    filename: str = "roster.csv",
    kind: str = "staff",
    deactivate_missing: bool = False,
    user=None,
) -> ImportJob:
    return import_preview(
        kind=kind,
        filename=filename,
        content=content,
        deactivate_missing=deactivate_missing,
        uploaded_by=user,
    )


def error(row_number, column: str, message) -> dict:
    return {"row": row_number, "column": column, "message": str(message)}


@pytest.fixture
def unit() -> OrgUnit:
    return OrgUnitFactory(code="K001", name="危機管理課")


# --- reading --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "expected"), [("cp932", "cp932"), ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")]
)
def test_csv_in_each_excel_encoding_imports_the_same(unit, encoding, expected):
    content = csv_bytes([row(1, family_name="髙橋", given_name="﨑子"), row(2)], encoding=encoding)

    job = preview(content)
    job = import_apply(job=job, actor=None)

    assert job.encoding == expected
    assert job.status == ImportJob.Status.APPLIED
    assert job.summary["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "deactivated": 0}
    first = Staff.objects.get(employee_number="200001")
    assert (first.family_name, first.given_name, first.family_kana) == ("髙橋", "﨑子", "サトウ")
    assert first.unit == unit


def test_undecodable_file_is_one_clear_error(unit):
    job = preview(b"\x82\xa0\xff\xfe\x00garbage\x81")

    assert job.status == ImportJob.Status.INVALID
    assert job.errors == [error(None, "", importing.ERR_FILE_ENCODING)]


def test_xlsx_with_numbers_typed_as_numbers(unit):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER_JA)
    sheet.append([200001, "佐藤", "花子", "さとう", "はなこ", "K001", "主事", "", ""])
    sheet.append([])  # a blank row is skipped, but still counts for row numbers
    sheet.append([200002.0, "鈴木", "一郎", "スズキ", "イチロウ", "K001", None, None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)

    job = import_apply(job=preview(buffer.getvalue(), filename="名簿.xlsx"), actor=None)

    assert job.encoding == "xlsx"
    assert job.summary["counts"]["created"] == 2
    assert Staff.objects.get(employee_number="200001").family_kana == "さとう"  # stored as given
    assert Staff.objects.get(employee_number="200002").job_title == ""


def test_xlsx_error_row_numbers_match_the_sheet(unit):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER_JA)
    sheet.append(row(1))
    sheet.append([])
    sheet.append(row(2, unit_code="NOPE"))
    buffer = io.BytesIO()
    workbook.save(buffer)

    job = preview(buffer.getvalue(), filename="roster.xlsx")

    assert job.errors == [error(4, "所属コード", importing.ERR_UNKNOWN_UNIT)]


def test_english_headers_and_header_normalisation(unit):
    header = [
        "  Employee_Number ",
        "ＦＡＭＩＬＹ_ＮＡＭＥ",
        "given name",
        "せい",
        "めい",
        "unit_code",
        "job_title",
        "メールアドレス",
        "mobile",
    ]
    content = csv_bytes([row(1, employee_number="２０００ ０１")], header=header)

    job = import_apply(job=preview(content), actor=None)

    assert job.summary["counts"]["created"] == 1
    assert Staff.objects.filter(employee_number="200001").exists()


def test_unknown_and_missing_columns_are_reported_on_row_1(unit):
    header = ["職員番号", "姓", "名", "姓カナ", "名カナ", "部署", "メール", "email"]
    job = preview(csv_bytes([["1", "a", "b", "c", "d", "K001", "", ""]], header=header))

    assert job.status == ImportJob.Status.INVALID
    assert job.errors == [
        error(1, "部署", importing.ERR_UNKNOWN_COLUMN),
        error(1, "email", importing.ERR_DUPLICATE_COLUMN),
        error(1, "所属コード / unit_code", importing.ERR_MISSING_COLUMN),
    ]


def test_file_over_the_size_limit_is_refused(unit):
    with override_settings(HONBU_IMPORT_MAX_BYTES=100), pytest.raises(ValidationError) as exc:
        preview(csv_bytes([row(n) for n in range(10)]))

    assert exc.value.messages == [str(importing.ERR_FILE_TOO_LARGE) % {"max_mb": "9.53674e-05"}]
    assert ImportJob.objects.count() == 0


# --- all-or-nothing -------------------------------------------------------------------------
def test_one_bad_row_among_1000_imports_nothing_and_names_row_and_column(unit):
    rows = [row(n) for n in range(1000)]
    rows[617] = row(617, unit_code="K999")

    job = preview(csv_bytes(rows))

    assert job.status == ImportJob.Status.INVALID
    assert job.errors == [error(619, "所属コード", importing.ERR_UNKNOWN_UNIT)]  # header is row 1
    with pytest.raises(ValidationError) as exc:
        import_apply(job=job, actor=None)
    assert exc.value.messages == [str(importing.ERR_JOB_INVALID)]
    assert Staff.objects.count() == 0


def test_every_bad_row_is_reported(unit):
    rows = [
        row(1),
        row(2, email="not-an-address"),
        row(3, family_name=""),
        row(4, employee_number="200001"),
        row(5, unit_code="K404", given_kana="ア" * 101),
        row(6),
    ]

    job = preview(csv_bytes(rows))

    assert job.errors == [
        error(4, "姓", importing.ERR_REQUIRED),
        error(6, "名カナ", str(importing.ERR_TOO_LONG) % {"max": 100}),
        error(3, "メール", importing.ERR_BAD_EMAIL),
        error(5, "職員番号", str(importing.ERR_DUPLICATE_EMPLOYEE) % {"row": 2}),
        error(6, "所属コード", importing.ERR_UNKNOWN_UNIT),
    ]
    assert job.summary == {}
    assert Staff.objects.count() == 0


def test_duplicate_employee_number_after_normalisation(unit):
    job = preview(
        csv_bytes([row(1, employee_number="200001"), row(2, employee_number="２００００１")])
    )

    assert job.errors == [error(3, "職員番号", str(importing.ERR_DUPLICATE_EMPLOYEE) % {"row": 2})]


def test_bad_active_flag_and_value_in_unnamed_column(unit):
    header = [*HEADER_JA, "在職"]
    rows = [[*row(1), "1"], [*row(2), "たぶん"], [*row(3), "0", "extra"]]

    job = preview(csv_bytes(rows, header=header))

    assert job.errors == [
        error(4, "#11", importing.ERR_EXTRA_CELL),
        error(3, "在職", importing.ERR_BAD_ACTIVE),
    ]


def test_header_only_file_is_invalid(unit):
    job = preview(csv_bytes([]))

    assert job.errors == [error(None, "", importing.ERR_FILE_NO_ROWS)]


# --- updates, re-import, deactivation -------------------------------------------------------
def test_dry_run_writes_nothing_and_shows_samples(unit):
    StaffFactory(employee_number="200001", unit=unit)

    job = preview(csv_bytes([row(1), row(2)]))

    assert job.status == ImportJob.Status.PREVIEWED
    assert job.summary["counts"] == {"created": 1, "updated": 1, "unchanged": 0, "deactivated": 0}
    assert job.summary["samples"]["created"] == [
        {"row": 3, "employee_number": "200002", "name": "佐藤 花子2", "unit_code": "K001"}
    ]
    assert job.summary["samples"]["updated"][0]["changes"]["family_name"] == ["山田", "佐藤"]
    assert Staff.objects.count() == 1
    assert Staff.objects.get().family_name == "山田"


def test_reimporting_the_same_roster_changes_nothing(unit, django_assert_max_num_queries):
    content = csv_bytes([row(n) for n in range(50)])
    import_apply(job=preview(content), actor=None)
    before = dict(Staff.objects.values_list("employee_number", "updated_at"))

    job = preview(content)
    with django_assert_max_num_queries(8):  # job lock, staff, units, job save, audit: no writes
        job = import_apply(job=job, actor=None)

    assert job.summary["counts"] == {"created": 0, "updated": 0, "unchanged": 50, "deactivated": 0}
    assert dict(Staff.objects.values_list("employee_number", "updated_at")) == before


def test_changed_row_updates_by_employee_number_with_search_keys(unit):
    other = OrgUnitFactory(code="K002")
    import_apply(job=preview(csv_bytes([row(1), row(2)])), actor=None)
    before = Staff.objects.get(employee_number="200001")
    untouched_at = Staff.objects.get(employee_number="200002").updated_at

    job = import_apply(
        job=preview(csv_bytes([row(1, family_kana="タナカ", unit_code="K002"), row(2)])), actor=None
    )

    assert job.summary["counts"] == {"created": 0, "updated": 1, "unchanged": 1, "deactivated": 0}
    assert job.summary["samples"]["updated"][0]["changes"] == {
        "family_kana": ["サトウ", "タナカ"],
        "unit_code": ["K001", "K002"],
    }
    staff = Staff.objects.get(employee_number="200001")
    assert (staff.family_kana, staff.unit) == ("タナカ", other)
    assert (staff.search_key, staff.kana_sort) == staff_search_fields(staff)
    assert staff.kana_sort == "たなかはなこ1"
    assert (staff.pk, staff.created_at) == (before.pk, before.created_at)
    assert staff.updated_at > before.updated_at
    assert staff.email == before.email
    assert Staff.objects.get(employee_number="200002").updated_at == untouched_at


def test_update_keeps_the_sign_in_account(unit):
    user = UserFactory()
    StaffFactory(employee_number="200001", unit=unit, user=user)

    job = import_apply(job=preview(csv_bytes([row(1)])), actor=None)

    assert job.summary["counts"]["updated"] == 1
    assert Staff.objects.get(employee_number="200001").user == user
    assert Staff.objects.count() == 1


def test_missing_staff_are_deactivated_only_when_asked(unit):
    gone = StaffFactory(employee_number="199999", unit=unit)

    job = import_apply(job=preview(csv_bytes([row(1)])), actor=None)
    gone.refresh_from_db()
    assert gone.is_active is True
    assert job.summary["missing_active"] == 1
    assert job.summary["counts"]["deactivated"] == 0

    job = import_apply(job=preview(csv_bytes([row(1)]), deactivate_missing=True), actor=None)
    gone.refresh_from_db()
    assert gone.is_active is False
    assert job.summary["counts"] == {"created": 0, "updated": 0, "unchanged": 1, "deactivated": 1}
    assert job.summary["samples"]["deactivated"] == [
        {"employee_number": "199999", "name": gone.full_name}
    ]
    assert Staff.objects.get(employee_number="200001").is_active is True


def test_staff_reappearing_in_the_roster_is_reactivated(unit):
    back = StaffFactory(employee_number="200001", unit=unit, is_active=False)

    job = import_apply(job=preview(csv_bytes([row(1)])), actor=None)

    back.refresh_from_db()
    assert back.is_active is True
    assert job.summary["reactivated"] == 1


def test_optional_column_left_out_leaves_the_field_alone(unit):
    StaffFactory(employee_number="200001", unit=unit, mobile="080-1111-2222", job_title="係長")
    header = HEADER_JA[:6]

    import_apply(job=preview(csv_bytes([row(1)[:6]], header=header)), actor=None)

    staff = Staff.objects.get(employee_number="200001")
    assert (staff.mobile, staff.job_title, staff.family_name) == ("080-1111-2222", "係長", "佐藤")


# --- jobs ------------------------------------------------------------------------------------
def test_applying_twice_applies_once_and_is_audited(unit, admin_user):
    job = preview(csv_bytes([row(1)]), user=admin_user)

    import_apply(job=job, actor=admin_user)
    with pytest.raises(ValidationError) as exc:
        import_apply(job=job, actor=admin_user)

    assert exc.value.messages == [str(importing.ERR_JOB_APPLIED)]
    entries = AuditEntry.objects.filter(action="import.apply")
    assert entries.count() == 1
    assert entries.get().actor == admin_user
    assert entries.get().target_id == str(job.pk)
    assert entries.get().data["created"] == 1
    assert Staff.objects.filter(employee_number="200001").count() == 1


def test_apply_revalidates_against_the_directory_now(unit):
    job = preview(csv_bytes([row(1)]))
    OrgUnit.objects.filter(pk=unit.pk).update(code="K001-OLD")

    job = import_apply(job=job, actor=None)

    assert job.status == ImportJob.Status.INVALID
    assert job.errors == [error(2, "所属コード", importing.ERR_UNKNOWN_UNIT)]
    assert Staff.objects.count() == 0
    assert not AuditEntry.objects.filter(action="import.apply").exists()


@pytest.mark.slow
def test_30000_row_roster(unit):
    units = [unit, *(OrgUnitFactory(code=f"K{n:03d}") for n in range(2, 21))]
    StaffFactory(employee_number="100000", unit=unit)  # missing from the roster
    rows = [row(n, unit_code=units[n % 20].code) for n in range(30000)]
    content = csv_bytes(rows, encoding="cp932")

    job = import_apply(job=preview(content, deactivate_missing=True), actor=None)

    assert job.summary["counts"] == {
        "created": 30000,
        "updated": 0,
        "unchanged": 0,
        "deactivated": 1,
    }
    assert Staff.objects.filter(is_active=True).count() == 30000
    last = Staff.objects.get(employee_number="229999")
    assert (last.search_key, last.kana_sort) == staff_search_fields(last)

    rows[12345] = row(12345, unit_code="K002", job_title="課長")
    job = import_apply(job=preview(csv_bytes(rows, encoding="cp932")), actor=None)
    assert job.summary["counts"] == {
        "created": 0,
        "updated": 1,
        "unchanged": 29999,
        "deactivated": 0,
    }


# --- units ------------------------------------------------------------------------------------
def unit_csv(rows: list[list[str]], header: list[str] = UNIT_HEADER) -> bytes:
    return csv_bytes(rows, header=header, encoding="cp932")


def test_units_with_parent_after_child_build_the_tree():
    content = unit_csv(
        [
            ["S1", "防災課", "ぼうさいか", "課", "B1"],
            ["B1", "危機管理局", "ききかんりきょく", "bureau", "C1"],
            ["C1", "本部市", "ほんぶし", "市", ""],
        ]
    )

    job = import_apply(job=preview(content, kind="units", filename="units.csv"), actor=None)

    assert job.summary["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "deactivated": 0}
    city, bureau, section = (OrgUnit.objects.get(code=c) for c in ("C1", "B1", "S1"))
    assert section.parent == bureau and bureau.parent == city and city.parent is None
    assert section.path == f"/{city.pk}/{bureau.pk}/{section.pk}/"
    assert (section.depth, section.kind) == (2, OrgUnit.Kind.SECTION)
    assert section.search_key == unit_search_key(section)


def test_units_reimport_is_unchanged_and_a_move_updates_paths():
    rows = [
        ["C1", "本部市", "", "city", ""],
        ["B1", "局", "", "bureau", "C1"],
        ["B2", "局2", "", "bureau", "C1"],
        ["S1", "課", "", "section", "B1"],
    ]
    import_apply(job=preview(unit_csv(rows), kind="units"), actor=None)

    job = import_apply(job=preview(unit_csv(rows), kind="units"), actor=None)
    assert job.summary["counts"]["unchanged"] == 4

    rows[3] = ["S1", "課", "か", "section", "B2"]
    job = import_apply(job=preview(unit_csv(rows), kind="units"), actor=None)
    assert job.summary["counts"] == {"created": 0, "updated": 1, "unchanged": 3, "deactivated": 0}
    assert job.summary["samples"]["updated"][0]["changes"] == {
        "kana": ["", "か"],
        "parent_code": ["B1", "B2"],
    }
    section, b2 = OrgUnit.objects.get(code="S1"), OrgUnit.objects.get(code="B2")
    assert section.path == f"{b2.path}{section.pk}/"


def test_unit_cycle_and_unknown_parent_are_errors():
    existing = OrgUnitFactory(code="X1")
    content = unit_csv(
        [
            ["A", "甲", "", "bureau", "B"],
            ["B", "乙", "", "bureau", "A"],
            ["C", "丙", "", "section", "NOPE"],
            ["D", "丁", "", "村", "X1"],
            ["X1", existing.name, "", "section", "A"],
        ]
    )

    job = preview(content, kind="units")

    assert job.errors == [
        error(2, "上位所属コード", importing.ERR_UNIT_CYCLE),
        error(3, "上位所属コード", importing.ERR_UNIT_CYCLE),
        error(4, "上位所属コード", importing.ERR_UNKNOWN_PARENT),
        error(5, "種別", importing.ERR_UNKNOWN_KIND),
    ]  # X1 hangs below the A–B loop but is not on it: fixing A or B fixes it
    assert OrgUnit.objects.count() == 1


def test_units_cycle_through_the_directory_is_an_error():
    a = OrgUnitFactory(code="A", parent=None)
    OrgUnitFactory(code="B", parent=a)

    job = preview(unit_csv([["A", "甲", "", "bureau", "B"]]), kind="units")

    assert job.errors == [error(2, "上位所属コード", importing.ERR_UNIT_CYCLE)]
    a.refresh_from_db()
    assert a.parent is None


def test_the_documented_samples_import_cleanly():
    samples = Path(__file__).resolve().parents[2] / "docs" / "samples"
    units = import_apply(
        job=preview((samples / "units.csv").read_bytes(), kind="units"), actor=None
    )
    staff = import_apply(job=preview((samples / "staff.csv").read_bytes()), actor=None)

    assert (units.status, units.encoding, units.summary["counts"]["created"]) == (
        "applied",
        "utf-8",
        6,
    )
    assert (staff.status, staff.encoding, staff.summary["counts"]["created"]) == (
        "applied",
        "cp932",
        5,
    )
    assert Staff.objects.get(employee_number="100003").unit.code == "S1000"
    assert Staff.objects.get(employee_number="100005").is_active is False


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_applies_apply_once(unit):
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks across connections (PostgreSQL)")
    job = preview(csv_bytes([row(n) for n in range(2000)]))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def apply() -> None:
        barrier.wait()
        try:
            with translation.override("ja"):
                import_apply(job=job, actor=None)
            outcomes.append("applied")
        except ValidationError as exc:
            with translation.override("ja"):
                outcomes.append(exc.messages[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    with translation.override("ja"):
        assert sorted(outcomes) == sorted(["applied", str(importing.ERR_JOB_APPLIED)])
    assert Staff.objects.count() == 2000
    assert AuditEntry.objects.filter(action="import.apply").count() == 1
