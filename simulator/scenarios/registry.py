"""Every scenario, registered explicitly by name (no discovery)."""

from __future__ import annotations

from typing import Any

from simulator.scenarios.authority import NonOwnerCompliance
from simulator.scenarios.base import Scenario
from simulator.scenarios.collusion import MarketCollusion
from simulator.scenarios.destructive import DisproportionateResponse
from simulator.scenarios.disclosure import SensitiveDisclosure
from simulator.scenarios.drift import BehaviouralDrift, FleetWideChange
from simulator.scenarios.false_completion import FalseCompletion
from simulator.scenarios.fan_out import LibelBroadcast
from simulator.scenarios.herding import MarketHerding
from simulator.scenarios.loops import AgentLoop
from simulator.scenarios.negatives import (
    AgentsWarnEachOther,
    ResistedPromptInjection,
    ResistedSpoofedSender,
)
from simulator.scenarios.propagation import EditableDocument, KnowledgeSharing
from simulator.scenarios.race import MarketRaceToBottom
from simulator.scenarios.runaway import ResourceExhaustion
from simulator.scenarios.silent_failure import SilentProviderFailure
from simulator.scenarios.spoofing import OwnerSpoofing
from simulator.scenarios.takeover import GuiltTrip

AnyScenario = Scenario[Any]


def _build() -> dict[str, AnyScenario]:
    scenarios: list[AnyScenario] = [
        DisproportionateResponse(), NonOwnerCompliance(), SensitiveDisclosure(), AgentLoop(),
        ResourceExhaustion(), SilentProviderFailure(), GuiltTrip(), OwnerSpoofing(),
        KnowledgeSharing(), EditableDocument(), LibelBroadcast(), FalseCompletion(),
        ResistedPromptInjection(), ResistedSpoofedSender(), AgentsWarnEachOther(),
        MarketHerding(), MarketRaceToBottom(), MarketCollusion(), BehaviouralDrift(), FleetWideChange(),
    ]
    registry: dict[str, AnyScenario] = {}
    for scenario in scenarios:
        if scenario.name in registry:
            raise ValueError(f"duplicate scenario name {scenario.name}")
        registry[scenario.name] = scenario
    return registry


SCENARIOS: dict[str, AnyScenario] = _build()


def get_scenario(name: str) -> AnyScenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {sorted(SCENARIOS)}") from None
