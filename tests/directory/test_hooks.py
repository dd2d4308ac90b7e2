"""The access-change hooks: what the directory's services tell the apps above it, and when."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client

from directory import hooks, services
from directory.hooks import AccessChange
from directory.models import AuditEntry, Post, User
from tests.factories import PostFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """The changes a listener registered for this test receives; removed again afterwards."""
    changes: list[AccessChange] = []

    def listener(change: AccessChange) -> None:
        changes.append(change)

    hooks.access_listener(listener)
    yield changes
    hooks.access_listener_remove(listener)
    assert listener not in hooks._listeners


def test_a_new_holder_tells_listeners_the_post_and_both_holders(heard):
    old = StaffFactory(user=UserFactory())
    new = StaffFactory(user=UserFactory())
    post = PostFactory(holder=old)
    heard.clear()  # the factory's own assignment

    services.post_assign_holder(post=post, holder=new, actor=None)

    assert heard == [
        AccessChange(
            reason=hooks.REASON_POST_HOLDER,
            user_ids=(old.user_id, new.user_id),
            post_id=post.pk,
        )
    ]


def test_a_holder_change_names_only_the_holders_with_accounts(heard):
    with_account = StaffFactory(user=UserFactory())
    without_account = StaffFactory()
    post = PostFactory()

    services.post_assign_holder(post=post, holder=with_account, actor=None)
    services.post_assign_holder(post=post, holder=without_account, actor=None)
    services.post_assign_holder(post=post, holder=None, actor=None)

    assert heard == [
        AccessChange(hooks.REASON_POST_HOLDER, user_ids=(with_account.user_id,), post_id=post.pk),
        AccessChange(hooks.REASON_POST_HOLDER, user_ids=(with_account.user_id,), post_id=post.pk),
        AccessChange(hooks.REASON_POST_HOLDER, user_ids=(), post_id=post.pk),
    ]


def test_no_call_when_the_holder_does_not_change(heard):
    holder = StaffFactory(user=UserFactory())
    post = PostFactory(holder=holder)
    heard.clear()

    services.post_assign_holder(post=post, holder=holder, actor=None)
    services.post_set_seats(post=post, holder=holder, deputies=[], actor=None)

    assert heard == []


def test_no_call_when_a_holder_change_is_refused(heard):
    holder, gone = StaffFactory(user=UserFactory()), StaffFactory(is_active=False)
    post = PostFactory(holder=holder)
    heard.clear()

    with pytest.raises(ValidationError):
        services.post_assign_holder(post=post, holder=gone, actor=None)

    assert heard == []
    assert Post.objects.get(pk=post.pk).holder_id == holder.pk


def test_closing_accounts_tells_listeners_once_with_the_closed_ids(heard):
    first, second, already_closed = UserFactory(), UserFactory(), UserFactory()
    User.objects.filter(pk=already_closed.pk).update(is_active=False)
    still_active: list[int] = []

    def count_active(change: AccessChange) -> None:
        still_active.append(User.objects.filter(pk__in=change.user_ids, is_active=True).count())

    hooks.access_listener(count_active)
    try:
        closed = services.user_accounts_close(
            user_ids=[second.pk, first.pk, already_closed.pk], actor=None, reason="left"
        )
    finally:
        hooks.access_listener_remove(count_active)

    assert closed == 2
    assert heard == [
        AccessChange(reason=hooks.REASON_DEACTIVATED, user_ids=tuple(sorted([first.pk, second.pk])))
    ]
    assert still_active == [0]  # told after the accounts were closed, in the same transaction


def test_closing_accounts_that_are_already_closed_tells_no_one(heard):
    gone = UserFactory()
    User.objects.filter(pk=gone.pk).update(is_active=False)

    assert services.user_accounts_close(user_ids=[gone.pk], actor=None, reason="again") == 0
    assert services.user_accounts_close(user_ids=[], actor=None, reason="nobody") == 0

    assert heard == []
    assert not AuditEntry.objects.filter(action="user.deactivate").exists()


def test_session_ended_tells_listeners_the_session(heard):
    services.session_ended(session_key="abc123")
    services.session_ended(session_key=None)
    services.session_ended(session_key="")

    assert heard == [AccessChange(reason=hooks.REASON_SIGNED_OUT, session_key="abc123")]


def test_signing_out_tells_listeners_that_session(heard, staff_user):
    browser = Client()
    browser.force_login(staff_user)
    session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value

    response = browser.post("/accounts/logout/")

    assert response.status_code == 302
    assert heard == [
        AccessChange(
            reason=hooks.REASON_SIGNED_OUT, session_key=session_key, user_ids=(staff_user.pk,)
        )
    ]


def test_listeners_run_in_registration_order_once_each_and_can_be_removed():
    calls: list[str] = []

    def first(change: AccessChange) -> None:
        calls.append("first")

    def second(change: AccessChange) -> None:
        calls.append("second")

    assert hooks.access_listener(first) is first
    hooks.access_listener(second)
    hooks.access_listener(first)  # twice: still once, still first
    try:
        hooks.access_changed(AccessChange(reason=hooks.REASON_SIGNED_OUT, session_key="k"))
        assert calls == ["first", "second"]

        hooks.access_listener_remove(first)
        hooks.access_listener_remove(first)  # not registered any more: ignored
        hooks.access_changed(AccessChange(reason=hooks.REASON_SIGNED_OUT, session_key="k"))
        assert calls == ["first", "second", "second"]
    finally:
        hooks.access_listener_remove(first)
        hooks.access_listener_remove(second)
    assert first not in hooks._listeners and second not in hooks._listeners


def test_a_failing_listener_rolls_the_holder_change_back():
    holder, newcomer = StaffFactory(user=UserFactory()), StaffFactory(user=UserFactory())
    post = PostFactory(holder=holder)
    audit_before = AuditEntry.objects.count()

    def broken(change: AccessChange) -> None:
        raise RuntimeError("listener failed")

    hooks.access_listener(broken)
    try:
        with pytest.raises(RuntimeError):
            services.post_assign_holder(post=post, holder=newcomer, actor=None)
    finally:
        hooks.access_listener_remove(broken)

    assert Post.objects.get(pk=post.pk).holder_id == holder.pk
    assert AuditEntry.objects.count() == audit_before
