"""The ops page's HTML, rendered on the server from plain values (every value escaped).

Charts are drawn in the browser by the vendored uPlot (static/uPlot.iife.min.js, MIT) from
`GET /v1/ops/history`; everything else is in the HTML itself, so the page works without scripts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any


def _when(seconds: float | None, now: float) -> str:
    if not seconds:
        return "never"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
    return f"{stamp} UTC ({_age(now - seconds)} ago)"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _table(cls: str, headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    if not rows:
        return f'<table class="{cls}"><tr>{head}</tr><tr><td colspan="{len(headers)}">{escape(empty)}</td></tr></table>'
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def _state_badge(state: str) -> str:
    return f'<span class="state state-{escape(state)}">{escape(state)}</span>'


def mailbox_table(mailboxes: Sequence[Mapping[str, Any]], now: float) -> str:
    rows = [
        [
            escape(str(m["tenant"])),
            escape(str(m.get("owner") or m["id"])),
            escape(str(m.get("provider") or "")),
            _state_badge(str(m.get("state") or "unknown")),
            escape(_when(m.get("state_since"), now)),
            escape(_when(m.get("last_success_at"), now)),
            str(int(m.get("messages") or 0)),
            str(int(m.get("events") or 0)),
            f'<span class="error">{escape(str(m.get("last_error") or ""))}</span>',
        ]
        for m in mailboxes
    ]
    headers = ["tenant", "mailbox", "provider", "state", "since", "last success", "messages", "events", "last error"]
    return _table("mailboxes", headers, rows, "no mailboxes connected")


def dead_letter_section(summary: Mapping[str, Any], now: float) -> str:
    counts = _table(
        "dead-letter-reasons",
        ["stage", "reason", "count"],
        [[escape(r["stage"]), escape(r["reason"]), str(r["count"])] for r in summary["reasons"]],
        "no dead letters",
    )
    latest = _table(
        "dead-letters",
        ["when", "tenant", "stage", "source", "reason"],
        [
            [
                escape(_when(d.get("at_ms", 0) / 1000, now)),
                escape(str(d.get("tenant", ""))),
                escape(str(d.get("stage", ""))),
                escape(str(d.get("source", ""))),
                escape(str(d.get("reason", ""))),
            ]
            for d in summary["latest"]
        ],
        "no dead letters",
    )
    return (
        f"<p>Counts over the newest {summary['read']} dead letters read from the topic.</p>{counts}"
        f"<details><summary>Latest {len(summary['latest'])} with their reasons</summary>{latest}</details>"
    )


def lag_summary(report: Mapping[str, Any] | None, error: str | None) -> str:
    if report is None:
        return f'<p class="error">cannot read lag: {escape(error or "")}</p>'
    graph = report.get("graph") or {}
    rows = [
        [escape(stage), escape(entry["topic"]), str(entry["lag"]), escape(_age(entry["oldest_waiting_s"]))]
        for stage, entry in report["stages"].items()
    ]
    table = _table("stages", ["stage", "topic", "lag", "oldest waiting"], rows, "no topics yet")
    facts = (
        f'<p>Total lag <b id="total-lag">{report["total_lag"]}</b> · newest record in the graph '
        f"{escape(_age(graph.get('newest_origin_age_s')))} old · event-to-graph p50 "
        f"{escape(_age(graph.get('delay_p50_s')))}, p99 {escape(_age(graph.get('delay_p99_s')))} · "
        f"graph writers alive {escape(str(graph.get('workers_alive', '–')))} (last heartbeat "
        f"{escape(_age(graph.get('heartbeat_age_s')))} ago), stream-stage processes alive "
        f"{escape(str(graph.get('stage_workers_alive', '–')))}</p>"
    )
    return facts + table


STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}.error{color:#b00}.state{padding:1px 6px;border-radius:3px;background:#eee}
.state-live{background:#cfc}.state-backfilling{background:#cdf}.state-throttled{background:#ffd}
.state-auth_failed,.state-error{background:#fcc}.charts{display:flex;flex-wrap:wrap;gap:1em}
.chart{border:1px solid #ddd;padding:4px}
"""


def render_page(
    report: Mapping[str, Any] | None,
    lag_error: str | None,
    mailboxes: Sequence[Mapping[str, Any]],
    dead_letters: Mapping[str, Any] | None,
    dead_letter_error: str | None,
    now: float,
) -> str:
    """The whole ops page."""
    letters = (
        dead_letter_section(dead_letters, now)
        if dead_letters is not None
        else f'<p class="error">cannot read dead letters: {escape(dead_letter_error or "")}</p>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tiegraph ops</title>
<link rel="stylesheet" href="/ops/static/uPlot.min.css"><style>{STYLE}</style></head>
<body>
<h1>tiegraph operations</h1>
<p>Rendered {escape(_when(now, now))}. Charts refresh every 10 s from <code>/v1/ops/history</code>.</p>
<h2>Lag and freshness, last hour</h2>
<div class="charts"><div class="chart" id="lag-chart"></div><div class="chart" id="freshness-chart"></div></div>
<p id="chart-status">loading history…</p>
<h2>Now</h2>
{lag_summary(report, lag_error)}
<h2>Mailboxes</h2>
{mailbox_table(mailboxes, now)}
<h2>Dead letters</h2>
{letters}
<script src="/ops/static/uPlot.iife.min.js"></script>
<script src="/ops/static/ops.js"></script>
</body></html>
"""
