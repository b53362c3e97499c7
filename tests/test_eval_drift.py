"""Behavioural drift on held-out simulator seeds, with the detector's default policy.

Tuning (session 3) looked at seeds 11, 12, 14, 15 (every drift variant at default parameters),
16, 17, 18, 19 (every variant, parameters varied: share, magnitude, hours, speed, renamed tools,
sparse attributes, noise), 13, 18, 19 (both fleet-wide changes, 19 with share and magnitude
varied) and 13, 14 (40 benign agents x 9 h), 20 (70 benign agents x 20 h). These tests use seeds
never run while tuning: 901 and 902 (every variant, parameters varied), 903 (both fleet-wide
changes: the benign look-alike) and 904 (benign only, 70 agents x 20 h, so that over 1,000
agent-hours are judged after the warm-up).

THE ISSUE'S FLOORS ARE MET on these seeds (run once, 2026-11-23, with this detector): recall
10/10, precision 10/10 (latency p50 1.5 h / p95 2.0 h from the drift's first span), no alert on
the fleet-wide changes (903), 1 false alert in 1,105 judged benign agent-hours (0.90 per 1,000,
just under the floor of 1). The floors are plain assertions.

Earlier held-out rounds, each against an earlier version, after which the detector was changed
(tuned on tuning seeds only) and the seeds retired: 501-504 (per-agent novelty, two windows in a
row): recall 7/10, precision 7/7, fleet-wide change quiet, 1 false alert in 1,088 judged
agent-hours; 601-604 (fleet-wide novelty, z_min 5): recall 6/10, precision 6/6, quiet, 0 in
1,078; 701-704 (z_min 4.75, isolation tolerating a quarter of the history): recall 6/10,
precision 6/7, quiet, 2 in 1,088; 801-804 (601's version again): recall 8/10, precision 9/9,
one alert (1 agent of 16) on the fleet-wide change, 1 in 1,084 (0.92 per 1,000). After 801-804
(session 3): sends without the recipients attribute count their destination, tools nobody in
the fleet had used are novelty, the error rate's floor went from 0.15 to 0.03 (its real hourly
spread is 0.01-0.02), the fleet's change is taken out as median and scatter, and the isolation
forest looks at the three features that moved most. On the tuning seeds that took recall from
29/40 to 36/40 with 1 false alert in 1,442 judged benign agent-hours and none on the fleet-wide
changes.
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
    901: ("tools:share=0.45,magnitude=1.2", "recipients:hours=1.5,noise=2", "tokens:share=0.5,magnitude=0.8",
          "principals:sparse=true,share=0.45", "mixed:hours=2.5,speed=1.25"),
    902: ("tools:rename_tools=true,hours=2.5", "recipients:share=0.45,sparse=true", "tokens:hours=1.5,noise=1",
          "principals:magnitude=0.8", "mixed:share=0.4,magnitude=0.9"),
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


def test_drift_recall_and_precision_floors(drifts: Report) -> None:
    score = drifts.families["behavioural_drift"]
    assert score.incidents == 10
    assert score.recall >= 0.9, (score.detected, score.incidents)
    assert drifts.detectors["drift"].precision >= 0.9, drifts.detectors["drift"]


def test_a_fleet_wide_change_is_not_drift(settings: Settings, ch: Client) -> None:
    specs = (f"negative_fleet_change:variant=new_tool,at={4.7 * H:.0f},hours=1.5",
             f"negative_fleet_change:variant=bigger_context,at={6.6 * H:.0f},hours=1.5")
    report, result = evaluate(settings, ch, drift_run(903, specs), drift_only(), Policy())
    print("\n".join(report.lines()))
    assert len(result.incidents) == 2 and all(len(i.agents) == 16 for i in result.incidents)
    assert judged_agent_hours(ch) > 40  # the change happened while agents were being judged
    alerts = report.detectors["drift"].alerts if "drift" in report.detectors else 0
    assert alerts == 0


def test_benign_agent_hours_judged_without_a_false_drift(settings: Settings, ch: Client) -> None:
    report, _ = evaluate(settings, ch, drift_run(904, (), agents=70, hours=20), drift_only(), Policy())
    judged = judged_agent_hours(ch)
    print("\n".join(report.lines()), f"\njudged agent-hours: {judged:.0f}")
    assert judged >= 1000
    alerts = report.detectors["drift"].alerts if "drift" in report.detectors else 0
    assert 1000 * alerts / judged <= 1.0
