from django import forms
from django.utils.translation import gettext_lazy as _

from directory.models import OrgUnit

from .models import Incident, IncidentLevel


class DeclareForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=Incident.Kind.choices)
    level = forms.ModelChoiceField(label=_("Level"), queryset=IncidentLevel.objects.all())
    affected_units = forms.ModelMultipleChoiceField(
        label=_("Affected area (none: the whole city)"),
        queryset=OrgUnit.objects.filter(kind=OrgUnit.Kind.WARD, is_active=True).order_by(
            "sort_order", "code"
        ),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    started_at = forms.DateTimeField(
        label=_("Started at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    start_round = forms.BooleanField(
        label=_("Start a safety confirmation now"), required=False, initial=True
    )
    round_target = forms.ChoiceField(
        label=_("Ask"),
        choices=[
            ("affected", _("Staff whose workplace is in the affected area")),
            ("all", _("All staff")),
        ],
        initial="affected",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class LevelForm(forms.Form):
    level = forms.ModelChoiceField(label=_("New level"), queryset=IncidentLevel.objects.all())

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
