"""A round's answers and totals as CSV or Excel (headquarters; private contacts for
administrators only; every export audited)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation

from directory.services import audit_record

from . import exports, selectors
from .models import SafetyRound

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
