"""Directory search benchmark: ``.venv/bin/python bench/search.py [--staff 30000] [--repeat 20]``.

Seeds the demo city with N staff into a throwaway database, then times
``directory.selectors.staff_search`` for a mix of queries (p50/p95/max per kind) against a
baseline in the same run: a plain Python substring scan over an in-memory list of the same
staff search keys. Never touches your data:

- embedded default (no DATABASE_URL): a fresh SQLite file (and embedded Redis) in a temporary
  directory, removed afterwards;
- DATABASE_URL set (PostgreSQL): Django's test-database machinery creates ``test_<name>`` next
  to the named database and drops it afterwards; the named database itself is not written to.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _throwaway import throwaway_database  # noqa: E402


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _time(fn: Callable[[str], object], queries: list[str], repeat: int) -> tuple[list[float], int]:
    samples, hits = [], 0
    for query in queries:
        fn(query)  # warm-up
        for _ in range(repeat):
            started = time.perf_counter()
            result = fn(query)
            samples.append((time.perf_counter() - started) * 1000)
        hits += len(result)  # type: ignore[arg-type]
    return samples, hits // len(queries)


def _queries() -> dict[str, list[str]]:
    import jaconv

    from demo.city import MAYOR
    from directory.models import Staff

    family = ["田中", "佐々木", "長谷川", "辻", "西田"]
    readings = ["たなか", "ささき", "はせがわ", "つじ", "にしだ"]
    katakana = [jaconv.hira2kata(r) for r in readings]
    people = list(
        Staff.objects.filter(employee_number__gte="100001").order_by("employee_number")[::997][:5]
    )
    return {
        "kanji family name": family,
        "kanji full name": [f"{p.family_name} {p.given_name}" for p in people],
        "hiragana reading": readings,
        "katakana reading": katakana,
        "half-width katakana": [jaconv.z2h(k, kana=True) for k in katakana],
        "employee number": [MAYOR] + [p.employee_number for p in people[:4]],
        "unit name": ["道路課", "北区", "危機管理課", "窓口サービス課", "ICT戦略室"],
        "post name": ["本部長", "建設局長", "北区長", "危機管理監", "消防局長"],
        "no hit": ["該当者なし", "zzzz", "ヴェ", "999999x", "山田花太郎"],
    }


def _explain(query: str) -> list[str]:
    """The database's plan for the main search query (the last one staff_search runs)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from directory.selectors import staff_search

    with CaptureQueriesContext(connection) as ctx:
        staff_search(query=query)
    sql = ctx.captured_queries[-1]["sql"]
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        return [" ".join(str(c) for c in row) for row in cursor.fetchall()]


def run(staff_count: int, repeat: int) -> None:
    from django.db import connection

    from demo.city import demo_city_seed
    from directory.models import Staff
    from directory.selectors import SEARCH_LIMIT, staff_search
    from directory.text import normalize

    started = time.perf_counter()
    summary = demo_city_seed(staff_count=staff_count)
    print(
        f"seeded {summary.staff} staff, {summary.units} units, {summary.posts} posts "
        f"in {time.perf_counter() - started:.1f}s"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    keys = list(Staff.objects.filter(is_active=True).values_list("search_key", flat=True))

    def baseline(query: str) -> list[str]:
        q = normalize(query)
        return [k for k in keys if q in k][:SEARCH_LIMIT]

    def search(query: str) -> list:
        return staff_search(query=query)

    print(f"\n{connection.vendor}, {staff_count} staff, {repeat} repetitions of 5 queries per kind")
    print("| query kind | hits | p50 ms | p95 ms | max ms | scan p50 ms | ratio p50 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    all_db, all_base = [], []
    for kind, queries in _queries().items():
        db, hits = _time(search, queries, repeat)
        base, _hits = _time(baseline, queries, repeat)
        all_db += db
        all_base += base
        p50, b50 = statistics.median(db), statistics.median(base)
        print(
            f"| {kind} | {hits} | {p50:.1f} | {_percentile(db, 95):.1f} | {max(db):.1f} "
            f"| {b50:.1f} | {p50 / b50:.1f}× |"
        )
    p50, b50 = statistics.median(all_db), statistics.median(all_base)
    print(
        f"| **all** | | {p50:.1f} | {_percentile(all_db, 95):.1f} | {max(all_db):.1f} "
        f"| {b50:.1f} | {p50 / b50:.1f}× |"
    )
    print("\nplan of the main query for 'たなか':")
    for line in _explain("たなか"):
        print("  " + line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--staff", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    with throwaway_database():
        run(args.staff, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
