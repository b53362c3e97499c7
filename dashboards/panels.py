"""Panel and variable builders with fleetwatch's defaults: one datasource, raw ClickHouse SQL."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, nodegraph, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.common import GraphDrawStyle, StackingMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    DynamicConfigValue,
    VariableRefresh,
    VariableSort,
)

from dashboards.query import SqlQuery, datasource_ref
from dashboards.sql import ALL_VALUE
from dashboards.uids import ANNOTATION_TAG


def time_series(title: str, sql: str, *, unit: str = "short", bars: bool = False) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(datasource_ref())
        .with_target(SqlQuery(sql).time_series())
        .unit(unit)
        .height(8)
        .span(12)
    )
    if bars:
        panel.draw_style(GraphDrawStyle.BARS).fill_opacity(60).stacking(
            common.StackingConfig().mode(StackingMode.NORMAL)
        )
    return panel


def table_panel(title: str, sql: str, *, width: int = 24, height: int = 8) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .datasource(datasource_ref())
        .with_target(SqlQuery(sql).table())
        .height(height)
        .span(width)
    )


def stat_panel(title: str, sql: str, *, unit: str = "short") -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(datasource_ref())
        .with_target(SqlQuery(sql).table())
        .unit(unit)
        .height(4)
        .span(4)
    )


def node_graph(title: str, nodes_sql: str, edges_sql: str) -> nodegraph.Panel:
    # The Node Graph panel recognises frames by refId "nodes" / "edges" when, as here, the
    # datasource does not name its frames.
    return (
        nodegraph.Panel()
        .title(title)
        .datasource(datasource_ref())
        .with_target(SqlQuery(nodes_sql, ref_id="nodes").table())
        .with_target(SqlQuery(edges_sql, ref_id="edges").table())
        .nodes(nodegraph.NodeOptions().main_stat_unit("short").secondary_stat_unit("short"))
        .edges(nodegraph.EdgeOptions().main_stat_unit("short"))
        .height(18)
        .span(24)
    )


def trace_view(title: str, sql: str) -> dash.Panel:
    return (
        dash.Panel()
        .type("traces")
        .title(title)
        .datasource(datasource_ref())
        .with_target(SqlQuery(sql).trace())
        .height(14)
        .span(24)
    )


def link(title: str, url: str) -> dash.DashboardLink:
    return dash.DashboardLink(title).type(DashboardLinkType.LINK).url(url)


def drill_down(
    title: str, dashboard_uid: str, variable: str, field: str, *, keep: tuple[str, ...] = ()
) -> dash.DashboardLink:
    """A data link opening ``dashboard_uid`` with ``variable`` set from a result column.

    The tenant, the time range and the variables named in ``keep`` carry over.
    """
    carried = "".join(f"&${{{name}:queryparam}}" for name in ("tenant", *keep))
    url = f"/d/{dashboard_uid}?var-{variable}=${{__data.fields.{field}}}{carried}"
    return link(title, url + "&${__url_time_range}")


def hide_columns(panel: table.Panel, *names: str) -> table.Panel:
    """Hide helper columns (the hex keys data links use) from a table."""
    for name in names:
        panel.override_by_name(name, [DynamicConfigValue(id_val="custom.hidden", value=True)])
    return panel


def key_variable(name: str, label: str, sql: str, *, include_all: bool) -> dash.QueryVariable:
    """A variable whose value is hex(real value) and whose text is the real value."""
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(datasource_ref())
        .query(sql.strip())
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if include_all:
        variable.include_all(True).all_value(ALL_VALUE)
    return variable


def fleet_dashboard(uid: str, title: str, description: str) -> dash.Dashboard:
    """A dashboard with fleetwatch's tags, links, time defaults and alert annotations."""
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["fleetwatch"])
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .editable()
        .link(
            dash.DashboardLink("fleetwatch")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["fleetwatch"])
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
        )
        .annotation(
            dash.AnnotationQuery()
            .name("fleetwatch alerts")
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .icon_color("red")
            .target(dash.AnnotationTarget().type("tags").tags([ANNOTATION_TAG]).limit(500))
        )
    )
