"""The after-action report's charts: server-side SVG drawn by matplotlib (its SVG backend, no
pyplot, no display). Text is laid out with Noto Sans CJK JP (Debian's fonts-noto-cjk) and kept as
SVG text with the site's Japanese font stack, so the PDF (WeasyPrint, which embeds the font) and
phones (their own Japanese font) both show real, selectable text. Each function takes the
report's numbers and returns SVG text.

Drawing is kept cheap because the report is drawn on request (docs/benchmarks.md, "Drills"):
fixed margins instead of matplotlib's constrained layout (which measures every label several
times), and one collection per series instead of an artist per box or bar.

matplotlib's global state (rcParams, the font cache) is shared by every thread of the server
process, so drawing holds one lock."""

from __future__ import annotations

import base64
import io
import math
import statistics
import threading
import unicodedata
from collections.abc import Sequence
from contextlib import contextmanager

import matplotlib
import numpy as np
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

matplotlib.use("svg")  # never a GUI backend, also when pyplot is imported somewhere

from matplotlib import font_manager, rc_context  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# Phone-first: 4.8 in (122 mm) wide, drawn at that size in the PDF and scaled to the screen
# width on a phone (≈ 360 px), where 10-point text stays readable.
WIDTH_IN = 4.8
FONT_PT = 9
STYLE = {
    "font.family": ["sans-serif"],
    # The first one found here measures the text; the SVG names them all, like the site's CSS.
    "font.sans-serif": [
        "Noto Sans CJK JP",
        "Hiragino Sans",
        "Noto Sans JP",
        "Meiryo",
        "DejaVu Sans",
    ],
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": FONT_PT,
    "ytick.labelsize": FONT_PT,
    "legend.fontsize": FONT_PT,
    "svg.fonttype": "none",  # text stays text: selectable, searchable, small
    "svg.hashsalt": "honbu",  # the same numbers draw the same SVG
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.grid.axis": "x",
    "grid.color": "#e0e0e0",
    "grid.linewidth": 0.6,
}
READ, ACK, REPLY, SAFETY = "#1565c0", "#b71c1c", "#2e7d32", "#6a1b9a"
TOP_IN, BOTTOM_IN, RIGHT_IN = 0.38, 0.5, 0.15
_lock = threading.Lock()


def _cjk_font_known() -> None:
    """matplotlib caches the system's fonts once per machine: a cache written before
    fonts-noto-cjk was installed lacks it, and every Japanese glyph is measured in DejaVu Sans.
    Add the installed font files to the running font manager (cheap; nothing is rebuilt)."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    if "Noto Sans CJK JP" in names:
        return
    for path in font_manager.findSystemFonts():
        if "NotoSansCJK" in path or "NotoSansJP" in path:
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable file: skip it
                continue


_cjk_font_known()


def _label_width_in(labels: Sequence[str], points: float = FONT_PT) -> float:
    """How wide the longest label is, in inches (full-width characters are 1 em, others about
    0.6 em): the left margin, without asking matplotlib to measure every label."""

    def ems(text: str) -> float:
        return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.6 for c in text)

    return max((ems(label) for label in labels), default=2) * points / 72


@contextmanager
def _figure(height_in: float, *, left_in: float = 0.55, **grid):
    height_in = max(1.8, height_in)
    with _lock, rc_context(STYLE):
        fig = Figure(figsize=(WIDTH_IN, height_in))
        fig.subplots_adjust(
            left=min(0.5, (left_in + 0.12) / WIDTH_IN),
            right=1 - RIGHT_IN / WIDTH_IN,
            top=1 - TOP_IN / height_in,
            bottom=BOTTOM_IN / height_in,
            **grid,
        )
        yield fig


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]  # no XML prologue or DOCTYPE: it is embedded


def _quantile(values: list[float], q: float) -> float:
    """The q-quantile of sorted values (nearest rank)."""
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def time_unit(values: Sequence[float | None]) -> tuple[float, str]:
    """Seconds when the figures are short, minutes when they are long: (divisor, axis label)."""
    got = [v for v in values if v is not None and math.isfinite(v)]
    if got and max(got) >= 180:
        return 60.0, _("minutes")
    return 1.0, _("seconds")


def timeline(
    *,
    injects: Sequence[tuple[int, float]],
    read: Sequence[float],
    acked: Sequence[float],
    replied: Sequence[float],
    answers: Sequence[float],
    pauses: Sequence[tuple[float, float]],
    duration: float,
) -> str:
    """Injects fired (a dot per inject at its time, by number) over the responses per time
    slot (reads, 了解, first replies) and, when there was a safety round, its answers. All
    times are seconds from the run's start; the x axis is in minutes."""
    panels = 3 if answers else 2
    arrays = [np.asarray(v, dtype=float) / 60 for v in (read, acked, replied, answers)]
    # Up to the last thing that happened (a run ends when its last expectation is checked,
    # which can be long after the last answer); the run's length only when nothing happened.
    events = [t / 60 for _n, t in injects] + [a.max() for a in arrays if a.size]
    events += [end / 60 for _start, end in pauses]
    span = max(1.0, *events) if events else max(1.0, duration / 60)
    edges = np.linspace(0, span * 50 / 48, 51)  # about 48 slots, in minutes
    with _figure(1.2 + 1.5 * panels, left_in=0.45, hspace=0.18) as fig:
        axes = fig.subplots(panels, 1, sharex=True, height_ratios=[1.2] + [1] * (panels - 1))
        top = axes[0]
        top.scatter(
            [t / 60 for _n, t in injects], [n for n, _t in injects], s=12, color="#37474f", zorder=3
        )
        top.set_ylabel(_("inject #"))
        top.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        top.set_title(_("Injects fired and the responses"), loc="left")
        top.grid(True, axis="y")
        if injects:
            top.set_ylim(max(n for n, _t in injects) + 1, min(n for n, _t in injects) - 1)
        # Counted with numpy and drawn as one step line each (ax.hist would make a patch per
        # slot and convert the lists again).
        series = [
            (arrays[0], READ, _("read")),
            (arrays[1], ACK, _("了解")),
            (arrays[2], REPLY, _("reply")),
        ]
        for values, color, label in series:
            if values.size:
                counts, _edges = np.histogram(values, bins=edges)
                axes[1].stairs(counts, edges, color=color, label=label, linewidth=1.4)
        axes[1].set_ylabel(_("responses"))
        if any(values.size for values, _c, _l in series):
            axes[1].legend(loc="upper right", frameon=False)
        if answers:
            counts, _edges = np.histogram(arrays[3], bins=edges)
            axes[2].stairs(counts, edges, color=SAFETY, fill=True, alpha=0.8)
            axes[2].set_ylabel(_("safety answers"))
        for ax in axes:
            for start, end in pauses:
                ax.axvspan(start / 60, end / 60, color="#ffe082", alpha=0.5, linewidth=0)
        axes[-1].set_xlabel(_("minutes from the start"))
        axes[-1].set_xlim(0, edges[-1])
        return _svg(fig)


def latency_boxes(
    rows: Sequence[tuple[str, list[float], list[float], list[float]]],
    *,
    scale: tuple[float, str] | None = None,
    xmax: float | None = None,
    title: str = "",
    left_in: float | None = None,
) -> str:
    """Per inject, the spread of read, 了解 and first-reply times: a box from the first to the
    third quartile, the median as a tick, a line from the 10th to the 90th percentile. Pieces
    of one long chart share ``scale`` (divisor, unit), ``xmax`` and ``left_in``."""
    values = [v for _l, *series in rows for s in series for v in s]
    div, unit = scale or time_unit(values)
    labels = [label for label, *_s in rows]
    left = left_in if left_in is not None else _label_width_in(labels)
    with _figure(0.9 + 0.42 * len(rows), left_in=left) as fig:
        ax = fig.subplots()
        offsets = ((0, READ, _("read")), (1, ACK, _("了解")), (2, REPLY, _("reply")))
        for k, color, label in offsets:
            boxes, whiskers, medians = [], [], []
            for i, row in enumerate(rows):
                got = sorted(v / div for v in row[1 + k])
                if not got:
                    continue
                y = i - 0.27 + 0.27 * k
                q1, q3 = _quantile(got, 0.25), _quantile(got, 0.75)
                boxes.append([(q1, y - 0.11), (q3, y - 0.11), (q3, y + 0.11), (q1, y + 0.11)])
                whiskers.append([(_quantile(got, 0.1), y), (_quantile(got, 0.9), y)])
                middle = statistics.median(got)
                medians.append([(middle, y - 0.13), (middle, y + 0.13)])
            if not boxes:
                continue
            ax.add_collection(LineCollection(whiskers, colors=color, linewidths=1))
            ax.add_collection(PolyCollection(boxes, facecolors=color, edgecolors=color, alpha=0.35))
            ax.add_collection(LineCollection(medians, colors=color, linewidths=2))
            ax.plot([], [], color=color, linewidth=6, alpha=0.5, label=label)
        ax.set_yticks(range(len(rows)), labels)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.autoscale(axis="x")
        ax.set_xlim(0, xmax / div if xmax else None)
        ax.set_xlabel(unit)
        ax.set_title(title or _("Response times per inject"), loc="left")
        ax.legend(loc="lower right", frameon=True, framealpha=0.9)
        return _svg(fig)


def unit_bars(
    rows: Sequence[tuple[str, float | None, float | None]],
    *,
    scale: tuple[float, str] | None = None,
    xmax: float | None = None,
    title: str = "",
    left_in: float | None = None,
) -> str:
    """Per ward or bureau, the median read and 了解 times over all of the run's messages."""
    div, unit = scale or time_unit([v for _u, *vs in rows for v in vs])
    labels = [r[0] for r in rows]
    left = left_in if left_in is not None else _label_width_in(labels)
    with _figure(0.9 + 0.32 * len(rows), left_in=left) as fig:
        ax = fig.subplots()
        ys = range(len(rows))
        read = [(r[1] or 0) / div for r in rows]
        acked = [(r[2] or 0) / div for r in rows]
        ax.barh([y - 0.2 for y in ys], read, height=0.38, color=READ, label=_("read (median)"))
        ax.barh([y + 0.2 for y in ys], acked, height=0.38, color=ACK, label=_("了解 (median)"))
        ax.set_yticks(list(ys), labels)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, xmax / div if xmax else None)
        ax.set_xlabel(unit)
        ax.set_title(title or _("Read and 了解 by ward and bureau"), loc="left")
        ax.legend(loc="lower right", frameon=True, framealpha=0.9)
        return _svg(fig)


def safety_curve(
    *,
    answers: Sequence[float],
    total: int,
    marks: dict[int, float | None],
    target: tuple[float, float] | None = None,
) -> str:
    """The share of the round's staff who had answered, over minutes from its start, with the
    times to 25/50/75/90 % and the expected share (target: minutes, percent)."""
    ordered = sorted(answers)
    step = max(1, len(ordered) // 400)  # at most ~400 points: the curve, not 30,000 of them
    xs = [0.0] + [ordered[i] / 60 for i in range(0, len(ordered), step)]
    ys = [0.0] + [100 * (i + 1) / total for i in range(0, len(ordered), step)] if total else [0.0]
    if ordered and total:
        xs.append(ordered[-1] / 60)
        ys.append(100 * len(ordered) / total)
    with _figure(2.8, left_in=0.3) as fig:
        ax = fig.subplots()
        ax.grid(True, axis="y")
        ax.step(xs[: len(ys)], ys, where="post", color=SAFETY, linewidth=1.8)
        for percent, minutes in marks.items():
            if minutes is None:
                continue
            ax.plot([minutes], [percent], "o", color=SAFETY, markersize=4)
            ax.annotate(
                _("%(p)s%%: %(m)s min") % {"p": percent, "m": f"{minutes:g}"},
                (minutes, percent),
                textcoords="offset points",
                xytext=(6, -10),
                fontsize=8,
            )
        if target is not None:
            minutes, percent = target
            ax.plot([minutes], [percent], "x", color="#000", markersize=8, mew=2)
            ax.annotate(
                _("expected"), (minutes, percent), textcoords="offset points", xytext=(6, 4)
            )
        ax.set_ylim(0, 100)
        ax.set_xlim(left=0)
        ax.set_ylabel(_("% answered"))
        ax.set_xlabel(_("minutes from the round's start"))
        ax.set_title(_("Safety answers"), loc="left")
        return _svg(fig)


def compare_bars(labels: Sequence[str], runs: Sequence[tuple[str, list[float | None]]]) -> str:
    """Median 了解 (or read) time per inject, one bar per run side by side."""
    div, unit = time_unit([v for _r, vs in runs for v in vs])
    n = max(1, len(runs))
    height = 0.8 / n
    colors = ["#90a4ae", "#1565c0", "#b71c1c", "#2e7d32", "#6a1b9a", "#ef6c00"]
    with _figure(0.9 + (0.25 + 0.12 * n) * len(labels), left_in=_label_width_in(labels)) as fig:
        ax = fig.subplots()
        for k, (name, values) in enumerate(runs):
            ys = [i - 0.4 + height * (k + 0.5) for i in range(len(labels))]
            ax.barh(
                ys,
                [(v or 0) / div for v in values],
                height=height * 0.9,
                color=colors[k % len(colors)],
                label=name,
            )
        ax.set_yticks(range(len(labels)), labels)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_xlabel(unit)
        ax.set_title(_("Median time to respond, per inject"), loc="left")
        ax.legend(loc="lower right", frameon=True, framealpha=0.9)
        return _svg(fig)


def data_uri(svg: str) -> str:
    """An SVG as an <img> source: the same picture on a phone and in the PDF, and the charts'
    ids (glyphs, clip paths) never meet in one document."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


PIECE = 20  # rows per chart: a long chart is cut into pieces that each fit an A4 page


def _pieces(rows: list, draw, title: str, *, size: int = PIECE) -> list[str]:
    """One long horizontal chart as several of at most PIECE rows, on one scale (up to the
    largest 90th percentile, so one straggler does not squash every box)."""
    tops: list[float] = []
    for row in rows:
        for cell in row[1:]:
            if isinstance(cell, list):
                if cell:
                    tops.append(_quantile(sorted(cell), 0.9))
            elif cell is not None and math.isfinite(cell):
                tops.append(cell)
    scale = time_unit(tops)
    xmax = max(tops) * 1.05 if tops else None
    left = _label_width_in([row[0] for row in rows])
    count = math.ceil(len(rows) / size)
    return [
        data_uri(
            draw(
                rows[i * size : (i + 1) * size],
                scale=scale,
                xmax=xmax,
                left_in=left,
                title=title if count == 1 else f"{title} ({i + 1}/{count})",
            )
        )
        for i in range(count)
    ]


def report_charts(report, *, paged: bool = False) -> dict:
    """Every chart of a RunReport (drills/report.py), as data: URIs for <img>. ``paged`` (the
    PDF): long charts are cut into pieces that fit a page; on screen each is drawn once."""
    size = PIECE if paged else 10**6
    messages = report.message_injects
    out: dict = {
        "timeline": data_uri(
            timeline(
                injects=[(r.ri.number, r.at) for r in report.injects],
                read=[r.at + p.read for r in messages for p in r.people if p.read is not None],
                acked=[r.at + p.acked for r in messages for p in r.people if p.acked is not None],
                replied=[
                    r.at + p.replied for r in messages for p in r.people if p.replied is not None
                ],
                answers=[
                    (r.ri.round.started_at - report.run.start_at).total_seconds() + a
                    for r in report.safety_injects
                    for a in r.answers
                ],
                pauses=report.pauses,
                duration=report.duration,
            )
        ),
        "safety": {},
    }
    if messages:
        rows = [
            (
                f"#{r.ri.number}",
                [p.read for p in r.people if p.read is not None],
                [p.acked for p in r.people if p.acked is not None],
                [p.replied for p in r.people if p.replied is not None],
            )
            for r in messages
        ]
        out["latency"] = _pieces(rows, latency_boxes, _("Response times per inject"), size=size)
    if report.units:
        rows = [(u.unit, u.read_p50, u.acked_p50) for u in report.units]
        out["units"] = _pieces(rows, unit_bars, _("Read and 了解 by ward and bureau"), size=size)
    for r in report.safety_injects:
        out["safety"][r.ri.pk] = data_uri(
            safety_curve(answers=r.answers, total=r.total, marks=r.curve, target=r.safety_target)
        )
    return out


def comparison_chart(comparison) -> str:
    rows = [row for row in comparison.rows if any(c.fired and c.read_p50 for c in row.cells)]
    if not rows:
        return ""
    return data_uri(
        compare_bars(
            [f"#{row.number}" for row in rows],
            [
                (
                    f"{localtime(run.start_at):%Y-%m-%d %H:%M}",
                    [
                        row.cells[k].acked_p50
                        if row.cells[k].acked_p50 is not None
                        else row.cells[k].read_p50
                        for row in rows
                    ],
                )
                for k, run in enumerate(comparison.runs)
            ],
        )
    )
