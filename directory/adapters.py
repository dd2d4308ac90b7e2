from allauth.account.adapter import DefaultAccountAdapter

from . import accounts, services


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are issued by administrators from the HR roster: no self sign-up."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def logout(self, request) -> None:
        session_key = request.session.session_key
        super().logout(request)
        services.session_ended(session_key=session_key)

    def set_password(self, user, password: str) -> None:
        super().set_password(user, password)
        accounts.user_password_changed(user=user)
