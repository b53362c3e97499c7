"""Dead-letter routing for messages the loader cannot decode, and the halt rule.

A poison message goes to the dead-letter topic with its origin and the error in headers. When
bad messages dominate recent traffic, something upstream is wrong (a wrong producer, a schema
change): the loader halts instead of shovelling the whole topic into the dead-letter queue.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from kafka import KafkaProducer


class LoaderHalted(RuntimeError):
    pass


@dataclass(frozen=True)
class PoisonMessage:
    topic: str
    partition: int
    offset: int
    value: bytes
    error: str


class DeadLetters:
    def __init__(self, producer: KafkaProducer, topic: str, max_ratio: float,
                 window: int = 1000, min_bad: int = 100) -> None:
        self._producer = producer
        self._topic = topic
        self._max_ratio = max_ratio
        self._recent: deque[bool] = deque(maxlen=window)
        self._min_bad = min_bad
        self.routed = 0

    def observe(self, good: int, bad: int) -> None:
        """Record a batch's outcome; raise LoaderHalted when bad messages dominate."""
        self._recent.extend([False] * good + [True] * bad)
        bad_recent = sum(self._recent)
        if bad_recent >= self._min_bad and bad_recent / len(self._recent) > self._max_ratio:
            raise LoaderHalted(
                f"{bad_recent} of the last {len(self._recent)} messages were undecodable; "
                "halting instead of dead-lettering everything (see the dead-letter topic)"
            )

    def route(self, poison: list[PoisonMessage]) -> None:
        """Send and flush, so the dead letters are durable before offsets move past them."""
        sends = []
        for message in poison:
            headers = [
                ("fleetwatch.error", message.error.encode()[:1000]),
                ("fleetwatch.origin.topic", message.topic.encode()),
                ("fleetwatch.origin.partition", str(message.partition).encode()),
                ("fleetwatch.origin.offset", str(message.offset).encode()),
            ]
            sends.append(self._producer.send(self._topic, value=message.value, headers=headers))
        for send in sends:
            send.get(timeout=30)  # raises if the dead letter was not stored: do not commit
        self.routed += len(poison)
