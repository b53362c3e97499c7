"""Attempting one page of due messages, and what each outcome does to a message's state.

Messages are grouped by subscription. Within a group they are sent one after another, in due
order (so a firing version usually precedes its resolution); groups run concurrently, bounded
by a semaphore. When a subscriber is unavailable, the rest of its group is not tried in this
round but deferred to the same retry time: a receiver that is down costs one timeout per round,
not one per pending message. A round also stops starting new sends after its time budget,
leaving the rest due for the next round.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import httpx

from detectors.delivery.outbox import CANCELLED, DELIVERED, FAILED, PENDING, OutboxMessage
from detectors.delivery.retry import RetryPolicy
from detectors.delivery.sender import Outcome, SenderConfig, attempt
from detectors.delivery.subscriptions import Subscription
from detectors.delivery.targets import display_url

log = logging.getLogger(__name__)


@dataclass
class RoundResult:
    updated: list[OutboxMessage] = field(default_factory=list)
    attempted: int = 0
    gone: set[str] = field(default_factory=set)  # subscriptions that answered 410


def after_attempt(
    message: OutboxMessage, outcome: Outcome, policy: RetryPolicy, rng: random.Random,
    now: datetime,
) -> OutboxMessage:
    """The message's next state once ``outcome`` is known."""
    attempts = message.attempts + 1
    done = replace(message, attempts=attempts, last_status=outcome.status,
                   last_error=outcome.error, next_attempt_at=now)
    if outcome.kind == "delivered":
        return replace(done, state=DELIVERED)
    if outcome.kind in ("gone", "refused") or policy.exhausted(attempts):
        return replace(done, state=FAILED)
    delay = policy.next_delay(attempts, outcome.retry_after, rng)
    return replace(done, state=PENDING, next_attempt_at=_ceil_millis(now, delay))


def _ceil_millis(now: datetime, delay: float) -> datetime:
    # The outbox stores milliseconds and truncates; rounding up keeps "not before" true.
    when = now + timedelta(seconds=delay)
    extra = when.microsecond % 1000
    return when + timedelta(microseconds=1000 - extra) if extra else when


def receiver_unavailable(outcome: Outcome) -> bool:
    """True when the failure is about the receiver, not this one message (a 400 for one body
    says nothing about the next): no answer, a redirect, 408, 429 or 5xx."""
    status = outcome.status
    return status == 0 or 300 <= status < 400 or status in (408, 429) or status >= 500


@dataclass
class Round:
    """One pass over a page of due messages."""

    http: httpx.AsyncClient
    sender: SenderConfig
    policy: RetryPolicy
    rng: random.Random
    now: datetime
    max_concurrency: int
    budget_seconds: float
    clock: Callable[[], float]
    result: RoundResult = field(default_factory=RoundResult)

    async def run(self, due: Sequence[OutboxMessage], subs: dict[str, Subscription]) -> RoundResult:
        groups: dict[str, list[OutboxMessage]] = {}
        for message in due:
            groups.setdefault(message.subscription_id, []).append(message)
        semaphore = asyncio.Semaphore(self.max_concurrency)
        deadline = self.clock() + self.budget_seconds
        await asyncio.gather(
            *(self._group(semaphore, deadline, subs.get(sub_id), messages)
              for sub_id, messages in groups.items())
        )
        return self.result

    async def _group(
        self, semaphore: asyncio.Semaphore, deadline: float, sub: Subscription | None,
        messages: list[OutboxMessage],
    ) -> None:
        if sub is None or not sub.active:
            self._cancel(messages, "subscription removed or disabled")
            return
        for index, message in enumerate(messages):
            if self.clock() >= deadline:
                return  # left untouched: still due next round
            async with semaphore:
                outcome = await self._send(sub, message)
            updated = after_attempt(message, outcome, self.policy, self.rng, self.now)
            self.result.updated.append(updated)
            self.result.attempted += 1
            if outcome.kind == "gone":
                self.result.gone.add(sub.subscription_id)
                self._cancel(messages[index + 1 :], "subscription disabled: receiver sent 410")
                return
            if updated.state == PENDING and receiver_unavailable(outcome):
                self._defer(messages[index + 1 :], updated.next_attempt_at)
                return

    async def _send(self, sub: Subscription, message: OutboxMessage) -> Outcome:
        try:
            outcome = await attempt(self.http, self.sender, sub, message, self.now)
        except Exception as error:  # one bad subscription must not stop the others
            log.exception("webhook %s: unexpected error", message.message_id)
            outcome = Outcome("retry", error=f"internal error: {type(error).__name__}")
        if outcome.kind != "delivered":
            log.warning("webhook %s to %s: %s (attempt %d)", message.message_id,
                        display_url(sub.url), outcome.error, message.attempts + 1)
        return outcome

    def _cancel(self, messages: Sequence[OutboxMessage], reason: str) -> None:
        self.result.updated.extend(
            replace(m, state=CANCELLED, last_error=reason) for m in messages
        )

    def _defer(self, messages: Sequence[OutboxMessage], until: datetime) -> None:
        # Not an attempt: the attempt count stays, only the due time moves.
        self.result.updated.extend(replace(m, next_attempt_at=until) for m in messages)
