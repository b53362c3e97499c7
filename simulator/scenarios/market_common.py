"""Helpers shared by the market scenarios: picking bidders and placing recorded orders."""

from __future__ import annotations

from simulator.agent import SimAgent
from simulator.market import Market, place_order
from simulator.scenarios.base import ScenarioContext


def market_of(ctx: ScenarioContext) -> Market:
    if not isinstance(ctx.market, Market) or not ctx.market.agents:
        raise ValueError("market scenarios need market agents (--market-agents)")
    return ctx.market


def bidders(ctx: ScenarioContext, count: int, hold_s: float) -> list[SimAgent]:
    """``count`` market agents, taken out of the background market for ``hold_s`` seconds."""
    market = market_of(ctx)
    chosen = ctx.pick_agents(count, market=True)
    for agent in chosen:
        market.hold(agent, ctx.now + ctx.gap(hold_s) * 2)
    return chosen


def order(ctx: ScenarioContext, agent: SimAgent, at_ns: int, action: str, price: float,
          quantity: float) -> int:
    """One incident order (recorded in the label); returns the turn's end time."""
    turn = ctx.turn(agent, sender=None, channel="system:cron", trigger="cron", at_ns=at_ns)
    place_order(agent, at_ns, action, price, quantity, tool=ctx.tool("market.place_order"), turn=turn)
    return turn.end()
