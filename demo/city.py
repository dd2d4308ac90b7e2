"""The demo city: an Osaka-like city with 24 wards, ~50 bureaus and offices, staff and posts,
its command groups and two sample messages. The entry points of the ``demo`` app.

``manage.py seed_demo`` (and ``make run``) call :func:`demo_city_seed`. Everything is
deterministic for a given seed and staff count: unit codes, employee numbers, names, posts.
What each part seeds: :mod:`demo.units`, :mod:`demo.staff`, :mod:`demo.posts`,
:mod:`demo.groups`, :mod:`demo.messages`, the drill scenario :mod:`demo.drills`; the data
they draw on: :mod:`demo.data`.

Sign-in accounts are issued only to the headquarters key people (every post holder and both
deputies of every post) and to five fixed demo sign-ins, all with :data:`DEMO_PASSWORD`:

=========  ====================  =========================================
 login      role                  who
=========  ====================  =========================================
 000001     hq_member             市長 — holds 本部長
 000101     hq_member             北区長 — holds 北区長 (the first ward)
 000901     admin                 ICT戦略室 係長 (Django admin too)
 000902     coordinator           危機管理室 主任 (drill coordinator)
 000903     staff                 北区 総務課 主事 (an ordinary member of staff)
=========  ====================  =========================================

Every account can also sign in with its work e-mail, ``s<employee number>@city.example.jp``.

The command groups (:func:`demo.groups.demo_groups_seed`) are 大阪市災害対策本部 (~200
recipients), one ward headquarters per ward, and a 危機管理室 office group; the staff these
groups need (:func:`demo.groups.group_people`) get accounts too, as far as ``--staff`` leaves
room for them. The safety record (:mod:`demo.safety`): assembly places at the ward offices and
the city hall, and a past earthquake with a closed safety confirmation of six wards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, transaction

from directory.models import OrgUnit, Staff

from .data import (
    ADMIN,
    COORDINATOR,
    DEFAULT_STAFF,
    DEMO_PASSWORD,
    DEMO_ROOT_CODE,
    DEMO_SEED,
    EMAIL_DOMAIN,
    MAYOR,
    SIGNIN_LABELS,
    STAFF,
    WARD_HEAD,
)
from .drills import DEMO_SCENARIO_TITLE, demo_drills_delete, demo_drills_seed
from .groups import (
    DemoGroupLine,
    demo_group_lines,
    demo_groups,
    demo_groups_delete,
    demo_groups_seed,
    group_people,
)
from .messages import demo_messages_seed
from .posts import PostSpec, demo_posts_delete, demo_posts_seed, key_people_and_posts
from .safety import SafetySeeded, demo_safety_delete, demo_safety_seed
from .staff import Person, demo_staff_delete, demo_staff_seed
from .units import DemoSeedError, demo_units_delete, demo_units_seed

__all__ = [
    "ADMIN",
    "COORDINATOR",
    "DEFAULT_STAFF",
    "DEMO_PASSWORD",
    "DEMO_ROOT_CODE",
    "DEMO_SCENARIO_TITLE",
    "DEMO_SEED",
    "EMAIL_DOMAIN",
    "MAYOR",
    "SIGNIN_LABELS",
    "STAFF",
    "WARD_HEAD",
    "DemoGroupLine",
    "DemoSeedError",
    "DemoSummary",
    "demo_city_delete",
    "demo_city_loaded",
    "demo_city_seed",
    "demo_group_lines",
    "demo_groups",
    "demo_groups_delete",
    "demo_signins",
    "group_people",
]


@dataclass
class DemoSummary:
    already_loaded: bool
    units: int = 0
    staff: int = 0
    accounts: int = 0
    posts: int = 0
    deputies: int = 0
    groups: int = 0
    memberships: int = 0
    messages: int = 0
    scenarios: int = 0
    seconds: float = 0.0
    group_lines: list[DemoGroupLine] = field(default_factory=list)
    safety: SafetySeeded = field(default_factory=SafetySeeded)


def demo_city_loaded() -> bool:
    return OrgUnit.objects.filter(code=DEMO_ROOT_CODE).exists()


def demo_city_seed(*, staff_count: int = DEFAULT_STAFF, seed: int = DEMO_SEED) -> DemoSummary:
    """Create the demo city with ``staff_count`` staff in all. Does nothing if it is loaded."""
    started = time.monotonic()
    if demo_city_loaded():
        # A city seeded before the command groups existed gets them now; otherwise a no-op.
        with transaction.atomic():
            groups = demo_groups_seed()
            messages = demo_messages_seed()
            safety = demo_safety_seed(seed=seed)
            scenarios = demo_drills_seed()
        return DemoSummary(
            already_loaded=True,
            groups=groups.groups,
            memberships=groups.memberships,
            messages=messages,
            scenarios=scenarios,
            group_lines=demo_group_lines(),
            safety=safety,
        )
    people, posts = key_people_and_posts()
    if staff_count < len(people):
        raise DemoSeedError(f"--staff must be at least {len(people)} (the headquarters key people)")
    people += group_people()[: staff_count - len(people)]
    try:
        with transaction.atomic():
            summary = _seed(people, posts, staff_count, seed)
            groups = demo_groups_seed()
            messages = demo_messages_seed()
            summary.safety = demo_safety_seed(seed=seed)
            summary.scenarios = demo_drills_seed()
    except IntegrityError as exc:
        raise DemoSeedError(
            f"the demo city clashes with existing units, staff or accounts ({exc}); "
            "seed it into an empty database"
        ) from exc
    summary.groups, summary.memberships = groups.groups, groups.memberships
    summary.messages, summary.group_lines = messages, demo_group_lines()
    summary.seconds = time.monotonic() - started
    return summary


def _seed(people: list[Person], posts: list[PostSpec], staff_count: int, seed: int) -> DemoSummary:
    units = demo_units_seed()
    staff = demo_staff_seed(people=people, units=units, staff_count=staff_count, seed=seed)
    demo_posts_seed(posts=posts, units=units, staff=staff.with_accounts)
    return DemoSummary(
        already_loaded=False,
        units=len(units),
        staff=staff.staff,
        accounts=staff.accounts,
        posts=len(posts),
        deputies=2 * len(posts),
    )


def demo_city_delete() -> int:
    """Delete the demo city (units, staff, posts, their accounts, the demo's command groups
    and their messages, the drill scenarios that point at it). Audit entries stay.

    Refuses (ProtectedError) when demo accounts did something recorded outside the demo, e.g.
    sent a message in a group that is not the demo's or wrote an audit entry: that stays.
    """
    root = OrgUnit.objects.filter(code=DEMO_ROOT_CODE).first()
    if root is None:
        return 0
    with transaction.atomic():
        demo_drills_delete(root)
        demo_safety_delete(root)
        demo_groups_delete(root)
        demo_posts_delete(root)
        deleted = demo_staff_delete(root)
        demo_units_delete(root)
    return deleted


def demo_signins() -> list[tuple[str, str, str]]:
    """(role label, login, name) of the five demo sign-ins that exist in the database."""
    numbers = [number for number, _label in SIGNIN_LABELS]
    try:
        names = {
            number: f"{family} {given}"
            for number, family, given in Staff.objects.filter(
                employee_number__in=numbers,
                user__isnull=False,
                unit__code__startswith=DEMO_ROOT_CODE,
            ).values_list("employee_number", "family_name", "given_name")
        }
    except DatabaseError:  # not migrated yet
        return []
    return [(label, number, names[number]) for number, label in SIGNIN_LABELS if number in names]
