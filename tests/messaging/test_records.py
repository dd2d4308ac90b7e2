"""The public record: chronology pages and exports are for administrators, and are audited."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from directory.models import AuditEntry
from messaging import services
from messaging.models import Message, Receipt
from messaging.records import CSV_HEADER

pytestmark = pytest.mark.django_db


def _ts(value) -> str:
    return timezone.localtime(value).isoformat() if value else ""


def _record_urls(group) -> list[str]:
    return [
        reverse("messaging:records_index"),
        reverse("messaging:records_group", args=[group.pk]),
        reverse("messaging:records_export", args=[group.pk, "csv"]),
        reverse("messaging:records_export", args=[group.pk, "json"]),
    ]


@pytest.fixture
def edited(hq) -> Message:
    """The mayor's instruction: the ward head acknowledged it, the bureau head read it, the
    observer did not; then the mayor corrected it and finally deleted it."""
    message = services.message_send(
        group=hq.group,
        sender=hq.mayor,
        body="原文：全区に避難所を開設せよ",
        client_id=uuid.uuid4(),
        kind="instruction",
        priority="urgent",
        requires_ack=True,
    ).message
    services.receipt_acknowledge(user=hq.ward_head, message=message)
    services.receipt_mark_read(user=hq.bureau_head, group=hq.group, up_to_seq=message.seq)
    services.message_edit(message=message, editor=hq.mayor, body="修正：北区と中央区に開設せよ")
    services.message_delete(message=message, actor=hq.mayor)
    return Message.objects.get(pk=message.pk)


# --- who may see the record -----------------------------------------------------------------
@pytest.mark.parametrize("who", ["mayor", "ward_head", "observer", "outsider"])
def test_records_are_for_administrators_only_and_refusals_write_no_audit(client, hq, edited, who):
    client.force_login(getattr(hq, who))
    audits = AuditEntry.objects.count()

    responses = [client.get(url) for url in _record_urls(hq.group)]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    for response in responses:
        assert "原文" not in response.content.decode()
    assert AuditEntry.objects.count() == audits
    assert AuditEntry.objects.filter(action__startswith="record.").count() == 0


def test_an_administrators_view_and_exports_are_audited(client, hq, edited, admin_user):
    client.force_login(admin_user)

    index = client.get(reverse("messaging:records_index"))
    page = client.get(reverse("messaging:records_group", args=[hq.group.pk]))
    as_csv = client.get(reverse("messaging:records_export", args=[hq.group.pk, "csv"]))
    as_json = client.get(reverse("messaging:records_export", args=[hq.group.pk, "json"]))

    assert [r.status_code for r in (index, page, as_csv, as_json)] == [200, 200, 200, 200]
    assert [g.name for g in index.context["groups"]] == ["大阪市災害対策本部"]
    entries = AuditEntry.objects.filter(action__startswith="record.").order_by("id")
    assert [(e.actor, e.action, e.target_type, e.target_id, e.data) for e in entries] == [
        (admin_user, "record.view", "messaging.commandgroup", str(hq.group.pk), {}),
        (admin_user, "record.export", "messaging.commandgroup", str(hq.group.pk),
         {"format": "csv"}),
        (admin_user, "record.export", "messaging.commandgroup", str(hq.group.pk),
         {"format": "json"}),
    ]  # fmt: skip
    assert as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert as_json["Content-Type"] == "application/json; charset=utf-8"
    assert as_csv["Content-Disposition"].startswith(
        f'attachment; filename="chronology-{hq.group.pk}-'
    )


# --- what the record holds ------------------------------------------------------------------
def test_csv_export_has_every_version_and_every_receipt(client, hq, edited, admin_user):
    versions = list(edited.versions.order_by("version"))
    receipts = {r.user_id: r for r in Receipt.objects.filter(message=edited)}
    ward, bureau = receipts[hq.ward_head.pk], receipts[hq.bureau_head.pk]
    client.force_login(admin_user)

    response = client.get(reverse("messaging:records_export", args=[hq.group.pk, "csv"]))

    raw = response.content
    assert raw.startswith("\ufeff".encode())  # UTF-8 with BOM, for Excel
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    base = [
        "1", _ts(edited.created_at), hq.mayor.staff.full_name, "本部長", "instruction", "urgent",
        "True", "",
    ]  # fmt: skip
    name = {
        u.pk: (u.get_username(), u.staff.full_name)
        for u in (hq.ward_head, hq.bureau_head, hq.observer)
    }
    assert rows == [
        CSV_HEADER,
        base + ["create", "1", _ts(versions[0].at), hq.mayor.get_username(),
                "原文：全区に避難所を開設せよ", "", ""],
        base + ["edit", "2", _ts(versions[1].at), hq.mayor.get_username(),
                "修正：北区と中央区に開設せよ", "", ""],
        base + ["delete", "3", _ts(versions[2].at), hq.mayor.get_username(), "", "", ""],
        base + ["read", "", _ts(ward.read_at), name[hq.ward_head.pk][0], "",
                name[hq.ward_head.pk][1], "北区長"],
        base + ["acknowledged", "", _ts(ward.acked_at), name[hq.ward_head.pk][0], "",
                name[hq.ward_head.pk][1], "北区長"],
        base + ["read", "", _ts(bureau.read_at), name[hq.bureau_head.pk][0], "",
                name[hq.bureau_head.pk][1], "建設局長"],
        base + ["unread", "", "", name[hq.observer.pk][0], "", name[hq.observer.pk][1], ""],
    ]  # fmt: skip


def test_json_export_has_the_same_data(client, hq, edited, admin_user):
    versions = list(edited.versions.order_by("version"))
    receipts = {r.user_id: r for r in Receipt.objects.filter(message=edited)}
    ward, bureau = receipts[hq.ward_head.pk], receipts[hq.bureau_head.pk]
    mayor = hq.mayor.get_username()
    client.force_login(admin_user)

    response = client.get(reverse("messaging:records_export", args=[hq.group.pk, "json"]))

    data = json.loads(response.content.decode("utf-8"))
    assert sorted(data) == ["exported_at", "exported_by", "group", "messages"]
    assert data["group"] == {"id": hq.group.pk, "name": "大阪市災害対策本部", "kind": "hq"}
    assert data["exported_by"] == admin_user.get_username()
    assert data["messages"] == [
        {
            "seq": 1,
            "id": edited.pk,
            "sent_at": _ts(edited.created_at),
            "sender": hq.mayor.staff.full_name,
            "sender_account": mayor,
            "sender_post": "本部長",
            "kind": "instruction",
            "priority": "urgent",
            "requires_ack": True,
            "exercise": False,  # drills' traffic is marked (issue 11)
            "reply_to_seq": None,
            "text": "修正：北区と中央区に開設せよ",
            "edited_at": _ts(edited.edited_at),
            "deleted_at": _ts(edited.deleted_at),
            "versions": [
                {"version": 1, "action": "create", "text": "原文：全区に避難所を開設せよ",
                 "by": mayor, "at": _ts(versions[0].at)},
                {"version": 2, "action": "edit", "text": "修正：北区と中央区に開設せよ",
                 "by": mayor, "at": _ts(versions[1].at)},
                {"version": 3, "action": "delete", "text": "", "by": mayor,
                 "at": _ts(versions[2].at)},
            ],
            "receipts": [
                {"account": hq.ward_head.get_username(), "name": hq.ward_head.staff.full_name,
                 "post": "北区長", "read_at": _ts(ward.read_at), "acked_at": _ts(ward.acked_at)},
                {"account": hq.bureau_head.get_username(),
                 "name": hq.bureau_head.staff.full_name, "post": "建設局長",
                 "read_at": _ts(bureau.read_at), "acked_at": ""},
                {"account": hq.observer.get_username(), "name": hq.observer.staff.full_name,
                 "post": "", "read_at": "", "acked_at": ""},
            ],
            # The policy copied at send (urgent defaults); no sweep ran, so no timeline yet.
            "escalation_policy": Message.objects.get(pk=edited.pk).escalation,
            "escalation": [],
            "stand_ins": [],
        }
    ]  # fmt: skip
    assert edited.edited_at is not None and edited.deleted_at is not None


# --- the audit log itself -------------------------------------------------------------------
def test_the_audit_log_cannot_be_added_changed_or_deleted_through_the_admin(client, hq, admin_user):
    entry = AuditEntry.objects.filter(action="group.create").get()
    before = list(AuditEntry.objects.order_by("id").values_list("id", "action", "data"))
    client.force_login(admin_user)
    change = reverse("admin:directory_auditentry_change", args=[entry.pk])
    delete = reverse("admin:directory_auditentry_delete", args=[entry.pk])

    listing = client.get(reverse("admin:directory_auditentry_changelist"))
    changed = client.post(
        change, {"action": "forged", "target_type": "", "target_id": "", "data": "{}"}
    )
    deleted = client.post(delete, {"post": "yes"})
    added = client.post(
        reverse("admin:directory_auditentry_add"), {"action": "forged", "data": "{}"}
    )
    bulk = client.post(
        reverse("admin:directory_auditentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )

    assert admin_user.is_superuser
    assert listing.status_code == 200
    assert (changed.status_code, deleted.status_code, added.status_code) == (403, 403, 403)
    assert bulk.status_code in (200, 302)
    assert list(AuditEntry.objects.order_by("id").values_list("id", "action", "data")) == before
    assert AuditEntry.objects.filter(action="forged").count() == 0
