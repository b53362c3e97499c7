"""Changed traces held back from the live lane until they have settled.

A trace's spans can arrive over several inserts, and for some detectors a later span takes
evidence back (false_completion: the retry that succeeded, the turn's own act on its subject;
silent_failures: a successful retry in the same turn; loops: the turns that follow). Those
detectors (``live_settle``) judge a changed trace live only once its root span is in view -
spans are exported when they end and the root ends last, so the turn is over - and it has been
quiet (no new spans) for ``settle_s``. The other live detectors' findings only grow with more
spans, so they judge every change at once.

Quiet is measured two ways and the longer counts: in ingest time, from the trace's newest
insert stamp (IngestedAt) to the newest stamp the scan read of any trace - both on the
database's clock, so a trace already quiet when a tick first saw it is not held a tick longer -
and on the engine's clock since the scan that last saw it change began (when nothing at all is
being inserted, the scan's newest stamp stands still). Measured only on the engine's clock, and
from when the live lane got to the trace rather than from the scan, a 1 s settle held traces
two 1 s ticks whenever the second tick's scan and tail update ran a little quicker than the
first's.

Bounded: at most ``max_pending`` traces per tenant wait (the oldest are dropped, the sweep
covers them), and a trace whose root never shows up is dropped after ``give_up_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GIVE_UP_S = 600.0
MAX_PENDING = 100_000
# Quiet this much short of the settle time counts: scans start one tick interval apart give or
# take a few milliseconds of scheduling, and with the settle time equal to the interval (the
# default) a trace must not wait a third tick for those milliseconds.
JITTER_S = 0.02


@dataclass
class _Pending:
    changed_at: float  # when the scan that last saw the trace change began (time.monotonic)
    rooted: bool  # its root span has been seen
    start: int | None = None  # where its spans begin (the scan's ``NewData.starts``), if known
    ingested_ns: int | None = None  # its newest span's insert stamp, if known


@dataclass
class SettlingTraces:
    settle_s: float
    max_pending: int = MAX_PENDING
    give_up_s: float = GIVE_UP_S
    dropped: int = 0  # traces dropped unjudged (cap or no root in time)
    _pending: dict[str, dict[str, _Pending]] = field(default_factory=dict)

    def note(self, tenant: str, traces: list[str], rooted: set[str], now: float,
             starts: dict[str, int] | None = None, ingested: dict[str, int] | None = None) -> None:
        """``traces`` changed at ``now`` (engine clock); those in ``rooted`` had their root span
        among the spans read; ``starts`` bounds where their spans begin; ``ingested`` holds
        their newest insert stamps (ns)."""
        pending = self._pending.setdefault(tenant, {})
        found, stamps = starts or {}, ingested or {}
        for trace in traces:
            before = pending.pop(trace, None)  # re-inserted last: the dict stays oldest-first
            start, stamp = found.get(trace), stamps.get(trace)
            if before is not None:
                start = _least(start, before.start)
                if stamp is not None and before.ingested_ns is not None:
                    stamp = max(stamp, before.ingested_ns)  # (a late commit has an older stamp)
            pending[trace] = _Pending(now, trace in rooted or (before is not None and before.rooted),
                                      start, stamp)
        while len(pending) > self.max_pending:
            del pending[next(iter(pending))]
            self.dropped += 1

    def ready(self, tenant: str, now: float, read_to_ns: int | None = None) -> dict[str, int | None]:
        """The tenant's traces that settled (rooted, quiet for ``settle_s``), removed, oldest
        first, each with where its spans begin (None: not known). ``read_to_ns``: the newest
        insert stamp the scan read."""
        pending = self._pending.get(tenant, {})
        settled: dict[str, int | None] = {}
        stale: list[str] = []
        for trace, state in pending.items():
            waited = now - state.changed_at
            quiet = waited
            if read_to_ns is not None and state.ingested_ns is not None:
                quiet = max(quiet, (read_to_ns - state.ingested_ns) / 1e9)
            if state.rooted and quiet >= self.settle_s - JITTER_S:
                settled[trace] = state.start
            elif waited >= self.give_up_s:
                stale.append(trace)
        for trace in [*settled, *stale]:
            del pending[trace]
        self.dropped += len(stale)
        return settled

    def waiting(self, tenant: str) -> int:
        return len(self._pending.get(tenant, {}))

    def tenants(self) -> list[str]:
        return [t for t, pending in self._pending.items() if pending]


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)
