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
covers them), and a trace whose root never shows up is dropped after ``give_up_s``. The waiting
traces are a polars frame per tenant, not Python objects: at 10,000 spans/s thousands change each
tick and tens of thousands wait for their roots, and the per-trace Python bookkeeping was a fifth
of the live lane's samples in a profile of the bench (docs/benchmarks.md, session 12).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

GIVE_UP_S = 600.0
MAX_PENDING = 100_000
# Quiet this much short of the settle time counts: scans start one tick interval apart give or
# take a few milliseconds of scheduling, and with the settle time equal to the interval (the
# default) a trace must not wait a third tick for those milliseconds.
JITTER_S = 0.02

# One row per waiting trace, oldest change first.
_PENDING = {
    "trace": pl.String,
    "changed_at": pl.Float64,  # when the scan that last saw the trace change began (monotonic s)
    "rooted": pl.Boolean,  # its root span has been seen
    "start": pl.Int64,  # where its spans begin (the scan's ``NewData.starts``); null: unknown
    "ingested": pl.Int64,  # its newest span's insert stamp (ns); null: unknown
}


@dataclass
class SettlingTraces:
    settle_s: float
    max_pending: int = MAX_PENDING
    give_up_s: float = GIVE_UP_S
    dropped: int = 0  # traces dropped unjudged (cap or no root in time)
    _pending: dict[str, pl.DataFrame] = field(default_factory=dict)

    def note(self, tenant: str, traces: list[str], rooted: set[str], now: float,
             starts: dict[str, int] | None = None, ingested: dict[str, int] | None = None) -> None:
        """``traces`` changed at ``now`` (engine clock); those in ``rooted`` had their root span
        among the spans read; ``starts`` bounds where their spans begin; ``ingested`` holds
        their newest insert stamps (ns)."""
        if not traces:
            return
        found, stamps = starts or {}, ingested or {}
        changed = pl.DataFrame({
            "trace": traces, "changed_at": [now] * len(traces), "rooted": [t in rooted for t in traces],
            "start": [found.get(t) for t in traces], "ingested": [stamps.get(t) for t in traces],
        }, schema=_PENDING).unique("trace", keep="last", maintain_order=True)
        before = self._waiting(tenant)
        merged = changed.join(before, on="trace", how="left", suffix="_before", maintain_order="left").select(
            "trace", "changed_at",
            pl.col("rooted") | pl.col("rooted_before").fill_null(False),
            pl.min_horizontal("start", "start_before"),
            pl.max_horizontal("ingested", "ingested_before"),  # (a late commit has an older stamp)
        )
        # Changed traces go last: the frame stays oldest change first.
        pending = pl.concat([before.join(changed.select("trace"), on="trace", how="anti",
                                         maintain_order="left"), merged])
        if pending.height > self.max_pending:
            self.dropped += pending.height - self.max_pending
            pending = pending.tail(self.max_pending)
        self._pending[tenant] = pending

    def ready(self, tenant: str, now: float, read_to_ns: int | None = None) -> dict[str, int | None]:
        """The tenant's traces that settled (rooted, quiet for ``settle_s``), removed, oldest
        first, each with where its spans begin (None: not known). ``read_to_ns``: the newest
        insert stamp the scan read."""
        pending = self._waiting(tenant)
        if pending.is_empty():
            return {}
        waited = pl.lit(now) - pl.col("changed_at")
        quiet = waited if read_to_ns is None else pl.max_horizontal(
            waited, (pl.lit(read_to_ns) - pl.col("ingested")) / 1e9)  # a null stamp: waited
        marked = pending.with_columns(
            settled=pl.col("rooted") & (quiet >= self.settle_s - JITTER_S),
            stale=waited >= self.give_up_s)
        settled = marked.filter("settled")
        stale = marked.filter(~pl.col("settled") & pl.col("stale")).height
        self._pending[tenant] = marked.filter(~pl.col("settled") & ~pl.col("stale")).select(*_PENDING)
        self.dropped += stale
        return dict(zip(settled["trace"].to_list(), settled["start"].to_list(), strict=True))

    def waiting(self, tenant: str) -> int:
        return self._waiting(tenant).height

    def tenants(self) -> list[str]:
        return [t for t, pending in self._pending.items() if pending.height]

    def _waiting(self, tenant: str) -> pl.DataFrame:
        return self._pending.get(tenant, pl.DataFrame(schema=_PENDING))
