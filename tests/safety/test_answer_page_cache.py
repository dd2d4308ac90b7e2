"""The blank form's questions, rendered once per round, language and set of places
(safety/views_answer.py): the page is the same as rendered afresh, in each language, and a
change of places or of language is never served from the other's copy."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from safety import rounds, views_answer
from safety.links import link_token
from safety.models import AssemblyPlace, SafetyRequest

pytestmark = pytest.mark.django_db


def _strip(html: str) -> str:
    """Without what differs on every page (the once-key, the CSRF token)."""
    return re.sub(r'value="[A-Za-z0-9_-]{16,64}"', 'value=""', html)


def _afresh(sr, places) -> str:
    context = views_answer._form_context(sr, data={}, errors={}, index=None)
    context["fields_html"] = ""
    context["fields"] = views_answer._fields(sr.round.questions, {}, {}, places)
    return render_to_string("safety/answer.html", context)


def test_the_cached_questions_are_the_questions_rendered_afresh(city, client):
    round_ = rounds.round_start(actor=city.mayor, title="北部地震", target={"all": True})
    sr = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    url = f"/s/{link_token(request_id=sr.pk, nonce=sr.nonce)}/"
    views_answer._BLANK_FIELDS.clear()

    for language in ("ja", "en"):
        with translation.override(language):
            places = dict(AssemblyPlace.objects.filter(is_active=True).values_list("id", "name"))
            fresh = _afresh(sr, places)
            cached = render_to_string("safety/answer.html", views_answer._form_context(sr))
            assert _strip(cached) == _strip(fresh)
    assert len(views_answer._BLANK_FIELDS) == 2  # one per language

    AssemblyPlace.objects.create(name="臨時参集所")
    page = client.get(url).content.decode()
    assert "臨時参集所" in page  # a new place is a new key, not the old copy
