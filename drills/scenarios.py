"""Writing scenarios: create, rename, copy and delete a scenario; save and delete its injects;
import a whole MSEL file, all or nothing. Only drill coordinators and administrators
(``runs.user_runs_drills``) write, and every write is audited. A scenario that has been run is
kept as it was, because its runs' reports read its injects (their expectations, objectives):
copy it to change it.

The rules an inject follows, typed in the editor or read from a file, are here
(``inject_problems``, ``contingency_problem``); the file format is the ``msel`` package."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.importing import RowError
from directory.models import OrgUnit, Post, User
from directory.services import audit_record
from messaging.models import CommandGroup

from . import msel, runs
from .models import Inject, Scenario

ERR_HAS_RUNS = gettext_lazy(
    "This scenario has been run, so it stays as it was for the runs' reports; copy it to change it."
)
ERR_NUMBER_TAKEN = gettext_lazy("Number %(n)s is already used in this scenario.")
ERR_DUPLICATE_NUMBER = gettext_lazy("This number already appears in row %(row)d.")
ERR_NEEDS_GROUP = gettext_lazy(
    "This kind is sent as a message: choose the command group it goes to."
)
ERR_FROM_CONTROL = gettext_lazy(
    "This kind comes from the control cell (統制部): leave “from” empty."
)
ERR_SAFETY_GROUP = gettext_lazy("A safety round asks units (none: all staff), not a command group.")
ERR_EXP_INVALID = gettext_lazy(
    "Each expected action needs a check (read, ack, reply or safety) and minutes from 1 to "
    "1440; safety answers also a percentage from 1 to 100."
)
ERR_EXP_SAFETY_KIND = gettext_lazy("Safety answers are measured only on a safety-round inject.")
ERR_EXP_MESSAGE_KIND = gettext_lazy(
    "Read, 了解 and reply are measured only on messages (situation reports, instructions, "
    "JMA reports)."
)
ERR_EXP_ACK_KIND = gettext_lazy("了解 is asked only of instructions.")
ERR_CONTINGENCY_UNKNOWN = gettext_lazy("No inject of this scenario has the number %(n)s.")
ERR_CONTINGENCY_SELF = gettext_lazy("An inject cannot be its own contingency.")
ERR_CONTINGENCY_LOOP = gettext_lazy("The contingencies go round in a circle: %(chain)s.")
ERR_IS_CONTINGENCY = gettext_lazy(
    "#%(n)s is the contingency of %(of)s; choose another contingency there first."
)
ERR_FILE_TOO_LARGE = gettext_lazy("The file is larger than %(max_kb)s KB.")
ERR_TOO_MANY_ROWS = gettext_lazy("A scenario has at most %(max)d injects.")
MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 500
MESSAGE_KINDS = (Inject.Kind.SITUATION, Inject.Kind.INSTRUCTION, Inject.Kind.JMA)


class ScenarioImportError(Exception):
    """A file that was not imported: every bad cell, with its row, column and reason."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def _check(actor: User | None) -> None:
    """``actor=None`` is the system (the demo seed); people must run drills."""
    if actor is not None and not runs.user_runs_drills(user=actor):
        raise PermissionDenied(runs.ERR_NOT_COORDINATOR)


def _editable(scenario: Scenario) -> Scenario:
    """The scenario locked for this transaction; refused once it has been run."""
    scenario = Scenario.objects.select_for_update().get(pk=scenario.pk)
    if scenario.runs.exists():
        raise ValidationError(ERR_HAS_RUNS)
    return scenario


# --- the rules ------------------------------------------------------------------------------
def inject_problems(
    *,
    kind: str,
    from_post: Post | None,
    to_group: CommandGroup | None,
    expectations: list[dict[str, Any]],
) -> dict[str, list[str]]:
    """What a kind needs, by field: a message has a group; a JMA report and a safety round come
    from the control cell; a round asks units, not a group; each expectation is measurable on
    this kind (read / 了解 / reply on messages, 了解 on instructions, answers on rounds)."""
    out: dict[str, list[str]] = {}
    if kind in MESSAGE_KINDS and to_group is None:
        out["to_group"] = [str(ERR_NEEDS_GROUP)]
    if kind == Inject.Kind.SAFETY_ROUND and to_group is not None:
        out["to_group"] = [str(ERR_SAFETY_GROUP)]
    if kind in (Inject.Kind.JMA, Inject.Kind.SAFETY_ROUND) and from_post is not None:
        out["from_post"] = [str(ERR_FROM_CONTROL)]
    problems: list[str] = []
    for spec in expectations:
        if not _spec_ok(spec):
            problem = ERR_EXP_INVALID
        elif spec["check"] == "safety":
            problem = None if kind == Inject.Kind.SAFETY_ROUND else ERR_EXP_SAFETY_KIND
        elif kind not in MESSAGE_KINDS:
            problem = ERR_EXP_MESSAGE_KIND
        elif spec["check"] == "ack" and kind != Inject.Kind.INSTRUCTION:
            problem = ERR_EXP_ACK_KIND
        else:
            problem = None
        if problem is not None and str(problem) not in problems:
            problems.append(str(problem))
    if problems:
        out["expectations"] = problems
    return out


def _spec_ok(spec: Any) -> bool:
    if not isinstance(spec, dict) or spec.get("check") not in msel.CHECKS_ALL:
        return False
    minutes, percent, posts = spec.get("minutes"), spec.get("percent"), spec.get("posts", [])
    if not isinstance(minutes, int | float) or not 1 <= minutes <= msel.MAX_MINUTES:
        return False
    if spec["check"] == "safety":
        return isinstance(percent, int | float) and 1 <= percent <= 100 and not posts
    return isinstance(posts, list) and all(isinstance(p, str) and p for p in posts)


def contingency_problem(key: Any, links: dict[Any, Any], numbers: dict[Any, int]) -> str:
    """What is wrong with the contingency of inject ``key``, given every inject's contingency
    (``links``: key → key or None; ``numbers``: key → its number, to name them); "" if all is
    well. A chain that comes back to the inject would fire contingencies for ever."""
    target = links.get(key)
    if target is None:
        return ""
    if target not in links:
        return str(ERR_CONTINGENCY_UNKNOWN % {"n": numbers.get(target, target)})
    if target == key:
        return str(ERR_CONTINGENCY_SELF)
    chain = [key]
    while target is not None and target not in chain:
        chain.append(target)
        target = links.get(target)
    if target == key:
        names = " → ".join(f"#{numbers[k]}" for k in [*chain, key])
        return str(ERR_CONTINGENCY_LOOP % {"chain": names})
    return ""  # a circle further on is reported on its own injects


# --- scenarios ------------------------------------------------------------------------------
@transaction.atomic
def scenario_create(*, actor: User | None, title: str, description: str = "") -> Scenario:
    _check(actor)
    scenario = Scenario(title=title.strip(), description=description.strip(), created_by=actor)
    scenario.full_clean()
    scenario.save()
    audit_record(actor=actor, action="drill.scenario_create", target=scenario, data={})
    return scenario


@transaction.atomic
def scenario_update(
    *, actor: User | None, scenario: Scenario, title: str, description: str
) -> Scenario:
    """Title and description; allowed after a run (the reports do not read them)."""
    _check(actor)
    scenario = Scenario.objects.select_for_update().get(pk=scenario.pk)
    scenario.title, scenario.description = title.strip(), description.strip()
    scenario.full_clean()
    scenario.save(update_fields=["title", "description", "updated_at"])
    audit_record(actor=actor, action="drill.scenario_update", target=scenario, data={})
    return scenario


@transaction.atomic
def scenario_delete(*, actor: User | None, scenario: Scenario) -> None:
    _check(actor)
    scenario = _editable(scenario)
    data = {"title": scenario.title, "injects": scenario.injects.count()}
    audit_record(actor=actor, action="drill.scenario_delete", target=scenario, data=data)
    scenario.injects.update(contingency=None)
    scenario.delete()


@transaction.atomic
def scenario_copy(*, actor: User | None, scenario: Scenario, title: str = "") -> Scenario:
    """A new scenario with the same injects (to change one that has been run)."""
    _check(actor)
    title = title.strip() or _("Copy of %(title)s") % {"title": scenario.title}
    copy = Scenario(title=title[:120], description=scenario.description, created_by=actor)
    copy.full_clean()
    copy.save()
    originals = list(scenario.injects.select_related("contingency").prefetch_related("to_units"))
    contingencies = {i.number: i.contingency.number for i in originals if i.contingency_id}
    _injects_write(copy, [(i, list(i.to_units.all())) for i in originals], contingencies)
    audit_record(
        actor=actor,
        action="drill.scenario_copy",
        target=copy,
        data={"from": scenario.pk, "injects": len(originals)},
    )
    return copy


def _injects_write(
    scenario: Scenario,
    injects: list[tuple[Inject, list[OrgUnit]]],
    contingencies: dict[int, int],
) -> list[Inject]:
    """New injects for ``scenario`` (copies of the given ones), their units, then their
    contingencies by number: a few statements, whatever the count."""
    created = Inject.objects.bulk_create(
        [
            Inject(
                scenario=scenario,
                number=i.number,
                offset=i.offset,
                kind=i.kind,
                from_post=i.from_post,
                to_group=i.to_group,
                priority=i.priority,
                text=i.text,
                expectations=i.expectations,
                objective=i.objective,
                only_as_contingency=i.only_as_contingency,
            )
            for i, _units in injects
        ]
    )
    through = Inject.to_units.through
    through.objects.bulk_create(
        [
            through(inject_id=new.pk, orgunit_id=unit.pk)
            for new, (_i, units) in zip(created, injects, strict=True)
            for unit in units
        ]
    )
    by_number = {i.number: i for i in created}
    linked = []
    for number, target in contingencies.items():
        by_number[number].contingency = by_number[target]
        linked.append(by_number[number])
    Inject.objects.bulk_update(linked, ["contingency"])
    return created


# --- injects --------------------------------------------------------------------------------
@transaction.atomic
def inject_save(
    *,
    actor: User | None,
    scenario: Scenario,
    inject: Inject | None = None,
    number: int,
    offset: int,
    kind: str,
    from_post: Post | None,
    to_group: CommandGroup | None,
    to_units: list[OrgUnit],
    priority: str,
    text: str,
    expectations: list[dict[str, Any]],
    objective: str = "",
    contingency: Inject | None = None,
    only_as_contingency: bool = False,
) -> Inject:
    """Create (``inject=None``) or change an inject. Raises ``ValidationError`` by field
    (number, offset, kind, from_post, to_group, priority, text, expectations, objective,
    contingency)."""
    _check(actor)
    scenario = _editable(scenario)
    created = inject is None
    if inject is None:
        inject = Inject(scenario=scenario)
    elif inject.scenario_id != scenario.pk:
        raise PermissionDenied
    inject.number, inject.offset, inject.kind = number, offset, kind
    inject.from_post, inject.to_group, inject.priority = from_post, to_group, priority
    inject.text, inject.objective = text.strip(), objective.strip()
    inject.expectations, inject.contingency = expectations, contingency
    inject.only_as_contingency = only_as_contingency

    errors = inject_problems(
        kind=kind, from_post=from_post, to_group=to_group, expectations=expectations
    )
    others = list(scenario.injects.exclude(pk=inject.pk).values_list("pk", "number", "contingency"))
    if any(n == number for _pk, n, _c in others):
        errors.setdefault("number", []).append(str(ERR_NUMBER_TAKEN % {"n": number}))
    if not 0 <= offset <= msel.MAX_OFFSET:
        errors.setdefault("offset", []).append(str(msel.ERR_TIME))
    if contingency is not None and contingency.scenario_id != scenario.pk:
        errors.setdefault("contingency", []).append(
            str(ERR_CONTINGENCY_UNKNOWN % {"n": contingency.number})
        )
    else:
        key = inject.pk or "new"
        links: dict[Any, Any] = {pk: c for pk, _n, c in others}
        links[key] = contingency.pk if contingency else None
        numbers = {pk: n for pk, n, _c in others} | {key: number}
        if problem := contingency_problem(key, links, numbers):
            errors.setdefault("contingency", []).append(problem)
    try:
        inject.full_clean(exclude=["scenario", "contingency"], validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(m for m in messages if m not in errors.get(name, []))
    if errors:
        raise ValidationError(errors)
    inject.save()
    inject.to_units.set(to_units)
    audit_record(
        actor=actor,
        action="drill.inject_create" if created else "drill.inject_update",
        target=inject,
        data={"scenario": scenario.pk, "number": number},
    )
    return inject


@transaction.atomic
def inject_delete(*, actor: User | None, inject: Inject) -> None:
    """Refused while another inject names it as its contingency (say which)."""
    _check(actor)
    scenario = _editable(inject.scenario)
    inject = Inject.objects.get(pk=inject.pk, scenario=scenario)
    callers = list(scenario.injects.filter(contingency=inject).values_list("number", flat=True))
    if callers:
        of = ", ".join(f"#{n}" for n in sorted(callers))
        raise ValidationError(ERR_IS_CONTINGENCY % {"n": inject.number, "of": of})
    audit_record(
        actor=actor,
        action="drill.inject_delete",
        target=inject,
        data={"scenario": scenario.pk, "number": inject.number, "text": inject.text[:200]},
    )
    inject.delete()


# --- import ---------------------------------------------------------------------------------
def _rows_problems(rows: list[msel.Row], labels: dict[str, str]) -> list[RowError]:
    """The rules over the whole file: numbers once each, what each kind needs, contingencies
    that exist, are not the inject itself and do not go round in a circle."""
    label = {c.name: labels.get(c.name) or c.label for c in msel.COLUMNS}
    field_column = {"to_group": "to_group", "from_post": "from", "expectations": "expectations"}
    errors: list[RowError] = []
    first_row: dict[int, int] = {}
    for row in rows:
        if row.number is None:
            continue
        if row.number in first_row:
            errors.append(
                RowError(
                    row.row,
                    label["number"],
                    str(ERR_DUPLICATE_NUMBER % {"row": first_row[row.number]}),
                )
            )
        else:
            first_row[row.number] = row.row
    links = {r.number: r.contingency for r in rows if r.number and first_row[r.number] == r.row}
    numbers = {n: n for n in links}
    for row in rows:
        if row.kind is not None:
            problems = inject_problems(
                kind=row.kind,
                from_post=row.from_post,
                to_group=row.to_group,
                expectations=row.expectations,
            )
            for name, messages in problems.items():
                column = field_column[name]
                if column not in row.bad:  # not twice for one cell (an unknown group)
                    errors += [RowError(row.row, label[column], m) for m in messages]
        if row.number and first_row[row.number] == row.row and "contingency" not in row.bad:
            if problem := contingency_problem(row.number, links, numbers):
                errors.append(RowError(row.row, label["contingency"], problem))
    return errors


def scenario_import(
    *,
    actor: User | None,
    filename: str,
    content: bytes,
    title: str = "",
    description: str = "",
    scenario: Scenario | None = None,
) -> Scenario:
    """A MSEL file (CSV or XLSX) as a new scenario (titled ``title``, or after the file), or
    as the injects of ``scenario`` (replacing them; not once it has been run). All or nothing:
    raises ``ScenarioImportError`` with every bad cell, and then nothing has changed."""
    _check(actor)
    if len(content) > MAX_IMPORT_BYTES:
        message = ERR_FILE_TOO_LARGE % {"max_kb": MAX_IMPORT_BYTES // 1024}
        raise ScenarioImportError([RowError(None, "", str(message))])
    rows, errors, labels = msel.read(filename=filename, content=content)
    if len(rows) > MAX_IMPORT_ROWS:
        message = ERR_TOO_MANY_ROWS % {"max": MAX_IMPORT_ROWS}
        raise ScenarioImportError([RowError(rows[MAX_IMPORT_ROWS].row, "", str(message))])
    errors += _rows_problems(rows, labels)
    if errors:
        column = {label: i for i, label in enumerate(labels.values())}  # as in the file
        errors.sort(key=lambda e: (e.row or 0, column.get(e.column, len(column))))
        raise ScenarioImportError(errors)
    with transaction.atomic():
        replaced = scenario is not None
        if scenario is None:
            name = title.strip() or PurePath(filename).stem or _("Imported scenario")
            scenario = Scenario(title=name[:120], description=description, created_by=actor)
            scenario.full_clean()
            scenario.save()
        else:
            scenario = _editable(scenario)
            scenario.injects.update(contingency=None)
            scenario.injects.all().delete()
        _injects_write(
            scenario,
            [
                (
                    Inject(
                        number=r.number,
                        offset=r.offset,
                        kind=r.kind,
                        from_post=r.from_post,
                        to_group=r.to_group,
                        priority=r.priority,
                        text=r.text,
                        expectations=r.expectations,
                        objective=r.objective,
                        only_as_contingency=r.only_as_contingency,
                    ),
                    r.to_units,
                )
                for r in rows
            ],
            {r.number: r.contingency for r in rows if r.contingency},
        )
        audit_record(
            actor=actor,
            action="drill.scenario_import",
            target=scenario,
            data={"filename": filename[:200], "injects": len(rows), "replaced": replaced},
        )
    return scenario
