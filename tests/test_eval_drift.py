"""Behavioural drift on held-out simulator seeds, with the detector's default policy.

Tuning looked at seeds 11, 12, 14 and 15 (every drift variant at default parameters), 16 and 17
(every variant with the parameter variations below), 13 (the fleet-wide change) and 13, 14 (40
benign agents x 9 h). These tests use seeds never run while tuning: 801 and 802 (every variant,
parameters varied: share of the agent's turns, magnitude, length, speed, renamed tools, sparse
attributes, noise), 803 (both fleet-wide changes: the benign look-alike) and 804 (benign only,
70 agents x 20 h, so that over 1,000 agent-hours are judged after the warm-up).

THE ISSUE'S FLOORS ARE NOT ALL MET. Measured with this detector (2026-11-22): recall 8/10,
precision 9/9, one drift alert on the fleet-wide change (803), 1 false alert in 1,084 judged
benign agent-hours (0.92 per 1,000: met). The unmet floors (recall >= 0.9, no alert on the
fleet-wide change) are asserted as expected failures, next to guards at what the detector does
reach, so a regression still fails. docs/detectors.md (drift) says why.

Earlier held-out rounds, each against an earlier version, after which the detector was changed
(tuned on tuning seeds only) and the seeds retired: 501-504 (per-agent novelty, two windows in a
row): recall 7/10, precision 7/7, fleet-wide change quiet, 1 false alert in 1,088 judged
agent-hours; 601-604 (fleet-wide novelty, z_min 5): recall 6/10, precision 6/6, quiet, 0 in
1,078; 701-704 (z_min 4.75, isolation tolerating a quarter of the history): recall 6/10,
precision 6/7, quiet, 2 in 1,088. The final version is 601's again; choosing it over 701's
used both rounds' figures, which is why 801-804 were run fresh.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from collector.migrations import migrate
from detectors.builtin.drift import BehaviourDrift
from detectors.eval_run import bulk, evaluate
from detectors.evaluation import Report
from detectors.policy import Policy
from detectors.registry import DetectorRegistry
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings
from simulator.run import SimulationConfig
from simulator.suite import parse_spec

H = 3600
HELD_OUT_DRIFTS = {
    801: ("tools:share=0.4,magnitude=1.5", "recipients:hours=1.5,noise=1", "tokens:share=0.6,magnitude=0.7",
          "principals:sparse=true", "mixed:hours=3,speed=1.5"),
    802: ("tools:rename_tools=true", "recipients:share=0.6", "tokens:hours=2.5",
          "principals:share=0.4,noise=2", "mixed:magnitude=0.8,sparse=true"),
}


def drift_only() -> DetectorRegistry:
    registry = DetectorRegistry()
    registry.register(BehaviourDrift.from_policy(Policy()))
    return registry


def drift_run(seed: int, specs: tuple[str, ...], agents: int = 16, hours: float = 9.0) -> SimulationConfig:
    return bulk(SimulationConfig(seed=seed, agents=agents, market_agents=0, duration_s=hours * H,
                                 scenarios=tuple(parse_spec(spec) for spec in specs)))


def judged_agent_hours(ch: Client, slide_s: float = 1800) -> float:
    rows = ch.query("SELECT argMax(Payload, Version) FROM detector_baselines WHERE Detector = 'drift' "
                    "AND startsWith(Key, 'agent:') GROUP BY Key").result_rows
    return sum(int(json.loads(row[0]).get("judged", 0)) for row in rows) * slide_s / H


@pytest.fixture(scope="module")
def drifts(clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    settings = Settings(clickhouse_url=clickhouse_url, clickhouse_database=f"t_{uuid.uuid4().hex[:12]}",
                        data_dir=Path(tmp_path_factory.mktemp("drifts")))
    client = connect(settings)
    migrate(client)
    report = Report()
    for seed, variants in HELD_OUT_DRIFTS.items():
        # Drifts start after the 5-hour warm-up, five minutes apart, each on its own agent.
        specs = tuple(f"behavioural_drift:variant={variant.replace(':', ',')},at={4.7 * H + i * 300:.0f}"
                      for i, variant in enumerate(variants))
        evaluate(settings, client, drift_run(seed, specs), drift_only(), Policy(), report)
        for table in ("otel_traces", "alerts", "detector_cursors", "detector_baselines", "detector_status"):
            client.command(f"TRUNCATE TABLE {table}")
    print("\n".join(report.lines()))
    yield report
    client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`")


@pytest.mark.xfail(reason="drift recall 8/10 on the held-out seeds, floor 0.9 not met", strict=False)
def test_drift_recall_floor(drifts: Report) -> None:
    assert drifts.families["behavioural_drift"].recall >= 0.9


def test_drift_recall_does_not_regress_and_precision_floor(drifts: Report) -> None:
    score = drifts.families["behavioural_drift"]
    assert score.incidents == 10
    assert score.recall >= 0.8, (score.detected, score.incidents)  # as measured
    assert drifts.detectors["drift"].precision >= 0.9, drifts.detectors["drift"]


def test_a_fleet_wide_change_is_not_drift(settings: Settings, ch: Client) -> None:
    specs = (f"negative_fleet_change:variant=new_tool,at={4.7 * H:.0f},hours=1.5",
             f"negative_fleet_change:variant=bigger_context,at={6.6 * H:.0f},hours=1.5")
    report, result = evaluate(settings, ch, drift_run(803, specs), drift_only(), Policy())
    print("\n".join(report.lines()))
    assert len(result.incidents) == 2 and all(len(i.agents) == 16 for i in result.incidents)
    assert judged_agent_hours(ch) > 40  # the change happened while agents were being judged
    alerts = report.detectors["drift"].alerts if "drift" in report.detectors else 0
    assert alerts <= 1  # as measured (one agent of 16); the floor is none:
    if alerts:
        pytest.xfail("drift alerted once on the fleet-wide change (floor: never)")


def test_benign_agent_hours_judged_without_a_false_drift(settings: Settings, ch: Client) -> None:
    report, _ = evaluate(settings, ch, drift_run(804, (), agents=70, hours=20), drift_only(), Policy())
    judged = judged_agent_hours(ch)
    print("\n".join(report.lines()), f"\njudged agent-hours: {judged:.0f}")
    assert judged >= 1000
    alerts = report.detectors["drift"].alerts if "drift" in report.detectors else 0
    assert 1000 * alerts / judged <= 1.0
