"""Getting spans out: the stock OTLP/HTTP exporter, pre-encoded files and replay, the CLI.

The receiver here is a small local OTLP/HTTP sink written for these tests (aiohttp, decoding
ExportTraceServiceRequest with the real protobuf classes); the end-to-end path through
fleetwatch's own receiver into ClickHouse is in test_simulator_e2e.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from fleetwatch.cli import main
from simulator.decode import FlatSpan, decode_request
from simulator.encode import read_records
from simulator.labels import read_labels
from simulator.replay import replay
from simulator.run import SimulationConfig, run_simulation
from simulator.suite import parse_spec
from simulator.transport import EndpointUnavailable

CONFIG = SimulationConfig(seed=11, agents=5, market_agents=4, duration_s=1800.0)


@dataclass
class Sink:
    url: str = ""
    spans: list[FlatSpan] = field(default_factory=list)
    requests: int = 0
    authorization: set[str] = field(default_factory=set)
    fail_first: int = 0  # answer this many requests with 503 first

    def trace_ids(self) -> set[str]:
        return {span.trace_id for span in self.spans}


@pytest.fixture
def sink() -> Iterator[Sink]:
    state = Sink()

    async def traces(request: web.Request) -> web.Response:
        state.authorization.add(request.headers.get("authorization", ""))
        body = await request.read()
        if state.fail_first > 0:
            state.fail_first -= 1
            return web.Response(status=503, headers={"Retry-After": "0"})
        state.requests += 1
        state.spans.extend(decode_request(body))
        reply = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=reply, content_type="application/x-protobuf")

    loop = asyncio.new_event_loop()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port: int = runner.addresses[0][1]
        return port

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    state.url = f"http://127.0.0.1:{port}"
    yield state
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_otlp_http_exporter_delivers_every_labelled_trace(sink: Sink, tmp_path: Path) -> None:
    labels_path = tmp_path / "labels.jsonl"
    result = run_simulation(CONFIG, endpoint=sink.url, token="s3cret", labels_path=labels_path)
    assert result.failed_requests == 0
    assert len(sink.spans) == result.spans > 500
    assert sink.authorization == {"Bearer s3cret"}
    labels = read_labels(labels_path)
    assert len(labels.incidents) == len(result.incidents) >= 15
    received = sink.trace_ids()
    for incident in labels.incidents:
        assert incident.trace_ids and set(incident.trace_ids) <= received, incident.scenario
        carried = {s.agent_id for s in sink.spans if s.trace_id in set(incident.trace_ids)}
        assert carried <= set(incident.agents)


def test_file_output_holds_the_same_spans_as_live_sending(sink: Sink, tmp_path: Path) -> None:
    output = tmp_path / "run.otlp"
    run_simulation(CONFIG, output=output)
    records = list(read_records(output))
    from_file = [span for record in records for span in decode_request(record.payload)]
    assert sum(r.span_count for r in records) == len(from_file)
    assert [r.offset_ns for r in records] == sorted(r.offset_ns for r in records)
    run_simulation(CONFIG, endpoint=sink.url)
    assert sorted(s.span_id for s in from_file) == sorted(s.span_id for s in sink.spans)


def test_replay_at_max_speed_sends_everything(sink: Sink, tmp_path: Path) -> None:
    output = tmp_path / "run.otlp"
    result = run_simulation(CONFIG, output=output)
    stats = replay(output, sink.url, speed=None, concurrency=4)
    assert stats.failed == 0 and stats.spans == result.spans == len(sink.spans)
    assert stats.records == sink.requests


def test_replay_paces_to_recorded_offsets(sink: Sink, tmp_path: Path) -> None:
    output = tmp_path / "run.otlp"
    config = SimulationConfig(seed=3, agents=3, market_agents=0, duration_s=120.0, scenarios=(),
                              sessions_per_agent_hour=60.0)
    run_simulation(config, output=output)
    last_offset_s = max(r.offset_ns for r in read_records(output)) / 1e9
    assert last_offset_s > 60
    began = time.monotonic()
    stats = replay(output, sink.url, speed=last_offset_s / 1.0, concurrency=2)  # ~1 s of pacing
    elapsed = time.monotonic() - began
    assert stats.failed == 0
    assert 0.9 <= elapsed < 10


def test_replay_retries_retryable_answers(sink: Sink, tmp_path: Path) -> None:
    output = tmp_path / "run.otlp"
    result = run_simulation(SimulationConfig(seed=4, agents=2, market_agents=0, duration_s=600.0,
                                             scenarios=()), output=output)
    sink.fail_first = 3
    stats = replay(output, sink.url, speed=None, concurrency=1)
    assert stats.retries == 3 and stats.failed == 0 and stats.spans == result.spans


def test_read_records_rejects_foreign_files(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.otlp"
    bogus.write_bytes(b"not ours at all")
    with pytest.raises(ValueError):
        list(read_records(bogus))


def test_cli_simulate_then_replay(sink: Sink, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output, labels = tmp_path / "cli.otlp", tmp_path / "cli.labels.jsonl"
    args = ["simulate", "--output", str(output), "--labels", str(labels), "--seed", "5",
            "--agents", "4", "--market-agents", "3", "--duration", "30m",
            "--scenario", "cs11:fan_out=9,at=60", "--scenario", "market_collusion:at=300"]
    assert main(args) == 0
    run = read_labels(labels)
    assert [i.kind for i in run.incidents] == ["fan_out_storm", "market_collusion"]
    assert main(["replay", str(output), "--endpoint", sink.url, "--max"]) == 0
    assert set(run.incidents[0].trace_ids) <= sink.trace_ids()
    assert '"failed": 0' in capsys.readouterr().out


def test_cli_rejects_unknown_scenario_parameters(tmp_path: Path) -> None:
    args = ["simulate", "--output", str(tmp_path / "x.otlp"), "--scenario", "cs11:fanout=3"]
    assert main(args) == 2
    with pytest.raises(ValueError):
        parse_spec("cs4:variant=nope")


def test_unreachable_endpoint_stops_the_run_quickly() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = SimulationConfig(seed=1, agents=2, market_agents=0, duration_s=3600.0, scenarios=())
    began = time.monotonic()
    with pytest.raises(EndpointUnavailable):
        run_simulation(config, endpoint=f"http://127.0.0.1:{port}", timeout_s=0.5)
    assert time.monotonic() - began < 10


def test_realtime_mode_paces_to_the_wall_clock(sink: Sink) -> None:
    config = SimulationConfig(seed=2, agents=2, market_agents=2, duration_s=3.0, realtime=True,
                              start_ns=time.time_ns(), scenarios=(), sessions_per_agent_hour=5000.0)
    began = time.monotonic()
    result = run_simulation(config, endpoint=sink.url)
    elapsed = time.monotonic() - began
    assert 2.5 < elapsed < 10 and len(sink.spans) == result.spans > 0
