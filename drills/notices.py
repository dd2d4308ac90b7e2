"""How the drills' notifications read."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from notifications import kinds
from notifications.models import Notification


def call_texts(note: Notification) -> kinds.Texts:
    run_id = (note.data or {}).get("run")
    link = reverse("drills:run_control", args=[run_id]) if run_id else "/"
    return kinds.Texts(_("[DRILL] ") + _("Make this call now"), note.detail, link)
