"""The demo city's command groups: 大阪市災害対策本部 (~200 recipients: the 本部長, 副本部長 and
危機管理監 posts as commanders, every bureau/office and ward head post, the crisis office staff as
members and the secretariat (秘書課) staff as observers), one ward headquarters per ward, and a
危機管理室 office group, all through the messaging services. The staff these groups need
(crisis office, secretariat, ward section chiefs, :func:`group_people`) get accounts too, as far
as ``--staff`` leaves room for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models, transaction
from django.db.models import ForeignObjectRel, Q, QuerySet

from directory.models import OrgUnit, Post, Staff, User
from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.models import Attachment, CommandGroup, GroupMembership, Message

from .data import (
    CRISIS_OFFICE,
    DEMO_ROOT_CODE,
    GROUP_STAFF,
    GROUP_STAFF_TITLES,
    SECRETARIAT,
    WARD_SECTIONS,
    WARDS,
)
from .staff import Person

HQ_GROUP_NAME = "大阪市災害対策本部"
OFFICE_GROUP_NAME = "危機管理室"

_C, _M, _OBS = (
    GroupMembership.Role.COMMANDER,
    GroupMembership.Role.MEMBER,
    GroupMembership.Role.OBSERVER,
)


@dataclass
class GroupsSeeded:
    groups: int = 0
    memberships: int = 0


@dataclass
class DemoGroupLine:
    name: str
    kind: str
    recipients: int
    messages: int


def group_people() -> list[Person]:
    """Crisis office and secretariat staff, then three section chiefs per ward (総務課長 is
    already a deputy). Seeded in this order while ``--staff`` leaves room."""
    people = [
        Person(
            f"{first + n:06d}",
            unit,
            GROUP_STAFF_TITLES[n % len(GROUP_STAFF_TITLES)],
            User.Role.STAFF,
        )
        for unit, count, first in GROUP_STAFF
        for n in range(count)
    ]
    sections = WARD_SECTIONS.split()
    for i in range(1, len(WARDS.split()) + 1):
        for j in range(2, len(sections) + 1):
            people.append(
                Person(
                    f"{500 + 3 * (i - 1) + (j - 1):06d}",
                    f"{DEMO_ROOT_CODE}-W{i:02d}-{j}",
                    f"{sections[j - 1]}長",
                    User.Role.STAFF,
                )
            )
    return people


def _group_get_or_create(
    *, name: str, kind: str, unit: OrgUnit, description: str, out: GroupsSeeded
) -> CommandGroup:
    group = CommandGroup.objects.filter(kind=kind, unit=unit).first()
    if group is None:
        group = messaging_services.group_create(
            name=name, kind=kind, unit=unit, description=description, actor=None
        )
        out.groups += 1
    return group


def _add(group: CommandGroup, out: GroupsSeeded, role: str, *, post=None, staff=None) -> None:
    lookup = {"post": post} if post is not None else {"staff": staff}
    if GroupMembership.objects.filter(group=group, role=role, **lookup).exists():
        return  # the cheap path for a second run
    messaging_services.group_add_member(group=group, actor=None, role=role, **lookup)
    out.memberships += 1


def _staff_with_accounts(unit: OrgUnit, exclude: set[int]) -> list[Staff]:
    """Staff of ``unit`` and the units under it who can sign in, minus post holders who are
    already in the group through their post."""
    return [
        s
        for s in Staff.objects.filter(
            unit__path__startswith=unit.path, user__isnull=False, is_active=True
        ).order_by("employee_number")
        if s.pk not in exclude
    ]


def demo_groups_seed() -> GroupsSeeded:
    """The demo city's command groups and their members, through the messaging services.

    Idempotent: groups are found by (kind, unit), memberships by (group, post/staff, role); a
    second run creates nothing.
    """
    out = GroupsSeeded()
    root = OrgUnit.objects.get(code=DEMO_ROOT_CODE)
    crisis = OrgUnit.objects.get(code=CRISIS_OFFICE)
    secretariat = OrgUnit.objects.get(code=SECRETARIAT)
    posts = {p.code: p for p in Post.objects.filter(unit__path__startswith=root.path)}
    kikikanrikan = posts[f"{DEMO_ROOT_CODE}-KIKIKANRIKAN"]
    holders = {p.holder_id for p in posts.values() if p.holder_id}

    # 大阪市災害対策本部: the 本部長, 副本部長 and 危機管理監 posts command; every bureau/office
    # and ward head post is a member; the crisis office (the HQ's 事務局) posts as members, the
    # secretariat follows as observers (they read everything, the heads speak for the HQ).
    hq = _group_get_or_create(
        name=HQ_GROUP_NAME,
        kind=CommandGroup.Kind.HEADQUARTERS,
        unit=root,
        description="本部長・副本部長・危機管理監、各局・室長、各区長、危機管理室、秘書課",
        out=out,
    )
    commanders = {f"{DEMO_ROOT_CODE}-HONBUCHO", kikikanrikan.code} | {
        f"{DEMO_ROOT_CODE}-FUKU{n}" for n in (1, 2, 3)
    }
    for post in sorted(posts.values(), key=lambda p: p.sort_order):
        _add(hq, out, _C if post.code in commanders else _M, post=post)
    for person in _staff_with_accounts(crisis, holders):
        _add(hq, out, _M, staff=person)
    for person in _staff_with_accounts(secretariat, holders):
        _add(hq, out, _OBS, staff=person)

    # One ward headquarters per ward: the ward head commands, the deputy ward head and section
    # chiefs (and, in 北区, the demo staff sign-in) are members, the 危機管理監 observes.
    for ward in OrgUnit.objects.filter(kind=OrgUnit.Kind.WARD, path__startswith=root.path).order_by(
        "sort_order"
    ):
        group = _group_get_or_create(
            name=f"{ward.name}災害対策本部",
            kind=CommandGroup.Kind.WARD_HEADQUARTERS,
            unit=ward,
            description=f"{ward.name}長、副区長、各課長",
            out=out,
        )
        _add(group, out, _C, post=posts[ward.code])
        for person in _staff_with_accounts(ward, holders):
            _add(group, out, _M, staff=person)
        _add(group, out, _OBS, post=kikikanrikan)

    # 危機管理室: the office's own group; the 危機管理監 and the 室長 command.
    office = _group_get_or_create(
        name=OFFICE_GROUP_NAME,
        kind=CommandGroup.Kind.OFFICE,
        unit=crisis,
        description="危機管理室の職員",
        out=out,
    )
    _add(office, out, _C, post=kikikanrikan)
    _add(office, out, _C, post=posts[CRISIS_OFFICE])
    for person in _staff_with_accounts(crisis, holders):
        _add(office, out, _M, staff=person)
    return out


def demo_groups() -> list[CommandGroup]:
    """The demo city's command groups: the city HQ, the 危機管理室 group, the ward HQs."""
    root = OrgUnit.objects.filter(code=DEMO_ROOT_CODE).first()
    if root is None:
        return []
    order = {CommandGroup.Kind.HEADQUARTERS: 0, CommandGroup.Kind.OFFICE: 1}
    groups = CommandGroup.objects.filter(unit__path__startswith=root.path).select_related("unit")
    return sorted(groups, key=lambda g: (order.get(g.kind, 2), g.unit.sort_order, g.pk))


def demo_group_lines() -> list[DemoGroupLine]:
    return [
        DemoGroupLine(
            name=g.name,
            kind=g.kind,
            recipients=len(messaging_selectors.group_recipients(group=g)),
            messages=g.last_seq,
        )
        for g in demo_groups()
    ]


# The purge never deletes rows of these apps: people, accounts and sessions go (or stay) on
# their own terms, and a row of theirs that still points at a demo group makes the reset fail.
KEPT_APPS = frozenset({"directory", "auth", "contenttypes", "sessions"})
# A row goes with what it points at when its foreign key CASCADEs (Django would take it anyway;
# walked so that its own children go first) or PROTECTs/RESTRICTs it (a record that would
# block the deletion). SET_NULL, SET_DEFAULT and SET() rows outlive it by design, and Django
# clears their link; DO_NOTHING rows are left for the database to refuse.
_PURGED_ON_DELETE = (models.CASCADE, models.PROTECT, models.RESTRICT)


def _purge(rows: QuerySet, path: tuple = ()) -> None:
    """Delete ``rows`` after every row that points at them by a foreign key, in any app but
    :data:`KEPT_APPS` (memberships, messages, receipts, versions, attachments, chases, incidents,
    safety rounds … whatever the apps above the directory add), deepest first.

    Only foreign keys are walked: a generic relation (a ``GenericRelation``, e.g. notifications
    on a message) is deleted by Django with the row it hangs on, and the row at the other end of
    a many-to-many link is not the group's (only the link goes, which is a foreign key row of
    the through table). Self-references (replies) are cleared by the caller. A foreign key that
    leads back to a model already being purged (a safety request's current answer, which points
    back at its request) is a cycle: a nullable one is cleared first, which breaks it.
    """
    model = rows.model
    path = (*path, model)
    for rel in model._meta.get_fields(include_hidden=True):  # hidden: related_name="+" too
        if not isinstance(rel, ForeignObjectRel) or not isinstance(rel.field, models.ForeignKey):
            continue
        related = rel.related_model
        if (
            related is model
            or related._meta.app_label in KEPT_APPS
            or rel.on_delete not in _PURGED_ON_DELETE
        ):
            continue
        pointing = related._base_manager.filter(**{f"{rel.field.name}__in": rows})
        if related in path:
            if rel.field.null:
                pointing.update(**{rel.field.name: None})
            continue
        _purge(pointing, path)
    rows.delete()


def demo_groups_delete(root: OrgUnit) -> None:
    """Delete the demo's command groups with their messages (--reset of a DEMO city only:
    messages are public records everywhere else). Demo groups are those of a demo unit and
    those (one-to-one, ad hoc) whose every member is a demo post or demo staff member."""
    in_city = Q(post__unit__path__startswith=root.path) | Q(staff__unit__path__startswith=root.path)
    demo_rows = set(GroupMembership.objects.filter(in_city).values_list("id", flat=True))
    with_members, foreign = set(), set()
    for membership_id, group_id in GroupMembership.objects.values_list("id", "group_id"):
        with_members.add(group_id)
        if membership_id not in demo_rows:
            foreign.add(group_id)
    ids = set(
        CommandGroup.objects.filter(unit__path__startswith=root.path).values_list("id", flat=True)
    ) | (with_members - foreign)
    groups = CommandGroup.objects.filter(pk__in=ids)
    files = [
        f.name
        for a in Attachment.objects.filter(group__in=groups)
        for f in (a.file, a.thumbnail)
        if f
    ]
    Message.objects.filter(group__in=groups).update(reply_to=None)
    _purge(groups)

    def remove_files() -> None:
        storage = Attachment._meta.get_field("file").storage
        for name in files:
            storage.delete(name)

    transaction.on_commit(remove_files)
