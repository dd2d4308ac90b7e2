"""How safety's notifications read, and the private-address e-mail channel (registered in
apps.py). The link in a request is the person's own answer link, built again for every send."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from notifications import channels, kinds
from notifications.models import Notification

from .links import link_token
from .models import SafetyContact, SafetyRequest
from .notify import CHANNEL_PRIVATE_EMAIL, KIND_REQUEST


def public_url(path: str) -> str:
    base = (settings.HONBU_PUBLIC_URL or "").rstrip("/")
    return f"{base}{path}"


def request_prefetch(notes: list[Notification]) -> None:
    """A delivery batch's requests (with round and staff) in one query."""
    found = SafetyRequest.objects.select_related("round", "staff").in_bulk(
        {note.subject_id for note in notes}
    )
    for note in notes:
        note._safety_request = found.get(note.subject_id)


def request_texts(note: Notification) -> kinds.Texts:
    request = getattr(note, "_safety_request", None) or (
        SafetyRequest.objects.select_related("round", "staff").get(pk=note.subject_id)
    )
    round_ = request.round
    drill = _("[DRILL] ") if round_.is_drill else ""
    if note.channel in (Notification.Channel.IN_APP, Notification.Channel.PUSH):
        link = reverse("safety:answer_in_app", args=[round_.pk])
    else:
        link = reverse(
            "safety:answer", args=[link_token(request_id=request.pk, nonce=request.nonce)]
        )
    step = (note.once_key or "").rsplit(":", 1)[-1]
    again = "" if step == "start" else _("(reminder) ")
    return kinds.Texts(
        f"{drill}{again}" + _("Safety confirmation: %(title)s") % {"title": round_.title},
        _(
            "%(name)s, please tell us whether you are safe and whether you can come in. "
            "It takes a minute; no sign-in is needed."
        )
        % {"name": request.staff.full_name},
        link,
    )


def _private_email(note: Notification, texts: kinds.Texts) -> tuple[str, str]:
    contact = SafetyContact.objects.filter(staff_id=note.staff_id).first()
    if contact is None or not contact.email:
        return Notification.Status.SKIPPED, "no private address"
    link = texts.link if "://" in texts.link else public_url(texts.link)
    channels.email_send(
        note,
        to=contact.email,
        subject=f"[{settings.HONBU_SITE_NAME}] {texts.title}",
        body=f"{texts.body}\n\n{link}\n",
    )
    return Notification.Status.SENT, contact.email


def register() -> None:
    kinds.register(kinds.Kind(KIND_REQUEST, render=request_texts, prefetch=request_prefetch))
    channels.register(
        channels.Channel(CHANNEL_PRIVATE_EMAIL, immediate=False, deliver=_private_email)
    )
