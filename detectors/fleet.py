"""Who the agents in a window are: owners, authorised principals, own principal ids.

Spans carry owners and agent principals as resource attributes; the policy file fills gaps and
adds authorised principals. Principals that belong to agents make agent-to-agent edges visible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from detectors.policy import Policy

DIRECTORY_SQL = """
SELECT AgentId,
       anyIf(AgentName, AgentName != '') AS name,
       anyIf(ResourceAttributes['fleet.agent.owners'],
             ResourceAttributes['fleet.agent.owners'] != '') AS owners,
       anyIf(ResourceAttributes['fleet.agent.principal'],
             ResourceAttributes['fleet.agent.principal'] != '') AS principal
FROM otel_traces
WHERE {window}
GROUP BY AgentId
"""


@dataclass(frozen=True)
class AgentInfo:
    agent: str
    name: str = ""
    owners: frozenset[str] = frozenset()
    authorised: frozenset[str] = frozenset()
    principal: str = ""


@dataclass
class FleetDirectory:
    agents: dict[str, AgentInfo] = field(default_factory=dict)

    @property
    def principal_to_agent(self) -> dict[str, str]:
        return {info.principal: agent for agent, info in self.agents.items() if info.principal}

    def owners(self, agent: str) -> frozenset[str]:
        info = self.agents.get(agent)
        return info.owners if info else frozenset()

    def may_instruct(self, agent: str, principal: str) -> bool:
        info = self.agents.get(agent)
        return info is not None and (principal in info.owners or principal in info.authorised)

    def knows_owners(self, agent: str) -> bool:
        return bool(self.owners(agent))

    def is_agent(self, principal: str) -> bool:
        return principal in self.principal_to_agent


def build_directory(rows: list[tuple[str, str, str, str]], policy: Policy) -> FleetDirectory:
    directory = FleetDirectory()
    for agent, name, owners_json, principal in rows:
        entry = policy.agents.get(agent)
        owners = set(_json_list(owners_json))
        authorised: set[str] = set()
        if entry is not None:
            owners |= set(entry.owners)
            authorised |= set(entry.authorised)
            principal = entry.principal or principal
        directory.agents[agent] = AgentInfo(
            agent, name, frozenset(owners), frozenset(authorised), principal
        )
    for agent, entry in policy.agents.items():
        if agent not in directory.agents and entry.principal:
            directory.agents[agent] = AgentInfo(
                agent, "", frozenset(entry.owners), frozenset(entry.authorised), entry.principal
            )
    return directory


def _json_list(text: str) -> list[str]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]
