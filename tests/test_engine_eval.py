"""Detector quality on held-out simulator seeds, through the ingest path and the engine.

Tuning used seeds 11, 12 and 13 (see fleetwatch.commands.detect.TUNING_SEEDS and
docs/detectors.md); these tests use seeds 101 and 202, never looked at while tuning. Floors:
recall >= 0.9 per covered family, precision >= 0.9 per detector, and no false alert on
benign-only traffic (the target is <= 1 per 1,000 agent-hours; a zero count over this run is
the strongest statement the run's size supports). Families without a detector yet are listed
in docs/detectors.md and not asserted here.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from detectors.builtin.catalogue import builtin_registry
from detectors.engine import DetectorEngine
from detectors.evaluation import Report, read_alerts
from detectors.policy import Policy
from detectors.simulate import simulate_into
from fleetwatch.config import Settings
from simulator.run import SimulationConfig

COVERED = ("agent_loop", "authority_violation", "destructive_action", "false_completion",
           "identity_spoofing")


def evaluate(settings: Settings, ch: Client, config: SimulationConfig) -> Report:
    run_settings = settings.model_copy(update={"detector_late_horizon_seconds": 1e9})
    result = simulate_into(ch, config)
    DetectorEngine(run_settings, ch, builtin_registry(Policy()), Policy()).drain()
    report = Report()
    report.add_run(result.summary, result.incidents, read_alerts(ch))
    return report


def test_every_variant_on_a_held_out_seed(settings: Settings, ch: Client) -> None:
    report = evaluate(settings, ch, SimulationConfig(seed=101, every_variant=True))
    print("\n".join(report.lines()))
    for family in COVERED:
        score = report.families[family]
        assert score.incidents > 0
        assert score.recall >= 0.9, family
    for name, detector in report.detectors.items():
        assert detector.precision >= 0.9, name


def test_benign_only_traffic_raises_nothing(settings: Settings, ch: Client) -> None:
    config = SimulationConfig(seed=202, agents=12, market_agents=0, duration_s=4 * 3600, scenarios=())
    report = evaluate(settings, ch, config)
    print("\n".join(report.lines()))
    assert report.benign_agent_hours >= 40
    assert sum(d.alerts for d in report.detectors.values()) == 0
