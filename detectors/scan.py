"""What arrived since the ingest cursor: per tenant, the event-time range of the new spans and the
traces they belong to.

Inserts that run concurrently can commit out of IngestedAt order, so a scan that only looked past
the newest IngestedAt seen could step over a row committed late with an older stamp. The scan
therefore re-reads an overlap before the cursor and remembers how many spans it had already seen
there per trace and insert stamp (IngestedAt): a trace counts as new only when it gained spans,
and spans it gained at or before the cursor are a late commit (``late``), which the span tail
then reads apart instead of re-reading the whole overlap. When nothing is new this is one query
over the overlap's granules (the IngestedAt minmax index).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import polars as pl
from clickhouse_connect.driver.client import Client

_SCAN_SQL = """
SELECT TenantId AS tenant, TraceId AS trace, toUnixTimestamp64Nano(IngestedAt) AS ingested,
       count() AS spans, countIf(ParentSpanId = '') AS roots,
       min(toUnixTimestamp64Nano(Timestamp)) AS low,
       minIf(toUnixTimestamp64Nano(Timestamp), ParentSpanId = '') AS root_ts,
       maxIf(toUnixTimestamp64Nano(Timestamp),
             Timestamp <= IngestedAt + toIntervalMillisecond({skew_ms:Int64})) AS high
FROM otel_traces
WHERE IngestedAt > fromUnixTimestamp64Nano({since:Int64})
GROUP BY TenantId, TraceId, IngestedAt
"""
_PAIR = ["tenant", "trace", "ingested"]


@dataclass
class NewData:
    tenant: str
    min_ns: int
    max_ns: int
    traces: list[str] = field(default_factory=list)  # newest span first
    rooted: set[str] = field(default_factory=set)  # traces whose root span was among the rows
    # Where each trace's spans begin, as far as the overlap shows: its root's start once the
    # root is in view (spans are exported when they end, the root last), else its earliest span
    # there. Exact for rooted traces; for the others a bound a later span may move back.
    starts: dict[str, int] = field(default_factory=dict)
    # Each trace's newest insert stamp (IngestedAt, ns) among the rows read, and the newest
    # stamp the scan read of any trace: how long a trace has been quiet, in ingest time.
    ingested: dict[str, int] = field(default_factory=dict)
    read_to_ns: int | None = None
    # When the scan that found these began, on the engine's clock (time.monotonic): quiet is
    # measured from one scan to the next, not from whenever the live lane got to the tenant.
    read_at: float | None = None


class IngestScanner:
    """Scans past ``cursor - overlap``; reports each trace again only when it gained spans.

    At 10,000 spans/s the overlap holds tens of thousands of traces: the comparison with the
    previous scan is one polars join, not a Python loop per trace."""

    def __init__(self, client: Client, overlap_ns: int, skew_ms: int) -> None:
        self._client, self._overlap, self._skew_ms = client, overlap_ns, skew_ms
        self._seen = pl.DataFrame(schema={"tenant": pl.String, "trace": pl.String,
                                          "ingested": pl.Int64, "seen": pl.UInt64})
        self.since = 0  # the lower IngestedAt bound of the last scan (the span tail reads from it)
        self.late: list[str] = []  # traces with spans committed at or before the cursor, unseen
        self.read_at: float | None = None  # when the last scan began (time.monotonic)

    def scan(self, cursor_ns: int) -> tuple[list[NewData], int | None]:
        """New spans per tenant, and the newest IngestedAt seen (the next cursor)."""
        since = self.since = max(0, cursor_ns - self._overlap) if cursor_ns else 0
        self.read_at = time.monotonic()
        arrow = self._client.query_arrow(_SCAN_SQL, parameters={"since": since, "skew_ms": self._skew_ms})
        rows = pl.from_arrow(arrow)
        assert isinstance(rows, pl.DataFrame)
        rows = rows.cast({"tenant": pl.String, "trace": pl.String, "ingested": pl.Int64, "spans": pl.UInt64})
        grown = rows.join(self._seen, on=_PAIR, how="left").filter(
            pl.col("seen").is_null() | (pl.col("spans") > pl.col("seen")))
        self.late = grown.filter(pl.col("ingested") <= cursor_ns)["trace"].unique().to_list()
        # Only the overlap's pairs: anything older is never re-read.
        self._seen = rows.select(*_PAIR, pl.col("spans").alias("seen"))
        newest = rows["ingested"].max() if rows.height else None
        read_to = None if newest is None else int(newest)  # type: ignore[arg-type]
        news = self._per_tenant(rows.join(grown.select("tenant", "trace").unique(),
                                          on=["tenant", "trace"], how="semi"), read_to, self.read_at)
        return news, None if read_to is None else max(read_to, cursor_ns)

    @staticmethod
    def _per_tenant(rows: pl.DataFrame, read_to: int | None, read_at: float) -> list[NewData]:
        """The grown traces' rows (every insert stamp of theirs in the overlap), per tenant."""
        traces = rows.group_by("tenant", "trace").agg(
            pl.col("low").min(), pl.col("high").max(), pl.col("roots").sum(),
            pl.col("root_ts").filter(pl.col("roots") > 0).min(), pl.col("ingested").max())
        # Newest first: on a backlog the live lane judges the traces that moved last.
        per_tenant = traces.with_columns(
            newest=pl.max_horizontal("low", "high"),
            start=pl.when(pl.col("roots") > 0).then(pl.col("root_ts")).otherwise(pl.col("low")),
        ).group_by("tenant", maintain_order=True).agg(
            pl.col("low").min(), pl.col("newest").max().alias("high"),
            pl.col("trace").sort_by("newest", descending=True),
            pl.col("trace").filter(pl.col("roots") > 0).alias("rooted"),
            pl.col("start").sort_by("newest", descending=True),
            pl.col("ingested").sort_by("newest", descending=True))
        return [NewData(str(t), int(low), int(high), [str(x) for x in traces], {str(x) for x in rooted},
                        dict(zip(traces, (int(s) for s in starts), strict=True)),
                        dict(zip(traces, (int(i) for i in ingested), strict=True)), read_to, read_at)
                for t, low, high, traces, rooted, starts, ingested in per_tenant.iter_rows()]
