"""End-to-end webhook delivery: real chDB, real HTTP receivers on loopback (allowed explicitly
in these settings), signatures checked with the independent ``standardwebhooks`` verifier."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from standardwebhooks import Webhook

from detectors.delivery import WebhookDispatcher
from detectors.delivery.outbox import DELIVERED, list_messages
from detectors.delivery.signing import generate_secret
from detectors.delivery.subscriptions import Filters, find_subscription
from fleetwatch.config import Settings
from tests.test_webhooks_support import (
    ManualClock,
    Receiver,
    Reply,
    fast_settings,
    insert_alert,
    make_tls_pair,
    running_receiver,
    subscribe,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def test_signed_delivery_verifies_with_every_active_secret(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    old, new = generate_secret(), generate_secret()
    sub = subscribe(ch, receiver.url("/hook"), secrets=(new, old))
    alert_id = insert_alert(ch, detector="loop", status="firing")
    dispatcher = WebhookDispatcher(fast_settings(settings), ch)

    assert dispatcher.run_once() == 1
    [got] = receiver.at("/hook")
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["content-type"] == "application/json"
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):  # a receiver holding either secret accepts the message
        payload = Webhook(secret.get_secret_value()).verify(got.body, got.headers)
        assert payload["data"]["alert_id"] == alert_id
    assert payload["type"] == "alert.firing"
    assert payload["data"]["agents"] == ["ash", "flux"]
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    [message] = list_messages(ch, sub.subscription_id, None, 10)
    assert message.state == DELIVERED and message.attempts == 1
    assert dispatcher.run_once() == 0
    assert len(receiver.at("/hook")) == 1


def test_each_alert_version_is_its_own_message(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    subscribe(ch, receiver.url("/hook"))
    alert_id = insert_alert(ch, version=1, status="firing")
    insert_alert(ch, alert_id=alert_id, version=2, status="resolved")
    WebhookDispatcher(fast_settings(settings), ch).run_once()
    got = receiver.at("/hook")
    assert [json.loads(g.body)["data"]["version"] for g in got] == [1, 2]
    assert len({g.headers["webhook-id"] for g in got}) == 2


def test_filters_route_alerts_to_matching_subscriptions(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    subscribe(ch, receiver.url("/loops"), name="loops", filters=Filters(detectors=("loop",)))
    subscribe(ch, receiver.url("/acme-critical"), name="ac",
              filters=Filters(severities=("critical",), tenants=("acme",)))
    subscribe(ch, receiver.url("/flux"), name="flux", filters=Filters(agents=("flux",)))
    insert_alert(ch, alert_id="a-loop", detector="loop", severity="high", agents=("ash",))
    insert_alert(ch, alert_id="a-crit", detector="spoof", severity="critical", agents=("flux",))
    insert_alert(ch, alert_id="a-other", detector="spoof", severity="critical", tenant="globex",
                 agents=("ash",))
    WebhookDispatcher(fast_settings(settings), ch).run_once()

    def ids(path: str) -> set[str]:
        return {json.loads(r.body)["data"]["alert_id"] for r in receiver.at(path)}

    assert ids("/loops") == {"a-loop"}
    assert ids("/acme-critical") == {"a-crit"}
    assert ids("/flux") == {"a-crit"}


def test_new_subscription_does_not_replay_older_alerts(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    from datetime import UTC, datetime, timedelta

    insert_alert(ch, alert_id="old", updated_at=datetime.now(UTC) - timedelta(hours=1))
    subscribe(ch, receiver.url("/hook"))
    insert_alert(ch, alert_id="new")
    WebhookDispatcher(fast_settings(settings), ch).run_once()
    assert [json.loads(r.body)["data"]["alert_id"] for r in receiver.at("/hook")] == ["new"]


def test_alertmanager_shape(settings: Settings, ch: Client, receiver: Receiver) -> None:
    subscribe(ch, receiver.url("/am"), name="grafana", payload_format="alertmanager")
    alert_id = insert_alert(ch, detector="loop", severity="critical", status="resolved")
    WebhookDispatcher(fast_settings(settings), ch).run_once()
    [got] = receiver.at("/am")
    body = json.loads(got.body)
    assert body["receiver"] == "grafana"
    assert body["status"] == "resolved"
    assert body["version"] == "4"
    assert body["groupKey"] == f'{{}}:{{alert_id="{alert_id}", alertname="loop"}}'
    [alert] = body["alerts"]
    assert alert["labels"]["alertname"] == "loop"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["team"] == "blue"
    assert alert["annotations"]["summary"] == "loop between agents"
    assert len(alert["fingerprint"]) == 16
    assert alert["startsAt"].endswith("Z") and alert["endsAt"].endswith("Z")
    assert alert["endsAt"] != "0001-01-01T00:00:00Z"


def test_pages_through_a_backlog(settings: Settings, ch: Client, receiver: Receiver) -> None:
    subscribe(ch, receiver.url("/hook"))
    for _ in range(5):
        insert_alert(ch)
    dispatcher = WebhookDispatcher(fast_settings(settings, webhook_batch_size=2), ch)
    rounds = [dispatcher.run_once() for _ in range(4)]
    assert rounds == [2, 2, 1, 0]
    assert len({r.headers["webhook-id"] for r in receiver.at("/hook")}) == 5


def test_idle_rounds_do_not_read_the_outbox(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    subscribe(ch, receiver.url("/hook"))
    insert_alert(ch)
    counting = _CountingClient(ch)
    dispatcher = WebhookDispatcher(fast_settings(settings), counting)  # type: ignore[arg-type]
    assert dispatcher.run_once() == 1
    counting.queries.clear()
    for _ in range(3):
        assert dispatcher.run_once() == 0
    assert counting.queries, "the idle round still looks for new alerts"
    assert not [q for q in counting.queries if "webhook_outbox" in q]
    assert len(counting.queries) <= 6  # subscriptions + alerts, per round


class _CountingClient:
    """Passes everything to the real client; remembers the SQL of each query."""

    def __init__(self, inner: Client) -> None:
        self._inner = inner
        self.queries: list[str] = []

    def query(self, sql: str, *args: object, **kwargs: object) -> object:
        self.queries.append(sql)
        return self._inner.query(sql, *args, **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_restart_delivers_pending_with_the_same_webhook_id(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    receiver.on("/hook", Reply(503))
    sub = subscribe(ch, receiver.url("/hook"))
    insert_alert(ch)
    clock = ManualClock()
    first = WebhookDispatcher(fast_settings(settings), ch, clock=clock)
    assert first.run_once() == 1
    del first  # the process "restarts": nothing in memory survives

    clock.advance(30)  # past the first backoff (at most 10 s)
    second = WebhookDispatcher(fast_settings(settings), ch, clock=clock)
    assert second.run_once() == 1
    ids = [r.headers["webhook-id"] for r in receiver.at("/hook")]
    assert len(ids) == 2 and ids[0] == ids[1]
    [message] = list_messages(ch, sub.subscription_id, None, 10)
    assert message.state == DELIVERED and message.attempts == 2


def test_crash_between_post_and_record_redelivers_same_id_and_body(
    settings: Settings, ch: Client, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detectors.delivery import outbox

    subscribe(ch, receiver.url("/hook"))
    insert_alert(ch)
    real_record = outbox.record

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("process killed before the outcome was stored")

    monkeypatch.setattr(outbox, "record", crash)
    with pytest.raises(RuntimeError):
        WebhookDispatcher(fast_settings(settings), ch).run_once()
    monkeypatch.setattr(outbox, "record", real_record)

    assert WebhookDispatcher(fast_settings(settings), ch).run_once() == 1
    first, second = receiver.at("/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    # A third dispatcher finds nothing to do and enqueues nothing twice.
    third = WebhookDispatcher(fast_settings(settings), ch)
    assert third.run_once() == 0
    assert len(list_messages(ch, None, None, 10)) == 1


def test_disabled_and_removed_subscriptions_get_nothing(
    settings: Settings, ch: Client, receiver: Receiver
) -> None:
    from dataclasses import replace

    from detectors.delivery.subscriptions import save_subscription

    receiver.on("/hook", Reply(500))
    sub = subscribe(ch, receiver.url("/hook"))
    insert_alert(ch)
    clock = ManualClock()
    dispatcher = WebhookDispatcher(fast_settings(settings), ch, clock=clock)
    assert dispatcher.run_once() == 1
    current = find_subscription(ch, sub.subscription_id)
    assert current is not None
    save_subscription(ch, replace(current, enabled=False))
    clock.advance(60)
    assert dispatcher.run_once() == 0
    [message] = list_messages(ch, sub.subscription_id, None, 10)
    assert message.state == "cancelled"
    assert len(receiver.at("/hook")) == 1


def test_https_keeps_the_host_name_for_sni_and_certificate_checks(
    settings: Settings, ch: Client, tmp_path: Path
) -> None:
    """The sender connects to the vetted IP, but TLS must still be about the name: the test
    certificate names only ``localhost`` (no IP), so checking it against 127.0.0.1 would fail."""
    ca_file, server_tls = make_tls_pair(tmp_path, "localhost")
    for receiver in running_receiver(server_tls):
        sub = subscribe(ch, f"https://localhost:{receiver.port}/tls")
        insert_alert(ch)
        dispatcher = WebhookDispatcher(fast_settings(settings, webhook_ca_file=ca_file), ch)
        assert dispatcher.run_once() == 1
        [got] = receiver.at("/tls")
        assert got.headers["host"] == f"localhost:{receiver.port}"
        assert receiver.server_names == ["localhost"]
        [message] = list_messages(ch, sub.subscription_id, None, 10)
        assert message.state == DELIVERED


def test_https_with_an_untrusted_certificate_is_not_delivered(
    settings: Settings, ch: Client, tmp_path: Path
) -> None:
    _, server_tls = make_tls_pair(tmp_path, "localhost")  # its CA is not trusted here
    for receiver in running_receiver(server_tls):
        sub = subscribe(ch, f"https://localhost:{receiver.port}/tls")
        insert_alert(ch)
        assert WebhookDispatcher(fast_settings(settings), ch).run_once() == 1
        assert receiver.at("/tls") == []
        [message] = list_messages(ch, sub.subscription_id, None, 10)
        assert message.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in message.last_error
