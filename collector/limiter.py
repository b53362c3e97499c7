"""A memory limiter: bytes admitted into the pipeline and not yet durable.

Like the Collector's memory_limiter it refuses with a retryable error instead of queueing
without bound; the client backs off and retries.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from collector.errors import Overloaded


class InflightLimiter:
    def __init__(self, capacity: int, retry_after: int) -> None:
        self._capacity = capacity
        self._retry_after = retry_after
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        """Admit ``size`` bytes for the duration of the block, or raise Overloaded."""
        with self._lock:
            # A single request larger than the whole budget is admitted only into an empty
            # pipeline, so large-but-legal requests cannot starve forever.
            if self._used and self._used + size > self._capacity:
                raise Overloaded("pipeline saturated; retry later", self._retry_after)
            self._used += size
        try:
            yield
        finally:
            with self._lock:
                self._used -= size
