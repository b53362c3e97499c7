"""The one settings object, built once at start-up.

Precedence: command-line flag > environment variable (``FLEETWATCH_*``) > default.
Every field is documented in docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Typed, frozen configuration. Secrets are ``SecretStr`` and print masked."""

    model_config = SettingsConfigDict(env_prefix="FLEETWATCH_", frozen=True, extra="forbid")

    # --- storage -------------------------------------------------------------------------
    clickhouse_url: str = Field(
        default="",
        description="chdb://PATH for the embedded engine, http(s)://HOST:PORT for a server; "
        "empty = chdb://<data_dir>/chdb.",
    )
    clickhouse_database: str = Field(
        default="fleetwatch", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Database for all tables."
    )
    clickhouse_user: str = Field(default="default", description="ClickHouse server user.")
    clickhouse_password: SecretStr = Field(default=SecretStr(""), description="ClickHouse server password.")
    chdb_merge_nice: int = Field(
        default=10, ge=-20, le=19,
        description="Embedded engine only: Linux nice value of chDB's merge threads (ClickHouse's "
        "os_threads_nice_value_merge_mutate), so background merges give the cores to ingest and "
        "the detectors' live lane when both want them; needs CAP_SYS_NICE, else no effect. "
        "0 = the process's own priority.",
    )

    # --- transport -----------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None, description="host:port[,host:port]; unset = embedded in-process queue."
    )
    kafka_topic: str = Field(default="otlp_spans", description="Spans topic (the Collector's default).")
    kafka_dlq_topic: str = Field(default="otlp_spans_dlq", description="Dead-letter topic.")
    kafka_group: str = Field(default="fleetwatch-loader", description="Loader consumer group.")
    kafka_max_message_bytes: int = Field(
        default=1_000_000, ge=64 * 1024, description="Requests are split into messages below this size."
    )
    kafka_topic_partitions: int = Field(
        default=6, ge=1, description="Partitions when fleetwatch creates the spans topic itself."
    )
    kafka_fast_rebalance: bool = Field(
        default=False,
        description="Short session/poll timeouts: faster group joins, less slack for slow batches.",
    )

    # --- receiver ------------------------------------------------------------------------
    http_host: str = Field(
        default="127.0.0.1", description="Interface the OTLP receivers bind; 0.0.0.0 to accept remote agents."
    )
    http_port: int = Field(default=4318, ge=0, le=65535, description="OTLP/HTTP port (0 = any free port).")
    grpc_port: int = Field(default=4317, ge=0, le=65535, description="OTLP/gRPC port (0 = any free port).")
    admin_port: int = Field(
        default=4320, ge=0, le=65535, description="Admin endpoint (/healthz, /status, /storage); loopback."
    )
    max_body_bytes: int = Field(
        default=16 * MIB, ge=1024, description="Largest request body after decompression (413 above)."
    )
    max_inflight_bytes: int = Field(
        default=32 * MIB, ge=MIB,
        description="Decoded request bytes admitted and not yet durable; past it: 503 + Retry-After. "
        "Peak memory is roughly 15-20x this (decoded and flattened spans).",
    )
    retry_after_seconds: int = Field(default=2, ge=1, description="Retry-After sent with 503 answers.")
    auth_tokens: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated token=tenant pairs. Empty = no authentication.",
    )
    auth_tokens_file: Path | None = Field(
        default=None, description="File of token=tenant lines; merged with auth_tokens."
    )
    default_tenant: str = Field(default="default", description="Tenant of spans when auth is off.")

    # --- loader / batching ---------------------------------------------------------------
    batch_max_rows: int = Field(default=50_000, ge=1, description="Rows per ClickHouse insert, at most.")
    batch_max_delay_ms: int = Field(
        default=200, ge=1, description="How long a batch waits to fill before its insert (embedded path), "
        "or how long the Kafka loader keeps polling for more while messages keep arriving."
    )
    embedded_inserters: int = Field(
        default=2, ge=1, le=16,
        description="Embedded path: inserts in flight at once, each on its own client; ClickHouse and "
        "chDB both run them side by side.",
    )
    loader_consumers: int = Field(
        default=1, ge=1, le=64,
        description="Kafka consumer-group members in one `fleetwatch ingest` process, each inserting on "
        "its own thread and client: for a ClickHouse server on a multi-core host.",
    )
    dlq_max_ratio: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Halt when more than this share of a batch is bad."
    )

    # --- detectors and delivery ----------------------------------------------------------
    policy_file: Path | None = Field(default=None, description="Detector policy YAML (docs/policy.md).")
    detector_interval_seconds: float = Field(
        default=0.5, gt=0, description="How often each background worker (detectors, delivery) "
        "runs. The detector bench's p95 from receipt to alert fell from 3.1 s to 2.4 s with 0.5 s "
        "ticks and a 0.5 s live settle (docs/benchmarks.md, session 8), for a third more engine CPU."
    )
    # --- detector engine (detectors/, issue 4) ---
    detector_allowed_lateness_seconds: float = Field(
        default=1.0, ge=0, description="Event time a window stays open for late spans."
    )
    detector_late_horizon_seconds: float = Field(
        default=3600.0, gt=0, description="Spans older than this behind the watermark are ignored."
    )
    detector_max_clock_skew_seconds: float = Field(
        default=300.0, gt=0,
        description="Spans stamped further than this past ingest time do not move the watermark.",
    )
    detector_max_windows_per_tick: int = Field(default=64, ge=1)
    detector_update_interval_seconds: float = Field(
        default=60.0, ge=0, description="Least event time between updates of a growing incident."
    )
    # --- detector engine, live latency (detectors/engine.py, detectors/early.py; issue 4) ---
    detector_ingest_overlap_seconds: float = Field(
        default=10.0, ge=0,
        description="The ingest scan re-reads this much before its cursor (out-of-order commits).",
    )
    detector_sweep_budget_seconds: float = Field(
        default=0.5, gt=0, description="Full-window evaluations a tick may start within this time."
    )
    detector_early_sweep_delay_seconds: float = Field(
        default=60.0, ge=0,
        description="Extra lateness of full windows for detectors that are also evaluated early.",
    )
    detector_early_max_traces: int = Field(
        default=20_000, ge=1,
        description="More changed traces than this in one tick (a backlog): only the newest "
        "5,000 are evaluated early (100,000 when the span tail holds them).",
    )
    # --- detector engine, live lane by agent (detectors/early.py; issue 4 latency) ---
    detector_live_max_agents: int = Field(
        default=16, ge=1,
        description="More agents than this to re-judge live for one detector in one tick: "
        "that detector waits for its full window this tick.",
    )
    detector_sweep_duty_cycle: float = Field(
        default=0.5, gt=0, le=1,
        description="Share of wall time the sweep thread may spend on full windows and seeding "
        "the span tail (it rests the remainder, leaving the GIL and a core to the live lane); "
        "1 = no rest.",
    )
    detector_live_agents_thread: bool = Field(
        default=True,
        description="Re-judge the live lane's agents (loops, silent failures, runaway) on a thread "
        "of their own beside the ticks, so a slow whole-window read for a few agents never holds "
        "back the next tick's trace alerts (only with detector_sweep_thread).",
    )
    detector_sweep_thread: bool = Field(
        default=True,
        description="Evaluate full windows on their own thread and client, so slow ones never "
        "delay the early (live) alerts.",
    )
    # --- detector engine, sliced full windows and settle time (detectors/; issue 4 latency) ---
    detector_sweep_slice_seconds: float = Field(
        default=30.0, ge=0,
        description="On the sweep thread, read full windows of more than 200,000 spans in slices of "
        "this much event time (each read short and its result bounded, with a rest between "
        "slices by the duty cycle); 0 = whole windows.",
    )
    detector_live_settle_seconds: float = Field(
        default=0.5, ge=0,
        description="Detectors a later span can contradict (false_completion, silent_failures, "
        "loops) judge a changed trace live once its root span is in view and it has had no new "
        "spans for this long; 0 = judge every change at once.",
    )
    # --- detector engine, span tail (detectors/tail.py; issue 4 latency) ---
    detector_tail_max_mb: int = Field(
        default=2048, ge=0,
        description="Memory for the span tail: the recent turns, tool calls, sends and model calls "
        "the detectors read, kept in memory and topped up each tick instead of re-read from "
        "ClickHouse; it holds up to the longest detector window, the oldest dropped first beyond "
        "this; windows it does not hold are queried. 0 = off.",
    )

    # --- webhook delivery (detectors/delivery, docs/webhooks.md) -------------------------
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Allow loopback, private and link-local webhook targets (SSRF guard off).",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    webhook_ca_file: Path | None = Field(
        default=None, description="Extra PEM CA bundle trusted for https receivers."
    )
    webhook_max_concurrency: int = Field(default=8, ge=1, le=256)
    webhook_batch_size: int = Field(default=100, ge=1, le=10_000)
    webhook_max_attempts: int = Field(default=15, ge=1, le=100)
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3 * 3600.0, gt=0)
    webhook_retry_jitter: float = Field(default=0.5, ge=0.0, le=1.0)
    webhook_retry_after_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    webhook_alert_lookback_seconds: float = Field(
        default=24 * 3600.0, gt=0, description="At start-up, alerts this recent are (re)checked."
    )
    webhook_alert_overlap_seconds: float = Field(
        default=300.0, ge=0, description="Re-read window for alert rows written late."
    )

    # --- grafana (dashboards/, `fleetwatch grafana sync`, annotation publisher) ------------
    grafana_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Grafana base URL (http[s]://host:port[/subpath]); unset = no Grafana.",
    )
    grafana_token: SecretStr = Field(
        default=SecretStr(""),
        description="Service-account token; empty = basic auth from user:password in the URL.",
    )
    grafana_folder: str = Field(default="fleetwatch", min_length=1, max_length=140)
    grafana_clickhouse_url: str | None = Field(
        default=None,
        description="ClickHouse as Grafana reaches it: http[s]://host:port or "
        "clickhouse[s]://host:port (native); unset = clickhouse_url when that is a server.",
    )
    grafana_clickhouse_user: str | None = Field(
        default=None, description="Read-only user for the datasource; unset = clickhouse_user."
    )
    grafana_clickhouse_password: SecretStr | None = Field(
        default=None, description="Its password; unset = clickhouse_password."
    )
    grafana_annotation_batch: int = Field(
        default=200, ge=1, le=10_000, description="Alert versions pushed per publisher run."
    )

    data_dir: Path = Field(default=Path("./fleetwatch-data"), description="Local state (embedded chDB).")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    switch_interval_ms: float = Field(
        default=1.0, ge=0.1, le=100,
        description="The process's thread switch interval (Python's sys.setswitchinterval; its "
        "default is 5 ms): a thread waiting for the GIL behind a busy one waits up to this long, "
        "and a detector tick takes the GIL back hundreds of times (docs/detectors.md).",
    )

    @model_validator(mode="after")
    def _storage_url(self) -> Settings:
        url = self.clickhouse_url or f"chdb://{self.data_dir / 'chdb'}"
        if url.startswith("chdb://"):
            # chDB reads a relative path as a database name: always hand it an absolute one.
            url = f"chdb://{Path(url.removeprefix('chdb://')).expanduser().resolve()}"
        elif not url.startswith(("http://", "https://")):
            raise ValueError("clickhouse_url must start with chdb://, http:// or https://")
        object.__setattr__(self, "clickhouse_url", url)  # frozen: normalised once, here
        return self

    @property
    def embedded(self) -> bool:
        """True when no Kafka is configured: one process does everything."""
        return self.kafka_bootstrap is None

    def tenant_tokens(self) -> dict[str, str]:
        """token -> tenant id, from ``auth_tokens`` and ``auth_tokens_file``."""
        lines = self.auth_tokens.get_secret_value().split(",")
        if self.auth_tokens_file is not None:
            lines += self.auth_tokens_file.read_text(encoding="utf-8").splitlines()
        return dict(_parse_token_line(line) for line in lines if line.strip())


def _parse_token_line(line: str) -> tuple[str, str]:
    token, sep, tenant = line.strip().partition("=")
    if not sep or not token or not tenant:
        # Never echo the line: it holds a secret.
        raise ValueError("auth token entries must look like TOKEN=TENANT")
    return token.strip(), tenant.strip()


def load_settings(**overrides: object) -> Settings:
    """Build the settings: explicit overrides (from flags) win over the environment.

    A misspelt ``FLEETWATCH_*`` variable is an error, not a silently ignored setting.
    """
    _reject_unknown_environment(os.environ)
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)  # type: ignore[arg-type]


# Names for the project's own tests and fault injection, never settings.
_NOT_SETTINGS = ("FLEETWATCH_TEST_", "FLEETWATCH_FAILPOINT_")


def _reject_unknown_environment(environ: Mapping[str, str]) -> None:
    known = {f"FLEETWATCH_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(
        key for key in environ
        if key.startswith("FLEETWATCH_") and key not in known and not key.startswith(_NOT_SETTINGS)
    )
    if unknown:
        raise ValueError(f"unknown environment variables {unknown}; see docs/configuration.md")
