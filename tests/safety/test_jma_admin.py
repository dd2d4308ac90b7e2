"""The JMA rule in the admin: codes edited inline through the services (validated, audited),
the "fill in 大阪市" action, and the reports the feed saw, read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from directory.models import AuditEntry
from safety.jma import selectors
from safety.jma.models import JmaArea, JmaReport
from safety.jma.poller import jma_poll

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def form(rule, areas: list[dict], **fields) -> dict:
    data = {
        "enabled": "on",
        "propose_at": "5-",
        "declare_at": "5+",
        "tsunami_declares": "on",
        "level": "",
        "repeat_hours": "6",
        "max_age_minutes": "720",
        "areas-TOTAL_FORMS": str(len(areas)),
        "areas-INITIAL_FORMS": "0",
        "areas-MIN_NUM_FORMS": "0",
        "areas-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for i, area in enumerate(areas):
        for key, value in area.items():
            data[f"areas-{i}-{key}"] = value
    return data


def test_codes_are_added_inline_and_audited(city, admin_client, admin_user):
    rule = selectors.jma_rule()
    url = f"/admin/safety/jmarule/{rule.pk}/change/"

    response = admin_client.post(
        url,
        form(
            rule,
            [
                {"kind": "earthquake", "code": "2712700", "name": "大阪北区", "unit": city.kita.pk},
                {"kind": "tsunami", "code": "510", "name": "大阪府"},
            ],
            declare_at="6-",
        ),
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.declare_at == "6-"
    assert sorted(JmaArea.objects.values_list("kind", "code", "unit")) == [
        ("earthquake", "2712700", city.kita.pk),
        ("tsunami", "510", None),
    ]
    audit = AuditEntry.objects.filter(actor=admin_user, action__startswith="safety.jma")
    assert sorted(audit.values_list("action", flat=True)) == [
        "safety.jma_code",
        "safety.jma_code",
        "safety.jma_rule",
    ]


def test_an_earthquake_code_without_a_unit_or_thresholds_upside_down_are_refused(
    city, admin_client
):
    rule = selectors.jma_rule()
    url = f"/admin/safety/jmarule/{rule.pk}/change/"

    no_unit = admin_client.post(
        url, form(rule, [{"kind": "earthquake", "code": "2712700", "name": "大阪北区"}])
    )
    upside_down = admin_client.post(url, form(rule, [], propose_at="5+", declare_at="5-"))

    assert no_unit.status_code == 200 and upside_down.status_code == 200
    assert "安否確認の対象とする組織を指定してください" in no_unit.content.decode()
    assert "宣言の基準を提案の基準より低くはできません" in upside_down.content.decode()
    assert JmaArea.objects.count() == 0
    rule.refresh_from_db()
    assert (rule.propose_at, rule.declare_at) == ("5-", "5+")


def test_fill_in_osaka_maps_the_wards_found_by_name(city, admin_client):
    rule = selectors.jma_rule()

    admin_client.post(
        "/admin/safety/jmarule/",
        {"action": "fill_osaka", "_selected_action": [rule.pk]},
    )

    assert dict(JmaArea.objects.values_list("code", "unit")) == {
        "2712700": city.kita.pk,
        "2712800": city.chuo.pk,
        "520": city.root.pk,
        "510": None,
    }


def test_the_reports_the_feed_saw_are_listed_read_only(city, jma, admin_client):
    jma.publish("VXSE53_elsewhere.xml")
    jma_poll()
    report = JmaReport.objects.get()

    listing = admin_client.get("/admin/safety/jmareport/")
    detail = admin_client.get(f"/admin/safety/jmareport/{report.pk}/change/")

    assert listing.status_code == 200 and "20240603083515" in listing.content.decode()
    assert detail.status_code == 200
    assert admin_client.get("/admin/safety/jmareport/add/").status_code == 403
