"""Account issuance: services and the admin action with its onboarding sheet."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate
from django.core import mail
from django.urls import reverse

from directory import accounts
from directory.importing import import_apply, import_preview
from directory.models import AuditEntry, User
from tests.factories import OrgUnitFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
BASE = "https://honbu.city.example.jp/"


def test_issue_with_initial_password_creates_a_working_account(admin_user):
    person = StaffFactory(employee_number="123456", email="Taro.Yamada@City.example.jp")

    [issued] = accounts.account_issue(
        staff=[person], method="password", role=User.Role.HQ_MEMBER, actor=admin_user, base_url=BASE
    )

    person.refresh_from_db()
    user = person.user
    assert issued.user == user and issued.skipped_reason == ""
    assert user.username == "123456" and user.email == "taro.yamada@city.example.jp"
    assert user.role == User.Role.HQ_MEMBER and user.must_change_password is True
    assert len(issued.password) == 14  # xxxx-xxxx-xxxx
    assert authenticate(username="123456", password=issued.password) == user
    assert EmailAddress.objects.get(user=user).verified is True
    entry = AuditEntry.objects.get(action="account.issue")
    assert entry.actor == admin_user and entry.target_id == str(user.pk)
    assert issued.password not in str(entry.data)  # the password never reaches the log


def test_issue_with_invitation_link_lets_the_person_set_a_password(
    client, admin_user, django_capture_on_commit_callbacks
):
    person = StaffFactory(employee_number="200001")

    with django_capture_on_commit_callbacks(execute=True):
        [issued] = accounts.account_issue(
            staff=[person],
            method="invitation",
            role=User.Role.STAFF,
            actor=admin_user,
            base_url=BASE,
            send_invitation_email=True,
        )

    user = issued.user
    assert not user.has_usable_password() and issued.password == ""
    assert issued.invitation_url.startswith(BASE + "accounts/password/reset/key/")
    assert len(mail.outbox) == 1 and issued.invitation_url in mail.outbox[0].body
    # Following the link: allauth swaps the key for a session URL, then takes the new password.
    path = issued.invitation_url.removeprefix(BASE.rstrip("/"))
    response = client.get(path, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else path
    response = client.post(
        form_url, {"password1": "Kasumi-gaseki-2026", "password2": "Kasumi-gaseki-2026"}
    )
    assert response.status_code == 302
    assert authenticate(username="200001", password="Kasumi-gaseki-2026") == user


def test_an_invitation_without_a_request_address_still_has_an_absolute_link(
    admin_user, settings, django_capture_on_commit_callbacks
):
    """Issued where there is no request (a script, a task): the public address is used."""
    settings.HONBU_PUBLIC_URL = ""
    settings.ALLOWED_HOSTS = ["honbu.city.example.jp", "localhost"]
    person = StaffFactory(employee_number="200002")

    with django_capture_on_commit_callbacks(execute=True):
        [issued] = accounts.account_issue(
            staff=[person],
            method="invitation",
            role=User.Role.STAFF,
            actor=admin_user,
            send_invitation_email=True,
        )

    assert issued.invitation_url.startswith(
        "https://honbu.city.example.jp/accounts/password/reset/key/"
    )
    assert len(mail.outbox) == 1 and issued.invitation_url in mail.outbox[0].body


def test_issue_skips_people_who_cannot_get_an_account_and_says_why(admin_user):
    has_account = StaffFactory(user=UserFactory())
    inactive = StaffFactory(is_active=False)
    UserFactory(username="someone", email="taken@city.example.jp")
    clash = StaffFactory(email="taken@city.example.jp")
    fine = StaffFactory()
    users_before = User.objects.count()

    results = accounts.account_issue(
        staff=[has_account, inactive, clash, fine],
        method="password",
        role=User.Role.STAFF,
        actor=admin_user,
        base_url=BASE,
    )

    reasons = {r.staff.pk: r.skipped_reason for r in results}
    assert reasons[has_account.pk] == str(accounts.ERR_ALREADY_HAS_ACCOUNT)
    assert reasons[inactive.pk] == str(accounts.ERR_STAFF_INACTIVE)
    assert "taken@city.example.jp" in reasons[clash.pk]
    assert reasons[fine.pk] == ""
    assert User.objects.count() == users_before + 1
    inactive.refresh_from_db()
    clash.refresh_from_db()
    assert inactive.user is None and clash.user is None


def test_initial_password_must_be_changed_before_anything_else(client):
    person = StaffFactory(employee_number="300001")
    [issued] = accounts.account_issue(
        staff=[person], method="password", role=User.Role.STAFF, actor=None, base_url=BASE
    )
    client.post(reverse("account_login"), {"login": "300001", "password": issued.password})

    response = client.get(reverse("directory:search"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_change_password"))

    response = client.post(
        reverse("account_change_password"),
        {
            "oldpassword": issued.password,
            "password1": "Namba-Umeda-77",
            "password2": "Namba-Umeda-77",
        },
    )
    assert response.status_code == 302
    issued.user.refresh_from_db()
    assert issued.user.must_change_password is False
    assert client.get(reverse("directory:search")).status_code == 200


def _action_post(client, staff, **extra):
    data = {"action": "issue_accounts", "_selected_action": [s.pk for s in staff], **extra}
    return client.post(reverse("admin:directory_staff_changelist"), data)


def test_admin_action_shows_options_then_returns_onboarding_sheets(client, admin_user):
    people = [StaffFactory(), StaffFactory()]
    client.force_login(admin_user)

    options = _action_post(client, people)
    assert options.status_code == 200
    assert b'name="apply"' in options.content
    assert User.objects.filter(staff__in=people).count() == 0  # nothing issued yet

    sheet = _action_post(
        client, people, apply="1", method="password", role="hq_member", output="sheet"
    )
    assert sheet.status_code == 200
    body = sheet.content.decode()
    assert body.count('<section class="sheet">') == 2
    assert body.count("<svg") == 2  # one QR code per person
    for person in people:
        person.refresh_from_db()
        assert person.user is not None and person.user.role == "hq_member"
        assert person.employee_number in body


def test_admin_action_csv_is_excel_friendly(client, admin_user):
    person = StaffFactory()
    client.force_login(admin_user)

    response = _action_post(
        client, [person], apply="1", method="password", role="staff", output="csv"
    )

    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    assert person.employee_number in text and person.full_name in text


def test_staff_cannot_issue_accounts_and_nothing_changes(client, staff_user):
    person = StaffFactory()
    client.force_login(staff_user)

    response = _action_post(
        client, [person], apply="1", method="password", role="admin", output="sheet"
    )

    assert response.status_code in (302, 403)  # the admin sends non-administrators away
    person.refresh_from_db()
    assert person.user is None
    assert not AuditEntry.objects.filter(action="account.issue").exists()


def test_staff_who_leave_in_a_roster_import_lose_sign_in(
    admin_user, django_capture_on_commit_callbacks
):
    unit = OrgUnitFactory(code="K01")
    stays = StaffFactory(employee_number="700001", unit=unit, user=UserFactory(username="700001"))
    leaves = StaffFactory(employee_number="700002", unit=unit, user=UserFactory(username="700002"))
    roster = (
        "employee_number,family_name,given_name,family_kana,given_kana,unit_code\n"
        f"700001,{stays.family_name},{stays.given_name},{stays.family_kana},{stays.given_kana},K01\n"
    )
    # The admin's own staff row is not in this roster either; keep it out of the way.
    admin_user.staff.delete()

    job = import_preview(
        kind="staff",
        filename="roster.csv",
        content=roster.encode(),
        deactivate_missing=True,
        uploaded_by=admin_user,
    )
    with django_capture_on_commit_callbacks(execute=True):
        import_apply(job=job, actor=admin_user)

    leaves.refresh_from_db()
    stays.refresh_from_db()
    assert leaves.is_active is False and leaves.user.is_active is False
    assert stays.is_active is True and stays.user.is_active is True
    entry = AuditEntry.objects.get(action="user.deactivate")
    assert entry.data == {"users": [leaves.user.pk], "reason": "roster import"}
    assert authenticate(username="700002", password="correct-horse-battery") is None
