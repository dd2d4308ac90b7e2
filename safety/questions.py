"""The questions of a safety round (a template copied into each round) and the validation of
an answer against them. The default follows what staff are asked by the leading services:
本人・家族・住居・参集 (可能 / 遅れて可能 + 到着見込み / 不可)・参集先・コメント.

Labels are English msgids translated when shown (a template written in the admin may use plain
Japanese text, which is shown as written)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

ERR_REQUIRED = gettext_lazy("Please answer this question.")
ERR_CHOICE = gettext_lazy("Please choose one of the answers.")
ERR_TIME = gettext_lazy("Please give a time as HH:MM, for example 09:30.")
ERR_TOO_LONG = gettext_lazy("Please keep it under %(max)d characters.")
ERR_PLACE = gettext_lazy("Please choose where you will go.")

CHOICE, TIME, TEXT, PLACE = "choice", "time", "text", "place"
OWN_OFFICE, OFFICE, OTHER_PLACE = "own", "office", "other"

DEFAULT_QUESTIONS: dict[str, Any] = {
    "questions": [
        {
            "key": "self",
            "label": gettext_noop("Are you safe?"),
            "type": CHOICE,
            "required": True,
            "choices": [
                ["safe", gettext_noop("Safe")],
                ["minor", gettext_noop("Slightly injured")],
                ["serious", gettext_noop("Seriously injured")],
            ],
        },
        {
            "key": "family",
            "label": gettext_noop("Your family"),
            "type": CHOICE,
            "required": True,
            "choices": [
                ["safe", gettext_noop("All safe")],
                ["injured", gettext_noop("Someone is injured")],
                ["unknown", gettext_noop("Not yet known")],
            ],
        },
        {
            "key": "home",
            "label": gettext_noop("Your home"),
            "type": CHOICE,
            "required": True,
            "choices": [
                ["ok", gettext_noop("No damage")],
                ["partial", gettext_noop("Partly damaged")],
                ["uninhabitable", gettext_noop("Cannot live there")],
            ],
        },
        {
            "key": "attend",
            "label": gettext_noop("Can you come in?"),
            "type": CHOICE,
            "required": True,
            "choices": [
                ["yes", gettext_noop("Yes, now")],
                ["late", gettext_noop("Yes, later")],
                ["no", gettext_noop("Cannot come in")],
            ],
        },
        {
            "key": "eta",
            "label": gettext_noop("Expected arrival (HH:MM)"),
            "type": TIME,
            "when": ["late"],
        },
        {
            "key": "place",
            "label": gettext_noop("Where will you go?"),
            "type": PLACE,
            "when": ["yes", "late"],
        },
        {"key": "comment", "label": gettext_noop("Comment"), "type": TEXT, "max": 500},
    ]
}
ATTEND_KEY = "attend"  # the question whose answer the assembly board follows
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def question_list(template: dict) -> list[dict]:
    return list(template.get("questions") or DEFAULT_QUESTIONS["questions"])


def answer_clean(
    *, template: dict, data: dict[str, Any], place_ids: set[int]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check an answer (form data: strings) against the round's questions. Returns the values
    to store and the errors by question key (translated); values are only valid without errors.
    A question with ``when`` is asked only when the attendance answer is one of those."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    attend = str(data.get(ATTEND_KEY) or "")
    for q in question_list(template):
        key, kind = q["key"], q.get("type", CHOICE)
        raw = data.get(key)
        raw = raw.strip() if isinstance(raw, str) else ""
        if "when" in q and attend not in q["when"]:
            continue
        if kind == CHOICE:
            keys = [c[0] for c in q["choices"]]
            if not raw:
                if q.get("required"):
                    errors[key] = str(ERR_REQUIRED)
            elif raw not in keys:
                errors[key] = str(ERR_CHOICE)
            else:
                values[key] = raw
        elif kind == TIME:
            if not raw:
                errors[key] = str(ERR_REQUIRED)
            elif not _TIME.match(raw):
                errors[key] = str(ERR_TIME)
            else:
                hours, minutes = raw.split(":")
                values[key] = f"{int(hours):02d}:{minutes}"
        elif kind == PLACE:
            other = str(data.get(f"{key}_other") or "").strip()
            if raw == OFFICE:  # "another office", chosen in the list beside it
                raw = str(data.get(f"{key}_place") or "").strip()
            if raw == OWN_OFFICE:
                values[key] = OWN_OFFICE
            elif raw == OTHER_PLACE and other and len(other) <= 100:
                values[key], values[f"{key}_other"] = OTHER_PLACE, other
            elif raw.isdigit() and int(raw) in place_ids:
                values[key] = int(raw)
            else:
                errors[key] = str(ERR_PLACE)
        elif kind == TEXT:
            limit = int(q.get("max", 500))
            if len(raw) > limit:
                errors[key] = str(ERR_TOO_LONG) % {"max": limit}
            elif raw:
                values[key] = raw
    return values, errors


def answer_labels(*, template: dict, values: dict[str, Any], places: dict[int, str]) -> list:
    """(question, answer) in the reader's language, for pages and exports."""
    out = []
    for q in question_list(template):
        key = q["key"]
        if key not in values:
            continue
        value = values[key]
        if q.get("type", CHOICE) == CHOICE:
            label = dict(q["choices"]).get(value, value)
            text = _(label)
        elif q.get("type") == PLACE:
            if value == OWN_OFFICE:
                text = _("My own office")
            elif value == OTHER_PLACE:
                text = values.get(f"{key}_other", "")
            else:
                text = places.get(value, str(value))
        else:
            text = str(value)
        out.append((_(q["label"]), text))
    return out


def questions_check(template: dict) -> None:
    """Raise ValidationError if a template written in the admin is malformed."""
    try:
        qs = question_list(template)
        keys = [q["key"] for q in qs]
        assert len(keys) == len(set(keys))
        for q in qs:
            assert q.get("type", CHOICE) in (CHOICE, TIME, TEXT, PLACE)
            if q.get("type", CHOICE) == CHOICE:
                assert all(len(c) == 2 for c in q["choices"])
        assert ATTEND_KEY in keys
    except (AssertionError, KeyError, TypeError) as exc:
        raise ValidationError(_("The questions are not valid.")) from exc
