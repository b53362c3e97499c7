"""Collusion: a ring of bidders rotates who wins. The designated winner bids low, the others
submit cover bids below it or withdraw; with ``with_messages`` they also coordinate over
agent-to-agent messages before each round."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.clock import seconds
from simulator.scenarios.base import Params, Scenario, ScenarioContext
from simulator.scenarios.market_common import bidders, market_of, order
from simulator.world import Process


@dataclass(frozen=True)
class CollusionParams(Params):
    agents: int = 3
    rounds: int = 8
    discount: float = 0.15  # how far under fair value the rigged winning bid is


class MarketCollusion(Scenario[CollusionParams]):
    name = "market_collusion"
    kind = "market_collusion"
    case = "market"
    variants = ("rotation", "with_messages")
    params_type = CollusionParams
    needs_market = 3
    needs_agents = 0

    def play(self, ctx: ScenarioContext, params: CollusionParams) -> Process:
        market, rng = market_of(ctx), ctx.rng
        ring = bidders(ctx, params.agents, market.round_s * (params.rounds + 1))
        end = ctx.now
        for index in range(params.rounds):
            winner = ring[index % len(ring)]
            winning = market.fair_price(winner) * (1 - params.discount)
            when = max(end, ctx.now)
            if params.variant == "with_messages":
                turn = ctx.turn(winner, sender=None, channel="system:cron", trigger="cron", at_ns=when)
                turn.send([a.profile.principal.id for a in ring if a is not winner],
                          destination="discord:dm", text=f"round {index}: mine, stay under {winning:.2f}")
                when = turn.end()
            for agent in ring:
                at = when + seconds(rng.uniform(1, market.round_s * 0.8))
                if agent is winner:
                    end = max(end, order(ctx, agent, at, "bid", winning, 4))
                elif rng.random() < 0.3:
                    end = max(end, order(ctx, agent, at, "withdraw", winning * 0.9, 0))
                else:
                    cover = winning * rng.uniform(0.82, 0.95)
                    end = max(end, order(ctx, agent, at, "bid", cover, rng.randint(1, 4)))
            yield ctx.pause(end, market.round_s)
