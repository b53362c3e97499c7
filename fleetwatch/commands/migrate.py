"""``fleetwatch migrate``: apply (or print) pending schema migrations."""

from __future__ import annotations

import argparse

from collector.migrations import migrate
from collector.schema_check import declared_schema, differences, live_schema
from fleetwatch.clickhouse import connect
from fleetwatch.commands import Subparsers
from fleetwatch.config import Settings


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("migrate", parents=[common], help="apply schema migrations")
    parser.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")
    parser.add_argument("--check", action="store_true",
                        help="compare the live schema with the declared one; exit 1 on drift")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.check:
        problems = differences(live_schema(connect(settings)), declared_schema())
        for problem in problems:
            print(problem)
        print("schema drift found" if problems else "live schema matches the declared schema")
        return 1 if problems else 0
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
