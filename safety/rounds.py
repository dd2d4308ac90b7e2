"""Safety rounds: start one for a target (everyone, unit subtrees, or the staff whose workplace is
in the affected wards), re-send to those still unanswered (on the round's schedule, or by hand),
close it. Starting writes one request per person in one statement (30,000 in about a second);
the messages go out after commit from a task, in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.models import OrgUnit, Staff, User
from directory.services import audit_record
from messaging.models import Message
from realtime import clock

from . import selectors
from .incidents import _entry, announce
from .links import new_nonce
from .models import Incident, SafetyRequest, SafetyRound
from .notify import notify_unanswered
from .questions import DEFAULT_QUESTIONS, questions_check
from .tasks import safety_round_notify_task

ERR_CANNOT_RUN = gettext_lazy(
    "Only headquarters, the crisis management office, drill coordinators and administrators "
    "can run safety rounds."
)
ERR_NOBODY = gettext_lazy("Nobody matches this target.")
ERR_CLOSED = gettext_lazy("This safety round is closed.")
ERR_TARGET = gettext_lazy("Choose everyone, or at least one unit.")

DEFAULT_RESEND_MINUTES = [15, 30, 60]
ROWS_PER_STATEMENT = 1000


def _target_staff(target: dict[str, Any]) -> list[tuple[int, int]]:
    """(staff id, unit id) of the active staff the target names."""
    qs = Staff.objects.filter(is_active=True)
    if target.get("all"):
        pass
    elif target.get("units") or target.get("workplace_units"):
        units = OrgUnit.objects.filter(pk__in=target.get("units") or target["workplace_units"])
        paths = [u.path for u in units]
        if not paths:
            return []
        cond = Q(pk__in=[])
        for path in paths:
            cond |= Q(unit__path__startswith=path)
        qs = qs.filter(cond)
    else:
        raise ValidationError(ERR_TARGET)
    return list(qs.order_by("pk").values_list("pk", "unit_id"))


def _requests_insert(round_id: int, people: Sequence[tuple[int, int]]) -> None:
    """One request per person, each with its own nonce: one INSERT (unnest arrays on
    PostgreSQL; multi-row VALUES on SQLite)."""
    table = connection.ops.quote_name(SafetyRequest._meta.db_table)
    cols = ", ".join(
        connection.ops.quote_name(SafetyRequest._meta.get_field(f).column)
        for f in ("round", "staff", "unit", "nonce", "resends", "manual_resends")
    )
    nonces = [new_nonce() for _ in people]
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                f"INSERT INTO {table} ({cols}) SELECT %s, s, u, n, 0, 0 "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS t(s, u, n)",
                [round_id, [s for s, _u in people], [u for _s, u in people], nonces],
            )
            return
        for start in range(0, len(people), ROWS_PER_STATEMENT):
            chunk = people[start : start + ROWS_PER_STATEMENT]
            cur.execute(
                f"INSERT INTO {table} ({cols}) VALUES "  # noqa: S608
                + ", ".join(["(%s, %s, %s, %s, 0, 0)"] * len(chunk)),
                [
                    v
                    for (s, u), n in zip(chunk, nonces[start : start + len(chunk)], strict=True)
                    for v in (round_id, s, u, n)
                ],
            )


def round_start(
    *,
    actor: User | None,
    title: str,
    target: dict[str, Any],
    incident: Incident | None = None,
    questions: dict | None = None,
    resend_minutes: list[int] | None = None,
    is_drill: bool = False,
    jma_event_id: str = "",
    intensity: str = "",
    announce_in_hq: bool = True,
    notify: bool = True,
) -> SafetyRound:
    """Start a round (``actor=None``: the JMA feed). Returns it with ``total`` set; the
    requests are written now, the messages go out after commit (safety_round_notify_task).
    ``notify=False`` sends nobody anything (a round entered as a record, e.g. the demo's)."""
    if actor is not None and not selectors.user_can_run_rounds(user=actor):
        raise PermissionDenied(ERR_CANNOT_RUN)
    settings_row = selectors.safety_settings()
    questions = questions or settings_row.questions or DEFAULT_QUESTIONS
    questions_check(questions)
    if resend_minutes is None:
        resend_minutes = settings_row.resend_minutes or DEFAULT_RESEND_MINUTES
    people = _target_staff(target)
    if not people:
        raise ValidationError(ERR_NOBODY)
    with transaction.atomic():
        round_ = SafetyRound.objects.create(
            incident=incident,
            title=(title or "").strip()[:120] or _("Safety confirmation"),
            target=target,
            questions=questions,
            resend_minutes=sorted({int(m) for m in resend_minutes if int(m) > 0}),
            started_at=clock.now(),
            started_by=actor,
            total=len(people),
            is_drill=is_drill,
            jma_event_id=jma_event_id,
            intensity=intensity,
        )
        _requests_insert(round_.pk, people)
        if incident is not None:
            _entry(incident, actor, "round_start", round=round_.pk, total=len(people))
        audit_record(
            actor=actor,
            action="safety.round_start",
            target=round_,
            data={"target": target, "total": len(people)},
        )
        if announce_in_hq:
            prefix = _("[DRILL] ") if is_drill else ""
            round_.hq_message = announce(
                incident=incident,
                sender=actor,
                body=_(
                    "%(prefix)sSafety confirmation started: %(title)s. Please answer it now in "
                    "Honbu (Home → safety confirmation) or from the e-mailed link."
                )
                % {"prefix": prefix, "title": round_.title},
                priority=Message.Priority.URGENT,
            )
            round_.save(update_fields=["hq_message"])
        rid = round_.pk
        if notify:
            transaction.on_commit(lambda: safety_round_notify_task.delay(rid, "start"))
    return round_


def round_resend_now(*, round_: SafetyRound, actor: User) -> int:
    """The "re-send to unanswered" button: one more message to everyone still unanswered."""
    if not selectors.user_can_run_rounds(user=actor):
        raise PermissionDenied(ERR_CANNOT_RUN)
    with transaction.atomic():
        locked = SafetyRound.objects.select_for_update().get(pk=round_.pk)
        if locked.status != SafetyRound.Status.OPEN:
            raise ValidationError(ERR_CLOSED)
        locked.manual_resends += 1
        locked.save(update_fields=["manual_resends"])
        step = locked.manual_resends
        audit_record(actor=actor, action="safety.round_resend", target=locked, data={"n": step})
    sent = 0
    while n := notify_unanswered(
        round_.pk, field="manual_resends", before=step - 1, step=f"m{step}", limit=2000
    ):
        sent += n
    return sent


@transaction.atomic
def round_close(*, round_: SafetyRound, actor: User | None) -> SafetyRound:
    if actor is not None and not selectors.user_can_run_rounds(user=actor):
        raise PermissionDenied(ERR_CANNOT_RUN)
    locked = SafetyRound.objects.select_for_update().get(pk=round_.pk)
    if locked.status == SafetyRound.Status.CLOSED:
        return locked
    locked.status, locked.closed_at = SafetyRound.Status.CLOSED, clock.now()
    locked.save(update_fields=["status", "closed_at"])
    if locked.incident_id:
        _entry(locked.incident, actor, "round_close", round=locked.pk)
    audit_record(actor=actor, action="safety.round_close", target=locked)
    return locked


@transaction.atomic
def request_revoke(*, request: SafetyRequest, actor: User) -> SafetyRequest:
    """Revoke a person's link (e.g. it was forwarded); a re-send brings a new one."""
    if not selectors.user_can_run_rounds(user=actor):
        raise PermissionDenied(ERR_CANNOT_RUN)
    locked = SafetyRequest.objects.select_for_update().get(pk=request.pk)
    locked.nonce, locked.revoked_at = new_nonce(), clock.now()
    locked.save(update_fields=["nonce", "revoked_at"])
    audit_record(actor=actor, action="safety.link_revoke", target=locked.round)
    return locked
