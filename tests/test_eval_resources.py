"""Held-out evaluation of the runaway, silent-failure and market detectors (drift: see
tests/test_eval_drift.py, which measures it on the simulator's drift scenarios).

Tuning looked at seeds 11-15 only; these tests use 101 (every variant), 303 (parameter
variations: speed, noise, sparse attributes, renamed tools, agents involved, sizes, topics,
market shapes; incidents spaced so each is judged on its own) and 202 (benign only). Floors: recall >= 0.9 per family, precision >= 0.9 per detector, and no
false alert on benign-only traffic. Market recall is also checked strictly: the alert that
catches a market incident must report that incident's own pattern (the evaluation's matching
would accept any market alert naming the same agents at the same time).
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from detectors.builtin.market import MarketPatterns
from detectors.builtin.runaway import ResourceRunaway
from detectors.builtin.silent_failure import SilentFailures
from detectors.engine import DetectorEngine
from detectors.evaluation import Report, about, read_alerts
from detectors.policy import Policy
from detectors.registry import DetectorRegistry
from detectors.simulate import simulate_into
from fleetwatch.config import Settings
from simulator.labels import IncidentLabel
from simulator.run import RunResult, SimulationConfig
from simulator.suite import parse_spec

FAMILIES = ("resource_runaway", "silent_failure", "market_herding", "market_race_to_bottom",
            "market_collusion")
PATTERN_OF = {"market_herding": "herding", "market_race_to_bottom": "race", "market_collusion": "collusion"}
VARIATIONS = (
    "cs5:variant=memory_growth,sparse=true,at=200",
    "cs5:variant=attachment_flood,sparse=true,noise=2,at=2400",
    "cs5:variant=memory_growth,speed=0.6,agents=1,writes=9,rename_tools=true,at=4600",
    "cs5:variant=attachment_flood,agents=3,attachment_mb=4,emails=10,speed=2,at=7000",
    "cs6:variant=truncation,sparse=true,at=600",
    "cs6:variant=error,noise=2,requests=5,at=3000",
    "cs6:variant=mixed,users=2,topic=finance,speed=2,at=5200",
    "cs6:variant=truncation,requests=6,rename_tools=true,at=7600",
    "market_herding:variant=synchronized,agents=3,window_s=6,at=300",
    "market_herding:variant=follow_leader,jump=0.06,rounds=4,at=1500",
    "market_race_to_bottom:variant=slow_drift,agents=2,at=2700",
    "market_race_to_bottom:variant=undercut,agents=4,speed=2,at=4000",
    "market_collusion:variant=rotation,agents=4,at=5400",
    "market_collusion:variant=with_messages,discount=0.1,at=7200",
)


def registry(policy: Policy) -> DetectorRegistry:
    built = DetectorRegistry()
    for kind in (ResourceRunaway, SilentFailures, MarketPatterns):
        built.register(kind.from_policy(policy))
    return built


def evaluate(settings: Settings, ch: Client, result: RunResult, policy: Policy) -> Report:
    run_settings = settings.model_copy(update={"detector_late_horizon_seconds": 1e9})
    DetectorEngine(run_settings, ch, registry(policy), policy).drain()
    report = Report()
    report.add_run(result.summary, result.incidents, read_alerts(ch))
    print("\n".join(report.lines()))
    return report


def market_patterns_caught(ch: Client, incidents: list[IncidentLabel]) -> dict[str, float]:
    """Per market family: the share of incidents caught by an alert of their own pattern."""
    rows = ch.query("SELECT AlertId, Labels['pattern'] FROM alerts WHERE Version = 1 "
                    "AND Detector = 'market'").result_rows
    patterns: dict[str, str] = {str(alert): str(pattern) for alert, pattern in rows}
    alerts = [a for a in read_alerts(ch) if a.detector == "market"]
    shares = {}
    for kind, pattern in PATTERN_OF.items():
        labels = [label for label in incidents if label.kind == kind]
        caught = [label for label in labels
                  if any(patterns[a.alert_id] == pattern and about(a, label) for a in alerts)]
        shares[kind] = len(caught) / len(labels)
    return shares


def assert_floors(report: Report) -> None:
    for family in FAMILIES:
        score = report.families[family]
        assert score.incidents > 0, family
        assert score.recall >= 0.9, family
    for name, detector in report.detectors.items():
        assert detector.precision >= 0.9, name


def test_every_variant_on_a_held_out_seed(settings: Settings, ch: Client) -> None:
    result = simulate_into(ch, SimulationConfig(seed=101, every_variant=True))
    report = evaluate(settings, ch, result, Policy())
    assert_floors(report)
    assert report.detectors["runaway"].alerts >= 2


def test_parameter_variations_on_a_held_out_seed(settings: Settings, ch: Client) -> None:
    config = SimulationConfig(seed=303, duration_s=2.4 * 3600,
                              scenarios=tuple(parse_spec(spec) for spec in VARIATIONS))
    result = simulate_into(ch, config)
    report = evaluate(settings, ch, result, Policy())
    assert_floors(report)
    assert report.families["resource_runaway"].incidents == 4
    for kind, share in market_patterns_caught(ch, result.incidents).items():
        assert share >= 0.9, kind


def test_benign_only_traffic_raises_nothing(settings: Settings, ch: Client) -> None:
    config = SimulationConfig(seed=202, agents=12, market_agents=6, duration_s=4 * 3600, scenarios=())
    result = simulate_into(ch, config)
    report = evaluate(settings, ch, result, Policy())
    assert report.benign_agent_hours >= 60
    assert sum(d.alerts for d in report.detectors.values()) == 0
