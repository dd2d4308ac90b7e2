"""Site-wide security views: where browsers report what the Content-Security-Policy blocked,
and the server-error page's one exception to it."""

from __future__ import annotations

import json
import logging

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
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


@csp_update({"style-src": [UNSAFE_INLINE]})
def server_error(request, *args, **kwargs):
    # templates/500.html carries its own styles (it may not rely on static files): the one
    # page allowed an inline style. Still no inline script.
    return django_server_error(request, *args, **kwargs)
