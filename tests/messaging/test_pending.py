"""The commander's view of an instruction: who has NOT answered, first, grouped by bureau/ward
in the unit tree's order with post holders first, the deputy in charge, filters with counts,
a page at a time, and the same few queries at 2,000 members as at 20."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import escalation, selectors, services
from messaging.models import CommandGroup, GroupMembership
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def member(unit, name, *, kana="", mobile=""):
    user = UserFactory(role="hq_member")
    StaffFactory(
        user=user,
        unit=unit,
        family_name=name,
        given_name="太郎",
        family_kana=kana or "ん",
        given_kana="たろう",
        mobile=mobile,
    )
    return user


@pytest.fixture
def city():
    """City → 危機管理室 (sort 1) → 北区 (sort 2), each with a section; the commander in the
    crisis office; 北区 has its ward head (a post), a staff member and a deputy for the post."""
    root = OrgUnitFactory(name="大阪市", kind="city")
    crisis = OrgUnitFactory(name="危機管理室", kind="bureau", parent=root, sort_order=1)
    kita = OrgUnitFactory(name="北区", kind="ward", parent=root, sort_order=2)
    kita_section = OrgUnitFactory(name="総務課", parent=kita)
    crisis_section = OrgUnitFactory(name="危機管理課", parent=crisis)
    mayor = member(crisis_section, "市長")
    ward_head = member(kita_section, "北区長", kana="わ", mobile="090-0000-0001")
    kita_staff = member(kita_section, "北区職員", kana="あ")
    crisis_staff = member(crisis_section, "危機職員")
    observer = member(crisis_section, "秘書")
    deputy = member(kita_section, "北副区長")
    group = services.group_create(name="本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None)
    head_post = PostFactory(name="本部長", holder=mayor.staff, sort_order=1)
    kita_post = PostFactory(name="北区長", holder=ward_head.staff, sort_order=5)
    services.group_add_member(group=group, post=head_post, role="commander", actor=None)
    services.group_add_member(group=group, post=kita_post, role="member", actor=None)
    for user, role in ((kita_staff, "member"), (crisis_staff, "member"), (observer, "observer")):
        services.group_add_member(group=group, staff=user.staff, role=role, actor=None)
    from directory import services as directory_services

    directory_services.post_set_deputies(post=kita_post, deputies=[deputy.staff], actor=None)
    return locals()


def instruct(city, **policy):
    return services.message_send(
        group=city["group"],
        sender=city["mayor"],
        body="沿岸部の住民を避難させてください",
        client_id=uuid.uuid4(),
        kind="instruction",
        priority="urgent",
        requires_ack=True,
        escalation={"first_after": 60, "repeat_every": 60, "repeat_count": 0, **policy},
    ).message


def names(page):
    return [(g.unit, [r.name for r in g.rows]) for g in page.groups]


def test_the_silent_come_grouped_by_bureau_and_ward_in_tree_order_posts_first(city):
    message = instruct(city)
    services.receipt_acknowledge(user=city["crisis_staff"], message=message)

    page = selectors.pending_page(message=message)

    assert page.status == "silent" and page.counted == 3  # the observer is not expected
    assert names(page) == [
        ("北区", ["北区長 太郎", "北区職員 太郎"])
    ]  # post holder first, then kana
    assert page.counts == {
        "silent": 2,
        "unread": 2,
        "unacked": 0,
        "reminded": 0,
        "deputy": 0,
        "unreached": 0,
    }
    [ward_row, _staff_row] = page.groups[0].rows
    assert (ward_row.post, ward_row.mobile) == ("北区長", "090-0000-0001")


def test_filters_follow_reads_reminders_and_the_deputy(city):
    message = instruct(city)
    services.receipt_mark_read(user=city["kita_staff"], group=city["group"], up_to_seq=message.seq)
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))  # reminders
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=120))  # deputy

    page = selectors.pending_page(message=message)
    assert page.counts["silent"] == 3
    assert page.counts["unacked"] == 1  # the 北区 staff member read it
    assert page.counts["reminded"] == 3
    assert page.counts["deputy"] == 1
    deputy = selectors.pending_page(message=message, status="deputy")
    [[row]] = [g.rows for g in deputy.groups]
    assert (row.name, row.deputy, row.deputy_rank, row.deputy_answered) == (
        "北区長 太郎",
        "北副区長 太郎",
        1,
        False,
    )
    assert names(selectors.pending_page(message=message, status="unacked")) == [
        ("北区", ["北区職員 太郎"])
    ]

    # The deputy acknowledges for the post: the ward head is answered (by the deputy).
    from messaging.models import StandIn

    escalation.standin_respond(
        user=city["deputy"], stand_in=StandIn.objects.get(deputy=city["deputy"]), acknowledge=True
    )
    page = selectors.pending_page(message=message)
    # 危機管理室 comes before 北区 in the unit tree.
    assert [r.name for g in page.groups for r in g.rows] == ["危機職員 太郎", "北区職員 太郎"]
    assert page.counts["deputy"] == 1 and page.counts["silent"] == 2


def test_a_page_at_a_time_and_the_same_queries_at_any_size(city):
    kita = city["kita_section"]
    for n in range(230):
        user = member(kita, f"職員{n:03d}", kana=f"し{n:03d}")
        services.group_add_member(group=city["group"], staff=user.staff, role="member", actor=None)
    message = instruct(city)

    with CaptureQueriesContext(connection) as queries:
        first = selectors.pending_page(message=message)
    third = selectors.pending_page(message=message, page=3)
    beyond = selectors.pending_page(message=message, page=99)

    assert (first.total, first.pages, first.page) == (233, 3, 1)
    assert sum(len(g.rows) for g in first.groups) == 100
    assert sum(len(g.rows) for g in third.groups) == 33
    assert beyond.page == 3  # clamped
    assert len(queries) == 3  # receipts with chases, stand-ins, bureau/ward names


def test_only_the_sender_commanders_and_administrators_see_it(client, city, admin_user):
    message = instruct(city)
    url = f"/messages/m/{message.pk}/pending/"

    client.force_login(city["mayor"])
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "北区長" in body and "tel:090-0000-0001" in body
    assert "応答対象 3 人" in body  # the observer is not expected to answer
    assert client.get(url + "?partial=1&status=unread").status_code == 200

    client.force_login(city["kita_staff"])  # a member: not theirs to see
    assert client.get(url).status_code == 403
    outsider = UserFactory()
    StaffFactory(user=outsider)
    client.force_login(outsider)  # not in the group: nothing to learn
    assert client.get(url).status_code == 404
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


def test_home_lists_the_commanders_open_instructions_with_the_silent_count(client, city):
    message = instruct(city)
    services.receipt_acknowledge(user=city["ward_head"], message=message)
    done = services.message_send(
        group=city["group"],
        sender=city["mayor"],
        body="全員了解済み",
        client_id=uuid.uuid4(),
        kind="instruction",
        priority="important",
    ).message
    for user in ("ward_head", "kita_staff", "crisis_staff"):
        services.receipt_mark_read(user=city[user], group=city["group"], up_to_seq=done.seq)

    [item] = selectors.user_open_instructions(user=city["mayor"])
    assert (item.message.pk, item.total, item.acked, item.silent) == (message.pk, 3, 1, 2)
    client.force_login(city["mayor"])
    body = client.get("/").content.decode()
    assert f"/messages/m/{message.pk}/pending/" in body and f"/m/{done.pk}/pending/" not in body
    assert 'class="oi-silent-n">2<' in body
    client.force_login(city["ward_head"])
    assert "open-instructions" not in client.get("/").content.decode()
    assert GroupMembership.objects.count() == 5
