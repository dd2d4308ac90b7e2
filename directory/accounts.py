"""Sign-in accounts for staff: issuing them from the roster (initial password or invitation
link), and what a person does to their own account (password, language).

Deactivating accounts (``user_accounts_close``) and roles (``user_set_role``) stay in
``services``: they are the directory's access rules, used by the import and the admin.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .links import absolute_url
from .models import Staff, User
from .services import audit_record, staff_ref

ERR_ALREADY_HAS_ACCOUNT = _("already has a sign-in account")
ERR_STAFF_INACTIVE = _("is not active")
ERR_EMAIL_TAKEN = _("the e-mail address %(email)s is used by another account")
ERR_NO_EMAIL_FOR_INVITATION = _("has no work e-mail address for an invitation")

# Unambiguous characters (no 0/O, 1/l/I) so a password read off paper types correctly.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 (an alphabet, not a password)


class IssueMethod:
    PASSWORD = "password"  # noqa: S105 (a one-time initial password, changed at first sign-in)
    INVITATION = "invitation"  # a link to set one's own password (no password exists yet)


@dataclass
class IssuedAccount:
    staff: Staff
    user: User | None
    password: str = ""  # shown once on the onboarding sheet, never stored in clear
    invitation_url: str = ""
    skipped_reason: str = ""


def generate_initial_password() -> str:
    raw = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def account_invitation_url(*, user: User, base_url: str = "") -> str:
    """The link that sets the first password. ``base_url`` is the address the administrator
    issuing the accounts used; without one (no request), the public address
    (``directory.links``): an e-mail must never carry a relative link."""
    path = reverse(
        "account_reset_password_from_key",
        kwargs={
            "uidb36": user_pk_to_url_str(user),
            "key": default_token_generator.make_token(user),
        },
    )
    if not urlsplit(base_url).scheme:
        return absolute_url(path)
    return base_url.rstrip("/") + path


def account_issue(
    *,
    staff: Iterable[Staff],
    method: str,
    role: str,
    actor: User | None,
    base_url: str = "",
    send_invitation_email: bool = False,
) -> list[IssuedAccount]:
    """Create sign-in accounts (username = employee number) for staff who have none.

    Each account is created in its own transaction so one clash (an e-mail used elsewhere)
    does not stop the rest; every skipped person comes back with the reason.
    """
    if method not in (IssueMethod.PASSWORD, IssueMethod.INVITATION):
        raise ValidationError({"method": _("Unknown issuing method.")})
    if role not in User.Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    results: list[IssuedAccount] = []
    for person in staff:
        with transaction.atomic():
            person = (
                Staff.objects.select_for_update(of=("self",))
                .select_related("unit")
                .get(pk=person.pk)
            )
            if person.user_id is not None:
                results.append(
                    IssuedAccount(person, person.user, skipped_reason=str(ERR_ALREADY_HAS_ACCOUNT))
                )
                continue
            if not person.is_active:
                results.append(IssuedAccount(person, None, skipped_reason=str(ERR_STAFF_INACTIVE)))
                continue
            email = person.email.strip().lower()
            if method == IssueMethod.INVITATION and not email:
                results.append(
                    IssuedAccount(person, None, skipped_reason=str(ERR_NO_EMAIL_FOR_INVITATION))
                )
                continue
            if email and (
                User.objects.filter(email__iexact=email).exists()
                or EmailAddress.objects.filter(email__iexact=email).exists()
            ):
                results.append(
                    IssuedAccount(
                        person, None, skipped_reason=str(ERR_EMAIL_TAKEN % {"email": email})
                    )
                )
                continue
            if User.objects.filter(username__iexact=person.employee_number).exists():
                results.append(
                    IssuedAccount(person, None, skipped_reason=str(ERR_ALREADY_HAS_ACCOUNT))
                )
                continue
            user = User(
                username=person.employee_number,
                email=email,
                first_name=person.given_name,
                last_name=person.family_name,
                role=role,
                is_staff=role == User.Role.ADMIN,
                is_superuser=role == User.Role.ADMIN,
            )
            issued = IssuedAccount(person, user)
            if method == IssueMethod.PASSWORD:
                issued.password = generate_initial_password()
                user.set_password(issued.password)
                user.must_change_password = True
            else:
                user.set_unusable_password()
            user.save()
            if email:
                EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            person.user = user
            person.save(update_fields=["user", "updated_at"])
            if method == IssueMethod.INVITATION:
                issued.invitation_url = account_invitation_url(user=user, base_url=base_url)
            audit_record(
                actor=actor,
                action="account.issue",
                target=user,
                data={"staff": staff_ref(person), "method": method, "role": role},
            )
            results.append(issued)
    if send_invitation_email:
        invited = [r for r in results if r.invitation_url]
        transaction.on_commit(lambda: _send_invitations(invited))
    return results


def _send_invitations(invited: list[IssuedAccount]) -> None:
    for item in invited:
        body = render_to_string(
            "account/email/invitation.txt",
            {
                "staff": item.staff,
                "url": item.invitation_url,
                "site": settings.HONBU_SITE_NAME,
            },
        )
        send_mail(
            subject=str(_("[%(site)s] Your sign-in account") % {"site": settings.HONBU_SITE_NAME}),
            message=body,
            from_email=None,
            recipient_list=[item.user.email],
        )


# --- a person's own account ----------------------------------------------------------------
def user_set_language(*, user: User, language: str) -> User:
    valid = {code for code, _name in User._meta.get_field("language").choices}
    if language not in valid:
        raise ValidationError({"language": _("Unknown language.")})
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
    return user


def user_password_changed(*, user: User) -> User:
    """Called when a user sets their own password: the initial one no longer has to change."""
    if user.must_change_password:
        User.objects.filter(pk=user.pk).update(must_change_password=False)
        user.must_change_password = False
    return user
