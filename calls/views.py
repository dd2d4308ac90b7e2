"""Pages of calls: start a call or a conference (forms, CSRF-protected), the call page (the
ringing screen, the call, the conference room; call.js does the rest over the socket), the
person's and a group's call history, and the calls chronology for administrators."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from directory.models import Staff
from directory.services import audit_record
from messaging import selectors as messaging_selectors
from messaging.models import CommandGroup

from . import records, selectors, services
from .models import Call


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Where the form was (a profile, a chat), when it is on this site."""
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//") else fallback)


@require_POST
def call_start(request: HttpRequest) -> HttpResponse:
    try:
        staff_id = int(request.POST.get("staff", ""))
    except ValueError:
        raise Http404 from None
    staff = get_object_or_404(Staff, pk=staff_id)
    try:
        call = services.call_start(caller=request.user, callee=staff)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back(request, reverse("directory:staff_detail", args=[staff.pk]))
    return redirect("calls:call_detail", call_id=call.pk)


@require_POST
def conference_start(request: HttpRequest, group_id: int) -> HttpResponse:
    group, _role = messaging_selectors.group_and_role(user=request.user, group_id=group_id)
    if group is None:
        raise Http404
    try:
        call = services.conference_start(group=group, user=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("messaging:group_detail", group_id=group.pk)
    return redirect(reverse("calls:call_detail", args=[call.pk]) + "?join=1")


@require_POST
def call_decline(request: HttpRequest, call_id: int) -> HttpResponse:
    """The ringing screen's "decline" when the page has no open socket."""
    call = selectors.call_for_user(user=request.user, call_id=call_id)
    if call is None:
        raise Http404
    try:
        services.call_decline(call=call, user=request.user)
    except (PermissionDenied, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect("calls:call_detail", call_id=call.pk)


def call_detail(request: HttpRequest, call_id: int) -> HttpResponse:
    call = selectors.call_for_user(user=request.user, call_id=call_id)
    if call is None:
        raise Http404
    mode = request.GET.get("answer") and "answer" or request.GET.get("join") and "join" or ""
    role = None
    if call.kind == Call.Kind.CONFERENCE:
        role = selectors.conference_role(user=request.user, group=call.group)
    me_caller = call.caller_id == request.user.pk
    other = selectors.other_party(call=call, user=request.user) if call.callee_id else None
    return render(
        request,
        "calls/call.html",
        {
            "call": call,
            "payload": selectors.call_payload(call),
            "mode": mode,
            "me_caller": me_caller,
            "other_name": call.callee_name if me_caller else call.caller_name,
            "other_post": call.callee_post_name if me_caller else call.caller_post_name,
            "other": other,
            "can_call_back": bool(
                other and selectors.user_can_call(user=request.user, staff=other)
            ),
            "moderator": selectors.user_can_moderate(user=request.user, call=call),
            "listen_only": role == "observer",
            "conversation": call.group if call.kind == Call.Kind.DIRECT else None,
        },
    )


def call_list(request: HttpRequest) -> HttpResponse:
    """The person's calls, newest first, and the conferences running in their groups."""
    group_ids = messaging_selectors.user_group_ids(user=request.user)
    conferences = selectors.live_conferences(group_ids=group_ids)
    return render(
        request,
        "calls/call_list.html",
        {
            "calls": selectors.user_recent_calls(user=request.user),
            "conferences": sorted(conferences.values(), key=lambda c: c.started_at),
        },
    )


def group_calls(request: HttpRequest, group_id: int) -> HttpResponse:
    """A group's calls (a conversation's, a command group's conferences): its members."""
    group, _role = messaging_selectors.group_and_role(user=request.user, group_id=group_id)
    if group is None:
        raise Http404
    return render(
        request,
        "calls/group_calls.html",
        {
            "group": group,
            "title": messaging_selectors.group_title(group=group, user=request.user),
            "calls": selectors.group_calls(group=group),
        },
    )


# --- the calls chronology (administrators) ----------------------------------------------------
def _records_admin(request: HttpRequest) -> None:
    if not messaging_selectors.user_is_records_admin(user=request.user):
        raise PermissionDenied


def records_index(request: HttpRequest) -> HttpResponse:
    _records_admin(request)
    filters = records.filters_from(request.GET)
    audit_record(actor=request.user, action="calls.record_view", data=filters.as_dict())
    return render(
        request,
        "calls/records.html",
        {
            "filters": filters,
            "calls": records.calls_chronology(filters=filters),
            "incidents": records.recent_incidents(),
            "groups": CommandGroup.objects.exclude(kind=CommandGroup.Kind.DIRECT).order_by(
                "kind", "name"
            ),
            "query": request.GET.urlencode(),
        },
    )


def records_export(request: HttpRequest, fmt: str) -> HttpResponse:
    _records_admin(request)
    filters = records.filters_from(request.GET)
    audit_record(
        actor=request.user,
        action="calls.record_export",
        data={"format": fmt, **filters.as_dict()},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    if fmt == "json":
        body = json.dumps(
            {
                "exported_at": timezone.localtime().isoformat(),
                "exported_by": request.user.get_username(),
                "filters": filters.as_dict(),
                "audio_recorded": False,
                "calls": records.calls_json(filters=filters),
            },
            ensure_ascii=False,
            indent=1,
        )
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
    else:
        response = HttpResponse(
            records.calls_csv(filters=filters), content_type="text/csv; charset=utf-8"
        )
    response["Content-Disposition"] = f'attachment; filename="calls-{stamp}.{fmt}"'
    return response
