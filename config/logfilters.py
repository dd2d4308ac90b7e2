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


class CancelledChannelCleanup(logging.Filter):
    """channels_redis's "Unexpected exception while cleaning-up channel:" with a
    ``CancelledError`` is one WARNING line, not a traceback.

    A consumer's channel receive is cancelled when its socket goes; channels_redis then
    unsubscribes the consumer's one-off channel, waiting for its Redis connection's lock. When
    the server cancels the application a second time meanwhile (Daphne kills instances that
    take over its ``application_close_timeout``; uvicorn cancels what is left after its
    graceful-shutdown timeout), that wait is cancelled and channels_redis logs it with a
    traceback: ~1,100 of them per benchmark under Daphne (issue 14). Nothing is lost: the
    channel's name is never used again, and its subscription ends with the process's Redis
    connection. Any other exception keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        import asyncio

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            record.msg = "a leaving socket's channel clean-up was cancelled by the server"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
