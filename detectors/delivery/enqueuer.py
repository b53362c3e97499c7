"""Turning new alert versions into outbox messages for the subscriptions that want them.

The cursor lives in memory: after a restart the enqueuer re-reads ``lookback`` worth of alerts
and asks the outbox which of the resulting message ids it already holds, so nothing is lost and
nothing is enqueued twice. While running it re-reads ``overlap`` behind the last scan (alert
rows can land late) and remembers which versions it has handled in that window, so a quiet
round is one small query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from detectors.delivery.alerts_feed import AlertVersion, alert_pages
from detectors.delivery.outbox import OutboxMessage, enqueue, existing_ids, message_id_for
from detectors.delivery.payloads import render_body
from detectors.delivery.subscriptions import Subscription


class AlertEnqueuer:
    def __init__(
        self, client: Client, page_size: int, lookback: timedelta, overlap: timedelta
    ) -> None:
        self._client = client
        self._page_size = page_size
        self._lookback = lookback
        self._overlap = overlap
        self._scanned_until: datetime | None = None
        self._seen: dict[tuple[str, int], datetime] = {}
        self._seen_for: frozenset[tuple[str, int]] = frozenset()

    def enqueue_new(self, subscriptions: Sequence[Subscription], now: datetime) -> int:
        """Enqueue every unseen alert version for each active subscription it matches;
        returns how many messages were added."""
        active = [s for s in subscriptions if s.active]
        self._forget_seen_if_subscriptions_changed(active)
        since = self._since(now)
        added = 0
        if active:
            for page in alert_pages(self._client, since, self._page_size):
                added += self._enqueue_page(page, active, now)
        self._scanned_until = now
        self._seen = {key: at for key, at in self._seen.items() if at >= since}
        return added

    def _since(self, now: datetime) -> datetime:
        if self._scanned_until is None:
            return now - self._lookback
        return self._scanned_until - self._overlap

    def _forget_seen_if_subscriptions_changed(self, active: Sequence[Subscription]) -> None:
        # A version seen before a subscription existed (or changed its filters) must be looked
        # at again for it; the outbox check keeps the others from being enqueued twice.
        current = frozenset((s.subscription_id, s.revision) for s in active)
        if current != self._seen_for:
            self._seen.clear()
            self._seen_for = current

    def _enqueue_page(
        self, page: Sequence[AlertVersion], active: Sequence[Subscription], now: datetime
    ) -> int:
        fresh = [alert for alert in page if alert.key not in self._seen]
        wanted = {
            message_id_for(sub.subscription_id, alert.alert_id, alert.version): (sub, alert)
            for alert in fresh
            for sub in active
            if sub.wants(alert)
        }
        known = existing_ids(self._client, wanted.keys())
        new = [
            _message(message_id, sub, alert, now)
            for message_id, (sub, alert) in wanted.items()
            if message_id not in known
        ]
        enqueue(self._client, new)
        self._seen.update((alert.key, alert.updated_at) for alert in fresh)
        return len(new)


def _message(
    message_id: str, sub: Subscription, alert: AlertVersion, now: datetime
) -> OutboxMessage:
    return OutboxMessage(
        message_id=message_id,
        subscription_id=sub.subscription_id,
        alert_id=alert.alert_id,
        alert_version=alert.version,
        tenant_id=alert.tenant_id,
        body=render_body(sub, alert).decode("utf-8"),
        created_at=now,
        next_attempt_at=now,
    )
