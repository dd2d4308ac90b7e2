"""The after-action report of a scripted run: every latency, expectation, unit median, safety
curve time, hand-over to a deputy and CSV cell is the exact number the script made happen
(through the real services: the sweep fires, people read, acknowledge and reply, the escalation
sweep hands the silent post to its deputy, staff answer the safety round). Then the page, the
evaluator's ratings, the PDF (fonts embedded), the CSV, the comparison of runs, and who may
see any of it."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from directory import services as directory_services
from directory.models import AuditEntry
from drills import evaluation, metrics, report, runs
from drills.models import Inject, Run, RunEntry, RunInject, Scenario
from messaging import escalation, policies, services
from messaging.models import StandIn
from realtime import clock
from safety import answers
from safety.models import SafetyRequest
from tests.safety.conftest import SAFE

pytestmark = pytest.mark.django_db

OBJ_ORDER = "本部長の指示が区長に届く"
OBJ_SHARE = "被害状況が共有される"
OBJ_SAFETY = "職員の安否を5分で半数把握する"


@pytest.fixture
def at(monkeypatch):
    """The scripted clock: ``at(90)`` makes it T0 + 90 s for everything — realtime.clock (the
    sweep, when an inject fired, safety answers) and the records' own timestamps (receipts,
    messages and stand-ins take timezone.now(), which realtime.clock also reads)."""
    t0 = timezone.now().replace(microsecond=0)
    state = {"now": t0}
    monkeypatch.setattr(timezone, "now", lambda: state["now"])
    clock.reset()

    def move(seconds: float):
        state["now"] = t0 + timedelta(seconds=seconds)
        return state["now"]

    move.t0 = t0
    return move


@pytest.fixture
def scripted(city, at):
    """A run of a three-inject scenario, scripted to the second:

    #1 at 60 s, 本部長 → headquarters: an instruction (了解 asked). The 北区長 reads it 30 s
       later, is reminded at 60 s, handed to the deputy (the officer) at 120 s, the deputy
       acknowledges at 140 s; the 北区長 acknowledges at 180 s and replies at 240 s. The
       coordinator (also in the group) never reads it.
    #2 at 120 s, the control cell → headquarters: a situation report. The mayor reads it after
       10 s, the 北区長 after 80 s (expected within 1 minute: 20 s late).
    #3 at 180 s: a safety round of the city's 12 staff; 11 answer, one a minute.
    """
    policies.policy_update(
        group=city.group,
        priority="urgent",
        actor=city.mayor,
        first_after=60,
        repeat_every=60,
        repeat_count=0,
        deputy_wait=60,
        use_deputies=True,
        stop_on="ack",
    )
    services.group_add_member(
        group=city.group, staff=city.coordinator.staff, role="commander", actor=None
    )
    kita_post = city.ward_head.staff.posts_held.get()
    directory_services.post_set_deputies(post=kita_post, deputies=[city.officer.staff], actor=None)
    scenario = Scenario.objects.create(title="2026年1月 地震訓練", created_by=city.coordinator)
    Inject.objects.create(
        scenario=scenario,
        number=1,
        offset=60,
        kind=Inject.Kind.INSTRUCTION,
        from_post=city.mayor.staff.posts_held.get(),
        to_group=city.group,
        text="住民を3階以上へ避難させてください",
        expectations=[
            {"check": "read", "minutes": 2, "posts": ["北区長"]},
            {"check": "ack", "minutes": 2, "posts": ["北区長"]},
            {"check": "reply", "minutes": 5, "posts": ["北区長"]},
        ],
        objective=OBJ_ORDER,
    )
    Inject.objects.create(
        scenario=scenario,
        number=2,
        offset=120,
        kind=Inject.Kind.SITUATION,
        to_group=city.group,
        text="震度6強を観測。被害状況を確認中。",
        expectations=[{"check": "read", "minutes": 1}],
        objective=OBJ_SHARE,
    )
    Inject.objects.create(
        scenario=scenario,
        number=3,
        offset=180,
        kind=Inject.Kind.SAFETY_ROUND,
        text="訓練 安否確認",
        expectations=[{"check": "safety", "minutes": 5, "percent": 50}],
        objective=OBJ_SAFETY,
    )
    run = play(scenario, city, at)
    return run


def play(scenario, city, clock_at, *, faster: int = 0, day: int = 0) -> Run:
    """The script above (``faster`` seconds quicker for each response), ``day`` days on."""

    def at(seconds: float):
        return clock_at(day * 86400 + seconds)

    at(0)
    run = runs.run_start(scenario=scenario, actor=city.coordinator)
    at(60)
    assert runs.drills_sweep() == 1
    first = RunInject.objects.get(run=run, number=1).message
    at(90 - faster)
    services.receipt_mark_read(user=city.ward_head, group=city.group, up_to_seq=first.seq)
    at(120)
    assert runs.drills_sweep() == 1
    second = RunInject.objects.get(run=run, number=2).message
    escalation.escalation_sweep(now=at(120))  # the 北区長's reminder
    at(130 - faster)
    services.receipt_mark_read(user=city.mayor, group=city.group, up_to_seq=second.seq)
    at(180)
    assert runs.drills_sweep() == 1
    escalation.escalation_sweep(now=at(180))  # → the first deputy
    at(200 - faster)
    services.receipt_mark_read(user=city.ward_head, group=city.group, up_to_seq=second.seq)
    stand_in = StandIn.objects.filter(chase__message=first).first()
    if stand_in is not None:
        at(200)
        escalation.standin_respond(user=city.officer, stand_in=stand_in, acknowledge=True)
    at(240 - faster)
    services.receipt_acknowledge(user=city.ward_head, message=first)
    at(300 - faster)
    services.message_send(
        group=city.group,
        sender=city.ward_head,
        body="公用車で住民に呼びかけ中",
        client_id=uuid.uuid4(),
        reply_to_id=first.pk,
    )
    round_ = RunInject.objects.get(run=run, number=3).round
    requests = list(SafetyRequest.objects.filter(round=round_).order_by("staff_id"))
    for k, request in enumerate(requests[:11], start=1):
        at(180 + 60 * k - faster)
        answers.answer_from_link(request=request, data=SAFE)
    at(900)
    runs.drills_sweep()
    run.refresh_from_db()
    return run


def test_the_report_has_the_exact_numbers_of_the_scripted_run(city, scripted):
    run = scripted
    assert run.status == "finished"

    data = report.run_report(run=run)

    assert [r.ri.number for r in data.injects] == [1, 2, 3]
    assert [r.at for r in data.injects] == [60.0, 120.0, 180.0]
    first, second, safety = data.injects
    ward = next(p for p in first.people if p.user_id == city.ward_head.pk)
    assert (ward.read, ward.acked, ward.replied) == (30.0, 180.0, 240.0)
    assert ward.deputy == city.officer.display_name() and ward.top_unit == "北区"
    coordinator = next(p for p in first.people if p.user_id == city.coordinator.pk)
    assert (coordinator.read, coordinator.acked, coordinator.replied) == (None, None, None)
    assert (first.read["p50"], first.acked["p50"], first.replied["p50"]) == (30.0, 180.0, 240.0)
    assert (first.no_response, first.escalated) == (1, 1)
    assert sorted(p.read for p in second.people) == [10.0, 80.0]
    assert (second.read["p50"], second.read["p90"]) == (45.0, 80.0)

    # Expectations: met, or missed and by how much.
    rows = [(e.number, e.check, e.met, e.missed, e.never, e.late_max) for e in data.expectations]
    assert rows == [
        (1, "read", True, 0, 0, None),
        (1, "ack", False, 1, 0, 60.0),  # 了解 after 180 s, expected within 120 s
        (1, "reply", True, 0, 0, None),
        (2, "read", False, 1, 0, 20.0),  # the 北区長 read after 80 s, expected within 60 s
        (3, "safety", False, 0, 0, None),  # 5 of 12 (41.7 %) by 5 minutes, 50 % expected
    ]
    assert data.expectations[4].detail == "回答率 41.7%"
    assert (data.met, data.missed) == (2, 3)

    # The safety curve: one answer a minute, 12 asked → 3, 6, 9 and 11 answers.
    assert safety.total == 12 and safety.answered == 11
    assert safety.curve == {25: 3.0, 50: 6.0, 75: 9.0, 90: 11.0}
    assert safety.answers == [60.0 * k for k in range(1, 12)]
    from safety import selectors as safety_selectors  # the live round page's own figures

    round_ = safety.ri.round
    assert safety.curve == safety_selectors.answer_curve(round_=round_, total=round_.total)

    # Per ward or bureau: medians over every message of the run.
    assert [(u.unit, u.people, u.read_p50, u.acked_p50) for u in data.units] == [
        ("中央区", 1, None, None),  # the coordinator never read
        ("北区", 1, 55.0, 180.0),  # read 30 and 80 s; 了解 180 s
        ("大阪市", 1, 10.0, None),  # the mayor (at the city level) read #2 after 10 s
    ]
    # The slowest: each person once, by their slowest response.
    assert [(s.name, s.number, s.seconds) for s in data.slowest] == [
        (city.ward_head.display_name(), 1, 180.0),
        (city.mayor.display_name(), 2, 10.0),
    ]
    # The hand-over to the deputy: after 120 s, acknowledged by the deputy at 140 s.
    [handover] = data.escalations
    assert (handover.number, handover.post, handover.deputy, handover.rank) == (
        1,
        "北区長",
        city.officer.display_name(),
        1,
    )
    assert (handover.handed_after, handover.deputy_read, handover.deputy_acked) == (
        120.0,
        140.0,
        140.0,
    )
    assert [(o.objective, o.numbers, o.met, o.missed) for o in data.objectives] == [
        (OBJ_ORDER, [1], 2, 1),
        (OBJ_SHARE, [2], 0, 1),
        (OBJ_SAFETY, [3], 0, 1),
    ]
    assert data.duration == 900.0


def test_the_report_page_shows_charts_tables_and_the_evaluation_form(client, city, scripted):
    client.force_login(city.coordinator)

    page = client.get(f"/drills/runs/{scripted.pk}/report/").content.decode()

    assert page.count('src="data:image/svg+xml;base64,') == 4  # timeline, latency, units, safety
    for anchor in ("timeline", "latency", "units", "safety-3", "expectations", "slowest"):
        assert f'id="{anchor}"' in page
    assert "事後検証レポート" in page and "北区長" in page and "3分00秒" in page
    assert page.count('type="radio" name="rating_') == 3 * 5  # 3 objectives × (— P S M U)
    assert f"/drills/runs/{scripted.pk}/report.pdf" in page


def test_the_charts_are_svg_with_japanese_text_in_the_sites_fonts(city, scripted):
    import base64

    from drills import charts

    uris = charts.report_charts(report.run_report(run=scripted))

    assert len(uris["latency"]) == len(uris["units"]) == 1 and len(uris["safety"]) == 1
    svg = base64.b64decode(uris["units"][0].split(",", 1)[1]).decode()
    assert svg.startswith("<svg")
    # Text stays text (the PDF embeds the font, phones use theirs), in Japanese, with the same
    # font stack as the site and Noto Sans CJK JP first (it measured the labels).
    assert ">北区</text>" in svg and ">区・局ごとの既読と了解</text>" in svg
    assert "font-family: 'Noto Sans CJK JP', 'Hiragino Sans'" in svg
    assert "<script" not in svg and "href=" not in svg.replace('xlink:href="#', "")


def test_a_long_chart_is_cut_into_pieces_on_one_scale():
    from drills import charts

    rows = [(f"#{n}", [float(n)], [], []) for n in range(1, 46)]

    pieces = charts._pieces(rows, charts.latency_boxes, "応答時間")

    assert len(pieces) == 3  # 20 + 20 + 5 rows, each fits an A4 page
    import base64

    texts = [base64.b64decode(p.split(",", 1)[1]).decode() for p in pieces]
    assert ">応答時間 (1/3)</text>" in texts[0] and ">応答時間 (3/3)</text>" in texts[2]
    assert ">#20</text>" in texts[0] and ">#21</text>" in texts[1]


def test_the_evaluator_rates_each_objective_saved_and_audited(client, city, scripted):
    client.force_login(city.coordinator)
    url = f"/drills/runs/{scripted.pk}/report/"

    response = client.post(
        url,
        {
            "rating_0": "S",
            "strengths_0": "区長への伝達は30秒で既読",
            "improvements_0": "了解の操作が遅れた。=SUM(A1) は文字として扱う",
            "rating_1": "M",
            "rating_2": "",
        },
    )

    assert response.status_code == 302
    scripted.refresh_from_db()
    assert scripted.evaluation == {
        OBJ_ORDER: {
            "rating": "S",
            "strengths": "区長への伝達は30秒で既読",
            "improvements": "了解の操作が遅れた。=SUM(A1) は文字として扱う",
        },
        OBJ_SHARE: {"rating": "M", "strengths": "", "improvements": ""},
    }
    entry = RunEntry.objects.get(run=scripted, action="evaluate")
    assert entry.actor == city.coordinator
    assert entry.data == {
        "objectives": [OBJ_ORDER, OBJ_SHARE],
        "ratings": {OBJ_ORDER: "S", OBJ_SHARE: "M"},
    }
    audit = AuditEntry.objects.get(action="drill.evaluate")
    assert audit.target_id == str(scripted.pk) and audit.actor == city.coordinator
    page = client.get(url).content.decode()
    assert 'value="S" id="id_rating_0_2" checked' in page.replace("\n", "")
    assert "区長への伝達は30秒で既読" in page


def test_a_bad_rating_is_refused_and_nothing_is_saved(client, city, scripted):
    client.force_login(city.coordinator)

    response = client.post(f"/drills/runs/{scripted.pk}/report/", {"rating_0": "X"})

    assert response.status_code == 400
    scripted.refresh_from_db()
    assert scripted.evaluation == {}
    assert not RunEntry.objects.filter(action="evaluate").exists()
    with pytest.raises(Exception) as exc:
        evaluation.run_evaluate(
            run=scripted, actor=city.coordinator, ratings={"よその目標": {"rating": "P"}}
        )
    assert str(evaluation.ERR_OBJECTIVE) in str(exc.value)
    assert not AuditEntry.objects.filter(action="drill.evaluate").exists()


def test_the_pdf_has_the_title_japanese_text_and_an_embedded_cjk_font(client, city, scripted):
    from pypdf import PdfReader

    evaluation.run_evaluate(
        run=scripted,
        actor=city.coordinator,
        ratings={OBJ_ORDER: {"rating": "P", "strengths": "伝達は速やか", "improvements": ""}},
    )
    client.force_login(city.coordinator)

    response = client.get(f"/drills/runs/{scripted.pk}/report.pdf")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith('attachment; filename="drill-')
    pdf = PdfReader(io.BytesIO(response.content))
    text = "".join(page.extract_text() for page in pdf.pages).replace(" ", "")
    assert pdf.metadata.title == "事後検証レポート · 2026年1月 地震訓練"
    for words in ("事後検証レポート", "2026年1月地震訓練", "期待された行動", "伝達は速やか"):
        assert words in text
    assert "北区長" in text
    fonts = set()
    for page in pdf.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            if any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                fonts.add(str(font["/BaseFont"]))
    assert any("Noto-Sans-CJK-JP" in name for name in fonts), fonts
    audit = AuditEntry.objects.get(action="drill.report_export")
    assert audit.data == {"format": "pdf"} and audit.actor == city.coordinator


def test_the_csv_has_one_row_per_inject_and_person_and_no_formula(client, city, scripted):
    victim = city.kita_staff[0]
    victim.family_name = "=HYPERLINK(1)"
    victim.save(update_fields=["family_name"])
    client.force_login(city.coordinator)

    response = client.get(f"/drills/runs/{scripted.pk}/report.csv")

    body = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == list(report.MEASUREMENT_HEADER)
    assert len(rows) == 1 + 2 + 2 + 12  # #1 and #2 reached two people each; #3 asked 12
    ward = next(r for r in rows if r[1] == "1" and r[6] == "北区長")
    assert ward[8:14] == ["北区", "30.0", "180.0", "240.0", "", city.officer.display_name()]
    formula = next(r for r in rows if r[5].startswith("'=HYPERLINK"))
    assert formula[1] == "3"  # the safety round's row of that member of staff
    assert not any(cell.startswith("=") for row in rows for cell in row)
    assert AuditEntry.objects.get(action="drill.report_export").data == {"format": "csv"}


def test_comparing_runs_shows_the_city_got_faster(client, city, scripted, at):
    later = play(scripted.scenario, city, at, faster=5, day=1)
    other = Scenario.objects.create(title="別の訓練", created_by=city.coordinator)
    stranger = Run.objects.create(
        scenario=other, start_at=scripted.start_at, started_by=city.coordinator
    )

    comparison = report.runs_compare(scenario=scripted.scenario, runs=[later, scripted])

    assert comparison.runs == [scripted, later]  # oldest first
    first, second, safety = comparison.rows
    assert [(c.read_p50, c.acked_p50, c.met, c.expected) for c in first.cells] == [
        (30.0, 180.0, 2, 3),
        (25.0, 175.0, 2, 3),
    ]
    assert first.trend == -5.0
    assert [c.read_p50 for c in second.cells] == [45.0, 40.0]
    assert [c.curve[50] for c in safety.cells] == [6.0, 5.9]

    client.force_login(city.coordinator)
    url = f"/drills/scenarios/{scripted.scenario_id}/compare/"
    page = client.get(f"{url}?runs={scripted.pk},{later.pk},{stranger.pk}").content.decode()
    assert "初回より5秒速くなりました" in page
    assert page.count('class="card compare-inject"') == 3 and 'id="compare-summary"' in page
    inject_1 = page.split('id="compare-1"')[1].split("</section>")[0]
    assert inject_1.count('<tr><th scope="row">') == 2  # one row per run
    assert "3分00秒" in inject_1 and "2分55秒" in inject_1 and "2 / 3" in inject_1
    assert f'value="{stranger.pk}"' not in page


def test_players_get_403_for_every_report_page(client, city, scripted):
    urls = [
        f"/drills/runs/{scripted.pk}/report/",
        f"/drills/runs/{scripted.pk}/report.pdf",
        f"/drills/runs/{scripted.pk}/report.csv",
        f"/drills/scenarios/{scripted.scenario_id}/compare/?runs={scripted.pk}",
    ]
    for user in (city.mayor, city.ward_head, city.staff_user):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403, (user, url)
        response = client.post(urls[0], {"rating_0": "P", "strengths_0": "勝手に"})
        assert response.status_code == 403
    scripted.refresh_from_db()
    assert scripted.evaluation == {}
    assert not AuditEntry.objects.filter(action__startswith="drill.report").exists()
    assert not RunEntry.objects.filter(action="evaluate").exists()
    client.logout()
    assert client.get(urls[0]).status_code in (302, 403)


def test_the_control_page_and_report_read_the_same_measurements(city, scripted):
    ri = RunInject.objects.get(run=scripted, number=1)
    [row] = [r for r in report.control_timeline(run=scripted) if r.ri.number == 1]
    assert [(e.check, e.met) for e in row.expectations] == [
        ("read", True),
        ("ack", False),
        ("reply", True),
    ]
    assert {p.user_id: p.acked for p in metrics.people(ri)} == {
        city.ward_head.pk: 180.0,
        city.coordinator.pk: None,
    }


def test_the_report_reads_as_many_queries_for_seven_injects_as_for_three(city, scripted, at):
    """The report reads people for all injects at once (metrics.people_by_inject): its query
    count does not grow with the injects (the 50-inject benchmark read ~450 before)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    bigger = Scenario.objects.create(title="七件の訓練", created_by=city.coordinator)
    for number in range(1, 7):
        Inject.objects.create(
            scenario=bigger,
            number=number,
            offset=10 * number,
            kind=Inject.Kind.SITUATION,
            to_group=city.group,
            text=f"状況{number}",
            expectations=[{"check": "read", "minutes": 1}],
        )
    Inject.objects.create(
        scenario=bigger, number=7, offset=70, kind=Inject.Kind.SAFETY_ROUND, text="安否確認"
    )
    at(86400 * 2)
    run = runs.run_start(scenario=bigger, actor=city.coordinator)
    at(86400 * 2 + 100)
    assert runs.drills_sweep() == 7

    with CaptureQueriesContext(connection) as three:
        report.run_report(run=scripted)
    with CaptureQueriesContext(connection) as seven:
        data = report.run_report(run=run)

    assert len(data.injects) == 7 and len(data.message_injects) == 6
    # The same queries; the scripted run also looks up its deputy's name (for the people and
    # for the hand-overs), which the seven-inject run has none of; one query reads the units
    # taking part (Run.units).
    assert (len(three.captured_queries), len(seven.captured_queries)) == (12, 10)


def test_an_expectation_whose_deadline_is_ahead_is_neither_met_nor_missed(city, at):
    """During the run (or right after it), an expectation not met yet is open until its
    deadline, not counted as missed."""
    services.group_add_member(
        group=city.group, staff=city.coordinator.staff, role="commander", actor=None
    )
    scenario = Scenario.objects.create(title="途中の訓練", created_by=city.coordinator)
    Inject.objects.create(
        scenario=scenario,
        number=1,
        offset=60,
        kind=Inject.Kind.INSTRUCTION,
        from_post=city.mayor.staff.posts_held.get(),
        to_group=city.group,
        text="住民を3階以上へ避難させてください",
        expectations=[
            {"check": "read", "minutes": 2, "posts": ["北区長"]},
            {"check": "ack", "minutes": 5, "posts": ["北区長"]},
        ],
    )
    at(0)
    run = runs.run_start(scenario=scenario, actor=city.coordinator)
    at(60)
    runs.drills_sweep()
    message = RunInject.objects.get(run=run, number=1).message
    at(90)
    services.receipt_mark_read(user=city.ward_head, group=city.group, up_to_seq=message.seq)
    at(100)

    data = report.run_report(run=run)

    assert [(e.check, e.met, e.pending) for e in data.expectations] == [
        ("read", True, False),
        ("ack", False, True),  # due at 360 s
    ]
    assert (data.met, data.missed, data.pending) == (1, 0, 1)
    at(361)
    data = report.run_report(run=run)
    assert [(e.check, e.met, e.pending) for e in data.expectations][1] == ("ack", False, False)
    assert (data.met, data.missed, data.pending) == (1, 1, 0)


def test_an_injects_own_page_lists_everyone_it_reached_silent_first(client, city, scripted):
    ri = RunInject.objects.get(run=scripted, number=1)
    client.force_login(city.coordinator)

    page = client.get(f"/drills/runs/{scripted.pk}/report/?inject={ri.pk}").content.decode()

    rows = page.split('<tr data-user="')[1:]
    assert [int(r.split('"', 1)[0]) for r in rows] == [city.coordinator.pk, city.ward_head.pk]
    assert "北区長" in rows[1] and "30秒" in rows[1] and "3分00秒" in rows[1]
    other = Run.objects.create(
        scenario=scripted.scenario, start_at=scripted.start_at, started_by=city.coordinator
    )
    assert client.get(f"/drills/runs/{other.pk}/report/?inject={ri.pk}").status_code == 404
    assert client.get(f"/drills/runs/{scripted.pk}/report/?inject=x").status_code == 404
