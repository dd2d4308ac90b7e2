"""Celery tasks: an interface over services. Ids/JSON in, reload, idempotent."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="messaging.escalation_sweep_task", ignore_result=True)
def escalation_sweep_task() -> dict:
    """Beat runs this every HONBU_SWEEP_SECONDS. Concurrent runs are safe (row locks)."""
    from .escalation import escalation_sweep
    from .notify import notifications_stale_pending

    result = escalation_sweep()
    stale = notifications_stale_pending()
    if stale:
        notifications_deliver_task.delay(stale)
    return {
        "processed": result.processed,
        "reminders": result.reminders,
        "escalations": result.escalations,
        "unreached": result.unreached,
    }


@shared_task(name="messaging.notifications_deliver_task", ignore_result=True)
def notifications_deliver_task(notification_ids: list[int]) -> None:
    """Send push/e-mail notifications. Each is claimed first, so a redelivered task skips it."""
    from .notify import notification_deliver

    for nid in notification_ids:
        notification_deliver(notification_id=nid)
