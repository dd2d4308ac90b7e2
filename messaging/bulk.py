"""Multi-row INSERTs for the rows an instruction creates per recipient (receipts, chases).

They are written inside ``message_send``'s transaction, and the broadcast waits for its commit:
with ``bulk_create`` (a model object and per-field value preparation per row) a 2,000-member
group spent ~0.35 s of each send here. Plain ``INSERT … VALUES (…), (…)`` and
``INSERT … SELECT`` run on both PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

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
