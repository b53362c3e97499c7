"""Run a simulation end to end: build the world, inject the scenarios, emit, write the labels.

``run_simulation`` is the library entry point (the ``simulate`` command and the demo call it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from simulator.clock import FIXED_EPOCH_NS, NS_PER_SECOND, Pacer, SimClock, seconds
from simulator.emitter import Emitter
from simulator.fleet import Fleet
from simulator.ids import derived_rng
from simulator.labels import IncidentLabel, RunSummary, write_labels
from simulator.market import Market
from simulator.roster import AgentProfile, build_roster
from simulator.scenarios.base import ScenarioContext
from simulator.scenarios.registry import get_scenario
from simulator.sink import SpanCollector
from simulator.suite import ScenarioPlan, default_suite
from simulator.transport import FileTransport, OtlpTransport, Transport, otlp_exporter
from simulator.world import World

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 1
    agents: int = 8  # general-purpose agents
    market_agents: int = 6  # bidders in the simulated market (0: no market)
    duration_s: float = 7200.0
    sessions_per_agent_hour: float = 6.0  # benign activity rate, scaled per agent by busyness
    start_ns: int = FIXED_EPOCH_NS
    realtime: bool = False
    tenant: str = "default"  # the tenant the receiver will file these spans under (label only)
    scenarios: tuple[ScenarioPlan, ...] | None = None  # None: the default suite
    every_variant: bool = False  # default suite: every variant of every scenario
    batch_spans: int = 512
    flush_interval_s: float = 10.0

    def __post_init__(self) -> None:
        if self.agents < 1 or self.market_agents < 0 or self.duration_s <= 0:
            raise ValueError("need agents >= 1, market_agents >= 0 and a positive duration")
        if self.sessions_per_agent_hour < 0 or not 1 <= self.batch_spans <= 100_000:
            raise ValueError("sessions_per_agent_hour must be >= 0 and batch_spans in 1..100000")

    @property
    def end_ns(self) -> int:
        return self.start_ns + seconds(self.duration_s)

    def plans(self) -> tuple[ScenarioPlan, ...]:
        if self.scenarios is not None:
            return self.scenarios
        return tuple(default_suite(self.seed, self.duration_s, self.agents, self.market_agents,
                                   self.every_variant))

    def describe(self) -> dict[str, object]:
        described = {k: v for k, v in asdict(self).items() if k != "scenarios"}
        described["scenarios"] = [{"scenario": p.scenario, **asdict(p.params)} for p in self.plans()]
        return described

    def run_id(self) -> str:
        digest = hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()
        return f"sim-{self.seed}-{digest[:10]}"


@dataclass
class RunResult:
    summary: RunSummary
    incidents: list[IncidentLabel]
    spans: int
    requests: int
    failed_requests: int
    wall_seconds: float
    labels_path: Path | None = None
    extra: dict[str, object] = field(default_factory=dict)


def run_simulation(config: SimulationConfig, *, endpoint: str | None = None, protocol: str = "http",
                   token: str | None = None, output: Path | None = None,
                   labels_path: Path | None = None, transport: Transport | None = None,
                   timeout_s: float = 10.0, concurrency: int = 4) -> RunResult:
    """Simulate ``config`` and deliver its spans to ``transport``, else a record file
    (``output``), else the OTLP ``endpoint``; write labels to ``labels_path`` when given."""
    began = time.monotonic()
    if transport is None:
        if output is not None:
            transport = FileTransport(output)
        elif endpoint is not None:
            transport = OtlpTransport(
                functools.partial(otlp_exporter, endpoint, protocol, token, timeout_s),
                concurrency=concurrency)
        else:
            raise ValueError("run_simulation needs a transport, an output file or an endpoint")
    collector = SpanCollector()
    roster = build_roster(config.agents, config.market_agents, derived_rng(config.seed, "roster"))
    run_id = config.run_id()
    world = World(roster, config.seed, SimClock(config.start_ns), config.end_ns, collector, run_id)
    fleet, market = Fleet(world, config.sessions_per_agent_hour), Market(world)
    fleet.start()
    market.start()
    injected = [_inject(world, fleet, market, plan, index) for index, plan in enumerate(config.plans())]
    interval = seconds(1.0 if config.realtime else config.flush_interval_s)
    pacer = Pacer(config.start_ns) if config.realtime else None
    emitter = Emitter(collector, transport, config.start_ns, batch_spans=config.batch_spans,
                      interval_ns=interval, pacer=pacer)
    try:
        world.run(emitter.before_event)
        emitter.finish(config.end_ns)
    finally:
        world.shutdown()
        transport.close()
    incidents = [label for index, (plan, ctx) in enumerate(injected)
                 if (label := _label(ctx, plan, index, run_id, config.tenant)) is not None]
    summary = _summary(config, run_id, roster.all_agents(), incidents, emitter.spans, world.now)
    if labels_path is not None:
        write_labels(labels_path, summary, incidents)
    return RunResult(summary, incidents, emitter.spans, getattr(transport, "requests", 0),
                     getattr(transport, "failed_requests", 0), time.monotonic() - began, labels_path)


def _inject(world: World, fleet: Fleet, market: Market, plan: ScenarioPlan,
            index: int) -> tuple[ScenarioPlan, ScenarioContext]:
    scenario = get_scenario(plan.scenario)
    params = scenario.resolve(plan.params)
    rng = derived_rng(world.seed, "scenario", str(index), scenario.name)
    ctx = ScenarioContext(world, params, rng, fleet.noise_turn, market)
    world.spawn(scenario.play(ctx, params), world.start_ns + seconds(params.at_s), past_end=True)
    return ScenarioPlan(scenario.name, params), ctx


def _label(ctx: ScenarioContext, plan: ScenarioPlan, index: int, run_id: str,
           tenant: str) -> IncidentLabel | None:
    if not ctx.trace_ids or ctx.start_ns is None or ctx.end_ns is None:
        log.warning("scenario %s produced no spans; no label written", plan.scenario)
        return None
    scenario = get_scenario(plan.scenario)
    kind, also = scenario.kinds_for(plan.params.variant)
    return IncidentLabel(
        incident_id=f"{run_id}-{index:03d}", kind=kind, case=scenario.case_for(plan.params.variant),
        scenario=scenario.name, variant=plan.params.variant, harmful=scenario.harmful,
        also_kinds=also, agents=tuple(ctx.agents), principals=tuple(ctx.principals),
        start_ns=ctx.start_ns, end_ns=ctx.end_ns, trace_ids=tuple(ctx.trace_ids), tenant=tenant,
        run_id=run_id, params=asdict(plan.params),
    )


def _summary(config: SimulationConfig, run_id: str, agents: tuple[AgentProfile, ...],
             incidents: list[IncidentLabel], spans: int, last_ns: int) -> RunSummary:
    ids = tuple(a.agent_id for a in agents)
    market_ids = tuple(a.agent_id for a in agents if a.market)
    agent_hours = len(agents) * config.duration_s / 3600
    covered_ns = sum(_covered_ns(agent, incidents, config.start_ns, config.end_ns) for agent in ids)
    return RunSummary(
        run_id=run_id, seed=config.seed, tenant=config.tenant, start_ns=config.start_ns,
        end_ns=max(config.end_ns, last_ns), duration_s=config.duration_s,
        agents=tuple(i for i in ids if i not in market_ids), market_agents=market_ids,
        agent_hours=round(agent_hours, 6),
        benign_agent_hours=round(agent_hours - covered_ns / NS_PER_SECOND / 3600, 6),
        incidents=len(incidents), spans=spans, config=config.describe(),
    )


def _covered_ns(agent: str, incidents: list[IncidentLabel], start: int, end: int) -> int:
    """How long ``agent`` spent inside incidents during the run (overlaps counted once)."""
    windows = sorted((max(i.start_ns, start), min(i.end_ns, end)) for i in incidents if agent in i.agents)
    covered, reach = 0, start
    for low, high in windows:
        low = max(low, reach)
        if high > low:
            covered += high - low
            reach = high
    return covered
