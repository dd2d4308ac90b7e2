"""Disaster mode (災害モード): declaring an incident, changing its level, ending it. Each is an
audited action with its own timeline entry, an announcement in the city headquarters group, and
a live event that every signed-in page's banner follows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.models import OrgUnit, User
from directory.services import audit_record
from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.models import Message
from realtime import clock
from realtime.events import channel_group, send_event_on_commit

from . import hooks, selectors
from .events import IncidentChanged
from .models import Incident, IncidentEntry, IncidentLevel

ERR_CANNOT_DECLARE = gettext_lazy(
    "Only the 本部長, the crisis management office and administrators can declare disaster mode."
)
ERR_ENDED = gettext_lazy("This incident has already ended.")
ERR_SAME_LEVEL = gettext_lazy("The incident is already at this level.")
ERR_TITLE = gettext_lazy("Give the incident a title.")


def _entry(incident: Incident, actor: User | None, action: str, **data) -> IncidentEntry:
    return IncidentEntry.objects.create(
        incident=incident, at=clock.now(), actor=actor, action=action, data=data
    )


def _changed(incident: Incident) -> None:
    cache.delete("safety:banner")
    send_event_on_commit(
        IncidentChanged(incident=selectors.incident_payload(incident)),
        groups=[channel_group("all", 0)],
    )


def announce(
    *, incident: Incident | None, sender: User | None, body: str, priority: str
) -> Message | None:
    """Post an announcement as an instruction to the city headquarters group: by the sender if
    they command it, else by the configured announcer account; without either, nothing is
    posted (the banner and the notifications still reach everyone)."""
    group = incident.hq_group if incident and incident.hq_group else selectors.hq_group()
    if group is None:
        return None
    if sender is None or not messaging_selectors.user_can_instruct(user=sender, group=group):
        # Someone who is not a commander there (the crisis office, an administrator) or the
        # JMA feed: the configured announcer account posts it, if there is one.
        sender = selectors.safety_settings().announcer
    if sender is None or not messaging_selectors.user_can_instruct(user=sender, group=group):
        return None
    return messaging_services.message_send(
        group=group,
        sender=sender,
        body=body,
        client_id=uuid.uuid4(),
        kind=Message.Kind.INSTRUCTION,
        priority=priority,
        requires_ack=True,
    ).message


def _area(units: Sequence[OrgUnit]) -> str:
    return "、".join(u.name for u in units) or _("the whole city")


@transaction.atomic
def incident_declare(
    *,
    actor: User | None,
    title: str,
    kind: str,
    level: IncidentLevel,
    affected_units: Sequence[OrgUnit] = (),
    started_at: datetime | None = None,
    source: str = "manual",
    jma_event_id: str = "",
    is_drill: bool = False,
) -> Incident:
    """Declare disaster mode. ``actor=None`` is the JMA feed (no permission check)."""
    if actor is not None and not selectors.user_can_declare(user=actor):
        raise PermissionDenied(ERR_CANNOT_DECLARE)
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": ERR_TITLE})
    if kind not in Incident.Kind.values:
        raise ValidationError({"kind": _("Unknown kind.")})
    incident = Incident.objects.create(
        title=title[:120],
        kind=kind,
        level=level,
        started_at=started_at or clock.now(),
        declared_by=actor,
        hq_group=selectors.hq_group(),
        source=source,
        jma_event_id=jma_event_id,
        is_drill=is_drill,
    )
    incident.affected_units.set(affected_units)
    _entry(
        incident,
        actor,
        "declare",
        title=incident.title,
        kind=kind,
        level=level.code,
        area=[u.pk for u in affected_units],
        source=source,
    )
    prefix = _("[DRILL] ") if is_drill else ""
    body = _(
        "%(prefix)sDisaster mode declared: %(title)s (%(level)s). Area: %(area)s. Started %(at)s."
    ) % {
        "prefix": prefix,
        "title": incident.title,
        "level": level.name,
        "area": _area(affected_units),
        "at": timezone.localtime(incident.started_at).strftime("%Y-%m-%d %H:%M"),
    }
    incident.declaration = announce(
        incident=incident, sender=actor, body=body, priority=Message.Priority.URGENT
    )
    incident.save(update_fields=["declaration"])
    audit_record(actor=actor, action="incident.declare", target=incident, data={"title": title})
    _changed(incident)
    if not is_drill:
        hooks.incident_declared(incident)  # a running drill stops or pauses at once
    return incident


def _open(incident: Incident) -> Incident:
    locked = Incident.objects.select_for_update().select_related("level").get(pk=incident.pk)
    if locked.ended_at is not None:
        raise ValidationError(ERR_ENDED)
    return locked


@transaction.atomic
def incident_set_level(*, incident: Incident, level: IncidentLevel, actor: User) -> Incident:
    if not selectors.user_can_declare(user=actor):
        raise PermissionDenied(ERR_CANNOT_DECLARE)
    incident = _open(incident)
    if incident.level_id == level.pk:
        raise ValidationError(ERR_SAME_LEVEL)
    previous = incident.level
    incident.level = level
    incident.save(update_fields=["level"])
    _entry(incident, actor, "level", previous=previous.code, level=level.code)
    audit_record(
        actor=actor,
        action="incident.level",
        target=incident,
        data={"previous": previous.code, "level": level.code},
    )
    announce(
        incident=incident,
        sender=actor,
        body=_("%(title)s: the level changes from %(previous)s to %(level)s.")
        % {"title": incident.title, "previous": previous.name, "level": level.name},
        priority=Message.Priority.IMPORTANT,
    )
    _changed(incident)
    return incident


@transaction.atomic
def incident_end(*, incident: Incident, actor: User | None, reason: str = "") -> Incident:
    """End disaster mode (``actor=None``: the JMA feed cancelled what it started)."""
    if actor is not None and not selectors.user_can_declare(user=actor):
        raise PermissionDenied(ERR_CANNOT_DECLARE)
    incident = _open(incident)
    incident.ended_at = clock.now()
    incident.save(update_fields=["ended_at"])
    _entry(incident, actor, "end", reason=reason)
    audit_record(actor=actor, action="incident.end", target=incident, data={"reason": reason})
    announce(
        incident=incident,
        sender=actor,
        body=_("Disaster mode has ended: %(title)s.") % {"title": incident.title},
        priority=Message.Priority.IMPORTANT,
    )
    _changed(incident)
    return incident
