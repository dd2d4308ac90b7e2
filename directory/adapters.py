from allauth.account.adapter import DefaultAccountAdapter

from . import accounts, services
from .links import rebased_url


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are issued by administrators from the HR roster: no self sign-up."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def logout(self, request) -> None:
        session_key = request.session.session_key
        super().logout(request)
        services.session_ended(session_key=session_key)

    def get_reset_password_from_key_url(self, key: str) -> str:
        # On the public address when one is configured, not the Host header of the request
        # that asked for the e-mail.
        return rebased_url(super().get_reset_password_from_key_url(key), request=self.request)

    def set_password(self, user, password: str) -> None:
        super().set_password(user, password)
        accounts.user_password_changed(user=user)
