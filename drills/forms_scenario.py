"""Forms of the scenario editor: a scenario's title, an inject with its expected actions (one
row each: a check, minutes, a percentage for safety answers, posts), and a MSEL upload."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from directory.models import Post
from messaging.models import CommandGroup, Message

from . import msel
from .models import Inject, Scenario

ERR_MINUTES = _("Give the minutes (1 to 1440).")
ERR_PERCENT = _("Give the share of answers (1 to 100%).")
ERR_PERCENT_ONLY_SAFETY = _("A percentage is only for safety answers.")
ERR_POSTS_SAFETY = _("Safety answers are counted for everyone, not for posts.")
ERR_CHECK_MISSING = _("Choose what is expected, or clear the row.")


class _Form(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ScenarioForm(_Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class ImportForm(_Form):
    file = forms.FileField(
        label=_("MSEL file (CSV or Excel)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,.txt"}),
    )
    title = forms.CharField(
        label=_("Title of the new scenario (empty: the file's name)"),
        max_length=120,
        required=False,
    )


class InjectForm(_Form):
    number = forms.IntegerField(label=_("Number"), min_value=1, max_value=99999)
    time = forms.CharField(
        label=_("Time from the start"),
        max_length=9,
        help_text=_("mm:ss or hh:mm:ss, e.g. 05:00 or 01:30:00"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "05:00"}),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Inject.Kind.choices)
    from_post = forms.ModelChoiceField(
        label=_("From"),
        queryset=Post.objects.order_by("sort_order", "pk"),
        required=False,
        empty_label=_("Control cell (統制部)"),
    )
    to_group = forms.ModelChoiceField(
        label=_("To group"),
        queryset=CommandGroup.objects.filter(is_active=True)
        .exclude(kind=CommandGroup.Kind.DIRECT)
        .order_by("kind", "name"),
        required=False,
        empty_label="—",
    )
    to_units = forms.CharField(
        label=_("To units"),
        required=False,
        help_text=_(
            "Unit codes (or names) separated by spaces or ・. A safety round asks these units "
            "(empty: all staff)."
        ),
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=Message.Priority.choices, initial=Message.Priority.URGENT
    )
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 4}))
    objective = forms.CharField(label=_("Objective"), max_length=200, required=False)
    contingency = forms.ModelChoiceField(
        label=_("Contingency inject (fired when an expectation is missed)"),
        queryset=Inject.objects.none(),
        required=False,
        empty_label="—",
    )
    only_as_contingency = forms.BooleanField(
        label=_("Only as a contingency (not on the timeline)"), required=False
    )

    def __init__(
        self, *args: Any, scenario: Scenario, inject: Inject | None, lookup: msel.Lookup, **kw
    ):
        super().__init__(*args, **kw)
        self.lookup = lookup
        others = scenario.injects.all()
        if inject is not None:
            others = others.exclude(pk=inject.pk)
        self.fields["contingency"].queryset = others.order_by("number")
        self.fields["contingency"].label_from_instance = lambda i: f"#{i.number} {i.text[:40]}"

    def clean_time(self) -> int:
        offset = msel.offset_parse(self.cleaned_data["time"])
        if offset is None:
            raise forms.ValidationError(msel.ERR_TIME)
        return offset

    def clean_to_units(self) -> list:
        units, errors = self.lookup.units(self.cleaned_data["to_units"])
        if errors:
            raise forms.ValidationError(errors)
        return units

    @staticmethod
    def initial_for(inject: Inject) -> dict[str, Any]:
        return {
            "number": inject.number,
            "time": msel.offset_format(inject.offset),
            "kind": inject.kind,
            "from_post": inject.from_post_id,
            "to_group": inject.to_group_id,
            "to_units": " ".join(u.code for u in inject.to_units.order_by("code")),
            "priority": inject.priority,
            "text": inject.text,
            "objective": inject.objective,
            "contingency": inject.contingency_id,
            "only_as_contingency": inject.only_as_contingency,
        }


class ExpectationForm(forms.Form):
    check = forms.ChoiceField(
        label=_("Expected action"),
        required=False,
        choices=[
            ("", "—"),
            ("read", _("Read within")),
            ("ack", _("了解 within")),
            ("reply", _("Reply within")),
            ("safety", _("Safety answers within")),
        ],
    )
    minutes = forms.FloatField(label=_("Minutes"), required=False, min_value=1, max_value=1440)
    percent = forms.FloatField(label=_("At least (%)"), required=False, min_value=1, max_value=100)
    posts = forms.CharField(
        label=_("Only these posts (names or codes; empty: everyone)"),
        required=False,
        widget=forms.TextInput(attrs={"list": "post-names"}),  # the page's <datalist>
    )

    def __init__(self, *args: Any, lookup: msel.Lookup, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lookup = lookup

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        check = data.get("check")
        if not check:
            if any(data.get(name) not in (None, "") for name in ("minutes", "percent", "posts")):
                self.add_error("check", ERR_CHECK_MISSING)
            return data
        if data.get("minutes") is None and "minutes" not in self.errors:
            self.add_error("minutes", ERR_MINUTES)
        posts, errors = [], []
        for word in msel.LIST_SPLIT.split(data.get("posts") or ""):
            if word:
                name, error = self.lookup.post_name(word)
                if error:
                    errors.append(error)
                else:
                    posts.append(name)
        if check == "safety":
            if data.get("percent") is None and "percent" not in self.errors:
                self.add_error("percent", ERR_PERCENT)
            if posts or errors:
                self.add_error("posts", ERR_POSTS_SAFETY)
        else:
            if data.get("percent") is not None:
                self.add_error("percent", ERR_PERCENT_ONLY_SAFETY)
            if errors:
                self.add_error("posts", errors)
        data["post_names"] = posts
        return data

    def spec(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if not data.get("check"):
            return None
        return msel.expectation_new(
            check=data["check"],
            minutes=data["minutes"],
            percent=data.get("percent"),
            posts=data.get("post_names"),
        )

    @staticmethod
    def initial_for(spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "check": spec.get("check"),
            "minutes": spec.get("minutes"),
            "percent": spec.get("percent"),
            "posts": " ".join(spec.get("posts") or []),
        }


class BaseExpectationFormSet(forms.BaseFormSet):
    def specs(self) -> list[dict[str, Any]]:
        return [s for s in (f.spec() for f in self.forms) if s is not None]


def expectation_formset(
    data: Any, *, expectations: list[dict[str, Any]], lookup: msel.Lookup
) -> BaseExpectationFormSet:
    """A row per expected action and two empty rows to add more (save to get more rows)."""
    formset_class = forms.formset_factory(
        ExpectationForm, formset=BaseExpectationFormSet, extra=2, max_num=12
    )
    return formset_class(
        data,
        prefix="exp",
        initial=[ExpectationForm.initial_for(s) for s in expectations],
        form_kwargs={"lookup": lookup},
    )
