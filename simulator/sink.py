"""Collects finished spans from every agent's provider and releases them in end-time order.

Turns are emitted whole, so a span can be ended (in the SDK) before its simulated end time has
come. The collector holds such spans back until the simulated clock passes their end, which is
when a real exporter would have sent them; that moment is each batch's send-time offset.
"""

from __future__ import annotations

import heapq
import itertools

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor


class SpanCollector(SpanProcessor):
    """A span processor shared by all simulated agents; nothing leaves it until released."""

    def __init__(self) -> None:
        self._pending: list[tuple[int, int, ReadableSpan]] = []
        self._order = itertools.count()
        self.total = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        end = span.end_time or 0
        heapq.heappush(self._pending, (end, next(self._order), span))
        self.total += 1

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def pending(self) -> int:
        return len(self._pending)

    def release(self, until_ns: int | None, limit: int) -> list[ReadableSpan]:
        """Up to ``limit`` spans that ended by ``until_ns`` (all of them when None), oldest first."""
        released: list[ReadableSpan] = []
        while self._pending and len(released) < limit:
            end, _, span = self._pending[0]
            if until_ns is not None and end > until_ns:
                break
            heapq.heappop(self._pending)
            released.append(span)
        return released

    def next_end(self) -> int | None:
        return self._pending[0][0] if self._pending else None
