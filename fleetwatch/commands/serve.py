"""``fleetwatch serve | receive | ingest``: run the service's roles.

- ``serve``: everything in one process. The embedded default (no Kafka configured) is this.
- ``receive``: OTLP receivers producing to Kafka (scale out behind a load balancer).
- ``ingest``: the Kafka -> ClickHouse loader (scale out as consumer-group members).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from fleetwatch.commands import Subparsers
from fleetwatch.config import Settings
from fleetwatch.service import DETECTORS, LOADER, RECEIVER, Service, run_until_signalled

_ROLES = {
    "serve": ({RECEIVER, LOADER, DETECTORS}, "run everything in one process (embedded default)"),
    "receive": ({RECEIVER}, "run the OTLP receivers, producing to Kafka"),
    "ingest": ({LOADER}, "run the Kafka -> ClickHouse loader"),
}


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    for name, (_, summary) in _ROLES.items():
        parser = subparsers.add_parser(name, parents=[common], help=summary)
        parser.set_defaults(handler=run, roles_of=name, without_detectors=False)
        if name == "serve":
            parser.add_argument("--without-detectors", action="store_true",
                                help="ingest only (for collection-only nodes and ingest benchmarks)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    roles = set(_ROLES[args.roles_of][0])
    if args.without_detectors:
        roles.discard(DETECTORS)
    if settings.embedded:
        if args.roles_of != "serve":
            print(f"fleetwatch {args.roles_of}: needs FLEETWATCH_KAFKA_BOOTSTRAP", file=sys.stderr)
            return 2
        roles.discard(LOADER)
    return asyncio.run(run_until_signalled(Service(settings, roles)))
