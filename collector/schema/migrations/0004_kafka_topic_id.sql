-- The Kafka topic's id (its incarnation): a topic deleted and re-created under the same name
-- restarts its offsets, and the loader must not take the old incarnation's stored offsets for
-- the new one's.
ALTER TABLE otel_traces ADD COLUMN IF NOT EXISTS KafkaTopicId String DEFAULT '' AFTER KafkaTopic;
