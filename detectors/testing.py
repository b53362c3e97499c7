"""Build synthetic spans that follow docs/conventions.md, for testing detectors.

Detector authors (ours and third parties) use this to write positives and benign look-alikes
without an OpenTelemetry pipeline: ``fleet = SyntheticFleet(); fleet.agent("ash", owners=[...])``,
then ``fleet.instruction(...)``, ``fleet.tool(...)``, ``fleet.send(...)`` and
``fleet.insert(client)``. Times are seconds after ``origin_ns``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from collector.spans_table import SpanColumns, empty_columns
from collector.writer import insert_spans

ORIGIN_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z


@dataclass
class SyntheticFleet:
    tenant: str = "default"
    origin_ns: int = ORIGIN_NS
    _resources: dict[str, dict[str, str]] = field(default_factory=dict)
    _columns: SpanColumns = field(default_factory=empty_columns)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def agent(self, agent: str, owners: list[str] | None = None, principal: str | None = None,
              name: str | None = None) -> None:
        resource = {"service.name": agent, "gen_ai.agent.id": agent, "fleet.tenant.id": self.tenant}
        if owners is not None:
            resource["fleet.agent.owners"] = json.dumps(owners)
        if principal is not None:
            resource["fleet.agent.principal"] = principal
        if name is not None:
            resource["gen_ai.agent.name"] = name
        self._resources[agent] = resource

    def new_trace(self) -> str:
        return f"{next(self._ids):032x}"

    def span(self, agent: str, at: float, attrs: dict[str, Any], *, trace: str | None = None,
             name: str = "span", error: bool = False, duration: float = 0.1) -> tuple[str, str]:
        """Append one span; returns (trace id, span id)."""
        if agent not in self._resources:
            self.agent(agent)
        trace_id = trace or self.new_trace()
        span_id = f"{next(self._ids):016x}"
        c = self._columns
        values: dict[str, Any] = {
            "Timestamp": self.origin_ns + int(at * 1e9), "TraceId": trace_id, "SpanId": span_id,
            "ParentSpanId": "", "TraceState": "", "SpanName": name, "SpanKind": "SPAN_KIND_INTERNAL",
            "ServiceName": agent, "ResourceAttributes": self._resources[agent], "ScopeName": "test",
            "ScopeVersion": "", "SpanAttributes": {k: _text(v) for k, v in attrs.items()},
            "Duration": int(duration * 1e9),
            "StatusCode": "STATUS_CODE_ERROR" if error else "STATUS_CODE_UNSET",
            "StatusMessage": "", "Events.Timestamp": [], "Events.Name": [],
            "Events.Attributes": [], "Links.TraceId": [], "Links.SpanId": [],
            "Links.TraceState": [], "Links.Attributes": [], "KafkaTopic": "", "KafkaTopicId": "",
            "KafkaPartition": -1, "KafkaOffset": -1,
        }
        for column, value in values.items():
            c[column].append(value)
        return trace_id, span_id

    def instruction(self, agent: str, principal: str, at: float, *, name: str = "",
                    channel: str = "discord:#general", text: str | None = None,
                    **extra: Any) -> str:
        """An inbound instruction (invoke_agent); returns the new turn's trace id."""
        attrs: dict[str, Any] = {"gen_ai.operation.name": "invoke_agent",
                                 "fleet.principal.id": principal, "fleet.channel": channel}
        if name:
            attrs["fleet.principal.name"] = name
        if text is not None:
            attrs["gen_ai.input.messages"] = [{"role": "user", "content": text}]
        attrs.update({k.replace("__", "."): v for k, v in extra.items()})
        trace, _ = self.span(agent, at, attrs, name="invoke_agent")
        return trace

    def tool(self, agent: str, tool: str, at: float, trace: str, *, error: bool = False,
             **attrs: Any) -> tuple[str, str]:
        base: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}
        base.update({k.replace("__", "."): v for k, v in attrs.items()})
        return self.span(agent, at, base, trace=trace, name=f"execute_tool {tool}", error=error)

    def send(self, agent: str, recipients: list[str], at: float, trace: str | None = None,
             text: str | None = None, **attrs: Any) -> tuple[str, str]:
        base: dict[str, Any] = {"messaging.operation.type": "send",
                                "fleet.message.recipients": recipients}
        if text is not None:
            base["gen_ai.input.messages"] = [{"role": "assistant", "content": text}]
        base.update({k.replace("__", "."): v for k, v in attrs.items()})
        return self.span(agent, at, base, trace=trace, name="send")

    def chat(self, agent: str, at: float, trace: str, *, input_tokens: int = 100,
             output_tokens: int = 50, error: bool = False, **attrs: Any) -> tuple[str, str]:
        base: dict[str, Any] = {"gen_ai.operation.name": "chat",
                                "gen_ai.usage.input_tokens": input_tokens,
                                "gen_ai.usage.output_tokens": output_tokens}
        base.update({k.replace("__", "."): v for k, v in attrs.items()})
        return self.span(agent, at, base, trace=trace, name="chat", error=error)

    def insert(self, client: Client) -> int:
        rows = insert_spans(client, self._columns)
        self._columns = empty_columns()
        return rows


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def judge(client: Client, detector: Any, start: float, end: float, *,
          tenant: str = "default", origin_ns: int = ORIGIN_NS,
          baselines: Any = None) -> list[tuple[Any, Any]]:
    """Run one detector on one window [start, end) seconds; return (candidate, severity) pairs
    the detector decided to report."""
    from detectors.context import Baseline, EvalContext
    from detectors.model import Window
    from detectors.state import BaselineStore

    store = baselines if baselines is not None else BaselineStore(client)
    window = Window(tenant, origin_ns + int(start * 1e9), origin_ns + int(end * 1e9))
    ctx = EvalContext(client, window, detector.policy, Baseline(store, tenant, detector.name))
    decided = [(c, detector.decide(c)) for c in detector.candidates(ctx)]
    return [(c, s) for c, s in decided if s is not None]
