"""Safety in the Django admin: Japanese names; the settings row (one, questions checked by
questions_check), levels and assembly places written through the services (audited);
incidents and rounds read only, the rounds with links to their pages."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from directory.models import AuditEntry
from safety import incidents, rounds, selectors
from safety.models import AssemblyPlace, Incident, SafetyRound, SafetySettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_safety_section_is_in_japanese(admin_client):
    page = admin_client.get("/admin/").content.decode()

    for name in ("災害モード・安否確認", "体制", "参集場所", "安否確認の設定", "個人の連絡先"):
        assert name in page, name


def test_the_settings_are_one_row_and_bad_questions_change_nothing(admin_client, city, admin_user):
    row = selectors.safety_settings()
    listing = admin_client.get("/admin/safety/safetysettings/")
    assert listing.status_code == 302 and listing["Location"].endswith(f"/{row.pk}/change/")
    url = reverse("admin:safety_safetysettings_change", args=[row.pk])
    form = {
        "hq_group": city.group.pk,
        "commander_post": row.commander_post_id,
        "announcer": city.mayor.pk,
        "resend_minutes": "[10, 20]",
        "questions": json.dumps({"questions": [{"key": "self", "choices": [["a", "A"]]}]}),
    }

    bad = admin_client.post(url, form)
    assert bad.status_code == 200 and "設問の形式が正しくありません" in bad.content.decode()
    assert not AuditEntry.objects.filter(action="safety.settings").exists()
    good = admin_client.post(url, {**form, "questions": ""})

    assert good.status_code == 302
    row = SafetySettings.objects.get()
    assert (row.announcer, row.resend_minutes, row.questions) == (city.mayor, [10, 20], {})
    entry = AuditEntry.objects.get(action="safety.settings")
    assert (entry.actor, sorted(entry.data["fields"])) == (
        admin_user,
        ["announcer", "resend_minutes"],
    )
    assert SafetySettings.objects.count() == 1


def test_an_assembly_place_and_its_coordinators_are_saved_through_the_service(
    admin_client, city, admin_user
):
    response = admin_client.post(
        "/admin/safety/assemblyplace/add/",
        {
            "name": "大阪市役所",
            "unit": city.root.pk,
            "is_active": "on",
            "coordinators": [city.officer.pk, city.coordinator.pk],
        },
    )

    assert response.status_code == 302
    place = AssemblyPlace.objects.get(name="大阪市役所")
    assert set(place.coordinators.all()) == {city.officer, city.coordinator}
    [entry] = AuditEntry.objects.filter(action="safety.place_create")
    assert (entry.actor, entry.data["coordinators"]) == (
        admin_user,
        sorted([city.officer.pk, city.coordinator.pk]),
    )
    listing = admin_client.get("/admin/safety/assemblyplace/").content.decode()
    assert "大阪市役所" in listing and city.officer.staff.full_name in listing


def test_incidents_and_rounds_are_read_only_and_rounds_link_to_their_pages(admin_client, city):
    incident = incidents.incident_declare(
        actor=city.mayor, title="大阪府北部地震", kind="earthquake", level=city.emergency
    )
    round_ = rounds.round_start(
        actor=city.mayor, title="安否確認", target={"all": True}, incident=incident
    )

    listing = admin_client.get("/admin/safety/saferound/")  # no such page: a typo guard
    rounds_page = admin_client.get("/admin/safety/safetyround/").content.decode()
    change = admin_client.post(
        reverse("admin:safety_incident_change", args=[incident.pk]), {"title": "改ざん"}
    )
    deleted = admin_client.post(
        reverse("admin:safety_safetyround_delete", args=[round_.pk]), {"post": "yes"}
    )

    assert listing.status_code == 404
    assert reverse("safety:assembly_board", args=[round_.pk]) in rounds_page
    assert reverse("safety:round_export", args=[round_.pk, "xlsx"]) in rounds_page
    assert admin_client.get("/admin/safety/incident/add/").status_code == 403
    assert change.status_code == 403 and deleted.status_code == 403
    assert Incident.objects.get().title == "大阪府北部地震" and SafetyRound.objects.count() == 1


def test_every_safety_admin_page_opens(admin_client, city):
    incident = incidents.incident_declare(
        actor=city.mayor, title="大阪府北部地震", kind="earthquake", level=city.emergency
    )
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    place = AssemblyPlace.objects.first()
    pages = [
        "/admin/safety/",
        reverse("admin:safety_safetysettings_change", args=[selectors.safety_settings().pk]),
        "/admin/safety/incidentlevel/",
        reverse("admin:safety_incidentlevel_change", args=[city.emergency.pk]),
        reverse("admin:safety_incident_change", args=[incident.pk]),
        "/admin/safety/assemblyplace/add/",
        reverse("admin:safety_assemblyplace_change", args=[place.pk]),
        reverse("admin:safety_safetyround_change", args=[round_.pk]),
        "/admin/safety/safetycontact/",
        "/admin/safety/safetycontact/add/",
        "/admin/safety/safetycontact/import/",
    ]

    assert {url: admin_client.get(url).status_code for url in pages} == dict.fromkeys(pages, 200)
