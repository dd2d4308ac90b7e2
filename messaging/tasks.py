"""Celery tasks: an interface over services. Ids/JSON in, reload, idempotent."""

from __future__ import annotations

from celery import shared_task

from . import escalation


@shared_task(name="messaging.escalation_sweep_task", ignore_result=True)
def escalation_sweep_task() -> dict:
    """Beat runs this every HONBU_SWEEP_SECONDS. Concurrent runs are safe (row locks)."""
    result = escalation.escalation_sweep()
    return {
        "processed": result.processed,
        "reminders": result.reminders,
        "escalations": result.escalations,
        "unreached": result.unreached,
    }
