"""Every dashboard fleetwatch ships, registered explicitly, rendered to Grafana JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import agent, alert_detail, alerts, network, overview, propagation

BUILDERS: tuple[Callable[[], Dashboard], ...] = (
    overview.build,
    network.build,
    alerts.build,
    alert_detail.build,
    agent.build,
    propagation.build,
)


def dashboard_models() -> list[dict[str, Any]]:
    """Each dashboard as the JSON model Grafana stores (no id: Grafana assigns it)."""
    models = []
    for build in BUILDERS:
        model: dict[str, Any] = json.loads(json.dumps(build().build(), cls=JSONEncoder))
        for panel in model["panels"]:
            # The SDK writes null for panels with no typed options; Grafana expects an object.
            if panel.get("options") is None:
                panel["options"] = {}
        models.append(model)
    _check_unique_uids(models)
    return models


def render(model: dict[str, Any]) -> str:
    """Stable text for a committed file: sorted keys, fixed indentation, final newline."""
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _check_unique_uids(models: list[dict[str, Any]]) -> None:
    uids = [model["uid"] for model in models]
    if len(uids) != len(set(uids)):
        raise RuntimeError(f"duplicate dashboard uids: {uids}")
