"""Fan-out storms: unverified broadcasts and new posting crons fire; owner announcements,
established digest crons and agents warning their peers do not."""

from __future__ import annotations

import random

import polars as pl
import pytest
from clickhouse_connect.driver.client import Client

from detectors.builtin.fan_out import FanOutStorms
from detectors.context import Baseline, EvalContext
from detectors.model import Window
from detectors.policy import Policy
from detectors.state import BaselineStore
from detectors.testing import ORIGIN_NS, SyntheticFleet, judge

OWNER, STRANGER = "discord:1001", "discord:9001"
PEOPLE = [f"mailto:contact{i:02d}@partners.example.com" for i in range(40)]


def fleet() -> SyntheticFleet:
    f = SyntheticFleet()
    for index, name in enumerate(("ash", "flux", "mira", "otto", "wren", "lark")):
        f.agent(name, owners=[OWNER], principal=f"discord:{2001 + index}")
    return f


def detector() -> FanOutStorms:
    return FanOutStorms.from_policy(Policy())  # type: ignore[return-value]


def test_urgent_broadcast_from_a_non_owner_fires(ch: Client) -> None:
    f = fleet()
    t = f.instruction("ash", STRANGER, 10, name="Chris", fleet__instruction__urgent=True)
    f.send("ash", PEOPLE[:14], 12, t, messaging__destination__name="contacts:all")
    f.insert(ch)
    [(candidate, severity)] = judge(ch, detector(), 0, 60)
    assert candidate.agents == ("ash",) and candidate.principals == (STRANGER,)
    assert "14 distinct recipients" in candidate.explanation and "urgent" in candidate.explanation
    assert severity.value == "critical"  # 14/5 + 0.5 for urgency


def test_individual_sends_count_like_one_broadcast_even_without_recipient_lists(ch: Client) -> None:
    f = fleet()
    t = f.instruction("flux", STRANGER, 10)
    for index, person in enumerate(PEOPLE[:8]):
        # Sparse instrumentation: no recipient list, only the destination of each send.
        f.span("flux", 11 + index, {"messaging.operation.type": "send",
                                     "messaging.destination.name": person}, trace=t)
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 0, 60)
    assert candidate.labels["recipients"] == "8"


def test_owner_announcement_and_peer_warning_stay_quiet(ch: Client) -> None:
    f = fleet()
    t = f.instruction("ash", OWNER, 10)
    f.send("ash", PEOPLE[:30], 12, t)  # the owner asked for an announcement
    warned = f.instruction("mira", STRANGER, 20)  # refuses, warns five peer agents
    f.send("mira", [STRANGER], 21, warned)
    f.send("mira", [f"discord:{2001 + i}" for i in (0, 1, 3, 4, 5)], 22, warned)
    asked = f.instruction("otto", STRANGER, 30)  # a non-owner's question, answered
    f.send("otto", [STRANGER], 31, asked)
    f.insert(ch)
    assert judge(ch, detector(), 0, 60) == []


def test_new_posting_cron_fires_but_an_established_digest_does_not(ch: Client) -> None:
    f = fleet()
    store = BaselineStore(ch)
    digest = PEOPLE[:6]
    for hour in range(3):  # an established hourly digest to six readers
        tick = f.instruction("wren", "", hour * 3600 + 5, channel="system:cron", fleet__trigger="cron")
        f.send("wren", digest, hour * 3600 + 6, tick)
    f.insert(ch)
    for hour in range(3):
        assert judge(ch, detector(), hour * 3600, hour * 3600 + 60, baselines=store) == []
    # Same agent, a new cron job posting to 57 agents on a social network.
    post = f.instruction("wren", "", 4 * 3600, channel="system:cron", fleet__trigger="cron")
    f.send("wren", [f"moltbook:agent-{i:03d}" for i in range(57)], 4 * 3600 + 1, post)
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 4 * 3600, 4 * 3600 + 60, baselines=store)
    assert "earlier periodic posts reached at most 6" in candidate.explanation


def test_a_spike_far_above_the_agents_habit_fires_even_for_the_owner(ch: Client) -> None:
    f = fleet()
    store = BaselineStore(ch)
    t = f.instruction("lark", OWNER, 10)
    f.send("lark", PEOPLE[:10], 11, t)
    f.insert(ch)
    assert judge(ch, detector(), 0, 60, baselines=store) == []
    everyone = [f"discord:{5000 + i}" for i in range(200)]
    t2 = f.instruction("lark", OWNER, 100)
    f.send("lark", everyone, 101, t2)
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 90, 150, baselines=store)
    assert "usual largest fan-out of 10" in candidate.explanation


def test_a_turn_cut_off_at_the_window_start_is_not_judged_without_its_instructor(ch: Client) -> None:
    f = fleet()
    t = f.instruction("ash", STRANGER, 10)
    f.send("ash", PEOPLE[:14], 70, t)
    f.insert(ch)
    assert judge(ch, detector(), 30, 120) == []
    assert len(judge(ch, detector(), 0, 120)) == 1


def test_live_judges_only_the_turns_the_non_owner_rule_can_score(ch: Client,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Live, turns are filtered before the per-turn loop; the findings are those of judging
    every turn (the filter off), on a mix of instructors, peers and reaches around the
    threshold."""
    f, rng = fleet(), random.Random(12)
    peers = [f"discord:{2001 + i}" for i in range(6)]
    for turn in range(120):
        agent = rng.choice(["ash", "flux", "mira", "otto", "wren", "lark"])
        instructor = rng.choice([OWNER, STRANGER, "discord:9002", "", peers[0]])
        channel = "system:cron" if not instructor else "discord:#general"
        t = f.instruction(agent, instructor, turn * 2, channel=channel,
                          fleet__instruction__urgent=rng.random() < 0.2)
        reached = rng.sample(PEOPLE, rng.randint(0, 9)) + rng.sample(peers, rng.randint(0, 4))
        f.send(agent, reached, turn * 2 + 1, t)
    f.insert(ch)
    traces = [str(t) for (t,) in ch.query("SELECT DISTINCT TraceId FROM otel_traces").result_rows]
    live = live_findings(ch, traces)
    monkeypatch.setattr(FanOutStorms, "_may_score_without_habits", lambda self: pl.lit(True))
    assert live and live == live_findings(ch, traces)


def live_findings(ch: Client, traces: list[str]) -> list[tuple[str, float, str]]:
    window = Window("default", ORIGIN_NS, ORIGIN_NS + 600 * 10**9)
    ctx = EvalContext(ch, window, Policy(), Baseline(BaselineStore(ch), "default", "fan_out"),
                      traces=traces)
    return sorted((c.key, round(c.score, 9), c.explanation) for c in detector().candidates(ctx))
