"""Plain values passed between detectors, the incident tracker and the alert writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True)
class Window:
    """A half-open event-time range [start_ns, end_ns) for one tenant (Unix nanoseconds)."""

    tenant: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class Evidence:
    trace_id: str
    span_id: str


@dataclass(frozen=True)
class Candidate:
    """What a detector's logic found, scored but not yet judged.

    ``key`` names the incident inside the detector (e.g. ``loop:ash|flux``): the same key found
    again in a later window is the same incident, growing.
    """

    key: str
    score: float
    title: str
    explanation: str
    agents: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    first_event_ns: int | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """A candidate the detector decided to report, with its severity and window."""

    detector: str
    window: Window
    candidate: Candidate
    severity: Severity


@dataclass(frozen=True)
class Requirement:
    """Attributes a detector reads: satisfied when spans carry ANY of ``attributes``.

    ``policy_key`` names a policy section ("agents", "principals") that can stand in for them.
    """

    attributes: tuple[str, ...]
    purpose: str
    scope: str = "span"  # "span" or "resource"
    policy_key: str | None = None
