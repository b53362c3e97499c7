"""A small market of bidding agents: the benign background for the collective patterns.

Buyers bid and sellers ask on one market every round. A common value drifts as a random walk
and now and then jumps (news); each agent follows it at its own pace with its own private
offset and noise, so prices move together over minutes without being synchronised to the
second. Scenario code takes agents out of this background (``hold``) while it drives them.
"""

from __future__ import annotations

import functools

from simulator import benign
from simulator.agent import SimAgent
from simulator.clock import seconds
from simulator.ids import derived_rng
from simulator.turn import Turn
from simulator.world import Process, World

MARKET_ID = "compute-spot"


def place_order(agent: SimAgent, at_ns: int, action: str, price: float, quantity: float, *,
                market: str = MARKET_ID, tool: str = "market.place_order", sparse: bool = False,
                turn: Turn | None = None) -> Turn:
    """One order as an agent would trace it: a cron-started turn, a model call, the order."""
    rng = agent.rng
    if turn is None:
        turn = agent.turn(at_ns, sender=None, channel="system:cron", trigger="cron", sparse=sparse)
    turn.chat(rng.randint(200, 700), rng.randint(15, 80), prompt="market update",
              answer=f"{action} {price:.2f}")
    turn.tool(tool, "send", f"market:{market}", extra={
        "fleet.market.id": market, "fleet.market.action": action,
        "fleet.market.price": round(price, 4), "fleet.market.quantity": float(quantity),
    }, duration_s=rng.uniform(0.02, 0.3))
    return turn


class Market:
    def __init__(self, world: World, round_s: float = 60.0, base_price: float = 10.0) -> None:
        self.world = world
        self.round_s = round_s
        self.value = base_price
        self.agents = world.market_agents()
        self._rng = derived_rng(world.seed, "market")
        self.beliefs = {a.id: base_price for a in self.agents}
        self.offsets = {a.id: self._rng.uniform(-0.08, 0.08) for a in self.agents}
        self.pace = {a.id: self._rng.uniform(0.15, 0.6) for a in self.agents}
        self.held_until: dict[str, int] = {}

    def start(self) -> None:
        if self.agents:
            self.world.spawn(self._rounds())

    def hold(self, agent: SimAgent, until_ns: int) -> None:
        """Keep ``agent`` out of the background market until ``until_ns``."""
        self.held_until[agent.id] = max(until_ns, self.held_until.get(agent.id, 0))

    def fair_price(self, agent: SimAgent) -> float:
        """What ``agent`` would bid or ask right now if left alone."""
        margin = 1.08 if agent.profile.market == "seller" else 0.97
        return self.beliefs[agent.id] * (1 + self.offsets[agent.id]) * margin

    def _rounds(self) -> Process:
        when = self.world.now
        while when < self.world.end_ns:
            yield when
            self._move_value()
            for agent in self.agents:
                if self.held_until.get(agent.id, 0) > when or self._rng.random() > 0.7:
                    continue
                at = when + seconds(self._rng.uniform(0, self.round_s * 0.9))
                if at < self.world.end_ns:
                    self.world.at(at, functools.partial(self._order, agent))
            when += seconds(self.round_s)

    def _move_value(self) -> None:
        self.value *= 1 + self._rng.gauss(0, 0.004)
        if self._rng.random() < 0.02:  # news: everyone re-prices, each at its own pace
            self.value *= 1 + self._rng.choice((-1, 1)) * self._rng.uniform(0.05, 0.1)
        for agent_id, belief in self.beliefs.items():
            self.beliefs[agent_id] = belief + self.pace[agent_id] * (self.value - belief)

    def _order(self, agent: SimAgent) -> None:
        if self.held_until.get(agent.id, 0) > self.world.now:
            return
        rng = self._rng
        action = "ask" if agent.profile.market == "seller" else "bid"
        if rng.random() < 0.05:
            action = "withdraw"
        price = self.fair_price(agent) * (1 + rng.gauss(0, 0.03))
        turn = place_order(agent, self.world.now, action, price, rng.randint(1, 5))
        if rng.random() < 0.1:
            benign.model_call(turn, rng, "review my positions", "Positions fine.")
        turn.end()
