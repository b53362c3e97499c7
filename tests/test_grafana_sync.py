"""``fleetwatch grafana sync`` against FakeGrafana (tests/test_grafana_fake.py).

No Grafana server can run here; the fake checks requests the way Grafana's HTTP API does and
keeps state, so creation, idempotency and in-place repair of drift can be asserted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from dashboards import catalog
from dashboards.grafana_api import Grafana, folder_uid, public_url
from dashboards.query import DATASOURCE_UID
from dashboards.sync import CREATED, UNCHANGED, UPDATED, GrafanaSync
from fleetwatch.cli import main
from fleetwatch.config import Settings
from tests.test_grafana_fake import BASIC, TOKEN, FakeGrafana

DASHBOARDS = len(catalog.BUILDERS)


@pytest.fixture
def fake() -> Iterator[FakeGrafana]:
    server = FakeGrafana().start()
    yield server
    server.stop()


def grafana_settings(fake: FakeGrafana, **extra: object) -> Settings:
    values: dict[str, object] = {
        "grafana_url": fake.url,
        "grafana_token": SecretStr(TOKEN),
        "grafana_clickhouse_url": "clickhouse://clickhouse:9000",
        "grafana_clickhouse_user": "grafana_ro",
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


def sync(settings: Settings, **options: bool) -> dict[str, str]:
    changes = GrafanaSync(settings, Grafana.from_settings(settings), **options).run()
    return {f"{change.kind}:{change.name}": change.action for change in changes}


def test_first_sync_creates_everything_second_writes_nothing(fake: FakeGrafana) -> None:
    settings = grafana_settings(fake)
    first = sync(settings)
    assert list(first.values()) == [CREATED] * (2 + DASHBOARDS)
    assert set(fake.dashboards) == {model["uid"] for model in catalog.dashboard_models()}
    assert {saved["folderUid"] for saved in fake.dashboards.values()} == {"fleetwatch"}
    writes = len(fake.writes())
    second = sync(settings)
    assert list(second.values()) == [UNCHANGED] * (2 + DASHBOARDS)
    assert len(fake.writes()) == writes  # nothing written the second time


def test_datasource_points_grafana_at_clickhouse_and_the_otel_table(fake: FakeGrafana) -> None:
    sync(grafana_settings(fake, clickhouse_database="fleet"))
    source = fake.datasources[DATASOURCE_UID]
    assert source["type"] == "grafana-clickhouse-datasource" and source["access"] == "proxy"
    data = source["jsonData"]
    assert (data["host"], data["port"], data["protocol"], data["secure"]) == (
        "clickhouse",
        9000,
        "native",
        False,
    )
    assert data["username"] == "grafana_ro" and data["defaultDatabase"] == "fleet"
    traces = data["traces"]
    assert traces["otelEnabled"] is True and traces["defaultTable"] == "otel_traces"
    assert traces["defaultDatabase"] == "fleet" and traces["durationUnit"] == "nanoseconds"


def test_drift_is_repaired_in_place(fake: FakeGrafana) -> None:
    settings = grafana_settings(fake)
    sync(settings)
    source_id = fake.datasources[DATASOURCE_UID]["id"]
    fake.datasources[DATASOURCE_UID]["jsonData"]["host"] = "somewhere-else"
    overview = fake.dashboards["fleet-overview"]
    overview["dashboard"]["title"] = "Edited in the UI"
    fake.folders["fleetwatch"]["title"] = "renamed"
    changes = sync(settings)
    assert changes["datasource:fleetwatch ClickHouse"] == UPDATED
    assert changes["dashboard:Fleet overview"] == UPDATED
    assert changes["folder:fleetwatch"] == UPDATED
    assert sum(action == UNCHANGED for action in changes.values()) == DASHBOARDS - 1
    assert fake.datasources[DATASOURCE_UID]["id"] == source_id  # updated, not re-created
    assert fake.datasources[DATASOURCE_UID]["jsonData"]["host"] == "clickhouse"
    assert fake.dashboards["fleet-overview"]["dashboard"]["title"] == "Fleet overview"
    assert fake.dashboards["fleet-overview"]["dashboard"]["version"] == 2
    assert set(sync(settings).values()) == {UNCHANGED}


def test_password_sent_once_and_on_rotation(fake: FakeGrafana) -> None:
    settings = grafana_settings(fake, grafana_clickhouse_password=SecretStr("first"))
    sync(settings)
    assert fake.secrets[DATASOURCE_UID] == {"password": "first"}
    rotated = grafana_settings(fake, grafana_clickhouse_password=SecretStr("second"))
    assert sync(rotated)["datasource:fleetwatch ClickHouse"] == UNCHANGED
    assert sync(rotated, rotate_secrets=True)["datasource:fleetwatch ClickHouse"] == UPDATED
    assert fake.secrets[DATASOURCE_UID] == {"password": "second"}


def test_custom_folder_and_basic_auth_from_the_url(fake: FakeGrafana) -> None:
    url = fake.url.replace("http://", f"http://{BASIC[0]}:{BASIC[1]}@")
    settings = grafana_settings(
        fake, grafana_url=url, grafana_token=SecretStr(""), grafana_folder="Agent Fleet / Prod"
    )
    sync(settings)
    uid = folder_uid("Agent Fleet / Prod")
    assert uid == "agent-fleet-prod" and fake.folders[uid]["title"] == "Agent Fleet / Prod"
    assert public_url(url) == fake.url  # credentials never reach logs or state keys


def test_embedded_engine_is_not_a_datasource(fake: FakeGrafana) -> None:
    settings = grafana_settings(fake, grafana_clickhouse_url=None)
    with pytest.raises(ValueError, match="FLEETWATCH_GRAFANA_CLICKHOUSE_URL"):
        sync(settings)
    assert fake.writes() == []  # refused before touching Grafana


def test_cli_sync_end_to_end(
    fake: FakeGrafana,
    settings: Settings,
    ch: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLEETWATCH_GRAFANA_URL", fake.url)
    monkeypatch.setenv("FLEETWATCH_GRAFANA_TOKEN", TOKEN)
    monkeypatch.setenv("FLEETWATCH_GRAFANA_CLICKHOUSE_URL", "http://clickhouse:8123")
    flags = [
        "--clickhouse-url",
        settings.clickhouse_url,
        "--clickhouse-database",
        settings.clickhouse_database,
    ]
    assert main(["grafana", "sync", *flags]) == 0
    out = capsys.readouterr().out
    assert "annotations pushed: 0" in out and f"{2 + DASHBOARDS} change(s)" in out
    assert main(["grafana", "sync", "--no-annotations", *flags]) == 0
    assert "0 change(s)" in capsys.readouterr().out
    fake.outage = True
    assert main(["grafana", "sync", *flags]) == 1
    err = capsys.readouterr().err
    assert "Grafana at" in err and TOKEN not in err


def test_cli_sync_needs_a_grafana_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETWATCH_GRAFANA_URL", raising=False)
    assert main(["grafana", "sync"]) == 2


def test_uploaded_dashboards_equal_the_committed_json(fake: FakeGrafana) -> None:
    sync(grafana_settings(fake))
    for model in catalog.dashboard_models():
        stored = dict(fake.dashboards[model["uid"]]["dashboard"])
        stored.pop("id"), stored.pop("version")
        assert json.dumps(stored, sort_keys=True) == json.dumps(model, sort_keys=True)
