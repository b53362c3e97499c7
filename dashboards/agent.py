"""One agent: its activity, who it obeyed, the tools and resources it used, what it claimed."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import uids, variables
from dashboards.panels import drill_down, fleet_dashboard, hide_columns, table_panel, time_series
from dashboards.sql import (
    ERROR,
    LATEST_ALERTS,
    OWNERS,
    PRINCIPAL_AGENT,
    SENDS,
    SPANS,
    SPANS_IN_RANGE,
    equals,
    with_ctes,
)

AGENT_SPANS = f"{SPANS_IN_RANGE} AND {variables.THIS_AGENT}"
TARGET = "SpanAttributes['fleet.action.target']"
KIND = "SpanAttributes['fleet.action.kind']"

ACTIVITY = f"""
SELECT $__timeInterval(Timestamp) AS time, if(Operation != '', Operation, 'other') AS operation,
       count() AS spans
FROM {SPANS}
WHERE {AGENT_SPANS}
GROUP BY time, operation
ORDER BY time"""

TOKENS = f"""
SELECT $__timeInterval(Timestamp) AS time, sum(InputTokens) AS input, sum(OutputTokens) AS output,
       countIf({ERROR}) AS errors
FROM {SPANS}
WHERE {AGENT_SPANS}
GROUP BY time
ORDER BY time"""

# Who instructed this agent; "owner" = listed in the agent's fleet.agent.owners.
_OWNERS = f"owners AS (SELECT groupUniqArrayArray({OWNERS}) AS ids FROM {SPANS} WHERE {AGENT_SPANS})"
PRINCIPALS = f"""{with_ctes(_OWNERS)}
SELECT PrincipalId AS principal, has((SELECT ids FROM owners), PrincipalId) AS owner,
       arrayStringConcat(groupUniqArray(10)(PrincipalName), ', ') AS names_presented,
       arrayStringConcat(groupUniqArray(10)(Channel), ', ') AS channels,
       count() AS instructions, min(Timestamp) AS first_seen, max(Timestamp) AS last_seen
FROM {SPANS}
WHERE {AGENT_SPANS} AND PrincipalId != ''
GROUP BY principal
ORDER BY instructions DESC
LIMIT 200"""

TOOLS = f"""
SELECT ToolName AS tool, count() AS calls, countIf({ERROR}) AS errors,
       arrayStringConcat(groupUniqArrayIf(5)({KIND}, {KIND} != ''), ', ') AS kinds,
       max(Timestamp) AS last_call
FROM {SPANS}
WHERE {AGENT_SPANS} AND ToolName != ''
GROUP BY tool
ORDER BY calls DESC
LIMIT 200"""

RESOURCES = f"""
SELECT {TARGET} AS target,
       arrayStringConcat(groupUniqArrayIf(5)({KIND}, {KIND} != ''), ', ') AS kinds,
       count() AS actions, countIf({ERROR}) AS errors,
       sum(toUInt64OrZero(SpanAttributes['fleet.resource.bytes'])) AS bytes,
       sum(toUInt64OrZero(SpanAttributes['fleet.records.count'])) AS records,
       max(Timestamp) AS last_action
FROM {SPANS}
WHERE {AGENT_SPANS} AND target != ''
GROUP BY target
ORDER BY actions DESC
LIMIT 200"""

# What the agent said it did, next to what its spans show was done to the same subject.
_ACTIONS = f"""actions AS (
    SELECT subject, count() AS attempts, countIf(failed) AS failures
    FROM (
        SELECT arrayJoin([{TARGET}, SpanAttributes['fleet.process.id']]) AS subject,
               {ERROR} AS failed
        FROM {SPANS}
        WHERE {AGENT_SPANS}
    )
    WHERE subject != ''
    GROUP BY subject
)"""
CLAIMS = f"""{with_ctes(_ACTIONS)}
SELECT claims.claim AS claim, claims.subject AS subject, claims.times AS times,
       claims.last_claimed AS last_claimed, actions.attempts AS actions_on_subject,
       actions.failures AS failed_actions
FROM (
    SELECT SpanAttributes['fleet.claim'] AS claim,
           SpanAttributes['fleet.claim.subject'] AS subject,
           count() AS times, max(Timestamp) AS last_claimed
    FROM {SPANS}
    WHERE {AGENT_SPANS} AND claim != ''
    GROUP BY claim, subject
) AS claims
LEFT JOIN actions ON actions.subject = claims.subject
ORDER BY last_claimed DESC
LIMIT 200"""

MESSAGES = f"""{with_ctes(PRINCIPAL_AGENT, SENDS)}
SELECT if(principal_agent.agent != '', principal_agent.agent, sends.recipient) AS recipient,
       principal_agent.agent != '' AS is_agent, count() AS messages,
       max(sends.sent_at) AS last_sent
FROM sends
LEFT JOIN principal_agent ON principal_agent.principal = sends.recipient
WHERE {equals("sends.sender", "agent")}
GROUP BY recipient, is_agent
ORDER BY messages DESC
LIMIT 200"""

ALERTS = f"""{with_ctes(LATEST_ALERTS)}
SELECT FirstSeen AS first_seen, Severity AS severity, Status AS status, Detector AS detector,
       Title AS title, hex(AlertId) AS alert_key
FROM latest_alerts
WHERE has(Agents, unhex(${{agent:sqlstring}}))
ORDER BY UpdatedAt DESC
LIMIT 200"""


def build() -> Dashboard:
    board = fleet_dashboard(
        uids.AGENT,
        "Agent drill-down",
        "One agent: activity, principals it obeyed, tools, resources, claims and alerts.",
    )
    board.with_variable(variables.tenant()).with_variable(variables.agent(include_all=False))
    board.with_panel(
        time_series("Activity by operation", ACTIVITY).display_name("${__field.labels.operation}")
    )
    board.with_panel(time_series("Tokens and errors", TOKENS))
    board.with_panel(table_panel("Principals it obeyed", PRINCIPALS, width=12))
    board.with_panel(table_panel("Messages it sent", MESSAGES, width=12))
    board.with_panel(table_panel("Tools", TOOLS, width=12))
    board.with_panel(table_panel("Resources acted on", RESOURCES, width=12))
    board.with_panel(table_panel("Claims vs. actions", CLAIMS, width=12))
    alerts = table_panel("Alerts naming this agent", ALERTS, width=12).data_links(
        [drill_down("Open alert detail", uids.ALERT_DETAIL, "alert", "alert_key")]
    )
    board.with_panel(hide_columns(alerts, "alert_key"))
    return board
