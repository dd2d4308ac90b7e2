"""Celery tasks: an interface over the services. Ids in, reload, idempotent."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task
from django.conf import settings

from . import notify


@shared_task(name="safety.round_notify_task", ignore_result=True)
def safety_round_notify_task(round_id: int, step: str = "start") -> int:
    """The first message of a round to everyone in it (once per person and channel)."""
    return notify.round_notify_start(round_id=round_id)


@shared_task(name="safety.resend_sweep_task", ignore_result=True)
def safety_resend_sweep_task() -> int:
    """Beat runs this every HONBU_SWEEP_SECONDS: re-sends that are due, to the unanswered."""
    return notify.round_resend_due()


@shared_task(name="safety.jma_poll_task", ignore_result=True)
def safety_jma_poll_task() -> dict | None:
    """Beat runs this every HONBU_JMA_POLL_SECONDS when HONBU_JMA_FEED_URL is set: one poll of
    the JMA feed (idempotent: every entry and every step once, however many workers poll)."""
    if not settings.HONBU_JMA_FEED_URL:
        return None
    from .jma.poller import jma_poll  # here: rounds.py imports this module

    return asdict(jma_poll())
