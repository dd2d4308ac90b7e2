import uuid

import pytest
from django.urls import reverse

from directory.models import AuditEntry
from messaging import services
from messaging.models import GroupMembership, Message
from tests.factories import PostFactory

pytestmark = pytest.mark.django_db


def _inline_data(group, rows):
    data = {
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "name": group.name,
        "kind": group.kind,
        "is_active": "on",
        "description": "",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"memberships-{i}-{key}"] = value
        data[f"memberships-{i}-group"] = str(group.pk)
    return data


def test_adding_a_member_in_the_admin_is_audited(client, admin_user, hq):
    post = PostFactory(name="港湾局長")
    client.force_login(admin_user)

    url = reverse("admin:messaging_commandgroup_change", args=[hq.group.pk])
    # Existing memberships are part of the formset; submit them unchanged plus one new row.
    existing = list(hq.group.memberships.all())
    data = _inline_data(
        hq.group,
        [
            {
                "id": str(m.pk),
                "post": str(m.post_id or ""),
                "staff": str(m.staff_id or ""),
                "role": m.role,
            }
            for m in existing
        ]
        + [{"post": str(post.pk), "role": "member"}],
    )
    data["memberships-INITIAL_FORMS"] = str(len(existing))
    response = client.post(url, data)

    assert response.status_code == 302, response.content[:2000]
    assert GroupMembership.objects.filter(group=hq.group, post=post, role="member").exists()
    entry = AuditEntry.objects.filter(action="group.member_add", actor=admin_user).get()
    # The admin writes through messaging's services now: the same audit entry as the members page.
    assert entry.data == {"post": post.pk, "staff": None, "role": "member", "previous": None}


def test_messages_cannot_be_changed_or_deleted_in_the_admin(client, admin_user, hq):
    message = services.message_send(
        group=hq.group, sender=hq.mayor, body="原本", client_id=uuid.uuid4()
    ).message
    client.force_login(admin_user)

    assert (
        client.get(reverse("admin:messaging_message_change", args=[message.pk])).status_code == 200
    )
    response = client.post(
        reverse("admin:messaging_message_delete", args=[message.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    message.refresh_from_db()
    assert Message.objects.filter(pk=message.pk).exists() and message.body == "原本"
