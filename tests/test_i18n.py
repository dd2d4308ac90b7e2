"""Japanese by default, English available; every user-facing string is translated, and the
compiled catalogues committed to the repository match their sources (no gettext at run time)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
DOMAINS = ["django", "djangojs"]


def _catalogue(domain: str) -> Path:
    return ROOT / "locale" / "ja" / "LC_MESSAGES" / f"{domain}.po"


@pytest.mark.parametrize("domain", DOMAINS)
def test_japanese_catalogue_is_complete_and_compiled(domain):
    po = polib.pofile(str(_catalogue(domain)))
    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert untranslated == [] and fuzzy == []
    mo = polib.mofile(str(_catalogue(domain).with_suffix(".mo")))
    compiled = {(e.msgid, e.msgstr or e.msgstr_plural.get(0, "")) for e in mo if e.msgid}
    source = {(e.msgid, e.msgstr or e.msgstr_plural.get(0, "")) for e in po.translated_entries()}
    assert compiled == source, "run `make messages` to recompile"


def _redis_servers_in(var_dir) -> set[int]:
    """Redis servers (embedded ones are started with their socket in ``var_dir``)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if proc.name.isdigit() and "redis-server" in cmdline and str(var_dir) in cmdline:
            found.add(int(proc.name))
    return found


def test_no_string_in_the_code_is_missing_from_the_catalogue(tmp_path):
    """Run makemessages on a copy of the sources: it must find nothing new."""
    if shutil.which("msgfmt") is None:
        pytest.fail("GNU gettext is needed for this check (apt-get install gettext)")
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".venv", "var", ".git", "node_modules", "test-results", "__pycache__", "*.mo"
        ),
    )
    servers_before = _redis_servers_in(ROOT / "var" / "test")
    for domain in DOMAINS:
        args = ["-l", "ja", "--ignore=bench", "--ignore=tests", "--ignore=var", "--ignore=.venv"]
        if domain == "djangojs":
            args = ["-d", "djangojs", *args]
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", *args],
            cwd=copy,
            check=True,
            capture_output=True,
            # The suite's own environment: with REDIS_URL set it uses that Redis rather than
            # starting an embedded one that nobody would stop; without, it shares the suite's
            # embedded one, which the suite stops at the end.
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
                "HONBU_VAR_DIR": str(ROOT / "var" / "test"),
            },
        )
        fresh = {
            e.msgid for e in polib.pofile(str(copy / "locale/ja/LC_MESSAGES" / f"{domain}.po"))
        }
        known = {
            e.msgid for e in polib.pofile(str(_catalogue(domain))) if e.msgstr or e.msgstr_plural
        }
        assert sorted(fresh - known) == [], f"untranslated {domain} strings"
    # The subprocess left no Redis of its own behind (it used to start an embedded one even
    # when the suite ran on REDIS_URL, and nothing stopped it).
    assert _redis_servers_in(ROOT / "var" / "test") <= servers_before


@pytest.mark.django_db
def test_pages_are_japanese_by_default_and_english_on_request(client, staff_user):
    client.force_login(staff_user)
    page = client.get(reverse("directory:search")).content.decode()
    assert '<html lang="ja">' in page and "名簿" in page

    staff_user.language = "en"
    staff_user.save(update_fields=["language"])
    page = client.get(reverse("directory:search")).content.decode()
    assert '<html lang="en">' in page and "Directory" in page
    with translation.override("ja"):
        assert translation.gettext("Directory") == "名簿"


@pytest.mark.django_db
def test_the_javascript_catalogue_is_cached_per_language(client, staff_user):
    import json
    import re

    client.force_login(staff_user)
    page = client.get(reverse("directory:search")).content.decode()
    src = (
        re.search(r'<script src="(/jsi18n/\?l=ja&amp;v=\d+)"', page).group(1).replace("&amp;", "&")
    )
    first = client.get(src)
    assert "max-age=86400" in first["Cache-Control"]
    connected_ja = json.dumps("接続中")[1:-1]  # the catalogue is ASCII JSON: \u63a5\u7d9a\u4e2d
    assert connected_ja in first.content.decode()  # Japanese strings ("Connected")

    staff_user.language = "en"
    staff_user.save(update_fields=["language"])
    page = client.get(reverse("directory:search")).content.decode()
    src_en = (
        re.search(r'<script src="(/jsi18n/\?l=en&amp;v=\d+)"', page).group(1).replace("&amp;", "&")
    )
    english = client.get(src_en).content.decode()
    # English needs no catalogue (the source strings are English): above all, not the cached
    # Japanese one.
    assert connected_ja not in english and "django.catalog" in english
