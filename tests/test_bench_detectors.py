"""bench/detectors_bench.py helpers on real chDB: the history copies do not repeat the benign
traffic's conversations, files, jobs and messages (session 3's false alerts came from that)."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from bench.detectors_bench import SECOND, Feed, load_feed, preload_history
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


def _per_copy(ch: Client, sql: str) -> dict[str, set[str]]:
    """copy number (the trace id's last six hex digits) -> the distinct values ``sql`` selects."""
    rows = ch.query(f"SELECT right(TraceId, 6), groupUniqArray(value) FROM ({sql}) GROUP BY 1").result_rows
    return {str(copy): {str(v) for v in values} for copy, values in rows}


def test_history_copies_have_their_own_identities(ch: Client, feed: Feed) -> None:
    wall = 1_800_000_000 * SECOND
    rows = preload_history(ch, feed, minutes=3, wall_start_ns=wall)  # 2 copies of 120 s
    assert rows > 0
    conversations = _per_copy(ch, "SELECT TraceId, SpanAttributes['gen_ai.conversation.id'] AS value "
                                  "FROM otel_traces WHERE value != ''")
    assert sorted(conversations) == ["000001", "000002"]
    original = {str(v) for _, columns in feed.batches for attributes in columns["SpanAttributes"]
                for k, v in dict(attributes).items() if k == "gen_ai.conversation.id"}  # type: ignore[call-overload]
    first, second = conversations["000001"], conversations["000002"]
    assert first and not first & second and not first & original and not second & original
    assert len(first) == len(second)  # renamed one to one, not merged

    # A claim still names what its own copy acted on, and file-name patterns still match.
    claimed = _per_copy(ch, "SELECT TraceId, SpanAttributes['fleet.claim.subject'] AS value "
                            "FROM otel_traces WHERE value != ''")
    targets = _per_copy(ch, "SELECT TraceId, SpanAttributes['fleet.action.target'] AS value "
                            "FROM otel_traces WHERE value != ''")
    assert claimed["000001"] & targets["000001"]
    assert not claimed["000001"] & targets["000002"]
    assert all(t.split(":", 1)[1].startswith("h2/") for t in targets["000002"])
    assert any(t.startswith("file:h2/") and t.endswith(".md") for t in targets["000002"])

    # Each copy lies in its own earlier stretch; incident traces are not copied.
    bounds = ch.query("SELECT right(TraceId, 6), toUnixTimestamp64Nano(max(Timestamp)) FROM otel_traces "
                      "GROUP BY 1 ORDER BY 1").result_rows
    for copy, newest in bounds:
        assert int(newest) < wall - (int(copy, 16) - 1) * feed.duration_ns
    incident = {t[:26] for label in feed.labels for t in label.trace_ids}
    assert incident
    copied = {str(r[0]) for r in ch.query("SELECT DISTINCT substring(TraceId, 1, 26) FROM otel_traces").result_rows}
    assert not incident & copied
    assert not ch.query("EXISTS TABLE bench_seed").result_rows[0][0]


def test_no_history_when_none_asked(ch: Client, feed: Feed) -> None:
    assert preload_history(ch, feed, minutes=0, wall_start_ns=0) == 0
    assert ch.query("SELECT count() FROM otel_traces").result_rows[0][0] == 0


def test_feed_keeps_the_incident_trace_ids(feed: Feed) -> None:
    fed = {str(t) for _, columns in feed.batches for t in columns["TraceId"]}
    assert feed.labels and all(set(label.trace_ids) <= fed for label in feed.labels)

