"""Alert timeline: incidents over time and the list of them, each linking to its detail."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import uids, variables
from dashboards.panels import (
    drill_down,
    fleet_dashboard,
    hide_columns,
    key_variable,
    table_panel,
    time_series,
)
from dashboards.sql import ALERTS, LATEST_ALERTS, TENANT, is_selected, with_ctes

SELECTED = is_selected("Detector", "detector")

DETECTORS = f"""
SELECT hex(Detector) AS value, Detector AS text
FROM {ALERTS}
WHERE {TENANT}
GROUP BY Detector
ORDER BY text"""


def _new_alerts_by(column: str) -> str:
    return f"""{with_ctes(LATEST_ALERTS)}
SELECT $__timeInterval(FirstSeen) AS time, {column}, count() AS alerts
FROM latest_alerts
WHERE {SELECTED}
GROUP BY time, {column}
ORDER BY time"""


ALERT_LIST = f"""{with_ctes(LATEST_ALERTS)}
SELECT FirstSeen AS first_seen, UpdatedAt AS updated, Severity AS severity, Status AS status,
       Detector AS detector, Title AS title, arrayStringConcat(Agents, ', ') AS agents,
       round(Score, 3) AS score, Version AS version,
       length(EvidenceTraceIds) AS evidence_traces, hex(AlertId) AS alert_key
FROM latest_alerts
WHERE {SELECTED}
ORDER BY
    Status = 'resolved',
    indexOf(['critical', 'high', 'warning', 'info'], Severity),
    UpdatedAt DESC
LIMIT 1000"""


def build() -> Dashboard:
    board = fleet_dashboard(
        uids.ALERTS,
        "Alert timeline",
        "fleetwatch incidents over time (latest version of each alert); open one for evidence.",
    )
    board.with_variable(variables.tenant())
    board.with_variable(key_variable("detector", "Detector", DETECTORS, include_all=True))
    board.with_panel(
        time_series("New alerts by detector", _new_alerts_by("Detector"), bars=True).display_name(
            "${__field.labels.Detector}"
        )
    )
    board.with_panel(
        time_series("New alerts by severity", _new_alerts_by("Severity"), bars=True).display_name(
            "${__field.labels.Severity}"
        )
    )
    alerts = table_panel("Alerts", ALERT_LIST, height=14).data_links(
        [drill_down("Open alert detail", uids.ALERT_DETAIL, "alert", "alert_key")]
    )
    board.with_panel(hide_columns(alerts, "alert_key"))
    return board
