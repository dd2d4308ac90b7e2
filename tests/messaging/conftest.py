from __future__ import annotations

from dataclasses import dataclass

import pytest

from directory.models import User
from messaging import services
from messaging.models import CommandGroup, GroupMembership
from tests.factories import PostFactory, StaffFactory, UserFactory


@dataclass
class HQ:
    group: CommandGroup
    mayor: User
    ward_head: User
    bureau_head: User
    observer: User
    outsider: User


def make_member(role: str = "hq_member", **staff) -> User:
    user = UserFactory(role=role)
    StaffFactory(user=user, **staff)
    return user


@pytest.fixture
def hq(db) -> HQ:
    """A headquarters group addressed to posts: 本部長 (commander), 北区長, 建設局長, and an
    observer (secretariat) added as an individual."""
    mayor, ward_head, bureau_head = make_member(), make_member(), make_member()
    observer, outsider = make_member(), make_member(role="staff")
    group = services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    for name, user, role in [
        ("本部長", mayor, "commander"),
        ("北区長", ward_head, "member"),
        ("建設局長", bureau_head, "member"),
    ]:
        post = PostFactory(name=name, holder=user.staff)
        services.group_add_member(group=group, post=post, role=role, actor=None)
    services.group_add_member(
        group=group, staff=observer.staff, role=GroupMembership.Role.OBSERVER, actor=None
    )
    return HQ(group, mayor, ward_head, bureau_head, observer, outsider)
