"""Market patterns: herding, undercutting spirals and bid rotation fire; an independent market
re-pricing after news (each bidder with its own lag and noise) stays quiet."""

from __future__ import annotations

import random

from clickhouse_connect.driver.client import Client

from detectors.builtin.market import MarketPatterns
from detectors.policy import Policy
from detectors.testing import SyntheticFleet, judge

BIDDERS = [f"b{i}" for i in range(6)]


def fleet() -> SyntheticFleet:
    f = SyntheticFleet()
    for i, agent in enumerate(BIDDERS):
        f.agent(agent, owners=["discord:1001"], principal=f"discord:25{i:02d}")
    return f


def order(f: SyntheticFleet, agent: str, at: float, action: str, price: float) -> None:
    t = f.instruction(agent, "", at, fleet__trigger="cron")
    f.tool(agent, "market.place_order", at + 0.1, t, fleet__action__kind="send",
           fleet__action__target="market:spot", fleet__market__id="spot",
           fleet__market__action=action, fleet__market__price=round(price, 4),
           fleet__market__quantity=3.0)


def independent_market(f: SyntheticFleet, rng: random.Random, rounds: int, news_at: int = 5) -> None:
    """Buyers b0-b2 bid, sellers b3-b5 ask, each with its own offset, lag and 3% noise; a 10%
    news drop at round ``news_at`` that everyone follows at its own pace."""
    offsets = {a: rng.uniform(-0.08, 0.08) for a in BIDDERS}
    beliefs = dict.fromkeys(BIDDERS, 10.0)
    pace = {a: rng.uniform(0.15, 0.6) for a in BIDDERS}
    value = 10.0
    for r in range(rounds):
        value *= 0.9 if r == news_at else 1 + rng.gauss(0, 0.004)
        for agent in BIDDERS:
            beliefs[agent] += pace[agent] * (value - beliefs[agent])
            if rng.random() > 0.7:
                continue
            seller = agent in BIDDERS[3:]
            price = beliefs[agent] * (1 + offsets[agent]) * (1.08 if seller else 0.97) * (1 + rng.gauss(0, 0.03))
            order(f, agent, r * 60 + rng.uniform(0, 54), "ask" if seller else "bid", price)


def patterns(ch: Client, start: float = 0, end: float = 900) -> dict[str, tuple[str, ...]]:
    found = judge(ch, MarketPatterns.from_policy(Policy()), start, end)
    return {c.labels["pattern"]: c.agents for c, _ in found}


def test_an_independent_market_after_news_stays_quiet(ch: Client) -> None:
    for seed in range(3):
        f = fleet()
        independent_market(f, random.Random(seed), rounds=15)
        f.insert(ch)
        assert patterns(ch) == {}, seed
        ch.command("TRUNCATE TABLE otel_traces")


def test_herding_fires(ch: Client) -> None:
    f, rng = fleet(), random.Random(1)
    for r in range(4):  # b0, b1, b2 and b4 bid the same price within 3 s, round after round
        for agent in ("b0", "b1", "b2", "b4"):
            order(f, agent, 100 + r * 60 + rng.uniform(0.2, 3), "bid", 11.5 * (1 + rng.gauss(0, 0.002)))
    f.insert(ch)
    found = patterns(ch)
    assert set(found) == {"herding"} and found["herding"] == ("b0", "b1", "b2", "b4")


def test_race_to_the_bottom_fires_and_a_short_one_does_not(ch: Client) -> None:
    f, rng = fleet(), random.Random(2)
    ask, at = 11.0, 50.0
    for _ in range(3):  # three undercuts only: ordinary competition
        for agent in ("b3", "b4", "b5")[:1]:
            ask *= 0.95
            at += 15
            order(f, agent, at, "ask", ask)
    f.insert(ch)
    assert patterns(ch) == {}
    for _ in range(5):
        for agent in rng.sample(["b3", "b4", "b5"], 3):
            ask *= 1 - 0.05 * rng.uniform(0.8, 1.2)
            at += rng.uniform(1, 15)
            order(f, agent, at, "ask", ask)
        at += 60
    f.insert(ch)
    found = patterns(ch)
    assert set(found) == {"race"} and {"b3", "b4", "b5"} <= set(found["race"])


def test_bid_rotation_and_coordination_messages_fire(ch: Client) -> None:
    f, rng = fleet(), random.Random(3)
    ring = ["b0", "b1", "b2"]
    for r in range(8):
        winner, at = ring[r % 3], 30 + r * 90
        if r < 2:
            t = f.instruction(winner, "", at, fleet__trigger="cron")
            f.send(winner, [f"discord:25{ring.index(a):02d}" for a in ring if a != winner], at + 1, t)
        for agent in ring:
            price = 8.5 if agent == winner else 8.5 * rng.uniform(0.82, 0.95)
            order(f, agent, at + rng.uniform(2, 45), "bid", price)
    f.insert(ch)
    found = patterns(ch)
    assert set(found) == {"collusion"} and found["collusion"] == ("b0", "b1", "b2")
    [(candidate, _)] = judge(ch, MarketPatterns.from_policy(Policy()), 0, 900)
    assert "3 pairs of bidders" in candidate.explanation and "2 messages" in candidate.explanation
