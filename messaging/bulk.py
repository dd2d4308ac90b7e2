"""Multi-row INSERTs for the rows an instruction creates per recipient (receipts, chases).

They are written inside ``message_send``'s transaction, and the broadcast waits for its commit:
with ``bulk_create`` (a model object and per-field value preparation per row) a 2,000-member
group spent ~0.35 s of each send here. Plain ``INSERT … VALUES (…), (…)`` and
``INSERT … SELECT`` run on both PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.db import connection

from .models import Chase, Receipt

ROWS_PER_STATEMENT = 1000  # 5,000 parameters: under SQLite's and PostgreSQL's limits


# Table and column names come from the models' metadata, quoted; every value is a parameter.
def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def receipts_insert(
    *, message_id: int, group_id: int, recipients: Iterable[tuple[int, int | None, bool]]
) -> int:
    """One unread receipt per (user id, post id or None, observer). Returns how many."""
    rows: Sequence[tuple[int, int | None, bool]] = list(recipients)
    if not rows:
        return 0
    cols = ", ".join(_column(Receipt, f) for f in ("message", "group", "user", "post", "observer"))
    sql = f"INSERT INTO {_table(Receipt)} ({cols}) "
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # Array parameters: psycopg parses every %s placeholder in Python, which for
            # 10,000 of them cost more than the insert.
            cur.execute(
                sql + "SELECT %s, %s, u, p, o "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::bigint[], %s::boolean[]) AS t(u, p, o)",
                [
                    message_id,
                    group_id,
                    [u for u, _p, _o in rows],
                    [p for _u, p, _o in rows],
                    [o for _u, _p, o in rows],
                ],
            )
            return len(rows)
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            cur.execute(
                sql + "VALUES " + ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk)),
                [v for u, p, o in chunk for v in (message_id, group_id, u, p, o)],
            )
    return len(rows)


def chases_insert(*, message_id: int, due: datetime) -> int:
    """One active chase per receipt of the message (observers are never chased), first step
    due at ``due``; in the database, from the receipts just written. Returns how many."""
    c = {
        f: _column(Chase, f)
        for f in (
            "message",
            "receipt",
            "post",
            "state",
            "step",
            "reminders",
            "deputy_rank",
            "next_due_at",
        )
    }
    r = {f: _column(Receipt, f) for f in ("message", "id", "post", "observer")}
    with connection.cursor() as cur:
        sql = (
            f"INSERT INTO {_table(Chase)} ({', '.join(c.values())}) "  # noqa: S608
            f"SELECT {r['message']}, {r['id']}, {r['post']}, %s, 0, 0, 0, %s "
            f"FROM {_table(Receipt)} WHERE {r['message']} = %s AND {r['observer']} = %s"
        )
        cur.execute(
            sql,
            [Chase.State.ACTIVE, connection.ops.adapt_datetimefield_value(due), message_id, False],
        )
        return cur.rowcount


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(when: datetime) -> int:
    """A time as whole microseconds since the epoch: an array of these is adapted far faster
    than one of datetimes (psycopg dumps each datetime in Python), and nothing is rounded."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def receipts_ack(*, rows: Sequence[tuple[int, datetime]]) -> list[int]:
    """了解 for many receipts at once, each with its own time: ``acked_at`` (and ``read_at`` if
    still empty) set to the time of that tap, only where not acknowledged yet — a conditional
    UPDATE, so a repeat or a concurrent press elsewhere changes nothing. One statement (per
    1,000 rows on SQLite). Returns the ids it changed."""
    if not rows:
        return []
    t, r = _table(Receipt), {f: _column(Receipt, f) for f in ("id", "acked_at", "read_at")}
    changed: list[int] = []
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                f"UPDATE {t} SET {r['acked_at']} = v.t, "  # noqa: S608
                f"{r['read_at']} = COALESCE({t}.{r['read_at']}, v.t) "
                "FROM (SELECT id, timestamptz 'epoch' + us * interval '1 microsecond' AS t "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS u(id, us)) AS v "
                f"WHERE {t}.{r['id']} = v.id AND {t}.{r['acked_at']} IS NULL "
                f"RETURNING {t}.{r['id']}",
                [[i for i, _w in rows], [_micros(w) for _i, w in rows]],
            )
            return [row[0] for row in cur.fetchall()]
        adapt = connection.ops.adapt_datetimefield_value
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            cur.execute(
                f"WITH v(id, t) AS (VALUES {values}) UPDATE {t} SET {r['acked_at']} = v.t, "  # noqa: S608
                f"{r['read_at']} = COALESCE({t}.{r['read_at']}, v.t) FROM v "
                f"WHERE {t}.{r['id']} = v.id AND {t}.{r['acked_at']} IS NULL "
                f"RETURNING {t}.{r['id']}",
                [v for i, w in chunk for v in (i, adapt(w))],
            )
            changed += [row[0] for row in cur.fetchall()]
    return changed


def chases_cover(*, rows: Sequence[tuple[int, int, datetime]]) -> list[int]:
    """The active chases of these receipts end, each covered by (receipt id, user id, time):
    who answered and when. One conditional UPDATE. Returns the ids of the messages whose
    chases changed."""
    if not rows:
        return []
    t = _table(Chase)
    c = {
        f: _column(Chase, f)
        for f in ("receipt", "state", "covered_by", "covered_at", "next_due_at", "message")
    }
    sets = (
        f"{c['state']} = %s, {c['covered_by']} = v.u, {c['covered_at']} = v.t, "
        f"{c['next_due_at']} = NULL"
    )
    where = f"WHERE {t}.{c['receipt']} = v.rid AND {t}.{c['state']} = %s"
    messages: set[int] = set()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                f"UPDATE {t} SET {sets} "  # noqa: S608
                "FROM (SELECT rid, u, timestamptz 'epoch' + us * interval '1 microsecond' AS t "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS x(rid, u, us)) AS v "
                f"{where} RETURNING {t}.{c['message']}",
                [
                    Chase.State.COVERED,
                    [rid for rid, _u, _w in rows],
                    [u for _r, u, _w in rows],
                    [_micros(w) for _r, _u, w in rows],
                    Chase.State.ACTIVE,
                ],
            )
            return sorted({row[0] for row in cur.fetchall()})
        adapt = connection.ops.adapt_datetimefield_value
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            values = ", ".join(["(%s, %s, %s)"] * len(chunk))
            cur.execute(
                f"WITH v(rid, u, t) AS (VALUES {values}) "  # noqa: S608
                f"UPDATE {t} SET {sets} FROM v {where} RETURNING {t}.{c['message']}",
                [v for rid, u, w in chunk for v in (rid, u, adapt(w))]
                + [Chase.State.COVERED, Chase.State.ACTIVE],
            )
            messages.update(row[0] for row in cur.fetchall())
    return sorted(messages)
