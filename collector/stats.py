"""Counters the admin endpoint reports (`fleetwatch status`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields


@dataclass
class IngestStats:
    requests: int = 0
    spans_accepted: int = 0
    spans_rejected: int = 0
    requests_refused: dict[str, int] = field(default_factory=dict)
    spans_stored: int = 0
    batches_stored: int = 0
    store_failures: int = 0
    last_store_unix: float | None = None
    last_error: str | None = None
    # Several writer threads (embedded inserters, loader consumers) report at once.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def refused(self, reason: str) -> None:
        self.requests_refused[reason] = self.requests_refused.get(reason, 0) + 1

    def stored(self, spans: int) -> None:
        with self._lock:
            self.spans_stored += spans
            self.batches_stored += 1
            self.last_store_unix = time.time()

    def store_failed(self, error: BaseException) -> str:
        """Count a failed write and keep a short description of it (returned for logging)."""
        described = f"{type(error).__name__}: {str(error)[:300]}"
        with self._lock:
            self.store_failures += 1
            self.last_error = described
        return described

    def as_dict(self) -> dict[str, object]:
        with self._lock:
            found = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
            found["requests_refused"] = dict(self.requests_refused)
            return found
