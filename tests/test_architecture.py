"""Apps depend one way only: directory ← realtime ← notifications ← messaging ← drills ← demo,
home ← config (docs/architecture.md). import-linter's layers contract (pyproject.toml) checks
every import, function-level ones included."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
LINT = [str(Path(sys.executable).parent / "lint-imports")]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LINT, "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_apps_import_one_way_only():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_import_against_the_order_breaks_the_contract(tmp_path: Path):
    """The check can fail: a copy of the project where the directory names messaging (inside
    a function, as the old code did) is refused."""
    for package in _config()["root_packages"]:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    views = tmp_path / "directory" / "views.py"
    views.write_text(
        views.read_text() + "\n\ndef _leak():\n    from messaging import selectors  # noqa\n"
    )

    result = _lint(tmp_path)

    assert result.returncode == 1
    assert "0 kept, 1 broken" in result.stdout
    assert "directory.views -> messaging.selectors" in result.stdout


def test_installed_apps_list_the_apps_lowest_first():
    """INSTALLED_APPS says the order in a comment; it must agree with the contract."""
    layers = [layer.split(" | ") for layer in reversed(_config()["contracts"][0]["layers"])]
    rank = {app.strip(): i for i, layer in enumerate(layers) for app in layer}
    ours = [app for app in settings.INSTALLED_APPS if app in rank]
    assert ours == sorted(ours, key=rank.__getitem__)
    assert set(ours) == set(rank) - {"config"}
