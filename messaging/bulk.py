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

ROWS_PER_STATEMENT = 1000  # 4,000 parameters: under SQLite's and PostgreSQL's limits


# Table and column names come from the models' metadata, quoted; every value is a parameter.
def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def receipts_insert(
    *, message_id: int, group_id: int, recipients: Iterable[tuple[int, int | None]]
) -> int:
    """One unread receipt per (user id, post id or None). Returns how many."""
    rows: Sequence[tuple[int, int | None]] = list(recipients)
    if not rows:
        return 0
    cols = ", ".join(_column(Receipt, f) for f in ("message", "group", "user", "post"))
    sql = f"INSERT INTO {_table(Receipt)} ({cols}) "
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # Two array parameters: psycopg parses every %s placeholder in Python, which for
            # 8,000 of them cost more than the insert.
            cur.execute(
                sql + "SELECT %s, %s, u, p FROM unnest(%s::bigint[], %s::bigint[]) AS t(u, p)",  # noqa: S608
                [message_id, group_id, [u for u, _p in rows], [p for _u, p in rows]],
            )
            return len(rows)
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            cur.execute(
                sql + "VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(chunk)),
                [v for u, p in chunk for v in (message_id, group_id, u, p)],
            )
    return len(rows)


def chases_insert(*, message_id: int, due: datetime) -> int:
    """One active chase per receipt of the message, first step due at ``due``; in the
    database, from the receipts just written. Returns how many."""
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
    r = {f: _column(Receipt, f) for f in ("message", "id", "post")}
    with connection.cursor() as cur:
        sql = (
            f"INSERT INTO {_table(Chase)} ({', '.join(c.values())}) "  # noqa: S608
            f"SELECT {r['message']}, {r['id']}, {r['post']}, %s, 0, 0, 0, %s "
            f"FROM {_table(Receipt)} WHERE {r['message']} = %s"
        )
        cur.execute(
            sql, [Chase.State.ACTIVE, connection.ops.adapt_datetimefield_value(due), message_id]
        )
        return cur.rowcount
