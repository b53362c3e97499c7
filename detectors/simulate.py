"""Feed a simulated run through the ingest path into ClickHouse, for evaluation and tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from clickhouse_connect.driver.client import Client
from opentelemetry.sdk.trace import ReadableSpan

from collector.writer import insert_requests
from simulator.encode import encode_batch
from simulator.run import RunResult, SimulationConfig, run_simulation


class ClickHouseTransport:
    """A simulator transport that encodes each batch as OTLP and inserts it as the receivers do
    (ClickHouse flattens it), optionally running a callback (an engine tick) after every batch."""

    def __init__(self, client: Client, tenant: str, run_id: str,
                 after_batch: Callable[[], object] | None = None) -> None:
        self.client, self.tenant, self.run_id = client, tenant, run_id
        self.after_batch = after_batch
        self.requests = 0
        self.failed_requests = 0

    def send(self, spans: Sequence[ReadableSpan], offset_ns: int) -> bool:
        insert_requests(self.client, [encode_batch(spans)], self.tenant,
                        dedup_token=f"{self.run_id}-{self.requests}")
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
