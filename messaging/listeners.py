"""What messaging plugs into the apps below it (registered in apps.py): what a change of a
post's holder means for live group membership, and how its notification kinds read."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from directory import hooks
from notifications import kinds
from notifications.models import Notification
from realtime.events import channel_group, send_events_on_commit

from .events import MembershipChanged
from .models import EXERCISE_MARK, Chase, GroupMembership, Message, StandIn

KIND_REMINDER = "reminder"  # you are being chased for an instruction
KIND_ESCALATION = "escalation"  # an instruction was handed to you as a post's deputy
KIND_UNREACHED = "unreached"  # to the sender and the crisis office: who stayed unreached
KIND_INSTRUCTION = "instruction"  # an important/urgent instruction, at once (alerts.py)


def on_access_changed(change: hooks.AccessChange) -> None:
    """Groups address posts: the new holder joins them at once and the old one leaves, even on
    websockets already open (their sockets re-read their memberships)."""
    if change.reason != hooks.REASON_POST_HOLDER or not change.user_ids:
        return
    group_ids = GroupMembership.objects.filter(post_id=change.post_id).values_list(
        "group_id", flat=True
    )
    send_events_on_commit(
        [
            (MembershipChanged(group=gid), [channel_group("usr", uid) for uid in change.user_ids])
            for gid in group_ids
        ]
    )


# --- notification kinds --------------------------------------------------------------------
def _message(note: Notification) -> Message:
    return Message.objects.get(pk=note.subject_id)


def _marked(message: Message, title: str) -> str:
    """Exercise traffic says so first, on every channel (push, e-mail, banner)."""
    return f"{EXERCISE_MARK}{title}" if message.exercise else title


def _excerpt(message: Message) -> str:
    return f"{message.sender_name}: {(message.body or '')[:80]}"


def _in_group(message: Message) -> str:
    return f"{reverse('messaging:group_detail', args=[message.group_id])}#msg-{message.seq}"


def _stand_in(note: Notification) -> StandIn | None:
    return StandIn.objects.filter(chase_id=note.data.get("chase"), deputy_id=note.user_id).first()


def instruction_texts(note: Notification) -> kinds.Texts:
    message = _message(note)
    if message.priority == Message.Priority.URGENT:
        title = _("Urgent instruction from %(sender)s") % {"sender": message.sender_name}
    else:
        title = _("Important instruction from %(sender)s") % {"sender": message.sender_name}
    first_line = (message.body or "").strip().splitlines()[0:1]
    return kinds.Texts(
        _marked(message, title), (first_line[0] if first_line else "")[:120], _in_group(message)
    )


def reminder_texts(note: Notification) -> kinds.Texts:
    message = _message(note)
    return kinds.Texts(
        _marked(message, _("Reminder: please respond to this instruction")),
        _excerpt(message),
        _in_group(message),
    )


def escalation_texts(note: Notification) -> kinds.Texts:
    message = _message(note)
    stand_in = _stand_in(note)
    chase = Chase.objects.select_related("receipt__user__staff").filter(pk=note.data.get("chase"))
    holder = chase[0].receipt.user.display_name() if chase else ""
    link = (
        reverse("messaging:standin_detail", args=[stand_in.pk]) if stand_in else _in_group(message)
    )
    return kinds.Texts(
        _marked(message, _("Standing in for %(holder)s") % {"holder": holder}),
        _excerpt(message),
        link,
    )


def unreached_texts(note: Notification) -> kinds.Texts:
    message = _message(note)
    return kinds.Texts(
        _marked(message, _("Still unreached: %(names)s") % {"names": note.detail[:120]}),
        _excerpt(message),
        reverse("messaging:message_receipts", args=[message.pk]),
    )


def unreached_open(note: Notification) -> str:
    """In the app, the report opens the chase page (who was reminded, who stood in)."""
    return reverse("messaging:message_chase", args=[note.subject_id])


def register_notification_kinds() -> None:
    kinds.register(kinds.Kind(KIND_INSTRUCTION, render=instruction_texts))
    kinds.register(kinds.Kind(KIND_REMINDER, render=reminder_texts))
    kinds.register(kinds.Kind(KIND_ESCALATION, render=escalation_texts))
    kinds.register(kinds.Kind(KIND_UNREACHED, render=unreached_texts, open=unreached_open))
