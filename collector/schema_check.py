"""The declared schema (a snapshot of what the migrations build) against a live database.

``collector/schema/declared.json`` is regenerated from the migrations with
``python -m collector.schema_check --write`` and committed; a test fails when it is stale, and
``fleetwatch migrate --check`` compares a live database (a production server, say) with it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import uuid
from importlib import resources
from pathlib import Path

from clickhouse_connect.driver.client import Client

_TABLES = """
SELECT name, engine, sorting_key, partition_key,
       replaceAll(as_select, concat(currentDatabase(), '.'), '') AS as_select
FROM system.tables WHERE database = currentDatabase() AND NOT is_temporary ORDER BY name
"""
_COLUMNS = """
SELECT table, name, type, default_kind, default_expression
FROM system.columns WHERE database = currentDatabase() ORDER BY table, position
"""

_INDEXES = """
SELECT table, name, type_full, expr, granularity
FROM system.data_skipping_indices WHERE database = currentDatabase() ORDER BY table, name
"""
_KEYS = ("engine", "sorting_key", "partition_key", "as_select", "columns", "indexes")

Schema = dict[str, dict[str, object]]


def live_schema(client: Client) -> Schema:
    schema: Schema = {}
    for name, engine, sorting_key, partition_key, as_select in client.query(_TABLES).result_rows:
        schema[name] = {"engine": engine, "sorting_key": sorting_key, "partition_key": partition_key,
                        "as_select": as_select, "columns": [], "indexes": []}
    for table, *column in client.query(_COLUMNS).result_rows:
        _entries(schema, table, "columns").append(list(column))
    for table, *index in client.query(_INDEXES).result_rows:
        _entries(schema, table, "indexes").append(list(index))
    return schema


def _entries(schema: Schema, table: str, key: str) -> list[object]:
    entries = schema.get(table, {}).get(key, [])  # a table dropped meanwhile: a throwaway list
    assert isinstance(entries, list)
    return entries


def declared_schema() -> Schema:
    text = (resources.files("collector") / "schema" / "declared.json").read_text(encoding="utf-8")
    loaded: Schema = json.loads(text)
    return loaded


def differences(live: Schema, declared: Schema) -> list[str]:
    """Human-readable differences; empty when the live database is as declared."""
    found = [f"missing table {name}" for name in sorted(declared.keys() - live.keys())]
    found += [f"undeclared table {name}" for name in sorted(live.keys() - declared.keys())]
    for name in sorted(live.keys() & declared.keys()):
        for key in _KEYS:
            if live[name].get(key) != declared[name].get(key):
                found.append(f"{name}.{key}: live {live[name][key]!r} != declared {declared[name][key]!r}")
    return found


def _write_snapshot(target: Path) -> None:
    from collector.migrations import migrate
    from fleetwatch.clickhouse import connect
    from fleetwatch.config import Settings

    with tempfile.TemporaryDirectory() as scratch:
        database = f"s_{uuid.uuid4().hex[:8]}"
        settings = Settings(clickhouse_url=f"chdb://{scratch}", clickhouse_database=database)
        client = connect(settings)
        migrate(client)
        target.write_text(json.dumps(live_schema(client), indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m collector.schema_check --write")
    _write_snapshot(Path(__file__).resolve().parent / "schema" / "declared.json")
