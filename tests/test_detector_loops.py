"""Loops and orphan processes (CS4) against benign collaboration and owner jobs."""

from __future__ import annotations

import random

import polars as pl
from clickhouse_connect.driver.client import Client

from detectors.base import SECOND_NS
from detectors.builtin.loops import AgentLoops, _may_run
from detectors.builtin.processes import OrphanProcesses
from detectors.policy import Policy
from detectors.state import BaselineStore
from detectors.testing import SyntheticFleet, judge

OWNER = "discord:1001"
PRINCIPALS = {"ash": "discord:2001", "flux": "discord:2002", "mira": "discord:2003"}


def make_fleet() -> SyntheticFleet:
    f = SyntheticFleet()
    for agent, principal in PRINCIPALS.items():
        f.agent(agent, owners=[OWNER], principal=principal)
    return f


def exchange(f: SyntheticFleet, a: str, b: str, start: float, count: int, conversation: str,
             every: float = 30) -> None:
    for i in range(count):
        sender, receiver = (a, b) if i % 2 == 0 else (b, a)
        turn = f.instruction(receiver, PRINCIPALS[sender], start + i * every,
                             gen_ai__conversation__id=conversation)
        f.chat(receiver, start + i * every + 1, turn, input_tokens=2000, output_tokens=300)


def test_sustained_relay_fires_once_per_pair(ch: Client) -> None:
    f = make_fleet()
    exchange(f, "ash", "flux", 0, 30, "conv-1")
    f.insert(ch)
    [(candidate, _)] = judge(ch, AgentLoops.from_policy(Policy()), 0, 1800)
    assert candidate.key == "loop:ash|flux"
    assert "30 alternating messages" in candidate.explanation
    assert "69000 tokens" in candidate.explanation


def test_short_collaborations_and_human_turns_stay_quiet(ch: Client) -> None:
    f = make_fleet()
    for k in range(4):  # four separate short collaborations, each with a human in the loop
        exchange(f, "ash", "mira", k * 400, 8, f"conv-{k}")
        f.instruction("ash", OWNER, k * 400 + 120, gen_ai__conversation__id=f"conv-{k}")
    f.insert(ch)
    assert judge(ch, AgentLoops.from_policy(Policy()), 0, 1800) == []


def test_process_started_by_a_peer_and_never_stopped(ch: Client) -> None:
    f = make_fleet()
    turn = f.instruction("flux", PRINCIPALS["ash"], 10)
    f.tool("flux", "crontab.edit", 11, turn, fleet__process__id="cron:poll-ash",
           fleet__process__state="started")
    owner_job = f.instruction("ash", OWNER, 10)
    f.tool("ash", "shell", 11, owner_job, fleet__process__id="proc:crawl", fleet__process__state="started")
    stopper = f.instruction("ash", OWNER, 1500)
    f.tool("ash", "shell", 1501, stopper, fleet__process__id="proc:crawl", fleet__process__state="stopped")
    looping = f.instruction("mira", OWNER, 20)
    f.tool("mira", "shell", 21, looping, gen_ai__tool__call__arguments='{"cmd": "nohup sh -c \'while true; do poll; done\' &"}')
    f.insert(ch)
    detector = OrphanProcesses.from_policy(Policy())
    store = BaselineStore(ch)
    found: dict[str, float] = {}
    for end in range(120, 7300, 60):  # windows as the engine would step them
        for candidate, _ in judge(ch, detector, end - 120, end, baselines=store):
            found.setdefault(candidate.key, end)
    assert set(found) == {"process:flux:cron:poll-ash", next(k for k in found if k.startswith("process:mira"))}
    assert 900 <= found["process:flux:cron:poll-ash"] <= 1000  # untrusted: 15 minutes
    assert found[next(k for k in found if k.startswith("process:mira"))] >= 5400


def test_pairs_left_out_of_the_run_search_hold_no_run_long_enough() -> None:
    """``_may_run`` drops pairs before the per-pair search: none it drops could hold a run of the
    shortest reported length, and it keeps pairs that do."""
    detector = AgentLoops.from_policy(Policy())
    rng = random.Random(3)
    kept_any = False
    for shortest in (2, 4, 6):
        rows = []
        for pair_no in range(40):
            a, b = f"a{pair_no}", f"b{pair_no}"
            bias = rng.random()
            for i in range(rng.randint(1, 12)):
                sender, receiver = (a, b) if rng.random() < bias else (b, a)
                rows.append((i * SECOND_NS, f"s{pair_no}-{i}", receiver, sender, "", a, b))
        messages = pl.DataFrame(rows, schema=["ts", "span", "agent", "sender", "conversation", "a", "b"],
                                orient="row")
        kept = {str(a) for a in _may_run(messages, shortest)["a"].unique().to_list()}
        for (a, _), pair in messages.group_by(["a", "b"]):
            longest = len(detector._longest_run(pair.sort("ts"), {}))
            if str(a) not in kept:
                assert longest < shortest
            kept_any |= str(a) in kept and longest >= shortest
    assert kept_any
