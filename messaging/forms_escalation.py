from django import forms
from django.utils.translation import gettext_lazy as _

from .models import EscalationPolicy


class PolicyForm(forms.Form):
    """Minutes in the form, seconds in the database (tests and drills use short delays)."""

    enabled = forms.BooleanField(label=_("Chase unanswered instructions"), required=False)
    stop_on = forms.ChoiceField(
        label=_("Stop chasing when the member has"), choices=EscalationPolicy.StopOn.choices
    )
    first_after = forms.FloatField(
        label=_("First reminder after (minutes)"), min_value=0.02, max_value=1440
    )
    repeat_every = forms.FloatField(
        label=_("Repeat every (minutes)"), min_value=0.02, max_value=1440
    )
    repeat_count = forms.IntegerField(label=_("Number of repeats"), min_value=0, max_value=20)
    use_deputies = forms.BooleanField(
        label=_("Then hand it to the post's deputies, in order"), required=False
    )
    deputy_wait = forms.FloatField(
        label=_("Each deputy has (minutes)"), min_value=0.02, max_value=1440
    )

    def __init__(self, *args, initial=None, **kwargs):
        if initial:
            initial = dict(initial)
            for name in ("first_after", "repeat_every", "deputy_wait"):
                initial[name] = round(initial[name] / 60, 2)
        super().__init__(*args, initial=initial, **kwargs)

    def policy(self) -> dict:
        data = dict(self.cleaned_data)
        for name in ("first_after", "repeat_every", "deputy_wait"):
            data[name] = max(1, round(data[name] * 60))
        return data
