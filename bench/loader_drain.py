"""The Kafka loader alone: drain a topic of queued requests, CPU per span and spans per insert.

    python bench/loader_drain.py [--requests 1000] [--spans-per-request 200]

Starts Tansu, queues ``--requests`` pre-encoded requests (bench/payloads.py) on a 4-partition
topic, then runs one ``KafkaLoader`` in this process (chDB in a temporary directory) until every
span is stored. Reports wall time, process CPU per span (all threads: kafka-python's IO thread
and ClickHouse's count) and how many spans each insert carried, which is what the loader's
batch filling changes: each insert has a fixed cost (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clickhouse_connect.driver.client import Client  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

import collector.loader as loader_module  # noqa: E402
from bench.payloads import RequestFactory  # noqa: E402
from collector.kafka_config import producer_config  # noqa: E402
from collector.kafka_topics import ensure_topics  # noqa: E402
from collector.loader import KafkaLoader  # noqa: E402
from collector.migrations import migrate  # noqa: E402
from collector.stats import IngestStats  # noqa: E402
from collector.writer import insert_envelopes  # noqa: E402
from fleetwatch.clickhouse import connect  # noqa: E402
from fleetwatch.config import Settings  # noqa: E402
from tests.support.tansu import TansuBroker  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--spans-per-request", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loader-drain-"))
    broker = TansuBroker(work)
    broker.start()
    try:
        settings = Settings(clickhouse_url=f"chdb://{work / 'chdb'}", data_dir=work,
                            kafka_bootstrap=broker.bootstrap, kafka_topic_partitions=4, kafka_fast_rebalance=True)
        print(json.dumps(drain(settings, args.requests, args.spans_per_request), indent=2))
    finally:
        broker.stop()
    return 0


def drain(settings: Settings, requests: int, spans_per_request: int) -> dict[str, object]:
    ensure_topics(settings)
    migrate(connect(settings))
    inserts: list[int] = []

    def counted(client: Client, envelopes: Sequence[bytes], spans: int, token: str | None = None) -> int:
        inserts.append(spans)
        return insert_envelopes(client, envelopes, spans, token)

    setattr(loader_module, "insert_envelopes", counted)  # noqa: B010 - count inserts, change nothing
    loader = KafkaLoader(settings, lambda: connect(settings), IngestStats())
    loader.open()
    try:
        while not loader.settled():  # joined the group; the topic is still empty
            loader.step(timeout_ms=200)
        queue(settings, requests, spans_per_request)
        total, stored = requests * spans_per_request, 0
        cpu, wall = time.process_time(), time.perf_counter()
        while stored < total:
            stored += loader.step(timeout_ms=500)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        loader.close()
    return {"spans": total, "wall_seconds": round(wall, 2), "spans_per_s": round(total / wall),
            "process_cpu_us_per_span": round(cpu / total * 1e6, 2), "inserts": len(inserts),
            "spans_per_insert": round(total / max(1, len(inserts)))}


def queue(settings: Settings, requests: int, spans_per_request: int) -> None:
    factory = RequestFactory(spans_per_request)
    producer = KafkaProducer(**producer_config(settings))
    for _ in range(requests):
        producer.send(settings.kafka_topic, factory.next()[1])
    producer.flush()
    producer.close()


if __name__ == "__main__":
    sys.exit(main())
