"""Every dashboard query runs on the real ClickHouse engine (chDB) and finds what it should.

Grafana itself cannot run here, so ``expand`` plays the part of Grafana plus the ClickHouse
datasource: it substitutes template variables the way Grafana's ``sqlstring`` format does and
expands the datasource's macros exactly as its Go code does ($__timeFilter -> toDateTime(unix
seconds) bounds, $__timeInterval -> toStartOfInterval, ...). Any macro or variable it does not
know fails the test, as would SQL that ClickHouse rejects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from dashboards import catalog
from detectors.alerts import AlertRow, write_alerts
from detectors.testing import ORIGIN_NS, SyntheticFleet

ALL = object()
START_S = ORIGIN_NS // 10**9 - 3600
END_S = ORIGIN_NS // 10**9 + 3600
INTERVAL_S = 60

_VARIABLE = re.compile(r"\$\{(\w+):sqlstring\}")
_MACRO = re.compile(r"\$__(\w+)(?:\(([^()]*)\))?")


def _sqlstring(value: object) -> str:
    if value is ALL:
        return "'__all__'"  # a custom all value is inserted verbatim
    return "'" + str(value).replace("'", "''") + "'"


def key(value: str) -> str:
    """What a key variable holds: the value hex-encoded (its text is the value itself)."""
    return value.encode().hex().upper()


def _macro(match: re.Match[str]) -> str:
    name, arg = match.group(1), match.group(2)
    start, end = f"toDateTime({START_S})", f"toDateTime({END_S})"
    start_ms, end_ms = (f"fromUnixTimestamp64Milli({s * 1000})" for s in (START_S, END_S))
    expansions = {
        "timeFilter": f"{arg} >= {start} AND {arg} <= {end}",
        "timeFilter_ms": f"{arg} >= {start_ms} AND {arg} <= {end_ms}",
        "timeInterval": f"toStartOfInterval(toDateTime({arg}), INTERVAL {INTERVAL_S} second)",
        "fromTime": start,
        "toTime": end,
        "fromTime_ms": start_ms,
        "toTime_ms": end_ms,
        "interval_s": str(INTERVAL_S),
    }
    if name not in expansions:
        raise AssertionError(f"unknown macro $__{name}")
    return expansions[name]


def expand(sql: str, variables: Mapping[str, object]) -> str:
    def variable(match: re.Match[str]) -> str:
        if match.group(1) not in variables:
            raise AssertionError(f"query uses undefined variable {match.group(1)}")
        return _sqlstring(variables[match.group(1)])

    expanded = _MACRO.sub(_macro, _VARIABLE.sub(variable, sql))
    assert "$" not in expanded, f"unexpanded template syntax left in:\n{expanded}"
    return expanded


@dataclass(frozen=True)
class Query:
    dashboard: str
    title: str
    sql: str


def all_queries() -> Iterator[Query]:
    for model in catalog.dashboard_models():
        for panel in model["panels"]:
            for target in panel.get("targets", []):
                yield Query(model["uid"], f"{panel['title']} [{target['refId']}]", target["rawSql"])
        for variable in model["templating"]["list"]:
            if variable["type"] == "query":
                yield Query(model["uid"], f"variable {variable['name']}", variable["query"])


def panel_sql(uid: str, title: str, ref_id: str = "A") -> str:
    for query in all_queries():
        if query.dashboard == uid and query.title == f"{title} [{ref_id}]":
            return query.sql
    raise KeyError((uid, title, ref_id))


@dataclass(frozen=True)
class Scenario:
    evidence_trace: str
    evidence_span: str


def build_fleet(ch: Client) -> Scenario:
    """ash relays to flux, flux to doug, doug back to ash; an impostor instructs ash."""
    fleet = SyntheticFleet(tenant="acme")
    fleet.agent("ash", owners=["discord:1001"], principal="discord:2001", name="Ash")
    fleet.agent("flux", principal="discord:2002")
    fleet.agent("doug", principal="discord:2003")
    fleet.instruction("ash", "discord:1001", 0, name="Chris", channel="discord:#ops")
    fleet.instruction("ash", "discord:6666", 5, name="Chris", channel="discord:dm")
    trace, span = fleet.send("ash", ["discord:2002", "a@b.org"], 10, text="secret plan")
    fleet.send("flux", ["discord:2003"], 40)
    fleet.send("doug", ["discord:2001"], 70)
    work = fleet.new_trace()
    fleet.chat("ash", 12, work, input_tokens=1000, output_tokens=200)
    fleet.tool(
        "ash",
        "shell",
        14,
        work,
        error=True,
        fleet__action__target="file:MEMORY.md",
        fleet__action__kind="delete",
        fleet__resource__bytes=2048,
    )
    fleet.span(
        "ash",
        20,
        {"fleet.claim": "completed", "fleet.claim.subject": "file:MEMORY.md"},
        trace=work,
        name="reply",
    )
    fleet.insert(ch)
    other = SyntheticFleet(tenant="globex")
    other.chat("zed", 30, other.new_trace())
    other.insert(ch)
    write_alerts(ch, [alert(1, "firing", trace, span), alert(2, "firing", trace, span)])
    write_alerts(ch, [_resolved_elsewhere()])
    return Scenario(trace, span)


def alert(version: int, status: str, trace: str, span: str) -> AlertRow:
    return AlertRow(
        alert_id="A1",
        version=version,
        detector="propagation",
        severity="high",
        status=status,
        tenant="acme",
        agents=("ash", "flux"),
        principals=("discord:6666",),
        window_start_ns=ORIGIN_NS,
        window_end_ns=ORIGIN_NS + 60 * 10**9,
        first_seen_ns=ORIGIN_NS + 10 * 10**9,
        score=0.9,
        title="ash's message spread",
        explanation="relayed twice",
        trace_ids=(trace,),
        span_ids=(span,),
    )


def _resolved_elsewhere() -> AlertRow:
    return AlertRow(
        alert_id="B7",
        version=1,
        detector="runaway",
        severity="warning",
        status="resolved",
        tenant="globex",
        agents=("zed",),
        principals=(),
        window_start_ns=ORIGIN_NS,
        window_end_ns=ORIGIN_NS + 60 * 10**9,
        first_seen_ns=ORIGIN_NS,
        score=0.5,
        title="zed burned tokens",
        explanation="",
        trace_ids=(),
        span_ids=(),
    )


def variables_for(scenario: Scenario, tenant: str | None = "acme") -> dict[str, object]:
    return {
        "tenant": ALL if tenant is None else key(tenant),
        "agent": key("ash"),
        "alert": key("A1"),
        "trace": key(scenario.evidence_trace),
        "detector": ALL,
        "window": "300",
    }


def run(ch: Client, sql: str, variables: Mapping[str, object]) -> list[dict[str, Any]]:
    return list(ch.query(expand(sql, variables)).named_results())


@pytest.fixture
def scenario(ch: Client) -> Scenario:
    return build_fleet(ch)


def test_every_query_runs_for_one_tenant_and_for_all(ch: Client, scenario: Scenario) -> None:
    queries = list(all_queries())
    assert len(queries) > 30
    failures = []
    for tenant in ("acme", None):
        for query in queries:
            try:
                ch.query(expand(query.sql, variables_for(scenario, tenant)))
            except Exception as error:  # noqa: BLE001 - collect every broken query, not the first
                failures.append(f"{query.dashboard} / {query.title}: {error}"[:600])
    assert not failures, "\n\n".join(failures)


def test_network_nodes_mark_alerting_agents_and_resolve_principals(ch: Client, scenario: Scenario) -> None:
    nodes = {
        row["id"]: row
        for row in run(ch, panel_sql("fleet-network", "Who talks to whom", "nodes"), variables_for(scenario))
    }
    assert set(nodes) == {"ash", "flux", "doug", "a@b.org", "discord:1001", "discord:6666"}
    assert nodes["ash"]["title"] == "Ash" and nodes["ash"]["subtitle"] == "agent"
    assert nodes["ash"]["color"] == "red" and nodes["ash"]["highlighted"]
    assert nodes["doug"]["color"] == "green" and not nodes["doug"]["highlighted"]
    assert nodes["a@b.org"]["subtitle"] == "principal" and nodes["a@b.org"]["color"] == "blue"
    assert nodes["ash"]["mainstat"] == 6  # ash's spans


def test_network_edges_weighted_by_volume(ch: Client, scenario: Scenario) -> None:
    edges = {
        row["id"]: row
        for row in run(ch, panel_sql("fleet-network", "Who talks to whom", "edges"), variables_for(scenario))
    }
    assert set(edges) == {
        "ash -> flux",
        "ash -> a@b.org",
        "flux -> doug",
        "doug -> ash",
        "discord:1001 -> ash",
        "discord:6666 -> ash",
    }
    assert edges["ash -> flux"]["source"] == "ash" and edges["ash -> flux"]["mainstat"] == 1
    assert edges["ash -> flux"]["highlighted"]  # both ends in an open alert
    assert edges["flux -> doug"]["highlighted"]


def test_other_tenants_are_invisible(ch: Client, scenario: Scenario) -> None:
    agents = run(
        ch, panel_sql("fleet-overview", "Agents"), {**variables_for(scenario, "globex"), "agent": ALL}
    )
    assert [row["agent"] for row in agents] == ["zed"]
    everyone = run(ch, panel_sql("fleet-overview", "Agents"), {**variables_for(scenario, None), "agent": ALL})
    assert {row["agent"] for row in everyone} == {"ash", "flux", "doug", "zed"}
    ash = next(row for row in everyone if row["agent"] == "ash")
    assert ash["open_alerts"] == 1 and ash["tokens"] == 1200 and ash["errors"] == 1


def test_propagation_chains(ch: Client, scenario: Scenario) -> None:
    variables = variables_for(scenario)
    two = {row["chain"]: row for row in run(ch, panel_sql("fleet-propagation", "Two-hop chains"), variables)}
    assert set(two) == {"ash → flux → doug", "flux → doug → ash"}  # doug → ash came last
    assert two["ash → flux → doug"]["fastest_relay_s"] == 30
    three = [row["chain"] for row in run(ch, panel_sql("fleet-propagation", "Three-hop chains"), variables)]
    assert "ash → flux → doug → ash" in three
    narrow = run(ch, panel_sql("fleet-propagation", "Two-hop chains"), {**variables, "window": "20"})
    assert narrow == []  # every relay took 30 s


def test_agent_drill_down(ch: Client, scenario: Scenario) -> None:
    variables = variables_for(scenario)
    principals = {
        row["principal"]: row for row in run(ch, panel_sql("fleet-agent", "Principals it obeyed"), variables)
    }
    assert principals["discord:1001"]["owner"] and not principals["discord:6666"]["owner"]
    assert principals["discord:6666"]["names_presented"] == "Chris"
    claims = run(ch, panel_sql("fleet-agent", "Claims vs. actions"), variables)
    assert [(c["claim"], c["subject"], c["failed_actions"]) for c in claims] == [
        ("completed", "file:MEMORY.md", 1)
    ]
    resources = run(ch, panel_sql("fleet-agent", "Resources acted on"), variables)
    assert resources[0]["target"] == "file:MEMORY.md" and resources[0]["bytes"] == 2048
    sent = {
        row["recipient"]: row["is_agent"]
        for row in run(ch, panel_sql("fleet-agent", "Messages it sent"), variables)
    }
    assert sent == {"flux": True, "a@b.org": False}


def test_alert_detail_shows_latest_version_and_evidence(ch: Client, scenario: Scenario) -> None:
    variables = variables_for(scenario)
    summary = run(ch, panel_sql("fleet-alert-detail", "Alert"), variables)
    assert [(row["version"], row["status"]) for row in summary] == [(2, "firing")]
    history = run(ch, panel_sql("fleet-alert-detail", "History"), variables)
    assert [row["version"] for row in history] == [2, 1]
    spans = run(ch, panel_sql("fleet-alert-detail", "Evidence spans"), variables)
    assert [(row["span_id"], row["cited"]) for row in spans] == [(scenario.evidence_span, True)]


def test_trace_view_frame_shape_and_no_content(ch: Client, scenario: Scenario) -> None:
    rows = run(ch, panel_sql("fleet-alert-detail", "Evidence trace"), variables_for(scenario))
    assert len(rows) == 1
    span = rows[0]
    assert span["traceID"] == scenario.evidence_trace and span["serviceName"] == "ash"
    assert span["startTime"] == ORIGIN_NS // 10**6 + 10_000  # milliseconds
    assert span["duration"] == pytest.approx(100.0)  # milliseconds
    keys = {tag["key"] for tag in span["tags"]}
    assert "fleet.message.recipients" in keys and "gen_ai.input.messages" not in keys


def test_alert_timeline_lists_open_before_resolved(ch: Client, scenario: Scenario) -> None:
    rows = run(ch, panel_sql("fleet-alerts", "Alerts"), variables_for(scenario, None))
    assert [(row["title"], row["status"], row["version"]) for row in rows] == [
        ("ash's message spread", "firing", 2),
        ("zed burned tokens", "resolved", 1),
    ]


def test_expand_rejects_unknown_macros_and_variables() -> None:
    with pytest.raises(AssertionError, match="unknown macro"):
        expand("SELECT $__timeGroup(Timestamp, 1m)", {})
    with pytest.raises(AssertionError, match="undefined variable"):
        expand("SELECT ${nope:sqlstring}", {})


def test_hostile_agent_ids_stay_data(ch: Client) -> None:
    """Agent ids are chosen by the agents; quotes and backslashes must not become SQL."""
    evil = "x\\' OR 1=1 --"
    fleet = SyntheticFleet(tenant="acme")
    fleet.chat(evil, 1, fleet.new_trace())
    fleet.chat("bystander", 2, fleet.new_trace())
    fleet.insert(ch)
    variables = {"tenant": key("acme"), "agent": key(evil)}
    rows = run(ch, panel_sql("fleet-agent", "Tokens and errors"), variables)
    assert sum(row["input"] for row in rows) == 100  # the evil agent's one chat, nobody else's
    choices = run(
        ch,
        next(q.sql for q in all_queries() if q.dashboard == "fleet-agent" and q.title == "variable agent"),
        variables,
    )
    assert {row["text"]: row["value"] for row in choices}[evil] == key(evil)
