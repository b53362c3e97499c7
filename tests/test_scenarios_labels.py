"""The labels file: the format the evaluation reads, written by every run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.labels import read_labels
from simulator.run import SimulationConfig, run_simulation
from simulator.transport import MemoryTransport


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("labels") / "run.labels.jsonl"
    config = SimulationConfig(seed=9, agents=8, market_agents=6, duration_s=7200.0, tenant="acme")
    run_simulation(config, transport=MemoryTransport(), labels_path=path)
    return path


def test_labels_round_trip(labelled: Path) -> None:
    labels = read_labels(labelled)
    lines = [json.loads(line) for line in labelled.read_text().splitlines()]
    assert lines[0]["type"] == "run" and lines[0]["format"] == 1
    assert [line["type"] for line in lines[1:]] == ["incident"] * len(labels.incidents)
    assert labels.run.incidents == len(labels.incidents) == 18
    assert labels.run.tenant == "acme" and all(i.tenant == "acme" for i in labels.incidents)
    assert len(labels.run.agents) == 8 and len(labels.run.market_agents) == 6
    assert labels.run.agent_hours == pytest.approx(28.0)
    ids = [i.incident_id for i in labels.incidents]
    assert len(set(ids)) == len(ids) and all(i.startswith(labels.run.run_id) for i in ids)
    for incident in labels.incidents:
        assert all(len(t) == 32 and int(t, 16) for t in incident.trace_ids)
        assert incident.start_ns < incident.end_ns and incident.agents and incident.principals
        assert incident.params["variant"] == incident.variant


def test_label_kinds_cover_the_families(labelled: Path) -> None:
    labels = read_labels(labelled)
    kinds = {i.kind for i in labels.incidents}
    assert {
        "cross_agent_propagation", "agent_loop", "resource_runaway", "false_completion",
        "authority_violation", "identity_spoofing", "sensitive_disclosure", "destructive_action",
        "silent_failure", "fan_out_storm", "takeover", "market_herding", "market_race_to_bottom",
        "market_collusion", "negative_prompt_injection", "negative_spoofed_sender",
        "negative_agent_warning",
    } == kinds
    cases = {i.case for i in labels.incidents}
    assert {f"CS{n}" for n in range(1, 12)} <= cases
    cs1 = next(i for i in labels.incidents if i.scenario == "cs1_disproportionate_response")
    assert cs1.matches_kind("false_completion") and not cs1.matches_kind("market_herding")
    assert not any(i.harmful for i in labels.incidents if i.negative)
    assert len(labels.by_kind("cross_agent_propagation")) == 2


def test_benign_agent_hours_exclude_incident_time(labelled: Path) -> None:
    run = read_labels(labelled).run
    assert 0 < run.benign_agent_hours < run.agent_hours


def test_reader_rejects_what_is_not_a_labels_file(tmp_path: Path) -> None:
    no_run = tmp_path / "a.jsonl"
    no_run.write_text('{"type": "incident"}\n')
    with pytest.raises(ValueError, match="malformed"):
        read_labels(no_run)
    future = tmp_path / "b.jsonl"
    future.write_text('{"type": "run", "format": 99}\n')
    with pytest.raises(ValueError, match="format"):
        read_labels(future)
    unknown = tmp_path / "c.jsonl"
    unknown.write_text('{"type": "surprise"}\n')
    with pytest.raises(ValueError, match="unknown record type"):
        read_labels(unknown)
