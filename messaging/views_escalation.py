"""Escalation pages: the deputy's stand-in view, per-member chase status, and the group's
escalation policies. (Notification settings and push devices: notifications/views.py.)"""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import escalation, policies, selectors
from .forms_escalation import PolicyForm
from .models import CommandGroup, Message, StandIn
from .rendering import message_dict

FILTER_LABELS = {
    "silent": gettext_lazy("Not answered"),
    "unread": gettext_lazy("Not read"),
    "unacked": gettext_lazy("Read, no 了解"),
    "reminded": gettext_lazy("Reminded"),
    "deputy": gettext_lazy("Deputy"),
    "unreached": gettext_lazy("Unreached"),
}


def standin_detail(request: HttpRequest, standin_id: int) -> HttpResponse:
    """A deputy handed an instruction: shown with "standing in for <holder>" and 了解."""
    stand_in = (
        StandIn.objects.select_related(
            "chase__message", "chase__post", "chase__receipt__user__staff"
        )
        .filter(pk=standin_id)
        .first()
    )
    if stand_in is None or stand_in.deputy_id != request.user.pk:
        raise Http404
    if request.method == "POST":
        escalation.standin_respond(user=request.user, stand_in=stand_in, acknowledge=True)
        flash.success(request, _("Acknowledged on behalf of the post."))
        return redirect("messaging:standin_detail", standin_id=stand_in.pk)
    if stand_in.read_at is None:
        stand_in = escalation.standin_respond(
            user=request.user, stand_in=stand_in, acknowledge=False
        )
    message = stand_in.chase.message
    return render(
        request,
        "messaging/standin.html",
        {
            "stand_in": stand_in,
            "message": message,
            "m": message_dict(message),
            "holder": stand_in.chase.receipt.user.display_name(),
            "post": stand_in.chase.post,
            "chase": stand_in.chase,
        },
    )


def message_chase(request: HttpRequest, message_id: int) -> HttpResponse:
    """Per member: read / acknowledged / reminded ×n / escalated to deputy / unreached."""
    message = Message.objects.select_related("group").filter(pk=message_id).first()
    if (
        message is None
        or not selectors.user_can_read(user=request.user, group=message.group)
        and not selectors.user_is_records_admin(user=request.user)
    ):
        raise Http404
    if not selectors.user_can_see_receipts(user=request.user, message=message):
        raise PermissionDenied
    if request.GET.get("format") == "summary":
        return JsonResponse({"message": message.pk, **selectors.chase_summary(message=message)})
    rows = selectors.chase_rows(message=message)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "message": message.pk,
                "rows": [r.as_json() for r in rows],
                "timeline": selectors.chase_timeline_json(message=message),
            }
        )
    return render(
        request,
        "messaging/_chase.html" if request.GET.get("partial") else "messaging/chase.html",
        {
            "message": message,
            "group": message.group,
            "rows": rows,
            "timeline": selectors.chase_timeline(message=message),
        },
    )


def group_policy(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(CommandGroup, pk=group_id, is_active=True)
    can_edit = selectors.user_can_edit_policy(user=request.user, group=group)
    if not (can_edit or selectors.user_can_read(user=request.user, group=group)):
        raise Http404
    forms = {
        p: PolicyForm(
            request.POST if request.POST.get("priority") == p else None,
            prefix=p,
            initial=policies.policy_for(group=group, priority=p),
        )
        for p in Message.Priority.values
    }
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        priority = request.POST.get("priority")
        form = forms.get(priority)
        if form is not None and form.is_valid():
            try:
                policies.policy_update(
                    group=group, priority=priority, actor=request.user, **form.policy()
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                flash.success(request, _("The escalation policy was saved."))
                return redirect("messaging:group_policy", group_id=group.pk)
    return render(
        request,
        "messaging/policy.html",
        {
            "group": group,
            "can_edit": can_edit,
            "forms": [(Message.Priority(p).label, p, f) for p, f in forms.items()],
        },
    )


def message_pending(request: HttpRequest, message_id: int) -> HttpResponse:
    """The commander's view: who has NOT answered, first, grouped by bureau/ward, with the
    deputy in charge, the time since delivery and a number to call; filters and counts on top;
    one page of 100 at a time (``?status=…&page=…``; ``?partial=1`` for the live refresh)."""
    message = selectors.message_for_member(user=request.user, message_id=message_id)
    if message is None and selectors.user_is_records_admin(user=request.user):
        message = Message.objects.select_related("group").filter(pk=message_id).first()
    if message is None:
        raise Http404
    if not selectors.user_can_see_receipts(user=request.user, message=message):
        raise PermissionDenied
    try:
        page_number = int(request.GET.get("page", "1"))
    except ValueError:
        page_number = 1
    page = selectors.pending_page(
        message=message, status=request.GET.get("status", "silent"), page=page_number
    )
    filters = [(name, FILTER_LABELS[name], page.counts[name]) for name in selectors.FILTERS]
    if not message.requires_ack:
        filters = [f for f in filters if f[0] != "unacked"]
    template = "messaging/_pending.html" if request.GET.get("partial") else "messaging/pending.html"
    return render(
        request,
        template,
        {
            "message": message,
            "group": message.group,
            "page": page,
            "filters": filters,
            "now": timezone.now(),
        },
    )
