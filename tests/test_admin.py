"""The Django admin in Japanese with the person's full name."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.utils import translation

from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

HONBU_APPS = ["directory", "realtime", "notifications", "messaging", "drills", "demo", "home"]
ASCII_WORD = re.compile(r"[A-Za-z]{2,}")


def _captions(html: str) -> list[str]:
    """The admin index's section names (one table caption per app)."""
    return [
        re.sub(r"<[^>]+>|\s+", " ", c).strip()
        for c in re.findall(r"<caption>(.*?)</caption>", html, re.S)
    ]


def test_the_admin_greets_by_full_name_and_names_honbus_sections_in_japanese(client):
    admin_user = UserFactory(role="admin")
    StaffFactory(user=admin_user, family_name="安藤", given_name="陽介")
    client.force_login(admin_user)

    html = client.get("/admin/").content.decode()

    assert "ようこそ、<strong>安藤 陽介</strong> さん。" in html
    captions = _captions(html)
    with translation.override("ja"):
        ours = {
            str(apps.get_app_config(label).verbose_name)
            for model in admin.site._registry
            if (label := model._meta.app_label) in HONBU_APPS
        }
    assert ours and ours <= set(captions), (ours, captions)
    for english in ("Directory", "Messaging", "Notifications", "Live delivery", "Drills"):
        assert english not in captions


def test_every_honbu_app_and_model_has_a_japanese_name():
    untranslated = []
    with translation.override("ja"):
        for label in HONBU_APPS:
            config = apps.get_app_config(label)
            names = [config.verbose_name] + [
                n
                for model in config.get_models()
                for n in (model._meta.verbose_name, model._meta.verbose_name_plural)
            ]
            untranslated += [f"{label}: {n}" for n in map(str, names) if ASCII_WORD.search(n)]
    assert untranslated == []
