"""Celery tasks: an interface over the services. Ids in, reload, idempotent."""

from __future__ import annotations

from celery import shared_task

from .delivery import notification_deliver
from .selectors import notifications_stale_pending


@shared_task(name="notifications.deliver_task", ignore_result=True)
def notifications_deliver_task(notification_ids: list[int]) -> None:
    """Send push/e-mail notifications. Each is claimed first, so a redelivered task skips it."""
    for nid in notification_ids:
        notification_deliver(notification_id=nid)


@shared_task(name="notifications.redeliver_task", ignore_result=True)
def notifications_redeliver_task() -> int:
    """Beat runs this every HONBU_SWEEP_SECONDS: push/e-mail rows whose delivery task was lost
    (a worker killed between its sender's commit and the enqueue) are handed out again."""
    stale = notifications_stale_pending()
    if stale:
        notifications_deliver_task.delay(stale)
    return len(stale)
