"""The highest Kafka offset per partition already stored in the spans table."""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client
from kafka.structs import TopicPartition

from collector.spans_table import SPANS_TABLE

_QUERY = f"""
SELECT KafkaPartition, max(KafkaOffset)
FROM {SPANS_TABLE}
WHERE KafkaTopic = {{topic:String}} AND KafkaTopicId = {{topic_id:String}}
  AND KafkaPartition IN {{partitions:Array(Int32)}}
GROUP BY KafkaPartition
"""


def stored_offsets(client: Client, topic: str, topic_id: str,
                   partitions: Sequence[TopicPartition]) -> dict[int, int]:
    """Per partition of this incarnation of ``topic`` (``topic_id``; '' when unknown)."""
    if not partitions:
        return {}
    result = client.query(
        _QUERY, parameters={"topic": topic, "topic_id": topic_id,
                            "partitions": [tp.partition for tp in partitions]}
    )
    return {int(partition): int(offset) for partition, offset in result.result_rows}
