"""The highest Kafka offset per partition already stored in the spans table."""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client
from kafka.structs import TopicPartition

from collector.spans_table import SPANS_TABLE

_QUERY = f"""
SELECT KafkaPartition, max(KafkaOffset)
FROM {SPANS_TABLE}
WHERE KafkaTopic = {{topic:String}} AND KafkaPartition IN {{partitions:Array(Int32)}}
GROUP BY KafkaPartition
"""


def stored_offsets(client: Client, topic: str, partitions: Sequence[TopicPartition]) -> dict[int, int]:
    if not partitions:
        return {}
    result = client.query(
        _QUERY, parameters={"topic": topic, "partitions": [tp.partition for tp in partitions]}
    )
    return {int(partition): int(offset) for partition, offset in result.result_rows}
