"""The discrete-event world: a queue of timed actions and generator-based processes.

A process is a generator that yields the absolute simulated time (ns) at which it wants to
resume; scenarios and benign sessions are written as such processes so their steps read in
order. Ties are broken by scheduling order, which keeps runs deterministic.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Generator

from opentelemetry.sdk.trace import SpanProcessor

from simulator.agent import SimAgent
from simulator.clock import SimClock
from simulator.roster import AgentProfile, Roster

Process = Generator[int, None, None]


class World:
    def __init__(self, roster: Roster, seed: int, clock: SimClock, end_ns: int,
                 processor: SpanProcessor, id_salt: str = "") -> None:
        self.roster = roster
        self.seed = seed
        self.clock = clock
        self.end_ns = end_ns
        self.agents: dict[str, SimAgent] = {
            profile.agent_id: SimAgent(profile, seed, processor, id_salt)
            for profile in roster.all_agents()
        }
        # How many incidents each agent is already part of: scenarios spread over the fleet.
        self.incident_load: Counter[str] = Counter()
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()

    @property
    def now(self) -> int:
        return self.clock.now_ns

    @property
    def start_ns(self) -> int:
        return self.clock.start_ns

    def agent(self, profile: AgentProfile) -> SimAgent:
        return self.agents[profile.agent_id]

    def fleet_agents(self) -> list[SimAgent]:
        return [self.agents[p.agent_id] for p in self.roster.agents]

    def market_agents(self) -> list[SimAgent]:
        return [self.agents[p.agent_id] for p in self.roster.market_agents]

    def at(self, when_ns: int, action: Callable[[], None], *, past_end: bool = False) -> None:
        """Run ``action`` at ``when_ns``. Events at or after the end of the run are dropped (the
        background stops with the run) unless ``past_end``: an incident under way finishes."""
        when_ns = max(when_ns, self.now)
        if when_ns >= self.end_ns and not past_end:
            return
        heapq.heappush(self._queue, (when_ns, next(self._order), action))

    def spawn(self, process: Process, at_ns: int | None = None, *, past_end: bool = False) -> None:
        """Run ``process`` from ``at_ns`` (default: now) until it returns."""
        start = self.now if at_ns is None else at_ns
        self.at(start, lambda: self._step(process, past_end), past_end=past_end)

    def _step(self, process: Process, past_end: bool) -> None:
        try:
            resume_ns = next(process)
        except StopIteration:
            return
        self.at(resume_ns, lambda: self._step(process, past_end), past_end=past_end)

    def run(self, before_event: Callable[[int], None]) -> None:
        """Run every event in time order; ``before_event`` sees each event time first (pacing,
        flushing)."""
        while self._queue:
            when, _, action = heapq.heappop(self._queue)
            before_event(when)
            self.clock.advance_to(when)
            action()

    def shutdown(self) -> None:
        for agent in self.agents.values():
            agent.shutdown()
