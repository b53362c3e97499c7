"""Collective market patterns (the second essay): herding, races to the bottom and collusion
among bidding agents, from orders carrying ``fleet.market.*``.

- **herding**: several agents placing the same side of an order on one market within
  ``sync_s`` seconds at nearly the same price, again and again. After news the whole benign
  market re-prices too, but each agent with its own lag and noise, so such tight moves are rare.
- **race**: a chain of asks, each undercutting another agent's ask of the last ``lookback_s``
  seconds, falling ``min_decline`` or more in all. News moves prices 5-10%, not a spiral.
- **collusion**: bid rotation - pairs of bidders taking turns being far above each other
  (a ring's designated winner bids, the others cover well below; independent bidders keep
  their order or differ by little) - and messages between bidders on the same market.
One incident per (pattern, market); its agents are those taking part.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict

from detectors.base import Detector
from detectors.builtin import frames
from detectors.builtin.market_patterns import (
    BUY,
    SELL,
    Pattern,
    rotating_pairs,
    sync_clusters,
    undercut_chain,
)
from detectors.builtin.util import evidence, first_ts, plural
from detectors.context import WHOLE_MAPS, EvalContext
from detectors.model import Candidate, Requirement

ORDERS_SQL = """
SELECT toUnixTimestamp64Nano(Timestamp) AS ts, TraceId AS trace, SpanId AS span, AgentId AS agent,
       SpanAttributes['fleet.market.id'] AS market,
       lower(SpanAttributes['fleet.market.action']) AS action,
       toFloat64OrZero(SpanAttributes['fleet.market.price']) AS price
FROM otel_traces
WHERE {window} AND Operation = 'execute_tool' AND SpanAttributes['fleet.market.action'] != ''
ORDER BY ts
""" + WHOLE_MAPS


class MarketParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sync_s: float = 10.0
    price_tol: float = 0.015
    herd_agents: int = 3
    herd_moves: int = 3
    lookback_s: float = 180.0
    max_step: float = 0.25
    min_undercuts: int = 6
    min_decline: float = 0.2
    near_s: float = 60.0  # bids this close in time are compared
    lead_margin: float = 0.08  # "far above": log price ratio
    min_flips: int = 1  # each way, for a pair to count as rotating
    rotating_pairs: int = 3  # a ring of three rotating is three such pairs
    weight_message: float = 0.35  # per coordination message between bidders (at most 3)


class MarketPatterns(Detector[MarketParams]):
    name = "market"
    summary = "herding, races to the bottom and collusion among bidding agents"
    params_model = MarketParams
    requirements = (Requirement(("fleet.market.action",), "orders and their prices"),)
    default_window_seconds = 900
    default_slide_seconds = 30
    default_threshold = 1.0

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        orders = ctx.frame(ORDERS_SQL).filter(pl.col("price") > 0)
        if orders.is_empty():
            return []
        found: list[Pattern] = []
        for (market,), group in orders.group_by("market"):
            found += self._herding(str(market), group)
            found += self._race(str(market), group)
            found += self._collusion(ctx, str(market), group)
        return [self._candidate(p) for p in found if p.strength >= self.threshold * 0.5]

    def _herding(self, market: str, orders: pl.DataFrame) -> list[Pattern]:
        p = self.params
        moves = sync_clusters(orders, p.sync_s, p.price_tol, p.herd_agents)
        if moves.is_empty():
            return []
        agents = moves.explode("members")["members"].value_counts().filter(pl.col("count") >= 2)
        spans = set(moves.explode("spans")["spans"].to_list())
        used = orders.filter(pl.col("span").is_in(spans) & pl.col("agent").is_in(agents["members"]))
        size = int(moves["members"].list.len().median() or 0)  # type: ignore[arg-type]
        detail = (f"{agents.height} agents moved together {moves.height} times: typically {size} "
                  f"same-side orders within {p.sync_s:.0f} s at prices within {p.price_tol:.1%}")
        return [Pattern(market, "herding", moves.height / p.herd_moves, detail, used)]

    def _race(self, market: str, orders: pl.DataFrame) -> list[Pattern]:
        p = self.params
        asks = orders.filter(pl.col("action").is_in(SELL))
        length, decline, spans = undercut_chain(asks, p.lookback_s, p.max_step)
        if length == 0:
            return []
        used = asks.filter(pl.col("span").is_in(spans))
        strength = min(length / p.min_undercuts, decline / p.min_decline)
        detail = (f"{used['agent'].n_unique()} sellers undercut each other {length} times in a row, "
                  f"taking the ask down {decline:.0%}")
        return [Pattern(market, "race", strength, detail, used)]

    def _collusion(self, ctx: EvalContext, market: str, orders: pl.DataFrame) -> list[Pattern]:
        p = self.params
        bids = orders.filter(pl.col("action").is_in(BUY))
        pairs = rotating_pairs(bids, p.near_s, p.lead_margin, p.min_flips)
        messages = self._coordination(ctx, orders)
        strength = pairs.height / p.rotating_pairs + p.weight_message * min(3, messages.height)
        if strength <= 0:
            return []
        ring = sorted(set(pairs["agent"].to_list()) | set(pairs["agent_f"].to_list()))
        spans = set(pairs["spans"].explode().to_list()) | set(pairs["spans_f"].explode().to_list())
        used = pl.concat([orders.filter(pl.col("span").is_in(spans)), messages.select(orders.columns)])
        detail = (f"{plural(pairs.height, 'pair')} of bidders ({', '.join(ring) or '-'}) took turns "
                  f"outbidding each other by {p.lead_margin:.0%} or more; "
                  f"{plural(messages.height, 'message')} passed between bidders")
        return [Pattern(market, "collusion", strength, detail, used)]

    @staticmethod
    def _coordination(ctx: EvalContext, orders: pl.DataFrame) -> pl.DataFrame:
        """Messages an order-placing agent sent to other agents placing orders on this market."""
        directory = ctx.directory()
        bidders = set(orders["agent"].unique().to_list())
        principals = [directory.agents[a].principal for a in bidders
                      if a in directory.agents and directory.agents[a].principal]
        sends = frames.sends(ctx).filter(pl.col("agent").is_in(list(bidders)))
        to_bidders = sends.filter(pl.col("recipients").list.eval(pl.element().is_in(principals)).list.any())
        return to_bidders.with_columns(market=pl.lit(""), action=pl.lit("message"), price=pl.lit(0.0))

    def _candidate(self, pattern: Pattern) -> Candidate:
        agents = tuple(sorted(pattern.orders["agent"].unique().to_list()))
        # The incident is the pattern among its core members (two or more of its orders), so two
        # different groups doing the same thing on one market are two incidents.
        counts = pattern.orders.filter(pl.col("action") != "message")["agent"].value_counts()
        core = ",".join(sorted(counts.filter(pl.col("count") >= 2)["agent"].to_list()))
        return Candidate(
            key=f"{pattern.kind}:{pattern.market}|{core}", score=pattern.strength,
            title=f"market {pattern.kind} on {pattern.market}",
            explanation=f"On {pattern.market}, {pattern.detail}.", agents=agents,
            evidence=evidence(pattern.orders), first_event_ns=first_ts(pattern.orders),
            labels={"pattern": pattern.kind, "market": pattern.market},
        )
