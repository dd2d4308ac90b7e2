"""The JMA feed and reports as the parser reads them: every fixture, and the documents it must
refuse (malformed, huge, DTD/entities) without reading a file or expanding anything."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from safety.jma.parse import (
    JmaDocumentError,
    kind_of,
    parse_feed,
    parse_report,
)
from tests.safety.jma_server import fixture, huge_report

MB5 = 5 * 1024 * 1024
JST = timezone(timedelta(hours=9))


def report(name: str):
    return parse_report(fixture(name), max_bytes=MB5)


def intensities(parsed) -> dict[str, str]:
    """code → intensity for every area and city in the report."""
    out = {}
    for area in parsed.areas:
        out[area.code] = area.intensity
        for city in area.cities:
            out[city.code] = city.intensity
    return out


def test_the_feed_lists_its_entries_with_kinds_and_links_resolved_against_the_feed():
    entries = parse_feed(
        fixture("eqvol.xml"), base_url="http://127.0.0.1:9/feed/eqvol.xml", max_bytes=MB5
    )

    assert len(entries) == 17
    first = entries[0]  # newest first, as JMA lists them
    assert first.id == (
        "https://www.data.jma.go.jp/developer/xml/data/20240607030000_0_VXSE53_270000.xml"
    )
    assert first.link == "http://127.0.0.1:9/feed/data/VXSE53_huge.xml"
    assert first.updated == "2024-06-07T03:00:00Z"
    kinds = {e.link.rsplit("/", 1)[1]: e.kind for e in entries}
    assert kinds["VXSE51_5minus_osaka.xml"] == "VXSE51"
    assert kinds["VTSE41_warning_osaka.xml"] == "VTSE41"
    assert kinds["VXSE52_osaka.xml"] == "" and kinds["VFVO50_sakurajima.xml"] == ""


def test_the_kind_comes_from_the_file_name_else_the_title():
    assert kind_of(title="x", link="https://h/data/20240601010512_0_VXSE53_270000.xml") == "VXSE53"
    assert kind_of(title="震度速報", link="https://h/data/20240601_0_VXSE52_270000.xml") == ""
    assert kind_of(title="震度速報", link="https://h/data/abc.xml") == "VXSE51"
    assert kind_of(title="津波警報・注意報・予報a", link="https://h/x.xml") == "VTSE41"


def test_a_shindo_sokuho_names_areas_only():
    parsed = report("VXSE51_5minus_osaka.xml")

    assert (parsed.kind, parsed.title, parsed.status, parsed.info_type) == (
        "VXSE51",
        "震度速報",
        "通常",
        "発表",
    )
    assert parsed.event_id == "20240601100048"
    assert parsed.report_at == datetime(2024, 6, 1, 10, 1, tzinfo=JST)
    assert intensities(parsed) == {"520": "5-", "511": "4"}
    assert all(area.cities == () for area in parsed.areas)
    assert parsed.family == "VXSE" and not parsed.is_cancel


def test_the_hypocentre_and_intensity_report_lists_cities():
    parsed = report("VXSE53_5minus_osaka.xml")

    assert (parsed.kind, parsed.event_id) == ("VXSE53", "20240601100048")
    assert intensities(parsed) == {
        "520": "5-",
        "2712700": "5-",
        "2710200": "5-",
        "2712800": "4",
        "2720700": "4",
        "511": "4",
        "2610900": "4",
    }
    [osaka_north, _kyoto] = parsed.areas
    assert [c.name for c in osaka_north.cities] == [
        "大阪北区",
        "大阪都島区",
        "大阪中央区",
        "高槻市",
    ]
    assert parsed.headline.startswith("１日１０時００分ころ、地震がありました。")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "VXSE53_5plus_osaka.xml",
            {"520": "5+", "2712700": "5+", "2712800": "5-", "2710200": "5-"},
        ),
        (
            "VXSE53_elsewhere.xml",
            {"531": "5+", "2811000": "5+", "2820600": "5-", "520": "3", "2712700": "3"},
        ),
        ("VXSE53_5minus_aftershock.xml", {"520": "5-", "2712700": "5-", "2712800": "3"}),
    ],
)
def test_intensities_of_each_earthquake_fixture(name, expected):
    assert intensities(report(name)) == expected


def test_a_city_not_yet_reporting_but_estimated_5_lower_or_more_counts_as_5_lower():
    parsed = report("VXSE53_unreceived.xml")

    [area] = parsed.areas
    kita, chuo = area.cities
    assert (kita.code, kita.intensity, kita.unreceived) == ("2712700", "4", False)
    assert (chuo.code, chuo.intensity, chuo.unreceived) == ("2712800", "5-", True)


@pytest.mark.parametrize(
    ("name", "status"), [("VXSE53_drill_5plus.xml", "訓練"), ("VXSE51_test.xml", "試験")]
)
def test_exercise_and_test_reports_say_so(name, status):
    assert report(name).status == status


def test_a_cancellation_names_the_event_and_has_no_intensities():
    parsed = report("VXSE53_cancel_5plus.xml")

    assert (parsed.info_type, parsed.event_id, parsed.is_cancel) == ("取消", "20240601143012", True)
    assert parsed.areas == () and parsed.tsunami == ()
    assert parsed.headline == "先ほどの、震源・震度情報を取り消します。"


def test_a_tsunami_report_lists_each_forecast_area_and_its_category():
    parsed = report("VTSE41_warning_osaka.xml")

    assert (parsed.kind, parsed.family, parsed.event_id) == ("VTSE41", "VTSE", "20240605061530")
    items = [(i.code, i.name, i.kind_code, i.kind_name, i.is_warning) for i in parsed.tsunami]
    assert items == [
        ("510", "大阪府", "51", "津波警報", True),
        ("530", "和歌山県", "51", "津波警報", True),
        ("521", "兵庫県瀬戸内海沿岸", "62", "津波注意報", False),
    ]
    assert parsed.areas == ()


def test_an_advisory_is_not_a_warning():
    [osaka, wakayama] = report("VTSE41_advisory_osaka.xml").tsunami
    assert (osaka.code, osaka.kind_name, osaka.is_warning) == ("510", "津波注意報", False)
    assert wakayama.is_warning


# --- refused --------------------------------------------------------------------------------
def test_a_malformed_document_is_refused():
    with pytest.raises(JmaDocumentError, match="malformed XML"):
        report("VXSE53_malformed.xml")


def test_an_external_entity_is_refused_before_anything_is_read(jma_server):
    """The fixture's entity names /etc/passwd; pointed at a live server instead, the server
    is never asked: the DTD is refused before any entity is resolved."""
    leaky = fixture("VXSE53_xxe.xml").replace(
        b"file:///etc/passwd", f"{jma_server.base_url}/secret".encode()
    )

    for data in (fixture("VXSE53_xxe.xml"), leaky):
        with pytest.raises(JmaDocumentError, match=r"forbidden XML \(DTDForbidden\)"):
            parse_report(data, max_bytes=MB5)
    assert jma_server.requests == []


def test_a_billion_laughs_is_refused_without_expanding_anything():
    with pytest.raises(JmaDocumentError, match=r"forbidden XML \(DTDForbidden\)"):
        report("VXSE53_billion_laughs.xml")


def test_a_document_over_the_cap_is_refused_unread():
    data = huge_report()
    assert len(data) > MB5

    with pytest.raises(JmaDocumentError, match="too large"):
        parse_report(data, max_bytes=MB5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "not a JMA report"),
        (
            b"<Report xmlns='http://xml.kishou.go.jp/jmaxml1/'><Control><Title>"
            b"\xe5\x99\xb4\xe7\x81\xab\xe8\xad\xa6\xe5\xa0\xb1</Title></Control><Head "
            b"xmlns='http://xml.kishou.go.jp/jmaxml1/informationBasis1/'/></Report>",
            "not a kind we act on",
        ),
        (fixture("VXSE53_5plus_osaka.xml").replace("通常".encode(), "本番".encode()), "Status"),
        (fixture("VXSE53_5plus_osaka.xml").replace(b"20240601143012", b""), "no EventID"),
    ],
)
def test_documents_that_are_not_reports_we_act_on_are_refused(data, reason):
    with pytest.raises(JmaDocumentError, match=reason):
        parse_report(data, max_bytes=MB5)


def test_a_feed_with_a_dtd_is_refused():
    with pytest.raises(JmaDocumentError, match="DTDForbidden"):
        parse_feed(
            b'<!DOCTYPE feed [<!ENTITY x "y">]><feed xmlns="http://www.w3.org/2005/Atom"/>',
            base_url="http://127.0.0.1/",
            max_bytes=MB5,
        )
