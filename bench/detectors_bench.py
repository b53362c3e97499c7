"""Detector engine under live load: spans/s sustained, tick durations, engine CPU, and the latency
from an incident's evidence being received to its alert being written.

    python bench/detectors_bench.py --rate 10000 --seconds 60

What it does (one process, because chDB allows one data directory per process):

1. Pre-generates the traffic with the simulator (fleet of ``--agents`` agents, benign background
   sized for ``--rate`` spans/s, plus one CS1 "nuclear reset" incident every
   ``--incident-every`` seconds) as pre-encoded OTLP requests, cached under /tmp.
2. Optionally pre-loads ``--history-minutes`` of older traffic (copies of the benign traces,
   whole, each copy with its own trace, conversation, message, tool-call, file and job ids and
   its topics moved on) and starts the engine where the history ends, so detector windows are
   full as in steady state.
3. Feeds the requests through the production insert path (``collector.writer.insert_envelopes``:
   ClickHouse parses the OTLP protobuf, migration 0005) on a feeder thread, each request when its
   simulated send time comes up. Its timestamps are moved onto the wall clock (event time ~ wall
   time, as live agents send) inside the protobuf before the clock starts, so the measured
   process does not re-encode. The engine runs as the service runs it: a
   ``fleetwatch.workers.PeriodicWorker`` calling ``run_once`` every ``--interval`` seconds.
4. Reports the tick durations, CPU (engine thread; chDB's threads, with a feed-only phase as the
   baseline), and per incident: alert written (``alerts.UpdatedAt`` of Version 1) minus the
   receipt (``otel_traces.IngestedAt``) of the evidence spans that alert cites.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clickhouse_connect.driver.client import Client  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)

import simulator  # noqa: E402
from bench.cpu import process_cpu, thread_cpu  # noqa: E402
from bench.stall_sampler import StallSampler  # noqa: E402
from collector.envelope import envelope  # noqa: E402
from collector.migrations import migrate  # noqa: E402
from collector.spans_table import SPAN_COLUMNS  # noqa: E402
from collector.writer import insert_envelopes  # noqa: E402
from detectors.builtin.catalogue import builtin_registry  # noqa: E402
from detectors.engine import DetectorEngine  # noqa: E402
from detectors.policy import Policy  # noqa: E402
from fleetwatch.clickhouse import connect  # noqa: E402
from fleetwatch.config import Settings  # noqa: E402
from fleetwatch.process import apply_process_settings  # noqa: E402
from fleetwatch.workers import PeriodicWorker  # noqa: E402
from simulator.benign import TOPICS  # noqa: E402
from simulator.encode import read_records  # noqa: E402
from simulator.labels import IncidentLabel, read_labels, write_labels  # noqa: E402
from simulator.run import SimulationConfig, run_simulation  # noqa: E402
from simulator.suite import parse_spec  # noqa: E402
from simulator.transport import FileTransport  # noqa: E402

SECOND = 1_000_000_000
TENANT = "bench"
# Measured with this simulator: spans/s per (agent x session-per-agent-hour) once sessions overlap.
SPANS_PER_AGENT_RATE = 1.5e-3
# One of each family with a detector of its own; `;`-separated specs (docs/scenarios.md).
# Speeds (unless --speed overrides none given here) bring each incident under ~25 s, so
# every incident ends while the fleet's traffic still runs at the full rate.
DEFAULT_SCENARIOS = ";".join((
    "cs1_disproportionate_response:variant=nuclear_reset",
    "cs2_non_owner_compliance:variant=bulk_email,speed=400",
    "cs11_libel_broadcast:variant=broadcast",
    "cs4_agent_loop:variant=relay,speed=2000",
    "cs3_sensitive_disclosure:variant=forward",
    "false_completion:variant=failed_action",
    "cs6_silent_provider_failure:variant=error",
    "cs5_resource_exhaustion:variant=attachment_flood",
))
INCIDENT_TAIL_S = 30.0  # no incident starts later than this before the traffic ends
SEED_REQUESTS_PER_INSERT = 50
# Moving the feed onto the wall clock (parse, shift, re-encode) before the clock starts: measured
# 4.5 us per span here (1.1 M spans: 5 s); the feed starts this long after the preparation began.
PREPARE_US_PER_SPAN = 10.0


@dataclass
class Feed:
    requests: list[tuple[int, int, bytes]]  # (send offset ns, spans, OTLP request on the simulated clock)
    labels: list[IncidentLabel]
    sim_start_ns: int
    duration_ns: int  # of the fleet's traffic (incident tails may run a little longer)


@dataclass
class Ticks:
    durations: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    written: int = 0
    thread_id: int | None = None


# -- traffic ---------------------------------------------------------------------------------


def simulation(args: argparse.Namespace) -> SimulationConfig:
    """The fleet, with one incident every ``--incident-every`` s, cycling through ``--scenarios``."""
    total = args.warmup + args.seconds
    specs = [s.strip() for s in args.scenarios.split(";") if s.strip()]
    count = int(max(args.incident_every, args.seconds - INCIDENT_TAIL_S) / args.incident_every)
    plans = tuple(parse_spec(_timed(specs[i % len(specs)], args.warmup + i * args.incident_every, args.speed))
                  for i in range(count))
    rate = args.rate / (SPANS_PER_AGENT_RATE * args.agents)
    return SimulationConfig(seed=args.seed, agents=args.agents, market_agents=0, duration_s=total,
                            sessions_per_agent_hour=rate, tenant=TENANT, scenarios=plans,
                            batch_spans=100_000, flush_interval_s=args.batch_seconds)


def _timed(spec: str, at: float, speed: float) -> str:
    sep = "," if ":" in spec else ":"
    return spec + f"{sep}at={at}" + ("" if "speed=" in spec else f",speed={speed}")


def simulator_version() -> str:
    """A digest of the simulator's source: a cache made by an older simulator is not reused (the
    session-3 figures ran on traffic cached before the simulator stopped giving researchers and
    agents the same principal ids at 2,000 agents)."""
    digest = hashlib.sha256()
    for source in sorted(Path(simulator.__file__).parent.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def generate(config: SimulationConfig) -> tuple[Path, Path]:
    """The pre-encoded requests and labels for ``config``, generated once and cached."""
    described = {"config": config.describe(), "simulator": simulator_version()}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:12]
    records, labels = Path(f"/tmp/fleetwatch-bench-{digest}.otlp"), Path(f"/tmp/fleetwatch-bench-{digest}.labels")
    if not (records.exists() and labels.exists()):
        began = time.perf_counter()
        partial = records.with_suffix(".partial")
        result = run_simulation(config, transport=FileTransport(partial))
        write_labels(labels, result.summary, result.incidents)
        partial.rename(records)
        print(f"generated {result.spans} spans in {time.perf_counter() - began:.0f} s -> {records}")
    return records, labels


def load_feed(records: Path, labels: Path) -> Feed:
    requests = [(r.offset_ns, r.span_count, r.payload) for r in read_records(records)]
    run_labels = read_labels(labels)
    return Feed(requests, list(run_labels.incidents), run_labels.run.start_ns,
                int(run_labels.run.duration_s * SECOND))


def shifted_request(payload: bytes, shift_ns: int) -> bytes:
    """The request with every span and event time moved by ``shift_ns`` (ids unchanged)."""
    request = ExportTraceServiceRequest.FromString(payload)
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                span.start_time_unix_nano += shift_ns
                span.end_time_unix_nano += shift_ns
                for event in span.events:
                    event.time_unix_nano += shift_ns
    shifted: bytes = request.SerializeToString()
    return shifted


def envelopes(feed: Feed, wall_start_ns: int) -> list[tuple[int, int, bytes]]:
    """(send offset, spans, ingest envelope) with the feed's times on the wall clock from
    ``wall_start_ns``: what a receiver hands the writer, prepared before the clock starts."""
    shift = wall_start_ns - feed.sim_start_ns
    return [(offset, spans, envelope(shifted_request(payload, shift), TENANT))
            for offset, spans, payload in feed.requests]


class Feeder(threading.Thread):
    """Inserts each request at wall start + its send offset; records how late each insert finished."""

    def __init__(self, client: Client, requests: list[tuple[int, int, bytes]], wall_start_ns: int) -> None:
        super().__init__(name="bench-feeder", daemon=True)
        self.client, self.requests, self.wall_start_ns = client, requests, wall_start_ns
        self.spans = 0
        self.lag: list[float] = []
        self.thread_id: int | None = None
        self.cpu = 0.0  # this thread's CPU seconds, set when the feed is done
        self.began, self.seconds = 0.0, 0.0

    def run(self) -> None:
        self.thread_id = threading.get_native_id()
        self.began = time.perf_counter()
        for offset, spans, item in self.requests:
            due = self.wall_start_ns + offset
            wait = (due - time.time_ns()) / SECOND
            if wait > 0:
                time.sleep(wait)
            self.spans += insert_envelopes(self.client, [item], spans)
            self.lag.append((time.time_ns() - due) / SECOND)
        self.cpu = time.thread_time()
        self.seconds = time.perf_counter() - self.began

    def spans_before(self, seconds: float) -> int:
        """Spans of the requests due in the feed's first ``seconds``."""
        return sum(spans for offset, spans, _ in self.requests if offset < seconds * SECOND)


# -- history -----------------------------------------------------------------------------------


# Attributes that name one conversation, message, tool call, file or job: each history copy gets
# its own values, or the copies repeat the same conversations and files every ``duration`` and
# windows see one agent do the same thing seven times (thousands of false alerts in session 3).
COPY_IDENTITY_ATTRIBUTES = ("gen_ai.conversation.id", "messaging.message.id", "gen_ai.tool.call.id",
                            "fleet.action.target", "fleet.claim.subject", "fleet.process.id")
# Channels are shared names, not one incident's: `messaging.destination.name` stays, and so do
# claims about posting there (an announcement claims `discord:#general`, where it sent).
SHARED_PREFIXES = ("discord:",)
# `scheme:rest` -> `scheme:h<k>/rest` (patterns on the scheme or the file name still match, e.g.
# `file:h3/MEMORY.md`); ids without a scheme -> `id~h<k>`.
_COPY_VALUE = ("if(position(v, ':') > 0, concat(substring(v, 1, position(v, ':')), {mark:String}, '/', "
               "substring(v, position(v, ':') + 1)), concat(v, '~', {mark:String}))")
# Each copy also moves every topic on by its number: one agent's random provider failures then
# fall on different topics in different copies, as independent draws would, instead of piling
# up on one topic seven times (silent_failures clusters by agent and topic).
_COPY_TOPIC = ("arrayElement({topics:Array(String)}, "
               "(indexOf({topics:Array(String)}, v) + {copy:UInt32} - 1) % length({topics:Array(String)}) + 1)")
_COPY_MAP = ("mapApply((k, v) -> (k, multiIf("
             "k IN {identity:Array(String)} AND v != '' AND NOT arrayExists(p -> startsWith(v, p), "
             "{shared:Array(String)}), " + _COPY_VALUE + ", "
             "k = 'fleet.topic' AND has({topics:Array(String)}, v), " + _COPY_TOPIC + ", v)), {map})")
_COPY_TRACE = "if({trace} = '', {trace}, concat(substring({trace}, 1, 26), {tail:String}))"
# Span ids XOR a mask per copy (a bijection: ids stay unique within a copy, parents and links
# keep pointing at their spans); detectors may key spans by SpanId alone, as real ids allow.
_COPY_SPAN = ("if({span} = '', {span}, leftPad(lower(hex(bitXor(reinterpretAsUInt64(reverse(unhex({span}))), "
              "{mask:UInt64}))), 16, '0'))")
_COPY_EXPRESSIONS = {
    "Timestamp": "Timestamp - toIntervalNanosecond({back:Int64})",
    "TraceId": _COPY_TRACE.replace("{trace}", "TraceId"),
    "SpanId": _COPY_SPAN.replace("{span}", "SpanId"),
    "ParentSpanId": _COPY_SPAN.replace("{span}", "ParentSpanId"),
    "Links.SpanId": "arrayMap(s -> " + _COPY_SPAN.replace("{span}", "s") + ", `Links.SpanId`)",
    "Events.Timestamp": "arrayMap(t -> t - toIntervalNanosecond({back:Int64}), `Events.Timestamp`)",
    "SpanAttributes": _COPY_MAP.replace("{map}", "SpanAttributes"),
    "Links.TraceId": "arrayMap(l -> " + _COPY_TRACE.replace("{trace}", "l") + ", `Links.TraceId`)",
    "Links.Attributes": "arrayMap(a -> " + _COPY_MAP.replace("{map}", "a") + ", `Links.Attributes`)",
}


def copy_sql() -> str:
    """One history copy: ``bench_seed`` moved ``back`` ns earlier, with its own trace ids (the
    last 6 hex digits are the copy number), span ids and conversation, message, call, file and
    job ids."""
    names = ", ".join(f"`{c}`" for c in SPAN_COLUMNS)
    exprs = ", ".join(_COPY_EXPRESSIONS.get(c, f"`{c}`") for c in SPAN_COLUMNS)
    return f"INSERT INTO otel_traces ({names}) SELECT {exprs} FROM bench_seed"


def copy_parameters(copy: int, back_ns: int) -> dict[str, Any]:
    mask = int.from_bytes(hashlib.sha256(f"bench copy {copy}".encode()).digest()[:8], "big")
    return {"back": back_ns, "tail": f"{copy:06x}", "mark": f"h{copy}", "copy": copy, "mask": mask,
            "identity": list(COPY_IDENTITY_ATTRIBUTES), "shared": list(SHARED_PREFIXES),
            "topics": list(TOPICS)}


def seed(client: Client, feed: Feed) -> None:
    """``bench_seed``: the feed's benign traces that begin within the traffic's duration, whole,
    on the simulated clock, parsed by ClickHouse as production does (inserted into the empty
    spans table, moved aside, the table emptied). Whole traces: cutting the copies at a time
    left turns without the tool calls that followed their claims (false completions)."""
    columns = ", ".join(f"`{c}`" for c in SPAN_COLUMNS)
    for start in range(0, len(feed.requests), SEED_REQUESTS_PER_INSERT):
        chunk = feed.requests[start:start + SEED_REQUESTS_PER_INSERT]
        insert_envelopes(client, [envelope(p, TENANT) for _, _, p in chunk], sum(n for _, n, _ in chunk))
    client.command("CREATE TABLE bench_seed AS otel_traces")
    client.command(f"INSERT INTO bench_seed ({columns}) SELECT {columns} FROM otel_traces "
                   "WHERE TraceId NOT IN {incidents:Array(String)} AND TraceId IN (SELECT TraceId FROM otel_traces "
                   "GROUP BY TraceId HAVING min(Timestamp) < fromUnixTimestamp64Nano({end:Int64}))",
                   parameters={"incidents": sorted({t for label in feed.labels for t in label.trace_ids}),
                               "end": feed.sim_start_ns + feed.duration_ns})
    client.command("TRUNCATE TABLE otel_traces")


def preload_history(client: Client, feed: Feed, minutes: float, wall_start_ns: int) -> int:
    """Copies of the benign traffic in the minutes before ``wall_start_ns``, each with its own
    trace, conversation, message, call, file and job ids (``copy_sql``). Needs an empty spans table."""
    if minutes <= 0:
        return 0
    seed(client, feed)
    shift, span_ns = wall_start_ns - feed.sim_start_ns, feed.duration_ns
    copies = int(minutes * 60 * SECOND // span_ns) + 1
    sql = copy_sql()
    for k in range(1, copies + 1):
        client.command(sql, parameters=copy_parameters(k, k * span_ns - shift))
    rows = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    client.command("DROP TABLE bench_seed")
    return rows


# -- engine ------------------------------------------------------------------------------------


def start_at_history_end(engine: DetectorEngine, client: Client) -> None:
    """Begin judging where the history ends, as an engine that has kept up would stand: its
    cursors at the newest span (windows then reach back into the history, full as in steady
    state), without spending minutes judging the history first."""
    ingested, newest = client.query(
        "SELECT toUnixTimestamp64Nano(max(IngestedAt)), toUnixTimestamp64Nano(max(Timestamp)) "
        "FROM otel_traces").result_rows[0]
    engine.cursors.load()
    engine.cursors.put(int(ingested), "ingest")
    for scope in ("origin", "watermark"):
        engine.cursors.put(int(newest), scope, TENANT)
    engine.cursors.flush()


SEED_WAIT_S = 600.0


def prime(engine: DetectorEngine) -> None:
    """One tick before the feed, unmeasured: an engine that has kept up has already scanned the
    history's last inserts (the scan's overlap re-reads them, ~580,000 traces on its first tick,
    a start-up backlog that hid the first incidents) and runs its sweep, and its span tail
    holds the windows (the sweep thread seeds it from the history: until it has, live reads of
    long traces and whole windows go to ClickHouse, as after a restart, not in steady state).
    Its tick statistics are then cleared, so the figures are the run's."""
    engine.run_once()
    deadline = time.monotonic() + SEED_WAIT_S
    while engine.tail is not None and engine.tail.status()["seeding"] and time.monotonic() < deadline:
        time.sleep(1)  # the sweep thread seeds; a tick meanwhile would only re-read the overlap
    for recorded in (engine.tick_phases, engine.live.seconds, engine.live.backlogs, engine.live.agent_skips):
        recorded.clear()


class TimedEngine:
    """The engine as the service's worker runs it, with each tick's wall and thread CPU time."""

    def __init__(self, engine: DetectorEngine, ticks: Ticks, stalls: StallSampler | None) -> None:
        self.engine, self.ticks, self.stalls = engine, ticks, stalls

    def run_once(self) -> int:
        self.ticks.thread_id = threading.get_native_id()
        began, cpu = time.perf_counter(), time.thread_time()
        if self.stalls:
            self.stalls.tick_started()
        try:
            written = self.engine.run_once()
        finally:  # a failed tick must not read as one stalled for ever
            if self.stalls:
                self.stalls.tick_ended()
        self.ticks.durations.append(time.perf_counter() - began)
        self.ticks.cpu.append(time.thread_time() - cpu)
        self.ticks.written += written
        return written


def ingest_baseline(seconds: float, feeder: Feeder) -> float:
    """CPU/s of chDB's threads while only the feed runs (inserts and merges, no engine)."""
    threads, total = thread_cpu(), process_cpu()
    time.sleep(seconds)
    after = thread_cpu()
    ours = {feeder.thread_id, threading.get_native_id()}
    python = sum(after.get(t, 0.0) - threads.get(t, 0.0) for t in ours if t is not None)
    return (process_cpu() - total - python) / seconds


# -- latency -----------------------------------------------------------------------------------

# The alerts measured: each incident's first version, not the info rows.
_FIRST_ALERTS = "FROM alerts WHERE Version = 1 AND Severity != 'info' AND TenantId = {t:String}"
_ALERTS_SQL = ("SELECT AlertId, Detector, toUnixTimestamp64Milli(UpdatedAt), EvidenceTraceIds, "
               "EvidenceSpanIds " + _FIRST_ALERTS)
# The evidence spans' receipts, found through their traces (TraceId has a bloom filter; a
# literal list of every alert's evidence span ids took minutes to parse once full windows ran).
_RECEIPT_SQL = ("SELECT SpanId, toUnixTimestamp64Milli(IngestedAt) FROM otel_traces "
                "WHERE TenantId = {t:String} AND TraceId IN (SELECT arrayJoin(EvidenceTraceIds) "
                + _FIRST_ALERTS + ")")


def incident_latencies(client: Client, labels: list[IncidentLabel]) -> tuple[list[dict[str, Any]], int]:
    alerts = client.query(_ALERTS_SQL, parameters={"t": TENANT}).result_rows
    cited = {str(s) for row in alerts for s in row[4]}
    rows = client.query(_RECEIPT_SQL, parameters={"t": TENANT}).result_rows
    receipts: dict[str, int] = {str(span): int(ms) for span, ms in rows if str(span) in cited}
    found, missed = [], 0
    for label in labels:
        traces = set(label.trace_ids)
        about = [a for a in alerts if traces & set(a[3])]
        if not about:
            missed += 1
            found.append({"kind": label.kind, "detector": None})
            continue
        first = min(about, key=lambda a: a[2])
        got = [receipts[s] for s in first[4] if s in receipts]
        found.append({"kind": label.kind, "detector": first[1], "alert_ms": first[2],
                      "latency_s": (first[2] - max(got)) / 1000,
                      "from_first_evidence_s": (first[2] - min(got)) / 1000})
    return found, missed


def alerts_outside_incidents(client: Client, labels: list[IncidentLabel]) -> dict[str, int]:
    """Per detector: Version-1 alerts (not info) that cite no trace of any injected incident."""
    incident_traces = {t for label in labels for t in label.trace_ids}
    outside: dict[str, int] = {}
    for _, detector, _, traces, _ in client.query(_ALERTS_SQL, parameters={"t": TENANT}).result_rows:
        if not incident_traces & set(traces):
            outside[str(detector)] = outside.get(str(detector), 0) + 1
    return dict(sorted(outside.items()))


def per_family(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per incident family: how many were alerted, by which detectors, how fast."""
    families: dict[str, dict[str, Any]] = {}
    for kind in sorted({f["kind"] for f in found}):
        mine = [f for f in found if f["kind"] == kind]
        alerted = [f for f in mine if f["detector"] is not None]
        latencies = [f["latency_s"] for f in alerted]
        families[kind] = {
            "incidents": len(mine), "alerted": len(alerted),
            "first_detectors": sorted({f["detector"] for f in alerted}),
            "latency_p50_s": round(quantile(latencies, 0.5), 2),
            "latency_p95_s": round(quantile(latencies, 0.95), 2),
            "latency_max_s": round(max(latencies, default=float("nan")), 2),
        }
    return families


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


# -- run ---------------------------------------------------------------------------------------


def settings_for(args: argparse.Namespace) -> Settings:
    return Settings(clickhouse_url=f"chdb://{args.data_dir}", clickhouse_database="bench",
                    data_dir=Path(args.data_dir), detector_interval_seconds=args.interval,
                    detector_sweep_thread=not args.inline_sweep,
                    detector_sweep_duty_cycle=args.sweep_duty, detector_tail_max_mb=args.tail_mb,
                    detector_sweep_slice_seconds=args.sweep_slice,
                    detector_live_settle_seconds=args.settle,
                    switch_interval_ms=args.switch_interval_ms)


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = simulation(args)
    feed = load_feed(*generate(config))
    shutil.rmtree(args.data_dir, ignore_errors=True)
    settings = settings_for(args)
    apply_process_settings(settings)
    client = connect(settings)
    migrate(client)
    policy = Policy()
    registry = builtin_registry(policy)
    for name in filter(None, args.early.split(",")):
        # What the detector's owner would declare in its class (trace-local candidates).
        # (an instance override of the class attribute, for this run only)
        registry.get(name).early_by_trace = True  # type: ignore[misc]
    began = time.perf_counter()
    history = preload_history(client, feed, args.history_minutes, time.time_ns())
    ticks = Ticks()
    engine = DetectorEngine(settings, connect(settings), registry, policy)
    if history:
        start_at_history_end(engine, client)
        prime(engine)
        print(f"history: {history} spans loaded, engine primed in {time.perf_counter() - began:.0f} s")
    spans = sum(n for _, n, _ in feed.requests)
    wall_start = time.time_ns() + SECOND + int(spans * PREPARE_US_PER_SPAN * 1000)
    prepared = envelopes(feed, wall_start)
    if time.time_ns() > wall_start:
        print(f"preparing the feed overran its start by {(time.time_ns() - wall_start) / SECOND:.1f} s")
    feeder = Feeder(connect(settings), prepared, wall_start)
    feeder.start()
    time.sleep(max(0.0, (wall_start - time.time_ns()) / SECOND))
    # The feed's first seconds, without the engine's ticks: chDB's CPU for ingest (and the
    # sweep, if primed), the baseline the engine's share of chDB's threads is judged against.
    # The engine then ticks for the rest of the warm-up before the first incident.
    ingest_only = ingest_baseline(args.baseline_seconds, feeder)
    stalls = StallSampler(args.stalls, client=connect(settings)) if args.stalls else None
    worker = PeriodicWorker("detectors", lambda: TimedEngine(engine, ticks, stalls), args.interval)
    feeder_cpu = thread_cpu().get(feeder.thread_id or -1, 0.0)
    sweep_cpu_before = thread_cpu().get(engine.sweeper.thread_id or -1, 0.0)
    start_cpu, start_wall = process_cpu(), time.perf_counter()
    if stalls:
        stalls.start()
    worker.start()
    feeder.join()
    time.sleep(args.grace)
    worker.stop()
    if stalls:
        stalls.stop()
    sweep_cpu = thread_cpu().get(engine.sweeper.thread_id or -1, 0.0) - sweep_cpu_before  # before it ends
    lane_cpu = thread_cpu().get(engine.live.agent_lane.thread_id or -1, 0.0)  # it starts with the ticks
    behind = sweep_behind(engine)
    engine.close()
    wall = time.perf_counter() - start_wall
    engine_cpu = sum(ticks.cpu)
    live = {"engine_thread": engine_cpu, "sweep_thread": sweep_cpu, "agent_lane_thread": lane_cpu,
            "feeder_thread": feeder.cpu - feeder_cpu, "total": process_cpu() - start_cpu}
    live["chdb_threads"] = live["total"] - engine_cpu - sweep_cpu - lane_cpu - live["feeder_thread"]
    found, missed = incident_latencies(client, feed.labels)
    figures = summarise(args, registry.names(), feeder, ticks, found, missed, live, wall, ingest_only, history)
    figures["alerts_outside_incidents"] = alerts_outside_incidents(client, feed.labels)
    if stalls:
        figures["stalls"] = stalls.summary()
    return figures | live_figures(engine) | sweep_figures(engine, behind)


def sweep_behind(engine: DetectorEngine) -> dict[str, float]:
    """Per detector, how far its full windows trail the watermark at the end (seconds)."""
    watermark = engine.cursors.get("watermark", TENANT) or 0
    origin = engine.cursors.get("origin", TENANT) or 0  # where a detector with no window yet stands
    return {d.name: round(max(0, watermark - (engine.cursors.get("evaluated", TENANT, d.name) or origin)) / SECOND, 1)
            for d in engine.registry}


def timings(pairs: Any) -> dict[str, dict[str, Any]]:
    """name -> count, p50, p95, max of (name, seconds) pairs."""
    by_name: dict[str, list[float]] = {}
    for name, seconds in pairs:
        by_name.setdefault(name, []).append(seconds)
    return {name: {"n": len(v), "p50": round(quantile(v, 0.5), 3), "p95": round(quantile(v, 0.95), 3),
                   "max": round(max(v), 3)} for name, v in sorted(by_name.items())}


def live_figures(engine: DetectorEngine) -> dict[str, Any]:
    """Where the tick's time goes: the ingest scan, the live lane, and each live part."""
    phases = list(engine.tick_phases)
    live = engine.live
    skipped: dict[str, int] = {}
    for name, _ in live.agent_skips:
        skipped[name] = skipped.get(name, 0) + 1
    return {"tick_phases": timings([("scan", a) for a, _ in phases] + [("live_lane", b) for _, b in phases]),
            "live_parts": timings(live.seconds),
            # Ticks that met a backlog (more changed traces than the live lane takes): how many,
            # and the changed traces left to the full windows.
            "live_backlog_ticks": len(live.backlogs),
            "live_backlog_traces_left": sum(changed - judged for changed, judged in live.backlogs),
            "live_agent_cap_skips": skipped,  # detector -> ticks with too many agents to re-judge
            "live_settle_dropped": live.settling.dropped,
            # By-agent jobs the agent lane's thread dropped unjudged (it fell behind the ticks).
            "live_agent_jobs_dropped": live.agent_lane.dropped,
            # The span tail: its update per tick, and at the end its size and the window reads
            # it answered (held) or sent to ClickHouse (missed).
            "tail_update": timings([("update", t) for t in engine.tail_seconds]),
            "tail": engine.tail.status() if engine.tail is not None else None}


def sweep_figures(engine: DetectorEngine, behind: dict[str, float]) -> dict[str, Any]:
    per_detector: dict[str, list[float]] = {}
    for name, seconds in engine.sweeper.window_seconds:
        per_detector.setdefault(name, []).append(seconds)
    passes = list(engine.sweeper.pass_seconds)
    return {
        "sweep_passes": len(passes),
        "sweep_pass_p50_s": round(quantile(passes, 0.5), 3),
        "sweep_pass_p95_s": round(quantile(passes, 0.95), 3),
        "full_window_seconds": {name: {"windows": len(v), "p50": round(quantile(v, 0.5), 3),
                                       "max": round(max(v), 3)} for name, v in sorted(per_detector.items())},
        "sweep_behind_watermark_s": behind,
        "sweep_gave_way_s": round(engine.sweeper.live_first.waited_s, 1),
    }


def summarise(args: argparse.Namespace, detectors: list[str], feeder: Feeder, ticks: Ticks,
              found: list[dict[str, Any]], missed: int, live: dict[str, float], wall: float,
              ingest_rate: float, history: int) -> dict[str, Any]:
    alerted = [f for f in found if f["detector"] is not None]
    latencies = [f["latency_s"] for f in alerted]
    chdb_rate = live["chdb_threads"] / wall
    return {
        "command": " ".join(sys.argv),
        "machine": {"nproc": psutil.cpu_count(), "python": sys.version.split()[0],
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "load_avg_1m_at_end": round(psutil.getloadavg()[0], 2)},
        "detectors": detectors,
        "early_detectors": args.early,
        "history_spans": history,
        "spans_fed": feeder.spans,
        # The background runs for the warm-up and the measured seconds; incident scenarios go on
        # sparsely after it (a loop's last turns minutes later), so the whole feed's average
        # (spans over feed_seconds) understates the rate the engine kept up with.
        "spans_per_second": round(feeder.spans_before(args.warmup + args.seconds) / (args.warmup + args.seconds), 1),
        "feed_seconds": round(feeder.seconds, 1),
        "feeder_lag_p95_s": round(quantile(feeder.lag, 0.95), 3),
        "incidents": len(found), "incidents_alerted": len(alerted), "incidents_missed": missed,
        "latency_p50_s": round(quantile(latencies, 0.5), 2),
        "latency_p95_s": round(quantile(latencies, 0.95), 2),
        "latency_max_s": round(max(latencies, default=float("nan")), 2),
        "latency_from_first_evidence_p95_s": round(quantile([f["from_first_evidence_s"] for f in alerted], 0.95), 2),
        "per_family": per_family(found),
        # Each incident's latency, so runs can be pooled (a run's p95 is about its second-worst).
        "incident_latencies": sorted(({"kind": f["kind"], "detector": f["detector"],
                                       "latency_s": round(f["latency_s"], 3)} for f in alerted),
                                     key=lambda f: f["latency_s"]),
        "ticks": len(ticks.durations),
        "tick_p50_s": round(quantile(ticks.durations, 0.5), 3),
        "tick_p95_s": round(quantile(ticks.durations, 0.95), 3),
        "tick_max_s": round(max(ticks.durations, default=float("nan")), 3),
        "engine_thread_cpu_pct": round(100 * live["engine_thread"] / wall, 1),
        "sweep_thread_cpu_pct": round(100 * live["sweep_thread"] / wall, 1),
        "agent_lane_thread_cpu_pct": round(100 * live["agent_lane_thread"] / wall, 1),
        "feeder_thread_cpu_pct": round(100 * live["feeder_thread"] / wall, 1),
        "chdb_threads_cpu_pct": round(100 * chdb_rate, 1),
        "chdb_ingest_only_cpu_pct": round(100 * ingest_rate, 1),
        "engine_cpu_pct_estimate": round(100 * ((live["engine_thread"] + live["sweep_thread"]
                                                 + live["agent_lane_thread"]) / wall
                                                + max(0.0, chdb_rate - ingest_rate)), 1),
        "process_cpu_pct": round(100 * live["total"] / wall, 1),
        "alert_rows_written": ticks.written,
        "args": {k: str(v) for k, v in vars(args).items()},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Settings()  # the service's defaults, read once
    parser.add_argument("--rate", type=float, default=10_000, help="target spans per second")
    parser.add_argument("--seconds", type=float, default=60, help="measured live seconds")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of traffic before the first incident")
    parser.add_argument("--baseline-seconds", type=float, default=5,
                        help="feed-only CPU sample at the start of the warm-up; the engine's ticks start after it")
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--incident-every", type=float, default=2.5, help="seconds between injected incidents")
    parser.add_argument("--scenarios", default=DEFAULT_SCENARIOS, help="incident specs cycled through (;-separated)")
    parser.add_argument("--speed", type=float, default=100.0, help="scenario speed (divides the gaps between steps)")
    parser.add_argument("--batch-seconds", type=float, default=0.2, help="simulated seconds per insert")
    parser.add_argument("--interval", type=float, default=defaults.detector_interval_seconds,
                        help="engine tick interval")
    parser.add_argument("--history-minutes", type=float, default=0, help="older traffic pre-loaded")
    parser.add_argument("--grace", type=float, default=5, help="seconds the engine runs after the feed")
    parser.add_argument("--early", default="", help="more detectors to mark early_by_trace (comma list)")
    parser.add_argument("--sweep-duty", type=float, default=defaults.detector_sweep_duty_cycle,
                        help="the sweep thread's duty cycle")
    parser.add_argument("--tail-mb", type=int, default=defaults.detector_tail_max_mb,
                        help="the span tail's memory (0 = off)")
    parser.add_argument("--sweep-slice", type=float, default=30.0,
                        help="event-time seconds per full-window query on the sweep thread (0: whole)")
    parser.add_argument("--settle", type=float, default=defaults.detector_live_settle_seconds,
                        help="live settle time of detectors a later span can contradict (0: none)")
    parser.add_argument("--switch-interval-ms", type=float, default=defaults.switch_interval_ms,
                        help="the process's thread switch interval (Python's default: 5)")
    parser.add_argument("--inline-sweep", action="store_true",
                        help="full windows inside the engine's tick (as before the sweep thread)")
    parser.add_argument("--data-dir", default="/tmp/fleetwatch-bench-chdb")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--stalls", type=float, default=0.0,
                        help="sample the engine's and the sweep's stacks while a tick runs longer "
                             "than this many seconds (0: off)")
    parser.add_argument("--log", type=Path, default=None,
                        help="the detectors' log at INFO (backlog ticks, agent-cap skips), with times")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if args.log is not None:
        handler = logging.FileHandler(args.log, mode="w")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger = logging.getLogger("detectors")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    figures = run(args)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
