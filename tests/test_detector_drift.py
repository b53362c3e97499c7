"""Behavioural drift: a sustained shift in an agent's mix of work fires after warm-up; a busier
or quieter stretch of the same work, a single odd window and the warm-up itself don't; a change
the whole fleet makes at once is not one agent drifting."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
from clickhouse_connect.driver.client import Client

from detectors.builtin.drift import BehaviourDrift
from detectors.builtin.drift_features import FEATURES, Known, behaviour_vectors, recipients_of
from detectors.builtin.drift_model import fleet_change
from detectors.fleet import AgentInfo, FleetDirectory
from detectors.policy import Policy
from detectors.state import BaselineStore
from detectors.testing import SyntheticFleet, judge

OWNER, WINDOW = "discord:1001", 1800


def usual_work(f: SyntheticFleet, rng: random.Random, agent: str, start: float, turns: int) -> None:
    """Owner research and mail triage: reads, a model call, a reply to the owner."""
    for i in range(turns):
        at = start + i * (WINDOW / turns)
        t = f.instruction(agent, OWNER, at)
        f.chat(agent, at + 1, t, input_tokens=rng.randint(800, 2500), output_tokens=rng.randint(50, 400))
        f.tool(agent, "http.get", at + 2, t, fleet__action__kind="read", fleet__action__target="url:x")
        if rng.random() < 0.3:
            f.tool(agent, "file.write", at + 3, t, fleet__action__kind="write", fleet__action__target="file:MEMORY.md")
        f.send(agent, [OWNER], at + 4, t)


def shifted_work(f: SyntheticFleet, rng: random.Random, agent: str, start: float, turns: int) -> None:
    """Strangers now drive it: shell commands and messages to many new recipients."""
    for i in range(turns):
        at = start + i * (WINDOW / turns)
        t = f.instruction(agent, f"discord:9{rng.randint(100, 999)}", at)
        f.chat(agent, at + 1, t, input_tokens=rng.randint(800, 2500), output_tokens=rng.randint(50, 400))
        f.tool(agent, "shell", at + 2, t, fleet__action__kind="execute", fleet__action__target="host:ash")
        f.send(agent, [f"discord:8{rng.randint(100, 999)}" for _ in range(3)], at + 4, t)


def run(ch: Client, windows: int, store: BaselineStore | None = None) -> list[list[str]]:
    store = store if store is not None else BaselineStore(ch)
    drift = BehaviourDrift.from_policy(Policy())
    return [[c.key for c, _ in judge(ch, drift, w * WINDOW, (w + 1) * WINDOW, baselines=store)]
            for w in range(windows)]


def fleet_with(shift: str, rng: random.Random) -> SyntheticFleet:
    f = SyntheticFleet()
    f.agent("ash", owners=[OWNER], principal="discord:2001")
    for w in range(10):
        usual_work(f, rng, "ash", w * WINDOW, rng.randint(8, 14))
    for w in range(10, 14):
        if shift == "drift" or (shift == "once" and w == 10):
            shifted_work(f, rng, "ash", w * WINDOW, 10)
        elif shift == "busier":
            usual_work(f, rng, "ash", w * WINDOW, 30)
        else:
            usual_work(f, rng, "ash", w * WINDOW, rng.randint(8, 14))
    return f


def test_a_sustained_shift_fires_after_persisting(ch: Client) -> None:
    f = fleet_with("drift", random.Random(1))
    f.insert(ch)
    keys = run(ch, 14)
    assert all(k == [] for k in keys[:12])  # warm-up, then the first two drifted windows
    assert keys[12] == ["drift:ash"]  # the third in a row (persist_windows)


def test_a_busier_stretch_of_the_same_work_and_one_odd_window_stay_quiet(ch: Client) -> None:
    for shift in ("busier", "once"):
        f = fleet_with(shift, random.Random(2))
        f.insert(ch)
        assert all(k == [] for k in run(ch, 14)), shift
        ch.command("TRUNCATE TABLE otel_traces")
        ch.command("TRUNCATE TABLE detector_baselines")


def test_no_judgement_during_warm_up_and_deterministic_scores(ch: Client) -> None:
    f = SyntheticFleet()
    f.agent("ash", owners=[OWNER])
    rng = random.Random(3)
    for w in range(4):
        usual_work(f, rng, "ash", w * WINDOW, 10)
    for w in range(4, 8):
        shifted_work(f, rng, "ash", w * WINDOW, 10)
    f.insert(ch)
    store = BaselineStore(ch)
    assert all(k == [] for k in run(ch, 8, store))  # only 4 windows of history: still warming up
    history = store.view("default", "drift")["agent:ash"]["history"]
    assert len(history) == 8  # nothing judged, so everything was learned


def test_a_change_every_agent_makes_at_once_is_not_drift(ch: Client) -> None:
    agents = [f"a{n}" for n in range(6)]

    def fleet(shifting: list[str], rng: random.Random) -> SyntheticFleet:
        f = SyntheticFleet()
        for n, agent in enumerate(agents):
            f.agent(agent, owners=[OWNER], principal=f"discord:20{n:02d}")
            for w in range(14):
                work = shifted_work if w >= 10 and agent in shifting else usual_work
                work(f, rng, agent, w * WINDOW, rng.randint(8, 14) if work is usual_work else 10)
        return f

    fleet(agents, random.Random(4)).insert(ch)
    assert all(k == [] for k in run(ch, 14))  # everyone changed together: the fleet's change
    ch.command("TRUNCATE TABLE otel_traces")
    ch.command("TRUNCATE TABLE detector_baselines")
    fleet(["a0"], random.Random(4)).insert(ch)
    assert "drift:a0" in {key for keys in run(ch, 14) for key in keys}  # one agent alone: drift


def test_tools_new_to_the_fleet_count_once_warmed_up_and_sparse_sends_name_their_destination() -> None:
    frame = pl.DataFrame
    turns = frame({"agent": ["ash"] * 6, "principal": [OWNER] * 6})
    tools = frame({"agent": ["ash"] * 4, "tool": ["file.read", "file.read", "rm", "bash"],
                   "kind": ["read", "read", "delete", "execute"], "failed": [False, False, True, False]})
    chats = frame({"agent": ["ash"], "input_tokens": [900], "output_tokens": [90], "failed": [False]})
    sends = frame({"agent": ["ash", "ash"], "recipients": [[], ["discord:3001"]],
                   "destination": ["lead@outside.example.net", "discord"]})
    directory = FleetDirectory(
        {"ash": AgentInfo("ash", "ash", frozenset({OWNER}), principal="discord:2001")})

    def vector(tools_known: set[str] | None) -> dict[str, float]:
        found = behaviour_vectors(turns, tools, chats, sends, directory, 6,
                                  lambda agent: Known(set(), set(), tools_known))
        return dict(zip(FEATURES, found["ash"].vector, strict=True))

    assert vector({"file.read"})["share_new_tools"] == 0.5  # rm and bash: new to the fleet
    assert vector(None)["share_new_tools"] == 0.0  # still warming up: not judged as new
    assert vector({"file.read"})["error_rate"] == 1 / 5
    assert recipients_of(sends) == {"lead@outside.example.net", "discord:3001"}


def test_the_fleet_change_scatters_with_how_far_each_agent_moved() -> None:
    calm = [np.zeros(len(FEATURES)) for _ in range(6)]
    median, scatter = fleet_change([*calm[:5], np.full(len(FEATURES), 8.0)], 5)
    assert np.all(median == 0) and np.all(scatter == 1)  # one agent moved: its own change
    moved = [np.full(len(FEATURES), float(step)) for step in (2, 4, 6, 8, 10, 12)]
    median, scatter = fleet_change(moved, 5)
    assert np.all(median == 7) and np.all(scatter > 2)  # everyone moved, by more or less
    assert np.all(fleet_change(moved[:4], 5)[1] == 1)  # too few agents to tell
