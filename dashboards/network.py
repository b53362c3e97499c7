"""The agent interaction network: who messaged or instructed whom, alerting agents in red.

Node Graph data frames: nodes (id, title, subtitle, mainstat, secondarystat, color,
highlighted, detail__*) and edges (id, source, target, mainstat, thickness, highlighted).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import uids, variables
from dashboards.panels import fleet_dashboard, node_graph, table_panel
from dashboards.sql import (
    ALERTING_AGENTS,
    FLEET_EDGES,
    LATEST_ALERTS,
    PRINCIPAL_AGENT,
    SENDS,
    SPANS,
    SPANS_IN_RANGE,
    with_ctes,
)

_GRAPH_CTES = with_ctes(PRINCIPAL_AGENT, SENDS, FLEET_EDGES, LATEST_ALERTS, ALERTING_AGENTS)

NODES = f"""{_GRAPH_CTES}
SELECT
    ids.id AS id,
    if(agents.name != '', agents.name, ids.id) AS title,
    if(agents.agent != '', 'agent', 'principal') AS subtitle,
    if(agents.agent != '', agents.spans, sent.messages) AS mainstat,
    alerting_agents.open_alerts AS secondarystat,
    multiIf(alerting_agents.open_alerts > 0, 'red', agents.agent != '', 'green', 'blue') AS color,
    toBool(alerting_agents.open_alerts > 0) AS highlighted,
    alerting_agents.alert_titles AS detail__alerts
FROM (
    SELECT AgentId AS id FROM {SPANS} WHERE {SPANS_IN_RANGE}
    UNION DISTINCT SELECT source FROM fleet_edges
    UNION DISTINCT SELECT target FROM fleet_edges
) AS ids
LEFT JOIN (
    SELECT AgentId AS agent, anyIf(AgentName, AgentName != '') AS name, count() AS spans
    FROM {SPANS}
    WHERE {SPANS_IN_RANGE}
    GROUP BY agent
) AS agents ON agents.agent = ids.id
LEFT JOIN (
    SELECT source, sum(messages) AS messages FROM fleet_edges GROUP BY source
) AS sent ON sent.source = ids.id
LEFT JOIN alerting_agents ON alerting_agents.agent = ids.id
ORDER BY id
LIMIT 2000"""

EDGES = f"""{_GRAPH_CTES}
SELECT
    concat(fleet_edges.source, ' -> ', fleet_edges.target) AS id,
    fleet_edges.source AS source,
    fleet_edges.target AS target,
    sum(fleet_edges.messages) AS mainstat,
    least(1 + log2(mainstat), 8) AS thickness,
    toBool(max(sender_alerts.open_alerts > 0 OR receiver_alerts.open_alerts > 0)) AS highlighted
FROM fleet_edges
LEFT JOIN alerting_agents AS sender_alerts ON sender_alerts.agent = fleet_edges.source
LEFT JOIN alerting_agents AS receiver_alerts ON receiver_alerts.agent = fleet_edges.target
GROUP BY source, target
ORDER BY mainstat DESC
LIMIT 5000"""

TOP_EDGES = f"""{with_ctes(PRINCIPAL_AGENT, SENDS, FLEET_EDGES)}
SELECT source, target, sum(messages) AS messages
FROM fleet_edges
GROUP BY source, target
ORDER BY messages DESC
LIMIT 100"""


def build() -> Dashboard:
    board = fleet_dashboard(
        uids.NETWORK,
        "Agent interaction network",
        "Agents and principals as nodes; messages and instructions as edges weighted by volume. "
        "Agents named in open alerts are red.",
    )
    board.with_variable(variables.tenant())
    board.with_panel(node_graph("Who talks to whom", NODES, EDGES))
    board.with_panel(table_panel("Busiest edges", TOP_EDGES, height=10))
    return board
