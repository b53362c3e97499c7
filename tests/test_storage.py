"""The schema and its migrations against the real ClickHouse engine (chDB)."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from collector.migrations import (
    REQUIRED_SERVER_SETTINGS,
    UnsupportedServer,
    declared_migrations,
    migrate,
    pending,
    require_server_settings,
    split_statements,
)
from collector.schema_check import declared_schema, differences, live_schema
from collector.spans_table import SPAN_COLUMNS
from collector.writer import insert_requests
from tests.support.otel import sdk_request

# The Collector clickhouseexporter's otel_traces columns and types (otel-interop reference).
COLLECTOR_COLUMNS = {
    "Timestamp": "DateTime64(9)",
    "TraceId": "String",
    "SpanId": "String",
    "ParentSpanId": "String",
    "TraceState": "String",
    "SpanName": "LowCardinality(String)",
    "SpanKind": "LowCardinality(String)",
    "ServiceName": "LowCardinality(String)",
    "ResourceAttributes": "Map(LowCardinality(String), String)",
    "ScopeName": "String",
    "ScopeVersion": "String",
    "SpanAttributes": "Map(LowCardinality(String), String)",
    "Duration": "UInt64",
    "StatusCode": "LowCardinality(String)",
    "StatusMessage": "String",
    "Events.Timestamp": "Array(DateTime64(9))",
    "Events.Name": "Array(LowCardinality(String))",
    "Events.Attributes": "Array(Map(LowCardinality(String), String))",
    "Links.TraceId": "Array(String)",
    "Links.SpanId": "Array(String)",
    "Links.TraceState": "Array(String)",
    "Links.Attributes": "Array(Map(LowCardinality(String), String))",
}


def _live_columns(ch: Client, table: str) -> dict[str, str]:
    rows = ch.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
        parameters={"t": table},
    ).result_rows
    return {name: kind for name, kind in rows}


def test_live_schema_is_collector_compatible(ch: Client) -> None:
    live = _live_columns(ch, "otel_traces")
    for name, kind in COLLECTOR_COLUMNS.items():
        assert live.get(name) == kind, name


def test_live_schema_equals_declared_snapshot(ch: Client) -> None:
    problems = differences(live_schema(ch), declared_schema())
    assert not problems, "schema drift (python -m collector.schema_check --write if intended):\n" + "\n".join(problems)


def test_schema_drift_is_reported(ch: Client) -> None:
    ch.command("ALTER TABLE alerts ADD COLUMN Surprise String")
    assert any("alerts.columns" in problem for problem in differences(live_schema(ch), declared_schema()))


def test_every_insert_column_exists_in_live_schema(ch: Client) -> None:
    live = _live_columns(ch, "otel_traces")
    assert set(SPAN_COLUMNS) <= set(live)


def test_migrations_are_recorded_and_idempotent(ch: Client) -> None:
    assert pending(ch) == []
    assert migrate(ch) == []
    versions = [row[0] for row in ch.query("SELECT Version FROM schema_migrations FINAL ORDER BY Version").result_rows]
    assert versions == [m.version for m in declared_migrations()]


def test_split_statements_ignores_comments_and_blank_parts() -> None:
    assert split_statements("-- a; comment\nSELECT 1;\n\nSELECT 2;\n") == ("SELECT 1", "SELECT 2")


def test_trace_id_companion_table_is_filled(ch: Client) -> None:
    insert_requests(ch, [sdk_request(5)], "t")
    traces = ch.query("SELECT uniqExact(TraceId) FROM otel_traces").result_rows[0][0]
    assert ch.query("SELECT uniqExact(TraceId) FROM otel_traces_trace_id_ts").result_rows[0][0] == traces


def test_a_server_without_the_ingest_settings_is_refused_clearly(ch: Client) -> None:
    require_server_settings(ch, REQUIRED_SERVER_SETTINGS)
    with pytest.raises(UnsupportedServer, match="lacks the settings no_such_setting"):
        require_server_settings(ch, (*REQUIRED_SERVER_SETTINGS, "no_such_setting"))
