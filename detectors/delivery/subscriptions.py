"""Webhook subscriptions: what they are, which alerts they want, and how they are stored.

Stored in ``webhook_subscriptions`` (ReplacingMergeTree by Revision): a change is a new full
row with a higher Revision, a removal is a row with Deleted set. Secrets are held as SecretStr
in memory so they print masked wherever a Subscription ends up in a log or a traceback.
"""

from __future__ import annotations

import secrets as random_tokens
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from detectors.delivery.alerts_feed import AlertVersion

PAYLOAD_FORMATS = ("fleetwatch", "alertmanager")
MAX_ACTIVE_SECRETS = 3

SUBSCRIPTION_COLUMNS = (
    "SubscriptionId", "Revision", "Name", "Url", "Secrets", "PayloadFormat", "Detectors",
    "Severities", "Tenants", "Agents", "Enabled", "Deleted", "DisabledReason", "CreatedAt",
    "UpdatedAt",
)
_SELECT = f"SELECT {', '.join(SUBSCRIPTION_COLUMNS)} FROM webhook_subscriptions FINAL"


@dataclass(frozen=True)
class Filters:
    """Each list narrows the match; an empty list matches anything."""

    detectors: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()

    def matches(self, alert: AlertVersion) -> bool:
        return (
            _allows(self.detectors, alert.detector)
            and _allows(self.severities, alert.severity)
            and _allows(self.tenants, alert.tenant_id)
            and (not self.agents or bool(set(self.agents) & set(alert.agents)))
        )


def _allows(allowed: tuple[str, ...], value: str) -> bool:
    return not allowed or value in allowed


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    name: str
    url: str
    secrets: tuple[SecretStr, ...]
    payload_format: str = "fleetwatch"
    filters: Filters = field(default_factory=Filters)
    enabled: bool = True
    deleted: bool = False
    disabled_reason: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    revision: int = 0

    @property
    def active(self) -> bool:
        return self.enabled and not self.deleted

    def wants(self, alert: AlertVersion) -> bool:
        """True if this subscription should receive ``alert`` (only changes made after it was
        created: a new subscription does not replay history)."""
        return self.active and alert.updated_at >= self.created_at and self.filters.matches(alert)

    def with_new_secret(self, secret: SecretStr) -> Subscription:
        """Rotation: the new secret signs first, older ones keep signing until dropped."""
        kept = (secret, *self.secrets)[:MAX_ACTIVE_SECRETS]
        return replace(self, secrets=kept)


def new_subscription_id() -> str:
    return "sub_" + random_tokens.token_hex(8)


def load_subscriptions(client: Client, *, include_deleted: bool = False) -> list[Subscription]:
    result = client.query(_SELECT + " ORDER BY CreatedAt, SubscriptionId")
    found = [_from_row(row) for row in result.result_rows]
    return [s for s in found if include_deleted or not s.deleted]


def find_subscription(client: Client, key: str) -> Subscription | None:
    """By id, or by name when exactly one live subscription has it."""
    live = load_subscriptions(client)
    by_id = [s for s in live if s.subscription_id == key]
    by_name = [s for s in live if s.name == key]
    matches = by_id or by_name
    return matches[0] if len(matches) == 1 else None


def save_subscription(client: Client, subscription: Subscription) -> Subscription:
    """Write ``subscription`` as its newest revision and return it with that revision."""
    saved = replace(subscription, revision=max(time.time_ns(), subscription.revision + 1))
    client.insert("webhook_subscriptions", [_to_row(saved)], column_names=SUBSCRIPTION_COLUMNS)
    return saved


def _to_row(s: Subscription) -> list[object]:
    return [
        s.subscription_id, s.revision, s.name, s.url,
        [secret.get_secret_value() for secret in s.secrets], s.payload_format,
        list(s.filters.detectors), list(s.filters.severities), list(s.filters.tenants),
        list(s.filters.agents), s.enabled, s.deleted, s.disabled_reason, s.created_at,
        datetime.now(UTC),
    ]


def _from_row(row: Sequence[Any]) -> Subscription:
    (sub_id, revision, name, url, secrets, payload_format, detectors, severities, tenants,
     agents, enabled, deleted, disabled_reason, created_at, _updated_at) = row
    return Subscription(
        subscription_id=sub_id,
        name=name,
        url=url,
        secrets=tuple(SecretStr(s) for s in secrets),
        payload_format=payload_format,
        filters=Filters(tuple(detectors), tuple(severities), tuple(tenants), tuple(agents)),
        enabled=bool(enabled),
        deleted=bool(deleted),
        disabled_reason=disabled_reason,
        created_at=_as_utc(created_at),
        revision=int(revision),
    )


def _as_utc(moment: datetime) -> datetime:
    # Columns are DateTime64(3, 'UTC'); some client versions return them naive.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
