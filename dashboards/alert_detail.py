"""One alert: its state, its history, and the spans and traces it cites as evidence."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import uids, variables
from dashboards.panels import (
    drill_down,
    fleet_dashboard,
    hide_columns,
    key_variable,
    table_panel,
    trace_view,
)
from dashboards.sql import ALERTS, CONTENT_KEYS, LATEST_ALERTS, SPANS, equals, with_ctes

THIS_ALERT = equals("AlertId", "alert")

ALERT_CHOICES = f"""{with_ctes(LATEST_ALERTS)}
SELECT hex(AlertId) AS value, concat(Title, ' [', AlertId, ']') AS text
FROM latest_alerts
ORDER BY UpdatedAt DESC
LIMIT 1000"""

# The alert's latest version, as a CTE the evidence queries read scalars from.
THE_ALERT = f"""the_alert AS (
    SELECT * FROM {ALERTS} WHERE {THIS_ALERT} ORDER BY Version DESC LIMIT 1
)"""

EVIDENCE_TRACES = f"""{with_ctes(THE_ALERT)}
SELECT hex(trace_id) AS value, trace_id AS text
FROM (SELECT arrayJoin(EvidenceTraceIds) AS trace_id FROM the_alert)
LIMIT 100"""

SUMMARY = f"""{with_ctes(THE_ALERT)}
SELECT Title AS title, Severity AS severity, Status AS status, Detector AS detector,
       round(Score, 3) AS score, Version AS version, FirstSeen AS first_seen,
       UpdatedAt AS updated, WindowStart AS window_start, WindowEnd AS window_end,
       arrayStringConcat(Agents, ', ') AS agents,
       arrayStringConcat(Principals, ', ') AS principals, TenantId AS tenant, AlertId AS alert_id
FROM the_alert"""

EXPLANATION = f"""{with_ctes(THE_ALERT)}
SELECT Explanation AS explanation,
       arrayStringConcat(arrayMap((k, v) -> concat(k, '=', v), mapKeys(Labels), mapValues(Labels)),
                         ', ') AS labels
FROM the_alert"""

HISTORY = f"""
SELECT Version AS version, UpdatedAt AS updated, Status AS status, Severity AS severity,
       round(Score, 3) AS score, WindowStart AS window_start, WindowEnd AS window_end,
       arrayStringConcat(Agents, ', ') AS agents, length(EvidenceTraceIds) AS evidence_traces
FROM {ALERTS}
WHERE {THIS_ALERT}
ORDER BY Version DESC
LIMIT 500"""

# Spans of the cited traces, near the alert's window; rows cited by span id are flagged.
EVIDENCE_SPANS = f"""{with_ctes(THE_ALERT)}
SELECT Timestamp AS time, AgentId AS agent, Operation AS operation, SpanName AS span,
       PrincipalId AS principal, ToolName AS tool, StatusCode AS status,
       has((SELECT EvidenceSpanIds FROM the_alert), SpanId) AS cited,
       TraceId AS trace_id, SpanId AS span_id, hex(TraceId) AS trace_key
FROM {SPANS}
WHERE TenantId = (SELECT TenantId FROM the_alert)
  AND TraceId IN (SELECT arrayJoin(EvidenceTraceIds) FROM the_alert)
  AND Timestamp >= (SELECT WindowStart FROM the_alert) - INTERVAL 1 HOUR
  AND Timestamp <= (SELECT WindowEnd FROM the_alert) + INTERVAL 1 HOUR
ORDER BY Timestamp
LIMIT 1000"""

THIS_TRACE = equals("TraceId", "trace")


def _trace_bound(aggregate: str) -> str:
    # The Collector's companion table narrows the scan to the trace's time range.
    return f"(SELECT {aggregate} FROM otel_traces_trace_id_ts WHERE {THIS_TRACE})"


# The shape Grafana's trace view reads, from the OTel columns (times in milliseconds).
TRACE = f"""
SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID,
       ServiceName AS serviceName, SpanName AS operationName,
       toUnixTimestamp64Milli(Timestamp) AS startTime, Duration / 1000000 AS duration,
       arrayMap(key -> map('key', key, 'value', SpanAttributes[key]),
                arrayFilter(key -> key NOT IN ({CONTENT_KEYS}), mapKeys(SpanAttributes))) AS tags,
       arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]),
                mapKeys(ResourceAttributes)) AS serviceTags,
       multiIf(StatusCode IN ('STATUS_CODE_ERROR', 'Error'), 2,
               StatusCode IN ('STATUS_CODE_OK', 'Ok'), 1, 0) AS statusCode,
       StatusMessage AS statusMessage, SpanKind AS kind
FROM {SPANS}
WHERE {THIS_TRACE}
  AND Timestamp >= {_trace_bound("min(Start)")}
  AND Timestamp <= {_trace_bound("max(End)")} + 1
ORDER BY Timestamp
LIMIT 1000"""


def build() -> Dashboard:
    board = fleet_dashboard(
        uids.ALERT_DETAIL,
        "Alert detail",
        "One alert: current state, version history, and the traces it cites as evidence.",
    )
    board.with_variable(variables.tenant())
    board.with_variable(key_variable("alert", "Alert", ALERT_CHOICES, include_all=False))
    board.with_variable(key_variable("trace", "Evidence trace", EVIDENCE_TRACES, include_all=False))
    board.with_panel(table_panel("Alert", SUMMARY, height=5))
    board.with_panel(table_panel("Explanation", EXPLANATION, height=5))
    board.with_panel(table_panel("History", HISTORY, height=8))
    spans = table_panel("Evidence spans", EVIDENCE_SPANS, height=10).data_links(
        [drill_down("Show this trace", uids.ALERT_DETAIL, "trace", "trace_key", keep=("alert",))]
    )
    board.with_panel(hide_columns(spans, "trace_key"))
    board.with_panel(trace_view("Evidence trace", TRACE))
    return board
