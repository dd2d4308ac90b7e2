"""Benchmark: roster import (preview + apply) of N staff rows against a plain bulk insert.

    .venv/bin/python bench/import_roster.py [--rows 30000] [--units 200]

Runs on a throwaway database: a temporary SQLite file (``HONBU_VAR_DIR`` is pointed at a temp
directory), or, with ``DATABASE_URL`` set, Django's test database next to it (``test_<name>``,
created and dropped here). Figures are ratios to the baseline measured in the same run: a
``csv.DictReader`` parse plus ``Staff.objects.bulk_create`` of the same rows, no validation.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ["職員番号", "姓", "名", "姓カナ", "名カナ", "所属コード", "職名", "メール", "携帯電話"]


def roster_csv(rows: int, units: int, *, changed_every: int = 0, shift: int = 0) -> bytes:
    """A cp932 roster like Excel writes it; every ``changed_every``-th row has a new job title,
    and ``shift`` moves everyone to another unit (an April rotation)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for n in range(rows):
        title = "係長" if changed_every and n % changed_every == 0 else "主事"
        writer.writerow(
            [
                f"{300000 + n}",
                "佐藤",
                f"花子{n}",
                "サトウ",
                f"ハナコ{n}",
                f"B{(n + shift) % units:04d}",
                title,
                f"hanako{n}@city.example.jp",
                "090-0000-0000",
            ]
        )
    return out.getvalue().encode("cp932")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30000)
    parser.add_argument("--units", type=int, default=200)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="honbu-bench-")
    os.environ["HONBU_VAR_DIR"] = tmp.name
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from config import embedded
    from directory import importing, services
    from directory.models import OrgUnit, Staff

    on_postgres = connection.vendor == "postgresql"
    if on_postgres:
        test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    else:
        call_command("migrate", verbosity=0)
        test_db = str(settings.DATABASES["default"]["NAME"])
    try:
        city = services.unit_create(code="C0", name="本部市", kind=OrgUnit.Kind.CITY)
        OrgUnit.objects.bulk_create(
            OrgUnit(code=f"B{i:04d}", name=f"第{i}課", kind=OrgUnit.Kind.SECTION, parent=city)
            for i in range(args.units)
        )
        services.unit_rebuild_paths()
        content = roster_csv(args.rows, args.units)
        changed = roster_csv(args.rows, args.units, changed_every=10)
        rotated = roster_csv(args.rows, args.units, changed_every=10, shift=1)

        # Baseline: parse and insert the same rows, nothing else.
        started = time.perf_counter()
        unit_ids = dict(OrgUnit.objects.values_list("code", "id"))
        reader = csv.DictReader(io.StringIO(content.decode("cp932"), newline=""))
        Staff.objects.bulk_create(
            (
                Staff(
                    employee_number=r["職員番号"],
                    family_name=r["姓"],
                    given_name=r["名"],
                    family_kana=r["姓カナ"],
                    given_kana=r["名カナ"],
                    unit_id=unit_ids[r["所属コード"]],
                    job_title=r["職名"],
                    email=r["メール"],
                    mobile=r["携帯電話"],
                )
                for r in reader
            ),
            batch_size=importing.BATCH_SIZE,
        )
        baseline = time.perf_counter() - started
        Staff.objects.all()._raw_delete(Staff.objects.db)

        results: list[tuple[str, float, float, str]] = [
            ("baseline (parse + bulk_create)", baseline, 0.0, "")
        ]

        def run(label: str, data: bytes) -> None:
            t0 = time.perf_counter()
            job = importing.import_preview(
                kind="staff",
                filename="roster.csv",
                content=data,
                deactivate_missing=False,
                uploaded_by=None,
            )
            t1 = time.perf_counter()
            job = importing.import_apply(job=job, actor=None)
            t2 = time.perf_counter()
            assert job.status == "applied", job.errors[:5]
            counts = job.summary["counts"]
            note = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            results.append((f"{label}: preview", t1 - t0, 0.0, ""))
            results.append((f"{label}: apply", t2 - t1, 0.0, ""))
            results.append((f"{label}: total", t2 - t0, 0.0, note))

        run("new roster", content)
        run("same roster again", content)
        run("10% rows changed", changed)
        run("every row changed", rotated)
    finally:
        if on_postgres:
            connection.creation.destroy_test_db(test_db, verbosity=0)
        if settings.REDIS_EMBEDDED:
            embedded.stop(Path(tmp.name))
        tmp.cleanup()

    print(
        f"Roster import, {args.rows} rows, {args.units} units, {connection.vendor}, "
        f"Python {sys.version.split()[0]}"
    )
    print(f"| {'step':<32} | {'seconds':>8} | {'× baseline':>10} | counts")
    print(f"|{'-' * 34}|{'-' * 10}:|{'-' * 11}:|{'-' * 30}")
    for label, seconds, _unused, note in results:
        print(f"| {label:<32} | {seconds:>8.2f} | {seconds / baseline:>10.1f} | {note}")


if __name__ == "__main__":
    main()
