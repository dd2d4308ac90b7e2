from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are issued by administrators from the HR roster: no self sign-up."""

    def is_open_for_signup(self, request) -> bool:
        return False
