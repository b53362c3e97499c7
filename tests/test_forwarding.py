"""While the embedded service holds the chDB directory, state-changing commands run inside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from fleetwatch.cli import main
from fleetwatch.config import Settings
from fleetwatch.service import RECEIVER, Service
from tests.support.service import running_service


@pytest.fixture
def service(settings: Settings, ch: Client) -> Iterator[Service]:
    with running_service(settings, {RECEIVER}) as running:
        yield running


def _cli(service: Service, *argv: str) -> int:
    flags = ["--admin-port", str(service.admin_port), "--clickhouse-url", service.settings.clickhouse_url,
             "--clickhouse-database", service.settings.clickhouse_database]
    return main([*argv, *flags])


def test_webhook_commands_run_inside_the_service(service: Service, ch: Client, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a relative secret path is resolved on the client side
    assert _cli(service, "webhooks", "add", "https://hooks.example.com/fw", "--name", "ops",
                "--secret-file", "ops.secret") == 0
    assert (tmp_path / "ops.secret").read_text().startswith("whsec_")
    assert "added" in capsys.readouterr().out
    assert _cli(service, "webhooks", "list") == 0
    listed = capsys.readouterr().out
    secret = (tmp_path / "ops.secret").read_text().strip()
    assert "ops" in listed and secret not in listed and secret.removeprefix("whsec_")[:12] not in listed
    stored = ch.query("SELECT count() FROM webhook_subscriptions").result_rows[0][0]
    assert stored >= 1


def test_commands_not_marked_forwardable_are_refused_by_the_service(service: Service) -> None:
    import httpx

    reply = httpx.post(f"http://127.0.0.1:{service.admin_port}/run", json={"argv": ["serve"]})
    assert reply.status_code == 400
