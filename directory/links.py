"""Absolute links for what leaves the browser: e-mails, onboarding sheets, push notifications.

Where the address comes from, first match wins:

1. ``HONBU_PUBLIC_URL`` (required in production; ``make run`` sets it to the address it serves);
2. the request being answered, when there is one (an administrator issuing accounts);
3. a guess from ``ALLOWED_HOSTS``: its first real host name over https, or
   ``http://localhost:8000`` (``make run``'s default address) for localhost or a wildcard.

Celery workers have no request, so without 1. their e-mails use 3. — never a relative link.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest

LOCAL_URL = "http://localhost:8000"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def _guess_from_allowed_hosts() -> str:
    for host in settings.ALLOWED_HOSTS:
        name = host.lstrip(".")
        if not name or "*" in name:
            continue
        return LOCAL_URL if name in _LOCAL_HOSTS else f"https://{name}"
    return LOCAL_URL


def public_base_url(request: HttpRequest | None = None) -> str:
    """The app's address without a trailing slash, e.g. ``https://honbu.city.example.jp``."""
    if settings.HONBU_PUBLIC_URL:
        return settings.HONBU_PUBLIC_URL.rstrip("/")
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return _guess_from_allowed_hosts()


def absolute_url(link: str, *, request: HttpRequest | None = None) -> str:
    """``/messages/g/1/#msg-3`` → ``https://…/messages/g/1/#msg-3``; absolute links stay."""
    if urlsplit(link).scheme:
        return link
    return public_base_url(request) + "/" + link.lstrip("/")


def rebased_url(url: str, *, request: HttpRequest | None = None) -> str:
    """An absolute URL built from the request (e.g. by allauth) moved onto the public address."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    path += f"#{parts.fragment}" if parts.fragment else ""
    return absolute_url(path, request=request)
