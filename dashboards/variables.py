"""Template variables shared by several dashboards."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import QueryVariable

from dashboards.panels import key_variable
from dashboards.sql import SPANS, SPANS_IN_RANGE, equals


def tenant() -> QueryVariable:
    return key_variable(
        "tenant",
        "Tenant",
        f"""
SELECT hex(TenantId) AS value, TenantId AS text
FROM {SPANS}
WHERE $__timeFilter(Timestamp)
GROUP BY TenantId
ORDER BY text
LIMIT 1000""",
        include_all=True,
    )


def agent(*, include_all: bool) -> QueryVariable:
    return key_variable(
        "agent",
        "Agent",
        f"""
SELECT hex(AgentId) AS value, AgentId AS text
FROM {SPANS}
WHERE {SPANS_IN_RANGE}
GROUP BY AgentId
ORDER BY text
LIMIT 1000""",
        include_all=include_all,
    )


# The drill-down dashboards filter on exactly one agent.
THIS_AGENT = equals("AgentId", "agent")
