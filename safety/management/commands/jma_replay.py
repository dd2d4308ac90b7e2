"""``manage.py jma_replay [--report 5minus|5plus|tsunami|cancel] [--drill] [--event ID]
[--fill-osaka]``: replay a bundled JMA report through the real poller, so an operator sees the
automatic start without a real quake.

The bundled report (safety/jma/samples/) gets a new EventID and the current time (a cancel gets
the EventID of the latest quake the feed started something for), is served with a one-entry
Atom feed from a local HTTP server on 127.0.0.1 for the duration of the command, and one poll
reads it exactly as the beat task reads the JMA's feed. ``--drill`` serves it as an exercise
(訓練) and lets it start exercise rounds (and an exercise incident at 5強), whatever the rule
says; without it the report is a real one (通常) and starts real rounds."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from directory.models import OrgUnit
from realtime import clock
from safety.jma import selectors, services
from safety.jma.models import JmaFeed, JmaReport, JmaStep
from safety.jma.parse import KINDS
from safety.jma.poller import jma_poll

SAMPLES = Path(__file__).resolve().parents[2] / "jma" / "samples"
REPORTS = {"5minus": "VXSE53", "5plus": "VXSE53", "tsunami": "VTSE41", "cancel": "VXSE53"}


def _new_event_id() -> str:
    """A JMA-style EventID (the time, to the second) that no report has used yet."""
    at = timezone.localtime(clock.now())
    while JmaReport.objects.filter(event_id=f"{at:%Y%m%d%H%M%S}").exists():
        at += timedelta(seconds=1)
    return f"{at:%Y%m%d%H%M%S}"


def _render(report: str, *, event_id: str, drill: bool, kind: str) -> bytes:
    now = timezone.localtime(clock.now()).replace(microsecond=0)
    text = (SAMPLES / f"{report}.xml").read_text(encoding="utf-8")
    if report == "cancel" and kind == "VTSE41":  # cancel a tsunami report with its own kind
        text = text.replace(f"<Title>{KINDS['VXSE53']}</Title>", f"<Title>{KINDS[kind]}</Title>")
    for key, value in {
        "EVENT_ID": event_id,
        "STATUS": "訓練" if drill else "通常",
        "DATETIME": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "REPORT_AT": now.isoformat(),
        "ORIGIN_AT": (now - timedelta(minutes=4)).isoformat(),
    }.items():
        text = text.replace("{{" + key + "}}", value)
    return text.encode()


def _feed(*, entry_id: str, title: str, name: str) -> bytes:
    updated = clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" lang="ja">\n'
        "<title>jma_replay</title>\n"
        f"<updated>{updated}</updated>\n<id>urn:honbu:jma-replay</id>\n"
        f"<entry>\n<title>{escape(title)}</title>\n<id>{escape(entry_id)}</id>\n"
        f"<updated>{updated}</updated>\n<author><name>Honbu jma_replay</name></author>\n"
        f'<link type="application/xml" href="data/{name}"/>\n</entry>\n</feed>\n'
    ).encode()


def _serve(files: dict[str, bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Command(BaseCommand):
    help = (
        "Replay a bundled JMA report through the real poller (served from 127.0.0.1 for the "
        "duration): see the automatic start without a real quake. --drill makes it an exercise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--report", choices=sorted(REPORTS), default="5minus")
        parser.add_argument(
            "--drill",
            action="store_true",
            help="serve it as an exercise (訓練) and start exercise rounds for it",
        )
        parser.add_argument("--event", default="", help="the EventID a cancel cancels")
        parser.add_argument(
            "--fill-osaka",
            action="store_true",
            help="first add 大阪市's JMA codes to the rule (its 24 wards found by name)",
        )

    def handle(self, *args, report: str, drill: bool, event: str, fill_osaka: bool, **opts):
        rule = selectors.jma_rule()
        if fill_osaka:
            city = OrgUnit.objects.filter(depth=0, kind=OrgUnit.Kind.CITY).order_by("pk").first()
            if city is None:
                raise CommandError("There is no city unit to map the codes to.")
            added = services.jma_areas_fill_osaka(rule=rule, city=city, actor=None)
            self.stdout.write(f"Added {added} JMA codes for {city.name}.")
        codes = selectors.rule_codes(rule=rule)
        if not codes.earthquake and not codes.tsunami:
            self.stdout.write(
                self.style.WARNING(
                    "The JMA rule has no codes: nothing will start. Add them in the admin "
                    "(JMA feed rules) or run with --fill-osaka."
                )
            )
        kind = REPORTS[report]
        if report == "cancel":
            event = event or selectors.last_event_started(is_drill=drill)
            if not event:
                raise CommandError("Nothing to cancel: the feed has started nothing yet.")
            started = JmaStep.objects.filter(event_id=event, is_drill=drill).first()
            kind = "VTSE41" if started is not None and started.family == "VTSE" else "VXSE53"
        elif not event:
            event = _new_event_id()
        token = uuid.uuid4().hex[:12]
        name = f"{clock.now():%Y%m%d%H%M%S}_0_{kind}_{token}.xml"
        document = _render(report, event_id=event, drill=drill, kind=kind)
        feed = _feed(entry_id=f"urn:honbu:jma-replay:{token}", title=KINDS[kind], name=name)
        server = _serve({"/feed.xml": feed, f"/data/{name}": document})
        url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
        try:
            result = jma_poll(url=url, drill_rounds=True if drill else None)
        finally:
            server.shutdown()
            server.server_close()
            JmaFeed.objects.filter(url=url).delete()
        if result.error:
            raise CommandError(f"The poll failed: {result.error}")
        for row in JmaReport.objects.filter(pk__in=result.done + result.refused):
            self.stdout.write(
                f"{row.kind} {row.status} {row.info_type} EventID {row.event_id}: "
                f"{row.outcome or row.state} {row.detail}"
            )
        if not result.done:
            raise CommandError(f"The report was not applied: {result}")
