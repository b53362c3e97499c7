"""``fleetwatch migrate``: apply (or print) pending schema migrations."""

from __future__ import annotations

import argparse

from collector.migrations import migrate
from fleetwatch.clickhouse import connect
from fleetwatch.commands import Subparsers
from fleetwatch.config import Settings


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("migrate", parents=[common], help="apply schema migrations")
    parser.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    ran = migrate(connect(settings), dry_run=args.dry_run)
    for migration in ran:
        verb = "would apply" if args.dry_run else "applied"
        print(f"{verb} {migration.version:04d}_{migration.name}")
        if args.dry_run:
            for statement in migration.statements:
                print(statement + ";\n")
    if not ran:
        print("schema is up to date")
    return 0
