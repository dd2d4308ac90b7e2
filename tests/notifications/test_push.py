"""Web Push against a real HTTP endpoint on 127.0.0.1 standing in for the browser's push service:
it receives pywebpush's encrypted request, decrypts it with the subscription's private key and
auth secret (RFC 8291, aes128gcm) and checks the VAPID JWT (RFC 8292) against the server's key."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from config.celery_app import app as celery_app
from messaging import escalation, services
from notifications.delivery import notification_deliver
from notifications.models import Notification, PushSubscription
from notifications.vapid import vapid_keys
from tests.push import decrypt, subscribe, unb64url

pytestmark = pytest.mark.django_db
BODY = "住民を3階以上へ避難させてください"


def vapid_claims(request: dict, server_key: ec.EllipticCurvePrivateKey) -> dict:
    """Verify the Authorization header's JWT (ES256) with the server's public key."""
    scheme, _sep, params = request["headers"]["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    public = server_key.public_key()
    assert unb64url(parts["k"]) == public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    header, claims, signature = parts["t"].split(".")
    assert json.loads(unb64url(header))["alg"] == "ES256"
    raw = unb64url(signature)
    public.verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
        f"{header}.{claims}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )  # raises if forged
    return json.loads(unb64url(claims))


def reminder_for(hq, user, channel: str = "push", priority: str = "urgent") -> Notification:
    message = services.message_send(
        group=hq.group,
        sender=hq.mayor,
        body=BODY,
        client_id=uuid.uuid4(),
        kind="instruction",
        priority=priority,
        requires_ack=True,
        escalation={"first_after": 60, "repeat_every": 60, "repeat_count": 1},
    ).message
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    return Notification.objects.get(message=message, user=user, kind="reminder", channel=channel)


# --- delivery -------------------------------------------------------------------------------
def test_a_reminder_reaches_the_push_service_encrypted_and_signed(
    hq, push_service, vapid, settings
):
    device = subscribe(hq.ward_head, push_service)
    note = reminder_for(hq, hq.ward_head)
    started = time.time()

    assert notification_deliver(notification_id=note.pk) == "sent"

    [request] = push_service.received
    assert request["path"] == device.subscription.endpoint.removeprefix(push_service.url)
    message = note.subject
    with translation.override(hq.ward_head.language):
        title = gettext("Reminder: please respond to this instruction")
    assert decrypt(device, request) == {
        "title": title,
        "body": f"{message.sender_name}: {BODY}",
        "url": f"/messages/g/{hq.group.pk}/#msg-{message.seq}",
        "tag": f"honbu-{message.pk}",
    }
    claims = vapid_claims(request, vapid)
    assert claims["aud"] == push_service.url and claims["sub"] == settings.HONBU_VAPID_SUBJECT
    assert started < claims["exp"] <= started + 24 * 3600
    assert request["headers"]["ttl"] == "3600"
    note.refresh_from_db()
    assert note.status == "sent" and note.sent_at is not None and note.detail == "1 device(s)"
    device.subscription.refresh_from_db()
    assert device.subscription.last_success_at is not None and device.subscription.failures == 0


def test_every_device_of_the_person_gets_it(hq, push_service, vapid):
    phone, tablet = subscribe(hq.ward_head, push_service), subscribe(hq.ward_head, push_service)
    subscribe(hq.bureau_head, push_service)  # someone else's device
    note = reminder_for(hq, hq.ward_head)

    assert notification_deliver(notification_id=note.pk) == "sent"

    by_path = {r["path"]: r for r in push_service.received}
    assert len(push_service.received) == 2
    for device in (phone, tablet):
        request = by_path[device.subscription.endpoint.removeprefix(push_service.url)]
        assert decrypt(device, request)["body"].endswith(BODY)


def test_delivering_twice_sends_once(hq, push_service, vapid):
    subscribe(hq.ward_head, push_service)
    note = reminder_for(hq, hq.ward_head)

    assert notification_deliver(notification_id=note.pk) == "sent"
    assert notification_deliver(notification_id=note.pk) == "already"

    assert len(push_service.received) == 1


def test_gone_deletes_the_subscription(hq, push_service, vapid):
    device = subscribe(hq.ward_head, push_service)
    push_service.status = 410
    note = reminder_for(hq, hq.ward_head)

    assert notification_deliver(notification_id=note.pk) == "failed"

    assert len(push_service.received) == 1
    assert not PushSubscription.objects.filter(pk=device.subscription.pk).exists()


def test_a_server_error_keeps_the_subscription_and_counts_a_failure(hq, push_service, vapid):
    device = subscribe(hq.ward_head, push_service)
    push_service.status = 500
    note = reminder_for(hq, hq.ward_head)

    assert notification_deliver(notification_id=note.pk) == "failed"

    device.subscription.refresh_from_db()
    assert device.subscription.failures == 1


def test_no_subscription_is_skipped(hq, push_service, vapid):
    note = reminder_for(hq, hq.ward_head)

    assert notification_deliver(notification_id=note.pk) == "skipped"

    note.refresh_from_db()
    assert note.status == "skipped" and note.detail == "no push subscription"
    assert push_service.received == []


def test_no_vapid_key_is_skipped(hq, push_service, settings, tmp_path):
    settings.HONBU_VAPID_PRIVATE_KEY = ""
    settings.VAR_DIR = tmp_path  # no vapid_private.pem there
    vapid_keys.cache_clear()
    subscribe(hq.ward_head, push_service)
    note = reminder_for(hq, hq.ward_head)

    assert notification_deliver(notification_id=note.pk) == "skipped"

    vapid_keys.cache_clear()
    assert push_service.received == []


def test_vapid_generate_writes_a_key_the_server_then_uses(settings, tmp_path):
    from notifications.vapid import vapid_generate

    settings.HONBU_VAPID_PRIVATE_KEY = ""
    settings.VAR_DIR = tmp_path
    path = vapid_generate()
    try:
        vapid, public = vapid_keys()
        assert (
            path == tmp_path / "vapid_private.pem" and oct(path.stat().st_mode & 0o777) == "0o600"
        )
        assert vapid is not None and len(unb64url(public)) == 65  # uncompressed P-256 point
    finally:
        vapid_keys.cache_clear()


# --- the settings page and subscription endpoints ----------------------------------------------
@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run enqueued tasks in this process (the worker path is
    tests/messaging/test_escalation_worker.py)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_the_test_notification_reaches_every_channel(
    client, hq, push_service, vapid, eager_celery, mailoutbox, django_capture_on_commit_callbacks
):
    device = subscribe(hq.ward_head, push_service)
    client.force_login(hq.ward_head)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("notifications:settings"), {"test": "1"})

    assert response.status_code == 302
    notes = Notification.objects.filter(user=hq.ward_head, kind="test")
    assert dict(notes.values_list("channel", "status")) == {
        "inapp": "sent",
        "push": "sent",
        "email": "sent",
    }
    with translation.override(hq.ward_head.language):
        title = gettext("Honbu test notification")
    [request] = push_service.received
    assert decrypt(device, request)["title"] == title
    [mail] = mailoutbox
    assert mail.to == [hq.ward_head.email] and title in mail.subject


def test_the_settings_page_offers_the_servers_public_key(client, hq, vapid):
    client.force_login(hq.ward_head)
    response = client.get(reverse("notifications:settings"))
    assert response.status_code == 200
    assert f'data-key="{vapid_keys()[1]}"' in response.content.decode()


VALID = {
    "endpoint": "https://fcm.googleapis.com/fcm/send/abc123",
    "keys": {
        "p256dh": (
            "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
        ),
        "auth": "tBHItJI5svbpez7KI4CCXg",
    },
}


def post_json(client, name: str, data, **extra):
    body = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return client.post(reverse(name), body, content_type="application/json", **extra)


def test_subscribe_stores_the_subscription(client, hq):
    client.force_login(hq.ward_head)
    response = post_json(client, "notifications:push_subscribe", VALID, HTTP_USER_AGENT="Safari/17")
    assert response.status_code == 200 and response.json() == {"ok": True}
    sub = PushSubscription.objects.get()
    assert (sub.user, sub.endpoint, sub.p256dh, sub.auth, sub.user_agent) == (
        hq.ward_head,
        VALID["endpoint"],
        VALID["keys"]["p256dh"],
        VALID["keys"]["auth"],
        "Safari/17",
    )
    # The same browser subscribing again updates the row instead of adding one.
    assert post_json(client, "notifications:push_subscribe", VALID).status_code == 200
    assert PushSubscription.objects.count() == 1


def test_someone_elses_endpoint_cannot_be_taken_over(client, hq):
    """Issue 13, item 4: posting another person's push endpoint (with keys of one's own) must
    not move their notifications: 409, and their subscription is unchanged."""
    theirs = PushSubscription.objects.create(
        user=hq.bureau_head, endpoint=VALID["endpoint"], p256dh="their-key", auth="their-auth"
    )
    client.force_login(hq.ward_head)

    response = post_json(client, "notifications:push_subscribe", VALID)

    assert response.status_code == 409 and response.json()["error"]
    theirs.refresh_from_db()
    assert (theirs.user, theirs.p256dh, theirs.auth) == (hq.bureau_head, "their-key", "their-auth")
    assert PushSubscription.objects.count() == 1


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[]",
        {"endpoint": VALID["endpoint"]},
        {"keys": VALID["keys"]},
        {**VALID, "endpoint": "http://push.example/insecure"},
        {**VALID, "endpoint": "javascript:alert(1)"},
        {**VALID, "endpoint": 42},
        {**VALID, "endpoint": "https://push.example/" + "a" * 1000},
        {**VALID, "keys": {"p256dh": "B" * 201, "auth": "x"}},
        {**VALID, "keys": {"p256dh": "B", "auth": "x" * 101}},
        {**VALID, "keys": {"p256dh": ["B"], "auth": "x"}},
    ],
    ids=[
        "not-json",
        "list",
        "no-keys",
        "no-endpoint",
        "http",
        "javascript",
        "number",
        "long-endpoint",
        "long-p256dh",
        "long-auth",
        "p256dh-list",
    ],
)
def test_subscribe_refuses_bad_input_and_stores_nothing(client, hq, data):
    client.force_login(hq.ward_head)
    response = post_json(client, "notifications:push_subscribe", data)
    assert response.status_code == 400
    assert PushSubscription.objects.count() == 0


def test_subscribe_needs_post(client, hq):
    client.force_login(hq.ward_head)
    assert client.get(reverse("notifications:push_subscribe")).status_code == 405
    assert PushSubscription.objects.count() == 0


def test_anonymous_is_sent_to_sign_in(client, db):
    for name in ("notifications:push_subscribe", "notifications:push_unsubscribe"):
        response = post_json(client, name, VALID)
        assert response.status_code == 302 and response["Location"].startswith(
            reverse("account_login")
        )
    assert PushSubscription.objects.count() == 0


def test_unsubscribe_removes_only_ones_own_subscription(client, hq):
    mine = PushSubscription.objects.create(
        user=hq.ward_head, endpoint=VALID["endpoint"], p256dh="B", auth="a"
    )
    theirs = PushSubscription.objects.create(
        user=hq.bureau_head, endpoint="https://push.example/theirs", p256dh="B", auth="a"
    )
    client.force_login(hq.ward_head)

    assert (
        post_json(
            client, "notifications:push_unsubscribe", {"endpoint": theirs.endpoint}
        ).status_code
        == 200
    )
    assert post_json(client, "notifications:push_unsubscribe", "nope").status_code == 400
    assert PushSubscription.objects.filter(pk=theirs.pk).exists()
    assert (
        post_json(client, "notifications:push_unsubscribe", {"endpoint": mine.endpoint}).status_code
        == 200
    )
    assert list(PushSubscription.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_turning_push_off_creates_no_push_notifications(hq, push_service, vapid):
    from notifications.models import NotificationSettings

    NotificationSettings.objects.create(user=hq.ward_head, push=False)
    subscribe(hq.ward_head, push_service)

    with pytest.raises(Notification.DoesNotExist):
        reminder_for(hq, hq.ward_head, priority="important")  # urgent ones push regardless

    assert Notification.objects.filter(user=hq.ward_head, channel="push").count() == 0
    assert push_service.received == []
