"""Who is in the simulated world: humans (owners and non-owners), agents, and outside contacts.

The shape follows the Agents of Chaos lab: a few owners each own one or two agents, many more
non-owners talk to the same agents on shared channels, and every agent also has a principal id of
its own on those channels so agent-to-agent messages are attributable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

AGENT_NAMES = (
    "Ash", "Flux", "Jarvis", "Quinn", "Doug", "Mira", "Wren", "Otto", "Lark", "Sage", "Juno",
    "Pike", "Rook", "Nova", "Iris", "Cove", "Fern", "Hale", "Ivo", "Kite",
)
OWNER_NAMES = ("Chris", "Danny", "Avery", "Andy", "Blake", "Casey", "Drew", "Emery", "Frankie")
RESEARCHER_NAMES = (
    "Natalie", "Chris W", "Yen", "Omar", "Priya", "Lena", "Tomas", "Ruth", "Kenji", "Sofia",
    "Malik", "Hana", "Ivan", "Zoe", "Paolo", "Greta",
)
MODELS = (("moonshot", "kimi-k2.5"), ("anthropic", "claude-opus-4.6"), ("openai", "gpt-5.1"))


@dataclass(frozen=True)
class Principal:
    """Someone who can send an instruction: a human, an email address or another agent."""

    id: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class AgentProfile:
    agent_id: str
    name: str
    principal: Principal
    owners: tuple[Principal, ...]
    provider: str
    model: str
    capture_content: bool
    busyness: float  # relative activity; 1.0 is the fleet average
    market: str = ""  # market role ("buyer"/"seller") for market agents, "" otherwise

    @property
    def owner_ids(self) -> tuple[str, ...]:
        return tuple(owner.id for owner in self.owners)


@dataclass(frozen=True)
class Roster:
    agents: tuple[AgentProfile, ...]
    market_agents: tuple[AgentProfile, ...]
    owners: tuple[Principal, ...]
    researchers: tuple[Principal, ...]
    contacts: tuple[Principal, ...] = field(default=())

    def all_agents(self) -> tuple[AgentProfile, ...]:
        return self.agents + self.market_agents


def _name(pool: tuple[str, ...], index: int) -> str:
    return pool[index] if index < len(pool) else f"{pool[index % len(pool)]} {index // len(pool) + 1}"


def id_block(agents: int, market_agents: int) -> int:
    """The width of each kind's range of numeric principal ids: owners from 1 block + 1, fleet
    agents from 2 blocks + 1, bidders from 2.5 blocks + 1, researchers from 3 blocks + 1.

    1000 for the lab-sized fleets (discord:1001, 2001, 2501, 3001 as before); a larger power of
    ten when a kind would overflow its range, so a person's id is never another agent's id
    (a 2,000-agent fleet once gave researcher discord:3001 and agent 1000 the same id)."""
    block = 1000
    while max(agents, market_agents) >= block // 2:
        block *= 10
    return block


def _human(first_id: int, index: int, pool: tuple[str, ...]) -> Principal:
    name = _name(pool, index)
    handle = name.lower().replace(" ", ".")
    return Principal(id=f"discord:{first_id + index}", name=name, email=f"{handle}@lab.example.org")


def _agent(index: int, principal_id: int, name: str, owners: tuple[Principal, ...],
           rng: random.Random, market: str = "") -> AgentProfile:
    provider, model = MODELS[index % len(MODELS)]
    slug = name.lower().replace(" ", "-")
    return AgentProfile(
        agent_id=f"agent-{slug}",
        name=name,
        principal=Principal(id=f"discord:{principal_id}", name=name, email=f"{slug}@agents.example.org"),
        owners=owners,
        provider=provider,
        model=model,
        # Content capture is opt-in: alternate it so both kinds of agent are always present.
        capture_content=index % 2 == 0,
        busyness=min(4.0, rng.lognormvariate(0.0, 0.7)),
        market=market,
    )


def build_roster(agents: int, market_agents: int, rng: random.Random) -> Roster:
    """``agents`` general agents (two per owner, some co-owned) and ``market_agents`` bidders."""
    block = id_block(agents, market_agents)
    owners = tuple(_human(block + 1, i, OWNER_NAMES) for i in range((agents + 1) // 2 + 1))
    researchers = tuple(_human(3 * block + 1, i, RESEARCHER_NAMES) for i in range(max(6, agents)))
    fleet = []
    for index in range(agents):
        owned_by: tuple[Principal, ...] = (owners[index // 2],)
        if rng.random() < 0.15:
            owned_by += (owners[-1],)
        fleet.append(_agent(index, 2 * block + 1 + index, _name(AGENT_NAMES, index), owned_by, rng))
    bidders = tuple(
        _agent(500 + i, 2 * block + block // 2 + 1 + i, f"Bidder {i + 1:02d}",
               (owners[i % len(owners)],), rng, market="seller" if i % 3 == 2 else "buyer")
        for i in range(market_agents)
    )
    contacts = tuple(
        Principal(id=f"mailto:contact{i:02d}@partners.example.com", name=f"Contact {i}",
                  email=f"contact{i:02d}@partners.example.com")
        for i in range(60)
    )
    return Roster(tuple(fleet), bidders, owners, researchers, contacts)
