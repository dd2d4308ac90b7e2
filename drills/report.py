"""What the control page and the after-action report show, computed from the run's record."""

from __future__ import annotations

from dataclasses import dataclass, field

from realtime import clock

from . import metrics
from .models import Run, RunInject


@dataclass
class TimelineRow:
    ri: RunInject
    state: str  # due / fired / skipped / failed
    expectations: list[metrics.Expectation]
    pending: bool  # expectations still open (deadline ahead)


def control_timeline(*, run: Run) -> list[TimelineRow]:
    now = clock.now()
    rows = []
    for ri in run.injects.select_related("inject", "message", "round").order_by("due_at", "number"):
        exps = metrics.expectations(ri, now=now) if ri.status == RunInject.Status.FIRED else []
        deadline = metrics.last_deadline(ri) if ri.status == RunInject.Status.FIRED else None
        rows.append(TimelineRow(ri, ri.status, exps, bool(deadline and deadline > now)))
    return rows


@dataclass
class InjectReport:
    ri: RunInject
    people: list[metrics.Person]
    read: dict
    acked: dict
    replied: dict
    expectations: list[metrics.Expectation]
    by_unit: list[tuple[str, float | None, float | None]]  # unit, median read, median 了解
    curve: dict[int, float | None] = field(default_factory=dict)
    escalated: int = 0


@dataclass
class RunReport:
    run: Run
    injects: list[InjectReport]
    slowest: list[tuple[str, str, float]]  # name, inject, seconds to 了解 (or read)
    met: int
    missed: int
    objectives: list[str]


def _by_unit(people: list[metrics.Person]) -> list[tuple[str, float | None, float | None]]:
    groups: dict[str, list[metrics.Person]] = {}
    for p in people:
        groups.setdefault(p.top_unit or "—", []).append(p)
    out = []
    for unit, members in sorted(groups.items()):
        out.append(
            (
                unit,
                metrics.latency_summary([m.read for m in members])["p50"],
                metrics.latency_summary([m.acked for m in members])["p50"],
            )
        )
    return out


def run_report(*, run: Run) -> RunReport:
    now = clock.now()
    injects = []
    slow: list[tuple[str, str, float]] = []
    for ri in run.injects.filter(status=RunInject.Status.FIRED).select_related(
        "inject", "message", "round"
    ):
        crowd = metrics.people(ri)
        report = InjectReport(
            ri=ri,
            people=crowd,
            read=metrics.latency_summary([p.read for p in crowd]),
            acked=metrics.latency_summary([p.acked for p in crowd]),
            replied=metrics.latency_summary([p.replied for p in crowd]),
            expectations=metrics.expectations(ri, now=now),
            by_unit=_by_unit(crowd),
            curve=metrics.safety_curve(ri),
            escalated=sum(1 for p in crowd if p.deputy),
        )
        injects.append(report)
        for p in crowd:
            value = p.acked if p.acked is not None else p.read
            if value is not None:
                slow.append((p.name, f"#{ri.number}", value))
    slow.sort(key=lambda row: -row[2])
    exps = [e for r in injects for e in r.expectations]
    objectives = sorted(
        {r.ri.inject.objective for r in injects if r.ri.inject and r.ri.inject.objective}
    )
    return RunReport(
        run=run,
        injects=injects,
        slowest=slow[:10],
        met=sum(e.met for e in exps),
        missed=sum(not e.met for e in exps),
        objectives=objectives,
    )
