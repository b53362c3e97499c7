"""``fleetwatch grafana sync`` and ``fleetwatch dashboards build``.

sync: create or update the Grafana folder, the ClickHouse datasource and the dashboards, then
push every alert not yet annotated. build: regenerate dashboards/generated and the provisioning
files from dashboards/*.py (``--check`` only verifies them, for CI).
"""

from __future__ import annotations

import argparse
import sys

from grafana_client.client import GrafanaException

from dashboards import build
from dashboards.annotations import AnnotationPublisher
from dashboards.grafana_api import Grafana, public_url
from dashboards.sync import UNCHANGED, GrafanaSync
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    grafana = subparsers.add_parser("grafana", help="Grafana: dashboards, datasource, annotations")
    actions = grafana.add_subparsers(dest="grafana_command", required=True)
    sync = actions.add_parser("sync", parents=[common], help="create or update everything in Grafana")
    sync.add_argument("--no-annotations", action="store_true", help="skip pushing alerts")
    sync.add_argument("--rotate-secrets", action="store_true", help="re-send the datasource password")
    sync.set_defaults(handler=run_sync)

    dashboards = subparsers.add_parser("dashboards", help="dashboards as code")
    steps = dashboards.add_subparsers(dest="dashboards_command", required=True)
    make = steps.add_parser("build", parents=[common], help="regenerate the dashboard JSON")
    make.add_argument("--check", action="store_true", help="fail if generated files are stale")
    make.set_defaults(handler=run_build)


def run_sync(args: argparse.Namespace, settings: Settings) -> int:
    if settings.grafana_url is None:
        print("fleetwatch: set FLEETWATCH_GRAFANA_URL to sync with Grafana", file=sys.stderr)
        return 2
    grafana = Grafana.from_settings(settings)
    where = public_url(settings.grafana_url)
    try:
        changes = GrafanaSync(settings, grafana, rotate_secrets=args.rotate_secrets).run()
        for change in changes:
            print(f"{change.kind} {change.name!r}: {change.action}")
        if not args.no_annotations:
            publisher = AnnotationPublisher(settings, connect(settings), grafana)
            print(f"annotations pushed: {publisher.drain()}")
    except ValueError as error:
        print(f"fleetwatch: {error}", file=sys.stderr)
        return 2
    except GrafanaException as error:
        print(f"fleetwatch: Grafana at {where} failed: {error.message}", file=sys.stderr)
        return 1
    changed = sum(change.action != UNCHANGED for change in changes)
    print(f"Grafana at {where}: {changed} change(s)")
    return 0


def run_build(args: argparse.Namespace, settings: Settings) -> int:
    return build.run(check=args.check)
