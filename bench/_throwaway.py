"""A throwaway database for a benchmark: a temporary SQLite file (HONBU_VAR_DIR points at a temp
directory, where the embedded Redis also lives), or, when DATABASE_URL is set, a separate
PostgreSQL database created like a test database and dropped at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def throwaway_database(*, name: str | None = None) -> Iterator[Path]:
    """Set Django up on a fresh, migrated database; yield the temporary var directory."""
    var_dir = Path(tempfile.mkdtemp(prefix="honbu-bench-"))
    os.environ["HONBU_VAR_DIR"] = str(var_dir)  # SQLite file and embedded Redis live here
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "0"  # no query log in memory while timing
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    test_db = old_name = None
    try:
        if connection.vendor == "sqlite":
            call_command("migrate", verbosity=0)
        else:
            old_name = connection.settings_dict["NAME"]
            if name:
                connection.settings_dict.setdefault("TEST", {})["NAME"] = name
            test_db = connection.creation.create_test_db(
                verbosity=0, autoclobber=True, serialize=False
            )
            print(f"using the throwaway database {test_db} (dropped at the end)")
        yield var_dir
    finally:
        if test_db is not None:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)
        if settings.REDIS_EMBEDDED:
            from config.embedded import stop

            stop(var_dir)
        connection.close()
        shutil.rmtree(var_dir, ignore_errors=True)
