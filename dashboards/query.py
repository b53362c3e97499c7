"""Queries for Grafana's ClickHouse datasource, as foundation-SDK dataquery builders.

The SDK ships query types for Grafana's core datasources only, so this module models the one
shape the ``grafana-clickhouse-datasource`` plugin (v4) stores for a raw-SQL panel target:
``editorType: sql`` plus ``rawSql``, a ``queryType`` that picks the editor and result handling,
and ``format``, the backend's frame format (sqlutil.FormatQueryOption: 0 time series, 1 table,
2 logs, 3 trace).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

PLUGIN_ID = "grafana-clickhouse-datasource"
DATASOURCE_UID = "fleetwatch-clickhouse"
DATASOURCE_NAME = "fleetwatch ClickHouse"


class QueryType(StrEnum):
    TABLE = "table"
    TIME_SERIES = "timeseries"
    LOGS = "logs"
    TRACES = "traces"


class Format(IntEnum):
    TIME_SERIES = 0
    TABLE = 1
    LOGS = 2
    TRACE = 3


def datasource_ref() -> DataSourceRef:
    """Every panel and variable points at the one datasource fleetwatch provisions."""
    return DataSourceRef(type_val=PLUGIN_ID, uid=DATASOURCE_UID)


@dataclass
class ClickHouseQuery(cogvariants.Dataquery):
    ref_id: str
    raw_sql: str
    query_type: QueryType
    format: Format

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": datasource_ref().to_json(),
            "editorType": "sql",
            "queryType": self.query_type.value,
            "format": int(self.format),
            "rawSql": self.raw_sql,
        }


class SqlQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    """``SqlQuery(sql).table()`` / ``.time_series()`` / ``.trace()``; refId defaults to A."""

    def __init__(self, sql: str, ref_id: str = "A") -> None:
        self._query = ClickHouseQuery(ref_id, sql.strip(), QueryType.TABLE, Format.TABLE)

    def build(self) -> cogvariants.Dataquery:
        return self._query

    def time_series(self) -> SqlQuery:
        self._query.query_type, self._query.format = QueryType.TIME_SERIES, Format.TIME_SERIES
        return self

    def table(self) -> SqlQuery:
        self._query.query_type, self._query.format = QueryType.TABLE, Format.TABLE
        return self

    def trace(self) -> SqlQuery:
        self._query.query_type, self._query.format = QueryType.TRACES, Format.TRACE
        return self
