"""bench/detectors_bench.py helpers on real chDB: the history copies do not repeat the benign
traffic's conversations, files, jobs and messages (session 3's false alerts came from that)."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from bench.detectors_bench import SECOND, Feed, Feeder, envelopes, load_feed, preload_history
from simulator.benign import TOPICS
from simulator.labels import write_labels
from simulator.run import SimulationConfig, run_simulation
from simulator.suite import parse_spec
from simulator.transport import FileTransport

DURATION_S = 120.0


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    """A small fleet with one incident (its traces must stay out of the history)."""
    folder = tmp_path_factory.mktemp("bench")
    config = SimulationConfig(seed=5, agents=12, market_agents=0, duration_s=DURATION_S,
                              sessions_per_agent_hour=150, tenant="bench", flush_interval_s=5,
                              scenarios=(parse_spec("cs4_agent_loop:variant=relay,at=10,speed=2000"),))
    records, labels = folder / "feed.otlp", folder / "feed.labels"
    result = run_simulation(config, transport=FileTransport(records))
    write_labels(labels, result.summary, result.incidents)
    return load_feed(records, labels)


WALL = 1_780_000_000 * SECOND  # (in the past) the live feed starts here, the history lies before it


def _per_copy(ch: Client, attribute: str, history: dict[str, int]) -> dict[str, set[str]]:
    """copy number (the trace id's last six hex digits) -> the attribute's distinct values."""
    rows = ch.query(f"SELECT right(TraceId, 6), groupUniqArray(SpanAttributes['{attribute}'] AS value) "
                    "FROM otel_traces WHERE value != '' AND TraceId IN {h:Array(String)} GROUP BY 1",
                    parameters={"h": sorted(history)}).result_rows
    return {str(copy): {str(v) for v in values} for copy, values in rows}


def _feed(ch: Client, feed: Feed) -> None:
    """The live feed as the bench's feeder inserts it (its requests due at once: WALL is past)."""
    feeder = Feeder(ch, envelopes(feed, WALL), WALL)
    feeder.run()
    assert feeder.spans == sum(n for _, n, _ in feed.requests) > 0


def test_history_copies_have_their_own_identities(ch: Client, feed: Feed) -> None:
    rows = preload_history(ch, feed, minutes=3, wall_start_ns=WALL)  # 2 copies of 120 s
    history = {str(t): int(n) for t, n in ch.query("SELECT TraceId, count() FROM otel_traces GROUP BY 1").result_rows}
    assert rows == sum(history.values()) > 0
    _feed(ch, feed)
    live = {str(t): int(n) for t, n in ch.query(
        "SELECT TraceId, count() FROM otel_traces WHERE TraceId NOT IN {h:Array(String)} GROUP BY 1",
        parameters={"h": sorted(history)}).result_rows}
    conversations = _per_copy(ch, "gen_ai.conversation.id", history)
    assert sorted(conversations) == ["000001", "000002"]
    original = _per_copy(ch, "gen_ai.conversation.id", live)  # keyed by random trace ends
    original_ids = set().union(*original.values())
    first, second = conversations["000001"], conversations["000002"]
    assert first and original_ids and not first & second and not first & original_ids and not second & original_ids
    assert len(first) == len(second)  # renamed one to one, not merged

    # A claim still names what its own copy acted on, and file-name patterns still match.
    claimed = _per_copy(ch, "fleet.claim.subject", history)
    targets = _per_copy(ch, "fleet.action.target", history)
    assert claimed["000001"] & targets["000001"]
    assert not claimed["000001"] & targets["000002"]
    assert all(t.split(":", 1)[1].startswith("h2/") for t in targets["000002"])
    assert any(t.startswith("file:h2/") and t.endswith(".md") for t in targets["000002"])
    shared = {c for c in set().union(*claimed.values()) if c.startswith("discord:")}
    assert shared and all("/h" not in c for c in shared)  # channels are not renamed

    # Topics move on by one per copy (in the simulator's order): failures spread over topics.
    prefix = ch.query("SELECT any(substring(TraceId, 1, 26)) FROM otel_traces WHERE TraceId IN {h:Array(String)} "
                      "AND SpanAttributes['fleet.topic'] != ''", parameters={"h": sorted(history)}).result_rows[0][0]
    topic = {str(t): str(v) for t, v in ch.query(
        "SELECT TraceId, argMin(SpanAttributes['fleet.topic'], Timestamp) FROM otel_traces "
        "WHERE startsWith(TraceId, {p:String}) AND SpanAttributes['fleet.topic'] != '' GROUP BY TraceId",
        parameters={"p": prefix}).result_rows}
    assert len(topic) == 3
    original_topic = next(v for t, v in topic.items() if t not in history)
    for trace, value in topic.items():
        if trace in history:
            assert value == TOPICS[(TOPICS.index(original_topic) + int(trace[-6:], 16)) % len(TOPICS)]

    # Whole traces (as many spans as the same trace in the feed), each copy beginning in its
    # own earlier stretch; incident traces are not copied.
    by_prefix = {trace[:26]: spans for trace, spans in live.items()}
    assert all(by_prefix[trace[:26]] == spans for trace, spans in history.items())
    starts = ch.query("SELECT right(TraceId, 6), toUnixTimestamp64Nano(max(first)) FROM (SELECT TraceId, "
                      "min(Timestamp) AS first FROM otel_traces WHERE TraceId IN {h:Array(String)} "
                      "GROUP BY TraceId) GROUP BY 1", parameters={"h": sorted(history)}).result_rows
    assert len(starts) == 2
    for copy, latest in starts:
        assert int(latest) < WALL - (int(copy, 16) - 1) * feed.duration_ns
    # Span ids are the copy's own, and parents still point at spans of the same trace.
    spans = ch.query("SELECT uniqExact(SpanId), count(), countIf(ParentSpanId != '' AND ParentSpanId NOT IN "
                     "(SELECT SpanId FROM otel_traces)) FROM otel_traces").result_rows[0]
    assert spans[0] == spans[1] and spans[2] == 0
    incident = {t[:26] for label in feed.labels for t in label.trace_ids}
    assert incident and not incident & {t[:26] for t in history}
    assert not ch.query("EXISTS TABLE bench_seed").result_rows[0][0]


def test_no_history_when_none_asked(ch: Client, feed: Feed) -> None:
    assert preload_history(ch, feed, minutes=0, wall_start_ns=0) == 0
    assert ch.query("SELECT count() FROM otel_traces").result_rows[0][0] == 0


def test_feed_on_the_wall_clock_keeps_the_incident_trace_ids(ch: Client, feed: Feed) -> None:
    """ClickHouse parses the shifted requests; the labels' trace ids are found, moved by the shift."""
    _feed(ch, feed)
    rows = ch.query("SELECT TraceId, toUnixTimestamp64Nano(min(Timestamp)) FROM otel_traces "
                    "WHERE TenantId = 'bench' GROUP BY TraceId").result_rows
    first = {str(t): int(ts) for t, ts in rows}
    assert min(first.values()) >= WALL
    assert max(first.values()) < WALL + feed.duration_ns + 600 * SECOND
    for label in feed.labels:
        assert label.trace_ids and set(label.trace_ids) <= set(first)
        assert min(first[t] for t in label.trace_ids) - WALL == label.start_ns - feed.sim_start_ns
