"""The live lane: each tick, detectors that allow it are evaluated on the part of their window the
new spans could have changed, so an incident is alerted seconds after its spans arrive instead of
after its window closes (the sweep, detectors/sweep.py).

Two kinds of part (see ``Detector.early_by_trace`` / ``early_by_agent`` for the promise each
makes): the traces that changed this tick, read only from the earliest start of those traces (a
per-trace detector needs nothing older), and, for detectors whose incidents span many traces of
a few agents (loops, silent failures, runaway), every span in the whole window of the agents the
changed traces point at. Both are small: what is new, not the history. The full window stays the
completeness guarantee; live findings go through the same incident tracker, so the two never
alert twice for one incident.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from typing import Any

from clickhouse_connect.driver.client import Client

from detectors.agent_lane import AgentJob, AgentLane
from detectors.alerts import AlertRow, write_alerts
from detectors.base import Detector
from detectors.context import EvalContext, QueryCache, ScratchBaseline
from detectors.engine_state import EngineState
from detectors.fleet import FleetDirectory
from detectors.live_directory import TenantDirectories
from detectors.model import Finding, Window
from detectors.policy import Policy
from detectors.registry import DetectorRegistry
from detectors.scan import NewData
from detectors.settle import SettlingTraces
from detectors.sweep import decided
from detectors.tail import SpanTail

log = logging.getLogger(__name__)
EARLY_CHUNK = 5000  # trace ids per live query (bound the bound parameter)
# On a backlog, the newest traces judged: one chunk, about a second of traces at 10,000 spans/s.
# Judging up to the backlog threshold (20,000) instead made one bench tick take 79 s, and the
# next backlog bigger.
BACKLOG_TRACES = EARLY_CHUNK
# When the span tail holds the new spans, judging a trace reads memory, not ClickHouse (a few
# milliseconds per chunk of 5,000 on the bench): a backlog is then judged up to this many
# newest traces, so an incident in a slow tick's backlog is still alerted live.
BACKLOG_TRACES_HELD = 20 * EARLY_CHUNK

# When each trace started, from the Collector's trace-id companion table (sorted by TraceId, so
# this reads a few granules); Start is whole seconds, rounded down.
_TRACE_START_SQL = """
SELECT TraceId, toUnixTimestamp64Nano(toDateTime64(min(Start), 9)) FROM otel_traces_trace_id_ts
WHERE TraceId IN {traces:Array(String)} AND Start >= toDateTime(intDiv({lower:Int64}, 1000000000))
GROUP BY TraceId
"""
# Traces that started this long before the newest span are read apart, so that a few long ones
# do not make every query of the tick read minutes of spans.
RECENT_NS = 60 * 1_000_000_000


def early_detectors(registry: DetectorRegistry) -> list[Detector[Any]]:
    return [d for d in registry if d.allows_early]


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class LiveLane:
    """Evaluates the live detectors on one tenant's new data; shares the engine's state."""

    def __init__(self, client: Client, registry: DetectorRegistry, policy: Policy,
                 state: EngineState, max_traces: int, max_agents: int, settle_s: float = 0.0,
                 tail: SpanTail | None = None) -> None:
        self.client, self.policy, self.state, self.tail = client, policy, state, tail
        self.detectors = early_detectors(registry)
        self.max_traces, self.max_agents = max_traces, max_agents
        seed = max((d.window_ns for d in self.detectors), default=0)
        self.directories = TenantDirectories(client, policy, seed)
        self.settling = SettlingTraces(settle_s)
        self._settle = settle_s > 0
        self._ends: dict[str, int] = {}  # tenant -> end of its last live evaluation
        self.seconds: deque[tuple[str, float]] = deque(maxlen=10_000)  # part evaluated, wall
        self.backlogs: deque[tuple[int, int]] = deque(maxlen=10_000)  # changed, judged (backlog)
        self.agent_skips: deque[tuple[str, int]] = deque(maxlen=10_000)  # detector, agents
        # The by-agent part's thread (started by the engine when it ticks threaded; drained
        # engines judge agents inside the tick).
        self.agent_lane = AgentLane(self.judge_agents)
        self._by_name = {d.name: d for d in self.detectors}
        self._agent_seconds: dict[str, float] = {}  # detector -> its last by-agent part's wall time

    def settles(self, detector: Detector[Any]) -> bool:
        """Judged live only on settled traces (detectors/settle.py)."""
        return self._settle and bool(getattr(detector, "live_settle", False))

    def evaluate_all(self, news: list[NewData], since_ns: int, read_to_ns: int | None = None,
                     agents_inline: bool = True, read_at: float | None = None) -> int:
        """Alert rows written for this tick's new data, and for traces that settled meanwhile
        in tenants that received nothing this tick (``read_to_ns``: the scan's newest insert
        stamp, of any tenant; ``read_at``: when the scan began, engine clock). ``agents_inline=
        False``: the by-agent part goes to the agent lane's thread (its alerts are written
        there, not counted here)."""
        written = sum(self.evaluate(item, since_ns, agents_inline) for item in news)
        quiet = set(self.settling.tenants()) - {item.tenant for item in news}
        for tenant in sorted(quiet):
            end = self._ends.get(tenant, 0)
            nothing_new = NewData(tenant, end - 1, end - 1, read_to_ns=read_to_ns, read_at=read_at)
            written += self.evaluate(nothing_new, since_ns, agents_inline)
        return written

    def evaluate(self, item: NewData, since_ns: int, agents_inline: bool = True) -> int:
        """Alert rows written for ``item`` (the traces that changed since ``since_ns``)."""
        if not self.detectors:
            return 0
        fresh = item.traces
        if len(fresh) > self.max_traces:
            # A backlog (a slow tick): judge the newest traces rather than none.
            limit = BACKLOG_TRACES_HELD if self._held(item) else min(self.max_traces, BACKLOG_TRACES)
            judged = min(limit, len(fresh))
            log.info("tenant %s: %d changed traces (a backlog); the newest %d judged live",
                     item.tenant, len(fresh), judged)
            self.backlogs.append((len(fresh), judged))
            fresh = fresh[:judged]
        held = self._held(item)
        settled: dict[str, int | None] = {}
        if any(self.settles(d) for d in self.detectors):
            # The scan's time, not this moment's: a tick whose scan or tail update ran long
            # would otherwise mark its traces changed later than they were seen, and the next
            # tick (one interval after this one's scan) would find them short of quiet.
            now = item.read_at if item.read_at is not None else time.monotonic()
            self.settling.note(item.tenant, fresh, item.rooted, now, item.starts, item.ingested)
            ready = self.settling.ready(item.tenant, now, item.read_to_ns)
            settled = dict(itertools.islice(ready.items(), BACKLOG_TRACES_HELD if held else BACKLOG_TRACES))
        if not fresh and not settled:
            return 0
        end = self._ends[item.tenant] = max(item.max_ns + 1, self._ends.get(item.tenant, 0))
        began = time.perf_counter()
        directory = self.directories.update(item.tenant, end, since_ns)
        self.seconds.append(("directory", time.perf_counter() - began))
        written = 0
        cache: QueryCache = {}
        at_once = [d for d in self.detectors if not self.settles(d)]
        once_settled = [d for d in self.detectors if self.settles(d)]
        fresh_starts: dict[str, int | None] = {t: item.starts.get(t) for t in fresh}
        # Settled traces first: they have already waited their settle time, and their part is
        # cheap (a few per-trace checks), while the changed traces' part judges every trace
        # detector. Each detector's alerts are written as soon as it has judged the traces,
        # and each part's suspects handed to the by-agent part once the part is judged: that
        # part reads whole windows and can take seconds on a busy machine, and an alert found
        # on the traces must not wait for it.
        for starts, detectors in ((settled, once_settled), (fresh_starts, at_once)):
            if not (starts and detectors):
                continue
            suspects: dict[str, set[str]] = {d.name: set() for d in detectors if d.early_by_agent}
            written += self._judge_traces(detectors, item.tenant, end, directory, cache, starts,
                                          suspects, held)
            written += self._hand_over(AgentJob(item.tenant, end, directory,
                                                self._within_cap(suspects)), agents_inline)
        return written

    def _hand_over(self, job: AgentJob, inline: bool) -> int:
        """Alert rows written judging ``job`` here (``inline``), else 0: the agent lane's thread
        judges it and writes its alerts."""
        if not job.suspects:
            return 0
        if inline:
            return self.judge_agents(self.client, job)
        self.agent_lane.submit(job)
        return 0

    def judge_agents(self, client: Client, job: AgentJob) -> int:
        """The by-agent part: each detector's suspects re-judged on their whole window; alert
        rows written (``client``: the calling thread's own). The detector that took least last
        time goes first: runaway's part (0.13 s typical, seconds at worst on the bench) does not
        hold back silent_failures' (0.1 s) and loops' (0.05 s) alerts."""
        written = 0
        cache: QueryCache = {}
        for name in sorted(job.suspects, key=lambda n: self._agent_seconds.get(n, 0.0)):
            detector = self._by_name[name]
            began = time.perf_counter()
            ctx = self._context(detector, job.tenant, job.end_ns, job.directory, cache, client,
                                agents=job.suspects[name])
            written += self._write(client, self._decided(detector, ctx))
            took = self._agent_seconds[name] = time.perf_counter() - began
            self.seconds.append((f"{name}:agents", took))
        return written

    def _within_cap(self, suspects: dict[str, set[str]]) -> dict[str, list[str]]:
        """Each detector's suspects, sorted; a detector with more than ``max_agents`` waits for
        its full windows instead (logged)."""
        kept: dict[str, list[str]] = {}
        for name, agents in suspects.items():
            if len(agents) > self.max_agents:
                log.info("detector %s: %d agents to re-judge live; full windows only this tick",
                         name, len(agents))
                self.agent_skips.append((name, len(agents)))
            elif agents:
                kept[name] = sorted(agents)
        return kept

    def _write(self, client: Client, findings: list[Finding]) -> int:
        """Alert rows written for ``findings`` (only incidents that are new or changed). Called
        once per detector and part: with nothing found, the state lock (which the sweep holds
        while it writes its own alerts) is not taken."""
        if not findings:
            return 0
        with self.state.lock:
            rows: list[AlertRow] = [r for f in findings if (r := self.state.incidents.apply(f)) is not None]
            return write_alerts(client, rows)

    def _held(self, item: NewData) -> bool:
        """Does the span tail hold the new spans (and so the traces' recent parts)?"""
        covered = self.tail.covered_from if self.tail is not None else None
        return covered is not None and covered <= item.min_ns

    def _judge_traces(self, detectors: list[Detector[Any]], tenant: str, end: int,
                      directory: FleetDirectory, cache: QueryCache, traces: dict[str, int | None],
                      suspects: dict[str, set[str]], held: bool) -> int:
        """Alert rows written for the trace-scoped findings of ``detectors`` on ``traces`` (each
        with where its spans begin, if known), each detector's as soon as it has judged them (the
        detectors judged after one took up to 0.6 s more in the bench's slow ticks); agent-scoped
        ones name their suspects into ``suspects``."""
        written = 0
        for part, read_from in self._parts(traces, end, held):
            for detector in detectors:
                ctx = self._context(detector, tenant, end, directory, cache, self.client,
                                    traces=part, read_from_ns=read_from)
                began = time.perf_counter()
                if detector.early_by_trace:
                    written += self._write(self.client, self._decided(detector, ctx))
                if detector.early_by_agent:
                    suspects[detector.name] |= self._suspects(detector, ctx)
                self.seconds.append((f"{detector.name}:traces", time.perf_counter() - began))
        return written

    def _context(self, detector: Detector[Any], tenant: str, end: int, directory: FleetDirectory,
                 cache: QueryCache, client: Client, **part: Any) -> EvalContext:
        window = Window(tenant, end - detector.window_ns, end)
        baseline = ScratchBaseline(self.state.baselines, tenant, detector.name, self.state.lock)
        return EvalContext(client, window, self.policy, baseline, cache=cache,
                           directory=directory, tail=self.tail, **part)

    def _parts(self, traces: dict[str, int | None], end: int,
               held: bool) -> list[tuple[list[str], int | None]]:
        """The traces in chunks, recent ones apart from older ones, each chunk with the earliest
        start among its traces (None: unknown, read the whole window).

        When the span tail holds the new spans, the starts the scan found are used (a query per
        chunk of 5,000 traces waited behind inserts and cost more than judging them), and the
        chunks are as large as a backlog: reads from memory need no bound on a parameter."""
        lower = end - max(d.window_ns for d in self.detectors)
        starts = {t: s for t, s in traces.items() if s is not None} if held else {}
        unknown = [t for t in traces if t not in starts]
        for some in chunks(unknown, EARLY_CHUNK):
            rows = self.client.query(_TRACE_START_SQL, parameters={"traces": some, "lower": lower})
            starts.update((str(t), int(s)) for t, s in rows.result_rows)
        recent = [t for t in traces if starts.get(t, 0) >= end - RECENT_NS]
        older = [t for t in traces if starts.get(t, 0) < end - RECENT_NS]
        size = BACKLOG_TRACES_HELD if held else EARLY_CHUNK
        parts: list[tuple[list[str], int | None]] = []
        for group in (recent, older):
            for some in chunks(group, size):
                earliest = min(starts.get(t, 0) for t in some)
                parts.append((some, earliest if earliest > lower else None))
        return parts

    @staticmethod
    def _decided(detector: Detector[Any], ctx: EvalContext) -> list[Finding]:
        try:
            return decided(detector, ctx)
        except Exception:  # noqa: BLE001 - not retried: the sweep covers the window
            log.warning("detector %s failed live on tenant %s", detector.name, ctx.window.tenant,
                        exc_info=True)
            return []

    @staticmethod
    def _suspects(detector: Detector[Any], ctx: EvalContext) -> set[str]:
        try:
            return detector.live_agents(ctx)
        except Exception:  # noqa: BLE001 - as above
            log.warning("detector %s failed to name live agents on tenant %s", detector.name,
                        ctx.window.tenant, exc_info=True)
            return set()
