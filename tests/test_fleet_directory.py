"""The fleet directory's outsider test, per pair and for a whole frame, agrees with its per-pair questions."""

from __future__ import annotations

import random

import polars as pl
import pytest

from detectors.fleet import AgentInfo, FleetDirectory, build_directory
from detectors.policy import Policy


def random_directory(rng: random.Random) -> tuple[FleetDirectory, list[str], list[str]]:
    agents = [f"agent-{i}" for i in range(12)]
    people = [f"discord:{i}" for i in range(10)] + [f"agent-principal-{i}" for i in range(6)]
    infos = {}
    for agent in agents:
        owners = frozenset(rng.sample(people, rng.choice([0, 1, 2])))
        authorised = frozenset(rng.sample(people, rng.choice([0, 0, 1])))
        principal = f"agent-principal-{agents.index(agent)}" if rng.random() < 0.5 else ""
        infos[agent] = AgentInfo(agent, agent, owners, authorised, principal)
    return FleetDirectory(infos), agents + ["unknown-agent"], people + ["", "stranger"]


def expected(directory: FleetDirectory, agent: str, principal: str, peers: bool) -> bool:
    outsider = (bool(principal) and directory.knows_owners(agent)
                and not directory.may_instruct(agent, principal))
    return outsider and (peers or not directory.is_agent(principal))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("peers", [True, False])
def test_outsider_expression_matches_the_per_pair_answer(seed: int, peers: bool) -> None:
    rng = random.Random(seed)
    directory, agents, principals = random_directory(rng)
    pairs = [(rng.choice(agents), rng.choice(principals)) for _ in range(300)]
    frame = pl.DataFrame({"agent": [a for a, _ in pairs], "who": [p for _, p in pairs]},
                         schema={"agent": pl.String, "who": pl.String})
    got = frame.with_columns(directory.outsider("who", peers=peers).alias("out"))["out"].to_list()
    assert got == [expected(directory, a, p, peers) for a, p in pairs]
    assert got == [directory.is_outsider(a, p, peers=peers) for a, p in pairs]
    assert any(got) and not all(got)  # the draw exercises both answers


def test_outsider_is_false_for_missing_values_and_an_empty_directory() -> None:
    frame = pl.DataFrame({"agent": ["a", None, "a"], "who": [None, "x", "x"]},
                         schema={"agent": pl.String, "who": pl.String})
    owned = FleetDirectory({"a": AgentInfo("a", owners=frozenset({"owner"}))})
    assert frame.filter(owned.outsider("who")).rows() == [("a", "x")]
    assert frame.filter(FleetDirectory().outsider("who")).height == 0


def test_the_built_directory_maps_principals_once_and_cannot_be_changed() -> None:
    rows = [("a", "A", '["owner-a"]', "p-a"), ("b", "B", "", "")]
    directory = build_directory(rows, Policy())
    assert directory.principal_to_agent == {"p-a": "a"}
    assert directory.is_agent("p-a") and not directory.is_agent("owner-a")
    with pytest.raises(AttributeError):
        directory.agents = {}  # type: ignore[misc]
