"""A simulated agent instrumented with the real OpenTelemetry SDK.

One ``TracerProvider`` and ``Resource`` per agent, as a real deployment would have. Spans are
started and ended with explicit timestamps from the simulated clock. A ``Turn`` is one piece of
work (an ``invoke_agent`` root span) and lays its child spans out one after another on its own
time cursor, following docs/conventions.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

from simulator.ids import SeededIdGenerator, derive_seed, derived_rng
from simulator.roster import AgentProfile, Principal
from simulator.turn import MessageRef, Turn

SCOPE_NAME = "fleetwatch.simulator"
SCOPE_VERSION = "0.1.0"


def agent_resource(profile: AgentProfile) -> Resource:
    """Resource attributes per conventions; built directly so no environment variable leaks in."""
    return Resource(
        {
            "service.name": profile.agent_id.removeprefix("agent-"),
            "gen_ai.agent.id": profile.agent_id,
            "gen_ai.agent.name": profile.name,
            "fleet.agent.owners": list(profile.owner_ids),
            "fleet.agent.principal": profile.principal.id,
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
        }
    )


def link_to(message: MessageRef) -> Link:
    context = SpanContext(
        message.trace_id, message.span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return Link(context, {"messaging.message.id": message.message_id})


class SimAgent:
    """Emits one agent's spans; ids and timing jitter come from streams seeded by its id."""

    def __init__(self, profile: AgentProfile, seed: int, processor: SpanProcessor,
                 id_salt: str = "") -> None:
        self.profile = profile
        self.rng = derived_rng(seed, "timing", profile.agent_id)
        self._provider = TracerProvider(
            sampler=ALWAYS_ON,
            resource=agent_resource(profile),
            # Salted with the run id: two different runs with the same seed never share ids.
            id_generator=SeededIdGenerator(derive_seed(seed, "ids", id_salt, profile.agent_id)),
            shutdown_on_exit=False,
        )
        self._provider.add_span_processor(processor)
        self.tracer = self._provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)
        self._counter = 0
        self.turns_started = 0  # scenarios read it to size a change to the agent's own pace

    @property
    def id(self) -> str:
        return self.profile.agent_id

    def next_id(self, prefix: str) -> str:
        """Sequential per-agent ids (message ids, tool call ids, conversation ids)."""
        self._counter += 1
        return f"{prefix}-{self.profile.name.lower().replace(' ', '')}-{self._counter}"

    def turn(
        self,
        at_ns: int,
        *,
        sender: Principal | None,
        channel: str,
        trigger: str,
        conversation: str | None = None,
        urgent: bool = False,
        inbound: MessageRef | None = None,
        prompt: str | None = None,
        sparse: bool = False,
        on_end: Callable[[Turn], None] | None = None,
    ) -> Turn:
        """Start handling one inbound instruction, message, cron tick or heartbeat."""
        self.turns_started += 1
        attributes: dict[str, object] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": self.id,
            "gen_ai.agent.name": self.profile.name,
            "fleet.channel": channel,
            "fleet.trigger": trigger,
            "gen_ai.conversation.id": conversation,
            "fleet.instruction.urgent": True if urgent else None,
        }
        if sender is not None:
            attributes["fleet.principal.id"] = sender.id
            attributes["fleet.principal.name"] = sender.name
        if inbound is not None:
            attributes["messaging.message.id"] = inbound.message_id
        if prompt is not None and self.profile.capture_content:
            attributes["gen_ai.input.messages"] = Turn.messages("user", prompt)
        links: Sequence[Link] = [link_to(inbound)] if inbound is not None else ()
        root = self.tracer.start_span(
            f"invoke_agent {self.profile.name}",
            kind=SpanKind.INTERNAL,
            attributes=Turn.clean(attributes, sparse),
            links=links,
            start_time=at_ns,
        )
        return Turn(self, root, at_ns, sparse=sparse, on_end=on_end)

    def shutdown(self) -> None:
        self._provider.shutdown()


__all__ = ["MessageRef", "SimAgent", "Turn", "agent_resource", "link_to"]
