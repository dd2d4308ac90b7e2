"""Celery tasks: an interface over the services. Ids in, reload, idempotent."""

from __future__ import annotations

from celery import shared_task

from .delivery import notifications_deliver
from .selectors import notifications_stale_pending

DELIVER_BATCH = 500


@shared_task(name="notifications.deliver_task", ignore_result=True)
def notifications_deliver_task(notification_ids: list[int]) -> None:
    """Send push/e-mail notifications. Each is claimed first, so a redelivered task skips it;
    big lists are cut into batches that each share one SMTP connection."""
    for start in range(0, len(notification_ids), DELIVER_BATCH):
        notifications_deliver(notification_ids=notification_ids[start : start + DELIVER_BATCH])


@shared_task(name="notifications.redeliver_task", ignore_result=True)
def notifications_redeliver_task() -> int:
    """Beat runs this every HONBU_SWEEP_SECONDS: push/e-mail rows whose delivery task was lost
    (a worker killed between its sender's commit and the enqueue) are handed out again."""
    stale = notifications_stale_pending()
    if stale:
        notifications_deliver_task.delay(stale)
    return len(stale)
