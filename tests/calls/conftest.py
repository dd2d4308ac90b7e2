"""A headquarters for call tests: 本部長 (the mayor, commander), 北区長 (member; a deputy,
副区長, with an account), 建設局長 (member), an observer by name, and staff outside it. The
city headquarters group is the one in safety's settings (disaster mode needs it)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from directory import services as directory_services
from directory.models import Post, User
from messaging import services as messaging_services
from messaging.models import CommandGroup, GroupMembership
from safety.models import Incident, IncidentLevel, SafetySettings
from tests.factories import PostFactory, StaffFactory, UserFactory


@dataclass
class HQ:
    group: CommandGroup
    mayor: User
    ward_head: User
    bureau_head: User
    deputy: User
    observer: User
    outsider: User
    outsider2: User
    head_post: Post
    kita_post: Post


def person(role: str = User.Role.HQ_MEMBER, **staff) -> User:
    user = UserFactory(role=role)
    StaffFactory(user=user, **staff)
    return user


@pytest.fixture
def hq(db) -> HQ:
    mayor, ward_head, bureau_head = (
        person(family_name="市長"),
        person(family_name="北区"),
        person(family_name="建設"),
    )
    deputy = person(family_name="副区長")
    observer = person(family_name="事務局")
    outsider, outsider2 = person(role=User.Role.STAFF), person(role=User.Role.STAFF)
    group = messaging_services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    head = PostFactory(name="本部長", holder=mayor.staff)
    kita = PostFactory(name="北区長", holder=ward_head.staff)
    bureau = PostFactory(name="建設局長", holder=bureau_head.staff)
    directory_services.post_set_deputies(post=kita, deputies=[deputy.staff], actor=None)
    for post, role in [(head, "commander"), (kita, "member"), (bureau, "member")]:
        messaging_services.group_add_member(group=group, post=post, role=role, actor=None)
    messaging_services.group_add_member(
        group=group, staff=observer.staff, role=GroupMembership.Role.OBSERVER, actor=None
    )
    SafetySettings.objects.all().delete()
    SafetySettings.objects.create(hq_group=group, commander_post=head)
    return HQ(
        group, mayor, ward_head, bureau_head, deputy, observer, outsider, outsider2, head, kita
    )


@pytest.fixture
def disaster(hq) -> Incident:
    """Disaster mode: an open incident (made directly, without the declaration's messages)."""
    level, _ = IncidentLevel.objects.get_or_create(
        code="emergency", defaults={"name": "非常体制", "order": 2}
    )
    return Incident.objects.create(
        title="大阪府北部地震",
        kind=Incident.Kind.EARTHQUAKE,
        level=level,
        started_at=timezone.now(),
    )


@pytest.fixture(autouse=True)
def _quick_calls(settings):
    settings.HONBU_CALL_RING_SECONDS = 30
    settings.HONBU_CALL_RECONNECT_SECONDS = 20
    settings.HONBU_ICE_SERVERS = []
    settings.HONBU_TURN_SECRET = ""
    settings.HONBU_TURN_URLS = []
