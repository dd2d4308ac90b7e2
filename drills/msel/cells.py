"""What a cell of the scenario spreadsheet may hold (pure, no database): the messages for a bad
cell, the columns with their Japanese and English headers, the words for kinds, priorities, the
control cell and yes/no, times from the start (``mm:ss`` / ``hh:mm:ss``) and the compact form of
expected actions (``既読 2分; 返信 5分 北区長; 安否 50% 30分``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_lazy as _

from directory.importing import Column
from messaging.models import Message

from ..models import Inject

ERR_FORMULA = _(
    "This cell starts with =, +, - or @, which a spreadsheet runs as a formula; "
    "start it with an apostrophe (') if it is text."
)
ERR_NUMBER = _("Write a whole number from 1 to 99999.")
ERR_TIME = _(
    "Write the time from the start as mm:ss or hh:mm:ss, e.g. 05:00 or 01:30:00 (at most 99:59:59)."
)
ERR_KIND = _(
    "Unknown kind; use 状況付与, 指示, 安否確認, 模擬の気象庁地震情報 or 模擬の電話連絡 "
    "(situation, instruction, safety, jma, call)."
)
ERR_PRIORITY = _("Unknown priority; use 緊急, 重要 or 通常 (urgent, important, normal).")
ERR_FLAG = _("Write 1 or 0 (or はい / いいえ, yes / no).")
ERR_POST = _("No post has the code or name “%(post)s”.")
ERR_POST_AMBIGUOUS = _("Several posts are called “%(post)s” (%(codes)s); write the post code.")
ERR_GROUP = _("No command group is called “%(group)s”.")
ERR_GROUP_AMBIGUOUS = _("Several command groups are called “%(group)s”.")
ERR_UNIT = _("No unit has the code or name “%(unit)s”.")
ERR_UNIT_AMBIGUOUS = _("Several units are called “%(unit)s”; write the unit code.")
ERR_EXP_CHECK = _(
    "“%(word)s” is not an expected action; use 既読, 了解, 返信 or 安否 (read, ack, reply, safety)."
)
ERR_EXP_MINUTES = _("“%(item)s”: give the minutes, from 1 to 1440 (e.g. 既読 2分 or read 2m).")
ERR_EXP_PERCENT = _(
    "“%(item)s”: give the share of answers, from 1 to 100%% (e.g. 安否 50%% 30分 or "
    "safety 50%% 30m)."
)
ERR_EXP_SAFETY_POSTS = _("“%(item)s”: safety answers are counted for everyone, not for posts.")
ERR_EXP_EXTRA = _("“%(item)s”: a percentage is only for safety answers (安否 / safety).")

MAX_OFFSET = 99 * 3600 + 59 * 60 + 59
MAX_MINUTES = 1440
CONTROL = "統制部"
# Cells that mean "nothing" in a planner's sheet.
DASHES = frozenset({"-", "－", "—", "―", "‐"})
FORMULA = ("=", "+", "-", "@")

# --- columns --------------------------------------------------------------------------------
COLUMNS = (
    Column("number", ("番号", "no", "#"), True),
    Column("time", ("時刻", "経過時間", "offset"), True),
    Column("kind", ("種別",), True),
    Column("from", ("発信", "発信者", "発信元"), False),
    Column("to_group", ("宛先グループ", "宛先"), False),
    Column("to_units", ("宛先所属",), False),
    Column("priority", ("優先度",), False),
    Column("text", ("本文",), True, 2000),
    Column("expectations", ("期待される行動", "期待行動"), False, 1000),
    Column("objective", ("目標",), False, 200),
    Column("contingency", ("未達時",), False),
    Column("only_as_contingency", ("未達時のみ",), False),
)

# --- words ----------------------------------------------------------------------------------
# value: (as written in Japanese, as written in English); more aliases are accepted on import.
KINDS = {
    Inject.Kind.SITUATION: ("状況付与", "situation"),
    Inject.Kind.INSTRUCTION: ("指示", "instruction"),
    Inject.Kind.SAFETY_ROUND: ("安否確認", "safety"),
    Inject.Kind.JMA: ("模擬の気象庁地震情報", "jma"),
    Inject.Kind.CALL: ("模擬の電話連絡", "call"),
}
PRIORITIES = {
    Message.Priority.URGENT: ("緊急", "urgent"),
    Message.Priority.IMPORTANT: ("重要", "important"),
    Message.Priority.NORMAL: ("通常", "normal"),
}
CHECKS = {"read": ("既読", "read"), "ack": ("了解", "ack"), "reply": ("返信", "reply")}
CHECKS_ALL = {**CHECKS, "safety": ("安否", "safety")}


def _words(table: dict[str, tuple[str, str]], **extra: str) -> dict[str, str]:
    out = {fold(w): value for value, words in table.items() for w in (value, *words)}
    return out | {fold(w): value for w, value in extra.items()}


def fold(text: str) -> str:
    """NFKC (full-width letters, digits, ％ and ： fold), trimmed, lower case."""
    return unicodedata.normalize("NFKC", text).strip().lower()


KIND_WORDS = _words(
    KINDS,
    気象庁地震情報="jma",
    地震情報="jma",
    電話連絡="call",
    電話="call",
    安否="safety",
    safety_round="safety",
)
PRIORITY_WORDS = _words(PRIORITIES, 至急="urgent")
CHECK_WORDS = _words(CHECKS_ALL, acknowledge="ack", 了解確認="ack", 安否確認="safety")
CONTROL_WORDS = {fold(w) for w in (CONTROL, "統制", "control", "control cell", "control_cell")}
YES = {fold(w) for w in ("1", "true", "yes", "y", "はい", "○", "〇", "◯")}
NO = {fold(w) for w in ("", "0", "false", "no", "n", "いいえ", "×")}
_MINUTE_UNITS = ("分以内", "分", "minutes", "minute", "mins", "min", "m")
_TIME = re.compile(r"(\d+(?:\.\d+)?)(" + "|".join(_MINUTE_UNITS) + r")?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_ITEM_SPLIT = re.compile(r"[;\n]+")
LIST_SPLIT = re.compile(r"[\s・、,]+")


# What a cell of each column looks like, for the upload page.
COLUMN_EXAMPLES = (
    "3",
    "05:00 / 01:30:00",
    "指示 / instruction",
    "本部長 / 統制部",
    "大阪市災害対策本部",
    "OSK-W01・OSK-W07",
    "緊急 / urgent",
    "住民を3階以上へ避難させてください",
    "既読 2分; 返信 5分 北区長",
    "指示が区長に届く",
    "4",
    "○",
)
# A short file, for the upload page (drills/fixtures/ holds a whole one).
EXAMPLE = "\n".join(
    [
        ",".join(c.japanese[0] for c in COLUMNS),
        "1,00:00,模擬の気象庁地震情報,統制部,大阪市災害対策本部,,,震度6弱を観測,,,,",
        "2,02:00,指示,本部長,大阪市災害対策本部,,緊急,被害状況を報告せよ,"
        "既読 2分; 返信 5分 北区長,指示の伝達,3,",
        "3,07:00,状況付与,統制部,大阪市災害対策本部,,,第1代行者は報告せよ,,,,○",
        "4,05:00,安否確認,統制部,,OSK-W01 OSK-B01,,職員安否確認,安否 50% 30分,,,",
    ]
)


# --- times ----------------------------------------------------------------------------------
def offset_parse(text: str) -> int | None:
    """Seconds from the start: ``mm:ss`` (minutes may pass 59: ``90:00``) or ``hh:mm:ss``."""
    value = unicodedata.normalize("NFKC", text).strip()
    if m := re.fullmatch(r"(\d{1,4}):([0-5]\d)", value):
        seconds = int(m[1]) * 60 + int(m[2])
    elif m := re.fullmatch(r"(\d{1,2}):([0-5]\d):([0-5]\d)", value):
        seconds = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
    else:
        return None
    return seconds if seconds <= MAX_OFFSET else None


def offset_format(seconds: int) -> str:
    """``mm:ss`` under an hour, ``hh:mm:ss`` from an hour on."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


# --- expected actions -----------------------------------------------------------------------
def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def expectation_new(
    *, check: str, minutes: float, percent: float | None = None, posts: list[str] | None = None
) -> dict[str, Any]:
    """The stored form (``Inject.expectations`` item) that ``metrics`` reads."""
    spec: dict[str, Any] = {"check": check, "minutes": _number(str(minutes))}
    if check == "safety":
        spec["percent"] = _number(str(percent))
    elif posts:
        spec["posts"] = list(posts)
    return spec


def expectations_parse(
    text: str, post_name: Callable[[str], tuple[str, str]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """``既読 2分; 返信 5分 北区長; 安否 50% 30分`` → stored specs, and what is wrong with it.
    ``post_name(word)`` gives (a post's name, "") for a post code or name, or ("", error)."""
    specs, errors = [], []
    for raw in _ITEM_SPLIT.split(unicodedata.normalize("NFKC", text)):
        item = raw.strip()
        if not item:
            continue
        word, *tokens = [t for t in LIST_SPLIT.split(item) if t]
        check = CHECK_WORDS.get(word.lower())
        if check is None:
            errors.append(str(ERR_EXP_CHECK % {"word": word}))
            continue
        minutes = percent = None
        posts: list[str] = []
        for token in tokens:
            low = token.lower()
            if (m := _PERCENT.fullmatch(low)) and percent is None:
                percent = float(m[1])
            elif (m := _TIME.fullmatch(low)) and minutes is None:
                minutes = float(m[1])
            elif low in _MINUTE_UNITS and minutes is not None:
                continue  # "5 min", "5 分"
            else:
                name, error = post_name(token)
                if error:
                    errors.append(error)
                else:
                    posts.append(name)
        if minutes is None or not 1 <= minutes <= MAX_MINUTES:
            errors.append(str(ERR_EXP_MINUTES % {"item": item}))
        elif check == "safety" and (percent is None or not 1 <= percent <= 100):
            errors.append(str(ERR_EXP_PERCENT % {"item": item}))
        elif check == "safety" and posts:
            errors.append(str(ERR_EXP_SAFETY_POSTS % {"item": item}))
        elif check != "safety" and percent is not None:
            errors.append(str(ERR_EXP_EXTRA % {"item": item}))
        else:
            specs.append(
                expectation_new(check=check, minutes=minutes, percent=percent, posts=posts)
            )
    return specs, errors


def expectations_format(specs: list[dict[str, Any]], *, english: bool = False) -> str:
    """The compact form, in Japanese (``返信 5分 北区長``) or English (``reply 5m 北区長``)."""
    out = []
    for spec in specs or []:
        check = spec.get("check", "read")
        word = CHECKS_ALL.get(check, (check, check))[1 if english else 0]
        minutes = f"{_number(str(spec.get('minutes', 0)))}{'m' if english else '分'}"
        if check == "safety":
            out.append(f"{word} {_number(str(spec.get('percent', 0)))}% {minutes}")
        else:
            out.append(" ".join([word, minutes, *(spec.get("posts") or [])]))
    return "; ".join(out)
