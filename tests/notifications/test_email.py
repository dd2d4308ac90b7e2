"""E-mail reminders: the sweep writes e-mail notifications, the delivery task sends them (run
in this process, eagerly) into Django's test outbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import translation
from django.utils.translation import gettext

from config.celery_app import app as celery_app
from directory import services as directory_services
from messaging import escalation, services
from messaging.models import StandIn
from notifications.models import Notification, NotificationSettings
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
BODY = "北区の避難所を開設し、開設状況を30分ごとに報告してください。" * 3  # longer than the excerpt
PUBLIC = "https://honbu.city.example.jp"


@pytest.fixture(autouse=True)
def _eager_celery(settings) -> Iterator[None]:
    settings.HONBU_PUBLIC_URL = PUBLIC + "/"
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def instruct(hq, **policy):
    return services.message_send(
        group=hq.group,
        sender=hq.mayor,
        body=BODY,
        client_id=uuid.uuid4(),
        kind="instruction",
        priority="urgent",
        requires_ack=True,
        escalation={
            "first_after": 60,
            "repeat_every": 60,
            "repeat_count": 0,
            "deputy_wait": 60,
            **policy,
        },
    ).message


def sweep(message, seconds: int, capture) -> None:
    with capture(execute=True):
        escalation.escalation_sweep(now=message.created_at + timedelta(seconds=seconds))


def test_a_reminder_e_mail_has_the_excerpt_and_a_link(
    hq, mailoutbox, django_capture_on_commit_callbacks
):
    message = instruct(hq)

    sweep(message, 60, django_capture_on_commit_callbacks)

    by_to = {tuple(m.to): m for m in mailoutbox}
    # The observer is not chased (issue 9).
    assert set(by_to) == {(hq.ward_head.email,), (hq.bureau_head.email,)}
    mail = by_to[(hq.ward_head.email,)]
    with translation.override(hq.ward_head.language):
        title = gettext("Reminder: please respond to this instruction")
    assert mail.subject == f"[Honbu] {title}"
    assert mail.body == (
        f"{message.sender_name}: {BODY[:80]}\n\n"
        f"{PUBLIC}/messages/g/{hq.group.pk}/#msg-{message.seq}\n"
    )
    note = Notification.objects.get(user=hq.ward_head, channel="email")
    assert (note.kind, note.status, note.detail) == ("reminder", "sent", hq.ward_head.email)


def test_without_a_public_url_the_e_mail_link_is_still_absolute(
    hq, mailoutbox, settings, django_capture_on_commit_callbacks
):
    """The worker has no request: the link comes from ALLOWED_HOSTS (here a wildcard, so
    `make run`'s address), never relative (directory/links.py)."""
    from notifications.delivery import notification_deliver

    settings.HONBU_PUBLIC_URL = ""
    settings.ALLOWED_HOSTS = ["*"]
    message = instruct(hq)
    with django_capture_on_commit_callbacks(execute=False):  # deliver it by hand, below
        escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    note = Notification.objects.get(user=hq.ward_head, channel="email")

    assert notification_deliver(notification_id=note.pk) == "sent"

    [mail] = [m for m in mailoutbox if m.to == [hq.ward_head.email]]
    link = mail.body.rstrip("\n").rsplit("\n", 1)[-1]
    assert link == f"http://localhost:8000/messages/g/{hq.group.pk}/#msg-{message.seq}"


def test_a_deputy_e_mail_links_to_the_stand_in_page(
    hq, mailoutbox, django_capture_on_commit_callbacks
):
    post = hq.ward_head.staff.posts_held.get()
    deputy = UserFactory()
    directory_services.post_set_deputies(
        post=post, deputies=[StaffFactory(user=deputy)], actor=None
    )
    message = instruct(hq)
    sweep(message, 60, django_capture_on_commit_callbacks)
    mailoutbox.clear()

    sweep(message, 120, django_capture_on_commit_callbacks)

    [mail] = [m for m in mailoutbox if m.to == [deputy.email]]
    stand_in = StandIn.objects.get(deputy=deputy)
    assert mail.body.endswith(f"\n\n{PUBLIC}/messages/standin/{stand_in.pk}/\n")
    assert BODY[:80] in mail.body


def test_no_e_mail_for_someone_who_turned_it_off(
    hq, mailoutbox, django_capture_on_commit_callbacks
):
    NotificationSettings.objects.create(user=hq.ward_head, email=False)
    message = instruct(hq)

    sweep(message, 60, django_capture_on_commit_callbacks)

    assert [m.to for m in mailoutbox if m.to == [hq.ward_head.email]] == []
    assert not Notification.objects.filter(user=hq.ward_head, channel="email").exists()
    assert Notification.objects.filter(user=hq.ward_head, channel="inapp").count() == 1
    assert len(mailoutbox) == 1  # the bureau head still gets theirs (the observer is not chased)


def test_no_e_mail_without_an_address(hq, mailoutbox, django_capture_on_commit_callbacks):
    hq.ward_head.email = ""
    hq.ward_head.save(update_fields=["email"])
    message = instruct(hq)

    sweep(message, 60, django_capture_on_commit_callbacks)

    assert [m.to[0] for m in mailoutbox] == [hq.bureau_head.email]  # observer: not chased
    assert not Notification.objects.filter(user=hq.ward_head, channel="email").exists()


def test_an_e_mail_is_sent_once_even_if_delivered_twice(
    hq, mailoutbox, django_capture_on_commit_callbacks
):
    from notifications.delivery import notification_deliver

    message = instruct(hq)
    sweep(message, 60, django_capture_on_commit_callbacks)
    note = Notification.objects.get(user=hq.ward_head, channel="email")

    assert notification_deliver(notification_id=note.pk) == "already"

    assert len([m for m in mailoutbox if m.to == [hq.ward_head.email]]) == 1


def test_an_e_mail_whose_delivery_was_never_enqueued_goes_out_with_a_later_sweep(
    hq, mailoutbox, django_capture_on_commit_callbacks
):
    """A worker that dies between the sweep's commit and enqueueing the delivery task leaves
    e-mail rows pending; the next redelivery sweep (beat, like the escalation sweep) hands them
    out again, once."""
    from notifications.tasks import notifications_redeliver_task
    from realtime import clock

    message = instruct(hq, use_deputies=False)
    with django_capture_on_commit_callbacks(execute=False):  # the enqueue never happens
        escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    note = Notification.objects.get(user=hq.ward_head, channel="email")
    assert note.status == "pending" and mailoutbox == []

    clock.advance(200)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            notifications_redeliver_task()
        with django_capture_on_commit_callbacks(execute=True):
            notifications_redeliver_task()
    finally:
        clock.reset()

    note.refresh_from_db()
    assert note.status == "sent"
    assert len([m for m in mailoutbox if m.to == [hq.ward_head.email]]) == 1
