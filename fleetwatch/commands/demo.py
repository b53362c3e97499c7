"""``fleetwatch demo``: see fleetwatch catch fleet failures, in one command."""

from __future__ import annotations

import argparse

from fleetwatch.clickhouse import connect
from fleetwatch.commands import Subparsers
from fleetwatch.config import Settings
from fleetwatch.demo import run_demo


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "demo", parents=[common], help="run the embedded service with a simulated fleet and incidents"
    )
    parser.add_argument("--wait", type=float, default=90.0, help="seconds to wait for alerts")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.embedded:
        print("fleetwatch demo runs on the embedded default; unset FLEETWATCH_KAFKA_BOOTSTRAP")
        return 2
    demo_settings = settings.model_copy(update={"clickhouse_database": "fleetwatch_demo"})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    connect(demo_settings).command(f"DROP DATABASE IF EXISTS `{demo_settings.clickhouse_database}`")
    report = run_demo(demo_settings, wait_seconds=args.wait)
    return 0 if report.spans else 1
