"""The evaluator's form on the after-action report: per objective a rating (P/S/M/U) and
strengths and areas for improvement. Fields are numbered by the objective's place in the
report (the objectives' own text can be anything)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .evaluation import RATINGS, TEXT_MAX


class EvaluationForm(forms.Form):
    def __init__(self, *args, objectives: list[str], saved: dict | None = None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.objectives = objectives
        saved = saved or {}
        for i, objective in enumerate(objectives):
            values = saved.get(objective, {})
            self.fields[f"rating_{i}"] = forms.ChoiceField(
                label=_("Rating"),
                choices=[("", _("not rated yet"))] + list(RATINGS),
                required=False,
                initial=values.get("rating", ""),
                widget=forms.RadioSelect,
            )
            self.fields[f"strengths_{i}"] = forms.CharField(
                label=_("Strengths"),
                required=False,
                max_length=TEXT_MAX,
                initial=values.get("strengths", ""),
                widget=forms.Textarea(attrs={"rows": 3}),
            )
            self.fields[f"improvements_{i}"] = forms.CharField(
                label=_("Areas for improvement"),
                required=False,
                max_length=TEXT_MAX,
                initial=values.get("improvements", ""),
                widget=forms.Textarea(attrs={"rows": 3}),
            )

    def sections(self) -> list[tuple[int, str, list[forms.BoundField]]]:
        return [
            (
                i,
                objective,
                [self[f"{name}_{i}"] for name in ("rating", "strengths", "improvements")],
            )
            for i, objective in enumerate(self.objectives)
        ]

    def ratings(self) -> dict[str, dict[str, str]]:
        data = self.cleaned_data
        return {
            objective: {
                "rating": data.get(f"rating_{i}", ""),
                "strengths": data.get(f"strengths_{i}", ""),
                "improvements": data.get(f"improvements_{i}", ""),
            }
            for i, objective in enumerate(self.objectives)
        }


class CompareForm(forms.Form):
    """Which runs of the scenario to compare: ?runs=1,2 (a link) or ?run=1&run=2 (the page's
    checkboxes). Runs of other scenarios are ignored; at most six."""

    runs = forms.CharField(required=False)

    def __init__(self, *args, choices: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.choices = set(choices)

    def clean(self) -> dict:
        data = super().clean()
        parts = list(self.data.getlist("run")) if hasattr(self.data, "getlist") else []
        parts += (data.get("runs") or "").split(",")
        data["ids"] = self._ids(parts)
        return data

    def _ids(self, parts: list[str]) -> list[int]:
        ids = []
        for part in parts:
            part = part.strip()
            if part.isdigit() and int(part) in self.choices and int(part) not in ids:
                ids.append(int(part))
        return ids[:6]
