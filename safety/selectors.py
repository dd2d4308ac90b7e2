"""Reads of incidents and safety rounds, and who may do what with them."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import RowNumber

from directory.models import OrgUnit, Post, Staff, User
from messaging.models import CommandGroup

from .models import (
    AssemblyPlace,
    Incident,
    SafetyAnswer,
    SafetyRequest,
    SafetyRound,
    SafetySettings,
)
from .questions import CHOICE, question_list

log = logging.getLogger(__name__)

TOTALS_CACHE_SECONDS = 1  # live totals are computed at most once a second per round


# --- settings -------------------------------------------------------------------------------
def safety_settings() -> SafetySettings:
    """The one settings row (created with defaults on first use)."""
    found = SafetySettings.objects.select_related("hq_group", "commander_post").first()
    if found is None:
        found = SafetySettings.objects.create()
    return found


def hq_group() -> CommandGroup | None:
    """The city headquarters group: as configured, else the active headquarters group of the
    organisation's root unit."""
    configured = safety_settings().hq_group
    if configured is not None and configured.is_active:
        return configured
    return (
        CommandGroup.objects.filter(
            kind=CommandGroup.Kind.HEADQUARTERS, is_active=True, unit__depth=0
        )
        .order_by("pk")
        .first()
    )


def commander_post() -> Post | None:
    return safety_settings().commander_post


def crisis_office_unit() -> OrgUnit | None:
    code = settings.HONBU_CRISIS_OFFICE_UNIT_CODE
    return OrgUnit.objects.filter(code=code).first() if code else None


# --- permissions ----------------------------------------------------------------------------
def _active(user: User) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def _in_crisis_office(user: User) -> bool:
    office = crisis_office_unit()
    staff = getattr(user, "staff", None)
    return bool(office and staff and staff.is_active and staff.unit.path.startswith(office.path))


def user_can_declare(*, user: User) -> bool:
    """The 本部長 post holder, the crisis-management office and administrators."""
    if not _active(user):
        return False
    if user.role == User.Role.ADMIN or _in_crisis_office(user):
        return True
    post = commander_post()
    return bool(post and post.holder_id and post.holder.user_id == user.pk)


def user_can_run_rounds(*, user: User) -> bool:
    """Start, re-send and close rounds: whoever may declare, and drill coordinators."""
    return user_can_declare(user=user) or (_active(user) and user.role == User.Role.COORDINATOR)


def user_can_see_totals(*, user: User) -> bool:
    """Headquarters: members, coordinators, the crisis office, administrators."""
    return _active(user) and (
        user.role in (User.Role.ADMIN, User.Role.HQ_MEMBER, User.Role.COORDINATOR)
        or _in_crisis_office(user)
    )


def user_sees_private_contacts(*, user: User) -> bool:
    return _active(user) and user.role == User.Role.ADMIN


def user_coordinated_places(*, user: User) -> list[AssemblyPlace]:
    """The active assembly places this person coordinates (AssemblyPlace.coordinators)."""
    if not _active(user):
        return []
    return list(AssemblyPlace.objects.filter(is_active=True, coordinators=user).order_by("name"))


def user_coordinates(*, user: User, place: AssemblyPlace) -> bool:
    return _active(user) and place.coordinators.filter(pk=user.pk).exists()


def user_can_see_assembly(*, user: User) -> bool:
    """The assembly board: headquarters (all places), a place's coordinators (their places)."""
    return user_can_see_totals(user=user) or (
        _active(user) and AssemblyPlace.objects.filter(is_active=True, coordinators=user).exists()
    )


def user_can_see_place(*, user: User, place: AssemblyPlace) -> bool:
    return user_can_see_totals(user=user) or user_coordinates(user=user, place=place)


def user_can_check_in_others(*, user: User, place: AssemblyPlace) -> bool:
    """Tick people off as arrived at a place: its coordinators, and administrators."""
    return _active(user) and (
        user.role == User.Role.ADMIN or user_coordinates(user=user, place=place)
    )


def user_proxy_units(*, user: User) -> list[OrgUnit]:
    """Units whose staff the person may answer for (代理回答): the units of the posts they hold
    (a unit head answers for their unit and below); administrators and the crisis office may
    answer for anyone (an empty list with ``user_can_proxy_all``)."""
    if not _active(user):
        return []
    return list(
        OrgUnit.objects.filter(posts__holder__user=user, posts__holder__is_active=True).distinct()
    )


def user_can_proxy_all(*, user: User) -> bool:
    return _active(user) and (user.role == User.Role.ADMIN or _in_crisis_office(user))


def user_can_proxy(*, user: User, staff: Staff) -> bool:
    if user_can_proxy_all(user=user):
        return True
    path = staff.unit.path
    return any(path.startswith(unit.path) for unit in user_proxy_units(user=user))


# --- incidents ------------------------------------------------------------------------------
def open_incidents() -> list[Incident]:
    return list(
        Incident.objects.filter(ended_at__isnull=True)
        .select_related("level")
        .order_by("-level__order", "-started_at")
    )


def incident_banner() -> dict | None:
    """What every page's banner shows: the most severe open incident (cached briefly, since
    every page asks; the live event updates open pages at once)."""
    found = cache.get("safety:banner")
    if found is None:
        incidents = open_incidents()
        found = incident_payload(incidents[0]) if incidents else {}
        cache.set("safety:banner", found, 10)
    return found or None


def incident_payload(incident: Incident) -> dict:
    return {
        "id": incident.pk,
        "title": incident.title,
        "kind": incident.kind,
        "level": incident.level.name,
        "open": incident.ended_at is None,
        "drill": incident.is_drill,
        "started_at": incident.started_at.isoformat(),
        "url": f"/safety/incidents/{incident.pk}/",
    }


# --- rounds ---------------------------------------------------------------------------------
def round_places() -> dict[int, str]:
    return dict(AssemblyPlace.objects.filter(is_active=True).values_list("id", "name"))


@dataclass
class UnitTotals:
    unit_id: int
    name: str
    depth: int
    path: str
    sort: tuple
    total: int = 0
    answered: int = 0
    answers: dict[str, dict[str, int]] = field(default_factory=dict)  # question -> choice -> n

    @property
    def unanswered(self) -> int:
        return self.total - self.answered

    @property
    def percent(self) -> int:
        return math.floor(100 * self.answered / self.total) if self.total else 0


@dataclass
class RoundTotals:
    round_id: int
    total: int
    answered: int
    units: list[UnitTotals]  # tree order, every level (rolled up)
    curve: dict[int, float | None]  # percent answered -> minutes after the start
    computed_at: float


def _compute_totals(round_: SafetyRound) -> RoundTotals:
    started = time.time()  # everything committed before this is counted
    requests = SafetyRequest.objects.filter(round=round_)
    by_unit = {
        row["unit_id"]: row
        for row in requests.values("unit_id").annotate(
            total=Count("id"), answered=Count("id", filter=Q(first_answer_at__isnull=False))
        )
    }
    # Counts per answer: one pass over the answers for all choice questions (a query per
    # question read them four times), grouped by unit and the combination of answers.
    choice_counts: dict[int, dict[str, dict[str, int]]] = {}
    keys = [q["key"] for q in question_list(round_.questions) if q.get("type", CHOICE) == CHOICE]
    picked = {f"v{i}": KeyTextTransform(key, "answer__values") for i, key in enumerate(keys)}
    rows = (
        requests.filter(answer__isnull=False)
        .values("unit_id", **picked)
        .annotate(n=Count("id"))
        .values_list("unit_id", *picked, "n")
        if keys
        else []
    )
    for unit_id, *values, n in rows:
        per_unit = choice_counts.setdefault(unit_id, {})
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                into = per_unit.setdefault(key, {})
                into[value] = into.get(value, 0) + n
    # Roll up the tree: every ancestor of a unit with requests gets its numbers.
    leaf_units = {u["id"]: u for u in OrgUnit.objects.filter(pk__in=by_unit).values("id", "path")}
    ancestor_ids = {int(p) for u in leaf_units.values() for p in u["path"].strip("/").split("/")}
    units = {
        u["id"]: UnitTotals(u["id"], u["name"], u["depth"], u["path"], ())
        for u in OrgUnit.objects.filter(pk__in=ancestor_ids).values(
            "id", "name", "depth", "path", "sort_order"
        )
    }
    sort_of = dict(OrgUnit.objects.filter(pk__in=ancestor_ids).values_list("id", "sort_order"))
    for unit_id, row in by_unit.items():
        for ancestor in (int(p) for p in leaf_units[unit_id]["path"].strip("/").split("/")):
            target = units[ancestor]
            target.total += row["total"]
            target.answered += row["answered"]
            for key, counts in choice_counts.get(unit_id, {}).items():
                into = target.answers.setdefault(key, {})
                for value, n in counts.items():
                    into[value] = into.get(value, 0) + n
    for unit in units.values():  # tree order: siblings by sort order, then name
        ids = [int(p) for p in unit.path.strip("/").split("/")]
        unit.sort = tuple((sort_of.get(i, 0), i) for i in ids)
    ordered = sorted(units.values(), key=lambda u: u.sort)
    total = sum(r["total"] for r in by_unit.values())
    answered = sum(r["answered"] for r in by_unit.values())
    return RoundTotals(
        round_id=round_.pk,
        total=total,
        answered=answered,
        units=ordered,
        curve=answer_curve(round_=round_, total=total),
        computed_at=started,
    )


def round_totals(*, round_: SafetyRound, fresh: bool = False, since: float = 0.0) -> RoundTotals:
    """Totals per unit, rolled up the org tree, with counts per answer and the answer curve.
    Every watching screen asks after each change: computed once a second per round at most.
    ``since``: the ``at`` of the change a screen was told of; totals computed before it are not
    served from the cache (the screen would stay short of the last answers of a burst until
    the next one arrived: bench/safety.py saw 998 of 1,000 for good)."""
    key = f"safety:totals:{round_.pk}"
    try:
        found = None if fresh else cache.get(key)
    except Exception as exc:  # noqa: BLE001 - Redis away: the database has the answers
        log.warning("totals cache unavailable (%s): computing", exc)
        return _compute_totals(round_)
    if found is not None and found.computed_at >= since:
        return found
    totals = _compute_totals(round_)
    try:
        cache.set(key, totals, TOTALS_CACHE_SECONDS)
    except Exception as exc:  # noqa: BLE001
        log.warning("totals cache unavailable (%s)", exc)
    return totals


def answer_curve(*, round_: SafetyRound, total: int) -> dict[int, float | None]:
    """Minutes from the start until 25, 50, 75 and 90 % had answered (None: not yet). Only the
    four answers that mark them are read (a window over the first-answer times), not every
    time: reading 18,000 of them was half of computing the totals (bench/safety.py)."""
    needed = {p: math.ceil(total * p / 100) for p in (25, 50, 75, 90)} if total else {}
    marks = dict(
        SafetyRequest.objects.filter(round=round_, first_answer_at__isnull=False)
        .annotate(rank=Window(RowNumber(), order_by=F("first_answer_at").asc()))
        .filter(rank__in=set(needed.values()))
        .values_list("rank", "first_answer_at")
    )
    out: dict[int, float | None] = {}
    for percent in (25, 50, 75, 90):
        at = marks.get(needed.get(percent))
        out[percent] = (
            None if at is None else round((at - round_.started_at).total_seconds() / 60, 1)
        )
    return out


@dataclass
class Unanswered:
    request_id: int
    staff_id: int
    name: str
    unit: str
    email: str
    mobile: str
    private_email: str
    resends: int


def round_unanswered(
    *, round_: SafetyRound, unit: OrgUnit | None = None, offset: int = 0, limit: int = 100
) -> tuple[list[Unanswered], int]:
    """Who has not answered (in ``unit``'s subtree), in unit order then reading; and how many."""
    qs = SafetyRequest.objects.filter(round=round_, first_answer_at__isnull=True)
    if unit is not None:
        qs = qs.filter(unit__path__startswith=unit.path)
    count = qs.count()
    rows = qs.order_by("unit__path", "staff__kana_sort", "pk").values_list(
        "pk",
        "staff_id",
        "staff__family_name",
        "staff__given_name",
        "unit__name",
        "staff__email",
        "staff__mobile",
        "staff__safety_contact__email",
        "resends",
    )[offset : offset + limit]
    return [
        Unanswered(rid, sid, f"{fam} {giv}", unit_name, email, mobile, private or "", resends)
        for rid, sid, fam, giv, unit_name, email, mobile, private, resends in rows
    ], count


@dataclass
class RecentAnswer:
    name: str
    unit: str
    at: object
    via: str
    via_label: str
    entered_by: str
    note: str


def round_recent_answers(*, round_: SafetyRound, unit: OrgUnit | None = None, limit: int = 20):
    """The newest answers (own and on behalf, every version), for the headquarters screen."""
    qs = SafetyAnswer.objects.filter(round=round_)
    if unit is not None:
        qs = qs.filter(request__unit__path__startswith=unit.path)
    rows = qs.select_related("request__staff", "request__unit", "entered_by__staff").order_by(
        "-at", "-id"
    )[:limit]
    return [
        RecentAnswer(
            a.request.staff.full_name,
            a.request.unit.name,
            a.at,
            a.via,
            a.get_via_display(),
            a.entered_by.display_name() if a.entered_by_id else "",
            a.note,
        )
        for a in rows
    ]


def user_open_requests(*, user: User) -> list[SafetyRequest]:
    """Open rounds that asked this person (Home: answer, or update the answer)."""
    if not _active(user):
        return []
    return list(
        SafetyRequest.objects.filter(staff__user=user, round__status=SafetyRound.Status.OPEN)
        .select_related("round")
        .order_by("-round__started_at")[:3]
    )


def open_rounds() -> list[SafetyRound]:
    return list(SafetyRound.objects.filter(status=SafetyRound.Status.OPEN).order_by("-started_at"))
