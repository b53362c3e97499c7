"""Create the spans and dead-letter topics if they do not exist."""

from __future__ import annotations

import logging
from contextlib import suppress

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from fleetwatch.config import Settings

log = logging.getLogger(__name__)


def ensure_topics(settings: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="fleetwatch-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(settings.kafka_topic, settings.kafka_topic_partitions, 1),
            NewTopic(settings.kafka_dlq_topic, 1, 1),
        ]
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            with suppress(TopicAlreadyExistsError):  # another replica created it first
                admin.create_topics(missing)
            log.info("created Kafka topics %s", [t.name for t in missing])
    finally:
        admin.close()
