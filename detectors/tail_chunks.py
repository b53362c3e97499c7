"""The span tail's storage: per shared frame and tenant, a list of immutable polars chunks (one
per tick's update or seed slice, merged as they age), evicted oldest first.

Chunks are never changed in place, so a reader can concatenate the ones it picked outside the
tail's lock while the engine adds and evicts. The caller (detectors/tail.py) holds the lock
around every method here.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

COMPACT_ABOVE = 48  # chunks per frame and tenant before the oldest small ones are merged
COMPACT_COUNT = 32
SMALL_ROWS = 200_000  # chunks bigger than this are left alone by merging
_KEY = ["trace", "span"]


@dataclass(frozen=True)
class Chunk:
    frame: pl.DataFrame
    low: int  # earliest event time in the chunk
    high: int  # latest event time
    ingested: int  # latest IngestedAt (the next update's overlap is checked against it)
    size: int  # bytes, estimated

    @classmethod
    def of(cls, frame: pl.DataFrame, ingested: int) -> Chunk:
        frame = frame.unique(_KEY, keep="first", maintain_order=True)  # a redelivered span once
        low, high = (int(frame["ts"].min()), int(frame["ts"].max())) if frame.height else (0, 0)  # type: ignore[arg-type]
        return cls(frame, low, high, ingested, int(frame.estimated_size()))


class Chunks:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lists: dict[tuple[str, str], list[Chunk]] = {}
        self.rows = 0
        self.bytes = 0
        self.evicted_to = 0  # spans before this event time may have been dropped

    def add_new(self, name: str, per_tenant: dict[str, Chunk], since: int) -> None:
        """An update's rows: spans already held from the previous updates' overlap are dropped."""
        for tenant, chunk in per_tenant.items():
            held = self._lists.setdefault((name, tenant), [])
            recent = [c.frame.select(_KEY) for c in held if c.ingested > since]
            if recent:
                fresh = chunk.frame.join(pl.concat(recent), on=_KEY, how="anti")
                chunk = Chunk.of(fresh, chunk.ingested)
            self._append(held, chunk, at_end=True)
            if len(held) > COMPACT_ABOVE:
                self._compact(held)
        self._cap()

    def add_old(self, name: str, per_tenant: dict[str, Chunk]) -> None:
        """A seed slice's rows (ingested before the first update: none held yet)."""
        for tenant, chunk in per_tenant.items():
            self._append(self._lists.setdefault((name, tenant), []), chunk, at_end=False)
        self._cap()

    def evict(self, horizon: int) -> None:
        """Drop what lies wholly before ``horizon``; then the oldest while over ``max_bytes``."""
        self._drop_before(max(self.evicted_to, horizon))
        self._cap()

    def overlapping(self, name: str, tenant: str, start: int, end: int) -> list[pl.DataFrame]:
        return [c.frame for c in self._lists.get((name, tenant), ()) if c.high >= start and c.low < end]

    def _append(self, held: list[Chunk], chunk: Chunk, at_end: bool) -> None:
        if chunk.frame.height == 0:
            return
        held.insert(len(held) if at_end else 0, chunk)
        self.rows += chunk.frame.height
        self.bytes += chunk.size

    def _cap(self) -> None:
        while self.bytes > self.max_bytes:
            highs = [c.high for held in self._lists.values() for c in held]
            if not highs:
                break
            self._drop_before(min(highs) + 1)

    def _drop_before(self, cut: int) -> None:
        self.evicted_to = max(self.evicted_to, cut)
        for key, held in self._lists.items():
            gone = [c for c in held if c.high < cut]
            if gone:
                self._lists[key] = [c for c in held if c.high >= cut]
                self.rows -= sum(c.frame.height for c in gone)
                self.bytes -= sum(c.size for c in gone)

    def _compact(self, held: list[Chunk]) -> None:
        """Merge the oldest small chunks into one: fewer, bigger chunks read faster."""
        small = sorted((c for c in held if c.frame.height < SMALL_ROWS), key=lambda c: c.high)
        merged = small[:COMPACT_COUNT]
        if len(merged) < 2:
            return
        frame = pl.concat([c.frame for c in merged], how="vertical", rechunk=True)
        chunk = Chunk(frame, min(c.low for c in merged), max(c.high for c in merged),
                      max(c.ingested for c in merged), int(frame.estimated_size()))
        ids = {id(c) for c in merged}
        held[:] = [c for c in held if id(c) not in ids] + [chunk]
        self.bytes += chunk.size - sum(c.size for c in merged)
