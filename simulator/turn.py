"""One turn of an agent's work: the ``invoke_agent`` root span and the spans inside it.

Child spans are laid out one after another on the turn's own time cursor (a model call, then a
tool call, then a reply, ...), each with explicit start and end times. ``sparse`` turns drop the
optional attributes listed in SPARSE_DROPPED, to model agents that are instrumented less fully.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind, Status, StatusCode

from simulator.clock import seconds
from simulator.ids import trace_hex
from simulator.roster import Principal

if TYPE_CHECKING:
    from simulator.agent import SimAgent

SPARSE_DROPPED = frozenset(
    {
        "fleet.action.kind", "fleet.principal.name", "fleet.trigger", "gen_ai.conversation.id",
        "fleet.message.recipients", "fleet.records.count", "fleet.resource.bytes", "fleet.topic",
        "fleet.instruction.urgent", "gen_ai.tool.call.id", "fleet.claim.subject",
    }
)


@dataclass(frozen=True)
class MessageRef:
    """A sent message, so the receiving agent's turn can link back to the send span."""

    message_id: str
    trace_id: int
    span_id: int
    sender: Principal
    recipients: tuple[str, ...]
    sent_ns: int


class Turn:
    def __init__(
        self,
        agent: SimAgent,
        root: trace_api.Span,
        start_ns: int,
        *,
        sparse: bool,
        on_end: Callable[[Turn], None] | None,
    ) -> None:
        self.agent = agent
        self.start_ns = start_ns
        self.cursor = start_ns
        self.end_ns: int | None = None
        self.sparse = sparse
        self._root = root
        self._context = trace_api.set_span_in_context(root)
        self._on_end = on_end
        self.trace_id = root.get_span_context().trace_id

    @property
    def trace_hex(self) -> str:
        return trace_hex(self.trace_id)

    @staticmethod
    def clean(attributes: dict[str, Any], sparse: bool) -> dict[str, Any]:
        return {
            key: value for key, value in attributes.items()
            if value is not None and not (sparse and key in SPARSE_DROPPED)
        }

    @staticmethod
    def messages(role: str, text: str) -> str:
        """OpenTelemetry GenAI message JSON for opt-in content attributes."""
        return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])

    def think(self, duration_s: float) -> None:
        """Time passes inside the turn without a span (waiting, reading, deliberating)."""
        self.cursor += seconds(duration_s)

    def _jitter(self, low: float, high: float) -> float:
        return self.agent.rng.uniform(low, high)

    def _emit(self, name: str, kind: SpanKind, attributes: dict[str, Any], duration_s: float,
              error: str | None = None) -> trace_api.SpanContext:
        start = self.cursor + seconds(self._jitter(0.005, 0.08))
        span = self.agent.tracer.start_span(
            name, context=self._context, kind=kind,
            attributes=self.clean(attributes, self.sparse), start_time=start,
        )
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        self.cursor = start + seconds(duration_s)
        span.end(end_time=self.cursor)
        return span.get_span_context()

    def chat(self, input_tokens: int, output_tokens: int, *, finish: str = "stop",
             error: str | None = None, topic: str | None = None, prompt: str | None = None,
             answer: str | None = None) -> None:
        profile = self.agent.profile
        content = profile.capture_content
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": profile.provider,
            "gen_ai.request.model": profile.model,
            "gen_ai.response.model": None if error else profile.model,
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.response.finish_reasons": [finish],
            "error.type": error,
            "fleet.topic": topic,
            "gen_ai.input.messages": self.messages("user", prompt) if content and prompt else None,
            "gen_ai.output.messages": self.messages("assistant", answer) if content and answer else None,
        }
        duration = 0.3 + output_tokens * 0.012 * self._jitter(0.7, 1.3)
        self._emit(f"chat {profile.model}", SpanKind.CLIENT, attributes, duration, error)

    def tool(self, name: str, kind: str, target: str | None = None, *, error: str | None = None,
             size_bytes: int | None = None, records: int | None = None, process: str | None = None,
             process_state: str | None = None, arguments: dict[str, Any] | None = None,
             result: dict[str, Any] | None = None, duration_s: float | None = None,
             extra: dict[str, Any] | None = None) -> None:
        content = self.agent.profile.capture_content
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.id": self.agent.next_id("call"),
            "fleet.action.kind": kind,
            "fleet.action.target": target,
            "fleet.resource.bytes": size_bytes,
            "fleet.records.count": records,
            "fleet.process.id": process,
            "fleet.process.state": process_state,
            "error.type": error,
            "gen_ai.tool.call.arguments": json.dumps(arguments) if content and arguments else None,
            "gen_ai.tool.call.result": json.dumps(result) if content and result else None,
            **(extra or {}),
        }
        duration = duration_s if duration_s is not None else self._jitter(0.05, 1.5)
        self._emit(f"execute_tool {name}", SpanKind.INTERNAL, attributes, duration, error)

    def send(self, recipients: Sequence[str], *, destination: str, system: str = "discord",
             text: str | None = None) -> MessageRef:
        message_id = self.agent.next_id("m")
        content = self.agent.profile.capture_content
        attributes: dict[str, Any] = {
            "messaging.operation.type": "send",
            "messaging.system": system,
            "messaging.destination.name": destination,
            "messaging.message.id": message_id,
            "fleet.message.recipients": list(recipients),
            "gen_ai.output.messages": self.messages("assistant", text) if content and text else None,
        }
        context = self._emit(f"send {destination}", SpanKind.PRODUCER, attributes,
                             self._jitter(0.05, 0.4))
        return MessageRef(message_id, context.trace_id, context.span_id,
                          self.agent.profile.principal, tuple(recipients), self.cursor)

    def claim(self, status: str, subject: str | None = None) -> None:
        """What the agent tells its principal about the task (set on the invoke_agent span)."""
        self._root.set_attributes(self.clean({"fleet.claim": status, "fleet.claim.subject": subject},
                                             self.sparse))

    def end(self) -> int:
        if self.end_ns is None:
            self.end_ns = self.cursor + seconds(self._jitter(0.001, 0.02))
            self._root.end(end_time=self.end_ns)
            if self._on_end is not None:
                self._on_end(self)
        return self.end_ns
