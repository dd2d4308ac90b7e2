from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode


class UserLanguageMiddleware:
    """Use the signed-in user's chosen language (Japanese by default)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        return self.get_response(request)


class AccountSecurityMiddleware:
    """Before anything else, a signed-in user must (1) replace a one-time initial password and
    (2) set up two-factor if their role requires it (HONBU_MFA_REQUIRED_ROLES)."""

    ALLOWED_PREFIXES = (
        "/accounts/",
        "/static/",
        "/i18n/",
        "/jsi18n/",
        "/manifest.webmanifest",
        "/sw.js",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is None
            or not user.is_authenticated
            or request.path.startswith(self.ALLOWED_PREFIXES)
        ):
            return self.get_response(request)
        nxt = urlencode({"next": request.get_full_path()})
        if user.must_change_password:
            return redirect(reverse("account_change_password") + "?" + nxt)
        if user.role in settings.HONBU_MFA_REQUIRED_ROLES:
            if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                return redirect(reverse("mfa_activate_totp") + "?" + nxt)
        return self.get_response(request)
