"""The generated dashboards and provisioning files: committed copies current, models coherent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from dashboards import build, catalog, uids
from dashboards.query import DATASOURCE_UID, PLUGIN_ID

MODELS = catalog.dashboard_models()
BY_UID = {model["uid"]: model for model in MODELS}


def _targets(model: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(panel, target) for panel in model["panels"] for target in panel.get("targets", [])]


def test_committed_files_are_current() -> None:
    stale = build.stale_files()
    assert not stale, f"regenerate with `fleetwatch dashboards build`: {stale}"


def test_build_writes_then_reports_nothing_stale_and_flags_leftovers(tmp_path: Path) -> None:
    written = build.write_files(tmp_path)
    assert len(written) == len(MODELS) + 2
    assert build.stale_files(tmp_path) == []
    leftover = tmp_path / "generated" / "removed-dashboard.json"
    leftover.write_text("{}")
    edited = tmp_path / "generated" / f"{uids.OVERVIEW}.json"
    edited.write_text(edited.read_text().replace("Fleet overview", "Edited by hand"))
    assert build.stale_files(tmp_path) == sorted([edited, leftover])
    build.write_files(tmp_path)
    assert not leftover.exists() and build.stale_files(tmp_path) == []


def test_check_mode_exit_codes(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(build, "PACKAGE_DIR", tmp_path)
    monkeypatch.setattr(build, "stale_files", lambda: [tmp_path / "x.json"])
    assert build.run(check=True) == 1
    monkeypatch.setattr(build, "stale_files", lambda: [])
    assert build.run(check=True) == 0


def test_operator_dashboards_exist_with_valid_uids() -> None:
    expected = {uids.OVERVIEW, uids.NETWORK, uids.ALERTS, uids.ALERT_DETAIL, uids.AGENT, uids.PROPAGATION}
    assert set(BY_UID) == expected
    for uid in BY_UID:
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid)


def test_every_query_targets_the_clickhouse_datasource() -> None:
    for model in MODELS:
        assert _targets(model), model["uid"]
        for panel, target in _targets(model):
            assert panel["datasource"] == {"type": PLUGIN_ID, "uid": DATASOURCE_UID}
            assert target["datasource"] == panel["datasource"]
            assert target["editorType"] == "sql" and target["rawSql"].strip()
            assert (target["queryType"], target["format"]) in {("table", 1), ("timeseries", 0), ("traces", 3)}
        for variable in model["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_panel_kinds() -> None:
    network = BY_UID[uids.NETWORK]["panels"][0]
    assert network["type"] == "nodeGraph"
    assert [t["refId"] for t in network["targets"]] == ["nodes", "edges"]
    traces = [p for p in BY_UID[uids.ALERT_DETAIL]["panels"] if p["type"] == "traces"]
    assert len(traces) == 1 and traces[0]["targets"][0]["format"] == 3
    agent_vars = {v["name"]: v for v in BY_UID[uids.AGENT]["templating"]["list"]}
    assert not agent_vars["agent"]["includeAll"]  # the drill-down is about exactly one agent


def test_queries_only_use_variables_their_dashboard_defines() -> None:
    for model in MODELS:
        defined = {variable["name"] for variable in model["templating"]["list"]}
        for _, target in _targets(model):
            used = set(re.findall(r"\$\{(\w+)", target["rawSql"]))
            assert used <= defined, (model["uid"], used - defined)


def test_data_links_point_at_real_dashboards_and_variables() -> None:
    links = 0
    for model in MODELS:
        for panel in model["panels"]:
            for link in panel["fieldConfig"]["defaults"].get("links", []):
                match = re.match(r"/d/([\w-]+)\?var-(\w+)=\$\{__data\.fields\.(\w+)\}", link["url"])
                assert match, link["url"]
                target, variable, field = match.groups()
                assert variable in {v["name"] for v in BY_UID[target]["templating"]["list"]}
                assert f" AS {field}" in panel["targets"][0]["rawSql"]
                hidden = [o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]]
                assert field in hidden  # the hex key column is for the link, not for people
                links += 1
    assert links >= 5


def test_every_dashboard_overlays_fleetwatch_annotations() -> None:
    for model in MODELS:
        tags = [a["target"]["tags"] for a in model["annotations"]["list"]]
        assert ["fleetwatch"] in tags


def test_provisioning_files_match_the_dashboards() -> None:
    root = build.PACKAGE_DIR / "provisioning"
    datasources = yaml.safe_load((root / "datasources" / "fleetwatch.yaml").read_text())
    source = datasources["datasources"][0]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, PLUGIN_ID)
    assert source["jsonData"]["traces"]["otelEnabled"] is True
    assert source["jsonData"]["traces"]["defaultTable"] == "otel_traces"
    providers = yaml.safe_load((root / "dashboards" / "fleetwatch.yaml").read_text())
    assert providers["providers"][0]["options"]["path"].endswith("/fleetwatch")
