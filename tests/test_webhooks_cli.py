"""``fleetwatch webhooks ...`` against a real (chDB) database: subscriptions are stored, secrets
are never printed, rotation signs with several secrets."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from detectors.delivery.signing import generate_secret
from detectors.delivery.subscriptions import find_subscription, load_subscriptions
from fleetwatch.cli import main
from fleetwatch.config import Settings


def _run(settings: Settings, *args: str) -> int:
    where = ["--clickhouse-url", settings.clickhouse_url,
             "--clickhouse-database", settings.clickhouse_database]
    return main(["webhooks", *args, *where])


def test_add_generates_a_private_secret_file_and_never_prints_it(
    settings: Settings, ch: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "ops.secret"
    code = _run(settings, "add", "https://hooks.example.com/fw?token=abc", "--name", "ops",
                "--format", "alertmanager", "--detector", "loop", "--severity", "critical",
                "--secret-file", str(secret_file))
    assert code == 0
    secret = secret_file.read_text().strip()
    assert secret.startswith("whsec_")
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    [sub] = load_subscriptions(ch)
    assert sub.name == "ops" and sub.payload_format == "alertmanager"
    assert sub.filters.detectors == ("loop",) and sub.filters.severities == ("critical",)
    assert sub.secrets[0].get_secret_value() == secret

    assert _run(settings, "list") == 0
    assert _run(settings, "list", "--json") == 0
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err
    assert secret[6:20] not in printed.out
    assert "token=abc" not in printed.out, "query strings may hold credentials"
    listed = json.loads(printed.out[printed.out.index("["):])
    assert listed[0]["filters"]["detector"] == ["loop"]


def test_existing_secret_file_is_used_and_bad_secrets_are_refused(
    settings: Settings, ch: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mine = generate_secret().get_secret_value()
    (tmp_path / "mine").write_text(mine + "\n")
    assert _run(settings, "add", "https://a.example/", "--name", "a",
                "--secret-file", str(tmp_path / "mine")) == 0
    assert load_subscriptions(ch)[0].secrets[0].get_secret_value() == mine

    monkeypatch.setattr("sys.stdin", io.StringIO("whsec_not-base64!!\n"))
    assert _run(settings, "add", "https://b.example/", "--name", "b", "--secret-stdin") == 2
    assert "not-base64" not in capsys.readouterr().err
    assert _run(settings, "add", "https://c.example/", "--name", "a",
                "--secret-file", str(tmp_path / "mine")) == 2, "names are unique"
    assert len(load_subscriptions(ch)) == 1


def test_internal_literal_targets_are_refused_at_subscription_time(
    settings: Settings, ch: Client, tmp_path: Path
) -> None:
    for url in ("http://10.0.0.5/hook", "http://169.254.169.254/", "http://127.0.0.1:4320/"):
        assert _run(settings, "add", url, "--name", "x", "--secret-file",
                    str(tmp_path / "s")) == 2
    assert load_subscriptions(ch) == []


def test_rotate_disable_enable_remove(
    settings: Settings, ch: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(settings, "add", "https://a.example/", "--name", "ops",
                "--secret-file", str(tmp_path / "one")) == 0
    assert _run(settings, "rotate-secret", "ops", "--secret-file", str(tmp_path / "two")) == 0
    sub = find_subscription(ch, "ops")
    assert sub is not None
    values = [s.get_secret_value() for s in sub.secrets]
    assert values == [(tmp_path / name).read_text().strip() for name in ("two", "one")]

    assert _run(settings, "drop-old-secrets", "ops") == 0
    sub = find_subscription(ch, "ops")
    assert sub is not None and len(sub.secrets) == 1
    assert sub.secrets[0].get_secret_value() == values[0]

    assert _run(settings, "disable", sub.subscription_id) == 0
    assert not load_subscriptions(ch)[0].enabled
    assert _run(settings, "enable", "ops") == 0
    assert load_subscriptions(ch)[0].enabled
    assert _run(settings, "deliveries", "--subscription", "ops") == 0
    assert _run(settings, "remove", "ops") == 0
    assert load_subscriptions(ch) == []
    assert _run(settings, "remove", "ops") == 2
    printed = capsys.readouterr().out
    assert all(value not in printed for value in values)


def test_unmigrated_database_gives_a_hint_not_a_traceback(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleetwatch.clickhouse import connect

    client = connect(settings)  # the database exists, but no migration has run
    try:
        assert _run(settings, "list") == 1
        assert "fleetwatch migrate" in capsys.readouterr().err
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`")
