"""Sign-in and access: allauth with employee number or e-mail, no sign-up, throttling (also
for the admin), two-factor enforced per role, idle timeout, production secret check."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from directory.models import User
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def _login(client, login, password=PASSWORD):
    return client.post(reverse("account_login"), {"login": login, "password": password})


def test_sign_in_with_employee_number(client):
    user = UserFactory(username="445566")
    response = _login(client, "445566")
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_sign_in_with_email(client):
    user = UserFactory(username="445567", email="kucho@city.example.jp")
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = _login(client, "kucho@city.example.jp")
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_wrong_password_does_not_sign_in(client):
    UserFactory(username="445568")
    response = _login(client, "445568", "wrong-password")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_every_page_but_sign_in_requires_an_account(client):
    for url in [reverse("home"), reverse("directory:search"), reverse("settings"), "/admin/"]:
        response = client.get(url, follow=True)
        assert response.redirect_chain, url
        assert response.request["PATH_INFO"] == reverse("account_login"), url
    assert client.get(reverse("account_login")).status_code == 200


def test_no_self_sign_up(client):
    users_before = User.objects.count()
    response = client.post(
        reverse("account_signup"),
        {
            "username": "999999",
            "email": "new@example.jp",
            "password1": "x-Long-password-1",
            "password2": "x-Long-password-1",
        },
    )
    assert response.status_code == 200
    assert "account/signup_closed.html" in [t.name for t in response.templates]
    assert User.objects.count() == users_before


def test_failed_logins_are_throttled_even_with_the_right_password_afterwards(client):
    UserFactory(username="556677")
    for _ in range(5):
        _login(client, "556677", "wrong-password")
    response = _login(client, "556677")
    assert "_auth_user_id" not in client.session
    assert response.status_code in (200, 429)


def test_admin_login_goes_through_the_throttled_sign_in(client, staff_user):
    response = client.get("/admin/login/?next=/admin/directory/staff/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "next=%2Fadmin%2Fdirectory%2Fstaff%2F" in response["Location"]
    # A signed-in non-administrator gets a refusal, not another login form.
    client.force_login(staff_user)
    assert client.get("/admin/login/").status_code == 403
    assert client.get("/admin/").status_code in (302, 403)


def test_password_reset_sends_an_email(client, mailoutbox):
    user = UserFactory(username="667788", email="reset@city.example.jp")
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post(reverse("account_reset_password"), {"email": "reset@city.example.jp"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert "/accounts/password/reset/key/" in mailoutbox[0].body


@pytest.mark.parametrize(
    ("public_url", "link_start"),
    [
        # the configured public address, not the Host header the request came with
        ("https://honbu.city.example.jp/", "https://honbu.city.example.jp/accounts/password/"),
        # unset: the request's own address, absolute
        ("", "http://testserver/accounts/password/"),
    ],
)
def test_the_password_reset_link_is_absolute(client, mailoutbox, settings, public_url, link_start):
    from allauth.account.models import EmailAddress

    settings.HONBU_PUBLIC_URL = public_url
    user = UserFactory(username="667789", email="reset2@city.example.jp")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    client.post(reverse("account_reset_password"), {"email": "reset2@city.example.jp"})

    [link] = [w for w in mailoutbox[0].body.split() if "/accounts/password/reset/key/" in w]
    assert link.startswith(link_start + "reset/key/"), link


def test_two_factor_is_enforced_for_configured_roles(client, settings):
    settings.HONBU_MFA_REQUIRED_ROLES = ["admin"]
    admin = UserFactory(role=User.Role.ADMIN)
    staff = UserFactory(role=User.Role.STAFF)

    client.force_login(staff)
    assert client.get(reverse("directory:search")).status_code == 200

    client.force_login(admin)
    response = client.get(reverse("directory:search"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))

    TOTP.activate(admin, generate_totp_secret())
    assert client.get(reverse("directory:search")).status_code == 200


def test_sign_in_with_totp_asks_for_the_code(client):
    user = UserFactory(username="778899")
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    assert Authenticator.objects.filter(user=user).exists()

    response = _login(client, "778899")
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session

    counters = list(yield_hotp_counters_from_time())
    code = format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))  # current period
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_idle_sessions_expire(client):
    user = UserFactory()
    StaffFactory(user=user)
    client.force_login(user)
    assert client.get(reverse("home")).status_code == 200
    assert client.session.get_expiry_age() == settings.HONBU_IDLE_TIMEOUT_MINUTES * 60
    # Nothing for longer than the timeout: the session is gone.
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("home"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="example.jp",
        HONBU_PUBLIC_URL="https://example.jp",
        REDIS_URL=settings.REDIS_URL,  # not an embedded one of its own
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
