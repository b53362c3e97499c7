"""One HTTP attempt of one message, reduced to an Outcome. Never raises for network trouble.

The request goes to an address vetted by the SSRF guard (see targets.py), with the original
host kept in the Host header and as the TLS server name. Redirects are not followed: a 3xx is a
failed attempt like any other non-2xx. The response body is never read (it is not needed and
an unbounded body from a hostile receiver is a memory risk).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime

import httpx

from detectors.delivery.outbox import OutboxMessage
from detectors.delivery.retry import parse_retry_after
from detectors.delivery.signing import sign
from detectors.delivery.subscriptions import Subscription
from detectors.delivery.targets import (
    Resolver,
    TargetRefused,
    TargetUnresolved,
    display_url,
    target_url,
    vetted_addresses,
)

log = logging.getLogger(__name__)

USER_AGENT = "fleetwatch-webhooks/0.1"
_URL = re.compile(r"https?://[^\s'\"<>]+")


@dataclass(frozen=True)
class Outcome:
    kind: str  # "delivered", "retry", "gone" (HTTP 410), "refused" (SSRF guard)
    status: int = 0  # HTTP status, 0 when no response arrived
    error: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class SenderConfig:
    timeout_seconds: float
    allow_private_targets: bool
    resolver: Resolver


def signed_headers(
    message: OutboxMessage, subscription: Subscription, timestamp: int
) -> dict[str, str]:
    body = message.body.encode("utf-8")
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(message.message_id, timestamp, body, subscription.secrets),
    }


async def attempt(
    http: httpx.AsyncClient,
    config: SenderConfig,
    subscription: Subscription,
    message: OutboxMessage,
    now: datetime,
) -> Outcome:
    """POST ``message`` to ``subscription`` once, within the configured timeout overall."""
    try:
        async with asyncio.timeout(config.timeout_seconds):
            return await _post(http, config, subscription, message, now)
    except TargetRefused as refused:
        log.warning("webhook %s to %s refused: %s", message.message_id,
                    display_url(subscription.url), refused)
        return Outcome("refused", error=f"target refused: {refused}")
    except TargetUnresolved as unresolved:
        return Outcome("retry", error=str(unresolved))
    except TimeoutError:
        return Outcome("retry", error=f"timed out after {config.timeout_seconds:g}s")
    except httpx.HTTPError as error:
        return Outcome("retry", error=f"{type(error).__name__}: {_without_urls(str(error))}")


async def _post(
    http: httpx.AsyncClient,
    config: SenderConfig,
    subscription: Subscription,
    message: OutboxMessage,
    now: datetime,
) -> Outcome:
    url = target_url(subscription.url)
    addresses = await vetted_addresses(url, config.allow_private_targets, config.resolver)
    headers = signed_headers(message, subscription, int(now.timestamp()))
    headers["host"] = url.netloc.decode("ascii")
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    last_error: httpx.ConnectError | None = None
    for address in addresses:
        request = http.build_request(
            "POST", url.copy_with(host=address), content=message.body.encode("utf-8"),
            headers=headers, extensions=extensions,
        )
        try:
            response = await http.send(request, stream=True)
        except httpx.ConnectError as error:
            last_error = error  # try the host's next address
            continue
        await response.aclose()
        return _classify(response, now)
    assert last_error is not None
    raise last_error


def _without_urls(text: str) -> str:
    # Error texts can quote the request URL; its query string or userinfo may hold a token.
    return _URL.sub(lambda match: display_url(match.group(0)), text)


def _classify(response: httpx.Response, now: datetime) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Outcome("delivered", status=status)
    if status == 410:
        return Outcome("gone", status=status, error="410 Gone: receiver asked to stop")
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    reason = "redirect not followed" if 300 <= status < 400 else "non-2xx response"
    return Outcome("retry", status=status, error=f"HTTP {status}: {reason}",
                   retry_after=retry_after)
