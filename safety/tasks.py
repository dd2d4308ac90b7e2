"""Celery tasks: an interface over the services. Ids in, reload, idempotent."""

from __future__ import annotations

from celery import shared_task

from . import notify


@shared_task(name="safety.round_notify_task", ignore_result=True)
def safety_round_notify_task(round_id: int, step: str = "start") -> int:
    """The first message of a round to everyone in it (once per person and channel)."""
    return notify.round_notify_start(round_id=round_id)


@shared_task(name="safety.resend_sweep_task", ignore_result=True)
def safety_resend_sweep_task() -> int:
    """Beat runs this every HONBU_SWEEP_SECONDS: re-sends that are due, to the unanswered."""
    return notify.round_resend_due()
