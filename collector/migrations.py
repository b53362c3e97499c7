"""Numbered, versioned schema migrations, with their status kept in ClickHouse.

Each file ``NNNN_name.sql`` under ``collector/schema/migrations`` is one migration; statements
inside are separated by ``;`` at the end of a line, and ``${name}`` stands for a shared type
(collector/schema_types.py). Applied migrations are recorded in
``schema_migrations`` so ``fleetwatch migrate`` is idempotent and ``--dry-run`` can print what
would run. Files are never edited once released: a change is a new, higher-numbered file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from collector.schema_types import expand_types

_STATUS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    Version UInt32,
    Name String,
    AppliedAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY Version
"""
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SqlClient(Protocol):
    def command(self, cmd: str, parameters: dict[str, object] | None = None) -> object: ...
    def query(self, query: str, parameters: dict[str, object] | None = None) -> object: ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def declared_migrations() -> list[Migration]:
    """Every migration shipped with this version of fleetwatch, in order."""
    folder = resources.files("collector") / "schema" / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            text = expand_types(entry.read_text(encoding="utf-8"))
            found.append(Migration(int(match[1]), match[2], split_statements(text)))
    found.sort(key=lambda m: m.version)
    _check_unique(found)
    return found


def split_statements(text: str) -> tuple[str, ...]:
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    parts = re.split(r";\s*$", body, flags=re.MULTILINE)
    return tuple(part.strip() for part in parts if part.strip())


def applied_versions(client: SqlClient) -> set[int]:
    client.command(_STATUS_TABLE)
    result = client.query("SELECT DISTINCT Version FROM schema_migrations")
    return {int(row[0]) for row in result.result_rows}  # type: ignore[attr-defined]


def pending(client: SqlClient) -> list[Migration]:
    done = applied_versions(client)
    return [m for m in declared_migrations() if m.version not in done]


def migrate(client: SqlClient, *, dry_run: bool = False) -> list[Migration]:
    """Apply every pending migration in order; return what ran (or would run)."""
    require_server_settings(client, REQUIRED_SERVER_SETTINGS)
    todo = pending(client)
    if dry_run:
        return todo
    for migration in todo:
        for statement in migration.statements:
            client.command(statement)
        client.command(
            "INSERT INTO schema_migrations (Version, Name) VALUES ({v:UInt32}, {n:String})",
            parameters={"v": migration.version, "n": migration.name},
        )
    return todo


class UnsupportedServer(RuntimeError):
    pass


# The ingest path's Protobuf reading (collector/envelope.py) needs these; older servers lack them.
REQUIRED_SERVER_SETTINGS = ("format_schema_source", "input_format_protobuf_oneof_presence")


def require_server_settings(client: SqlClient, names: tuple[str, ...]) -> None:
    """Fail with a clear message, before any migration runs, on a ClickHouse that is too old."""
    result = client.query("SELECT name FROM system.settings WHERE name IN {names:Array(String)}",
                          parameters={"names": list(names)})
    found = {row[0] for row in result.result_rows}  # type: ignore[attr-defined]
    missing = [name for name in names if name not in found]
    if missing:
        version = client.query("SELECT version()").result_rows[0][0]  # type: ignore[attr-defined]
        raise UnsupportedServer(
            f"ClickHouse {version} lacks the settings {', '.join(missing)} that fleetwatch's ingest "
            "needs; use a newer ClickHouse (fleetwatch is tested with 26.9, the version chDB 4.4 embeds)")


def _check_unique(found: list[Migration]) -> None:
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration numbers in {versions}")
