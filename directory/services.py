"""Writes to the directory: units, staff, posts and deputies, roles and closing accounts, audit.

Every function here owns its transaction and is the only way the app changes these rows.
Issuing sign-in accounts and a person's own account settings are in ``accounts``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from . import hooks
from .models import AuditEntry, OrgUnit, Post, PostDeputy, Staff, User
from .text import join_key, normalize

ERR_DEPUTY_IS_HOLDER = _("The holder of a post cannot also be its deputy.")
ERR_DEPUTY_TWICE = _("The same person appears twice in the deputy list.")
ERR_INACTIVE_STAFF = _("%(name)s is not active and cannot hold or stand in for a post.")
ERR_UNIT_CYCLE = _("A unit cannot be placed under itself or one of its own sub-units.")


# --- audit ----------------------------------------------------------------------------------
def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
    )


# --- search keys ----------------------------------------------------------------------------
def staff_search_fields(staff: Staff) -> tuple[str, str]:
    """(search_key, kana_sort) for a staff row; used by services and the bulk import."""
    key = join_key(
        staff.employee_number,
        staff.family_name + staff.given_name,
        staff.family_kana + staff.given_kana,
        staff.email.split("@")[0] if staff.email else "",
    )
    return key, normalize(staff.family_kana + staff.given_kana)


def unit_search_key(unit: OrgUnit) -> str:
    return join_key(unit.code, unit.name, unit.kana)


def post_search_key(post: Post) -> str:
    return join_key(post.code, post.name, post.kana)


# --- units ----------------------------------------------------------------------------------
def _unit_place(unit: OrgUnit) -> None:
    parent = unit.parent
    unit.depth = parent.depth + 1 if parent else 0
    unit.path = f"{parent.path if parent else '/'}{unit.pk}/"


@transaction.atomic
def unit_create(
    *,
    code: str,
    name: str,
    kind: str,
    parent: OrgUnit | None = None,
    kana: str = "",
    sort_order: int = 0,
) -> OrgUnit:
    unit = OrgUnit(code=code, name=name, kana=kana, kind=kind, parent=parent, sort_order=sort_order)
    unit.search_key = unit_search_key(unit)
    unit.full_clean(exclude=["path"])
    unit.save()
    _unit_place(unit)
    unit.save(update_fields=["path", "depth"])
    return unit


@transaction.atomic
def unit_update(*, unit: OrgUnit, actor: User | None = None, **fields: Any) -> OrgUnit:
    unit = OrgUnit.objects.select_for_update().get(pk=unit.pk)
    new_parent = fields.get("parent", unit.parent)
    if new_parent is not None and (
        new_parent.pk == unit.pk or new_parent.path.startswith(unit.path)
    ):
        raise ValidationError({"parent": ERR_UNIT_CYCLE})
    for name, value in fields.items():
        setattr(unit, name, value)
    unit.search_key = unit_search_key(unit)
    unit.full_clean(exclude=["path"])
    old_path = unit.path
    _unit_place(unit)
    unit.save()
    if unit.path != old_path:
        unit_rebuild_paths(root=unit)
    return unit


def unit_rebuild_paths(*, root: OrgUnit | None = None) -> int:
    """Recompute path/depth below ``root`` (or the whole tree) in memory, then bulk-update."""
    units = {u.pk: u for u in OrgUnit.objects.all().only("id", "parent_id", "path", "depth")}
    children: dict[int | None, list[OrgUnit]] = {}
    for u in units.values():
        children.setdefault(u.parent_id, []).append(u)
    changed: list[OrgUnit] = []

    def walk(node: OrgUnit, path: str, depth: int) -> None:
        if node.path != path or node.depth != depth:
            node.path, node.depth = path, depth
            changed.append(node)
        for child in children.get(node.pk, []):
            walk(child, f"{path}{child.pk}/", depth + 1)

    if root is None:
        for top in children.get(None, []):
            walk(top, f"/{top.pk}/", 0)
    else:
        node = units[root.pk]
        walk(node, root.path, root.depth)
    OrgUnit.objects.bulk_update(changed, ["path", "depth"], batch_size=1000)
    return len(changed)


# --- staff ----------------------------------------------------------------------------------
@transaction.atomic
def staff_create(
    *,
    employee_number: str,
    family_name: str,
    given_name: str,
    family_kana: str,
    given_kana: str,
    unit: OrgUnit,
    job_title: str = "",
    email: str = "",
    mobile: str = "",
    is_active: bool = True,
    user: User | None = None,
) -> Staff:
    staff = Staff(
        employee_number=employee_number,
        family_name=family_name,
        given_name=given_name,
        family_kana=family_kana,
        given_kana=given_kana,
        unit=unit,
        job_title=job_title,
        email=email,
        mobile=mobile,
        is_active=is_active,
        user=user,
    )
    staff.search_key, staff.kana_sort = staff_search_fields(staff)
    staff.full_clean()
    staff.save()
    return staff


@transaction.atomic
def staff_update(*, staff: Staff, **fields: Any) -> Staff:
    staff = Staff.objects.select_for_update().get(pk=staff.pk)
    for name, value in fields.items():
        setattr(staff, name, value)
    staff.search_key, staff.kana_sort = staff_search_fields(staff)
    staff.full_clean()
    staff.save()
    return staff


# --- posts ----------------------------------------------------------------------------------
@transaction.atomic
def post_create(
    *,
    code: str,
    name: str,
    kana: str = "",
    unit: OrgUnit | None = None,
    holder: Staff | None = None,
    sort_order: int = 0,
    actor: User | None = None,
) -> Post:
    post = Post(code=code, name=name, kana=kana, unit=unit, sort_order=sort_order)
    post.search_key = post_search_key(post)
    post.full_clean()
    post.save()
    audit_record(actor=actor, action="post.create", target=post, data={"code": code, "name": name})
    if holder is not None:
        post = post_assign_holder(post=post, holder=holder, actor=actor)
    return post


@transaction.atomic
def post_update(*, post: Post, **fields: Any) -> Post:
    """Change a post's own fields (code, name, reading, unit, order). The holder is not one of
    them: it changes through ``post_assign_holder`` (audited, and the access listeners told)."""
    if "holder" in fields or "holder_id" in fields:
        raise TypeError("post_update() does not change the holder; use post_assign_holder()")
    post = Post.objects.select_for_update().get(pk=post.pk)
    for name, value in fields.items():
        setattr(post, name, value)
    post.search_key = post_search_key(post)
    post.full_clean()
    post.save()
    return post


def staff_ref(staff: Staff | None) -> dict[str, Any] | None:
    if staff is None:
        return None
    return {"id": staff.pk, "employee_number": staff.employee_number, "name": staff.full_name}


@transaction.atomic
def post_assign_holder(
    *, post: Post, holder: Staff | None, actor: User | None, reason: str = ""
) -> Post:
    """Give the post to ``holder`` (or leave it vacant). Audited; a no-op change is not logged."""
    post = Post.objects.select_for_update(of=("self",)).select_related("holder").get(pk=post.pk)
    previous = post.holder
    if (previous.pk if previous else None) == (holder.pk if holder else None):
        return post
    if holder is not None and not holder.is_active:
        raise ValidationError({"holder": ERR_INACTIVE_STAFF % {"name": holder.full_name}})
    if holder is not None and post.deputies.filter(staff=holder).exists():
        raise ValidationError({"holder": ERR_DEPUTY_IS_HOLDER})
    post.holder = holder
    post.save(update_fields=["holder"])
    audit_record(
        actor=actor,
        action="post.holder_change",
        target=post,
        data={"previous": staff_ref(previous), "new": staff_ref(holder), "reason": reason},
    )
    # Groups address posts: apps above move the old holder out and the new one in at once.
    hooks.access_changed(
        hooks.AccessChange(
            reason=hooks.REASON_POST_HOLDER,
            user_ids=tuple(s.user_id for s in (previous, holder) if s and s.user_id),
            post_id=post.pk,
        )
    )
    return post


def post_deputies_check(*, holder_id: int | None, deputies: Sequence[Staff]) -> None:
    """The rules of a deputy list (also applied by the admin's inline before it saves)."""
    ids = [d.pk for d in deputies]
    if len(set(ids)) != len(ids):
        raise ValidationError({"deputies": ERR_DEPUTY_TWICE})
    if holder_id is not None and holder_id in ids:
        raise ValidationError({"deputies": ERR_DEPUTY_IS_HOLDER})
    for d in deputies:
        if not d.is_active:
            raise ValidationError({"deputies": ERR_INACTIVE_STAFF % {"name": d.full_name}})


@transaction.atomic
def post_set_deputies(*, post: Post, deputies: Sequence[Staff], actor: User | None) -> Post:
    """Replace the ordered deputy list (first stands in first). Audited."""
    post = Post.objects.select_for_update().get(pk=post.pk)
    post_deputies_check(holder_id=post.holder_id, deputies=deputies)
    return _deputies_replace(post, deputies, actor)


@transaction.atomic
def post_set_seats(
    *,
    post: Post,
    holder: Staff | None,
    deputies: Sequence[Staff],
    actor: User | None,
    reason: str = "",
) -> Post:
    """The holder and the ordered deputies in one step (the admin's post page), so a deputy
    can become the holder, and the holder a deputy, in one save. Both changes are audited."""
    post = Post.objects.select_for_update(of=("self",)).get(pk=post.pk)
    post_deputies_check(holder_id=holder.pk if holder else None, deputies=deputies)
    if holder is not None and not holder.is_active and holder.pk != post.holder_id:
        raise ValidationError({"holder": ERR_INACTIVE_STAFF % {"name": holder.full_name}})
    _deputies_replace(post, deputies, actor)
    return post_assign_holder(post=post, holder=holder, actor=actor, reason=reason)


def _deputies_replace(post: Post, deputies: Sequence[Staff], actor: User | None) -> Post:
    ids = [d.pk for d in deputies]
    before = list(post.deputies.order_by("rank").values_list("staff_id", flat=True))
    if before == ids:
        return post
    post.deputies.all().delete()
    PostDeputy.objects.bulk_create(
        [PostDeputy(post=post, staff=d, rank=i) for i, d in enumerate(deputies, start=1)]
    )
    audit_record(
        actor=actor,
        action="post.deputies_change",
        target=post,
        data={"previous": before, "new": [staff_ref(d) for d in deputies]},
    )
    return post


# --- roles and access -----------------------------------------------------------------------
@transaction.atomic
def user_set_role(*, user: User, role: str, actor: User | None) -> User:
    """Set a role; administrators get the Django admin (is_staff + superuser)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if role not in User.Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    previous = user.role
    user.role = role
    user.is_staff = user.is_superuser = role == User.Role.ADMIN
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    if previous != role:
        audit_record(
            actor=actor,
            action="user.role_change",
            target=user,
            data={"previous": previous, "new": role},
        )
    return user


def user_accounts_close(*, user_ids: Iterable[int], actor: User | None, reason: str) -> int:
    """Deactivate accounts (e.g. staff who left): they can no longer sign in, the change is
    audited and the access listeners are told (their open websockets close at once). Returns
    how many were closed."""
    with transaction.atomic():
        ids = sorted(
            User.objects.filter(pk__in=list(user_ids), is_active=True)
            .select_for_update()
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        User.objects.filter(pk__in=ids).update(is_active=False)
        audit_record(actor=actor, action="user.deactivate", data={"users": ids, "reason": reason})
        hooks.access_changed(
            hooks.AccessChange(reason=hooks.REASON_DEACTIVATED, user_ids=tuple(ids))
        )
    return len(ids)


def session_ended(*, session_key: str | None, user_id: int | None = None) -> None:
    """A sign-out: the access listeners are told, so the websockets opened with that session
    close (the person's other devices stay). ``user_id``: whose session it was, when known."""
    if not session_key:
        return
    hooks.access_changed(
        hooks.AccessChange(
            reason=hooks.REASON_SIGNED_OUT,
            session_key=session_key,
            user_ids=(user_id,) if user_id else (),
        )
    )
