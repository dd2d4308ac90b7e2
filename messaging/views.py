"""Messaging pages. Thin: check membership/role through selectors, call one service, render."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from directory.models import Staff
from directory.services import audit_record

from . import records, selectors, services
from .forms import AddMemberForm, SendForm
from .models import Attachment, CommandGroup, GroupMembership, Message, Receipt
from .rendering import message_dict

Role = GroupMembership.Role


def _group_or_404(request: HttpRequest, group_id: int) -> tuple[CommandGroup, str]:
    """The group and the user's role; 404 (not 403) so outsiders learn nothing about it."""
    group, role = selectors.group_and_role(user=request.user, group_id=group_id)
    if group is None:
        raise Http404
    return group, role


def group_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "messaging/group_list.html",
        {"items": selectors.user_group_list(user=request.user)},
    )


def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    group, role = _group_or_404(request, group_id)
    latest = selectors.messages_latest(group=group, limit=50)
    counts = {
        c.message_id: c
        for c in selectors.receipt_counts(
            message_ids=[
                m.pk for m in latest if m.sender_id == request.user.pk or role == Role.COMMANDER
            ]
        )
    }
    my_receipts = dict(
        Receipt.objects.filter(
            user=request.user, message__in=latest, message__requires_ack=True, observer=False
        ).values_list("message_id", "acked_at")
    )
    return render(
        request,
        "messaging/group_detail.html",
        {
            "group": group,
            "role": role,
            "role_label": GroupMembership.Role(role).label,
            "title": selectors.group_title(group=group, user=request.user),
            "messages_json": [message_dict(m) for m in latest],
            "counts_json": {
                c.message_id: {"total": c.total, "read": c.read, "acked": c.acked}
                for c in counts.values()
            },
            "acked_json": [mid for mid, acked in my_receipts.items() if acked],
            "pending_ack_json": [mid for mid, acked in my_receipts.items() if not acked],
            "can_post": selectors.role_can_post(role),
            "can_instruct": selectors.role_can_instruct(role),
            "can_manage": selectors.user_can_manage_members(user=request.user, group=group),
            "edit_minutes": settings.HONBU_EDIT_WINDOW_MINUTES,
        },
    )


def group_history(request: HttpRequest, group_id: int) -> JsonResponse:
    """HTTP catch-up (the websocket's ``sync`` over plain HTTP): messages after ``after``."""
    group, _role = _group_or_404(request, group_id)
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        return JsonResponse({"error": _("Invalid request.")}, status=400)
    rows = selectors.messages_after(group=group, after_seq=after, limit=200)
    return JsonResponse(
        {
            "group": group.pk,
            "last_seq": group.last_seq,
            "messages": [message_dict(m) for m in rows],
            "more": bool(rows) and rows[-1].seq < group.last_seq,
        }
    )


@require_POST
def message_post(request: HttpRequest, group_id: int) -> HttpResponse:
    group, _role = _group_or_404(request, group_id)
    form = SendForm(request.POST, request.FILES)
    if not form.is_valid():
        return JsonResponse(
            {"error": " ".join(e for errs in form.errors.values() for e in errs)}, status=400
        )
    data = form.cleaned_data
    try:
        result = services.message_send(
            group=group,
            sender=request.user,
            body=data["body"],
            client_id=data["client_id"],
            kind=data["kind"],
            priority=data["priority"],
            requires_ack=data["requires_ack"],
            reply_to_id=data["reply_to"],
            attachments=[data["file"]] if data["file"] else [],
            escalation=data["escalation"] or None,
        )
    except PermissionDenied as exc:
        return JsonResponse({"error": str(exc)}, status=403)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse(
        {
            "id": result.message.pk,
            "seq": result.message.seq,
            "duplicate": not result.created,
            "message": message_dict(result.message),
        }
    )


def _message_or_404(request: HttpRequest, message_id: int) -> Message:
    message = selectors.message_for_member(user=request.user, message_id=message_id)
    if message is None:
        raise Http404
    return message


@require_POST
def message_ack(request: HttpRequest, message_id: int) -> HttpResponse:
    message = _message_or_404(request, message_id)
    try:
        services.receipt_acknowledge(user=request.user, message=message)
    except PermissionDenied as exc:
        return JsonResponse({"error": str(exc)}, status=403)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse({"ok": True})


def message_receipts(request: HttpRequest, message_id: int) -> HttpResponse:
    """Who has read/acknowledged (with times) and, above all, who has not."""
    message = _message_or_404(request, message_id)
    if not selectors.user_can_see_receipts(user=request.user, message=message):
        raise PermissionDenied
    rows = selectors.receipt_rows(message=message)
    read = sorted((r for r in rows if r.read_at), key=lambda r: r.read_at)
    unread = sorted(
        (r for r in rows if not r.read_at), key=lambda r: (r.post == "", r.post, r.name)
    )
    acked = sorted((r for r in rows if r.acked_at), key=lambda r: r.acked_at)
    unacked = sorted(
        (r for r in rows if not r.acked_at), key=lambda r: (r.post == "", r.post, r.name)
    )
    if request.GET.get("format") == "json":

        def row(r):
            return {
                "user": r.user_id,
                "name": r.name,
                "unit": r.unit,
                "post": r.post,
                "read_at": r.read_at.isoformat() if r.read_at else None,
                "acked_at": r.acked_at.isoformat() if r.acked_at else None,
            }

        return JsonResponse(
            {
                "message": message.pk,
                "total": len(rows),
                "read": [row(r) for r in read],
                "unread": [row(r) for r in unread],
                "acked": [row(r) for r in acked],
                "unacked": [row(r) for r in unacked],
            }
        )
    template = (
        "messaging/_receipts.html" if request.GET.get("partial") else "messaging/receipts.html"
    )
    return render(
        request,
        template,
        {
            "message": message,
            "total": len(rows),
            "read": read,
            "unread": unread,
            "acked": acked,
            "unacked": unacked,
            "group": message.group,
        },
    )


def attachment_download(request: HttpRequest, attachment_id: int) -> FileResponse:
    att = get_object_or_404(Attachment.objects.select_related("message__group"), pk=attachment_id)
    if not selectors.user_can_read(
        user=request.user, group=att.message.group
    ) and not selectors.user_is_records_admin(user=request.user):
        raise Http404
    if att.message.deleted_at and not selectors.user_is_records_admin(user=request.user):
        raise Http404
    field = att.thumbnail if request.GET.get("thumb") and att.thumbnail else att.file
    content_type = "image/jpeg" if field is att.thumbnail else att.content_type
    response = FileResponse(
        field.open("rb"),
        content_type=content_type,
        as_attachment=not att.is_image,
        filename=att.original_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


def conversation_start(request: HttpRequest, staff_id: int) -> HttpResponse:
    """GET opens an existing conversation or asks to start one; only POST creates it (a page
    elsewhere cannot make someone's browser create groups)."""
    other = get_object_or_404(Staff, pk=staff_id, is_active=True)
    try:
        key = services.direct_conversation_check(me=request.user, other=other)
        if request.method == "POST":
            group = services.direct_conversation_get_or_create(me=request.user, other=other)
        else:
            group = CommandGroup.objects.filter(direct_key=key).first()
            if group is None:
                return render(request, "messaging/conversation_start.html", {"other": other})
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
        return redirect("directory:staff_detail", staff_id=other.pk)
    return redirect("messaging:group_detail", group_id=group.pk)


def group_members(request: HttpRequest, group_id: int) -> HttpResponse:
    group, _role = _group_or_404(request, group_id)
    can_manage = selectors.user_can_manage_members(user=request.user, group=group)
    form = AddMemberForm(request.POST or None)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if "remove" in request.POST:
            membership = get_object_or_404(
                GroupMembership, pk=request.POST.get("remove"), group=group
            )
            services.group_remove_member(membership=membership, actor=request.user)
            flash.success(request, _("The member was removed."))
            return redirect("messaging:group_members", group_id=group.pk)
        if form.is_valid():
            services.group_add_member(
                group=group,
                actor=request.user,
                post=form.cleaned_data.get("post"),
                staff=form.cleaned_data.get("staff"),
                role=form.cleaned_data["role"],
            )
            flash.success(request, _("The members were updated."))
            return redirect("messaging:group_members", group_id=group.pk)
    memberships = group.memberships.select_related("post__holder__unit", "staff__unit").order_by(
        "-role", "post__sort_order", "staff__kana_sort"
    )
    return render(
        request,
        "messaging/group_members.html",
        {
            "group": group,
            "memberships": memberships,
            "form": form,
            "can_manage": can_manage,
            "recipient_count": len(selectors.group_recipients(group=group)),
        },
    )


# --- public record (administrators) ---------------------------------------------------------
def _records_admin(request: HttpRequest) -> None:
    if not selectors.user_is_records_admin(user=request.user):
        raise PermissionDenied


def _exercise(request: HttpRequest) -> str:
    """?exercise=exclude leaves drills out of the record; ?exercise=only exports them alone."""
    value = request.GET.get("exercise", "all")
    return value if value in records.EXERCISE_FILTERS else "all"


def records_index(request: HttpRequest) -> HttpResponse:
    _records_admin(request)
    groups = CommandGroup.objects.order_by("kind", "name")
    return render(request, "messaging/records_index.html", {"groups": groups})


def records_group(request: HttpRequest, group_id: int) -> HttpResponse:
    _records_admin(request)
    group = get_object_or_404(CommandGroup, pk=group_id)
    audit_record(actor=request.user, action="record.view", target=group)
    return render(
        request,
        "messaging/records_group.html",
        {
            "group": group,
            "entries": records.chronology(group=group, exercise=_exercise(request)),
            "exercise": _exercise(request),
        },
    )


def records_export(request: HttpRequest, group_id: int, fmt: str) -> HttpResponse:
    _records_admin(request)
    group = get_object_or_404(CommandGroup, pk=group_id)
    audit_record(actor=request.user, action="record.export", target=group, data={"format": fmt})
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    if fmt == "json":
        body = json.dumps(
            {
                "group": {"id": group.pk, "name": group.name, "kind": group.kind},
                "exported_at": timezone.localtime().isoformat(),
                "exported_by": request.user.get_username(),
                "messages": records.chronology(group=group, exercise=_exercise(request)),
            },
            ensure_ascii=False,
            indent=1,
        )
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
    else:
        response = HttpResponse(
            records.chronology_csv(group=group, exercise=_exercise(request)),
            content_type="text/csv; charset=utf-8",
        )
    response["Content-Disposition"] = f'attachment; filename="chronology-{group.pk}-{stamp}.{fmt}"'
    return response
