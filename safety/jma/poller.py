"""One poll of the JMA feed: a conditional GET of the feed; every entry of a kind we act on is
remembered (JmaReport, unique by entry id) and its document downloaded until it is done — never
again after. Each entry is claimed with a short lease by one conditional UPDATE, so two workers
polling at once never download or apply the same entry together.

Bad input never stops a poll: a document that is too large, malformed, or carries a DTD is
refused and logged (and not downloaded again); a network error is logged and the entry is tried
again on the next tick (up to MAX_ATTEMPTS). The feed's validators are stored only once every
entry in it is settled, so an entry left pending is seen again even if the feed is unchanged."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q

from realtime import clock

from .actions import report_apply
from .fetch import FetchError, TooLarge, fetch, same_origin
from .models import JmaFeed, JmaReport
from .parse import FeedEntry, JmaDocumentError, parse_feed, parse_report

logger = logging.getLogger("safety.jma")

LEASE_SECONDS = 120
MAX_ATTEMPTS = 5


@dataclass
class PollResult:
    url: str = ""
    skipped: bool = False  # no feed configured
    not_modified: bool = False  # 304: nothing was downloaded
    error: str = ""  # the feed itself could not be read (tried again on the next tick)
    new: int = 0  # entries of our kinds seen for the first time
    done: list[int] = field(default_factory=list)  # reports applied by this poll
    refused: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)  # network errors: the next tick tries again


def _limits() -> tuple[int, float]:
    return settings.HONBU_JMA_MAX_BYTES, settings.HONBU_JMA_TIMEOUT_SECONDS


def _oldest_first(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Feeds list the newest first: act in the order JMA issued them (a 震度速報 before the
    震源・震度情報 of the same quake, a report before its 取消)."""

    def when(entry: FeedEntry) -> datetime:
        try:
            found = datetime.fromisoformat(entry.updated)
        except ValueError:
            return datetime.min.replace(tzinfo=clock.now().tzinfo)
        return found if found.tzinfo else found.replace(tzinfo=clock.now().tzinfo)

    return sorted(reversed(entries), key=when)


def _remember(entries: list[FeedEntry], now: datetime) -> int:
    ids = [entry.id[:300] for entry in entries]
    known = set(JmaReport.objects.filter(entry_id__in=ids).values_list("entry_id", flat=True))
    new = [
        JmaReport(
            entry_id=entry.id[:300],
            url=entry.link[:500],
            kind=entry.kind,
            feed_title=entry.title[:100],
            seen_at=now,
        )
        for entry in entries
        if entry.id[:300] not in known
    ]
    JmaReport.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _claim(entry_id: str) -> JmaReport | None:
    """The entry's record if this worker may work on it now: pending and not leased."""
    now = clock.now()
    claimed = (
        JmaReport.objects.filter(entry_id=entry_id, state=JmaReport.State.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=LEASE_SECONDS), attempts=F("attempts") + 1)
    )
    return JmaReport.objects.get(entry_id=entry_id) if claimed else None


def _refuse(row: JmaReport, reason: str) -> None:
    logger.warning("JMA report refused (%s): %s — %s", row.kind, row.url, reason)
    JmaReport.objects.filter(pk=row.pk).update(
        state=JmaReport.State.REFUSED,
        outcome=JmaReport.State.REFUSED,
        error=reason[:300],
        lease_until=None,
        done_at=clock.now(),
    )


def _release(row: JmaReport, reason: str) -> None:
    final = row.attempts >= MAX_ATTEMPTS
    logger.warning(
        "JMA report %s (%s): %s — %s",
        "failed for good" if final else "not read, trying again on the next tick",
        row.kind,
        row.url,
        reason,
    )
    JmaReport.objects.filter(pk=row.pk).update(
        state=JmaReport.State.FAILED if final else JmaReport.State.PENDING,
        error=reason[:300],
        lease_until=None,
    )


def _process(entry: FeedEntry, *, feed_url: str, drill_rounds: bool | None, out: PollResult):
    row = _claim(entry.id[:300])
    if row is None:
        return  # done before (never downloaded again), or another worker has it now
    if not same_origin(feed_url, row.url):
        _refuse(row, "the link leaves the feed's site")
        out.refused.append(row.pk)
        return
    max_bytes, timeout = _limits()
    try:
        document = fetch(row.url, max_bytes=max_bytes, timeout=timeout)
        report = parse_report(document.body, max_bytes=max_bytes)
    except (TooLarge, JmaDocumentError) as exc:
        _refuse(row, str(exc))
        out.refused.append(row.pk)
        return
    except FetchError as exc:
        _release(row, str(exc))
        out.retry.append(row.pk)
        return
    if report.kind != row.kind:
        _refuse(row, f"the feed said {row.kind}, the document is {report.kind}")
        out.refused.append(row.pk)
        return
    try:
        report_apply(row=row, report=report, drill_rounds=drill_rounds)
    except Exception:  # a bug must not stop the other entries; the next tick tries again
        logger.exception("JMA report %s: applying it failed", row.url)
        _release(row, "applying it failed (see the log)")
        out.retry.append(row.pk)
        return
    out.done.append(row.pk)


def jma_poll(*, url: str | None = None, drill_rounds: bool | None = None) -> PollResult:
    """Poll the feed once (``url``: HONBU_JMA_FEED_URL; unset, nothing happens).
    ``drill_rounds`` overrides the rule's "exercise reports start exercise rounds"."""
    url = settings.HONBU_JMA_FEED_URL if url is None else url
    if not url:
        return PollResult(skipped=True)
    max_bytes, timeout = _limits()
    feed, _created = JmaFeed.objects.get_or_create(url=url[:500])
    now = clock.now()
    try:
        fetched = fetch(
            url,
            max_bytes=max_bytes,
            timeout=timeout,
            etag=feed.etag,
            last_modified=feed.last_modified,
        )
        entries = (
            []
            if fetched.status == 304
            else parse_feed(fetched.body, base_url=url, max_bytes=max_bytes)
        )
    except (FetchError, JmaDocumentError) as exc:
        logger.warning("JMA feed %s not read (trying again on the next tick): %s", url, exc)
        JmaFeed.objects.filter(pk=feed.pk).update(checked_at=now, error=str(exc)[:300])
        return PollResult(url=url, error=str(exc))
    if fetched.status == 304:
        JmaFeed.objects.filter(pk=feed.pk).update(checked_at=now, error="")
        return PollResult(url=url, not_modified=True)
    ours = [entry for entry in entries if entry.kind]
    result = PollResult(url=url, new=_remember(ours, now))
    for entry in _oldest_first(ours):
        _process(entry, feed_url=url, drill_rounds=drill_rounds, out=result)
    settled = not JmaReport.objects.filter(
        entry_id__in=[entry.id[:300] for entry in ours], state=JmaReport.State.PENDING
    ).exists()
    validators = {"etag": fetched.etag, "last_modified": fetched.last_modified} if settled else {}
    JmaFeed.objects.filter(pk=feed.pk).update(
        checked_at=now, changed_at=now, error="", **validators
    )
    return result
