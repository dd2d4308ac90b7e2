"""Queries compiled once per process (safety/prepared.py) give what the ORM gives."""

from __future__ import annotations

import pytest

from safety import answers, rounds
from safety.models import SafetyRequest
from safety.prepared import Prepared
from tests.safety.conftest import SAFE

pytestmark = pytest.mark.django_db


def _full(pk):
    return SafetyRequest.objects.select_related(
        "round", "staff", "staff__unit", "unit", "answer"
    ).filter(pk=pk)


def test_a_prepared_lookup_is_the_orm_lookup_in_one_query(city, django_assert_num_queries):
    round_ = rounds.round_start(actor=city.mayor, title="北部地震", target={"all": True})
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    answers.answer_from_link(request=request, data={**SAFE, "comment": "無事です"})
    prepared = Prepared(_full)
    expected = _full(request.pk).get()

    for _ in range(2):  # compiled on the first call, reused on the second
        with django_assert_num_queries(1):
            got = prepared.first(request.pk)
            # Everything the pages read comes with it: no further query.
            seen = (
                got.round.questions,
                got.round.status,
                got.staff.full_name,
                got.staff.unit.name,
                got.unit.path,
                got.answer.values,
            )

    assert got.pk == expected.pk and got.nonce == expected.nonce
    assert seen[0] == expected.round.questions and seen[5]["comment"] == "無事です"
    assert got.answer.at == expected.answer.at and got.first_answer_at == expected.first_answer_at
    assert seen[2:4] == (expected.staff.full_name, expected.staff.unit.name)
    assert prepared.first(request.pk + 10_000) is None


def test_a_query_with_more_than_the_one_value_is_refused(city):
    prepared = Prepared(lambda pk: SafetyRequest.objects.filter(pk=pk, resends=3))

    with pytest.raises(ValueError, match="one-parameter"):
        prepared.first(1)
