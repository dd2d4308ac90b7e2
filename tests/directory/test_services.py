import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from directory import selectors, services
from directory.models import AuditEntry, OrgUnit, Post, PostDeputy, Staff, User
from directory.text import normalize
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def _last_audit_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _audit_after(last_id: int) -> list[tuple]:
    """(action, actor id, target type, target id, data) of every entry written since."""
    return list(
        AuditEntry.objects.filter(id__gt=last_id)
        .order_by("id")
        .values_list("action", "actor_id", "target_type", "target_id", "data")
    )


def _ref(staff) -> dict:
    return {"id": staff.pk, "employee_number": staff.employee_number, "name": staff.full_name}


def test_normalize_folds_kana_width_and_spaces():
    assert normalize("ヤマダ　タロウ") == "やまだたろう"
    assert normalize("ﾔﾏﾀﾞ ﾀﾛｳ") == "やまだたろう"
    assert normalize("ＡＢＣ１２３") == "abc123"


def test_unit_create_builds_materialised_path():
    city = OrgUnitFactory(kind=OrgUnit.Kind.CITY, parent=None)
    bureau = OrgUnitFactory(kind=OrgUnit.Kind.BUREAU, parent=city)
    section = OrgUnitFactory(parent=bureau)
    assert section.path == f"/{city.pk}/{bureau.pk}/{section.pk}/"
    assert section.depth == 2


def test_unit_update_moving_a_subtree_rewrites_descendant_paths():
    a = OrgUnitFactory(parent=None)
    b = OrgUnitFactory(parent=None)
    child = OrgUnitFactory(parent=a)
    grandchild = OrgUnitFactory(parent=child)

    services.unit_update(unit=child, parent=b)

    child.refresh_from_db()
    grandchild.refresh_from_db()
    assert (child.path, child.depth) == (f"/{b.pk}/{child.pk}/", 1)
    assert grandchild.path == f"/{b.pk}/{child.pk}/{grandchild.pk}/"
    assert grandchild.depth == 2


def test_unit_update_refuses_a_cycle_and_changes_nothing():
    a = OrgUnitFactory(parent=None)
    child = OrgUnitFactory(parent=a)
    for bad_parent in (child, a):  # below itself, or itself
        with pytest.raises(ValidationError) as raised:
            services.unit_update(unit=a, parent=bad_parent)
        assert raised.value.message_dict == {"parent": [str(services.ERR_UNIT_CYCLE)]}
    a.refresh_from_db()
    child.refresh_from_db()
    assert a.parent_id is None and a.path == f"/{a.pk}/"
    assert child.parent_id == a.pk and child.path == f"/{a.pk}/{child.pk}/"


def test_post_create_is_audited_with_its_holder(admin_user):
    holder = StaffFactory()
    last = _last_audit_id()

    post = services.post_create(code="HQ-1", name="本部長", holder=holder, actor=admin_user)

    assert post.holder == holder
    target = ("directory.post", str(post.pk))
    assert _audit_after(last) == [
        ("post.create", admin_user.pk, *target, {"code": "HQ-1", "name": "本部長"}),
        (
            "post.holder_change",
            admin_user.pk,
            *target,
            {"previous": None, "new": _ref(holder), "reason": ""},
        ),
    ]


def test_post_assign_holder_is_audited(admin_user):
    post = PostFactory()
    first, second = StaffFactory(), StaffFactory()
    last = _last_audit_id()

    services.post_assign_holder(post=post, holder=first, actor=admin_user)
    services.post_assign_holder(post=post, holder=second, actor=admin_user, reason="4月異動")
    services.post_assign_holder(post=post, holder=None, actor=None, reason="空席")

    post.refresh_from_db()
    assert post.holder is None
    target = ("directory.post", str(post.pk))
    assert _audit_after(last) == [
        (
            "post.holder_change",
            admin_user.pk,
            *target,
            {"previous": None, "new": _ref(first), "reason": ""},
        ),
        (
            "post.holder_change",
            admin_user.pk,
            *target,
            {"previous": _ref(first), "new": _ref(second), "reason": "4月異動"},
        ),
        (
            "post.holder_change",
            None,
            *target,
            {"previous": _ref(second), "new": None, "reason": "空席"},
        ),
    ]


def test_post_assign_same_holder_again_writes_no_audit(admin_user):
    post = PostFactory()
    holder = StaffFactory()
    services.post_assign_holder(post=post, holder=holder, actor=admin_user)
    vacant = PostFactory()
    last = _last_audit_id()

    again = services.post_assign_holder(post=post, holder=holder, actor=admin_user, reason="x")
    still_vacant = services.post_assign_holder(post=vacant, holder=None, actor=admin_user)

    assert again.holder_id == holder.pk and still_vacant.holder_id is None
    assert _audit_after(last) == []


def test_post_assign_inactive_holder_is_refused():
    post = PostFactory()
    gone = StaffFactory(is_active=False)
    with pytest.raises(ValidationError):
        services.post_assign_holder(post=post, holder=gone, actor=None)
    post.refresh_from_db()
    assert post.holder is None
    assert not AuditEntry.objects.filter(action="post.holder_change").exists()


def test_post_set_deputies_orders_and_audits(admin_user):
    holder, d1, d2 = StaffFactory(), StaffFactory(), StaffFactory()
    post = PostFactory(holder=holder)
    last = _last_audit_id()

    services.post_set_deputies(post=post, deputies=[d2, d1], actor=admin_user)
    services.post_set_deputies(post=post, deputies=[d1], actor=None)

    assert list(post.deputies.order_by("rank").values_list("staff_id", "rank")) == [(d1.pk, 1)]
    target = ("directory.post", str(post.pk))
    assert _audit_after(last) == [
        (
            "post.deputies_change",
            admin_user.pk,
            *target,
            {"previous": [], "new": [_ref(d2), _ref(d1)]},
        ),
        ("post.deputies_change", None, *target, {"previous": [d2.pk, d1.pk], "new": [_ref(d1)]}),
    ]


def test_post_set_deputies_to_the_same_list_writes_no_audit(admin_user):
    d1, d2 = StaffFactory(), StaffFactory()
    post = PostFactory()
    services.post_set_deputies(post=post, deputies=[d1, d2], actor=admin_user)
    rows_before = list(PostDeputy.objects.filter(post=post).values_list("id", "staff_id", "rank"))
    last = _last_audit_id()

    services.post_set_deputies(post=post, deputies=[d1, d2], actor=admin_user)
    services.post_set_seats(post=post, holder=None, deputies=[d1, d2], actor=admin_user)

    assert _audit_after(last) == []
    assert (
        list(PostDeputy.objects.filter(post=post).values_list("id", "staff_id", "rank"))
        == rows_before
    )


def test_post_set_deputies_refuses_the_holder_and_keeps_the_old_list():
    holder, d1 = StaffFactory(), StaffFactory()
    post = PostFactory(holder=holder)
    services.post_set_deputies(post=post, deputies=[d1], actor=None)

    last = _last_audit_id()

    with pytest.raises(ValidationError) as raised:
        services.post_set_deputies(post=post, deputies=[holder, d1], actor=None)
    assert raised.value.message_dict == {"deputies": [str(services.ERR_DEPUTY_IS_HOLDER)]}
    with pytest.raises(ValidationError) as raised:
        services.post_set_deputies(post=post, deputies=[d1, d1], actor=None)
    assert raised.value.message_dict == {"deputies": [str(services.ERR_DEPUTY_TWICE)]}

    assert list(PostDeputy.objects.filter(post=post).values_list("staff_id", flat=True)) == [d1.pk]
    assert _audit_after(last) == []


def test_user_set_role_is_audited_and_a_same_role_writes_nothing(admin_user):
    user = UserFactory(role=User.Role.STAFF)
    last = _last_audit_id()

    services.user_set_role(user=user, role=User.Role.ADMIN, actor=admin_user)
    services.user_set_role(user=user, role=User.Role.ADMIN, actor=admin_user)

    user.refresh_from_db()
    assert (user.role, user.is_staff, user.is_superuser) == (User.Role.ADMIN, True, True)
    assert _audit_after(last) == [
        (
            "user.role_change",
            admin_user.pk,
            "directory.user",
            str(user.pk),
            {"previous": "staff", "new": "admin"},
        )
    ]


def test_user_accounts_close_is_audited_once_for_the_accounts_it_closed(admin_user):
    leaving, left_before = UserFactory(), UserFactory()
    User.objects.filter(pk=left_before.pk).update(is_active=False)
    last = _last_audit_id()

    closed = services.user_accounts_close(
        user_ids=[leaving.pk, left_before.pk], actor=admin_user, reason="退職"
    )
    again = services.user_accounts_close(user_ids=[leaving.pk], actor=admin_user, reason="退職")

    assert (closed, again) == (1, 0)
    assert _audit_after(last) == [
        ("user.deactivate", admin_user.pk, "", "", {"users": [leaving.pk], "reason": "退職"})
    ]


def test_audit_record_writes_what_it_is_given(admin_user):
    unit = OrgUnitFactory()

    entry = services.audit_record(
        actor=admin_user, action="test.action", target=unit, data={"n": 1}
    )
    anonymous = services.audit_record(actor=AnonymousUser(), action="test.anonymous")

    assert _audit_after(entry.pk - 1) == [
        ("test.action", admin_user.pk, "directory.orgunit", str(unit.pk), {"n": 1}),
        ("test.anonymous", None, "", "", {}),
    ]
    assert anonymous.pk == entry.pk + 1


def test_audit_entries_cannot_be_changed_or_deleted(admin_user):
    entry = services.audit_record(actor=admin_user, action="test.action")
    entry.action = "tampered"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    entry.refresh_from_db()
    assert entry.action == "test.action"


def _post_form(post, deputies):
    data = {
        "code": post.code,
        "name": post.name,
        "kana": post.kana,
        "unit": "",
        "holder": str(post.holder_id or ""),
        "sort_order": "0",
        "deputies-TOTAL_FORMS": str(len(deputies)),
        "deputies-INITIAL_FORMS": "0",
        "deputies-MIN_NUM_FORMS": "0",
        "deputies-MAX_NUM_FORMS": "1000",
    }
    for i, (staff, rank) in enumerate(deputies):
        data.update(
            {
                f"deputies-{i}-staff": str(staff.pk),
                f"deputies-{i}-rank": str(rank),
                f"deputies-{i}-post": str(post.pk),
            }
        )
    return data


def test_the_admin_deputy_list_obeys_the_service_rules(client, admin_user):
    holder, d1, gone = StaffFactory(), StaffFactory(), StaffFactory(is_active=False)
    post = PostFactory(holder=holder)
    client.force_login(admin_user)
    url = reverse("admin:directory_post_change", args=[post.pk])
    last = _last_audit_id()
    with translation.override(admin_user.language):  # the language the admin answers in
        expected = [
            str(services.ERR_DEPUTY_IS_HOLDER),
            None,  # the same person twice: the inline's own unique check answers first
            str(services.ERR_INACTIVE_STAFF % {"name": gone.full_name}),
        ]

    for bad, error in zip(([(holder, 1)], [(d1, 1), (d1, 2)], [(gone, 1)]), expected, strict=True):
        response = client.post(url, _post_form(post, bad))
        assert response.status_code == 200  # the form again, with the error
        formset = response.context["inline_admin_formsets"][0].formset
        with translation.override(admin_user.language):
            error = error or str(formset.get_unique_error_message(["staff"]))
        assert formset.non_form_errors() == [error]
    assert not PostDeputy.objects.filter(post=post).exists()
    assert _audit_after(last) == []

    response = client.post(url, _post_form(post, [(d1, 1)]))
    assert response.status_code == 302
    assert list(PostDeputy.objects.filter(post=post).values_list("staff_id", "rank")) == [
        (d1.pk, 1)
    ]


def test_the_admin_swaps_holder_and_deputy_in_one_save(client, admin_user):
    """A deputy becomes the holder and the holder a deputy in the same save: both audited."""
    holder, deputy, other = StaffFactory(), StaffFactory(), StaffFactory()
    post = PostFactory(holder=holder)
    services.post_set_deputies(post=post, deputies=[deputy, other], actor=admin_user)
    client.force_login(admin_user)
    data = _post_form(post, [(holder, 1), (other, 2)])
    data["holder"] = str(deputy.pk)
    last = _last_audit_id()

    response = client.post(reverse("admin:directory_post_change", args=[post.pk]), data)

    assert response.status_code == 302
    post.refresh_from_db()
    assert post.holder == deputy
    assert list(
        PostDeputy.objects.filter(post=post).order_by("rank").values_list("staff_id", flat=True)
    ) == [holder.pk, other.pk]
    with translation.override(admin_user.language):
        reason = translation.gettext("changed in admin")
    target = ("directory.post", str(post.pk))
    assert _audit_after(last) == [
        (
            "post.deputies_change",
            admin_user.pk,
            *target,
            {"previous": [deputy.pk, other.pk], "new": [_ref(holder), _ref(other)]},
        ),
        (
            "post.holder_change",
            admin_user.pk,
            *target,
            {"previous": _ref(holder), "new": _ref(deputy), "reason": reason},
        ),
    ]


def test_the_admin_refuses_an_inactive_holder_and_changes_nothing(client, admin_user):
    holder, deputy, gone = StaffFactory(), StaffFactory(), StaffFactory(is_active=False)
    post = PostFactory(holder=holder)
    services.post_set_deputies(post=post, deputies=[deputy], actor=admin_user)
    client.force_login(admin_user)
    data = _post_form(post, [(deputy, 1)])
    data["holder"] = str(gone.pk)
    last = _last_audit_id()

    response = client.post(reverse("admin:directory_post_change", args=[post.pk]), data)

    assert response.status_code == 200
    assert "holder" in response.context["adminform"].form.errors
    post.refresh_from_db()
    assert post.holder == holder
    assert list(post.deputies.values_list("staff_id", flat=True)) == [deputy.pk]
    assert _audit_after(last) == []


def test_a_new_post_from_the_admin_gets_its_holder_and_deputies_audited(client, admin_user):
    holder, deputy = StaffFactory(), StaffFactory()
    client.force_login(admin_user)
    data = _post_form(Post(code="NEW-1", name="防災監", kana="ぼうさいかん"), [(deputy, 1)])
    data["holder"] = str(holder.pk)
    for key in [k for k in data if k.endswith("-post")]:
        del data[key]
    last = _last_audit_id()

    response = client.post(reverse("admin:directory_post_add"), data)

    assert response.status_code == 302
    post = Post.objects.get(code="NEW-1")
    assert post.holder == holder
    assert list(post.deputies.values_list("staff_id", flat=True)) == [deputy.pk]
    assert selectors.post_search(query="ボウサイカン") == [post]  # the service's search key
    target = ("directory.post", str(post.pk))
    assert _audit_after(last) == [
        ("post.create", admin_user.pk, *target, {"code": "NEW-1", "name": "防災監"}),
        ("post.deputies_change", admin_user.pk, *target, {"previous": [], "new": [_ref(deputy)]}),
        (
            "post.holder_change",
            admin_user.pk,
            *target,
            {"previous": None, "new": _ref(holder), "reason": ""},
        ),
    ]


def test_renaming_a_post_in_the_admin_updates_its_search_key_and_keeps_the_seats(
    client, admin_user, monkeypatch
):
    holder, deputy = StaffFactory(), StaffFactory()
    post = PostFactory(code="HQ-9", name="防災監", kana="ぼうさいかん", holder=holder)
    services.post_set_deputies(post=post, deputies=[deputy], actor=admin_user)
    client.force_login(admin_user)
    data = _post_form(post, [(deputy, 1)])
    data.update(name="危機管理監", kana="ききかんりかん")
    last = _last_audit_id()
    calls = _spy(monkeypatch, "post_update")

    response = client.post(reverse("admin:directory_post_change", args=[post.pk]), data)

    assert response.status_code == 302
    assert calls == [{"post": post, "name": "危機管理監", "kana": "ききかんりかん"}]
    post.refresh_from_db()
    assert (post.name, post.holder_id) == ("危機管理監", holder.pk)
    assert selectors.post_search(query="キキカンリ") == [post]
    assert selectors.post_search(query="ぼうさいかん") == []
    assert _audit_after(last) == []  # the seats did not change


def _spy(monkeypatch, name: str) -> list[dict]:
    """Record the keyword arguments of each call to ``services.<name>`` (which still runs)."""
    calls: list[dict] = []
    real = getattr(services, name)

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(services, name, spy)
    return calls


def _staff_form(staff: Staff | None = None, **changes: str) -> dict[str, str]:
    data = {
        "employee_number": staff.employee_number if staff else "",
        "family_name": staff.family_name if staff else "",
        "given_name": staff.given_name if staff else "",
        "family_kana": staff.family_kana if staff else "",
        "given_kana": staff.given_kana if staff else "",
        "unit": str(staff.unit_id) if staff else "",
        "job_title": staff.job_title if staff else "",
        "email": staff.email if staff else "",
        "mobile": staff.mobile if staff else "",
        "is_active": "on" if staff is None or staff.is_active else "",
        "user": str(staff.user_id or "") if staff else "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_editing_staff_in_the_admin_goes_through_staff_update(client, admin_user, monkeypatch):
    """A changed name is found by the directory search at once: the service rebuilt the
    normalised search key and the reading order."""
    person = StaffFactory(
        family_name="高橋", family_kana="たかはし", given_name="花子", given_kana="はなこ"
    )
    client.force_login(admin_user)
    assert selectors.staff_search(query="たかはし はなこ") == [person]
    calls = _spy(monkeypatch, "staff_update")

    response = client.post(
        reverse("admin:directory_staff_change", args=[person.pk]),
        _staff_form(person, family_name="佐藤", family_kana="さとう"),
    )

    assert response.status_code == 302
    assert calls == [{"staff": person, "family_name": "佐藤", "family_kana": "さとう"}]
    person.refresh_from_db()
    assert (person.family_name, person.family_kana) == ("佐藤", "さとう")
    assert selectors.staff_search(query="サトウ ハナコ") == [person]  # katakana, with a space
    assert selectors.staff_search(query="佐藤花子") == [person]
    assert selectors.staff_search(query="たかはし") == []
    assert person.kana_sort == normalize("さとう" + person.given_kana)


def test_adding_staff_in_the_admin_goes_through_staff_create(client, admin_user, monkeypatch):
    unit = OrgUnitFactory()
    account = UserFactory()
    client.force_login(admin_user)
    calls = _spy(monkeypatch, "staff_create")

    response = client.post(
        reverse("admin:directory_staff_add"),
        _staff_form(
            employee_number="654321",
            family_name="鈴木",
            given_name="一郎",
            family_kana="すずき",
            given_kana="いちろう",
            unit=str(unit.pk),
            email="ichiro.suzuki@city.example.jp",
            user=str(account.pk),
        ),
    )

    assert response.status_code == 302
    assert [c["employee_number"] for c in calls] == ["654321"]
    person = Staff.objects.get(employee_number="654321")
    assert (person.unit_id, person.user_id, person.is_active) == (unit.pk, account.pk, True)
    assert selectors.staff_search(query="スズキ イチロウ") == [person]
    assert selectors.staff_search(query="ichiro.suzuki") == [person]  # the mail's local part
    assert selectors.staff_search(query="654321") == [person]


def test_the_admin_refuses_an_invalid_staff_edit_and_changes_nothing(client, admin_user):
    person = StaffFactory(family_name="山田")
    other = StaffFactory()
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:directory_staff_change", args=[person.pk]),
        _staff_form(person, family_name="佐藤", employee_number=other.employee_number),
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["employee_number"]
    person.refresh_from_db()
    assert person.family_name == "山田"
    assert selectors.staff_search(query="佐藤") == []
