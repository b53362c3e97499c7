"""kafka-python client settings, pinned explicitly (defaults differ between versions)."""

from __future__ import annotations

from typing import Any

from fleetwatch.config import Settings

# Record-batch framing on top of our payload; max_request_size must leave room for it.
_BATCH_OVERHEAD = 64 * 1024
_FETCH_PER_PARTITION = 8 * 1024 * 1024


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        # Idempotence stops broker-side duplicates from the producer's own retries.
        "enable_idempotence": True,
        "retries": 5,
        "max_in_flight_requests_per_connection": 5,
        "linger_ms": 5,
        "max_request_size": settings.kafka_max_message_bytes + _BATCH_OVERHEAD,
        # Answer the OTLP client (503, retryable) before its own 10 s export timeout fires.
        "max_block_ms": 2000,
        "request_timeout_ms": 5000,
        "delivery_timeout_ms": 8000,
        "bootstrap_timeout_ms": 2000,
        "client_id": "fleetwatch-receiver",
    }


def consumer_config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": settings.kafka_group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 2000,
        "fetch_max_bytes": 32 * 1024 * 1024,
        # Large fetches make large inserts: each insert has a fixed cost of tens of ms in
        # ClickHouse (planning the flattening view), so a few messages per insert waste most of it.
        "max_partition_fetch_bytes": max(_FETCH_PER_PARTITION,
                                         settings.kafka_max_message_bytes + _BATCH_OVERHEAD),
        "client_id": "fleetwatch-loader",
    }
    if settings.kafka_fast_rebalance:
        config.update(max_poll_interval_ms=5000, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    return config
