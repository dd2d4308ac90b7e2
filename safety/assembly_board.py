"""Assembly (参集), the reads: who is expected where, who has arrived, who is late, who is
missing, per assembly place and per unit. Check-ins are written by ``safety.assembly``.

Expected: the current answer says they will come (``attend``: ``yes``, or ``late`` with an
expected time ``eta``) and where (``place``): ``own`` is their own office, the place of their
bureau or ward (the first-level ancestor of their unit), else of the nearest ancestor that has
one (the city hall for the city's own units); a place id is that place; ``other`` with a text
is somewhere else (listed, not on any place's board).

The rule (settings ``HONBU_ASSEMBLY_LATE_MINUTES`` = 60, ``HONBU_ASSEMBLY_GRACE_MINUTES`` = 15):

* due: "yes, now" — the round's start + 60 minutes; "yes, later" — their expected time (the
  next HH:MM at or after the answer) + 15 minutes;
* arrived: checked in at any place of the round (by themselves or by the place's coordinator);
* late: expected, not arrived, past due, the round still open;
* missing: expected, not arrived when the round was closed;
* on the way: expected, not arrived, not yet due.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connections, router
from django.db.models import F, Q
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from directory.models import OrgUnit
from realtime import clock

from .models import AssemblyPlace, CheckIn, SafetyRequest, SafetyRound
from .prepared import Prepared
from .questions import ATTEND_KEY, OTHER_PLACE, OWN_OFFICE, PLACE, TIME, question_list

BOARD_CACHE_SECONDS = 1  # like the round's totals: computed at most once a second per round
COMING = ("yes", "late")
ARRIVED, ON_THE_WAY, LATE, MISSING = "arrived", "coming", "late", "missing"
STATUS_ORDER = {LATE: 0, ON_THE_WAY: 1, MISSING: 2, ARRIVED: 3}


# --- where and when -------------------------------------------------------------------------
@dataclass(frozen=True)
class Places:
    names: dict[int, str]  # every place (an answer may name one deactivated since)
    by_unit: dict[int, int]  # unit id -> its active place (a ward office first, then the oldest)
    active: dict[int, str] = field(default_factory=dict)  # what a form offers (round_places)


def _places_query():
    return AssemblyPlace.objects.order_by("-is_ward_office", "pk").values_list(
        "id", "name", "unit_id", "is_active"
    )


_PLACES_SQL: dict[str, tuple] = {}  # database alias -> the query compiled (no parameters)


def places() -> Places:
    """Every assembly place, in one query; read on every answer page, so its SQL is compiled
    once per process (plain columns: no converters)."""
    alias = router.db_for_read(AssemblyPlace)
    compiled = _PLACES_SQL.get(alias)
    if compiled is None:
        query = _places_query().query
        compiled = _PLACES_SQL.setdefault(alias, query.get_compiler(using=alias).as_sql())
    with connections[alias].cursor() as cursor:
        cursor.execute(*compiled)
        rows = cursor.fetchall()
    names, by_unit, offered = {}, {}, {}
    for pid, name, unit_id, active in rows:
        names[pid] = name
        if active:
            offered[pid] = name
            if unit_id is not None:
                by_unit.setdefault(unit_id, pid)
    return Places(names, by_unit, offered)


def own_place_id(path: str, index: Places) -> int | None:
    """The place of someone whose unit has this path: their bureau's or ward's (the first-level
    ancestor), else the nearest ancestor's that has one."""
    ids = [int(p) for p in path.strip("/").split("/") if p]
    if len(ids) > 1 and ids[1] in index.by_unit:
        return index.by_unit[ids[1]]
    return next((index.by_unit[i] for i in reversed(ids) if i in index.by_unit), None)


def own_place(*, unit: OrgUnit) -> AssemblyPlace | None:
    pid = own_place_id(unit.path, places())
    return AssemblyPlace.objects.filter(pk=pid).first() if pid else None


def _keys(round_: SafetyRound) -> tuple[str | None, str | None]:
    """The keys of the round's place question and its expected-time question."""
    qs = question_list(round_.questions)
    place = next((q["key"] for q in qs if q.get("type") == PLACE), None)
    eta = next((q["key"] for q in qs if q.get("type") == TIME), None)
    return place, eta


def eta_at(*, eta: str, answered_at: datetime) -> datetime | None:
    """The moment an expected time "HH:MM" names: the one within 12 hours of the answer
    (answered at 23:30, "00:30" is the next day; answered at 00:10, "23:50" the day before)."""
    try:
        hours, minutes = (int(p) for p in eta.split(":"))
        local = timezone.localtime(answered_at)
        moment = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    except (AttributeError, TypeError, ValueError):
        return None
    if moment + timedelta(hours=12) < local:
        moment += timedelta(days=1)
    elif moment - timedelta(hours=12) > local:
        moment -= timedelta(days=1)
    return moment


def due_at(*, round_: SafetyRound, attend: str, eta: str, answered_at: datetime) -> datetime:
    if attend == "late":
        moment = eta_at(eta=eta, answered_at=answered_at)
        if moment is not None:
            return moment + timedelta(minutes=settings.HONBU_ASSEMBLY_GRACE_MINUTES)
    return round_.started_at + timedelta(minutes=settings.HONBU_ASSEMBLY_LATE_MINUTES)


def status_of(*, round_: SafetyRound, due: datetime, arrived: bool, now: datetime) -> str:
    if arrived:
        return ARRIVED
    if round_.status == SafetyRound.Status.CLOSED:
        return MISSING
    return LATE if due <= now else ON_THE_WAY


# --- who is expected ------------------------------------------------------------------------
@dataclass
class Expected:
    request_id: int
    unit_id: int
    attend: str
    place_id: int | None  # None: somewhere else (their own text), or no place for their office
    other: str
    eta: str
    due: datetime
    answered_at: datetime


def _place_value(raw) -> int | str:
    text = "" if raw is None else str(raw)
    return int(text) if text.isdigit() else text


def expected(
    *, round_: SafetyRound, index: Places | None = None, place: AssemblyPlace | None = None
) -> list[Expected]:
    """Everyone whose current answer says they will come (only those expected at ``place``)."""
    index = index or places()
    place_key, eta_key = _keys(round_)
    qs = SafetyRequest.objects.filter(
        round=round_, **{f"answer__values__{ATTEND_KEY}__in": list(COMING)}
    ).annotate(attend=KeyTextTransform(ATTEND_KEY, "answer__values"))
    if place is not None:
        if place_key is None:
            return []
        own_units = [
            unit_id
            for unit_id, path in SafetyRequest.objects.filter(round=round_)
            .values_list("unit_id", "unit__path")
            .distinct()
            if own_place_id(path, index) == place.pk
        ]
        qs = qs.filter(
            Q(**{f"answer__values__{place_key}": place.pk})
            | Q(**{f"answer__values__{place_key}": OWN_OFFICE}, unit_id__in=own_units)
        )
    # A key the template does not have reads as NULL.
    rows = qs.annotate(
        pv=KeyTextTransform(place_key or "-", "answer__values"),
        po=KeyTextTransform(f"{place_key}_other" if place_key else "-", "answer__values"),
        ev=KeyTextTransform(eta_key or "-", "answer__values"),
    ).values_list("pk", "unit_id", "unit__path", "attend", "pv", "po", "ev", "answer__at")
    out = []
    for rid, unit_id, path, attend, pv, po, ev, at in rows:
        value = _place_value(pv)
        if value == OWN_OFFICE:
            place_id = own_place_id(path, index)
        elif isinstance(value, int):
            place_id = value
        else:
            place_id = None
        eta = str(ev or "")
        out.append(
            Expected(
                request_id=rid,
                unit_id=unit_id,
                attend=attend,
                place_id=place_id,
                other=str(po or "") if value == OTHER_PLACE else "",
                eta=eta if attend == "late" else "",
                due=due_at(round_=round_, attend=attend, eta=eta, answered_at=at),
                answered_at=at,
            )
        )
    return out


def arrivals(*, round_: SafetyRound, request_ids=None) -> dict[int, list[tuple[int, datetime]]]:
    """request id -> [(place id, time)] of its check-ins, earliest first."""
    qs = CheckIn.objects.filter(round=round_)
    if request_ids is not None:
        qs = qs.filter(request_id__in=list(request_ids))
    out: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for rid, pid, at in qs.order_by("at", "pk").values_list("request_id", "place_id", "at"):
        out[rid].append((pid, at))
    return out


# --- the board ------------------------------------------------------------------------------
@dataclass
class Counts:
    expected: int = 0
    arrived: int = 0
    late: int = 0
    missing: int = 0
    coming: int = 0

    def add(self, status: str) -> None:
        if status == LATE:
            self.late += 1
        elif status == MISSING:
            self.missing += 1
        elif status == ON_THE_WAY:
            self.coming += 1

    @property
    def percent(self) -> int:
        return min(100, 100 * self.arrived // self.expected) if self.expected else 0


@dataclass
class PlaceRow:
    place_id: int | None  # None: somewhere else
    name: str
    counts: Counts = field(default_factory=Counts)


@dataclass
class UnitRow:
    unit_id: int
    name: str
    depth: int
    path: str
    sort: tuple = ()
    counts: Counts = field(default_factory=Counts)


@dataclass
class Board:
    round_id: int
    closed: bool
    counts: Counts
    places: list[PlaceRow]  # every active place, then those answers name, then "elsewhere"

    @property
    def busy_places(self) -> list[PlaceRow]:
        """Places someone is expected at or has arrived at (the board lists these first)."""
        return [p for p in self.places if p.counts.expected or p.counts.arrived]

    @property
    def idle_places(self) -> list[PlaceRow]:
        return [p for p in self.places if not (p.counts.expected or p.counts.arrived)]

    units: list[UnitRow]  # tree order, rolled up
    computed_at: float


def _compute_board(round_: SafetyRound) -> Board:
    index = places()
    now = clock.now()
    people = expected(round_=round_, index=index)
    came = arrivals(round_=round_)
    active = list(  # the city hall, then the ward offices in the city's order, then the rest
        AssemblyPlace.objects.filter(is_active=True)
        .order_by(F("unit__depth").asc(nulls_last=True), "unit__sort_order", "name")
        .values_list("id", "name")
    )
    rows: dict[int | None, PlaceRow] = {pid: PlaceRow(pid, name) for pid, name in active}
    total = Counts()
    unit_counts: dict[int, Counts] = defaultdict(Counts)
    seen = set()
    for e in people:
        seen.add(e.request_id)
        row = rows.get(e.place_id)
        if row is None:
            row = rows[e.place_id] = PlaceRow(e.place_id, index.names.get(e.place_id, ""))
        status = status_of(round_=round_, due=e.due, arrived=e.request_id in came, now=now)
        for counts in (row.counts, total, unit_counts[e.unit_id]):
            counts.expected += 1
            counts.add(status)
        if e.place_id is None and status == ARRIVED:
            row.counts.arrived += 1  # "elsewhere": they checked in at some place after all
    walk_in_units = dict(
        SafetyRequest.objects.filter(pk__in=set(came) - seen).values_list("pk", "unit_id")
    )
    unit_of = {e.request_id: e.unit_id for e in people} | walk_in_units
    for rid, visits in came.items():
        total.arrived += 1
        unit_counts[unit_of[rid]].arrived += 1
        for pid in {pid for pid, _at in visits}:
            row = rows.get(pid)
            if row is None:
                row = rows[pid] = PlaceRow(pid, index.names.get(pid, ""))
            row.counts.arrived += 1
    elsewhere = rows.pop(None, None)
    ordered = list(rows.values()) + ([elsewhere] if elsewhere else [])
    return Board(
        round_id=round_.pk,
        closed=round_.status == SafetyRound.Status.CLOSED,
        counts=total,
        places=ordered,
        units=_roll_up(unit_counts),
        computed_at=time.time(),
    )


def _roll_up(by_unit: dict[int, Counts]) -> list[UnitRow]:
    """Every ancestor of a unit with numbers gets them too; tree order (siblings by sort
    order), as on the round's totals page."""
    paths = dict(OrgUnit.objects.filter(pk__in=by_unit).values_list("id", "path"))
    ancestors = {int(p) for path in paths.values() for p in path.strip("/").split("/")}
    units = {
        uid: UnitRow(uid, name, depth, path)
        for uid, name, depth, path in OrgUnit.objects.filter(pk__in=ancestors).values_list(
            "id", "name", "depth", "path"
        )
    }
    sort_of = dict(OrgUnit.objects.filter(pk__in=ancestors).values_list("id", "sort_order"))
    for unit_id, counts in by_unit.items():
        for ancestor in (int(p) for p in paths[unit_id].strip("/").split("/")):
            into = units[ancestor].counts
            into.expected += counts.expected
            into.arrived += counts.arrived
            into.late += counts.late
            into.missing += counts.missing
            into.coming += counts.coming
    for unit in units.values():
        ids = [int(p) for p in unit.path.strip("/").split("/")]
        unit.sort = tuple((sort_of.get(i, 0), i) for i in ids)
    return sorted(units.values(), key=lambda u: u.sort)


def assembly_board(*, round_: SafetyRound, fresh: bool = False) -> Board:
    """Per place and per unit: expected, arrived, late, missing, on the way. Every watching
    screen asks after each change: computed once a second per round at most."""
    key = f"safety:assembly:{round_.pk}"
    if not fresh:
        found = cache.get(key)
        if found is not None:
            return found
    board = _compute_board(round_)
    cache.set(key, board, BOARD_CACHE_SECONDS)
    return board


# --- one place's list -----------------------------------------------------------------------
@dataclass
class PlacePerson:
    request_id: int
    name: str
    employee_number: str
    unit: str
    attend: str  # yes / late; "" for someone who came without saying so
    eta: str
    due: datetime | None
    status: str
    arrived_at: datetime | None  # their check-in here (or, if none here, elsewhere)
    arrived_elsewhere: str  # the place they checked in at, when not here
    expected_here: bool
    by_coordinator: bool
    kana: str = ""  # sorts the list


def place_people(*, round_: SafetyRound, place: AssemblyPlace) -> list[PlacePerson]:
    """Who is expected at ``place`` and who checked in there: late first, then on the way (by
    when they are due), missing, and those who arrived (latest first)."""
    index = places()
    now = clock.now()
    here = {e.request_id: e for e in expected(round_=round_, index=index, place=place)}
    walked_in = set(
        CheckIn.objects.filter(round=round_, place=place).values_list("request_id", flat=True)
    )
    ids = set(here) | walked_in
    visits = (
        CheckIn.objects.filter(round=round_, request_id__in=ids)
        .order_by("at", "pk")
        .values_list("request_id", "place_id", "at", "entered_by_id")
    )
    arrived: dict[int, tuple[int, datetime, bool]] = {}
    for rid, pid, at, by in visits:
        if rid not in arrived or (pid == place.pk and arrived[rid][0] != place.pk):
            arrived[rid] = (pid, at, by is not None)
    names = SafetyRequest.objects.filter(pk__in=ids).values_list(
        "pk",
        "staff__family_name",
        "staff__given_name",
        "staff__employee_number",
        "staff__kana_sort",
        "unit__name",
    )
    out = []
    for rid, family, given, number, kana, unit_name in names:
        e, visit = here.get(rid), arrived.get(rid)
        if visit or e is None:  # no one is on the list unless expected here or checked in here
            status = ARRIVED
        else:
            status = status_of(round_=round_, due=e.due, arrived=False, now=now)
        out.append(
            PlacePerson(
                request_id=rid,
                name=f"{family} {given}",
                employee_number=number,
                unit=unit_name,
                attend=e.attend if e else "",
                eta=e.eta if e else "",
                due=e.due if e else None,
                status=status,
                arrived_at=visit[1] if visit else None,
                arrived_elsewhere=(
                    index.names.get(visit[0], "") if visit and visit[0] != place.pk else ""
                ),
                expected_here=e is not None,
                by_coordinator=bool(visit and visit[2]),
                kana=kana,
            )
        )
    far = datetime.max.replace(tzinfo=timezone.get_current_timezone())

    def order(p: PlacePerson):
        if p.status == ARRIVED:
            return (STATUS_ORDER[ARRIVED], -(p.arrived_at.timestamp()), p.kana)
        return (STATUS_ORDER[p.status], p.due or far, p.kana)

    return sorted(out, key=order)


def place_counts(people: list[PlacePerson]) -> Counts:
    """The place page's numbers, from its list: expected here, arrived here (anyone), late,
    missing and on the way (of those expected here)."""
    counts = Counts()
    for p in people:
        if p.expected_here:
            counts.expected += 1
            counts.add(p.status)
        if p.status == ARRIVED and not p.arrived_elsewhere:
            counts.arrived += 1
    return counts


# --- one person -----------------------------------------------------------------------------
@dataclass
class Mine:
    coming: bool  # their answer says they will come
    place: AssemblyPlace | None  # where they said they would go (resolved), if a place
    arrived_at: datetime | None
    arrived_place: str


# The person's first check-in, on every answer page: compiled once (safety/prepared.py).
_FIRST_CHECKIN = Prepared(
    lambda request_id: (
        CheckIn.objects.filter(request_id=request_id)
        .select_related("place")
        .order_by("at", "pk")[:1]
    )
)


def my_assembly(
    *, request: SafetyRequest, values: dict | None = None, index: Places | None = None
) -> Mine:
    """For the person's own pages: where they said they would go (``values``: an answer just
    given, else their current one) and whether they have checked in. ``index``: the places,
    if the caller has read them already."""
    first = _FIRST_CHECKIN.first(request.pk)
    if values is None:
        values = request.answer.values if request.answer_id else {}
    place = None
    place_key, _eta = _keys(request.round)
    if values.get(ATTEND_KEY) in COMING and place_key:
        value = _place_value(values.get(place_key))
        index = index or places()  # one query for the place's id and name, whichever it is
        pid = own_place_id(request.unit.path, index) if value == OWN_OFFICE else value
        if isinstance(pid, int) and pid in index.names:
            place = AssemblyPlace(pk=pid, name=index.names[pid])
    return Mine(
        coming=values.get(ATTEND_KEY) in COMING,
        place=place,
        arrived_at=first.at if first else None,
        arrived_place=first.place.name if first else "",
    )
