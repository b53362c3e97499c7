"""The built-in detector catalogue, listed explicitly (no discovery), and the registry builder."""

from __future__ import annotations

from typing import Any

from detectors.base import Detector
from detectors.builtin.authority import AuthorityViolations
from detectors.builtin.destructive import DestructiveActions
from detectors.builtin.disclosure import SensitiveDisclosure
from detectors.builtin.drift import BehaviourDrift
from detectors.builtin.false_completion import FalseCompletion
from detectors.builtin.fan_out import FanOutStorms
from detectors.builtin.loops import AgentLoops
from detectors.builtin.market import MarketPatterns
from detectors.builtin.processes import OrphanProcesses
from detectors.builtin.propagation import Propagation
from detectors.builtin.runaway import ResourceRunaway
from detectors.builtin.silent_failure import SilentFailures
from detectors.builtin.spoofing import IdentitySpoofing
from detectors.builtin.takeover import Takeover
from detectors.policy import Policy
from detectors.registry import DetectorRegistry

BUILTIN_DETECTORS: tuple[type[Detector[Any]], ...] = (
    AgentLoops,
    OrphanProcesses,
    FalseCompletion,
    AuthorityViolations,
    DestructiveActions,
    IdentitySpoofing,
    FanOutStorms,
    SensitiveDisclosure,
    Takeover,
    Propagation,
    ResourceRunaway,
    SilentFailures,
    MarketPatterns,
    BehaviourDrift,
)


def builtin_registry(policy: Policy) -> DetectorRegistry:
    """Every built-in detector the policy leaves enabled, configured from the policy."""
    registry = DetectorRegistry()
    for detector_class in BUILTIN_DETECTORS:
        if policy.for_detector(detector_class.name).enabled:
            registry.register(detector_class.from_policy(policy))
    return registry
