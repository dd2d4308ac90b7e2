"""The demo city's disaster record, so the safety pages are not empty after ``make run``: an
assembly place at every ward office (区役所) and at the city hall (市役所), the safety settings
pointing at 大阪市災害対策本部 and the 本部長 post, and a past earthquake five days before the
seed, ended, with a closed safety confirmation to the staff of the six northern wards: about
80 % answered (safe or injured; coming now, later with an expected time, or not; to their own
ward office, another one, or somewhere else), some answered on their behalf by their ward's
総務課長 after a phone call, most of those who said they would come checked in (by themselves
or ticked off at the place), the rest missing when it closed.

Written through the safety services (incidents, rounds, answers, check-ins), then moved back
in time: the services stamp "now", the demo's record is days old. Deterministic for a seed;
seeded once (found again by its title), deleted by ``seed_demo --reset``
(:func:`demo_safety_delete`).

The answers on behalf go through ``answers._store`` rather than ``answer_on_behalf``: the
latter writes an audit entry naming the demo account, and audit entries outlive the demo
(``--reset`` refuses to delete an account that has one)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import log

from django.db.models import Min
from django.utils import timezone

from directory.models import OrgUnit, Post, Staff, User
from messaging.models import CommandGroup
from safety import answers, assembly, configuration, incidents, rounds, selectors
from safety.assembly_board import eta_at, own_place_id, places
from safety.models import (
    AssemblyPlace,
    CheckIn,
    Incident,
    IncidentEntry,
    IncidentLevel,
    SafetyAnswer,
    SafetyRequest,
    SafetyRound,
)

from .data import DEMO_ROOT_CODE, STAFF
from .groups import _purge

INCIDENT_TITLE = "大阪府北部を震源とする地震（最大震度6弱）"
ROUND_TITLE = "職員安否確認（北区・都島区・福島区・此花区・淀川区・東淀川区）"
NORTH = ("北区", "都島区", "福島区", "此花区", "淀川区", "東淀川区")
DAYS_AGO = 5
ELSEWHERE = ("自宅近くの指定避難所", "区内の小学校（避難所運営）", "消防団の詰所", "実家（北摂）")
COMMENTS = (
    "道路が渋滞しています。",
    "家族の無事を確認してから向かいます。",
    "自宅の食器棚が倒れましたが、けが人はいません。",
    "電車が止まっているため自転車で向かいます。",
    "子どもを預けてから向かいます。",
)


@dataclass
class SafetySeeded:
    places: int = 0
    incidents: int = 0
    answers: int = 0
    checkins: int = 0


def _ward_number(code: str) -> int:
    return int(code.rsplit("-W", 1)[1])


def _user(employee_number: str) -> User | None:
    staff = Staff.objects.filter(employee_number=employee_number).select_related("user").first()
    return staff.user if staff and staff.user_id else None


def _places_seed(out: SafetySeeded) -> dict[int, list[User]]:
    """A place per ward office and the city hall; returns their coordinators by place id."""
    root = OrgUnit.objects.get(code=DEMO_ROOT_CODE)
    wards = OrgUnit.objects.filter(kind=OrgUnit.Kind.WARD, parent=root).order_by("sort_order")
    specs = [(root, "大阪市役所", False, ["000007"])]  # 危機管理課長
    for ward in wards:
        i = _ward_number(ward.code)
        coordinators = [f"{199 + 2 * i:06d}"]  # the ward's 総務課長 (a deputy of the 区長)
        if i == 1:
            coordinators.append(STAFF)  # the demo's staff sign-in runs 北区役所's desk
        specs.append((ward, f"{ward.name}役所", True, coordinators))
    found: dict[int, list[User]] = {}
    for unit, name, ward_office, numbers in specs:
        users = [u for u in (_user(n) for n in numbers) if u is not None]
        place = AssemblyPlace.objects.filter(unit=unit, name=name).first()
        if place is None:
            place = configuration.place_save(
                place=AssemblyPlace(name=name, unit=unit, is_ward_office=ward_office),
                actor=None,
                coordinators=users,
            )
            out.places += 1
        found[place.pk] = list(place.coordinators.order_by("username"))
    return found


def _settings_seed() -> None:
    """Point the settings at the demo's headquarters, unless an administrator already did."""
    row = selectors.safety_settings()
    changes = {}
    if row.hq_group_id is None:
        changes["hq_group"] = CommandGroup.objects.get(
            kind=CommandGroup.Kind.HEADQUARTERS, unit__code=DEMO_ROOT_CODE
        )
    if row.commander_post_id is None:
        changes["commander_post"] = Post.objects.get(code=f"{DEMO_ROOT_CODE}-HONBUCHO")
    if changes:
        configuration.settings_update(actor=None, **changes)


def demo_safety_seed(*, seed: int) -> SafetySeeded:
    """Places, settings and the past incident with its round (each only once)."""
    out = SafetySeeded()
    coordinators = _places_seed(out)
    _settings_seed()
    if not Incident.objects.filter(source="demo", title=INCIDENT_TITLE).exists():
        _incident_seed(random.Random(seed + 7), coordinators, out)
        out.incidents = 1
    return out


# --- the past incident ----------------------------------------------------------------------
@dataclass
class _Answer:
    at: datetime
    request: SafetyRequest
    data: dict
    via: str
    entered_by: User | None = None
    note: str = ""


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    roll, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if roll < total:
            return value
    return weighted[-1][0]


def _answer_data(rng, at, ward_places, own_ward_place) -> dict:
    self_ = _pick(rng, (("safe", 0.9), ("minor", 0.08), ("serious", 0.02)))
    data = {
        "self": self_,
        "family": _pick(rng, (("safe", 0.86), ("injured", 0.04), ("unknown", 0.10))),
        "home": _pick(rng, (("ok", 0.8), ("partial", 0.17), ("uninhabitable", 0.03))),
        "attend": "no"
        if self_ == "serious"
        else _pick(rng, (("yes", 0.62), ("late", 0.25), ("no", 0.13))),
    }
    if data["attend"] == "late":
        eta = timezone.localtime(at + timedelta(minutes=rng.randrange(45, 181, 5)))
        data["eta"] = eta.strftime("%H:%M")
    if data["attend"] in ("yes", "late"):
        where = _pick(rng, (("own", 0.84), ("office", 0.09), ("other", 0.07)))
        others = [p for p in ward_places if p != own_ward_place]
        if where == "office" and others:
            data.update(place="office", place_place=str(rng.choice(others)))
        elif where == "other":
            data.update(place="other", place_other=rng.choice(ELSEWHERE))
        else:
            data["place"] = "own"
    if rng.random() < 0.12:
        data["comment"] = rng.choice(COMMENTS)
    return data


def _round_wards() -> list[OrgUnit]:
    return list(
        OrgUnit.objects.filter(
            kind=OrgUnit.Kind.WARD, parent__code=DEMO_ROOT_CODE, name__in=NORTH
        ).order_by("sort_order")
    )


def _incident_seed(rng: random.Random, coordinators: dict[int, list[User]], out) -> None:
    local = timezone.localtime()
    t0 = (local - timedelta(days=DAYS_AGO)).replace(hour=7, minute=58, second=0, microsecond=0)
    started = t0 + timedelta(minutes=4)
    closed = t0 + timedelta(hours=12)
    ended = t0 + timedelta(days=2, hours=9, minutes=30)
    wards = _round_wards()
    incident = incidents.incident_declare(
        actor=None,
        title=INCIDENT_TITLE,
        kind=Incident.Kind.EARTHQUAKE,
        # The migration's level, or the same again if it was removed (the demo needs one).
        level=IncidentLevel.objects.get_or_create(
            code="emergency", defaults={"name": "非常体制", "order": 2}
        )[0],
        affected_units=wards,
        started_at=t0,
        source="demo",
    )
    round_ = rounds.round_start(
        actor=None,
        title=ROUND_TITLE,
        target={"workplace_units": [w.pk for w in wards]},
        incident=incident,
        intensity="6-",
        announce_in_hq=False,
        notify=False,
    )
    index = places()
    ward_places = sorted(
        pid for unit_id, pid in index.by_unit.items() if unit_id in {w.pk for w in wards}
    )
    proxies = {w.pk: _user(f"{199 + 2 * _ward_number(w.code):06d}") for w in wards}  # 総務課長
    requests = list(
        SafetyRequest.objects.filter(round=round_)
        .select_related("staff", "unit")
        .order_by("staff__employee_number")
    )
    ward_of = {w.path: w for w in wards}
    planned: list[_Answer] = []
    for request in requests:
        ward = next(w for p, w in ward_of.items() if request.unit.path.startswith(p))
        must = request.staff.employee_number == STAFF
        if not must and rng.random() >= 0.8:
            continue
        at = started + timedelta(minutes=min(480.0, max(1.0, rng.lognormvariate(log(14), 0.8))))
        own_place = own_place_id(request.unit.path, index)
        data = _answer_data(rng, at, ward_places, own_place)
        if must:
            data.update(self="safe", attend="yes", place="own")
        if not must and rng.random() < 0.1 and proxies[ward.pk] is not None:
            planned.append(
                _Answer(at, request, data, SafetyAnswer.Via.PHONE, proxies[ward.pk], "電話で確認")
            )
            if rng.random() < 0.35:  # and later they answered themselves
                later = at + timedelta(minutes=rng.randrange(20, 240))
                planned.append(_Answer(later, request, dict(data), SafetyAnswer.Via.LINK))
        else:
            planned.append(_Answer(at, request, data, SafetyAnswer.Via.LINK))
            if data.get("attend") == "late" and rng.random() < 0.15:  # then could come at once
                later = at + timedelta(minutes=rng.randrange(10, 40))
                planned.append(
                    _Answer(later, request, {**data, "attend": "yes"}, SafetyAnswer.Via.LINK)
                )
    planned.sort(key=lambda a: (a.at, a.request.pk))
    stamped = []
    for plan in planned:
        answer = answers._store(  # not answer_on_behalf: see the module's docstring
            request=plan.request,
            data=plan.data,
            via=plan.via,
            entered_by=plan.entered_by,
            note=plan.note,
        )
        answer.at = plan.at
        stamped.append(answer)
    out.answers = len(stamped)
    SafetyAnswer.objects.bulk_update(stamped, ["at"], batch_size=500)
    checkins = _arrivals(rng, round_, requests, started, index, coordinators)
    out.checkins = len(checkins)
    rounds.round_close(round_=round_, actor=None)
    incidents.incident_end(incident=incident, actor=None, reason="demo")
    _backdate(incident, round_, t0, started, closed, ended)


def _arrivals(rng, round_, requests, started, index, coordinators) -> list[CheckIn]:
    """Most who said they would come arrive (at the place they named, now and then another);
    half check in themselves, half are ticked off by the place's coordinator."""
    by_pk = {r.pk: r for r in requests}
    done = []
    current = SafetyRequest.objects.filter(round=round_, answer__isnull=False).values_list(
        "pk", "answer__values", "answer__at"
    )
    for rid, values, answered_at in sorted(current):
        request = by_pk[rid]
        must = request.staff.employee_number == STAFF
        if values.get("attend") not in ("yes", "late") or (not must and rng.random() >= 0.88):
            continue
        place = values.get("place")
        if place == "own":
            place_id = own_place_id(request.unit.path, index)
        elif isinstance(place, int):
            place_id = place
        else:
            place_id = own_place_id(request.unit.path, index)  # came to their office after all
        if place_id is None:
            continue
        eta = eta_at(eta=values.get("eta", ""), answered_at=answered_at)
        if values.get("attend") == "late" and eta is not None:
            at = eta + timedelta(minutes=rng.gauss(0, 15))
        else:
            at = started + timedelta(minutes=rng.uniform(20, 80))
        at = max(at, answered_at + timedelta(minutes=5))
        place = AssemblyPlace.objects.get(pk=place_id)
        staff_of_place = coordinators.get(place_id) or []
        if staff_of_place and not must and rng.random() < 0.45:
            checkin = assembly.checkin_record(actor=staff_of_place[0], request=request, place=place)
        else:
            checkin = assembly.checkin_from_link(request=request, place=place)
        checkin.at = at
        done.append(checkin)
    CheckIn.objects.bulk_update(done, ["at"], batch_size=500)
    return done


def _backdate(incident, round_, t0, started, closed, ended) -> None:
    """The services wrote "now"; the record is days old."""
    Incident.objects.filter(pk=incident.pk).update(started_at=t0, ended_at=ended)
    SafetyRound.objects.filter(pk=round_.pk).update(started_at=started, closed_at=closed)
    when = {
        "declare": t0 + timedelta(minutes=2),
        "round_start": started,
        "round_close": closed,
        "end": ended,
    }
    for entry in IncidentEntry.objects.filter(incident=incident):
        entry.at = when.get(entry.action, t0)
        entry.save(update_fields=["at"])
    firsts = (
        SafetyAnswer.objects.filter(round=round_)
        .values("request_id")
        .annotate(first=Min("at"))
        .values_list("request_id", "first")
    )
    rows = [SafetyRequest(pk=rid, first_answer_at=first) for rid, first in firsts]
    SafetyRequest.objects.bulk_update(rows, ["first_answer_at"], batch_size=500)


def demo_safety_delete(root: OrgUnit) -> None:
    """Delete the demo's safety record: rounds that asked its staff (with their requests,
    answers and check-ins), its incidents and its assembly places. Before the command groups
    (an incident points at 大阪市災害対策本部) and the staff (requests point at them)."""
    asked = SafetyRequest.objects.filter(staff__unit__path__startswith=root.path)
    _purge(SafetyRound.objects.filter(pk__in=asked.values("round_id")))
    _purge(Incident.objects.filter(source="demo"))
    _purge(AssemblyPlace.objects.filter(unit__path__startswith=root.path))
