"""The escalation-policy page: a phone form in whole minutes (fractions still accepted), Japanese
labels without a ":" after them, help under the fields, one card per priority; a read-only view
for members who may not change it; every write through ``policies.policy_update``."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from directory.models import AuditEntry
from messaging.models import EscalationPolicy

pytestmark = pytest.mark.django_db


def _url(hq) -> str:
    return reverse("messaging:group_policy", args=[hq.group.pk])


def _value(html: str, name: str) -> str:
    match = re.search(rf'<input [^>]*name="{re.escape(name)}"[^>]*>', html)
    assert match, name
    return re.search(r'value="([^"]*)"', match.group(0)).group(1)


def test_the_commander_sees_whole_minutes_labels_without_colons_and_help(client, hq):
    client.force_login(hq.mayor)

    html = client.get(_url(hq)).content.decode()

    # Whole minutes without ".0" (urgent: 120 s, 120 s, 180 s by default)
    assert [
        _value(html, f"urgent-{f}") for f in ("first_after", "repeat_every", "deputy_wait")
    ] == [
        "2",
        "2",
        "3",
    ]
    assert _value(html, "normal-first_after") == "5"
    assert ".0" not in "".join(re.findall(r'value="[^"]*"', html))
    # Labels as written, no ":" (Django's label_suffix) after them
    assert '<label for="id_urgent-first_after">最初の督促まで（分）</label>' in html
    assert not re.search(r"[:：]</label>", html)
    # One card per priority, each its own form; on/off as switches; help where it helps
    assert html.count('<form method="post" class="form policy-form"') == 3
    assert html.count('class="switch"') == 6
    assert "送信からの分数です。訓練用に 0.5 のような小数も使えます。" in html
    assert 'aria-describedby="id_urgent-first_after_helptext"' in html


def test_a_fraction_of_a_minute_is_accepted_and_shown_back(client, hq):
    client.force_login(hq.mayor)

    response = client.post(
        _url(hq),
        {
            "priority": "urgent",
            "urgent-enabled": "on",
            "urgent-stop_on": "read",
            "urgent-first_after": "0.5",
            "urgent-repeat_every": "1",
            "urgent-repeat_count": "0",
            "urgent-deputy_wait": "1.5",
        },
    )

    assert response.status_code == 302
    row = EscalationPolicy.objects.get(group=hq.group, priority="urgent")
    assert (row.enabled, row.stop_on, row.first_after, row.repeat_every) == (True, "read", 30, 60)
    assert (row.repeat_count, row.use_deputies, row.deputy_wait) == (0, False, 90)
    assert AuditEntry.objects.filter(action="policy.update", actor=hq.mayor).count() == 1
    html = client.get(_url(hq)).content.decode()
    assert [
        _value(html, f"urgent-{f}") for f in ("first_after", "repeat_every", "deputy_wait")
    ] == [
        "0.5",
        "1",
        "1.5",
    ]


def test_a_bad_value_is_shown_on_the_form_and_nothing_is_saved(client, hq):
    client.force_login(hq.mayor)

    response = client.post(
        _url(hq),
        {
            "priority": "normal",
            "normal-stop_on": "ack",
            "normal-first_after": "0",
            "normal-repeat_every": "5",
            "normal-repeat_count": "2",
            "normal-deputy_wait": "5",
        },
    )

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not EscalationPolicy.objects.exists()
    assert not AuditEntry.objects.filter(action="policy.update").exists()


def test_a_member_sees_the_policy_read_only_and_cannot_post(client, hq):
    client.force_login(hq.ward_head)

    html = client.get(_url(hq)).content.decode()
    refused = client.post(_url(hq), {"priority": "urgent", "urgent-first_after": "1"})

    assert "<form" not in html.split('id="main"')[1].split("</main>")[0]
    facts = re.sub(r"\s+", "", html)
    assert "<dt>最初の督促まで（分）</dt><dd>2</dd>" in facts
    assert "<dt>未応答の指示を督促する</dt><dd>はい</dd>" in facts
    assert "<dt>督促を止める条件</dt><dd>了解済み</dd>" in facts
    assert refused.status_code == 403
    assert not EscalationPolicy.objects.exists()
