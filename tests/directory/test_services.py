import pytest
from django.core.exceptions import ValidationError

from directory import services
from directory.models import AuditEntry, OrgUnit, Post, PostDeputy
from directory.text import normalize
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory

pytestmark = pytest.mark.django_db


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

    grandchild.refresh_from_db()
    assert grandchild.path == f"/{b.pk}/{child.pk}/{grandchild.pk}/"
    assert grandchild.depth == 2


def test_unit_update_refuses_a_cycle_and_changes_nothing():
    a = OrgUnitFactory(parent=None)
    child = OrgUnitFactory(parent=a)
    with pytest.raises(ValidationError):
        services.unit_update(unit=a, parent=child)
    a.refresh_from_db()
    assert a.parent_id is None and a.path == f"/{a.pk}/"


def test_post_assign_holder_is_audited(admin_user):
    post = PostFactory()
    first, second = StaffFactory(), StaffFactory()

    services.post_assign_holder(post=post, holder=first, actor=admin_user)
    services.post_assign_holder(post=post, holder=second, actor=admin_user, reason="4月異動")

    post.refresh_from_db()
    assert post.holder == second
    entries = list(AuditEntry.objects.filter(action="post.holder_change").order_by("id"))
    assert len(entries) == 2
    assert entries[1].actor == admin_user
    assert entries[1].data["previous"]["id"] == first.pk
    assert entries[1].data["new"]["id"] == second.pk
    assert entries[1].data["reason"] == "4月異動"


def test_post_assign_same_holder_twice_logs_once(admin_user):
    post = PostFactory()
    holder = StaffFactory()
    services.post_assign_holder(post=post, holder=holder, actor=admin_user)
    services.post_assign_holder(post=post, holder=holder, actor=admin_user)
    assert AuditEntry.objects.filter(action="post.holder_change").count() == 1


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

    services.post_set_deputies(post=post, deputies=[d2, d1], actor=admin_user)

    assert list(post.deputies.order_by("rank").values_list("staff_id", "rank")) == [
        (d2.pk, 1),
        (d1.pk, 2),
    ]
    assert (
        AuditEntry.objects.filter(action="post.deputies_change", target_id=str(post.pk)).count()
        == 1
    )


def test_post_set_deputies_refuses_the_holder_and_keeps_the_old_list():
    holder, d1 = StaffFactory(), StaffFactory()
    post = PostFactory(holder=holder)
    services.post_set_deputies(post=post, deputies=[d1], actor=None)

    with pytest.raises(ValidationError):
        services.post_set_deputies(post=post, deputies=[holder, d1], actor=None)
    with pytest.raises(ValidationError):
        services.post_set_deputies(post=post, deputies=[d1, d1], actor=None)

    assert list(PostDeputy.objects.filter(post=post).values_list("staff_id", flat=True)) == [d1.pk]


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
    from django.urls import reverse

    holder, d1, gone = StaffFactory(), StaffFactory(), StaffFactory(is_active=False)
    post = PostFactory(holder=holder)
    client.force_login(admin_user)
    url = reverse("admin:directory_post_change", args=[post.pk])

    for bad in ([(holder, 1)], [(d1, 1), (d1, 2)], [(gone, 1)]):
        response = client.post(url, _post_form(post, bad))
        assert response.status_code == 200  # the form again, with the error
        assert response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert not PostDeputy.objects.filter(post=post).exists()

    response = client.post(url, _post_form(post, [(d1, 1)]))
    assert response.status_code == 302
    assert list(PostDeputy.objects.filter(post=post).values_list("staff_id", "rank")) == [
        (d1.pk, 1)
    ]


def test_the_admin_swaps_holder_and_deputy_in_one_save(client, admin_user):
    """A deputy becomes the holder and the holder a deputy in the same save: both audited."""
    from django.urls import reverse

    holder, deputy, other = StaffFactory(), StaffFactory(), StaffFactory()
    post = PostFactory(holder=holder)
    services.post_set_deputies(post=post, deputies=[deputy, other], actor=admin_user)
    client.force_login(admin_user)
    data = _post_form(post, [(holder, 1), (other, 2)])
    data["holder"] = str(deputy.pk)

    response = client.post(reverse("admin:directory_post_change", args=[post.pk]), data)

    assert response.status_code == 302
    post.refresh_from_db()
    assert post.holder == deputy
    assert list(
        PostDeputy.objects.filter(post=post).order_by("rank").values_list("staff_id", flat=True)
    ) == [holder.pk, other.pk]
    actions = list(
        AuditEntry.objects.filter(target_id=str(post.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["post.deputies_change", "post.holder_change"]


def test_the_admin_refuses_an_inactive_holder_and_changes_nothing(client, admin_user):
    from django.urls import reverse

    holder, gone = StaffFactory(), StaffFactory(is_active=False)
    post = PostFactory(holder=holder)
    client.force_login(admin_user)
    data = _post_form(post, [])
    data["holder"] = str(gone.pk)
    before = AuditEntry.objects.count()

    response = client.post(reverse("admin:directory_post_change", args=[post.pk]), data)

    assert response.status_code == 200
    assert "holder" in response.context["adminform"].form.errors
    post.refresh_from_db()
    assert post.holder == holder and AuditEntry.objects.count() == before


def test_a_new_post_from_the_admin_gets_its_holder_and_deputies_audited(client, admin_user):
    from django.urls import reverse

    holder, deputy = StaffFactory(), StaffFactory()
    client.force_login(admin_user)
    data = _post_form(Post(code="NEW-1", name="防災監", kana="ぼうさいかん"), [(deputy, 1)])
    data["holder"] = str(holder.pk)
    for key in [k for k in data if k.endswith("-post")]:
        del data[key]

    response = client.post(reverse("admin:directory_post_add"), data)

    assert response.status_code == 302
    post = Post.objects.get(code="NEW-1")
    assert post.holder == holder
    assert list(post.deputies.values_list("staff_id", flat=True)) == [deputy.pk]
    assert set(
        AuditEntry.objects.filter(target_id=str(post.pk)).values_list("action", flat=True)
    ) == {"post.holder_change", "post.deputies_change"}
