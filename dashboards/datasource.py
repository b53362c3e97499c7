"""The ClickHouse datasource definition, for the HTTP API (sync) and for provisioning files.

Its OTel trace settings point Grafana's trace view at ``otel_traces``: with ``otelEnabled`` the
plugin maps the Collector's column names itself; the explicit column names are kept for plugin
versions that read them instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from dashboards.query import DATASOURCE_NAME, DATASOURCE_UID, PLUGIN_ID
from fleetwatch.config import Settings

_DEFAULT_PORTS = {
    ("http", False): 8123,
    ("http", True): 8443,
    ("native", False): 9000,
    ("native", True): 9440,
}
_SCHEMES = {
    "http": ("http", False),
    "https": ("http", True),
    "clickhouse": ("native", False),
    "clickhouses": ("native", True),
}

TRACE_COLUMNS = {
    "traceIdColumn": "TraceId",
    "spanIdColumn": "SpanId",
    "parentSpanIdColumn": "ParentSpanId",
    "operationNameColumn": "SpanName",
    "serviceNameColumn": "ServiceName",
    "durationColumn": "Duration",
    "durationUnit": "nanoseconds",
    "startTimeColumn": "Timestamp",
    "tagsColumn": "SpanAttributes",
    "serviceTagsColumn": "ResourceAttributes",
}


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    protocol: str  # "http" or "native"
    secure: bool
    path: str = ""


def parse_endpoint(url: str) -> Endpoint:
    """``http[s]://host[:port][/path]`` or ``clickhouse[s]://host[:port]`` (native protocol)."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ValueError(
            "Grafana's ClickHouse URL must look like http[s]://host:port or clickhouse[s]://host:port"
        )
    protocol, secure = _SCHEMES[parts.scheme]
    port = parts.port or _DEFAULT_PORTS[(protocol, secure)]
    return Endpoint(parts.hostname, port, protocol, secure, parts.path.strip("/"))


def grafana_endpoint(settings: Settings) -> Endpoint:
    """Where Grafana reaches ClickHouse: its own setting, else fleetwatch's server URL."""
    url = settings.grafana_clickhouse_url or settings.clickhouse_url
    if url.startswith("chdb://"):
        raise ValueError(
            "the embedded engine (chdb://) is not reachable from Grafana: set "
            "FLEETWATCH_GRAFANA_CLICKHOUSE_URL to a ClickHouse server Grafana can reach"
        )
    return parse_endpoint(url)


def json_data(endpoint: Endpoint, username: str, database: str) -> dict[str, object]:
    data: dict[str, object] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "protocol": endpoint.protocol,
        "secure": endpoint.secure,
        "username": username,
        "defaultDatabase": database,
        "traces": {
            "defaultDatabase": database,
            "defaultTable": "otel_traces",
            "otelEnabled": True,
            "otelVersion": "latest",
            **TRACE_COLUMNS,
        },
    }
    if endpoint.path:
        data["path"] = endpoint.path
    return data


def api_body(settings: Settings) -> dict[str, object]:
    """The body for POST /api/datasources and PUT /api/datasources/uid/{uid}."""
    user = settings.grafana_clickhouse_user or settings.clickhouse_user
    password = settings.grafana_clickhouse_password or settings.clickhouse_password
    body: dict[str, object] = {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": PLUGIN_ID,
        "access": "proxy",
        "isDefault": False,
        "jsonData": json_data(grafana_endpoint(settings), user, settings.clickhouse_database),
    }
    if password.get_secret_value():
        # Sent only when set: an update without it keeps the password Grafana already holds.
        body["secureJsonData"] = {"password": password.get_secret_value()}
    return body
