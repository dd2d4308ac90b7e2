from django import forms
from django.utils.translation import gettext_lazy as _

from directory.models import OrgUnit
from messaging.models import CommandGroup

from .models import Inject, Run


class RunStartForm(forms.Form):
    speed = forms.TypedChoiceField(
        label=_("Speed"), choices=[(1, "1×"), (2, "2×"), (5, "5×")], coerce=int, initial=1
    )
    start_at = forms.DateTimeField(
        label=_("Start at (empty: now)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    on_real_incident = forms.ChoiceField(
        label=_("If a real disaster is declared"),
        choices=Run.OnRealIncident.choices,
        initial=Run.OnRealIncident.STOP,
    )
    units = forms.ModelMultipleChoiceField(
        label=_("Only these bureaus and wards take part (none ticked: everyone)"),
        queryset=OrgUnit.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # The city's bureaus, wards and offices: the level a drill is played at.
        self.fields["units"].queryset = OrgUnit.objects.filter(
            parent__isnull=False, parent__parent__isnull=True, is_active=True
        ).order_by("sort_order", "name")


class AddInjectForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[
            (Inject.Kind.SITUATION, Inject.Kind.SITUATION.label),
            (Inject.Kind.CALL, Inject.Kind.CALL.label),
        ],
    )
    group = forms.ModelChoiceField(
        label=_("To group"),
        queryset=CommandGroup.objects.filter(is_active=True).exclude(kind=CommandGroup.Kind.DIRECT),
        required=False,
    )
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 3}))
    minutes = forms.FloatField(label=_("In (minutes)"), min_value=0, initial=0)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
