"""A simulated fleet through fleetwatch's own receiver into ClickHouse (embedded chDB): every
labelled incident is stored with exactly the labelled traces, under the labelled tenant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from fleetwatch.config import Settings
from fleetwatch.service import RECEIVER, Service
from simulator.labels import IncidentLabel
from simulator.run import SimulationConfig, run_simulation
from simulator.suite import parse_spec
from tests.support.service import running_service


@pytest.fixture
def service(settings: Settings, ch: Client) -> Iterator[Service]:
    tenanted = settings.model_copy(update={"auth_tokens": SecretStr("sim-token=acme")})
    with running_service(tenanted, {RECEIVER}) as running:
        yield running


def _stored(ch: Client, incident: IncidentLabel) -> tuple[set[str], set[str], set[str]]:
    rows = ch.query(
        "SELECT TraceId, AgentId, TenantId FROM otel_traces WHERE TraceId IN {ids:Array(String)}",
        parameters={"ids": list(incident.trace_ids)},
    ).result_rows
    return {r[0] for r in rows}, {r[1] for r in rows}, {r[2] for r in rows}


def test_every_incident_reaches_clickhouse_with_its_traces(service: Service, ch: Client) -> None:
    config = SimulationConfig(seed=21, agents=6, market_agents=4, duration_s=3600.0, tenant="acme",
                              flush_interval_s=300.0)  # fewer, larger requests: a faster test
    result = run_simulation(config, endpoint=f"http://127.0.0.1:{service.http_port}",
                            token="sim-token")
    assert result.failed_requests == 0 and len(result.incidents) >= 15
    total = ch.query("SELECT count() FROM otel_traces WHERE TenantId = 'acme'").result_rows[0][0]
    assert total == result.spans
    for incident in result.incidents:
        traces, agents, tenants = _stored(ch, incident)
        assert traces == set(incident.trace_ids), incident.scenario
        assert agents <= set(incident.agents)
        assert tenants == {incident.tenant}
    kinds = {i.kind for i in result.incidents}
    assert {"destructive_action", "fan_out_storm", "market_collusion"} <= kinds


def test_grpc_exporter_and_materialized_columns(service: Service, ch: Client) -> None:
    plan = parse_spec("cs8:variant=display_name,at=30")
    config = SimulationConfig(seed=5, agents=3, market_agents=0, duration_s=900.0,
                              scenarios=(plan,), tenant="acme")
    result = run_simulation(config, endpoint=f"http://127.0.0.1:{service.grpc_port}",
                            protocol="grpc", token="sim-token")
    assert result.failed_requests == 0
    (incident,) = result.incidents
    rows = ch.query(
        "SELECT PrincipalId, PrincipalName, Channel FROM otel_traces "
        "WHERE TraceId IN {ids:Array(String)} AND Operation = 'invoke_agent'",
        parameters={"ids": list(incident.trace_ids)},
    ).result_rows
    owner_names = {name for _, name, _ in rows}
    assert len(rows) == 2 and len(owner_names) == 1  # the owner's name both times...
    assert {principal for principal, _, _ in rows} <= set(incident.principals)
    assert {channel for _, _, channel in rows} == {"discord:#general", "discord:dm"}
