"""Site-wide security views: where browsers report what the Content-Security-Policy blocked,
the server-error page's one exception to it, and the 503 page when the database is away."""

from __future__ import annotations

import json
import logging
import sys

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.defaults import server_error as django_server_error

log = logging.getLogger("honbu.csp")
MAX_REPORT_BYTES = 16 * 1024


@csrf_exempt  # browsers send reports without a token (and from any page of the site)
@login_not_required
@require_POST
def csp_report(request):
    """A browser blocked something: log what, where (a page that needs an inline script shows up
    here before a user notices). Bounded, and never an error: reports are best effort."""
    body = request.read(MAX_REPORT_BYTES + 1)
    if len(body) <= MAX_REPORT_BYTES:
        try:
            report = json.loads(body).get("csp-report", {})
        except (ValueError, AttributeError):
            report = {}
        if isinstance(report, dict) and report:
            log.warning(
                "CSP blocked %s (%s) on %s",
                str(report.get("blocked-uri", "?"))[:200],
                str(report.get("violated-directive", "?"))[:100],
                str(report.get("document-uri", "?"))[:200],
            )
    return HttpResponse(status=204)


ERR_DATABASE_AWAY = _(
    "The database cannot be reached at the moment. Nothing was half-saved: what was not "
    "confirmed was not saved. Try again in a moment."
)
RETRY_AFTER_SECONDS = 10


@csp_update({"style-src": [UNSAFE_INLINE]})
def server_error(request, *args, **kwargs):
    # templates/500.html carries its own styles (it may not rely on static files): the one
    # page allowed an inline style. Still no inline script.
    if isinstance(sys.exception(), OperationalError | InterfaceError):
        return database_unavailable(request)
    return django_server_error(request, *args, **kwargs)


def database_unavailable(request) -> HttpResponse:
    """The database is away (restarted, failed over, the network to it cut): 503 with a
    translated page that reloads itself (or JSON for the composer's fetch), not a 500. Its
    transaction never committed, so nothing of the request was stored (docs/reliability.md)."""
    if "json" in request.headers.get("Accept", "") or request.path.endswith("/send/"):
        response = JsonResponse({"error": str(ERR_DATABASE_AWAY)}, status=503)
    else:
        page = loader.get_template("503.html").render({"retry": RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
