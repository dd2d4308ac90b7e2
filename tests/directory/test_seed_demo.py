import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate
from django.core.management import call_command

from directory import demo
from directory.models import AuditEntry, OrgUnit, Post, PostDeputy, Staff, User
from directory.selectors import staff_search

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
    models = (OrgUnit, Staff, User, EmailAddress, Post, PostDeputy, AuditEntry)
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
    assert User.objects.count() == len(key_people) + 3 == city.accounts
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
    # Given two seeds of different sizes, the key people and their names are the same.
    demo.demo_city_seed(staff_count=300)
    first = list(
        Staff.objects.filter(user__isnull=False)
        .values_list("employee_number", "family_name", "given_name", "unit__code")
        .order_by("employee_number")
    )
    demo.demo_city_delete()
    assert (Staff.objects.count(), OrgUnit.objects.count(), Post.objects.count()) == (0, 0, 0)

    demo.demo_city_seed(staff_count=400)
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


def test_seed_demo_command_is_idempotent_and_prints_the_signins(capsys):
    call_command("seed_demo", "--staff", "300")
    first = capsys.readouterr().out
    before = _counts()
    call_command("seed_demo", "--staff", "300")
    second = capsys.readouterr().out

    assert "Demo city loaded" in first and "300 staff" in first
    assert "already loaded" in second
    assert _counts() == before
    for out in (first, second):
        assert demo.MAYOR in out and demo.DEMO_PASSWORD in out and "北区長 (ward head)" in out


@pytest.mark.slow
def test_seed_30000_staff():
    summary = demo.demo_city_seed(staff_count=30_000)

    assert summary.staff == Staff.objects.count() == 30_000
    assert Staff.objects.filter(search_key="").count() == 0
    assert Staff.objects.values("employee_number").distinct().count() == 30_000
    assert User.objects.count() == summary.accounts
    assert len(staff_search(query="たなか")) == 50
