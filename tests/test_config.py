"""The settings object: precedence, validation, secrets, and its generated documentation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from fleetwatch.cli import build_parser, main, settings_from_args
from fleetwatch.config import Settings, load_settings
from fleetwatch.config_doc import render_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_configuration_doc_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/configuration.md is stale: python -m fleetwatch.config_doc > docs/configuration.md"
    )


def test_flag_beats_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETWATCH_HTTP_PORT", "5000")
    monkeypatch.setenv("FLEETWATCH_GRPC_PORT", "5001")
    args = build_parser().parse_args(["migrate", "--http-port", "6000"])
    settings = settings_from_args(args)
    assert (settings.http_port, settings.grpc_port, settings.admin_port) == (6000, 5001, 4320)


def test_unknown_environment_setting_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETWATCH_HTTP_PROT", "1")
    with pytest.raises(ValueError, match="FLEETWATCH_HTTP_PROT"):
        load_settings()
    assert main(["status"]) == 2


def test_secrets_are_masked_when_printed() -> None:
    settings = Settings(auth_tokens=SecretStr("t0ken=acme"), clickhouse_password=SecretStr("hunter2"))
    assert "t0ken" not in repr(settings) and "hunter2" not in str(settings)
    assert settings.tenant_tokens() == {"t0ken": "acme"}


def test_bad_token_entry_does_not_echo_the_secret() -> None:
    with pytest.raises(ValueError) as error:
        Settings(auth_tokens=SecretStr("no-separator-secret")).tenant_tokens()
    assert "no-separator-secret" not in str(error.value)


def test_embedded_storage_path_is_absolute_and_follows_data_dir(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).clickhouse_url == f"chdb://{tmp_path.resolve()}/chdb"
    assert Settings(clickhouse_url="chdb://relative/dir").clickhouse_url.startswith("chdb:///")
    with pytest.raises(ValidationError):
        Settings(clickhouse_url="ftp://nowhere")


def test_token_file_is_merged(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("a=one\n\nb=two\n", encoding="utf-8")
    assert Settings(auth_tokens_file=tokens, auth_tokens=SecretStr("c=three")).tenant_tokens() == {
        "a": "one", "b": "two", "c": "three"}
