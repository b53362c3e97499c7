"""``fleetwatch status``: ask the running service (its admin endpoint) how it is doing.

The embedded engine locks its data directory, so inspection goes through the process that owns
it rather than opening the path a second time.
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx

from fleetwatch.commands import Subparsers
from fleetwatch.config import Settings


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("status", parents=[common], help="the running service's status")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    url = f"http://127.0.0.1:{settings.admin_port}/status"
    try:
        reply = httpx.get(url, timeout=5.0)
    except httpx.HTTPError as error:
        print(f"fleetwatch: no service answering at {url}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(reply.json(), indent=2, sort_keys=True))
    return 0 if reply.status_code == 200 else 1
