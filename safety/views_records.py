"""A round's answers and totals as CSV or Excel (headquarters; private contacts for
administrators only; every export audited), and the page where staff set their own private
e-mail for safety confirmation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django import forms
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from directory.services import audit_record

from . import contacts, exports, selectors
from .models import SafetyContact, SafetyRound

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LINES_PER_CHUNK = 500


def _in_language(lines: Iterator[str], language: str) -> Iterator[str]:
    """The CSV is written while it is sent, after the view returned: in the reader's language."""
    with translation.override(language):
        yield from lines


def _take(lines: Iterator[str], n: int) -> str:
    out = []
    for line in lines:
        out.append(line)
        if len(out) >= n:
            break
    return "".join(out)


async def _stream(lines: Iterator[str]) -> AsyncIterator[str]:
    """Under ASGI (Daphne) a synchronous iterator would be read to the end before the first
    byte is sent; this hands the database work to the sync thread a chunk at a time."""
    take = sync_to_async(_take)
    while chunk := await take(lines, LINES_PER_CHUNK):
        yield chunk


def round_export(request: HttpRequest, round_id: int, fmt: str) -> HttpResponse:
    if not selectors.user_can_see_totals(user=request.user):
        raise PermissionDenied
    round_ = get_object_or_404(SafetyRound, pk=round_id)
    private = selectors.user_sees_private_contacts(user=request.user)
    audit_record(
        actor=request.user,
        action="safety.round_export",
        target=round_,
        data={"format": fmt, "private_contacts": private},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    if fmt == "xlsx":
        response = HttpResponse(
            exports.round_xlsx(round_=round_, private=private), content_type=XLSX
        )
    else:
        lines = _in_language(
            exports.round_csv(round_=round_, private=private), translation.get_language()
        )
        response = StreamingHttpResponse(
            _stream(lines) if isinstance(request, ASGIRequest) else lines,
            content_type="text/csv; charset=utf-8",
        )
    response["Content-Disposition"] = f'attachment; filename="safety-{round_.pk}-{stamp}.{fmt}"'
    return response


class ContactForm(forms.Form):
    email = forms.EmailField(
        label=_("Private e-mail"),
        required=False,
        max_length=contacts.EMAIL_MAX,
        help_text=_("Leave empty to remove it."),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def contact_settings(request: HttpRequest) -> HttpResponse:
    """The person's own private e-mail for safety confirmation (only they and administrators
    see it)."""
    staff = getattr(request.user, "staff", None)
    if staff is None:
        return render(request, "safety/contact.html", {"no_staff": True}, status=404)
    current = SafetyContact.objects.filter(staff=staff).first()
    form = ContactForm(request.POST or None, initial={"email": current.email if current else ""})
    if request.method == "POST" and form.is_valid():
        try:
            saved = contacts.contact_set(
                staff=staff, email=form.cleaned_data["email"], actor=request.user
            )
        except ValidationError as exc:
            form.add_error("email", exc.message_dict.get("email", exc.messages))
        else:
            flash.success(
                request,
                gettext("Your private e-mail is saved.")
                if saved
                else gettext("Your private e-mail is removed."),
            )
            return redirect("safety:contact")
    return render(request, "safety/contact.html", {"form": form, "current": current})
