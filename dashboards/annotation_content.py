"""What a Grafana annotation for an alert says: time span, tags and linked text.

Tags are ``key:value`` (Grafana splits them that way for filtering). Text is HTML, which
Grafana sanitises and renders in the annotation tooltip; every value from an alert is escaped.
Links are relative without a leading slash, so they resolve against Grafana's own base URL
(``<base href>``) even when Grafana is served under a sub-path.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from dashboards import uids
from dashboards.annotation_ledger import AlertVersion
from dashboards.uids import ANNOTATION_TAG

MAX_TAG_AGENTS = 10
MAX_TAG_CHARS = 100
MAX_EXPLANATION_CHARS = 500
MAX_LINKED_TRACES = 5
_SAFE_ID = re.compile(r"^[\w.:@-]{1,80}$")
# Evidence links open the detail dashboard around the incident, not at "last 6 hours".
_MARGIN_MS = 3_600_000


@dataclass(frozen=True)
class Annotation:
    time_ms: int
    time_end_ms: int
    tags: list[str]
    text: str


def alert_tag(alert_id: str) -> str:
    """The tag that finds an alert's annotation again (bounded, safe in a query string)."""
    if _SAFE_ID.match(alert_id):
        return f"alert:{alert_id}"
    return "alert:sha256-" + hashlib.sha256(alert_id.encode()).hexdigest()[:24]


def annotation_for(alert: AlertVersion) -> Annotation:
    return Annotation(
        time_ms=alert.first_seen_ms,
        time_end_ms=max(alert.window_end_ms, alert.first_seen_ms),
        tags=tags_for(alert),
        text=text_for(alert),
    )


def tags_for(alert: AlertVersion) -> list[str]:
    tags = [
        ANNOTATION_TAG,
        alert_tag(alert.alert_id),
        f"detector:{alert.detector}",
        f"severity:{alert.severity}",
        f"status:{alert.status}",
        f"tenant:{alert.tenant}",
        *(f"agent:{agent}" for agent in alert.agents[:MAX_TAG_AGENTS]),
    ]
    return [tag[:MAX_TAG_CHARS] for tag in tags]


def text_for(alert: AlertVersion) -> str:
    explanation = alert.explanation[:MAX_EXPLANATION_CHARS]
    if len(alert.explanation) > MAX_EXPLANATION_CHARS:
        explanation += "…"
    lines = [
        f"<b>[{_e(alert.severity.upper())}] {_e(alert.title)}</b>",
        f"{_e(alert.detector)} · {_e(alert.status)} · version {alert.version} · score {alert.score:.2f}",
        _e(explanation),
        f"Agents: {_e(', '.join(alert.agents)) or '—'}",
        f'<a href="{_e(_detail_link(alert))}">Alert detail</a>{_trace_links(alert)}',
    ]
    return "<br/>".join(line for line in lines if line)


def _trace_links(alert: AlertVersion) -> str:
    shown = alert.trace_ids[:MAX_LINKED_TRACES]
    if not shown:
        return ""
    links = [f'<a href="{_e(_detail_link(alert, trace))}">{_e(trace[:16])}</a>' for trace in shown]
    more = len(alert.trace_ids) - len(shown)
    return " · evidence traces: " + ", ".join(links) + (f" and {more} more" if more else "")


def _detail_link(alert: AlertVersion, trace: str | None = None) -> str:
    params = {
        "var-tenant": _hex(alert.tenant),
        "var-alert": _hex(alert.alert_id),
        "from": alert.first_seen_ms - _MARGIN_MS,
        "to": max(alert.window_end_ms, alert.first_seen_ms) + _MARGIN_MS,
    }
    if trace is not None:
        params["var-trace"] = _hex(trace)
    return f"d/{uids.ALERT_DETAIL}?{urlencode(params)}"


def _hex(value: str) -> str:
    # Dashboard variables carry hex(value) (see dashboards/sql.py).
    return value.encode().hex().upper()


def _e(text: str) -> str:
    return html.escape(text, quote=True)
