"""Sequence logic of the market detector, on a polars frame of orders (ts, trace, span, agent,
market, action, price). Each function returns found patterns as plain tuples; market.py scores
them and writes the explanations.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

SECOND_NS = 1_000_000_000
BUY = ("bid", "buy")
SELL = ("ask", "sell")


@dataclass(frozen=True)
class Pattern:
    market: str
    kind: str  # herding, race, collusion
    strength: float  # already divided by the parameter that makes it count (>= 1 = clear)
    detail: str
    orders: pl.DataFrame


def sync_clusters(orders: pl.DataFrame, sync_s: float, price_tol: float, min_agents: int) -> pl.DataFrame:
    """Moves made together: for each order, the other agents' same-side orders on the same
    market within ``sync_s`` after it at a price within ``price_tol``. Returns one row per
    order that leads such a move (``members`` = the distinct agents, itself included)."""
    sides = orders.filter(pl.col("action").is_in(BUY + SELL)).with_columns(
        side=pl.when(pl.col("action").is_in(BUY)).then(pl.lit("buy")).otherwise(pl.lit("sell")))
    pairs = sides.join(sides, on=["market", "side"], suffix="_f").filter(
        (pl.col("ts_f") >= pl.col("ts")) & (pl.col("ts_f") <= pl.col("ts") + int(sync_s * SECOND_NS))
        & ((pl.col("price_f") / pl.col("price") - 1).abs() <= price_tol)
    )
    led = pairs.group_by("span", "market", "side", "ts").agg(
        pl.col("agent_f").unique().alias("members"), pl.col("span_f").alias("spans"))
    led = led.filter(pl.col("members").list.len() >= min_agents).sort("ts")
    # Keep leaders that start a new move (not inside the previous kept move's time span).
    kept, last_end = [], -1
    for row in led.iter_rows(named=True):
        if row["ts"] > last_end:
            kept.append(row)
            last_end = row["ts"] + int(sync_s * SECOND_NS)
    return pl.DataFrame(kept, schema=led.schema) if kept else led.clear()


def undercut_chain(asks: pl.DataFrame, lookback_s: float, max_step: float) -> tuple[int, float, list[str]]:
    """Longest chain of asks each below an ask by ANOTHER agent at most ``lookback_s`` earlier
    (by no more than ``max_step``): (undercuts, total decline, spans of the chain)."""
    rows = asks.sort("ts").select("ts", "agent", "price", "span").rows()
    best: list[tuple[int, float, int]] = []  # per ask: (undercuts, start price, predecessor)
    for j, (ts, agent, price, _) in enumerate(rows):
        entry = (0, float(price), -1)
        for i in range(j - 1, -1, -1):
            ts_i, agent_i, price_i, _ = rows[i]
            if ts - ts_i > lookback_s * SECOND_NS:
                break
            if agent_i != agent and price_i * (1 - max_step) <= price < price_i and best[i][0] + 1 > entry[0]:
                entry = (best[i][0] + 1, best[i][1], i)
        best.append(entry)
    if not best:
        return 0, 0.0, []
    end = max(range(len(best)), key=lambda k: (best[k][0], -rows[k][2]))
    length, start_price = best[end][0], best[end][1]
    spans, k = [], end
    while k >= 0:
        spans.append(str(rows[k][3]))
        k = best[k][2]
    return length, 1 - float(rows[end][2]) / start_price, spans[::-1]


def rotating_pairs(bids: pl.DataFrame, near_s: float, margin: float, min_flips: int) -> pl.DataFrame:
    """Pairs of bidders who take turns being far above each other: each bid is compared with
    the other bidder's nearest bid within ``near_s``; a pair counts when it was ahead by
    ``margin`` or more at least ``min_flips`` times each way. Independent bidders keep their
    order (private valuations differ) or differ by little; a ring rotating its winner, with
    cover bids well below, swaps order by wide margins. Returns agent, agent_f, ahead, behind."""
    joined = bids.join(bids, on="market", suffix="_f").filter(
        (pl.col("agent") < pl.col("agent_f"))
        & ((pl.col("ts") - pl.col("ts_f")).abs() <= int(near_s * SECOND_NS))
    ).with_columns(gap=(pl.col("ts") - pl.col("ts_f")).abs())
    nearest = joined.sort("gap").group_by("span", "agent_f", maintain_order=True).first()
    diffs = nearest.with_columns(lead=(pl.col("price") / pl.col("price_f")).log())
    pairs = diffs.group_by("agent", "agent_f").agg(
        (pl.col("lead") >= margin).sum().alias("ahead"), (pl.col("lead") <= -margin).sum().alias("behind"),
        pl.col("span").alias("spans"), pl.col("span_f").alias("spans_f"),
    )
    return pairs.filter((pl.col("ahead") >= min_flips) & (pl.col("behind") >= min_flips))
