"""Fleet overview: volume, tokens, errors and alerts, over time and per agent."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import uids, variables
from dashboards.panels import (
    drill_down,
    fleet_dashboard,
    hide_columns,
    stat_panel,
    table_panel,
    time_series,
)
from dashboards.sql import (
    ALERTING_AGENTS,
    ERROR,
    LATEST_ALERTS,
    OPEN_ALERT,
    SPANS,
    SPANS_IN_RANGE,
    contains_selected,
    is_selected,
    with_ctes,
)

SELECTED_SPANS = f"{SPANS_IN_RANGE} AND {is_selected('AgentId', 'agent')}"
SELECTED_ALERTS = contains_selected("Agents", "agent")


def _per_agent(value: str, *, where: str = "") -> str:
    return f"""
SELECT $__timeInterval(Timestamp) AS time, AgentId, {value}
FROM {SPANS}
WHERE {SELECTED_SPANS}{where}
GROUP BY time, AgentId
ORDER BY time"""


STATS = (
    ("Spans", "SELECT count() AS spans", "short"),
    ("Active agents", "SELECT uniqExact(AgentId) AS agents", "short"),
    ("Tokens", "SELECT sum(InputTokens + OutputTokens) AS tokens", "short"),
    ("Error spans", f"SELECT countIf({ERROR}) AS errors", "short"),
    ("Error rate", f"SELECT countIf({ERROR}) / greatest(count(), 1) AS error_rate", "percentunit"),
)

OPEN_ALERTS = f"""{with_ctes(LATEST_ALERTS)}
SELECT count() AS open_alerts
FROM latest_alerts
WHERE {OPEN_ALERT} AND {SELECTED_ALERTS}"""

ALERTS_BY_SEVERITY = f"""{with_ctes(LATEST_ALERTS)}
SELECT $__timeInterval(FirstSeen) AS time, Severity, count() AS alerts
FROM latest_alerts
WHERE {SELECTED_ALERTS}
GROUP BY time, Severity
ORDER BY time"""

AGENT_TABLE = f"""{with_ctes(LATEST_ALERTS, ALERTING_AGENTS)}
SELECT activity.agent AS agent, activity.name AS name, activity.spans AS spans,
       activity.tokens AS tokens, activity.errors AS errors,
       activity.errors / greatest(activity.spans, 1) AS error_rate,
       alerting_agents.open_alerts AS open_alerts, activity.last_seen AS last_seen,
       hex(activity.agent) AS agent_key
FROM (
    SELECT AgentId AS agent, anyIf(AgentName, AgentName != '') AS name, count() AS spans,
           sum(InputTokens + OutputTokens) AS tokens, countIf({ERROR}) AS errors,
           max(Timestamp) AS last_seen
    FROM {SPANS}
    WHERE {SELECTED_SPANS}
    GROUP BY agent
) AS activity
LEFT JOIN alerting_agents ON alerting_agents.agent = activity.agent
ORDER BY open_alerts DESC, spans DESC
LIMIT 500"""


def build() -> Dashboard:
    board = fleet_dashboard(
        uids.OVERVIEW,
        "Fleet overview",
        "Spans, tokens, errors and alerts across the fleet, per agent.",
    )
    board.with_variable(variables.tenant()).with_variable(variables.agent(include_all=True))
    for title, select, unit in STATS:
        board.with_panel(stat_panel(title, f"{select}\nFROM {SPANS}\nWHERE {SELECTED_SPANS}", unit=unit))
    board.with_panel(stat_panel("Open alerts", OPEN_ALERTS))
    per_agent = "${__field.labels.AgentId}"
    board.with_panel(time_series("Spans per agent", _per_agent("count() AS spans")).display_name(per_agent))
    board.with_panel(
        time_series("Tokens per agent", _per_agent("sum(InputTokens + OutputTokens) AS tokens")).display_name(
            per_agent
        )
    )
    board.with_panel(
        time_series(
            "Error spans per agent", _per_agent("count() AS errors", where=f" AND {ERROR}")
        ).display_name(per_agent)
    )
    board.with_panel(
        time_series("Alerts by severity", ALERTS_BY_SEVERITY, bars=True).display_name(
            "${__field.labels.Severity}"
        )
    )
    agents = table_panel("Agents", AGENT_TABLE, height=10).data_links(
        [drill_down("Open agent drill-down", uids.AGENT, "agent", "agent_key")]
    )
    board.with_panel(hide_columns(agents, "agent_key"))
    return board
