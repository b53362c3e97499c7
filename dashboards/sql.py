"""SQL fragments shared by the dashboards, each written once.

Template variables carry ``hex()`` of the real value, never the value itself. Agent ids, alert
ids and principal ids come from the agents being watched; a compromised agent could pick an id
that breaks out of a quoted literal (ClickHouse honours backslash escapes, which Grafana's
``sqlstring`` format does not double). Hex digits cannot, so every filter compares against
``unhex(${var:sqlstring})``.

Grafana macros used here are the ClickHouse datasource's: ``$__timeFilter(col)``,
``$__timeInterval(col)``, ``$__fromTime_ms`` and ``$__toTime_ms``.
"""

from __future__ import annotations

# A custom "All" value is inserted verbatim (Grafana skips formatting for it), so it is already
# a SQL literal; it cannot collide with a hex-encoded value.
ALL_VALUE = "'__all__'"

SPANS = "otel_traces"
ALERTS = "alerts"
ERROR = "StatusCode IN ('STATUS_CODE_ERROR', 'Error')"
RECIPIENTS = "JSONExtract(SpanAttributes['fleet.message.recipients'], 'Array(String)')"
OWN_PRINCIPAL = "ResourceAttributes['fleet.agent.principal']"
OWNERS = "JSONExtract(ResourceAttributes['fleet.agent.owners'], 'Array(String)')"
# Opt-in message and tool content: personal data, kept out of dashboard results.
CONTENT_KEYS = (
    "'gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.system_instructions', "
    "'gen_ai.tool.call.arguments', 'gen_ai.tool.call.result'"
)
# Detectors write "resolved" when an incident closes; every other status is still open.
OPEN_ALERT = "Status != 'resolved'"


def var(name: str) -> str:
    return "${" + name + ":sqlstring}"


def is_selected(column: str, variable: str) -> str:
    """``column`` equals the hex-encoded variable, or the variable is All."""
    return f"({var(variable)} = {ALL_VALUE} OR {column} = unhex({var(variable)}))"


def contains_selected(array_column: str, variable: str) -> str:
    """``array_column`` holds the hex-encoded variable, or the variable is All."""
    return f"({var(variable)} = {ALL_VALUE} OR has({array_column}, unhex({var(variable)})))"


def equals(column: str, variable: str) -> str:
    """``column`` equals the hex-encoded single-valued variable."""
    return f"{column} = unhex({var(variable)})"


TENANT = is_selected("TenantId", "tenant")
SPANS_IN_RANGE = f"$__timeFilter(Timestamp) AND {TENANT}"

# Latest version of each alert whose event-time span overlaps the range.
LATEST_ALERTS = f"""latest_alerts AS (
    SELECT *
    FROM {ALERTS}
    WHERE {TENANT} AND FirstSeen <= $__toTime_ms AND WindowEnd >= $__fromTime_ms
    ORDER BY AlertId, Version DESC
    LIMIT 1 BY AlertId
)"""

# Agents announce the principal id they send as; a message to that id is a message to them.
PRINCIPAL_AGENT = f"""principal_agent AS (
    SELECT {OWN_PRINCIPAL} AS principal, any(AgentId) AS agent
    FROM {SPANS}
    WHERE {SPANS_IN_RANGE} AND {OWN_PRINCIPAL} != ''
    GROUP BY principal
)"""

# One row per (send span, recipient).
SENDS = f"""sends AS (
    SELECT AgentId AS sender, Timestamp AS sent_at, TraceId AS trace_id,
           arrayJoin({RECIPIENTS}) AS recipient
    FROM {SPANS}
    WHERE {SPANS_IN_RANGE} AND Operation = 'send'
)"""

# Agent -> agent hops: sends whose recipient is another agent's principal id.
HOPS = """hops AS (
    SELECT sends.sender AS source, principal_agent.agent AS target,
           sends.sent_at AS at, sends.trace_id AS trace_id
    FROM sends
    INNER JOIN principal_agent ON principal_agent.principal = sends.recipient
    WHERE principal_agent.agent != sends.sender
)"""

# Network edges: messages agents sent (recipients resolved to agents where they are one), and
# instructions from principals that are not agents (agent senders already count as messages).
FLEET_EDGES = f"""message_edges AS (
    SELECT sends.sender AS source,
           if(principal_agent.agent != '', principal_agent.agent, sends.recipient) AS target,
           count() AS messages
    FROM sends
    LEFT JOIN principal_agent ON principal_agent.principal = sends.recipient
    GROUP BY source, target
),
instruction_edges AS (
    SELECT PrincipalId AS source, AgentId AS target, count() AS messages
    FROM {SPANS}
    WHERE {SPANS_IN_RANGE} AND PrincipalId != ''
      AND PrincipalId NOT IN (SELECT principal FROM principal_agent)
    GROUP BY source, target
),
fleet_edges AS (
    SELECT source, target, messages FROM message_edges
    UNION ALL
    SELECT source, target, messages FROM instruction_edges
)"""

# Agents named in open alerts, with how many and which.
ALERTING_AGENTS = f"""alerting_agents AS (
    SELECT arrayJoin(Agents) AS agent, count() AS open_alerts,
           arrayStringConcat(groupArray(3)(Title), '; ') AS alert_titles
    FROM latest_alerts
    WHERE {OPEN_ALERT}
    GROUP BY agent
)"""


def with_ctes(*ctes: str) -> str:
    return "WITH\n" + ",\n".join(ctes) + "\n"
