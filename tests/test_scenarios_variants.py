"""Every scenario and every variant, injected alone into a quiet background: it yields one
label whose traces all exist, carry the labelled agents, and fall inside the labelled window."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from simulator.clock import FIXED_EPOCH_NS, NS_PER_SECOND
from simulator.decode import FlatSpan, decode_requests
from simulator.labels import IncidentLabel
from simulator.run import SimulationConfig, run_simulation
from simulator.scenarios.registry import SCENARIOS
from simulator.suite import default_suite, parse_spec
from simulator.transport import MemoryTransport

CASES = [(name, variant) for name, s in SCENARIOS.items() for variant in s.variants]


@dataclass
class Injected:
    label: IncidentLabel
    spans: list[FlatSpan]

    @property
    def incident_spans(self) -> list[FlatSpan]:
        traces = set(self.label.trace_ids)
        return [s for s in self.spans if s.trace_id in traces]

    def of(self, operation: str) -> list[FlatSpan]:
        return [s for s in self.incident_spans if s.operation == operation]


def inject(spec: str, *, seed: int = 1, agents: int = 6, market_agents: int = 4,
           duration_s: float = 3600.0) -> Injected:
    """Run ``spec`` (``name:key=value,...``) alone, over heartbeats, cron and the market only."""
    config = SimulationConfig(seed=seed, agents=agents, market_agents=market_agents,
                              duration_s=duration_s, sessions_per_agent_hour=0.0,
                              scenarios=(parse_spec(spec),))
    transport = MemoryTransport()
    result = run_simulation(config, transport=transport)
    (label,) = result.incidents
    return Injected(label, decode_requests(p for _, p in transport.batches))


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_variant_produces_a_consistent_label(name: str, variant: str) -> None:
    scenario = SCENARIOS[name]
    run = inject(f"{name}:variant={variant},at=120")
    label = run.label
    assert (label.kind, label.also_kinds) == scenario.kinds_for(variant)
    assert label.scenario == name and label.variant == variant
    assert label.case == scenario.case_for(variant) and label.harmful == scenario.harmful
    assert label.kind.startswith("negative_") == label.negative
    spans = run.incident_spans
    assert {s.trace_id for s in spans} == set(label.trace_ids)
    assert {s.agent_id for s in spans} <= set(label.agents)
    assert label.start_ns == min(s.start_ns for s in spans)
    assert label.end_ns == max(s.end_ns for s in spans)
    assert label.start_ns >= FIXED_EPOCH_NS + 120 * NS_PER_SECOND  # injected at at_s
    roots = [s for s in spans if s.operation == "invoke_agent"]
    senders = {s.attributes["fleet.principal.id"] for s in roots if "fleet.principal.id" in s.attributes}
    assert senders <= set(label.principals)


def test_variants_of_a_scenario_differ_in_shape() -> None:
    def shape(variant: str) -> set[tuple[str, str]]:
        run = inject(f"cs11_libel_broadcast:variant={variant}")
        return {(s.operation, s.attributes.get("gen_ai.tool.name", "")) for s in run.incident_spans}

    assert shape("broadcast") != shape("cron_posting")
    assert len({len(inject(f"cs4:variant={v}").label.trace_ids) for v in ("relay", "polling_cron",
                                                                           "background_process")}) == 3


def test_default_suite_covers_the_library_and_fits_the_fleet() -> None:
    # Drift scenarios need hours of ordinary history first: a 2-hour suite leaves them out.
    long_only = {name for name, s in SCENARIOS.items() if s.min_run_s > 7200}
    assert long_only == {"behavioural_drift", "negative_fleet_change"}
    everything = default_suite(1, 7200.0, agents=8, market_agents=6, every_variant=True)
    assert {(p.scenario, p.params.variant) for p in everything} == {c for c in CASES if c[0] not in long_only}
    assert all(0 <= p.params.at_s < 7200 * 0.8 for p in everything)
    no_market = default_suite(1, 7200.0, agents=8, market_agents=0)
    assert not any(p.scenario.startswith("market_") for p in no_market)
    assert len(default_suite(1, 7200.0, agents=8, market_agents=6)) == len(SCENARIOS) - len(long_only)
    assert default_suite(1, 7200.0, 8, 6) != default_suite(2, 7200.0, 8, 6)  # variants/timing by seed


def test_a_long_suite_adds_drift_after_its_warm_up() -> None:
    long_run = default_suite(1, 8 * 3600.0, agents=8, market_agents=6, every_variant=True)
    assert {(p.scenario, p.params.variant) for p in long_run} == set(CASES)
    assert all(p.params.at_s >= SCENARIOS[p.scenario].warmup_s for p in long_run)
    assert any(p.params.at_s >= 4.5 * 3600 for p in long_run if p.scenario == "behavioural_drift")
