"""Shared fixtures: the real ClickHouse engine (chDB) and a real Kafka-protocol broker (Tansu).

chDB allows one data directory per process, so the whole test session shares one path and each
test gets its own database. Set FLEETWATCH_TEST_CLICKHOUSE_URL=http://... to run the same tests
against a ClickHouse server instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from collector.migrations import migrate
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings
from tests.support.tansu import TansuBroker


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    configured = os.environ.get("FLEETWATCH_TEST_CLICKHOUSE_URL")
    if configured:
        return configured
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def settings(clickhouse_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own database, ephemeral ports, its own data dir."""
    return Settings(
        clickhouse_url=clickhouse_url,
        clickhouse_database=f"t_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path,
        http_port=0,
        grpc_port=0,
        admin_port=0,
        batch_max_delay_ms=20,
    )


@pytest.fixture
def ch(settings: Settings) -> Iterator[Client]:
    """A client on the test's freshly migrated database."""
    client = connect(settings)
    migrate(client)
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`")


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """One Tansu broker for the session; tests isolate themselves by topic and group names."""
    broker = TansuBroker(tmp_path_factory.mktemp("tansu"))
    broker.start()
    yield broker
    broker.stop()
