from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm

from . import accounts, services, signin
from .links import rebased_url


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are issued by administrators from the HR roster: no self sign-up."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def pre_authenticate(self, request, **credentials) -> None:
        # Replaces allauth's per-account lock (directory/signin.py says why).
        login = credentials.get("username") or credentials.get("email") or ""
        self._attempt = signin.Attempt(
            request, kind="password", user_pk=signin.account_of(login), login=login
        )
        self._attempt.begin()

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        if user is not None:
            self._attempt.succeeded()
        return user

    def post_login(self, request, user, **kwargs):
        response = super().post_login(request, user, **kwargs)
        # This browser is now one of the owner's: other people's wrong guesses never slow it.
        signin.set_device_cookie(response, user)
        return response

    def logout(self, request) -> None:
        session_key = request.session.session_key
        user_id = getattr(request.user, "pk", None)
        super().logout(request)
        services.session_ended(session_key=session_key, user_id=user_id)

    def get_reset_password_from_key_url(self, key: str) -> str:
        # On the public address when one is configured, not the Host header of the request
        # that asked for the e-mail.
        return rebased_url(super().get_reset_password_from_key_url(key), request=self.request)

    def set_password(self, user, password: str) -> None:
        super().set_password(user, password)
        accounts.user_password_changed(user=user)


class _ThrottledCode:
    """A wrong two-factor code counts like a wrong password, per (account, address)."""

    def clean_code(self) -> str:
        attempt = signin.Attempt(context.request, kind="code", user_pk=self.user.pk)
        attempt.begin()
        code = super().clean_code()
        attempt.succeeded()
        return code


class ThrottledAuthenticateForm(_ThrottledCode, AuthenticateForm):
    pass


class ThrottledReauthenticateForm(_ThrottledCode, ReauthenticateForm):
    pass
