"""The webhook worker run by the service: ``WebhookDispatcher(settings, client).run_once()``.

Each round (1) enqueues new alert versions into the outbox for the subscriptions that match
them, then (2) attempts one page of due messages and appends their new states. Delivery is
at-least-once: a crash after a receiver answered 2xx but before that was recorded means the
message is sent again after restart, with the same webhook-id and body, which receivers use to
deduplicate. A round with nothing to do costs a subscription read and one alert query; the
outbox is only read when something can be due.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import certifi
import httpx
from clickhouse_connect.driver.client import Client

from detectors.delivery import outbox
from detectors.delivery.attempts import Round, RoundResult
from detectors.delivery.enqueuer import AlertEnqueuer
from detectors.delivery.payloads import rfc3339
from detectors.delivery.retry import RetryPolicy
from detectors.delivery.sender import SenderConfig
from detectors.delivery.subscriptions import (
    Subscription,
    load_subscriptions,
    save_subscription,
)
from detectors.delivery.targets import Resolver, display_url, system_resolver
from fleetwatch.config import Settings

log = logging.getLogger(__name__)

# The outbox TTL is 30 days (migration 0020); stay clear of rows a merge may be expiring.
_OUTBOX_HORIZON = timedelta(days=29)
# Look at the outbox at least this often even when nothing is known to be due.
_MAX_IDLE_CHECK = timedelta(seconds=60)


class WebhookDispatcher:
    def __init__(
        self,
        settings: Settings,
        client: Client,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._settings = settings
        self._client = client
        self._rng = rng or random.Random()
        self._clock = clock
        self._policy = RetryPolicy.from_settings(settings)
        self._sender = SenderConfig(
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_private_targets=settings.webhook_allow_private_targets,
            resolver=resolver,
        )
        self._enqueuer = AlertEnqueuer(
            client,
            page_size=settings.webhook_batch_size,
            lookback=timedelta(seconds=settings.webhook_alert_lookback_seconds),
            overlap=timedelta(seconds=settings.webhook_alert_overlap_seconds),
        )
        self._tls = _tls_context(settings)
        self._next_check: datetime | None = None  # None: look at the outbox next round

    def run_once(self) -> int:
        """One round; returns how many delivery attempts were made."""
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        subscriptions = load_subscriptions(self._client, include_deleted=True)
        if self._enqueuer.enqueue_new(subscriptions, now):
            self._next_check = None
        if self._next_check is not None and now < self._next_check:
            return 0
        by_id = {s.subscription_id: s for s in subscriptions}
        attempted = self._deliver_due(by_id, now)
        self._next_check = self._next_check_after(now)
        return attempted

    def _deliver_due(self, subscriptions: dict[str, Subscription], now: datetime) -> int:
        due = outbox.due_messages(
            self._client, now, now - _OUTBOX_HORIZON, self._settings.webhook_batch_size
        )
        if not due:
            return 0
        result = asyncio.run(self._round(due, subscriptions, now))
        outbox.record(self._client, result.updated)
        for subscription_id in result.gone:
            self._disable(subscriptions[subscription_id], now)
        return result.attempted

    async def _round(
        self, due: list[outbox.OutboxMessage], subscriptions: dict[str, Subscription],
        now: datetime,
    ) -> RoundResult:
        concurrency = self._settings.webhook_max_concurrency
        timeout = self._settings.webhook_timeout_seconds
        async with httpx.AsyncClient(
            follow_redirects=False,
            verify=self._tls,
            trust_env=False,  # an environment proxy would bypass the SSRF guard's pinning
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency),
        ) as http:
            round_ = Round(
                http=http, sender=self._sender, policy=self._policy, rng=self._rng, now=now,
                max_concurrency=concurrency, budget_seconds=3 * timeout, clock=time.monotonic,
            )
            return await round_.run(due, subscriptions)

    def _next_check_after(self, now: datetime) -> datetime:
        earliest = outbox.next_due_at(self._client, now - _OUTBOX_HORIZON)
        latest = now + _MAX_IDLE_CHECK
        return latest if earliest is None else min(earliest, latest)

    def _disable(self, subscription: Subscription, now: datetime) -> None:
        current = {s.subscription_id: s for s in load_subscriptions(self._client)}
        fresh = current.get(subscription.subscription_id)
        if fresh is None or not fresh.enabled:
            return
        reason = f"receiver answered 410 Gone at {rfc3339(now)}"
        save_subscription(self._client, replace(fresh, enabled=False, disabled_reason=reason))
        log.warning("webhook subscription %s (%s) disabled: %s", fresh.subscription_id,
                    display_url(fresh.url), reason)


def _tls_context(settings: Settings) -> ssl.SSLContext:
    # Built once: loading the CA bundle for every round would cost more than an idle round.
    context = ssl.create_default_context(cafile=certifi.where())
    if settings.webhook_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.webhook_ca_file))
    return context
