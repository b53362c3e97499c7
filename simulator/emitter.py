"""Moves finished spans from the collector to the transport in batches, at simulated send times.

In simulated mode batches go out as soon as they fill up or a flush interval of simulated time
has passed; in realtime mode the pacer first waits for the wall clock, so spans arrive when a
live agent's exporter would have sent them.
"""

from __future__ import annotations

from simulator.clock import Pacer
from simulator.sink import SpanCollector
from simulator.transport import Transport


class Emitter:
    def __init__(self, collector: SpanCollector, transport: Transport, start_ns: int, *,
                 batch_spans: int, interval_ns: int, pacer: Pacer | None) -> None:
        self._collector = collector
        self._transport = transport
        self._start_ns = start_ns
        self._batch = batch_spans
        self._interval_ns = interval_ns
        self._pacer = pacer
        self._last_flush = start_ns
        self.spans = 0

    def before_event(self, when_ns: int) -> None:
        """Called by the world before each event: pace, then flush what is due."""
        if self._pacer is not None:
            self._pacer.wait_until(when_ns)
        full = self._collector.pending() >= self._batch * 4
        if full or when_ns - self._last_flush >= self._interval_ns:
            self.flush(until_ns=when_ns)

    def flush(self, until_ns: int | None, at_ns: int | None = None) -> None:
        """Send spans that ended by ``until_ns`` (all when None), stamped as sent at ``at_ns``."""
        sent_at = at_ns if at_ns is not None else until_ns if until_ns is not None else self._last_flush
        while batch := self._collector.release(until_ns, self._batch):
            self._transport.send(batch, sent_at - self._start_ns)
            self.spans += len(batch)
        self._last_flush = max(self._last_flush, sent_at)

    def finish(self, end_ns: int) -> None:
        """Send everything still held. A paced run lasts until ``end_ns`` and then flushes what
        is left at once, as an exporter does on shutdown; a simulated run sends each remaining
        group at the time its spans have ended."""
        if self._pacer is not None:
            self._pacer.wait_until(end_ns)
            self.flush(until_ns=None, at_ns=max(end_ns, self._last_flush))
            return
        while (next_end := self._collector.next_end()) is not None:
            self.flush(until_ns=next_end + self._interval_ns)
