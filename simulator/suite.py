"""Which incidents a run injects, and when: the default suite or explicit ``name:key=value`` specs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from simulator.ids import derived_rng
from simulator.scenarios.base import Params, parse_params
from simulator.scenarios.registry import SCENARIOS, AnyScenario, get_scenario


@dataclass(frozen=True)
class ScenarioPlan:
    scenario: str
    params: Params


def resolve_name(name: str) -> AnyScenario:
    """A registered name, or a unique prefix of one (``cs11`` -> ``cs11_libel_broadcast``)."""
    if name in SCENARIOS:
        return SCENARIOS[name]
    matches = [key for key in SCENARIOS if key.startswith(name + "_")]
    if len(matches) != 1:
        matches = [key for key in SCENARIOS if key.startswith(name)]
    if len(matches) != 1:
        return get_scenario(name)  # raises with the list of known names
    return SCENARIOS[matches[0]]


def parse_spec(spec: str) -> ScenarioPlan:
    """``cs11:fan_out=20,variant=individual_sends,at=600`` -> a plan."""
    name, _, rest = spec.partition(":")
    scenario = resolve_name(name.strip())
    values: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"scenario parameter {pair!r} is not key=value")
        values[key.strip()] = value.strip()
    params = scenario.resolve(parse_params(scenario.params_type, values))
    return ScenarioPlan(scenario.name, params)


def _fits(scenario: AnyScenario, agents: int, market_agents: int, duration_s: float) -> bool:
    return (scenario.needs_agents <= agents and scenario.needs_market <= market_agents
            and scenario.min_run_s <= duration_s)


def default_suite(seed: int, duration_s: float, agents: int, market_agents: int,
                  every_variant: bool = False) -> list[ScenarioPlan]:
    """Each scenario that fits the fleet and the run's length once (or once per variant), spread
    over the first 80% of the run (not before a scenario's ``warmup_s``); variants and timing are
    drawn from the seed. Scenarios that need a long history (drift) join only long runs, so
    adding them left every shorter suite as it was."""
    rng = derived_rng(seed, "suite")
    chosen: list[tuple[AnyScenario, str]] = []
    for scenario in SCENARIOS.values():
        if not _fits(scenario, agents, market_agents, duration_s):
            continue
        variants = scenario.variants if every_variant else (rng.choice(scenario.variants),)
        chosen += [(scenario, variant) for variant in variants]
    slot = duration_s * 0.8 / max(1, len(chosen))
    plans = []
    for index, (scenario, variant) in enumerate(chosen):
        at_s = max((index + rng.uniform(0.1, 0.6)) * slot, scenario.warmup_s)
        params = replace(scenario.defaults(), variant=variant, at_s=round(at_s, 3))
        plans.append(ScenarioPlan(scenario.name, scenario.resolve(params)))
    return plans
