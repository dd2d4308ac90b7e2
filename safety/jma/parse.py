"""Reading the JMA feed (Atom) and its reports (気象庁防災情報XML) safely.

defusedxml over the standard library's ElementTree: any DTD is refused before it is read, so
no entity is ever expanded (billion laughs) and no external entity or DTD is ever fetched (XXE);
JMA documents never carry one. The caller has already capped the size (fetch.py); ``parse_*``
check it again. Anything that is not a well-formed JMA report of a kind we act on raises
``JmaDocumentError`` with a short reason for the log and the report's record."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_etree
from defusedxml import DefusedXmlException

from .scale import RANK, UNRECEIVED

ATOM = "{http://www.w3.org/2005/Atom}"
CONTROL = "{http://xml.kishou.go.jp/jmaxml1/}"
HEAD = "{http://xml.kishou.go.jp/jmaxml1/informationBasis1/}"
BODY = "{http://xml.kishou.go.jp/jmaxml1/body/seismology1/}"

# The reports we act on, by data type code and by Control/Title (the feed's entry title).
KINDS = {
    "VXSE51": "震度速報",
    "VXSE53": "震源・震度に関する情報",
    "VTSE41": "津波警報・注意報・予報a",
}
KIND_OF_TITLE = {title: kind for kind, title in KINDS.items()}
STATUSES = ("通常", "訓練", "試験")  # normal, exercise, test
INFO_TYPES = ("発表", "訂正", "取消")  # issued, corrected, cancelled
# Tsunami categories that are warnings (Category/Kind/Code): 大津波警報, 大津波警報：発表, 津波警報.
WARNING_CODES = {"52": "大津波警報", "53": "大津波警報", "51": "津波警報"}
WARNING_NAMES = {"大津波警報", "大津波警報：発表", "津波警報"}

_CODE = re.compile(r"^[0-9]{1,7}$")
_KIND_IN_NAME = re.compile(r"(?:^|[_/])(V[A-Z]{3}[0-9]{2})(?=[_.])")
MAX_TEXT = 300


class JmaDocumentError(ValueError):
    """A feed or report we refuse: too large, malformed, with a DTD/entities, or not JMA."""


@dataclass(frozen=True)
class FeedEntry:
    id: str
    title: str
    updated: str
    link: str  # absolute (resolved against the feed's address)
    kind: str  # VXSE51 / VXSE53 / VTSE41, or "" for kinds we do not act on


@dataclass(frozen=True)
class City:
    code: str
    name: str
    intensity: str  # "5-" …; a City listed as 震度５弱以上未入電 counts as "5-"
    unreceived: bool = False


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    intensity: str
    cities: tuple[City, ...] = ()


@dataclass(frozen=True)
class TsunamiItem:
    code: str
    name: str
    kind_code: str
    kind_name: str

    @property
    def is_warning(self) -> bool:
        return self.kind_code in WARNING_CODES or self.kind_name in WARNING_NAMES


@dataclass(frozen=True)
class Report:
    kind: str
    title: str
    status: str
    info_type: str
    event_id: str
    report_at: datetime | None
    headline: str
    areas: tuple[Area, ...] = ()
    tsunami: tuple[TsunamiItem, ...] = ()

    @property
    def family(self) -> str:
        """VXSE (earthquake) or VTSE (tsunami): a 取消 cancels what its own family started."""
        return self.kind[:4]

    @property
    def is_cancel(self) -> bool:
        return self.info_type == "取消"


def _root(data: bytes, max_bytes: int) -> Element:
    if len(data) > max_bytes:
        raise JmaDocumentError(f"too large: over {max_bytes} bytes")
    try:
        return safe_etree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise JmaDocumentError(f"forbidden XML ({type(exc).__name__})") from None
    except ParseError as exc:
        raise JmaDocumentError(f"malformed XML: {exc}") from None


def _text(parent: Element | None, path: str) -> str:
    if parent is None:
        return ""
    found = parent.find(path)
    return (found.text or "").strip()[:MAX_TEXT] if found is not None else ""


def _code(parent: Element, path: str) -> str:
    value = _text(parent, path)
    return value if _CODE.match(value) else ""


def kind_of(*, title: str, link: str) -> str:
    """The data type code of a feed entry: from the file name (…_VXSE53_…xml), else the
    title."""
    found = _KIND_IN_NAME.search(link.rsplit("/", 1)[-1])
    if found:
        return found.group(1) if found.group(1) in KINDS else ""
    return KIND_OF_TITLE.get(title, "")


def parse_feed(data: bytes, *, base_url: str, max_bytes: int) -> list[FeedEntry]:
    """The Atom feed's entries, in the feed's order."""
    root = _root(data, max_bytes)
    if root.tag != f"{ATOM}feed":
        raise JmaDocumentError("not an Atom feed")
    entries = []
    for entry in root.iter(f"{ATOM}entry"):
        title = _text(entry, f"{ATOM}title")
        href = ""
        for link in entry.iter(f"{ATOM}link"):
            if link.get("rel", "alternate") == "alternate" and link.get("href"):
                href = link.get("href", "")
                break
        link = urljoin(base_url, href.strip()) if href else ""
        entry_id = _text(entry, f"{ATOM}id") or link
        if not entry_id or not link:
            continue
        entries.append(
            FeedEntry(
                id=entry_id,
                title=title,
                updated=_text(entry, f"{ATOM}updated"),
                link=link,
                kind=kind_of(title=title, link=link),
            )
        )
    return entries


def _datetime(value: str) -> datetime | None:
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def _intensity(element: Element) -> tuple[str, bool]:
    value = _text(element, f"{BODY}MaxInt")
    if value in RANK:
        return value, False
    if _text(element, f"{BODY}Condition") == UNRECEIVED:
        return "5-", True
    return "", False


def _areas(body: Element) -> tuple[Area, ...]:
    observation = body.find(f"{BODY}Intensity/{BODY}Observation")
    if observation is None:
        return ()
    areas = []
    for area in observation.iterfind(f"{BODY}Pref/{BODY}Area"):
        cities = []
        for city in area.iterfind(f"{BODY}City"):
            intensity, unreceived = _intensity(city)
            cities.append(
                City(_code(city, f"{BODY}Code"), _text(city, f"{BODY}Name"), intensity, unreceived)
            )
        intensity, _unreceived = _intensity(area)
        areas.append(
            Area(_code(area, f"{BODY}Code"), _text(area, f"{BODY}Name"), intensity, tuple(cities))
        )
    return tuple(areas)


def _tsunami(body: Element) -> tuple[TsunamiItem, ...]:
    return tuple(
        TsunamiItem(
            code=_code(item, f"{BODY}Area/{BODY}Code"),
            name=_text(item, f"{BODY}Area/{BODY}Name"),
            kind_code=_text(item, f"{BODY}Category/{BODY}Kind/{BODY}Code"),
            kind_name=_text(item, f"{BODY}Category/{BODY}Kind/{BODY}Name"),
        )
        for item in body.iterfind(f"{BODY}Tsunami/{BODY}Forecast/{BODY}Item")
    )


def parse_report(data: bytes, *, max_bytes: int) -> Report:
    """A report of a kind we act on (VXSE51, VXSE53, VTSE41), or JmaDocumentError."""
    root = _root(data, max_bytes)
    if root.tag != f"{CONTROL}Report":
        raise JmaDocumentError("not a JMA report")
    control = root.find(f"{CONTROL}Control")
    head = root.find(f"{HEAD}Head")
    body = root.find(f"{BODY}Body")
    if control is None or head is None:
        raise JmaDocumentError("no Control or Head")
    title = _text(control, f"{CONTROL}Title")
    kind = KIND_OF_TITLE.get(title)
    if kind is None:
        raise JmaDocumentError(f"not a kind we act on: {title[:40]!r}")
    status = _text(control, f"{CONTROL}Status")
    info_type = _text(head, f"{HEAD}InfoType")
    event_id = _text(head, f"{HEAD}EventID")
    if status not in STATUSES or info_type not in INFO_TYPES:
        raise JmaDocumentError(f"unknown Status or InfoType: {status[:8]!r} {info_type[:8]!r}")
    if not event_id or len(event_id) > 40:
        raise JmaDocumentError("no EventID")
    if body is None and info_type != "取消":
        raise JmaDocumentError("no Body")
    return Report(
        kind=kind,
        title=title,
        status=status,
        info_type=info_type,
        event_id=event_id,
        report_at=_datetime(_text(head, f"{HEAD}ReportDateTime")),
        headline=_text(head, f"{HEAD}Headline/{HEAD}Text"),
        areas=_areas(body) if body is not None and kind != "VTSE41" else (),
        tsunami=_tsunami(body) if body is not None and kind == "VTSE41" else (),
    )
