"""When to try a failed delivery again: exponential backoff with jitter, and Retry-After.

The nominal delay doubles per attempt from ``base`` up to ``cap``; the actual delay is drawn
uniformly from ``[nominal * (1 - jitter), nominal]`` so a fleet of subscribers that failed
together does not retry in lockstep, while the delay still grows with every attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from fleetwatch.config import Settings


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    cap_seconds: float
    jitter: float
    max_attempts: int
    retry_after_cap_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            base_seconds=settings.webhook_retry_base_seconds,
            cap_seconds=settings.webhook_retry_max_seconds,
            jitter=settings.webhook_retry_jitter,
            max_attempts=settings.webhook_max_attempts,
            retry_after_cap_seconds=settings.webhook_retry_after_max_seconds,
        )

    def nominal_delay(self, attempts: int) -> float:
        """The un-jittered delay after ``attempts`` failed attempts (1 = the first failure)."""
        exponent = max(attempts - 1, 0)
        # Cap the exponent too: 2**1000 is fine for floats but says nothing useful.
        return min(self.cap_seconds, self.base_seconds * 2.0 ** min(exponent, 64))

    def delay_bounds(self, attempts: int) -> tuple[float, float]:
        nominal = self.nominal_delay(attempts)
        return nominal * (1.0 - self.jitter), nominal

    def backoff(self, attempts: int, rng: random.Random) -> float:
        low, high = self.delay_bounds(attempts)
        return rng.uniform(low, high)

    def next_delay(self, attempts: int, retry_after: float | None, rng: random.Random) -> float:
        """Backoff, but never sooner than the receiver asked (Retry-After), within a cap."""
        delay = self.backoff(attempts, rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_cap_seconds))
        return delay

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent
    or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
