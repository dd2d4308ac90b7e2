"""A person's notification settings, their devices' push subscriptions, and where tapping a
notification leads. Thin: validate, call one service, render."""

from __future__ import annotations

import json

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import NotificationSettingsForm
from .vapid import vapid_keys

MAX_ENDPOINT = 1000


def notification_settings(request: HttpRequest) -> HttpResponse:
    prefs = selectors.user_settings(user=request.user)
    form = NotificationSettingsForm(
        request.POST or None, initial={"push": prefs.push, "email": prefs.email}
    )
    if request.method == "POST" and "test" in request.POST:
        services.notification_test(user=request.user)
        flash.success(request, _("A test notification is on its way."))
        return redirect("notifications:settings")
    if request.method == "POST" and form.is_valid():
        services.notification_settings_update(
            user=request.user, push=form.cleaned_data["push"], email=form.cleaned_data["email"]
        )
        flash.success(request, _("Your settings were saved."))
        return redirect("notifications:settings")
    _vapid, public = vapid_keys()
    return render(
        request,
        "notifications/settings.html",
        {
            "form": form,
            "vapid_public_key": public,
            "devices": selectors.user_device_count(user=request.user),
        },
    )


def _invalid() -> JsonResponse:
    return JsonResponse({"error": _("Invalid request.")}, status=400)


@require_POST
def push_subscribe(request: HttpRequest) -> JsonResponse:
    try:
        data = json.loads(request.body or b"{}")
        endpoint = data["endpoint"]
        keys = data["keys"]
        p256dh, auth = keys["p256dh"], keys["auth"]
    except (ValueError, KeyError, TypeError):
        return _invalid()
    if not (
        isinstance(endpoint, str)
        and endpoint.startswith("https://")
        and len(endpoint) <= MAX_ENDPOINT
        and isinstance(p256dh, str)
        and isinstance(auth, str)
        and len(p256dh) <= 200
        and len(auth) <= 100
    ):
        return _invalid()
    try:
        services.push_subscription_save(
            user=request.user,
            endpoint=endpoint,
            p256dh=p256dh,
            auth=auth,
            user_agent=request.headers.get("User-Agent", ""),
        )
    except PermissionDenied as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    return JsonResponse({"ok": True})


@require_POST
def push_unsubscribe(request: HttpRequest) -> JsonResponse:
    try:
        endpoint = json.loads(request.body or b"{}")["endpoint"]
    except (ValueError, KeyError, TypeError):
        return _invalid()
    if not isinstance(endpoint, str):
        return _invalid()
    services.push_subscription_delete(user=request.user, endpoint=endpoint)
    return JsonResponse({"ok": True})


def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Where a banner or a push tap leads; the kind decides (registered by its app)."""
    note = selectors.user_notification(user=request.user, notification_id=notification_id)
    if note is None:
        raise Http404
    return redirect(services.notification_open_link(note=note))
