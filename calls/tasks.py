"""Celery tasks: an interface over the services. Idempotent."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="calls.sweep_task", ignore_result=True)
def calls_sweep_task() -> dict:
    """Beat runs this every HONBU_SWEEP_SECONDS: ring deadlines and pages that never came back
    whose server process is gone (the process's own timers normally do it at once)."""
    return services.calls_sweep()
