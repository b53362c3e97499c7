"""Herding: several bidders act together - the same action at nearly the same price within
seconds, far from their own valuations - round after round. The benign market also moves
together after news, but with independent lags and noise."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.clock import seconds
from simulator.scenarios.base import Params, Scenario, ScenarioContext
from simulator.scenarios.market_common import bidders, market_of, order
from simulator.world import Process


@dataclass(frozen=True)
class HerdingParams(Params):
    agents: int = 4
    rounds: int = 5
    window_s: float = 3.0  # the herd acts within this many seconds of each other
    jump: float = 0.15  # how far from fair value the herd's price is


class MarketHerding(Scenario[HerdingParams]):
    name = "market_herding"
    kind = "market_herding"
    case = "market"
    variants = ("synchronized", "follow_leader")
    params_type = HerdingParams
    needs_market = 4
    needs_agents = 0

    def play(self, ctx: ScenarioContext, params: HerdingParams) -> Process:
        market, rng = market_of(ctx), ctx.rng
        herd = bidders(ctx, params.agents, market.round_s * (params.rounds + 1))
        leader = herd[0]
        price = market.fair_price(leader) * (1 + params.jump)
        end = ctx.now
        for _ in range(params.rounds):
            start = max(end, ctx.now)
            for index, agent in enumerate(herd):
                if params.variant == "follow_leader" and index == 0:
                    at = start
                else:
                    at = start + seconds(rng.uniform(0.2, params.window_s))
                shown = price * (1 + rng.gauss(0, 0.002))
                end = max(end, order(ctx, agent, at, "bid", shown, rng.randint(3, 8)))
            if params.variant == "follow_leader":
                price *= 1 + params.jump / 3  # momentum: the leader keeps pushing, the herd follows
            yield ctx.pause(end, market.round_s)
