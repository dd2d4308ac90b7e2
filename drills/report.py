"""What the control page and the after-action report show, computed from the run's record
(docs/drills.md, "How metrics are computed" and "The after-action report").

``run_report`` gathers everything the report page, its PDF and the comparison of runs need:
per inject the people reached and their read / 了解 / first-reply latencies, the expectations
met or missed (and by how much), the safety answer curve; per ward or bureau the median times;
the slowest responders; the hand-overs to deputies; the objectives with the evaluator's
ratings. ``measurement_rows`` is the same record as one row per inject × person (the CSV).
Charts are drawn from these numbers by drills/charts.py; nothing here renders."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from messaging.models import StandIn
from realtime import clock

from . import metrics
from .models import Inject, Run, RunEntry, RunInject, Scenario


@dataclass
class TimelineRow:
    ri: RunInject
    state: str  # due / fired / skipped / failed
    expectations: list[metrics.Expectation]
    pending: bool  # expectations still open (deadline ahead)


def control_timeline(*, run: Run) -> list[TimelineRow]:
    now = clock.now()
    rows = []
    injects = list(
        run.injects.select_related("inject", "message", "round", "run").order_by("due_at", "number")
    )
    fired = [ri for ri in injects if ri.status == RunInject.Status.FIRED]
    crowds = metrics.people_by_inject(fired)
    for ri in injects:
        is_fired = ri.status == RunInject.Status.FIRED
        exps = metrics.expectations(ri, now=now, crowd=crowds.get(ri.pk, [])) if is_fired else []
        deadline = metrics.last_deadline(ri) if is_fired else None
        rows.append(TimelineRow(ri, ri.status, exps, bool(deadline and deadline > now)))
    return rows


# --- the after-action report ----------------------------------------------------------------
RATINGS = ("P", "S", "M", "U")  # HSEEP: performed / some / major challenges / unable


def check_label(check: str) -> str:
    return {
        "read": _("read"),
        "ack": _("了解"),
        "reply": _("reply"),
        "safety": _("safety answers"),
    }.get(check, check)


@dataclass
class InjectReport:
    ri: RunInject
    at: float  # seconds from the run's start to when it fired
    people: list[metrics.Person]
    read: dict
    acked: dict
    replied: dict
    expectations: list[metrics.Expectation]
    curve: dict[int, float | None] = field(default_factory=dict)  # percent → minutes
    answers: list[float] = field(default_factory=list)  # seconds from the round's start
    total: int = 0  # people asked (safety round) or reached (message)
    escalated: int = 0

    @property
    def answered(self) -> int:
        return len(self.answers)

    @property
    def no_response(self) -> int:
        """Reached but never read (or, when 了解 was asked for, never acknowledged)."""
        field_name = "acked" if self.asks_ack else "read"
        return sum(1 for p in self.people if getattr(p, field_name) is None)

    @property
    def asks_ack(self) -> bool:
        return bool(self.ri.message_id and self.ri.message.requires_ack)

    @property
    def safety_target(self) -> tuple[float, float] | None:
        for spec in (self.ri.inject.expectations if self.ri.inject else None) or []:
            if spec.get("check") == "safety":
                return float(spec.get("minutes", 0)), float(spec.get("percent", 0))
        return None


@dataclass
class UnitRow:
    unit: str
    people: int
    read_p50: float | None
    acked_p50: float | None


@dataclass
class ExpectationRow:
    number: int
    objective: str
    check: str
    minutes: float
    percent: float | None
    met: bool
    detail: str
    missed: int  # people late or never
    never: int  # of those, never responded
    late_p50: float | None  # seconds past the deadline, among the late ones who did respond
    late_max: float | None
    pending: bool = False  # the deadline is still ahead: neither met nor missed yet

    @property
    def label(self) -> str:
        return check_label(self.check)


@dataclass
class SlowRow:
    name: str
    post: str
    unit: str
    number: int  # the inject of their slowest response
    what: str  # read or 了解
    seconds: float


@dataclass
class EscalationRow:
    number: int
    post: str
    holder: str
    deputy: str
    rank: int
    handed_after: float  # seconds from the inject
    deputy_read: float | None
    deputy_acked: float | None


@dataclass
class ObjectiveRow:
    index: int
    objective: str
    numbers: list[int]
    met: int
    missed: int
    rating: str
    strengths: str
    improvements: str


@dataclass
class RunReport:
    run: Run
    generated_at: datetime
    duration: float  # seconds from the start to the end (or now)
    injects: list[InjectReport]
    units: list[UnitRow]
    expectations: list[ExpectationRow]
    slowest: list[SlowRow]
    escalations: list[EscalationRow]
    objectives: list[ObjectiveRow]
    pauses: list[tuple[float, float]]
    met: int
    missed: int
    pending: int = 0

    @property
    def message_injects(self) -> list[InjectReport]:
        return [r for r in self.injects if r.people]

    @property
    def safety_injects(self) -> list[InjectReport]:
        return [r for r in self.injects if r.ri.round_id]

    @property
    def read_p50(self) -> float | None:
        return _p50([p.read for r in self.injects for p in r.people])

    @property
    def acked_p50(self) -> float | None:
        return _p50([p.acked for r in self.injects if r.asks_ack for p in r.people])


def _p50(values: list[float | None]) -> float | None:
    return metrics.latency_summary(values)["p50"]


def _units(injects: list[InjectReport]) -> list[UnitRow]:
    """Each ward or bureau's median read and 了解 time over every message of the run."""
    groups: dict[str, tuple[set[int], list[float | None], list[float | None]]] = {}
    for report in injects:
        for p in report.people:
            who, read, acked = groups.setdefault(p.top_unit or "—", (set(), [], []))
            who.add(p.user_id)
            read.append(p.read)
            if report.asks_ack:
                acked.append(p.acked)
    return [
        UnitRow(unit, len(who), _p50(read), _p50(acked))
        for unit, (who, read, acked) in sorted(groups.items())
    ]


def _expectation_rows(injects: list[InjectReport], now: datetime) -> list[ExpectationRow]:
    rows = []
    for report in injects:
        objective = report.ri.inject.objective if report.ri.inject else ""
        speed = report.ri.run.speed or 1
        for e in report.expectations:
            late = [v for v in e.late_by if math.isfinite(v)]
            deadline = report.ri.fired_at + timedelta(minutes=e.minutes / speed)
            rows.append(
                ExpectationRow(
                    report.ri.number,
                    objective,
                    e.check,
                    e.minutes,
                    e.percent,
                    e.met,
                    e.detail,
                    len(e.late_by),
                    len(e.late_by) - len(late),
                    statistics.median(late) if late else None,
                    max(late) if late else None,
                    pending=not e.met and deadline > now,
                )
            )
    return rows


def _slowest(injects: list[InjectReport], limit: int = 10) -> list[SlowRow]:
    """Each person's slowest response (了解 where it was asked for, else reading), the slowest
    people first; people who never responded are counted per inject, not ranked here."""
    worst: dict[int, SlowRow] = {}
    for report in injects:
        what = _("了解") if report.asks_ack else _("read")
        for p in report.people:
            value = p.acked if report.asks_ack else p.read
            if value is None:
                continue
            if p.user_id not in worst or value > worst[p.user_id].seconds:
                worst[p.user_id] = SlowRow(
                    p.name, p.post, p.top_unit, report.ri.number, what, value
                )
    return sorted(worst.values(), key=lambda row: (-row.seconds, row.name))[:limit]


def _escalations(injects: list[InjectReport]) -> list[EscalationRow]:
    fired = {r.ri.message_id: r.ri for r in injects if r.ri.message_id}
    if not fired:
        return []
    rows = list(
        StandIn.objects.filter(chase__message_id__in=list(fired))
        .order_by("chase__message_id", "created_at", "rank")
        .values_list(
            "chase__message_id",
            "chase__post__name",
            "chase__receipt__user_id",
            "deputy_id",
            "rank",
            "created_at",
            "read_at",
            "acked_at",
        )
    )
    who = metrics.names({r[2] for r in rows} | {r[3] for r in rows})
    out = []
    for mid, post, holder, deputy, rank, at, read_at, acked_at in rows:
        ri = fired[mid]
        out.append(
            EscalationRow(
                ri.number,
                post or "",
                who.get(holder, ""),
                who.get(deputy, ""),
                rank,
                metrics._seconds(at, ri.fired_at) or 0.0,
                metrics._seconds(read_at, ri.fired_at),
                metrics._seconds(acked_at, ri.fired_at),
            )
        )
    return out


def _objectives(run: Run, expectations: list[ExpectationRow]) -> list[ObjectiveRow]:
    """The scenario's objectives (as its injects name them, in inject order), the expectations
    of their fired injects, and the evaluator's rating and notes."""
    numbers: dict[str, list[int]] = {}
    for number, objective in (
        run.injects.filter(inject__isnull=False, contingency_of__isnull=True)
        .order_by("inject__number")
        .values_list("number", "inject__objective")
    ):
        if objective and objective.strip():
            numbers.setdefault(objective.strip(), []).append(number)
    by_number: dict[int, list[ExpectationRow]] = {}
    for row in expectations:
        by_number.setdefault(row.number, []).append(row)
    rows = []
    for index, (objective, nums) in enumerate(numbers.items()):
        exps = [e for n in nums for e in by_number.get(n, [])]
        saved = (run.evaluation or {}).get(objective, {})
        rows.append(
            ObjectiveRow(
                index,
                objective,
                nums,
                sum(e.met for e in exps),
                sum(not e.met and not e.pending for e in exps),
                saved.get("rating", ""),
                saved.get("strengths", ""),
                saved.get("improvements", ""),
            )
        )
    return rows


def _pauses(run: Run, end: datetime) -> list[tuple[float, float]]:
    out, started = [], None
    for entry in RunEntry.objects.filter(run=run, action__in=("pause", "resume")).order_by("at"):
        if entry.action == "pause":
            started = entry.at
        elif started is not None:
            out.append((started, entry.at))
            started = None
    if started is not None:
        out.append((started, end))
    return [
        ((a - run.start_at).total_seconds(), (b - run.start_at).total_seconds()) for a, b in out
    ]


def run_report(*, run: Run) -> RunReport:
    """Everything the report shows, in a fixed number of queries however many injects and
    people the run had (docs/benchmarks.md, "Drills")."""
    now = clock.now()
    end = run.ended_at or now
    fired = list(
        run.injects.filter(status=RunInject.Status.FIRED)
        .select_related("inject", "message", "round", "run")
        .order_by("fired_at", "number")
    )
    crowds = metrics.people_by_inject(fired)
    injects = []
    for ri in fired:
        crowd = crowds.get(ri.pk, [])
        answers = metrics.answer_times(ri)
        total = ri.round.total if ri.round_id else len(crowd)
        injects.append(
            InjectReport(
                ri=ri,
                at=(ri.fired_at - run.start_at).total_seconds(),
                people=crowd,
                read=metrics.latency_summary([p.read for p in crowd]),
                acked=metrics.latency_summary([p.acked for p in crowd]),
                replied=metrics.latency_summary([p.replied for p in crowd]),
                expectations=metrics.expectations(ri, now=now, crowd=crowd, answers=answers),
                curve=metrics.curve(answers, total) if ri.round_id else {},
                answers=answers,
                total=total,
                escalated=sum(1 for p in crowd if p.deputy),
            )
        )
    rows = _expectation_rows(injects, now)
    return RunReport(
        run=run,
        generated_at=now,
        duration=max(0.0, (end - run.start_at).total_seconds()),
        injects=injects,
        units=_units(injects),
        expectations=rows,
        slowest=_slowest(injects),
        escalations=_escalations(injects),
        objectives=_objectives(run, rows),
        pauses=_pauses(run, end),
        met=sum(e.met for e in rows),
        missed=sum(not e.met and not e.pending for e in rows),
        pending=sum(e.pending for e in rows),
    )


def inject_people(*, ri: RunInject) -> tuple[list[metrics.Person], dict, dict, dict]:
    """Everyone one fired inject reached, the ones who never responded first, then the slowest
    (了解 where it was asked for, else reading); with the read / 了解 / reply summaries."""
    crowd = metrics.people_by_inject([ri]).get(ri.pk, [])
    asks_ack = bool(ri.message_id and ri.message.requires_ack)

    def key(p: metrics.Person) -> tuple[bool, float, str]:
        value = p.acked if asks_ack else p.read
        return (value is not None, -(value or 0.0), p.name)

    return (
        sorted(crowd, key=key),
        metrics.latency_summary([p.read for p in crowd]),
        metrics.latency_summary([p.acked for p in crowd]),
        metrics.latency_summary([p.replied for p in crowd]),
    )


# --- the raw measurements (CSV) -------------------------------------------------------------
MEASUREMENT_HEADER = (
    "run",
    "inject",
    "kind",
    "fired_at",
    "employee_number",
    "name",
    "post",
    "unit",
    "ward_or_bureau",
    "read_s",
    "ack_s",
    "first_reply_s",
    "safety_answer_s",
    "deputy",
)


def _num(value: float | None) -> str | float:
    return "" if value is None else round(value, 1)


def measurement_rows(*, run: Run) -> Iterator[list]:
    """One row per inject × person: message injects by person reached, safety rounds by person
    asked. Latencies in seconds from the inject (from the round's start for answers)."""
    yield list(MEASUREMENT_HEADER)
    injects = list(
        run.injects.filter(status=RunInject.Status.FIRED)
        .select_related("message", "round")
        .order_by("fired_at", "number")
    )
    crowds = metrics.people_by_inject(injects)
    for ri in injects:
        fired = ri.fired_at.isoformat()
        for p in crowds.get(ri.pk, []):
            yield [
                run.pk,
                ri.number,
                ri.kind,
                fired,
                p.employee_number,
                p.name,
                p.post,
                p.unit,
                p.top_unit,
                _num(p.read),
                _num(p.acked),
                _num(p.replied),
                "",
                p.deputy,
            ]
        if ri.round_id:
            for row in metrics.safety_rows(ri):
                yield [
                    run.pk,
                    ri.number,
                    ri.kind,
                    fired,
                    row.employee_number,
                    row.name,
                    "",
                    row.unit,
                    row.top_unit,
                    "",
                    "",
                    "",
                    _num(row.answered),
                    "",
                ]


# --- comparing runs of a scenario -----------------------------------------------------------
@dataclass
class CompareCell:
    read_p50: float | None = None
    read_p90: float | None = None
    acked_p50: float | None = None
    acked_p90: float | None = None
    met: int = 0
    expected: int = 0
    curve: dict[int, float | None] = field(default_factory=dict)
    fired: bool = False


@dataclass
class CompareRow:
    number: int
    kind: str
    text: str
    cells: list[CompareCell]
    runs: list[Run] = field(default_factory=list)

    @property
    def by_run(self) -> list[tuple[Run, CompareCell]]:
        return list(zip(self.runs, self.cells, strict=True))

    @property
    def trend(self) -> float | None:
        """Change of the median response (了解 where asked, else read) from the first run to
        the last, in seconds: negative is faster."""

        def value(cell: CompareCell) -> float | None:
            return cell.acked_p50 if cell.acked_p50 is not None else cell.read_p50

        first, last = value(self.cells[0]), value(self.cells[-1])
        if first is None or last is None or len(self.cells) < 2:
            return None
        return last - first


@dataclass
class Comparison:
    scenario: Scenario
    runs: list[Run]
    reports: list[RunReport]
    rows: list[CompareRow]

    @property
    def columns(self) -> list[tuple[Run, RunReport]]:
        return list(zip(self.runs, self.reports, strict=True))


def runs_compare(*, scenario: Scenario, runs: list[Run]) -> Comparison:
    """The same metrics of several runs of one scenario side by side, oldest first, one row
    per scenario inject (matched by its number; unplanned injects are left out)."""
    runs = sorted(runs, key=lambda r: (r.start_at, r.pk))
    reports = [run_report(run=run) for run in runs]
    rows: dict[int, CompareRow] = {}
    for inject in Inject.objects.filter(scenario=scenario).order_by("offset", "number"):
        rows[inject.number] = CompareRow(
            inject.number,
            inject.get_kind_display(),
            inject.text,
            [CompareCell() for _r in runs],
            runs,
        )
    for k, report in enumerate(reports):
        for r in report.injects:
            row = rows.get(r.ri.number)
            if row is None or r.ri.contingency_of_id or r.ri.inject_id is None:
                continue
            cell = row.cells[k]
            cell.fired = True
            cell.read_p50, cell.read_p90 = r.read["p50"], r.read["p90"]
            if r.asks_ack:
                cell.acked_p50, cell.acked_p90 = r.acked["p50"], r.acked["p90"]
            cell.met = sum(e.met for e in r.expectations)
            cell.expected = len(r.expectations)
            cell.curve = r.curve
    return Comparison(scenario, runs, reports, list(rows.values()))
