"""Celery tasks of the directory app."""

from celery import shared_task
from django.core.cache import cache


@shared_task(name="directory.healthcheck_task")
def healthcheck_task(token: str) -> str:
    """Proves a worker is alive and shares Redis with the web side: it writes ``token`` back."""
    cache.set(f"healthcheck:{token}", "ok", timeout=300)
    return token
