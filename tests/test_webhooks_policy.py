"""Pure parts of webhook delivery: signing (checked with the independent ``standardwebhooks``
verifier), the retry schedule's bounds, Retry-After, state transitions, the SSRF guard (no
connection is made by any test here), filters and payload shapes."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from detectors.delivery.alerts_feed import AlertVersion
from detectors.delivery.attempts import after_attempt, receiver_unavailable
from detectors.delivery.outbox import OutboxMessage, message_id_for
from detectors.delivery.payloads import alertmanager_payload, fleetwatch_payload, render_body
from detectors.delivery.retry import RetryPolicy, parse_retry_after
from detectors.delivery.sender import Outcome
from detectors.delivery.signing import (
    InvalidSecret,
    fingerprint,
    generate_secret,
    parse_secret,
    sign,
)
from detectors.delivery.subscriptions import Filters, Subscription
from detectors.delivery.targets import (
    TargetRefused,
    display_url,
    refuse_literal_target,
    target_url,
    vetted_addresses,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=5, cap_seconds=3600, jitter=0.5, max_attempts=15,
                     retry_after_cap_seconds=6 * 3600)


# --- signing -------------------------------------------------------------------------------

def test_signature_verifies_with_standard_webhooks_and_detects_tampering() -> None:
    secret = generate_secret()
    body = b'{"type":"alert.firing"}'
    timestamp = int(datetime.now(UTC).timestamp())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp),
               "webhook-signature": sign("msg_1", timestamp, body, [secret])}
    verifier = Webhook(secret.get_secret_value())
    assert verifier.verify(body, headers) == {"type": "alert.firing"}
    with pytest.raises(WebhookVerificationError):
        verifier.verify(b'{"type":"alert.resolved"}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret().get_secret_value()).verify(body, headers)


def test_one_signature_per_active_secret() -> None:
    secrets = [generate_secret() for _ in range(3)]
    header = sign("msg_1", 1_700_000_000, b"{}", secrets)
    assert [part.split(",")[0] for part in header.split(" ")] == ["v1", "v1", "v1"]
    assert len(set(header.split(" "))) == 3


def test_secrets_are_validated_without_echoing_them() -> None:
    for bad in ("not-a-secret", "whsec_!!!!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(InvalidSecret) as caught:
            parse_secret(bad)
        assert bad not in str(caught.value)
    good = generate_secret()
    assert parse_secret(good.get_secret_value() + "\n") == good
    shown = fingerprint(good)
    assert good.get_secret_value()[6:14] not in shown and len(shown) < 20
    assert good.get_secret_value() not in repr(Subscription("s", "n", "http://x", (good,)))


# --- retry schedule ------------------------------------------------------------------------

@given(attempts=st.integers(min_value=1, max_value=40), seed=st.integers(0, 2**32))
def test_backoff_stays_within_its_jittered_bounds(attempts: int, seed: int) -> None:
    low, high = POLICY.delay_bounds(attempts)
    assert 0 < low <= high <= POLICY.cap_seconds
    assert low == pytest.approx(high * (1 - POLICY.jitter))
    assert low <= POLICY.backoff(attempts, random.Random(seed)) <= high


def test_backoff_grows_exponentially_then_caps_and_is_jittered() -> None:
    highs = [POLICY.delay_bounds(n)[1] for n in range(1, 16)]
    assert highs[:4] == [5, 10, 20, 40]
    assert highs[-1] == 3600 and highs == sorted(highs)
    rng = random.Random(7)
    samples = {round(POLICY.backoff(3, rng), 6) for _ in range(50)}
    assert len(samples) > 40, "jitter spreads retries out"


def test_retry_after_forms() -> None:
    assert parse_retry_after("120", NOW) == 120
    later = (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, NOW) == pytest.approx(90)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
    rng = random.Random(1)
    assert POLICY.next_delay(1, 600, rng) == 600
    assert POLICY.next_delay(1, 10**9, rng) == POLICY.retry_after_cap_seconds


def _message(attempts: int = 0) -> OutboxMessage:
    return OutboxMessage("msg_1", "sub_1", "a1", 1, "acme", "{}", NOW, NOW, attempts=attempts)


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (Outcome("delivered", 204), "delivered"),
        (Outcome("gone", 410), "failed"),
        (Outcome("refused", error="loopback"), "failed"),
        (Outcome("retry", 500), "pending"),
        (Outcome("retry", 0, "timed out"), "pending"),
    ],
)
def test_state_after_an_attempt(outcome: Outcome, state: str) -> None:
    after = after_attempt(_message(), outcome, POLICY, random.Random(0), NOW)
    assert (after.state, after.attempts, after.last_status) == (state, 1, outcome.status)
    if state == "pending":
        low, high = POLICY.delay_bounds(1)
        waited = (after.next_attempt_at - NOW).total_seconds()
        assert low <= waited <= high + 0.001


def test_gives_up_after_the_last_attempt() -> None:
    last = _message(attempts=POLICY.max_attempts - 1)
    assert after_attempt(last, Outcome("retry", 503), POLICY, random.Random(0), NOW).state == "failed"


def test_which_failures_hold_back_the_rest_of_a_subscription() -> None:
    assert receiver_unavailable(Outcome("retry", 0))
    assert receiver_unavailable(Outcome("retry", 503))
    assert receiver_unavailable(Outcome("retry", 429))
    assert receiver_unavailable(Outcome("retry", 302))
    assert not receiver_unavailable(Outcome("retry", 400))


# --- SSRF guard ----------------------------------------------------------------------------

def _vet(url: str, answers: dict[str, list[str]] | None = None, allow: bool = False) -> list[str]:
    async def resolver(host: str, port: int) -> list[str]:
        return (answers or {})[host]

    return asyncio.run(vetted_addresses(target_url(url), allow, resolver))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://172.16.5.5/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[64:ff9b::a00:1]/", "private"),
        ("http://[fd00::1]/", "private"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://100.64.0.1/", "non-global"),
    ],
)
def test_literal_internal_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        _vet(url)
    with pytest.raises(TargetRefused, match=reason):
        refuse_literal_target(url, allow_private=False)
    refuse_literal_target(url, allow_private=True)


def test_names_are_judged_by_every_address_they_resolve_to() -> None:
    answers = {"rebind.example": ["93.184.216.34", "10.0.0.7"],
               "metadata.example": ["169.254.169.254"],
               "hooks.example": ["93.184.216.34", "2606:2800:220:1::1"]}
    with pytest.raises(TargetRefused, match="private"):
        _vet("https://rebind.example/hook", answers)
    with pytest.raises(TargetRefused, match="link-local"):
        _vet("https://metadata.example/", answers)
    assert _vet("https://hooks.example/", answers) == ["93.184.216.34", "2606:2800:220:1::1"]
    assert _vet("https://rebind.example/", answers, allow=True) == ["93.184.216.34", "10.0.0.7"]


def test_localhost_is_refused_through_the_real_resolver() -> None:
    from detectors.delivery.targets import system_resolver

    with pytest.raises(TargetRefused, match="loopback"):
        asyncio.run(vetted_addresses(target_url("http://localhost:9/"), False, system_resolver))


def test_only_http_urls_and_no_credentials_in_display() -> None:
    for bad in ("ftp://example.com/", "file:///etc/passwd", "http:///nohost", "gopher://x"):
        with pytest.raises(TargetRefused):
            target_url(bad)
    assert display_url("https://u:pw@example.com/h?token=abc") == "https://example.com/h"


# --- filters and payloads ------------------------------------------------------------------

def _alert(**changes: object) -> AlertVersion:
    values: dict[str, object] = dict(
        alert_id="a1", version=2, detector="loop", severity="high", status="firing",
        tenant_id="acme", agents=("ash", "flux"), principals=("alice",), window_start=NOW,
        window_end=NOW, first_seen=NOW - timedelta(minutes=5), updated_at=NOW, score=0.9,
        title="Loop", explanation="ash and flux", evidence_trace_ids=("t1",),
        evidence_span_ids=("s1",), labels={"team": "blue", "severity": "spoofed"},
    )
    values.update(changes)
    return AlertVersion(**values)  # type: ignore[arg-type]


def test_filters_match_on_every_dimension() -> None:
    alert = _alert()
    assert Filters().matches(alert)
    assert Filters(detectors=("loop", "spoof")).matches(alert)
    assert not Filters(detectors=("spoof",)).matches(alert)
    assert Filters(severities=("high",), tenants=("acme",)).matches(alert)
    assert not Filters(severities=("critical",)).matches(alert)
    assert not Filters(tenants=("globex",)).matches(alert)
    assert Filters(agents=("flux", "zed")).matches(alert)
    assert not Filters(agents=("zed",)).matches(alert)


def test_subscription_only_wants_changes_after_it_was_created() -> None:
    sub = Subscription("s", "n", "http://x", (generate_secret(),), created_at=NOW)
    assert sub.wants(_alert(updated_at=NOW))
    assert not sub.wants(_alert(updated_at=NOW - timedelta(seconds=1)))
    from dataclasses import replace

    assert not replace(sub, enabled=False).wants(_alert())


def test_rotation_keeps_a_bounded_number_of_secrets_newest_first() -> None:
    sub = Subscription("s", "n", "http://x", (generate_secret(),))
    newest = SecretStr("x")
    for _ in range(5):
        newest = generate_secret()
        sub = sub.with_new_secret(newest)
    assert len(sub.secrets) == 3 and sub.secrets[0] == newest


def test_fleetwatch_payload_is_deterministic() -> None:
    sub = Subscription("s", "ops", "http://x", (generate_secret(),))
    assert render_body(sub, _alert()) == render_body(sub, _alert())
    doc = fleetwatch_payload(_alert())
    assert doc["type"] == "alert.firing" and doc["timestamp"] == "2026-01-02T03:04:05.000Z"
    assert json.loads(render_body(sub, _alert()))["data"]["evidence"]["trace_ids"] == ["t1"]


def test_alertmanager_payload_firing_and_resolved() -> None:
    sub = Subscription("s", "grafana-hook", "http://x", (generate_secret(),))
    firing = alertmanager_payload(sub, _alert())
    resolved = alertmanager_payload(sub, _alert(status="resolved", version=3))
    for doc in (firing, resolved):
        assert {"receiver", "status", "alerts", "groupKey", "version", "groupLabels",
                "commonLabels", "commonAnnotations", "externalURL"} <= doc.keys()
    alert: Any = firing["alerts"][0]  # type: ignore[index]
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["labels"]["severity"] == "high", "the alert's own label cannot spoof it"
    assert alert["labels"]["team"] == "blue"
    done: Any = resolved["alerts"][0]  # type: ignore[index]
    assert done["endsAt"] == "2026-01-02T03:04:05.000Z" and done["status"] == "resolved"
    assert done["fingerprint"] == alert["fingerprint"], "same incident, same fingerprint"
    assert firing["groupKey"] == resolved["groupKey"]


def test_message_ids_are_stable_and_distinct() -> None:
    assert message_id_for("s", "a", 1) == message_id_for("s", "a", 1)
    assert len({message_id_for("s", "a", 1), message_id_for("s", "a", 2),
                message_id_for("t", "a", 1)}) == 3


def test_a_name_that_does_not_resolve_is_retried_not_refused() -> None:
    from detectors.delivery.targets import TargetUnresolved

    async def failing(host: str, port: int) -> list[str]:
        raise OSError("temporary failure in name resolution")

    with pytest.raises(TargetUnresolved):
        asyncio.run(vetted_addresses(target_url("https://hooks.example/"), False, failing))


def test_error_texts_lose_url_credentials() -> None:
    from detectors.delivery.sender import _without_urls

    text = "Server error '500' for url 'https://u:pw@hooks.example/x?token=s3cr3t'"
    assert _without_urls(text) == "Server error '500' for url 'https://hooks.example/x'"


def test_default_schedule_retries_over_hours() -> None:
    from fleetwatch.config import Settings

    policy = RetryPolicy.from_settings(Settings())
    waits = [policy.delay_bounds(n) for n in range(1, policy.max_attempts)]
    assert sum(low for low, _ in waits) >= 5.5 * 3600
    assert sum(high for _, high in waits) <= 13 * 3600


def test_international_names_are_resolved_in_their_idna_form() -> None:
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"]

    asyncio.run(vetted_addresses(target_url("https://bücher.example/"), False, resolver))
    assert asked == ["xn--bcher-kva.example"]
