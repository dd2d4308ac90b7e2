"""Directory pages through the Django test client: access, search, profile, tree, admin, PWA."""

from __future__ import annotations

import json

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from directory import selectors, services
from directory.models import AuditEntry, OrgUnit, Staff
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def city() -> dict:
    """大阪市 › 危機管理室 › 危機管理課, and 北区役所; a post with two ordered deputies."""
    root = OrgUnitFactory(code="C", name="大阪市", kana="おおさかし", kind=OrgUnit.Kind.CITY)
    bureau = OrgUnitFactory(
        code="B",
        name="危機管理室",
        kana="ききかんりしつ",
        kind=OrgUnit.Kind.BUREAU,
        parent=root,
        sort_order=1,
    )
    section = OrgUnitFactory(
        code="S", name="危機管理課", kana="ききかんりか", kind=OrgUnit.Kind.SECTION, parent=bureau
    )
    ward = OrgUnitFactory(
        code="W",
        name="北区役所",
        kana="きたくやくしょ",
        kind=OrgUnit.Kind.WARD,
        parent=root,
        sort_order=2,
    )
    holder = StaffFactory(
        employee_number="200001",
        family_name="髙橋",
        given_name="健一",
        family_kana="たかはし",
        given_kana="けんいち",
        unit=section,
        job_title="危機管理監",
    )
    first = StaffFactory(
        employee_number="200002",
        family_name="鈴木",
        given_name="一郎",
        family_kana="すずき",
        given_kana="いちろう",
        unit=section,
    )
    second = StaffFactory(
        employee_number="200003",
        family_name="田中",
        given_name="美咲",
        family_kana="たなか",
        given_kana="みさき",
        unit=ward,
    )
    gone = StaffFactory(
        employee_number="200004",
        family_name="髙橋",
        given_name="退職",
        family_kana="たかはし",
        given_kana="たいしょく",
        unit=section,
        is_active=False,
    )
    post = PostFactory(code="HQ-CM", name="防災監", kana="ぼうさいかん", unit=bureau, holder=holder)
    # Second deputy first in the list passed in reverse creation order: rank, not id, orders them.
    services.post_set_deputies(post=post, deputies=[second, first], actor=None)
    return {
        "root": root,
        "bureau": bureau,
        "section": section,
        "ward": ward,
        "holder": holder,
        "first": first,
        "second": second,
        "gone": gone,
        "post": post,
    }


@pytest.fixture
def signed_in(client, staff_user):
    client.force_login(staff_user)
    return client


def _numbers(staff: list[Staff]) -> list[str]:
    return [s.employee_number for s in staff]


# --- access ---------------------------------------------------------------------------------
def test_every_directory_page_requires_sign_in(client, city):
    urls = [
        reverse("home"),
        reverse("directory:search"),
        reverse("directory:search") + "?q=たかはし&partial=1",
        reverse("directory:unit_tree"),
        reverse("directory:unit_detail", args=[city["section"].pk]),
        reverse("directory:staff_detail", args=[city["holder"].pk]),
        reverse("messaging:conversation_start", args=[city["holder"].pk]),
        reverse("settings"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login") + "?next="), url
        # And the anonymous request showed no directory data.
        assert "髙橋" not in response.content.decode()


def test_sign_in_page_is_ours_and_signs_in_with_the_employee_number(client):
    user = UserFactory(username="300001")
    response = client.get(reverse("account_login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="ja">' in html
    assert 'name="login"' in html and 'autocomplete="username"' in html
    assert 'autocomplete="current-password"' in html
    assert reverse("account_signup") not in html  # accounts come from the roster

    response = client.post(
        reverse("account_login"), {"login": "300001", "password": "correct-horse-battery"}
    )

    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_wrong_password_shows_an_error_and_signs_nobody_in(client):
    UserFactory(username="300002")
    response = client.post(
        reverse("account_login"), {"login": "300002", "password": "nope-nope-nope"}
    )
    assert response.status_code == 200
    assert 'class="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


# --- search ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        "髙橋",  # kanji
        "髙橋 健一",  # kanji with a space
        "たかはし",  # hiragana (as stored)
        "タカハシ",  # katakana
        "ﾀｶﾊｼ",  # half-width katakana
        "たかはし　けんいち",  # full-width space between family and given name
        "タカハシケンイチ",  # katakana without a space
        "200001",  # employee number
        "２０００01",  # employee number, partly full-width
    ],
)
def test_search_finds_by_name_reading_and_number(signed_in, city, query):
    response = signed_in.get(reverse("directory:search"), {"q": query})

    assert response.status_code == 200
    assert _numbers(response.context["staff"]) == ["200001"]
    assert "髙橋 健一" in response.content.decode()


def test_search_by_unit_name_lists_the_staff_of_that_unit(signed_in, city):
    response = signed_in.get(reverse("directory:search"), {"q": "危機管理課"})

    # Ordered by reading: すずき before たかはし; the inactive たかはし is not listed.
    assert _numbers(response.context["staff"]) == ["200002", "200001"]
    assert [u.name for u in response.context["units"]] == ["危機管理課"]


def test_search_by_post_name_finds_the_holder(signed_in, city):
    response = signed_in.get(reverse("directory:search"), {"q": "防災監"})

    assert _numbers(response.context["staff"]) == ["200001"]
    assert [p.code for p in response.context["posts"]] == ["HQ-CM"]


def test_inactive_staff_are_not_in_search_results(signed_in, city):
    response = signed_in.get(reverse("directory:search"), {"q": "たいしょく"})

    assert response.context["staff"] == []
    assert "200004" not in response.content.decode()
    assert "退職" not in response.content.decode()


def test_partial_search_returns_only_the_result_list(signed_in, city):
    response = signed_in.get(reverse("directory:search"), {"q": "ﾀｶﾊｼ", "partial": "1"})
    html = response.content.decode()

    assert response.status_code == 200
    assert "<html" not in html and "<form" not in html
    assert reverse("directory:staff_detail", args=[city["holder"].pk]) in html
    assert reverse("directory:staff_detail", args=[city["gone"].pk]) not in html


def test_empty_and_overlong_queries(signed_in, city):
    response = signed_in.get(reverse("directory:search"), {"q": "   "})
    assert response.context["staff"] == []
    assert 'class="hint"' in response.content.decode()

    response = signed_in.get(reverse("directory:search"), {"q": "た" * 500})
    assert response.status_code == 200
    assert response.context["query"] == "た" * 100


# --- profile, tree, unit ----------------------------------------------------------------------
def test_profile_shows_unit_path_posts_and_ordered_deputies(signed_in, city):
    response = signed_in.get(reverse("directory:staff_detail", args=[city["holder"].pk]))
    html = response.content.decode()

    assert response.status_code == 200
    path = [html.index(f">{name}</a>") for name in ("大阪市", "危機管理室", "危機管理課")]
    assert path == sorted(path)
    assert "防災監" in html
    # Rank 1 is 田中 (listed first when set), rank 2 is 鈴木.
    assert html.index("田中 美咲") < html.index("鈴木 一郎")
    assert [
        d.staff.employee_number for d in response.context["profile"].posts_held[0].deputies.all()
    ] == ["200003", "200002"]
    assert reverse("messaging:conversation_start", args=[city["holder"].pk]) in html


def test_profile_of_a_deputy_shows_whom_they_stand_in_for(signed_in, city):
    response = signed_in.get(reverse("directory:staff_detail", args=[city["first"].pk]))
    html = response.content.decode()

    assert [(d.post.code, d.rank) for d in response.context["profile"].deputy_for] == [("HQ-CM", 2)]
    assert 'class="list stands-in"' in html
    assert reverse("directory:staff_detail", args=[city["holder"].pk]) in html


def test_inactive_profile_has_no_message_action(signed_in, city):
    response = signed_in.get(reverse("directory:staff_detail", args=[city["gone"].pk]))
    assert response.status_code == 200
    assert (
        reverse("messaging:conversation_start", args=[city["gone"].pk])
        not in response.content.decode()
    )


def test_unknown_profile_is_404(signed_in, city):
    assert signed_in.get(reverse("directory:staff_detail", args=[999999])).status_code == 404


def test_message_action_without_an_account_explains_and_creates_nothing(signed_in, city):
    from messaging.models import CommandGroup

    response = signed_in.get(
        reverse("messaging:conversation_start", args=[city["holder"].pk]), follow=True
    )
    assert response.request["PATH_INFO"] == reverse(
        "directory:staff_detail", args=[city["holder"].pk]
    )
    assert not CommandGroup.objects.filter(kind="direct").exists()


def test_unit_tree_lists_roots_with_their_first_level(signed_in, city):
    response = signed_in.get(reverse("directory:unit_tree"))
    html = response.content.decode()

    tree = [(root.name, [c.name for c in kids]) for root, kids in response.context["tree"]]
    # staff_user's own unit (a factory root) is listed too, after 大阪市 by code.
    assert tree[0] == ("大阪市", ["危機管理室", "北区役所"])
    assert reverse("directory:unit_detail", args=[city["bureau"].pk]) in html


def test_unit_detail_shows_crumbs_posts_sub_units_and_active_staff(signed_in, city):
    response = signed_in.get(reverse("directory:unit_detail", args=[city["bureau"].pk]))
    html = response.content.decode()

    assert [a.name for a in response.context["ancestors"]] == ["大阪市"]
    assert [c.name for c in response.context["children"]] == ["危機管理課"]
    assert [p.code for p in response.context["posts"]] == ["HQ-CM"]
    assert response.context["total"] == 2  # 髙橋 and 鈴木 in the section; not the inactive one
    assert list(response.context["page"].object_list) == []  # nobody directly in the bureau
    assert "防災監" in html

    response = signed_in.get(reverse("directory:unit_detail", args=[city["section"].pk]))
    assert _numbers(response.context["page"].object_list) == ["200002", "200001"]


def test_inactive_unit_is_404(signed_in, city):
    services.unit_update(unit=city["ward"], is_active=False)
    assert (
        signed_in.get(reverse("directory:unit_detail", args=[city["ward"].pk])).status_code == 404
    )


# --- query counts -------------------------------------------------------------------------------
def test_staff_search_selector_query_count(city, django_assert_num_queries):
    for i in range(30):
        StaffFactory(family_kana="たかはし", given_kana=f"じろう{i}", unit=city["section"])

    with django_assert_num_queries(2):  # the exact employee-number hit, then the rest
        found = selectors.staff_search(query="タカハシ")
        names = [(s.full_name, s.unit.name) for s in found]  # unit is select_related

    assert len(names) == 31


# Session read, user, staff (exact hit + rest), units, posts, then the session save
# (SESSION_SAVE_EVERY_REQUEST: savepoint, UPDATE, release). Independent of the number of hits.
QUERIES_SEARCH_RESULTS = 9
# The full page adds what every page shows: the Groups tab's unread badge (one query) and the
# disaster banner (one query when its cached value has expired). The live search's partial
# results do not show them and do not pay for them.
QUERIES_SEARCH_PAGE = QUERIES_SEARCH_RESULTS + 2


def test_search_view_query_count(signed_in, city, django_assert_num_queries):
    for i in range(30):
        StaffFactory(family_kana="たかはし", given_kana=f"じろう{i}", unit=city["section"])
    url = reverse("directory:search")

    with django_assert_num_queries(QUERIES_SEARCH_PAGE):
        response = signed_in.get(url, {"q": "たかはし"})
    assert len(response.context["staff"]) == 31

    with django_assert_num_queries(QUERIES_SEARCH_RESULTS):
        response = signed_in.get(url, {"q": "たかはし", "partial": "1"})
    assert len(response.context["staff"]) == 31


# --- admin ----------------------------------------------------------------------------------
def test_staff_role_cannot_use_the_admin(signed_in, staff_user, city):
    response = signed_in.get("/admin/", follow=True)
    assert response.status_code == 403

    response = signed_in.get("/admin/directory/staff/", follow=True)
    assert response.status_code == 403
    assert "髙橋" not in response.content.decode()


def test_denied_admin_post_changes_nothing(signed_in, staff_user, city):
    holder = city["holder"]
    audit_before = AuditEntry.objects.count()
    url = f"/admin/directory/staff/{holder.pk}/change/"

    response = signed_in.post(
        url,
        {
            "employee_number": "200001",
            "family_name": "改竄",
            "given_name": "健一",
            "family_kana": "かいざん",
            "given_kana": "けんいち",
            "unit": holder.unit_id,
            "is_active": "on",
        },
        follow=True,
    )

    assert response.status_code == 403
    holder.refresh_from_db()
    assert holder.family_name == "髙橋"
    assert AuditEntry.objects.count() == audit_before
    staff_user.refresh_from_db()
    assert not staff_user.is_staff and not staff_user.is_superuser


def test_anonymous_admin_goes_to_sign_in(client):
    response = client.get("/admin/directory/staff/", follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))


# --- PWA ------------------------------------------------------------------------------------
def test_manifest_is_public_and_its_icons_exist(client):
    response = client.get("/manifest.webmanifest")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    data = json.loads(response.content)
    assert data["start_url"] == "/" and data["display"] == "standalone"
    assert {i["sizes"] for i in data["icons"]} == {"192x192", "512x512"}
    for icon in data["icons"]:
        assert icon["src"].startswith("/static/")
        assert finders.find(icon["src"].removeprefix("/static/")), icon["src"]
        assert client.get(icon["src"]).status_code == 200


def test_service_worker_is_public_at_the_root(client):
    response = client.get("/sw.js")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    assert response["Service-Worker-Allowed"] == "/"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"/static/offline.html" in body
    assert client.get("/static/offline.html").status_code == 200


# --- language -------------------------------------------------------------------------------
def test_pages_are_japanese_by_default(signed_in):
    response = signed_in.get(reverse("home"))
    assert response["Content-Language"] == "ja"
    assert '<html lang="ja">' in response.content.decode()


def test_settings_switch_the_language_to_english(signed_in, staff_user):
    response = signed_in.post(reverse("settings"), {"language": "en"}, follow=True)

    assert response.redirect_chain == [(reverse("settings"), 302)]
    assert response["Content-Language"] == "en"
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Your settings were saved." in html
    staff_user.refresh_from_db()
    assert staff_user.language == "en"

    response = signed_in.get(reverse("directory:search"))
    assert response["Content-Language"] == "en"
    assert '<html lang="en">' in response.content.decode()
    assert ">Directory</h1>" in response.content.decode()


def test_invalid_language_changes_nothing(signed_in, staff_user):
    response = signed_in.post(reverse("settings"), {"language": "xx"})

    assert response.status_code == 200
    assert response.context["form"].errors["language"]
    assert response["Content-Language"] == "ja"
    assert '<html lang="ja">' in response.content.decode()
    staff_user.refresh_from_db()
    assert staff_user.language == "ja"
