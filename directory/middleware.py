from __future__ import annotations

import ipaddress

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


class TrustedProxyMiddleware:
    """REMOTE_ADDR becomes the real client's address when the request came through one of the
    proxies in HONBU_TRUSTED_PROXIES (e.g. nginx on 127.0.0.1): X-Forwarded-For is read from
    the right, skipping trusted hops, and believed from nobody else. Without it every phone
    behind nginx would share nginx's address for the sign-in and answer rate limits."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.trusted = [
            ipaddress.ip_network(n, strict=False) for n in settings.HONBU_TRUSTED_PROXIES
        ]

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def __call__(self, request):
        address = request.META.get("REMOTE_ADDR", "")
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if self.trusted and forwarded and self._is_trusted(address):
            hops = [hop.strip() for hop in forwarded.split(",")]
            while hops and self._is_trusted(address):
                hop = hops.pop()
                try:
                    address = str(ipaddress.ip_address(hop))
                except ValueError:
                    break  # a mangled hop: keep the last address a trusted proxy vouched for
            request.META["REMOTE_ADDR"] = address
        return self.get_response(request)
