"""The fault drills' checker: every message, receipt, chase step and notification in the database
against what every client saw (tests/faults/clients.py records each frame with its group,
sequence number and connection) and what the mail server received. It counts, per kind:

- **expected**: what should exist or have arrived;
- **lost**: expected but missing (a message a phone never got, by event or by catch-up; a read
  the server confirmed but did not store; a chase step that never fired; a notification never
  shown or never received);
- **duplicated**: more than once (the same message stored twice for one client id, or pushed
  twice on one connection; a step fired twice; an e-mail received twice).

``report.assert_clean()`` fails with the table when anything was lost or duplicated; the drills
print the table, and docs/reliability.md quotes it."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message as Mail

from django.db.models import Count

from messaging.models import Chase, Message, Receipt
from notifications.channels import email_message_id
from notifications.models import Notification
from safety.models import SafetyRequest

from .clients import Phone


@dataclass
class Tally:
    what: str
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    examples: list[str] = field(default_factory=list)

    def miss(self, n: int, example: str) -> None:
        self.lost += n
        if n and len(self.examples) < 5:
            self.examples.append(f"lost: {example}")

    def twice(self, n: int, example: str) -> None:
        self.duplicated += n
        if n and len(self.examples) < 5:
            self.examples.append(f"twice: {example}")


@dataclass
class Report:
    tallies: list[Tally] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # figures that are not a pass/fail

    def add(self, tally: Tally) -> Tally:
        self.tallies.append(tally)
        return tally

    def table(self) -> str:
        lines = [f"{'':<34} {'expected':>9} {'lost':>6} {'twice':>6}"]
        for t in self.tallies:
            lines.append(f"{t.what:<34} {t.expected:>9} {t.lost:>6} {t.duplicated:>6}")
            lines += [f"    {e}" for e in t.examples]
        return "\n".join(lines + self.notes)

    def clean(self) -> bool:
        return all(t.lost == 0 and t.duplicated == 0 for t in self.tallies)

    def assert_clean(self) -> None:
        assert self.clean(), "\n" + self.table()


def check_messages(
    report: Report,
    phones: Iterable[Phone],
    *,
    groups: list[int],
    intended: dict[str, int] | None = None,
) -> None:
    """Messages: each the sender put in an outbox stored once; each stored one reached every
    member's phone (live or by catch-up), never twice on one connection."""
    phones = list(phones)
    stored = list(
        Message.objects.filter(group_id__in=groups).values_list(
            "id", "group_id", "seq", "client_id", "sender_id"
        )
    )
    if intended is not None:
        sent = report.add(Tally("instructions stored (client ids)", expected=len(intended)))
        per_client_id = Counter(str(c) for _id, _g, _s, c, _u in stored)
        for client_id in intended:
            n = per_client_id.get(client_id, 0)
            sent.miss(int(n == 0), client_id)
            sent.twice(max(0, n - 1), client_id)
    by_seq = {(g, s): i for i, g, s, _c, _u in stored}
    seq_twice = Counter((g, s) for _i, g, s, _c, _u in stored)
    got = report.add(Tally("messages on phones"))
    for (g, s), n in seq_twice.items():
        got.twice(n - 1, f"group {g} seq {s} stored {n} times")
    for phone in phones:
        start = phone.first_seq  # type: ignore[attr-defined] - set by the drill at connect
        for g in phone.groups:
            want = {s for (gg, s) in by_seq if gg == g and s > start.get(g, 0)}
            mine = [x for x in phone.seen if x.group == g]
            have = {x.seq for x in mine}
            got.expected += len(want)
            missing = want - have
            got.miss(len(missing), f"user {phone.user_id} group {g} seq {sorted(missing)[:5]}")
            live = Counter((x.conn, x.seq) for x in mine if x.how == "new")
            got.twice(
                sum(n - 1 for n in live.values()),
                f"user {phone.user_id} group {g}: a message.new twice on one connection",
            )
            wrong = [x for x in mine if by_seq.get((g, x.seq)) not in (None, x.id)]
            got.twice(len(wrong), f"user {phone.user_id}: {wrong[:3]} with another id")


def check_receipts(report: Report, phones: Iterable[Phone], *, groups: list[int]) -> None:
    """Receipts: one per recipient per message; every read the server confirmed is stored."""
    rows = report.add(Tally("receipts"))
    for m in Message.objects.filter(group_id__in=groups).annotate(n=Count("receipts")):
        rows.expected += m.recipient_count
        rows.miss(max(0, m.recipient_count - m.n), f"message {m.pk}")
        rows.twice(max(0, m.n - m.recipient_count), f"message {m.pk}")
    reads = report.add(Tally("reads of what phones showed"))
    unconfirmed: list[int] = []
    unread = defaultdict(list)
    rows_unread = Receipt.objects.filter(group_id__in=groups, read_at__isnull=True)
    for user, g, seq in rows_unread.values_list("user_id", "group_id", "message__seq"):
        unread[(user, g)].append(seq)
    for phone in phones:
        for g in phone.groups:
            # a phone reads what it shows (as the page does once a message is on screen)
            shown = phone.last_seq.get(g, 0)
            reads.expected += Receipt.objects.filter(
                user_id=phone.user_id, group_id=g, message__seq__lte=shown
            ).count()
            lost = [s for s in unread[(phone.user_id, g)] if s <= shown]
            reads.miss(len(lost), f"user {phone.user_id} group {g} seq {lost[:5]}")
            if phone.read_ok.get(g, 0) < shown:
                unconfirmed.append(phone.user_id)
    if unconfirmed:
        report.notes.append(f"{len(unconfirmed)} phones without read_ok for all they showed")


def check_chases(report: Report, *, messages: list[int], channels: int) -> None:
    """Chase steps of instructions nobody answers (stop on 了解, no deputies): each chase fires
    its 1 + repeat_count reminders, on every channel, exactly once, and ends unreached."""
    steps = report.add(Tally("chase steps (reminders)"))
    for m in Message.objects.filter(pk__in=messages):
        policy = m.escalation or {}
        per_chase = 1 + int(policy.get("repeat_count", 0))
        chases = list(Chase.objects.filter(message=m).values_list("pk", "state"))
        steps.expected += len(chases) * per_chase * channels
        fired = Counter(
            Notification.objects.filter(kind="reminder", subject_id=m.pk)
            .values_list("once_key", "user_id", "channel")
            .iterator()
        )
        for pk, state in chases:
            n = sum(v for (key, _u, _c), v in fired.items() if key.startswith(f"chase:{pk}:"))
            distinct = len([k for k in fired if k[0].startswith(f"chase:{pk}:")])
            steps.miss(max(0, per_chase * channels - distinct), f"chase {pk} ({state})")
            steps.twice(n - distinct, f"chase {pk}")
            if state != Chase.State.UNREACHED:
                steps.miss(1, f"chase {pk} ended {state}, not unreached")


def check_inapp(report: Report, phones: Iterable[Phone], *, kinds: list[str]) -> None:
    """In-app notifications of these kinds to people with a phone: each shown on one of their
    phones, never twice on one connection."""
    phones = list(phones)
    shown = defaultdict(Counter)
    for phone in phones:
        for conn, nid, _kind in phone.reminders:
            shown[phone.user_id][(id(phone), conn, nid)] += 1
    tally = report.add(Tally(f"in-app notifications ({', '.join(kinds)})"))
    users = {p.user_id for p in phones}
    for nid, user in Notification.objects.filter(
        kind__in=kinds, channel="inapp", user_id__in=users
    ).values_list("pk", "user_id"):
        tally.expected += 1
        seen = [n for (_p, _c, i), n in shown[user].items() if i == nid]
        tally.miss(int(not seen), f"notification {nid} to user {user}")
        tally.twice(sum(n - 1 for n in seen), f"notification {nid} to user {user}")


def check_mail(report: Report, mails: list[Mail], *, kinds: list[str], what: str) -> None:
    """E-mail notifications of these kinds: each received by the mail server once (matched by
    its Message-ID, which names the notification: notifications.channels.email_message_id)."""
    received = Counter(str(m["Message-ID"]) for m in mails)
    tally = report.add(Tally(what))
    mine = set()
    for nid in Notification.objects.filter(kind__in=kinds, channel="email").values_list(
        "pk", flat=True
    ):
        key = email_message_id(nid)
        mine.add(key)
        tally.expected += 1
        n = received.get(key, 0)
        tally.miss(int(n == 0), f"notification {nid}")
        tally.twice(max(0, n - 1), f"notification {nid} received {n} times")
    strangers = sum(n for key, n in received.items() if key not in mine)
    tally.twice(strangers, f"{strangers} e-mails that name no notification")


def check_round_start(report: Report, *, round_id: int) -> None:
    """A safety round's first message: one per person asked and channel, once (everyone has at
    least one: e-mail for staff without an account; in-app, push, e-mail for users)."""
    tally = report.add(Tally("round first messages written"))
    asked = list(SafetyRequest.objects.filter(round_id=round_id).values_list("pk", flat=True))
    written = Counter(
        Notification.objects.filter(
            kind="safety_request", once_key__endswith=":start", subject_id__in=asked
        ).values_list("subject_id", "channel")
    )
    people = Counter(pk for pk, _channel in written)
    tally.expected = len(asked)
    for pk in asked:
        tally.miss(int(people[pk] == 0), f"request {pk}")
    for (pk, channel), n in written.items():
        tally.twice(max(0, n - 1), f"request {pk} on {channel}")


def check_alerts(report: Report, *, message_ids: list[int], user_ids: list[int]) -> None:
    """Every counted recipient has exactly one push notification per urgent instruction
    (``instruction_alert``: written once, whoever ran it), and it was sent."""
    tally = report.add(Tally("instruction alerts written"))
    rows = Counter(
        Notification.objects.filter(
            kind="instruction", channel="push", subject_id__in=message_ids
        ).values_list("user_id", "subject_id", "status")
    )
    for mid in message_ids:
        for uid in user_ids:
            tally.expected += 1
            n = rows[(uid, mid, "sent")]
            if n == 0:
                other = [s for (u, m, s), c in rows.items() if (u, m) == (uid, mid) and c]
                tally.miss(1, f"user {uid}, message {mid}: {other or 'not written'}")
            tally.twice(max(n - 1, 0), f"user {uid}, message {mid}: {n} sent")


def check_pushes(
    report: Report, received: list[dict], devices: dict, *, tags: list[str], what: str
) -> None:
    """What the push service accepted (201) against every device and step: each device got
    each tag exactly once (``devices``: request path → tests.push.Device, to decrypt)."""
    from tests.push import decrypt

    tally = report.add(Tally(what))
    got = Counter()
    for request in received:
        device = devices.get(request["path"])
        if device is None:
            tally.twice(1, f"a push to an unknown endpoint {request['path']}")
            continue
        got[(request["path"], decrypt(device, request)["tag"])] += 1
    for path in devices:
        for tag in tags:
            tally.expected += 1
            n = got[(path, tag)]
            if n == 0:
                tally.miss(1, f"{tag} to {path}")
            tally.twice(max(n - 1, 0), f"{tag} to {path}: {n}")


def session_waits_for_a_lock() -> bool:
    """PostgreSQL: another session of the test database waits for a lock (a worker's write
    behind a row the test holds). Asked inside the test's transaction, so the statistics
    snapshot is dropped first: else PostgreSQL answers from the one it took at the first look."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0
