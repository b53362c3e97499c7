"""Who the agents in a window are: owners, authorised principals, own principal ids.

Spans carry owners and agent principals as resource attributes; the policy file fills gaps and
adds authorised principals. Principals that belong to agents make agent-to-agent edges visible.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

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


# Joins an agent and a principal into one key (ids do not contain control characters).
_PAIR_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class FleetDirectory:
    """Built once per window (or live update) and not changed after: what is derived from the
    agents is derived here, once. Detectors ask about every (agent, principal) pair of a
    window, tens of thousands at 10,000 spans/s; rebuilding the principal map on each question
    held the GIL for seconds per full window, and the tick's Python waited behind it."""

    agents: Mapping[str, AgentInfo] = field(default_factory=dict)
    principal_to_agent: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _owned: pl.Series = field(init=False, repr=False, compare=False)
    _permitted: pl.Series = field(init=False, repr=False, compare=False)
    _peers: pl.Series = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_principal = {info.principal: agent for agent, info in self.agents.items() if info.principal}
        permitted = [agent + _PAIR_SEPARATOR + who for agent, info in self.agents.items()
                     for who in info.owners | info.authorised]
        derived = {"principal_to_agent": by_principal,
                   "_owned": _strings([a for a, info in self.agents.items() if info.owners]),
                   "_permitted": _strings(permitted), "_peers": _strings(list(by_principal))}
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    def is_outsider(self, agent: str, principal: str, peers: bool = True) -> bool:
        """Is ``principal`` someone, not an owner or authorised principal of ``agent``, whose
        owners are known? ``peers=False`` leaves out principals that belong to agents."""
        found = bool(principal) and self.knows_owners(agent) and not self.may_instruct(agent, principal)
        return found and (peers or not self.is_agent(principal))

    def outsider(self, principal: str, agent: str = "agent", peers: bool = True) -> pl.Expr:
        """``is_outsider`` for a whole frame at once: the rows whose ``principal`` column names
        an outsider to their ``agent`` column."""
        who = pl.col(principal)
        pair = pl.concat_str([pl.col(agent), who], separator=_PAIR_SEPARATOR)
        found = (who != "") & pl.col(agent).is_in(self._owned) & ~pair.is_in(self._permitted)
        return found if peers else found & ~who.is_in(self._peers)

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


def _strings(values: list[str]) -> pl.Series:
    """``values`` as one list value, the form ``is_in`` takes without a deprecation warning."""
    return pl.Series(values, dtype=pl.String).implode()


def build_directory(rows: list[tuple[str, str, str, str]], policy: Policy) -> FleetDirectory:
    agents: dict[str, AgentInfo] = {}
    for agent, name, owners_json, principal in rows:
        entry = policy.agents.get(agent)
        owners = set(_json_list(owners_json))
        authorised: set[str] = set()
        if entry is not None:
            owners |= set(entry.owners)
            authorised |= set(entry.authorised)
            principal = entry.principal or principal
        agents[agent] = AgentInfo(agent, name, frozenset(owners), frozenset(authorised), principal)
    for agent, entry in policy.agents.items():
        if agent not in agents and entry.principal:
            agents[agent] = AgentInfo(agent, "", frozenset(entry.owners), frozenset(entry.authorised),
                                      entry.principal)
    return FleetDirectory(agents)


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
