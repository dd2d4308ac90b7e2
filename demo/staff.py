"""The demo city's staff and sign-in accounts: the key people (fixed employee numbers, see
:mod:`demo.posts`) and the staff the command groups need (:func:`demo.groups.group_people`)
first, then ordinary staff spread over the sections up to ``--staff``. Only the first get
accounts, all with :data:`demo.data.DEMO_PASSWORD`."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password

from directory import services
from directory.models import OrgUnit, Staff, User

from .data import BATCH, DEMO_PASSWORD, EMAIL_DOMAIN, FAMILY_NAMES, GIVEN_NAMES, JOB_TITLES


@dataclass
class Person:
    employee_number: str
    unit_code: str
    job_title: str
    role: str | None = None  # None: no sign-in account


@dataclass
class SeededStaff:
    staff: int  # rows inserted
    accounts: int
    with_accounts: dict[str, Staff]  # by employee number


def _batches(items: list, size: int = BATCH) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def demo_staff_seed(
    *, people: list[Person], units: dict[str, OrgUnit], staff_count: int, seed: int
) -> SeededStaff:
    """``people`` (who get accounts) and ordinary staff, ``staff_count`` in all."""
    # The key people first, then the rest. Names come from their own random stream, so the key
    # people's names do not depend on the staff count.
    rng, place_rng = random.Random(seed), random.Random(seed + 1)
    leaves = [u for u in units.values() if u.kind == OrgUnit.Kind.SECTION]
    titles = [t for t, weight in JOB_TITLES for _ in range(weight)]
    everyone = list(people) + [
        Person(f"{100001 + n:06d}", place_rng.choice(leaves).code, place_rng.choice(titles))
        for n in range(staff_count - len(people))
    ]
    staff_rows = []
    for p in everyone:
        family, family_kana = rng.choice(FAMILY_NAMES)
        given, given_kana = rng.choice(GIVEN_NAMES)
        mobile = (
            f"090-{rng.randrange(10000):04d}-{rng.randrange(10000):04d}"
            if p.role is not None or rng.random() < 0.25
            else ""
        )
        s = Staff(
            employee_number=p.employee_number,
            family_name=family,
            given_name=given,
            family_kana=family_kana,
            given_kana=given_kana,
            unit=units[p.unit_code],
            job_title=p.job_title,
            email=f"s{p.employee_number}@{EMAIL_DOMAIN}",
            mobile=mobile,
        )
        s.search_key, s.kana_sort = services.staff_search_fields(s)
        staff_rows.append(s)

    # Accounts for everyone with a role: one password hash shared by all (hashing is slow).
    password = make_password(DEMO_PASSWORD)
    by_number = {s.employee_number: s for s in staff_rows}
    users = User.objects.bulk_create(
        [
            User(
                username=p.employee_number,
                email=by_number[p.employee_number].email,
                first_name=by_number[p.employee_number].given_name,
                last_name=by_number[p.employee_number].family_name,
                password=password,
                role=p.role if p.role == User.Role.HQ_MEMBER else User.Role.STAFF,
            )
            for p in people
        ],
        batch_size=BATCH,
    )
    for user in users:
        by_number[user.username].user = user
    EmailAddress.objects.bulk_create(
        [EmailAddress(user=u, email=u.email, verified=True, primary=True) for u in users],
        batch_size=BATCH,
    )
    for batch in _batches(staff_rows):
        Staff.objects.bulk_create(batch)
    staff = {
        s.employee_number: s
        for s in Staff.objects.filter(employee_number__in=[p.employee_number for p in people])
    }
    for p in people:
        if p.role in (User.Role.ADMIN, User.Role.COORDINATOR):
            services.user_set_role(user=staff[p.employee_number].user, role=p.role, actor=None)
    return SeededStaff(staff=len(staff_rows), accounts=len(users), with_accounts=staff)


def demo_staff_delete(root: OrgUnit) -> int:
    """Delete the staff of the demo city with their accounts; returns how many staff."""
    in_city = Staff.objects.filter(unit__path__startswith=root.path)
    user_ids = list(in_city.filter(user__isnull=False).values_list("user_id", flat=True))
    deleted, _ = in_city.delete()
    EmailAddress.objects.filter(user_id__in=user_ids).delete()
    User.objects.filter(pk__in=user_ids).delete()
    return deleted
