"""Sign-in throttling cannot be aimed at somebody else (issue 13, items 3 and 10): wrong
passwords and codes slow down the address they come from with growing delays, the owner's own
browsers are never slowed by anyone else, X-Forwarded-For is believed only from configured
proxies, and a whole headquarters can sign in at once from one office network."""

import pytest
import redis
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core import signing
from django.test import Client, RequestFactory
from django.urls import reverse

from directory import signin
from directory.middleware import TrustedProxyMiddleware
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by hand: delays are checked without sleeping."""

    class Clock:
        t = 1_900_000_000.0

        def advance(self, seconds):
            self.t += seconds

    c = Clock()
    monkeypatch.setattr(signin, "now", lambda: c.t)
    return c


@pytest.fixture
def mayor():
    return UserFactory(username="000001", email="mayor@city.example.jp")


def _login(client, login, password=PASSWORD, address=ATTACKER, **extra):
    return client.post(
        reverse("account_login"),
        {"login": login, "password": password},
        REMOTE_ADDR=address,
        **extra,
    )


def _throttled(response) -> int | None:
    """The wait the sign-in page asks for, or None when the attempt was not throttled."""
    if response.status_code != 200:
        return None
    for errors in response.context["form"].errors.as_data().values():
        for error in errors:
            if error.code == "too_many_login_attempts":
                return int("".join(ch for ch in str(error.message) if ch.isdigit()))
    return None


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_wrong_passwords_slow_the_guessing_address_with_growing_delays(mayor, clock):
    attacker = Client()
    for _ in range(5):  # five free mistakes
        assert _throttled(_login(attacker, "000001", "wrong-password")) is None

    waits = []
    for _ in range(4):
        response = _login(attacker, "000001", "wrong-password")
        waits.append(_throttled(response))
        clock.advance(waits[-1])  # wait exactly as asked, then guess again
        assert _throttled(_login(attacker, "000001", "wrong-password")) is None
    assert waits == [1, 2, 4, 8]

    # Even the right password is not checked while the address must wait.
    assert _throttled(_login(attacker, "000001")) == 16
    assert not _signed_in(attacker)

    # The delay stops growing at five minutes: slowed down, never locked out.
    for _ in range(12):
        clock.advance(_throttled(_login(attacker, "000001", "wrong")) or 0)
        _login(attacker, "000001", "wrong")
    assert _throttled(_login(attacker, "000001", "wrong")) == signin.PAIR.cap


def test_the_owner_signs_in_while_someone_else_guesses(mayor, clock):
    attacker = Client()
    for _ in range(8):
        _login(attacker, "000001", "wrong-password")
        _login(attacker, "mayor@city.example.jp", "wrong-password")  # the other name, same account
    assert _throttled(_login(attacker, "000001")) is not None

    owner = Client()
    response = _login(owner, "000001", address=OWNER)
    assert response.status_code == 302 and _signed_in(owner)


def test_many_addresses_reach_the_account_ceiling_but_not_the_owners_phone(mayor, clock):
    phone = Client()
    assert _login(phone, "000001", address=OWNER).status_code == 302  # the phone is now known
    assert signin.DEVICE_COOKIE in phone.cookies
    phone.post(reverse("account_logout"))

    for n in range(signin.ACCOUNT.free + 5):  # a botnet: every guess from a new address
        _login(Client(), "000001", "wrong", address=f"10.9.{n // 250}.{n % 250}")

    # A new browser, even from the owner's address, now waits (at most a minute) ...
    wait = _throttled(_login(Client(), "000001", address=OWNER))
    assert wait is not None and wait <= signin.ACCOUNT.cap
    # ... the owner's own phone goes straight in.
    response = _login(phone, "000001", address=OWNER)
    assert response.status_code == 302 and _signed_in(phone)


def test_only_the_accounts_own_device_cookie_counts(mayor, clock):
    UserFactory(username="000777")
    insider = Client()
    assert _login(insider, "000777", address=ATTACKER).status_code == 302  # their own phone
    insider.post(reverse("account_logout"))
    for _ in range(5):
        _login(insider, "000001", "wrong")
    # A device cookie of another account is no help against the mayor's ...
    assert _throttled(_login(insider, "000001", "wrong")) == 1
    # ... nor is one claiming the mayor's without the server's key.
    insider.cookies[signin.DEVICE_COOKIE] = signing.dumps(
        {"u": mayor.pk, "n": "0" * 16}, salt=signin.DEVICE_SALT, key="not-the-secret"
    )
    assert _throttled(_login(insider, "000001", "wrong")) == 1


def test_wrong_codes_slow_the_guesser_not_the_owner(mayor, clock):
    secret = generate_totp_secret()
    TOTP.activate(mayor, secret)
    counters = list(yield_hotp_counters_from_time())
    code = format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))
    wrong = "000000" if code != "000000" else "111111"

    thief = Client()  # knows the password, not the phone
    assert _login(thief, "000001").status_code == 302
    for _ in range(5):
        response = thief.post(reverse("mfa_authenticate"), {"code": wrong}, REMOTE_ADDR=ATTACKER)
        assert _throttled(response) is None
    response = thief.post(reverse("mfa_authenticate"), {"code": code}, REMOTE_ADDR=ATTACKER)
    assert _throttled(response) == 1 and not _signed_in(thief)

    owner = Client()
    assert _login(owner, "000001", address=OWNER).status_code == 302
    response = owner.post(reverse("mfa_authenticate"), {"code": code}, REMOTE_ADDR=OWNER)
    assert response.status_code == 302 and _signed_in(owner)
    assert signin.DEVICE_COOKIE in owner.cookies  # given only once both steps passed
    assert signin.DEVICE_COOKIE not in thief.cookies


def test_forwarded_for_is_believed_only_from_trusted_proxies(settings):
    factory = RequestFactory()

    def seen(remote, forwarded, trusted):
        settings.HONBU_TRUSTED_PROXIES = trusted
        request = factory.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
        TrustedProxyMiddleware(lambda r: None)(request)
        return request.META["REMOTE_ADDR"]

    # Nobody trusted: a client cannot pick its own address.
    assert seen(ATTACKER, "1.2.3.4", []) == ATTACKER
    # nginx on 127.0.0.1 appends the address it saw; what the client wrote before it is not used.
    assert seen("127.0.0.1", f"1.2.3.4, {ATTACKER}", ["127.0.0.1"]) == ATTACKER
    # Two trusted hops (a load balancer in 10.0.0.0/8, then nginx).
    assert seen("127.0.0.1", f"1.2.3.4, {OWNER}, 10.1.2.3", ["127.0.0.1", "10.0.0.0/8"]) == OWNER
    # A client talking to the app server directly is not a proxy.
    assert seen(OWNER, ATTACKER, ["127.0.0.1"]) == OWNER
    # A mangled hop: the last address a trusted proxy vouched for.
    assert seen("127.0.0.1", "not-an-address", ["127.0.0.1"]) == "127.0.0.1"


def test_behind_the_proxy_each_phone_has_its_own_address(mayor, clock, settings):
    settings.HONBU_TRUSTED_PROXIES = ["127.0.0.1"]
    attacker = Client()
    for _ in range(6):
        _login(attacker, "000001", "wrong", address="127.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER)
    assert _throttled(
        _login(attacker, "000001", address="127.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER)
    )
    # The owner comes through the same nginx from another address.
    owner = Client()
    response = _login(owner, "000001", address="127.0.0.1", HTTP_X_FORWARDED_FOR=OWNER)
    assert response.status_code == 302 and _signed_in(owner)


def test_two_hundred_members_sign_in_at_once_from_one_office_network(settings):
    """After a quake the whole headquarters signs in at once, through the same nginx and from
    the same office network address: none is turned away (allauth's default allowed 30)."""
    settings.HONBU_TRUSTED_PROXIES = ["127.0.0.1"]
    members = UserFactory.create_batch(200)
    signed_in = 0
    for member in members:
        client = Client()
        response = _login(
            client, member.username, address="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.10"
        )
        signed_in += response.status_code == 302 and _signed_in(client)
    assert signed_in == 200


def test_sign_in_works_with_redis_away(mayor, monkeypatch):
    monkeypatch.setattr(signin, "_redis", lambda: redis.Redis(port=1, socket_connect_timeout=0.2))
    client = Client()
    assert _login(client, "000001", "wrong").status_code == 200
    assert _login(client, "000001").status_code == 302 and _signed_in(client)
