"""Celery tasks: an interface over the services."""

from __future__ import annotations

from celery import shared_task

from . import runs


@shared_task(name="drills.sweep_task", ignore_result=True)
def drills_sweep_task() -> int:
    """Beat runs this every HONBU_DRILL_SWEEP_SECONDS: fire the injects that are due (each at
    most once, however many sweeps run at once), check expectations, finish runs."""
    return runs.drills_sweep()
