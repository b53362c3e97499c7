"""``fleetwatch webhooks``: manage webhook subscriptions and look at their deliveries.

Secrets are never printed: a new one is written to a file the user names (mode 0600), or read
from a file or standard input; listings show a short fingerprint instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from pydantic import SecretStr

from detectors.delivery import outbox
from detectors.delivery.signing import InvalidSecret, fingerprint, generate_secret, parse_secret
from detectors.delivery.subscriptions import (
    PAYLOAD_FORMATS,
    Filters,
    Subscription,
    find_subscription,
    load_subscriptions,
    new_subscription_id,
    save_subscription,
)
from detectors.delivery.targets import TargetRefused, display_url, refuse_literal_target
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings


class CommandError(Exception):
    """A user mistake: printed as one line, exit code 2."""


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser("webhooks", help="manage webhook subscriptions")
    actions = parser.add_subparsers(dest="webhooks_action", required=True)

    add = actions.add_parser("add", parents=[common], help="subscribe a URL to alerts")
    add.add_argument("url")
    add.add_argument("--name", required=True, help="unique name (the Alertmanager 'receiver')")
    add.add_argument("--format", choices=PAYLOAD_FORMATS, default="fleetwatch")
    for flag in ("detector", "severity", "tenant", "agent"):
        add.add_argument(f"--{flag}", action="append", default=[], help="repeatable filter")
    _secret_source(add)

    listing = actions.add_parser("list", parents=[common], help="list subscriptions")
    listing.add_argument("--json", action="store_true")

    for action, text in (("remove", "delete a subscription"), ("enable", "resume delivery"),
                         ("disable", "pause delivery (pending messages are cancelled)"),
                         ("drop-old-secrets", "end a rotation: sign with the newest secret only")):
        actions.add_parser(action, parents=[common], help=text).add_argument("subscription")

    rotate = actions.add_parser(
        "rotate-secret", parents=[common], help="add a new signing secret; old ones keep signing"
    )
    rotate.add_argument("subscription")
    _secret_source(rotate)

    deliveries = actions.add_parser("deliveries", parents=[common], help="recent deliveries")
    deliveries.add_argument("--subscription")
    deliveries.add_argument("--state", choices=("pending", "delivered", "failed", "cancelled"))
    deliveries.add_argument("--limit", type=int, default=50)
    # While the embedded service runs, these run inside it (fleetwatch.forwarding).
    parser.set_defaults(handler=run, forwardable=True)


def _secret_source(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--secret-file", type=Path,
        help="read the whsec_ secret from this file; if it does not exist, generate one there",
    )
    group.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")


def run(args: argparse.Namespace, settings: Settings) -> int:
    handlers = {
        "add": _add, "list": _list, "remove": _remove, "enable": _enable, "disable": _disable,
        "rotate-secret": _rotate, "drop-old-secrets": _drop_old, "deliveries": _deliveries,
    }
    try:
        handlers[args.webhooks_action](args, settings, connect(settings))
    except (CommandError, InvalidSecret, TargetRefused) as error:
        print(f"fleetwatch webhooks: {error}", file=sys.stderr)
        return 2
    except DatabaseError as error:
        first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        print(f"fleetwatch webhooks: database error (has `fleetwatch migrate` run?): {first_line}",
              file=sys.stderr)
        return 1
    return 0


def _add(args: argparse.Namespace, settings: Settings, client: Client) -> None:
    refuse_literal_target(args.url, settings.webhook_allow_private_targets)
    if any(s.name == args.name for s in load_subscriptions(client)):
        raise CommandError(f"a subscription named {args.name!r} already exists")
    secret = _obtain_secret(args)
    filters = Filters(tuple(args.detector), tuple(args.severity), tuple(args.tenant),
                      tuple(args.agent))
    subscription = save_subscription(client, Subscription(
        subscription_id=new_subscription_id(), name=args.name, url=args.url, secrets=(secret,),
        payload_format=args.format, filters=filters,
    ))
    print(f"added {subscription.subscription_id} ({subscription.name}) -> "
          f"{display_url(subscription.url)}, secret {fingerprint(secret)}")


def _obtain_secret(args: argparse.Namespace) -> SecretStr:
    if args.secret_stdin:
        return parse_secret(sys.stdin.readline())
    path: Path = args.secret_file
    if path.exists():
        return parse_secret(path.read_text(encoding="utf-8"))
    secret = generate_secret()
    # O_EXCL: never overwrite a file; 0600: the secret is readable by its owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret.get_secret_value() + "\n")
    print(f"generated a new secret in {path}")
    return secret


def _existing(client: Client, key: str) -> Subscription:
    found = find_subscription(client, key)
    if found is None:
        raise CommandError(f"no single subscription with id or name {key!r}")
    return found


def _list(args: argparse.Namespace, settings: Settings, client: Client) -> None:
    subscriptions = load_subscriptions(client)
    if args.json:
        print(json.dumps([_describe(s) for s in subscriptions], indent=2))
        return
    for s in subscriptions:
        state = "enabled" if s.enabled else f"DISABLED ({s.disabled_reason})"
        secrets = ", ".join(fingerprint(secret) for secret in s.secrets)
        print(f"{s.subscription_id}  {s.name}  {state}  {s.payload_format}  {display_url(s.url)}")
        print(f"    filters: {_filter_text(s.filters)}   secrets: {secrets}")
    if not subscriptions:
        print("no webhook subscriptions")


def _filter_text(filters: Filters) -> str:
    named = (("detector", filters.detectors), ("severity", filters.severities),
             ("tenant", filters.tenants), ("agent", filters.agents))
    return " ".join(f"{name}={','.join(values)}" for name, values in named if values) or "all"


def _describe(s: Subscription) -> dict[str, object]:
    filters = s.filters
    return {
        "id": s.subscription_id, "name": s.name, "url": display_url(s.url),
        "format": s.payload_format, "enabled": s.enabled, "disabled_reason": s.disabled_reason,
        "filters": {"detector": filters.detectors, "severity": filters.severities,
                    "tenant": filters.tenants, "agent": filters.agents},
        "secrets": [fingerprint(secret) for secret in s.secrets],
        "created_at": s.created_at.isoformat(),
    }


def _remove(args: argparse.Namespace, settings: Settings, client: Client) -> None:
    found = _existing(client, args.subscription)
    save_subscription(client, replace(found, deleted=True, enabled=False))
    print(f"removed {found.subscription_id} ({found.name})")


def _enable(args: argparse.Namespace, settings: Settings, client: Client) -> None:
    found = _existing(client, args.subscription)
    save_subscription(client, replace(found, enabled=True, disabled_reason=""))
    print(f"enabled {found.subscription_id} ({found.name})")


def _disable(args: argparse.Namespace, settings: Settings, client: Client) -> None:
    found = _existing(client, args.subscription)
    save_subscription(client, replace(found, enabled=False, disabled_reason="disabled by operator"))
    print(f"disabled {found.subscription_id} ({found.name})")


def _rotate(args: argparse.Namespace, settings: Settings, client: Client) -> None:
    found = _existing(client, args.subscription)
    secret = _obtain_secret(args)
    rotated = save_subscription(client, found.with_new_secret(secret))
    shown = ", ".join(fingerprint(s) for s in rotated.secrets)
    print(f"{found.subscription_id} now signs with {len(rotated.secrets)} secrets: {shown}")


def _drop_old(args: argparse.Namespace, settings: Settings, client: Client) -> None:
    found = _existing(client, args.subscription)
    save_subscription(client, replace(found, secrets=found.secrets[:1]))
    print(f"{found.subscription_id} now signs with {fingerprint(found.secrets[0])} only")


def _deliveries(args: argparse.Namespace, settings: Settings, client: Client) -> None:
    sub_id = _existing(client, args.subscription).subscription_id if args.subscription else None
    for m in outbox.list_messages(client, sub_id, args.state, max(1, min(args.limit, 1000))):
        print(f"{m.message_id}  {m.subscription_id}  alert={m.alert_id} v{m.alert_version}  "
              f"{m.state}  attempts={m.attempts}  last={m.last_status or '-'}  "
              f"next={m.next_attempt_at.isoformat(timespec='seconds')}  {m.last_error}")
