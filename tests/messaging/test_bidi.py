"""Bidirectional controls never reach a page (issue 13, item 5): "‮evil.exe‬ 避難所はこちら" is
shown without its right-to-left override on every page that shows message text, and exports
show the controls as visible markers; the stored record keeps them."""

import uuid

import pytest
from django.urls import reverse

from messaging import escalation, services
from messaging.models import Message

pytestmark = pytest.mark.django_db
RLO, PDF = "\u202e", "\u202c"
SPOOF = f"{RLO}exe.evil{PDF} 避難所はこちら"


@pytest.fixture
def spoofed(hq):
    message = services.message_send(
        group=hq.group,
        sender=hq.mayor,
        body=SPOOF,
        client_id=uuid.uuid4(),
        kind="instruction",
        priority="urgent",
        requires_ack=True,
        escalation={"first_after": 60, "repeat_count": 0, "use_deputies": False},
    ).message
    from datetime import timedelta

    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=61))
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=400))
    return message


def test_no_page_shows_the_controls(client, hq, spoofed, admin_user):
    assert Message.objects.get(pk=spoofed.pk).body == SPOOF  # the record keeps them
    pages = {
        hq.ward_head: [reverse("messaging:group_list"), "/"],
        hq.mayor: [
            "/",
            reverse("messaging:message_receipts", args=[spoofed.pk]),
            reverse("messaging:message_chase", args=[spoofed.pk]),
            reverse("messaging:message_pending", args=[spoofed.pk]),
        ],
        admin_user: [reverse("messaging:records_group", args=[hq.group.pk])],
    }
    for user, urls in pages.items():
        client.force_login(user)
        for url in urls:
            body = client.get(url).content.decode()
            assert "exe.evil" in body, url  # the text is there …
            assert RLO not in body and PDF not in body, url  # … without the reordering


def test_exports_show_the_controls_as_markers(client, hq, spoofed, admin_user):
    client.force_login(admin_user)
    text = client.get(reverse("messaging:records_export", args=[hq.group.pk, "csv"])).content
    decoded = text.decode("utf-8")
    assert RLO not in decoded and "<U+202E>exe.evil<U+202C> 避難所はこちら" in decoded
