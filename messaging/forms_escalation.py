from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import EscalationPolicy

MINUTE_FIELDS = ("first_after", "repeat_every", "deputy_wait")


def minutes_from_seconds(seconds: int) -> int | float:
    """5 for 300 s, 0.5 for 30 s: whole minutes show without a decimal point."""
    minutes = round(seconds / 60, 2)
    return int(minutes) if minutes == int(minutes) else minutes


def _minutes_input() -> forms.NumberInput:
    # step "any": drills and tests use fractions (0.5 = 30 s); the number pad on phones.
    return forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"})


class PolicyForm(forms.Form):
    """Minutes in the form, seconds in the database (tests and drills use short delays)."""

    enabled = forms.BooleanField(
        label=_("Chase unanswered instructions"),
        required=False,
        help_text=_("Off: instructions of this priority are never chased."),
    )
    stop_on = forms.ChoiceField(
        label=_("Stop chasing when the member has"),
        choices=EscalationPolicy.StopOn.choices,
        help_text=_("Read: opening the instruction is enough. Acknowledged: only 了解 is."),
    )
    first_after = forms.FloatField(
        label=_("First reminder after (minutes)"),
        min_value=0.02,
        max_value=1440,
        widget=_minutes_input(),
        help_text=_("Counted from sending. Fractions such as 0.5 are allowed (drills)."),
    )
    repeat_every = forms.FloatField(
        label=_("Repeat every (minutes)"), min_value=0.02, max_value=1440, widget=_minutes_input()
    )
    repeat_count = forms.IntegerField(
        label=_("Number of repeats"),
        min_value=0,
        max_value=20,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text=_("0: one reminder only."),
    )
    use_deputies = forms.BooleanField(
        label=_("Then hand it to the post's deputies, in order"),
        required=False,
        help_text=_(
            "Each deputy in turn, then the sender and the crisis management office are told "
            "who is still unreached."
        ),
    )
    deputy_wait = forms.FloatField(
        label=_("Each deputy has (minutes)"),
        min_value=0.02,
        max_value=1440,
        widget=_minutes_input(),
    )

    def __init__(self, *args, initial=None, **kwargs):
        kwargs.setdefault("label_suffix", "")  # a Japanese label takes no ":" after it
        if initial:
            initial = dict(initial)
            for name in MINUTE_FIELDS:
                initial[name] = minutes_from_seconds(initial[name])
        super().__init__(*args, initial=initial, **kwargs)

    def policy(self) -> dict:
        data = dict(self.cleaned_data)
        for name in MINUTE_FIELDS:
            data[name] = max(1, round(data[name] * 60))
        return data

    def readonly_rows(self) -> list[tuple[str, str]]:
        """(label, value) for people who may see but not change the policy."""
        rows = []
        for field in self:
            value = self.initial.get(field.name)
            if isinstance(field.field, forms.BooleanField):
                shown = gettext("Yes") if value else gettext("No")
            elif field.name == "stop_on":
                shown = str(EscalationPolicy.StopOn(value).label)
            else:  # minutes (the label says so) and the number of repeats
                shown = str(value)
            rows.append((str(field.label), shown))
        return rows
