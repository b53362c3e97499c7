"""What every scenario shares: common parameters, the context it runs in, and its base class.

A scenario is a generator process (see simulator.world) that drives a few agents through an
incident. Every turn it starts through ``ScenarioContext.turn`` is recorded as part of the
incident (trace id, agent, principal, start and end), which becomes the incident's label.
"""

from __future__ import annotations

import abc
import functools
import random
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Generic, TypeVar, get_type_hints

from simulator.agent import SimAgent
from simulator.clock import seconds
from simulator.roster import Principal
from simulator.tools import tool_name
from simulator.turn import MessageRef, Turn
from simulator.world import Process, World


@dataclass(frozen=True)
class Params:
    """Parameters every scenario takes. Times are in simulated seconds."""

    at_s: float = 0.0  # when the incident starts, after the run start
    speed: float = 1.0  # >1 shortens every gap between steps, <1 stretches them
    noise: int = 0  # benign turns of each involved agent hidden inside every pause
    rename_tools: bool = False  # use tool aliases (simulator.tools.ALIASES)
    sparse: bool = False  # drop optional attributes (simulator.turn.SPARSE_DROPPED)
    variant: str = ""  # "" picks the scenario's first variant


P = TypeVar("P", bound=Params)


def parse_params(kind: type[P], values: dict[str, str]) -> P:
    """Build ``kind`` from text values (CLI ``key=value``), converting by the field types."""
    hints = get_type_hints(kind)
    known = {f.name for f in fields(kind)}
    converted: dict[str, Any] = {}
    for key, text in values.items():
        name = "at_s" if key == "at" else key
        if name not in known:
            raise ValueError(f"unknown parameter {key!r}; known: {sorted(known)}")
        converted[name] = _convert(hints[name], text)
    return kind(**converted)


def _convert(hint: Any, text: str) -> Any:
    if hint is bool:
        if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError(f"not a boolean: {text!r}")
        return text.lower() in ("1", "true", "yes")
    return hint(text)


class Scenario(abc.ABC, Generic[P]):
    name: ClassVar[str]  # registry key
    kind: ClassVar[str]  # label family
    case: ClassVar[str]
    variants: ClassVar[tuple[str, ...]]
    params_type: ClassVar[type[Params]]
    harmful: ClassVar[bool] = True
    also_kinds: ClassVar[tuple[str, ...]] = ()
    needs_market: ClassVar[int] = 0  # market agents the scenario needs
    needs_agents: ClassVar[int] = 1  # fleet agents the scenario needs with default parameters
    # Ordinary history the incident needs before it (the default suite starts it no earlier),
    # and the shortest run the default suite includes it in (0: any run).
    warmup_s: ClassVar[float] = 0.0
    min_run_s: ClassVar[float] = 0.0

    def defaults(self) -> Params:
        return self.params_type()

    def resolve(self, params: Params) -> Params:
        variant = params.variant or self.variants[0]
        if variant not in self.variants:
            raise ValueError(f"{self.name}: unknown variant {variant!r}; known: {self.variants}")
        if params.speed <= 0 or params.noise < 0:
            raise ValueError(f"{self.name}: speed must be > 0 and noise >= 0")
        return replace(params, variant=variant)

    def case_for(self, variant: str) -> str:
        return self.case

    def kinds_for(self, variant: str) -> tuple[str, tuple[str, ...]]:
        """(kind, also_kinds) for ``variant``; most scenarios have one family."""
        return self.kind, self.also_kinds

    @abc.abstractmethod
    def play(self, ctx: ScenarioContext, params: P) -> Process:
        """The incident, as a process yielding the simulated times it resumes at."""


class ScenarioContext:
    """Everything a running scenario touches, and the record of what it did."""

    def __init__(self, world: World, params: Params, rng: random.Random, noise_turn: Any,
                 market: Any) -> None:
        self.world = world
        self.params = params
        self.rng = rng
        self.market = market
        self._noise_turn = noise_turn
        self.agents: dict[str, SimAgent] = {}
        self.principals: dict[str, None] = {}
        self.trace_ids: dict[str, None] = {}
        self.start_ns: int | None = None
        self.end_ns: int | None = None

    @property
    def now(self) -> int:
        return self.world.now

    def gap(self, base_s: float) -> int:
        """A pause of about ``base_s`` seconds, scaled by ``speed``, with +-25% jitter."""
        return seconds(base_s / self.params.speed * self.rng.uniform(0.75, 1.25))

    def pause(self, after_ns: int, base_s: float) -> int:
        """The time to resume at; with ``noise`` > 0 the involved agents do benign work meanwhile."""
        resume = max(after_ns, self.now) + self.gap(base_s)
        for agent in list(self.agents.values())[:3]:
            for _ in range(self.params.noise):
                when = self.rng.randint(max(after_ns, self.now), resume)
                self.world.at(when, functools.partial(self._noise_turn, agent))
        return resume

    def tool(self, canonical: str) -> str:
        return tool_name(canonical, self.params.rename_tools, self.rng)

    def pick_agents(self, count: int, *, market: bool = False) -> list[SimAgent]:
        """The ``count`` least-used agents (fleet or market), so incidents spread over agents."""
        pool = self.world.market_agents() if market else self.world.fleet_agents()
        if count > len(pool):
            what = "--market-agents" if market else "--agents"
            raise ValueError(f"scenario needs {count} agents but the run has {len(pool)}; raise {what}")
        ranked = sorted(pool, key=lambda a: (self.world.incident_load[a.id], self.rng.random()))
        chosen = ranked[:count]
        for agent in chosen:
            self.world.incident_load[agent.id] += 1
            self.involve(agent)
        return chosen

    def involve(self, agent: SimAgent | None = None, principal: Principal | None = None) -> None:
        if agent is not None:
            self.agents.setdefault(agent.id, agent)
            self.principals.setdefault(agent.profile.principal.id)
        if principal is not None:
            self.principals.setdefault(principal.id)

    def outsider(self, agent: SimAgent) -> Principal:
        """A non-owner of ``agent`` (a researcher), deterministic for this scenario."""
        owners = set(agent.profile.owner_ids)
        return self.rng.choice([p for p in self.world.roster.researchers if p.id not in owners])

    def turn(self, agent: SimAgent, *, sender: Principal | None, channel: str, trigger: str,
             at_ns: int | None = None, **options: Any) -> Turn:
        """An incident turn: like ``SimAgent.turn`` but recorded in the label."""
        at = self.now if at_ns is None else at_ns
        self.involve(agent, sender)
        turn = agent.turn(at, sender=sender, channel=channel, trigger=trigger,
                          sparse=self.params.sparse, on_end=self._ended, **options)
        self.trace_ids.setdefault(turn.trace_hex)
        self.start_ns = at if self.start_ns is None else min(self.start_ns, at)
        return turn

    def receive(self, agent: SimAgent, message: MessageRef, *, channel: str = "discord:dm",
                **options: Any) -> Turn:
        """``agent`` handles an agent-to-agent ``message`` (linked to its send span)."""
        return self.turn(agent, sender=message.sender, channel=channel, trigger="message",
                         inbound=message, **options)

    def _ended(self, turn: Turn) -> None:
        end = turn.end_ns or turn.cursor
        self.end_ns = end if self.end_ns is None else max(self.end_ns, end)
