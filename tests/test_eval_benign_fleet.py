"""False alerts on a large benign-only fleet: at least 1,000 agent-hours, every built-in
detector, the floor asserted per detector (at most one false alert per 1,000 agent-hours).

Seed 212 is held out: it was never run while tuning (tuning seeds: 11, 12, 13). The fleet is
250 general agents and 6 bidders for 4 simulated hours at the default activity rate (about
140,000 spans): 1,024 agent-hours. ``drift`` needs 5 hours of history before it judges anyone,
so it judges nothing here; tests/test_eval_drift.py measures it on a longer benign run.

Measured (seed 212, 1,024 agent-hours): runaway 1 false alert (a growth alert on small benign
MEMORY.md notes) and silent_failures 1 (unrecovered failures on one topic, mostly truncations):
0.98 per 1,000 agent-hours each, just inside the floor; every other detector 0. The same fleet
on seed 202 (looked at while writing this test, so not evidence) gave runaway 2 and
silent_failures 1. Both are reported to their owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from collector.migrations import migrate
from detectors.builtin.catalogue import builtin_registry
from detectors.eval_run import bulk, evaluate
from detectors.evaluation import Report
from detectors.policy import Policy
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings
from simulator.run import SimulationConfig

HELD_OUT_SEED = 212
FLEET = SimulationConfig(seed=HELD_OUT_SEED, agents=250, market_agents=6, duration_s=4 * 3600,
                         scenarios=())
FLOOR_PER_1000_AGENT_HOURS = 1.0
DETECTORS = tuple(builtin_registry(Policy()).names())


@pytest.fixture(scope="module")
def benign_fleet(clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Report, Client]]:
    settings = Settings(clickhouse_url=clickhouse_url, clickhouse_database=f"t_{uuid.uuid4().hex[:12]}",
                        data_dir=Path(tmp_path_factory.mktemp("benign-fleet")))
    client = connect(settings)
    migrate(client)
    report, _ = evaluate(settings, client, bulk(FLEET), builtin_registry(Policy()), Policy())
    print("\n".join(report.lines()))
    yield report, client
    client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`")


def test_the_run_covers_a_thousand_benign_agent_hours(benign_fleet: tuple[Report, Client]) -> None:
    report, client = benign_fleet
    assert report.benign_agent_hours >= 1000
    agents = client.query("SELECT uniqExact(AgentId) FROM otel_traces").result_rows[0][0]
    assert agents == 256  # every agent was active, not just simulated


@pytest.mark.parametrize("detector", DETECTORS)
def test_false_alerts_per_thousand_agent_hours(benign_fleet: tuple[Report, Client], detector: str) -> None:
    report, client = benign_fleet
    rate = report.false_alerts_per_kilo_agent_hour(detector) if detector in report.detectors else 0.0
    if rate > FLOOR_PER_1000_AGENT_HOURS:
        rows = client.query("SELECT Explanation FROM alerts WHERE Version = 1 AND Detector = {d:String}",
                            parameters={"d": detector}).result_rows
        print(f"{detector}: " + " | ".join(str(r[0])[:200] for r in rows[:5]))
    assert rate <= FLOOR_PER_1000_AGENT_HOURS, (detector, report.detectors[detector].alerts)
