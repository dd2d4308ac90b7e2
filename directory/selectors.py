"""Reads of the directory: search, the org tree, profiles."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from .models import OrgUnit, Post, PostDeputy, Staff, User
from .text import normalize

SEARCH_LIMIT = 50


def _staff_list_qs() -> QuerySet[Staff]:
    return Staff.objects.select_related("unit").only(
        "id",
        "employee_number",
        "family_name",
        "given_name",
        "family_kana",
        "given_kana",
        "job_title",
        "is_active",
        "kana_sort",
        "unit__id",
        "unit__name",
    )


def staff_search(
    *, query: str, limit: int = SEARCH_LIMIT, include_inactive: bool = False
) -> list[Staff]:
    """Staff matching ``query`` by name, reading, employee number, unit name or post name.

    Matching is a substring match on normalised keys (hiragana = katakana, width and spaces
    ignored). Exact employee-number hits come first, then by reading.
    """
    q = normalize(query)
    if not q:
        return []
    units = OrgUnit.objects.filter(search_key__contains=q).values("id")
    holders = Post.objects.filter(search_key__contains=q, holder__isnull=False).values("holder_id")
    cond = Q(search_key__contains=q) | Q(unit_id__in=units) | Q(id__in=holders)
    qs = _staff_list_qs().filter(cond)
    if not include_inactive:
        qs = qs.filter(is_active=True)
    exact = list(qs.filter(employee_number=query.strip())[:1])
    rest = list(
        qs.exclude(employee_number=query.strip()).order_by("kana_sort", "employee_number")[:limit]
    )
    return (exact + rest)[:limit]


def unit_search(*, query: str, limit: int = 10) -> list[OrgUnit]:
    q = normalize(query)
    if not q:
        return []
    return list(
        OrgUnit.objects.filter(search_key__contains=q, is_active=True).order_by("path")[:limit]
    )


def post_search(*, query: str, limit: int = 10) -> list[Post]:
    q = normalize(query)
    if not q:
        return []
    return list(
        Post.objects.filter(search_key__contains=q)
        .select_related("holder", "unit")
        .order_by("sort_order", "code")[:limit]
    )


def unit_roots() -> list[OrgUnit]:
    return list(
        OrgUnit.objects.filter(parent__isnull=True, is_active=True).order_by("sort_order", "code")
    )


def unit_children(*, unit: OrgUnit) -> list[OrgUnit]:
    return list(unit.children.filter(is_active=True).order_by("sort_order", "code"))


def unit_ancestors(*, unit: OrgUnit) -> list[OrgUnit]:
    """Root-first list of the unit's ancestors (not including the unit)."""
    ids = [int(p) for p in unit.path.strip("/").split("/") if p][:-1]
    by_id = {u.pk: u for u in OrgUnit.objects.filter(pk__in=ids)}
    return [by_id[i] for i in ids if i in by_id]


def unit_staff(*, unit: OrgUnit) -> QuerySet[Staff]:
    """Active staff directly in ``unit`` (not its sub-units)."""
    return (
        _staff_list_qs().filter(unit=unit, is_active=True).order_by("kana_sort", "employee_number")
    )


def unit_staff_count(*, unit: OrgUnit) -> int:
    """Active staff in the unit and all its sub-units."""
    return Staff.objects.filter(unit__path__startswith=unit.path, is_active=True).count()


@dataclass
class Profile:
    staff: Staff
    ancestors: list[OrgUnit]
    posts_held: list[Post]
    deputy_for: list[PostDeputy]


def staff_profile(*, staff_id: int) -> Profile | None:
    staff = Staff.objects.select_related("unit", "user").filter(pk=staff_id).first()
    if staff is None:
        return None
    posts = list(
        Post.objects.filter(holder=staff)
        .select_related("unit")
        .prefetch_related(
            Prefetch(
                "deputies",
                queryset=PostDeputy.objects.select_related("staff__unit").order_by("rank"),
            )
        )
    )
    deputy_for = list(
        PostDeputy.objects.filter(staff=staff)
        .select_related("post__holder", "post__unit")
        .order_by("post__sort_order", "rank")
    )
    return Profile(
        staff=staff,
        ancestors=unit_ancestors(unit=staff.unit) + [staff.unit],
        posts_held=posts,
        deputy_for=deputy_for,
    )


def user_can_manage_directory(*, user: User) -> bool:
    return bool(
        user.is_authenticated and user.is_active and user.role == User.Role.ADMIN and user.is_staff
    )


def user_requires_mfa(*, user: User) -> bool:
    return user.is_authenticated and user.role in settings.HONBU_MFA_REQUIRED_ROLES
