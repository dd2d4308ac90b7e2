"""The JMA seismic intensity scale (震度階級) as the reports write it, and its order."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# MaxInt / Int values in JMA XML, weakest first. "5-" is 5弱, "5+" 5強, and so on.
SCALE = ["1", "2", "3", "4", "5-", "5+", "6-", "6+", "7"]
RANK = {value: i + 1 for i, value in enumerate(SCALE)}
# A city whose stations have not reported yet but where 5弱 or more is estimated is listed with
# this Condition (and no MaxInt); it counts as at least 5弱.
UNRECEIVED = "震度５弱以上未入電"

LABELS = {
    "1": "1",
    "2": "2",
    "3": "3",
    "4": "4",
    "5-": _("5 lower"),
    "5+": _("5 upper"),
    "6-": _("6 lower"),
    "6+": _("6 upper"),
    "7": "7",
}
# What the rules may be set to: 4 to 7.
THRESHOLD_CHOICES = [(value, LABELS[value]) for value in SCALE[3:]]


def rank(value: str) -> int:
    """0 for anything that is not an intensity (an empty MaxInt, "不明")."""
    return RANK.get(value, 0)


def label(value: str) -> str:
    return str(LABELS.get(value, value))
