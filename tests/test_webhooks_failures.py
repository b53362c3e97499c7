"""Receivers that fail, redirect, stall, say 410 or should not be reached at all. Real chDB and
real HTTP servers on loopback; retry timing is checked against the schedule's bounds through a
manual clock, never by sleeping."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from detectors.delivery import WebhookDispatcher
from detectors.delivery.outbox import DELIVERED, FAILED, PENDING, OutboxMessage, list_messages
from detectors.delivery.retry import RetryPolicy
from detectors.delivery.subscriptions import find_subscription
from fleetwatch.config import Settings
from tests.test_webhooks_support import (
    ManualClock,
    Receiver,
    Reply,
    fast_settings,
    insert_alert,
    running_receiver,
    subscribe,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def _only_message(ch: Client, subscription_id: str) -> OutboxMessage:
    [message] = list_messages(ch, subscription_id, None, 10)
    return message


def _at(clock: ManualClock) -> datetime:
    return datetime.fromtimestamp(clock(), tz=UTC)


def test_failures_back_off_within_the_jittered_schedule_then_give_up(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    receiver.on("/hook", *[Reply(500)] * 5)
    sub = subscribe(ch, receiver.url("/hook"))
    insert_alert(ch)
    fast = fast_settings(settings, webhook_max_attempts=4)
    policy = RetryPolicy.from_settings(fast)
    clock = ManualClock()
    dispatcher = WebhookDispatcher(fast, ch, clock=clock)
    for attempt in (1, 2, 3):
        attempted_at = _at(clock)
        assert dispatcher.run_once() == 1
        message = _only_message(ch, sub.subscription_id)
        assert (message.state, message.attempts, message.last_status) == (PENDING, attempt, 500)
        low, high = policy.delay_bounds(attempt)
        waited = (message.next_attempt_at - attempted_at).total_seconds()
        assert low - 0.002 <= waited <= high + 0.002
        clock.advance(max(low - 1, 0))  # not yet due: nothing is sent
        assert dispatcher.run_once() == 0
        clock.advance(high + 1 - max(low - 1, 0))
    assert dispatcher.run_once() == 1
    message = _only_message(ch, sub.subscription_id)
    assert (message.state, message.attempts) == (FAILED, 4)
    clock.advance(10_000)
    assert dispatcher.run_once() == 0
    assert len(receiver.at("/hook")) == 4


def test_retry_after_is_honoured(settings: Settings, ch: Client, receiver: Receiver) -> None:
    receiver.on("/hook", Reply(429, (("Retry-After", "120"),)))
    sub = subscribe(ch, receiver.url("/hook"))
    insert_alert(ch)
    clock = ManualClock()
    dispatcher = WebhookDispatcher(fast_settings(settings), ch, clock=clock)
    start = _at(clock)
    assert dispatcher.run_once() == 1
    message = _only_message(ch, sub.subscription_id)
    assert message.next_attempt_at - start >= timedelta(seconds=120)
    clock.advance(100)  # well past the plain backoff (at most 10 s), before Retry-After
    assert dispatcher.run_once() == 0
    clock.advance(21)
    assert dispatcher.run_once() == 1
    assert _only_message(ch, sub.subscription_id).state == DELIVERED


def test_410_disables_the_subscription(settings: Settings, ch: Client, receiver: Receiver) -> None:
    receiver.on("/hook", Reply(410))
    sub = subscribe(ch, receiver.url("/hook"))
    insert_alert(ch)
    insert_alert(ch)
    clock = ManualClock()
    dispatcher = WebhookDispatcher(fast_settings(settings), ch, clock=clock)
    assert dispatcher.run_once() == 1
    states = sorted(m.state for m in list_messages(ch, sub.subscription_id, None, 10))
    assert states == ["cancelled", "failed"]
    current = find_subscription(ch, sub.subscription_id)
    assert current is not None and not current.enabled
    assert "410" in current.disabled_reason
    insert_alert(ch)
    clock.advance(3600)
    assert dispatcher.run_once() == 0
    assert len(receiver.at("/hook")) == 1


def test_redirect_is_a_failure_and_not_followed(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    receiver.on("/hook", Reply(307, (("Location", receiver.url("/elsewhere")),)))
    sub = subscribe(ch, receiver.url("/hook"))
    insert_alert(ch)
    WebhookDispatcher(fast_settings(settings), ch).run_once()
    message = _only_message(ch, sub.subscription_id)
    assert (message.state, message.last_status) == (PENDING, 307)
    assert "redirect" in message.last_error
    assert receiver.at("/elsewhere") == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_receiver_that_is_down_costs_one_attempt_per_round(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    down = subscribe(ch, f"http://127.0.0.1:{_closed_port()}/hook", name="down")
    up = subscribe(ch, receiver.url("/hook"), name="up")
    for _ in range(3):
        insert_alert(ch)
    clock = ManualClock()
    dispatcher = WebhookDispatcher(fast_settings(settings), ch, clock=clock)
    assert dispatcher.run_once() == 4  # 3 to the healthy one, 1 to the one that is down
    assert len(receiver.at("/hook")) == 3
    pending = list_messages(ch, down.subscription_id, None, 10)
    assert [m.attempts for m in pending].count(1) == 1
    assert {m.state for m in pending} == {PENDING}
    assert len({m.next_attempt_at for m in pending}) == 1, "the others wait with the first"
    assert all(m.state == DELIVERED for m in list_messages(ch, up.subscription_id, None, 10))


def test_a_stalled_receiver_times_out(settings: Settings, ch: Client, receiver: Receiver) -> None:
    receiver.on("/slow", Reply(200, delay_seconds=3.0))
    sub = subscribe(ch, receiver.url("/slow"))
    insert_alert(ch)
    dispatcher = WebhookDispatcher(fast_settings(settings, webhook_timeout_seconds=0.5), ch)
    started = time.monotonic()
    assert dispatcher.run_once() == 1
    assert time.monotonic() - started < 2.5
    message = _only_message(ch, sub.subscription_id)
    assert message.state == PENDING and "timed out" in message.last_error


def test_loopback_targets_are_refused_unless_allowed(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    """The guard's address classes (10/8, 169.254.169.254, NAT64, DNS answers...) are covered
    without any connection in test_webhooks_policy.py; here, the dispatcher must apply it before
    connecting. Only loopback is used, so a broken guard hits our own receiver, nothing else."""
    literal = subscribe(ch, receiver.url("/literal"), name="literal")
    by_name = subscribe(ch, f"http://localhost:{receiver.port}/by-name", name="by-name")
    insert_alert(ch)
    strict = settings.model_copy(update={"webhook_allow_private_targets": False})
    assert WebhookDispatcher(strict, ch).run_once() == 2
    assert receiver.received == []
    for sub, address in ((literal, "127.0.0.1"), (by_name, "")):
        message = _only_message(ch, sub.subscription_id)
        assert message.state == FAILED, "refusal is final: retrying cannot change the policy"
        assert "loopback" in message.last_error and address in message.last_error


def test_concurrency_is_bounded(settings: Settings, ch: Client, receiver: Receiver) -> None:
    for index in range(6):
        path = f"/slow{index}"
        receiver.on(path, Reply(200, delay_seconds=0.3))
        subscribe(ch, receiver.url(path), name=f"slow{index}")
    insert_alert(ch)
    dispatcher = WebhookDispatcher(fast_settings(settings, webhook_max_concurrency=2), ch)
    assert dispatcher.run_once() == 6
    assert receiver.most_in_flight == 2
