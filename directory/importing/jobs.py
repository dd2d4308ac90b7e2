"""The job entry points the admin pages call: check an upload's size, and preview it (read,
check and plan, stored as an ``ImportJob``; no staff or unit is written). Applying a previewed
job is ``import_apply`` in ``apply.py``."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError

from ..models import ImportJob, User
from .errors import ERR_FILE_TOO_LARGE
from .validate import job_read_and_plan


def import_check_size(*, size: int) -> None:
    if size > settings.HONBU_IMPORT_MAX_BYTES:
        max_mb = f"{settings.HONBU_IMPORT_MAX_BYTES / (1024 * 1024):g}"
        raise ValidationError(ERR_FILE_TOO_LARGE % {"max_mb": max_mb}, code="too_large")


def import_preview(
    *,
    kind: str,
    filename: str,
    content: bytes,
    deactivate_missing: bool,
    uploaded_by: User | None,
) -> ImportJob:
    """Read, check and plan an upload; store it as a job (previewed or invalid). Writes no staff."""
    import_check_size(size=len(content))
    job = ImportJob(
        kind=kind,
        filename=filename[:255],
        content=content,
        deactivate_missing=deactivate_missing and kind == ImportJob.Kind.STAFF,
        uploaded_by=uploaded_by,
    )
    plan, errors = job_read_and_plan(job)
    job.status = ImportJob.Status.INVALID if errors else ImportJob.Status.PREVIEWED
    job.errors = [e.as_json() for e in errors]
    job.summary = plan.summary() if plan is not None and not errors else {}
    job.full_clean(exclude=["content", "uploaded_by"])
    job.save()
    return job
