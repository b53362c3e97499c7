"""ClickHouse clients: chDB in-process or a server, always through clickhouse-connect.

chDB holds one data directory per process, so every client in a process points at the same
path; tests isolate themselves by database, not by path.
"""

from __future__ import annotations

from clickhouse_connect import get_client
from clickhouse_connect.driver.client import Client

from fleetwatch.config import Settings


def connect(settings: Settings, *, database: str | None = None) -> Client:
    """A new client bound to the configured database (created if missing)."""
    target = database or settings.clickhouse_database
    ensure_database(settings, target)
    return _client(settings, target)


def ensure_database(settings: Settings, database: str) -> None:
    admin = _client(settings, None)
    try:
        # Identifiers cannot be bound parameters; the name is validated by Settings' pattern.
        admin.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    finally:
        _close_unless_embedded(settings, admin)


def _client(settings: Settings, database: str | None) -> Client:
    url = settings.clickhouse_url
    if url.startswith("chdb://"):
        dsn = url if database is None else f"{url}?database={database}"
        return get_client(dsn=dsn, chdb_options=_engine_options(settings))
    return get_client(
        dsn=url,
        username=settings.clickhouse_user,
        password=settings.clickhouse_password.get_secret_value(),
        database=database or "default",
        # Large batches and slow merges under load: generous timeouts, bounded retries.
        send_receive_timeout=120,
    )


def _engine_options(settings: Settings) -> dict[str, str]:
    """Server settings of the embedded engine. The process's first client starts the engine
    with them; later clients share it, so every client passes the same."""
    # Merges of a table taking 10,000 spans/s run most of the time on two cores; at the
    # process's priority they were running in 69 % of the detector bench's stalled-tick
    # samples against 7 % of the others (docs/benchmarks.md, session 12).
    return {"os_threads_nice_value_merge_mutate": str(settings.chdb_merge_nice)}


def _close_unless_embedded(settings: Settings, client: Client) -> None:
    # Closing the last chDB client shuts the embedded engine down; keep it alive in-process.
    if not settings.clickhouse_url.startswith("chdb://"):
        client.close()
