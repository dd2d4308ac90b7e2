"""A round's messages through a real SMTP server on 127.0.0.1: everyone with an address gets
one e-mail with their own absolute answer link (the private address too), a batch shares one
SMTP session, and the link works."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.delivery import notifications_deliver
from notifications.models import Notification
from safety import rounds
from safety.models import SafetyContact, SafetyRequest
from safety.notify import round_notify_start
from tests.smtp import body_text, subject

pytestmark = pytest.mark.django_db
LINK = re.compile(r"(https?://\S+/s/(\d+)\.[a-z2-7]+/)")


def test_every_member_of_staff_gets_one_e_mail_with_their_own_link(
    city, smtp_server, settings, client
):
    settings.HONBU_PUBLIC_URL = "https://honbu.city.example.jp"
    SafetyContact.objects.create(staff=city.kita_staff[0], email="kitano.family@example.net")
    round_ = rounds.round_start(actor=city.mayor, title="北部地震 安否確認", target={"all": True})
    round_notify_start(round_id=round_.pk)

    outbound = list(Notification.objects.exclude(channel="inapp").values_list("pk", flat=True))
    statuses = notifications_deliver(notification_ids=outbound)

    assert set(statuses.values()) <= {"sent", "skipped"}  # push: no subscriptions here
    assert smtp_server.sessions == 1  # one SMTP session for the whole batch
    requests = SafetyRequest.objects.filter(round=round_).select_related("staff__user")
    for request in requests:
        staff = request.staff  # an account's address, else the roster's work address
        [mail] = smtp_server.to(staff.user.email if staff.user_id else staff.email)
        assert "安否確認：北部地震 安否確認" in subject(mail)
        text = body_text(mail)
        assert request.staff.full_name in text
        [(url, request_id)] = LINK.findall(text)
        assert url.startswith("https://honbu.city.example.jp/s/") and int(request_id) == request.pk
    [private] = smtp_server.to("kitano.family@example.net")
    assert LINK.findall(body_text(private))[0][1] == str(requests.get(staff=city.kita_staff[0]).pk)
    # The link works without signing in.
    path = LINK.findall(body_text(smtp_server.to(city.chuo_staff[0].email)[0]))[0][0]
    page = client.get(path.removeprefix("https://honbu.city.example.jp"))
    assert page.status_code == 200 and city.chuo_staff[0].full_name in page.content.decode()
    # Delivered again (a redelivered task): nobody gets a second e-mail.
    assert notifications_deliver(notification_ids=outbound) == {}
    assert len(smtp_server.messages) == requests.count() + 1


def test_a_batch_reads_the_answer_links_of_all_its_e_mails_in_one_query(city, smtp_server):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    round_notify_start(round_id=round_.pk)
    outbound = list(Notification.objects.filter(channel="email").values_list("pk", flat=True))

    with CaptureQueriesContext(connection) as queries:
        statuses = notifications_deliver(notification_ids=outbound)

    assert len(outbound) > 5 and statuses == dict.fromkeys(outbound, "sent")
    reads = [q["sql"] for q in queries if 'FROM "safety_safetyrequest"' in q["sql"]]
    assert len(reads) == 1  # the batch's requests with their rounds and staff, at once
