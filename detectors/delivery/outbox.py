"""The durable outbox: one message per (subscription, alert, version), with its delivery state.

``webhook_outbox`` is a ReplacingMergeTree keyed by MessageId: the enqueued row has Revision 0
and every attempt appends the whole row again with a higher Revision, so the current state is
the row with the highest Revision (read with FINAL). Nothing is updated in place, so a crash at
any point leaves either the old state (the message is retried, same webhook-id) or the new one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"  # gave up: attempts exhausted, 410 Gone, or target refused
CANCELLED = "cancelled"  # the subscription was removed or disabled first

OUTBOX_COLUMNS = (
    "MessageId", "Revision", "SubscriptionId", "AlertId", "AlertVersion", "TenantId", "Body",
    "State", "Attempts", "NextAttemptAt", "LastStatus", "LastError", "CreatedAt", "UpdatedAt",
)
_SELECT = f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM webhook_outbox FINAL"
_LIVE = "CreatedAt >= fromUnixTimestamp64Milli({oldest_ms:Int64})"
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    subscription_id: str
    alert_id: str
    alert_version: int
    tenant_id: str
    body: str
    created_at: datetime
    next_attempt_at: datetime
    state: str = PENDING
    attempts: int = 0
    last_status: int = 0
    last_error: str = ""
    revision: int = 0


def message_id_for(subscription_id: str, alert_id: str, alert_version: int) -> str:
    """The webhook-id: derived, not random, so enqueueing twice gives the same id."""
    digest = hashlib.sha256(f"{subscription_id}\x00{alert_id}\x00{alert_version}".encode())
    return "msg_" + digest.hexdigest()[:32]


def existing_ids(client: Client, message_ids: Collection[str]) -> set[str]:
    if not message_ids:
        return set()
    result = client.query(
        "SELECT DISTINCT MessageId FROM webhook_outbox WHERE MessageId IN {ids:Array(String)}",
        parameters={"ids": list(message_ids)},
    )
    return {str(row[0]) for row in result.result_rows}


def enqueue(client: Client, messages: Sequence[OutboxMessage]) -> None:
    """Insert new messages at Revision 0: a repeat can never hide a later state."""
    _insert(client, [replace(m, revision=0) for m in messages])


def record(client: Client, messages: Sequence[OutboxMessage]) -> None:
    """Append the new state of each message, one revision above the one it was read at."""
    now_ns = time.time_ns()
    _insert(client, [replace(m, revision=max(now_ns, m.revision + 1)) for m in messages])


def _insert(client: Client, messages: Sequence[OutboxMessage]) -> None:
    if messages:
        rows = [_to_row(m) for m in messages]
        client.insert("webhook_outbox", rows, column_names=OUTBOX_COLUMNS)


def due_messages(
    client: Client, now: datetime, oldest: datetime, limit: int
) -> list[OutboxMessage]:
    """Pending messages whose next attempt is due, earliest first, at most ``limit``."""
    result = client.query(
        f"{_SELECT} WHERE State = 'pending' AND {_LIVE}"
        " AND NextAttemptAt <= fromUnixTimestamp64Milli({now_ms:Int64})"
        " ORDER BY NextAttemptAt, CreatedAt, AlertId, AlertVersion, MessageId"
        " LIMIT {limit:UInt32}",
        parameters={"now_ms": _millis(now), "oldest_ms": _millis(oldest), "limit": limit},
    )
    return [_from_row(row) for row in result.result_rows]


def next_due_at(client: Client, oldest: datetime) -> datetime | None:
    """When the earliest pending message falls due, or None if nothing is pending."""
    result = client.query(
        "SELECT count(), toUnixTimestamp64Milli(min(NextAttemptAt))"
        f" FROM webhook_outbox FINAL WHERE State = 'pending' AND {_LIVE}",
        parameters={"oldest_ms": _millis(oldest)},
    )
    count, earliest_ms = result.result_rows[0]
    if not count:
        return None
    return datetime.fromtimestamp(earliest_ms / 1000.0, tz=UTC)


def list_messages(
    client: Client, subscription_id: str | None, state: str | None, limit: int
) -> list[OutboxMessage]:
    """Most recent messages first, for the command line."""
    result = client.query(
        f"{_SELECT} WHERE ({{sub:String}} = '' OR SubscriptionId = {{sub:String}})"
        " AND ({state:String} = '' OR State = {state:String})"
        " ORDER BY CreatedAt DESC, MessageId LIMIT {limit:UInt32}",
        parameters={"sub": subscription_id or "", "state": state or "", "limit": limit},
    )
    return [_from_row(row) for row in result.result_rows]


def _millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _to_row(m: OutboxMessage) -> list[object]:
    return [
        m.message_id, m.revision, m.subscription_id, m.alert_id, m.alert_version, m.tenant_id,
        m.body, m.state, m.attempts, m.next_attempt_at, m.last_status,
        m.last_error[:_MAX_ERROR_CHARS], m.created_at, datetime.now(UTC),
    ]


def _from_row(row: Sequence[Any]) -> OutboxMessage:
    (message_id, revision, sub_id, alert_id, alert_version, tenant, body, state, attempts,
     next_attempt_at, last_status, last_error, created_at, _updated_at) = row
    return OutboxMessage(
        message_id=message_id,
        subscription_id=sub_id,
        alert_id=alert_id,
        alert_version=int(alert_version),
        tenant_id=tenant,
        body=body,
        created_at=_utc(created_at),
        next_attempt_at=_utc(next_attempt_at),
        state=state,
        attempts=int(attempts),
        last_status=int(last_status),
        last_error=last_error,
        revision=int(revision),
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
