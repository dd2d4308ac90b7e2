"""How the notifications app's own kind reads."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from .kinds import Texts
from .models import Notification


def test_texts(note: Notification) -> Texts:
    return Texts(
        _("Honbu test notification"),
        _("Notifications reach this device."),
        reverse("notifications:settings"),
    )
