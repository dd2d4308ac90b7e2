"""The call buttons on a profile and a chat page, the forms that start calls and conferences,
the call page (members only), the histories, and the calls chronology for administrators (CSV
with formula-safe cells, JSON with every participant's times; viewing and exporting audited)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls import services
from calls.models import Call
from directory.models import AuditEntry
from messaging import services as messaging_services
from tests.calls.conftest import person

pytestmark = pytest.mark.django_db


def test_the_profile_offers_a_call_to_someone_else(client, hq):
    client.force_login(hq.mayor)
    page = client.get(reverse("directory:staff_detail", args=[hq.ward_head.staff.pk])).content
    assert b'action="/calls/start/"' in page and f'value="{hq.ward_head.staff.pk}"'.encode() in page
    assert "音声通話".encode() in page
    own = client.get(reverse("directory:staff_detail", args=[hq.mayor.staff.pk])).content
    assert b'action="/calls/start/"' not in own
    nobody = person().staff
    nobody.user = None
    nobody.save(update_fields=["user"])
    assert (
        b'action="/calls/start/"'
        not in client.get(reverse("directory:staff_detail", args=[nobody.pk])).content
    )


def test_the_chat_pages_offer_calls_and_conferences(client, hq):
    conversation = messaging_services.direct_conversation_get_or_create(
        me=hq.mayor, other=hq.ward_head.staff
    )
    client.force_login(hq.mayor)
    assert (
        b'id="call-button"'
        in client.get(reverse("messaging:group_detail", args=[conversation.pk])).content
    )
    hq_page = client.get(reverse("messaging:group_detail", args=[hq.group.pk])).content
    assert b'id="conference-start"' in hq_page and b'id="call-button"' not in hq_page
    assert reverse("calls:group_calls", args=[hq.group.pk]).encode() in hq_page

    client.force_login(hq.ward_head)  # a member may not start one, but joins a running one
    assert (
        b'id="conference-start"'
        not in client.get(reverse("messaging:group_detail", args=[hq.group.pk])).content
    )
    call = services.conference_start(group=hq.group, user=hq.mayor)
    page = client.get(reverse("messaging:group_detail", args=[hq.group.pk])).content
    assert f'href="/calls/{call.pk}/?join=1"'.encode() in page


def test_the_call_form_starts_a_call(client, hq):
    client.force_login(hq.mayor)
    assert client.get(reverse("calls:call_start")).status_code == 405
    response = client.post(reverse("calls:call_start"), {"staff": hq.ward_head.staff.pk})
    call = Call.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/calls/{call.pk}/"
    assert (call.caller, call.callee, call.state) == (hq.mayor, hq.ward_head, "ringing")

    # Calling while in a call: the reason, back where the button was.
    back = f"/directory/staff/{hq.bureau_head.staff.pk}/"
    response = client.post(
        reverse("calls:call_start"), {"staff": hq.bureau_head.staff.pk, "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    assert Call.objects.count() == 1
    response = client.post(
        reverse("calls:call_start"), {"staff": hq.bureau_head.staff.pk, "next": "//evil.example"}
    )
    assert response["Location"].startswith("/directory/")


def test_the_call_page_is_for_the_two_only(client, hq):
    call = services.call_start(caller=hq.mayor, callee=hq.ward_head.staff)
    url = reverse("calls:call_detail", args=[call.pk])
    client.force_login(hq.ward_head)
    page = client.get(url + "?answer=1").content.decode()
    assert 'data-mode="answer"' in page and "通話は録音されません" in page
    assert "市長" in page and "本部長" in page  # the caller, on the ringing screen
    assert '<script src="/static/js/call.js"' in page and "<script>" not in page
    client.force_login(hq.outsider)
    assert client.get(url).status_code == 404


def test_the_conference_page_is_for_members_only(client, hq):
    call = services.conference_start(group=hq.group, user=hq.mayor)
    url = reverse("calls:call_detail", args=[call.pk])
    client.force_login(hq.observer)
    page = client.get(url).content.decode()
    assert 'data-listen-only="1"' in page and 'data-moderator="0"' in page
    client.force_login(hq.mayor)
    assert 'data-moderator="1"' in client.get(url).content.decode()
    client.force_login(hq.outsider)
    assert client.get(url).status_code == 404


def test_the_conference_form(client, hq):
    client.force_login(hq.ward_head)
    url = reverse("calls:conference_start", args=[hq.group.pk])
    assert client.post(url).status_code == 302 and not Call.objects.exists()
    client.force_login(hq.outsider)
    assert client.post(url).status_code == 404
    client.force_login(hq.mayor)
    response = client.post(url)
    call = Call.objects.get()
    assert response["Location"] == f"/calls/{call.pk}/?join=1"


def test_decline_by_form(client, hq):
    call = services.call_start(caller=hq.mayor, callee=hq.ward_head.staff)
    client.force_login(hq.ward_head)
    client.post(reverse("calls:call_decline", args=[call.pk]))
    assert Call.objects.get(pk=call.pk).outcome == "declined"


def test_histories(client, hq):
    call = services.call_start(caller=hq.mayor, callee=hq.ward_head.staff)
    services.call_decline(call=call, user=hq.ward_head)
    client.force_login(hq.ward_head)
    page = client.get(reverse("calls:call_list")).content.decode()
    assert f"/calls/{call.pk}/" in page and "拒否" in page
    page = client.get(reverse("calls:group_calls", args=[call.group_id])).content.decode()
    assert f"/calls/{call.pk}/" in page
    client.force_login(hq.outsider)
    assert client.get(reverse("calls:group_calls", args=[call.group_id])).status_code == 404


# --- the calls chronology --------------------------------------------------------------------
@pytest.fixture
def record(hq):
    """A completed call by someone whose name a spreadsheet would run, and a conference."""
    hq.mayor.staff.family_name = "=HYPERLINK(1)"
    hq.mayor.staff.save(update_fields=["family_name"])
    call = services.call_start(caller=hq.mayor, callee=hq.ward_head.staff)
    services.call_answer(call=call, user=hq.ward_head, channel="b")
    services.call_hangup(call=call, user=hq.mayor)
    conference = services.conference_start(group=hq.group, user=hq.mayor)
    services.participant_join(call=conference, user=hq.mayor, channel="a", fresh=True)
    services.participant_join(call=conference, user=hq.bureau_head, channel="c", fresh=True)
    services.call_hangup(call=conference, user=hq.bureau_head)
    services.conference_end(call=conference, user=hq.mayor)
    return call, conference


def test_only_administrators_see_the_calls_chronology(client, hq, record, admin_user):
    for user in (hq.mayor, hq.ward_head):
        client.force_login(user)
        assert client.get(reverse("calls:records")).status_code == 403
        assert client.get(reverse("calls:records_export", args=["csv"])).status_code == 403
    assert not AuditEntry.objects.filter(action__startswith="calls.").exists()
    client.force_login(admin_user)
    page = client.get(reverse("calls:records")).content.decode()
    assert "会議通話" in page and "北区" in page and "音声は録音しません" in page
    assert AuditEntry.objects.filter(action="calls.record_view", actor=admin_user).count() == 1


def test_the_csv_is_one_row_per_event_and_formula_safe(client, hq, record, admin_user):
    call, conference = record
    client.force_login(admin_user)
    response = client.get(reverse("calls:records_export", args=["csv"]))
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["at", "kind", "group", "who", "post", "text", "detail"]
    kinds = [r[1] for r in rows[1:]]
    for kind in ("call.started", "call.answered", "call.ended", "call.joined", "call.left"):
        assert kind in kinds
    assert "notification.call_ring" in kinds and "notification.call_conference" in kinds
    ended = [r for r in rows if r[1] == "call.ended"]
    assert [r[6] for r in ended] == ["completed (hangup)", "completed (ended_by_commander)"]
    # The caller's name starts with "=": written as literal text, never a formula.
    assert all(not cell.startswith("=") for row in rows for cell in row)
    assert any(cell.startswith("'=HYPERLINK") for row in rows for cell in row)
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:])  # time order
    assert AuditEntry.objects.get(action="calls.record_export").data["format"] == "csv"


def test_the_json_has_every_participant(client, hq, record, admin_user):
    call, conference = record
    client.force_login(admin_user)
    data = json.loads(client.get(reverse("calls:records_export", args=["json"])).content)
    assert data["audio_recorded"] is False
    by_id = {c["id"]: c for c in data["calls"]}
    direct = by_id[call.pk]
    assert (direct["outcome"], direct["caller"]["post"], direct["callee"]["post"]) == (
        "completed",
        "本部長",
        "北区長",
    )
    assert direct["conversation_message_seq"] == 1
    room = by_id[conference.pk]
    assert [(p["account"], p["left_reason"]) for p in room["participants"]] == [
        (hq.mayor.username, "ended_by_commander"),
        (hq.bureau_head.username, "hangup"),
    ]
    assert all(p["joined_at"] and p["left_at"] for p in room["participants"])


def test_the_chronology_of_an_incident(client, hq, record, admin_user, disaster):
    call, conference = record
    Call.objects.filter(pk=call.pk).update(
        started_at=timezone.now() - timedelta(days=2), ended_at=timezone.now() - timedelta(days=2)
    )
    disaster.started_at = timezone.now() - timedelta(hours=1)
    disaster.save(update_fields=["started_at"])
    client.force_login(admin_user)
    data = json.loads(
        client.get(
            reverse("calls:records_export", args=["json"]), {"incident": disaster.pk}
        ).content
    )
    assert [c["id"] for c in data["calls"]] == [conference.pk]
    assert data["filters"]["incident"] == disaster.pk


def test_the_incident_chronology_itself_carries_the_calls(client, hq, record, admin_user, disaster):
    """The disaster's one record (safety's chronology) lists its calls beside its messages and
    answers, in time order; a call before the incident is not in it."""
    call, conference = record
    Call.objects.filter(pk=call.pk).update(
        started_at=timezone.now() - timedelta(days=2), ended_at=timezone.now() - timedelta(days=2)
    )
    disaster.started_at = timezone.now() - timedelta(hours=1)
    disaster.save(update_fields=["started_at"])
    client.force_login(admin_user)
    response = client.get(reverse("safety:incident_chronology_export", args=[disaster.pk, "csv"]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    calls = [r for r in rows if r[1].startswith("call.")]
    assert [r[1] for r in calls] == [
        "call.started",
        "call.joined",
        "call.joined",
        "call.left",
        "call.left",
        "call.ended",
    ]
    assert {json.loads(r[6])["call"] for r in calls} == {conference.pk}
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:])
    # Drills only: no calls (they are never exercise traffic).
    response = client.get(
        reverse("safety:incident_chronology_export", args=[disaster.pk, "csv"]),
        {"exercise": "only"},
    )
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "call." not in text
    # The page names the rows in the reader's language (the exports keep the codes).
    page = client.get(reverse("safety:incident_chronology", args=[disaster.pk])).content.decode()
    assert "会議通話に参加" in page and "通話の終了" in page and "call.joined" not in page
