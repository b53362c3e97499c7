"""Propagation chains: messages relayed agent to agent within a time window.

A hop is a send span whose recipient is another agent's principal id. A chain is hops joined
end to start (A -> B, then B -> C within the window), the shape of a rumour, an instruction or
an injected payload spreading through the fleet.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import CustomVariable, Dashboard
from grafana_foundation_sdk.models.dashboard import VariableOption

from dashboards import uids, variables
from dashboards.panels import drill_down, fleet_dashboard, hide_columns, table_panel, time_series
from dashboards.sql import HOPS, LATEST_ALERTS, PRINCIPAL_AGENT, SENDS, with_ctes

_HOP_CTES = with_ctes(PRINCIPAL_AGENT, SENDS, HOPS)
WINDOW_SECONDS = "toIntervalSecond(toUInt32OrZero(${window:sqlstring}))"

HOPS_OVER_TIME = f"""{_HOP_CTES}
SELECT $__timeInterval(at) AS time, count() AS hops
FROM hops
GROUP BY time
ORDER BY time"""

HOP_TABLE = f"""{_HOP_CTES}
SELECT source, target, count() AS messages, min(at) AS first_seen, max(at) AS last_seen
FROM hops
GROUP BY source, target
ORDER BY messages DESC
LIMIT 200"""

TWO_HOPS = f"""{_HOP_CTES}
SELECT concat(h1.source, ' → ', h1.target, ' → ', h2.target) AS chain,
       count() AS occurrences, min(h1.at) AS first_seen, max(h2.at) AS last_seen,
       min(dateDiff('millisecond', h1.at, h2.at)) / 1000 AS fastest_relay_s,
       any(h1.trace_id) AS example_trace
FROM hops AS h1
INNER JOIN hops AS h2 ON h2.source = h1.target
WHERE h2.at >= h1.at AND h2.at <= h1.at + {WINDOW_SECONDS}
GROUP BY chain
ORDER BY occurrences DESC
LIMIT 200"""

THREE_HOPS = f"""{_HOP_CTES}
SELECT concat(h1.source, ' → ', h1.target, ' → ', h2.target, ' → ', h3.target) AS chain,
       count() AS occurrences, min(h1.at) AS first_seen, max(h3.at) AS last_seen,
       any(h1.trace_id) AS example_trace
FROM hops AS h1
INNER JOIN hops AS h2 ON h2.source = h1.target
INNER JOIN hops AS h3 ON h3.source = h2.target
WHERE h2.at >= h1.at AND h2.at <= h1.at + {WINDOW_SECONDS}
  AND h3.at >= h2.at AND h3.at <= h2.at + {WINDOW_SECONDS}
GROUP BY chain
ORDER BY occurrences DESC
LIMIT 200"""

MULTI_AGENT_ALERTS = f"""{with_ctes(LATEST_ALERTS)}
SELECT FirstSeen AS first_seen, Severity AS severity, Status AS status, Detector AS detector,
       Title AS title, arrayStringConcat(Agents, ', ') AS agents, hex(AlertId) AS alert_key
FROM latest_alerts
WHERE length(Agents) >= 2
ORDER BY UpdatedAt DESC
LIMIT 200"""


def _window() -> CustomVariable:
    return (
        CustomVariable("window")
        .label("Relay window")
        .values("1m : 60,5m : 300,15m : 900,1h : 3600")
        .current(VariableOption(selected=True, text="5m", value="300"))
    )


def build() -> Dashboard:
    board = fleet_dashboard(
        uids.PROPAGATION,
        "Propagation chains",
        "Messages relayed agent to agent: single hops, and chains of two and three hops "
        "where each relay follows the previous message within the window.",
    )
    board.with_variable(variables.tenant()).with_variable(_window())
    board.with_panel(time_series("Agent-to-agent messages", HOPS_OVER_TIME, bars=True))
    board.with_panel(table_panel("Hops", HOP_TABLE, width=12))
    board.with_panel(table_panel("Two-hop chains", TWO_HOPS, height=10))
    board.with_panel(table_panel("Three-hop chains", THREE_HOPS, height=10))
    alerts = table_panel("Alerts spanning several agents", MULTI_AGENT_ALERTS).data_links(
        [drill_down("Open alert detail", uids.ALERT_DETAIL, "alert", "alert_key")]
    )
    board.with_panel(hide_columns(alerts, "alert_key"))
    return board
