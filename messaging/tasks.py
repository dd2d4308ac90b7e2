"""Celery tasks: an interface over services. Ids/JSON in, reload, idempotent."""

from __future__ import annotations

from celery import shared_task

from . import alerts, escalation


@shared_task(name="messaging.escalation_sweep_task", ignore_result=True)
def escalation_sweep_task() -> dict:
    """Beat runs this every HONBU_SWEEP_SECONDS. Concurrent runs are safe (row locks). It also
    runs the alerts of instructions whose alert task died (alerts.instruction_alerts_overdue)."""
    result = escalation.escalation_sweep()
    alerted = alerts.instruction_alerts_overdue()
    return {
        "alerts": alerted,
        "processed": result.processed,
        "reminders": result.reminders,
        "escalations": result.escalations,
        "unreached": result.unreached,
    }


@shared_task(name="messaging.instruction_alert_task", ignore_result=True)
def instruction_alert_task(message_id: int) -> int:
    """Right after an important/urgent instruction is sent: push it to those with no live
    page. Idempotent (one push per person and instruction)."""
    return alerts.instruction_alert(message_id=message_id)
