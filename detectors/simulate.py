"""Feed a simulated run through the ingest path into ClickHouse, for evaluation and tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan

from collector.flatten import flatten_request
from collector.writer import insert_spans
from simulator.encode import encode_batch
from simulator.run import RunResult, SimulationConfig, run_simulation


class ClickHouseTransport:
    """A simulator transport that encodes each batch as OTLP, flattens it as the loader does,
    inserts it, and optionally runs a callback (an engine tick) after every batch."""

    def __init__(self, client: Client, tenant: str, run_id: str,
                 after_batch: Callable[[], object] | None = None) -> None:
        self.client, self.tenant, self.run_id = client, tenant, run_id
        self.after_batch = after_batch
        self.requests = 0
        self.failed_requests = 0

    def send(self, spans: Sequence[ReadableSpan], offset_ns: int) -> bool:
        request = ExportTraceServiceRequest.FromString(encode_batch(spans))
        columns = flatten_request(request, self.tenant)
        insert_spans(self.client, columns, dedup_token=f"{self.run_id}-{self.requests}")
        self.requests += 1
        if self.after_batch is not None:
            self.after_batch()
        return True

    def close(self) -> None:
        return None


def simulate_into(client: Client, config: SimulationConfig,
                  after_batch: Callable[[], object] | None = None) -> RunResult:
    transport = ClickHouseTransport(client, config.tenant, config.run_id(), after_batch)
    return run_simulation(config, transport=transport)
