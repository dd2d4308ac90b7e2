import uuid

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate
from django.core.management import call_command

from demo import city as demo
from demo.messages import SAMPLE_INSTRUCTION
from directory.models import AuditEntry, OrgUnit, Post, PostDeputy, Staff, User
from directory.selectors import staff_search
from messaging import selectors as messaging_selectors
from messaging.models import (
    Chase,
    CommandGroup,
    GroupMembership,
    Message,
    MessageVersion,
    Receipt,
)

pytestmark = pytest.mark.django_db

STAFF = 500
WARD_NAMES = (
    "北区 都島区 福島区 此花区 中央区 西区 港区 大正区 天王寺区 浪速区 西淀川区 淀川区 東淀川区 "
    "東成区 生野区 旭区 城東区 鶴見区 阿倍野区 住之江区 住吉区 東住吉区 平野区 西成区"
).split()


@pytest.fixture
def city():
    return demo.demo_city_seed(staff_count=STAFF)


def _counts() -> dict[str, int]:
    models = (
        OrgUnit, Staff, User, EmailAddress, Post, PostDeputy, AuditEntry,
        CommandGroup, GroupMembership, Message, MessageVersion, Receipt,
    )  # fmt: skip
    return {m.__name__: m.objects.count() for m in models}


def test_seed_creates_the_city_with_24_real_wards(city):
    root = OrgUnit.objects.get(code=demo.DEMO_ROOT_CODE)
    wards = OrgUnit.objects.filter(kind=OrgUnit.Kind.WARD).order_by("sort_order")

    assert (root.name, root.kind, root.parent) == ("大阪市", OrgUnit.Kind.CITY, None)
    assert [w.name for w in wards] == WARD_NAMES
    assert {w.parent_id for w in wards} == {root.pk}
    assert wards.get(name="此花区").kana == "このはなく"
    assert all(w.children.count() >= 3 for w in wards)


def test_seed_creates_about_fifty_bureaus_and_offices_with_readings(city):
    tops = OrgUnit.objects.filter(kind__in=[OrgUnit.Kind.BUREAU, OrgUnit.Kind.OFFICE])
    names = set(tops.values_list("name", flat=True))

    assert tops.count() == 50
    assert {
        "危機管理室",
        "ICT戦略室",
        "政策企画室",
        "秘書課",
        "消防局",
        "建設局",
        "水道局",
    } <= names
    assert OrgUnit.objects.filter(kana="").count() == 0
    assert OrgUnit.objects.get(name="道路河川部").kana == "どうろかせんぶ"
    for unit in OrgUnit.objects.select_related("parent"):
        assert unit.path == (unit.parent.path if unit.parent else "/") + f"{unit.pk}/"
    assert OrgUnit.objects.filter(kind=OrgUnit.Kind.DEPARTMENT).count() > 50


def test_seed_creates_posts_each_with_two_ordered_deputies(city):
    posts = Post.objects.all()

    assert posts.count() == 1 + 3 + 1 + 50 + 24 == city.posts
    assert posts.filter(holder__isnull=True).count() == 0
    for post in posts.prefetch_related("deputies"):
        assert [d.rank for d in post.deputies.all()] == [1, 2]
        assert post.holder_id not in {d.staff_id for d in post.deputies.all()}
    mayor_post = Post.objects.get(name="本部長")
    assert mayor_post.holder.employee_number == demo.MAYOR
    assert mayor_post.holder.job_title == "市長"
    assert Post.objects.filter(name="副本部長").count() == 3
    assert Post.objects.get(name="北区長").holder.employee_number == demo.WARD_HEAD
    assert (
        Post.objects.filter(name__in=["建設局長", "危機管理室長", "秘書課長", "危機管理監"]).count()
        == 4
    )
    assert AuditEntry.objects.filter(action="post.holder_change").count() == city.posts


def test_seed_creates_the_requested_staff_and_accounts_for_key_people(city):
    key_people = set(Post.objects.values_list("holder_id", flat=True)) | set(
        PostDeputy.objects.values_list("staff_id", flat=True)
    )

    assert Staff.objects.count() == STAFF == city.staff
    assert Staff.objects.filter(pk__in=key_people, user__isnull=True).count() == 0
    group_people = len(demo.group_people())  # crisis office, secretariat, ward section chiefs
    assert group_people == 80 + 35 + 24 * 3
    assert User.objects.count() == len(key_people) + 3 + group_people == city.accounts
    assert User.objects.filter(role=User.Role.HQ_MEMBER).count() == len(key_people)
    assert EmailAddress.objects.filter(verified=True, primary=True).count() == city.accounts
    staff = Staff.objects.get(employee_number="100001")
    assert staff.email == "s100001@city.example.jp"
    assert staff.search_key and staff.kana_sort
    assert Staff.objects.exclude(mobile="").count() > STAFF // 5


def test_demo_signins_authenticate_by_employee_number_and_email(city):
    signins = demo.demo_signins()

    assert [login for _role, login, _name in signins] == [
        demo.MAYOR,
        demo.WARD_HEAD,
        demo.ADMIN,
        demo.COORDINATOR,
        demo.STAFF,
    ]
    assert signins[0][0] == "本部長 (mayor)"
    roles = []
    for _role, login, name in signins:
        by_number = authenticate(username=login, password=demo.DEMO_PASSWORD)
        by_email = authenticate(username=f"s{login}@city.example.jp", password=demo.DEMO_PASSWORD)
        assert by_number is not None and by_number == by_email
        assert by_number.display_name() == name
        roles.append(by_number.role)
    assert roles == ["hq_member", "hq_member", "admin", "coordinator", "staff"]
    admin = User.objects.get(username=demo.ADMIN)
    assert admin.is_staff and admin.is_superuser
    assert admin.staff.unit.parent.name == "ICT戦略室"
    assert User.objects.get(username=demo.COORDINATOR).staff.unit.parent.name == "危機管理室"
    assert authenticate(username=demo.MAYOR, password="wrong-password") is None


def test_second_run_creates_nothing(city):
    before = _counts()

    again = demo.demo_city_seed(staff_count=STAFF)

    assert again.already_loaded is True
    assert _counts() == before


def test_seed_is_deterministic_for_the_key_people():
    # Given two seeds of different sizes (both with room for everyone with an account), the
    # key people and their names are the same.
    demo.demo_city_seed(staff_count=450)
    first = list(
        Staff.objects.filter(user__isnull=False)
        .values_list("employee_number", "family_name", "given_name", "unit__code")
        .order_by("employee_number")
    )
    demo.demo_city_delete()
    assert (Staff.objects.count(), OrgUnit.objects.count(), Post.objects.count()) == (0, 0, 0)

    demo.demo_city_seed(staff_count=500)
    second = list(
        Staff.objects.filter(user__isnull=False)
        .values_list("employee_number", "family_name", "given_name", "unit__code")
        .order_by("employee_number")
    )
    assert first == second


def test_seed_refuses_fewer_staff_than_key_people():
    with pytest.raises(demo.DemoSeedError):
        demo.demo_city_seed(staff_count=10)
    assert OrgUnit.objects.count() == 0


def test_staff_search_finds_a_seeded_person_by_kana_and_kanji(city, django_assert_num_queries):
    mayor = Staff.objects.get(employee_number=demo.MAYOR)
    katakana = "".join(chr(ord(c) + 0x60) for c in mayor.family_kana + mayor.given_kana)

    for query in (
        katakana,
        f"{mayor.family_kana} {mayor.given_kana}",
        f"{mayor.family_name}{mayor.given_name}",
        "本部長",
        demo.MAYOR,
    ):
        with django_assert_num_queries(2):
            found = staff_search(query=query)
        assert mayor in found, query
    assert staff_search(query=demo.MAYOR)[0] == mayor
    assert staff_search(query="該当者なし") == []


def test_seed_demo_command_is_idempotent_and_prints_the_signins_only_when_asked(capsys):
    call_command("seed_demo", "--staff", "300")
    first = capsys.readouterr().out
    before = _counts()
    call_command("seed_demo", "--staff", "300", verbosity=2)
    second = capsys.readouterr().out

    assert "Demo city loaded" in first and "300 staff" in first
    assert "already loaded" in second
    assert _counts() == before
    # `make run` prints the sign-ins in its banner; seed_demo (its first step) only points there
    assert demo.DEMO_PASSWORD not in first and "北区長 (ward head)" not in first
    assert "`make run` lists them" in first
    assert demo.MAYOR in second and demo.DEMO_PASSWORD in second and "北区長 (ward head)" in second


def _group(name: str) -> CommandGroup:
    return CommandGroup.objects.get(name=name)


def _user(employee_number: str) -> User:
    return User.objects.get(username=employee_number)


def test_seed_creates_the_command_groups_with_their_kinds(city):
    groups = demo.demo_groups()

    assert [(g.name, g.kind) for g in groups] == [
        ("大阪市災害対策本部", CommandGroup.Kind.HEADQUARTERS),
        ("危機管理室", CommandGroup.Kind.OFFICE),
    ] + [(f"{ward}災害対策本部", CommandGroup.Kind.WARD_HEADQUARTERS) for ward in WARD_NAMES]
    assert CommandGroup.objects.count() == 26 == city.groups
    assert [g.unit.name for g in groups[:3]] == ["大阪市", "危機管理室", "北区"]
    assert GroupMembership.objects.count() == city.memberships
    assert AuditEntry.objects.filter(action="group.create", actor=None).count() == 26
    assert AuditEntry.objects.filter(action="group.member_add").count() == city.memberships


def test_city_hq_reaches_about_two_hundred_people(city):
    hq = _group("大阪市災害対策本部")

    recipients = messaging_selectors.group_recipients(group=hq)

    # 79 post holders + 7 crisis office / secretariat deputies and the drill coordinator + 115
    # crisis office and secretariat staff issued accounts for the demo.
    assert 180 <= len(recipients) <= 260
    assert len(recipients) == 201
    roles = [r.role for r in recipients.values()]
    assert (roles.count("commander"), roles.count("member"), roles.count("observer")) == (
        5,
        159,
        37,
    )
    commanders = hq.memberships.filter(role="commander").values_list("post__name", flat=True)
    assert sorted(commanders) == ["副本部長", "副本部長", "副本部長", "危機管理監", "本部長"]
    assert hq.memberships.filter(post__isnull=False).count() == 79
    secretariat = Staff.objects.filter(
        unit__path__startswith=OrgUnit.objects.get(name="秘書課").path
    )
    assert set(hq.memberships.filter(staff__in=secretariat).values_list("role", flat=True)) == {
        "observer"
    }
    assert city.group_lines[0] == demo.DemoGroupLine("大阪市災害対策本部", "hq", 201, 2)


def test_mayor_commands_the_hq_and_a_ward_head_reads_it_and_posts_in_the_ward_hq(city):
    from messaging import services as messaging_services

    hq, kita, miyakojima = (
        _group("大阪市災害対策本部"),
        _group("北区災害対策本部"),
        _group("都島区災害対策本部"),
    )
    mayor, ward_head = _user(demo.MAYOR), _user(demo.WARD_HEAD)
    kikikanrikan = _user("000005")

    assert messaging_selectors.user_group_role(user=mayor, group=hq) == "commander"
    assert messaging_selectors.user_group_role(user=ward_head, group=hq) == "member"
    assert messaging_selectors.user_can_read(user=ward_head, group=hq) is True
    assert messaging_selectors.user_group_role(user=ward_head, group=kita) == "commander"
    assert messaging_selectors.user_group_role(user=kikikanrikan, group=kita) == "observer"
    assert messaging_selectors.user_group_role(user=ward_head, group=miyakojima) is None
    # 区長 (commander), 副区長, the four section chiefs, the demo staff sign-in (北区 総務課)
    # and the 危機管理監 (observer).
    assert len(messaging_selectors.group_recipients(group=kita)) == 8
    assert messaging_selectors.user_group_role(user=_user(demo.STAFF), group=kita) == "member"

    sent = messaging_services.message_send(
        group=kita, sender=ward_head, body="北区本部会議を開きます", client_id=uuid.uuid4()
    )

    # 7 recipients, one of them the observing 危機管理監: 6 counted (issue 9).
    assert (sent.created, sent.message.seq, sent.message.recipient_count) == (True, 1, 6)
    assert sent.message.sender_post_name == "北区長"


def test_seed_sends_the_sample_instruction_and_the_ward_heads_reply(city):
    hq = _group("大阪市災害対策本部")
    instruction, reply = Message.objects.filter(group=hq).order_by("seq")

    assert (instruction.seq, instruction.kind, instruction.priority, instruction.requires_ack) == (
        1,
        "instruction",
        "urgent",
        True,
    )
    assert (instruction.sender.username, instruction.sender_post_name) == (demo.MAYOR, "本部長")
    assert instruction.body == SAMPLE_INSTRUCTION
    assert (reply.seq, reply.kind, reply.reply_to_id, reply.sender.username) == (
        2,
        "reply",
        instruction.pk,
        demo.WARD_HEAD,
    )
    assert instruction.recipient_count == 200 - 37  # the 37 observers receive, uncounted
    acked = Receipt.objects.filter(message=instruction, acked_at__isnull=False)
    assert [r.user.username for r in acked] == [demo.WARD_HEAD]
    assert Message.objects.count() == 2 == city.messages
    # A sample to look at: nobody is chased for it (make run would remind ~200 people at once)
    assert instruction.escalation is None
    assert not Chase.objects.filter(message=instruction).exists()


def test_second_run_adds_no_groups_memberships_or_messages(city):
    before = _counts()

    again = demo.demo_city_seed(staff_count=STAFF)

    assert (again.groups, again.memberships, again.messages) == (0, 0, 0)
    assert _counts() == before
    assert [line.name for line in again.group_lines][:2] == ["大阪市災害対策本部", "危機管理室"]


def test_a_city_seeded_without_groups_gets_them_on_the_next_run(city):
    # Given a demo city whose command groups are gone (seeded before they existed).
    demo.demo_groups_delete(OrgUnit.objects.get(code=demo.DEMO_ROOT_CODE))
    assert (CommandGroup.objects.count(), Message.objects.count(), Receipt.objects.count()) == (
        0,
        0,
        0,
    )

    again = demo.demo_city_seed(staff_count=STAFF)

    assert again.already_loaded is True
    assert (again.groups, again.memberships, again.messages) == (26, city.memberships, 2)
    assert len(messaging_selectors.group_recipients(group=_group("大阪市災害対策本部"))) == 201


def test_reset_deletes_the_demo_groups_messages_and_conversations(capsys):
    from messaging import services as messaging_services

    call_command("seed_demo", "--staff", "450")
    mayor, ward_head = _user(demo.MAYOR), _user(demo.WARD_HEAD)
    direct = messaging_services.direct_conversation_get_or_create(me=mayor, other=ward_head.staff)
    messaging_services.message_send(group=direct, sender=mayor, body="至急", client_id=uuid.uuid4())
    capsys.readouterr()

    call_command("seed_demo", "--staff", "450", "--reset")
    out = capsys.readouterr().out

    assert "Deleted the demo city (450 staff)." in out and "Demo city loaded" in out
    assert not CommandGroup.objects.filter(pk=direct.pk).exists()
    assert CommandGroup.objects.count() == 26
    assert Message.objects.count() == 2
    assert MessageVersion.objects.count() == 2


def test_reset_refuses_when_demo_accounts_wrote_in_a_group_outside_the_demo():
    from django.core.management.base import CommandError

    from messaging import services as messaging_services
    from tests.factories import StaffFactory

    call_command("seed_demo", "--staff", "450")
    outsider = messaging_services.group_create(name="訓練班", kind="adhoc", actor=None)
    mayor = _user(demo.MAYOR)
    messaging_services.group_add_member(group=outsider, staff=mayor.staff, actor=None)
    messaging_services.group_add_member(group=outsider, staff=StaffFactory(), actor=None)
    messaging_services.message_send(group=outsider, sender=mayor, body="x", client_id=uuid.uuid4())
    before = _counts()

    with pytest.raises(CommandError, match="records elsewhere"):
        call_command("seed_demo", "--staff", "450", "--reset")

    assert _counts() == before


def test_seed_demo_command_prints_the_command_groups(capsys):
    call_command("seed_demo", "--staff", "450")
    first = capsys.readouterr().out
    call_command("seed_demo", "--staff", "450")
    second = capsys.readouterr().out

    assert "26 command groups" in first and "2 messages." in first
    for out in (first, second):
        assert "  大阪市災害対策本部 (hq): 201 recipients, 2 messages" in out
        assert "  危機管理室 (office): 87 recipients, 0 messages" in out
        assert "  北区災害対策本部 (ward_hq): 8 recipients, 0 messages" in out
        assert out.count("(ward_hq)") == 24


@pytest.mark.slow
def test_seed_30000_staff():
    summary = demo.demo_city_seed(staff_count=30_000)

    assert summary.staff == Staff.objects.count() == 30_000
    assert Staff.objects.filter(search_key="").count() == 0
    assert Staff.objects.values("employee_number").distinct().count() == 30_000
    assert User.objects.count() == summary.accounts
    assert len(staff_search(query="たなか")) == 50
