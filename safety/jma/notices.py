"""The proposal to declare disaster mode (a notification kind of its own, registered in
safety's AppConfig.ready): sent to the crisis-management office when the feed reports the
proposal threshold (震度5弱) in our codes, and withdrawn when the JMA cancels the report."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils.translation import gettext as _

from notifications import kinds
from notifications.models import Notification
from notifications.services import notification_new, notifications_create

from .models import JmaReport
from .scale import label

KIND_PROPOSAL = "safety_proposal"
PROPOSAL_CHANNELS = (Notification.Channel.IN_APP, Notification.Channel.PUSH)


def proposal_texts(note: Notification) -> kinds.Texts:
    data = note.data or {}
    drill = _("[DRILL] ") if data.get("drill") else ""
    values = {"intensity": label(data.get("intensity", "")), "places": data.get("places", "")}
    if data.get("withdrawn"):
        return kinds.Texts(
            drill + _("Proposal withdrawn: the JMA cancelled its report"),
            _(
                "The JMA cancelled its report of intensity %(intensity)s in %(places)s. The "
                "safety round it started is closed."
            )
            % values,
            reverse("safety:index"),
        )
    return kinds.Texts(
        drill + _("Declare disaster mode? Intensity %(intensity)s in %(places)s") % values,
        _(
            "The JMA reports intensity %(intensity)s in %(places)s. A safety round for the staff "
            "there has started. Declare disaster mode if the situation calls for it."
        )
        % values,
        reverse("safety:declare"),
    )


def proposal_send(
    *,
    report: JmaReport,
    user_ids: list[int],
    once_key: str,
    data: dict,
    created_at,
) -> int:
    """In the app and by push to each person, once per ``once_key`` (call inside the step's
    transaction). Returns how many notifications were written."""
    subject = ContentType.objects.get_for_model(JmaReport)
    notes = [
        notification_new(
            user_id=user_id,
            channel=channel,
            kind=KIND_PROPOSAL,
            subject_type=subject,
            subject_id=report.pk,
            data=data,
            once_key=once_key,
            created_at=created_at,
        )
        for user_id in user_ids
        for channel in PROPOSAL_CHANNELS
    ]
    return len(notifications_create(notes=notes))


def register() -> None:
    kinds.register(kinds.Kind(KIND_PROPOSAL, render=proposal_texts))
