"""Logging filters named in ``settings.LOGGING``."""

from __future__ import annotations

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """A refusal (403) or a missing page (404) is one WARNING line, not a traceback.

    Django's ``django.request`` logger attaches the exception to 4xx records (``PermissionDenied``
    raised by a view is an ordinary answer, not a fault); server errors keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
