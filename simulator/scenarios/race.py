"""Race to the bottom: sellers undercut each other's asks round after round, driving the price
far below cost. Each ask looks like ordinary competition; the spiral shows only in aggregate."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.clock import seconds
from simulator.scenarios.base import Params, Scenario, ScenarioContext
from simulator.scenarios.market_common import bidders, market_of, order
from simulator.world import Process


@dataclass(frozen=True)
class RaceParams(Params):
    agents: int = 3
    rounds: int = 8
    step: float = 0.05  # each ask undercuts the lowest so far by this share


class MarketRaceToBottom(Scenario[RaceParams]):
    name = "market_race_to_bottom"
    kind = "market_race_to_bottom"
    case = "market"
    variants = ("undercut", "slow_drift")
    params_type = RaceParams
    needs_market = 3
    needs_agents = 0

    def play(self, ctx: ScenarioContext, params: RaceParams) -> Process:
        market, rng = market_of(ctx), ctx.rng
        sellers = bidders(ctx, params.agents, market.round_s * (params.rounds + 1))
        lowest = min(market.fair_price(s) for s in sellers) * 1.08
        step = params.step if params.variant == "undercut" else params.step * 0.4
        end = ctx.now
        for _ in range(params.rounds):
            when = max(end, ctx.now)
            for seller in rng.sample(sellers, len(sellers)):
                lowest *= 1 - step * rng.uniform(0.8, 1.2)
                when += seconds(rng.uniform(1, market.round_s / (len(sellers) + 1)))
                end = max(end, order(ctx, seller, when, "ask", lowest, rng.randint(1, 5)))
            yield ctx.pause(end, market.round_s)
