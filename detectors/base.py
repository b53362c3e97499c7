"""The detector contract: a name, a window and slide, the attributes it reads, its logic, a
score per candidate incident, and a decision kept apart from the score.

A detector does no I/O of its own beyond the queries it asks its context to run, keeps no state
between calls except through ``ctx.baseline`` (persisted by the engine), and never writes alerts:
it returns scored candidates; ``decide`` turns a score into a severity or nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from detectors.model import Candidate, Requirement, Severity
from detectors.policy import DetectorPolicy, Policy, PolicyError, describe_errors

if TYPE_CHECKING:
    from detectors.context import EvalContext

SECOND_NS = 1_000_000_000


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)


class Detector(ABC, Generic[P]):
    """Subclass, set the class attributes, implement ``candidates``; optionally ``decide``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    requirements: ClassVar[tuple[Requirement, ...]] = ()
    params_model: ClassVar[type[BaseModel]] = NoParams
    default_window_seconds: ClassVar[float] = 600.0
    default_slide_seconds: ClassVar[float] = 5.0
    default_threshold: ClassVar[float] = 0.5
    # A finding this much above the threshold (as a multiple) is HIGH; twice that, CRITICAL.
    high_ratio: ClassVar[float] = 1.6
    # Live evaluation (detectors/early.py): besides its full windows, the engine may evaluate a
    # detector each tick on part of its window ending at the newest span, so an incident is
    # alerted seconds after its spans arrive. Both flags promise the same thing for a part: it
    # finds only candidates the whole window would find, with scores no higher (a part can only
    # lower a score: sums over traces, counts, runs; signals that a part could raise - learned
    # habits, absences, rates - are held back while ``ctx.live``). So a live alert is always one
    # the full window confirms; the full window stays the completeness guarantee.
    # early_by_trace: the part is the traces that changed this tick.
    early_by_trace: ClassVar[bool] = False
    # early_by_agent: the part is every span, in the whole window, of the agents
    # ``live_agents`` names from the traces that changed (e.g. loops: the two agents exchanging).
    early_by_agent: ClassVar[bool] = False

    @property
    def allows_early(self) -> bool:
        """Evaluated live on parts of its window (either flag above)."""
        return self.early_by_trace or self.early_by_agent

    def __init__(self, params: P, policy: Policy, settings: DetectorPolicy) -> None:
        self.params = params
        self.policy = policy
        self.threshold = settings.threshold if settings.threshold is not None else self.default_threshold
        window = settings.window_seconds or self.default_window_seconds
        slide = settings.slide_seconds or self.default_slide_seconds
        self.window_ns = int(window * SECOND_NS)
        self.slide_ns = max(1, min(int(slide * SECOND_NS), self.window_ns))

    @classmethod
    def from_policy(cls, policy: Policy) -> Detector[P]:
        """Build with this detector's section of the policy; bad params name their key."""
        section = policy.for_detector(cls.name)
        try:
            params = cls.params_model.model_validate(section.params)
        except ValidationError as error:
            raise PolicyError(describe_errors(error, f"policy: detectors.{cls.name}.params")) from None
        return cls(params, policy, section)  # type: ignore[arg-type]

    @abstractmethod
    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        """Score every possible incident in ``ctx.window`` (higher = more anomalous)."""

    def live_agents(self, ctx: EvalContext) -> set[str]:
        """For ``early_by_agent``: the agents whose windows the changed traces (``ctx``, a
        trace-scoped live context) could have moved; keep it small and specific."""
        return set()

    def decide(self, candidate: Candidate) -> Severity | None:
        """Threshold the score: below it nothing, then WARNING, HIGH, CRITICAL by bands."""
        if candidate.score < self.threshold:
            return None
        if candidate.score >= self.threshold * self.high_ratio * 2:
            return Severity.CRITICAL
        if candidate.score >= self.threshold * self.high_ratio:
            return Severity.HIGH
        return Severity.WARNING

    @property
    def resolve_after_ns(self) -> int:
        """Event time an incident must go unseen before it is resolved."""
        return max(2 * self.slide_ns, 60 * SECOND_NS)
