"""Create or update fleetwatch's folder, ClickHouse datasource and dashboards in Grafana.

Each object is read first and written only when it differs from what fleetwatch would write,
so a second sync writes nothing; writes update in place (same uids, same datasource id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboards import catalog, datasource
from dashboards.grafana_api import Grafana, folder_uid
from dashboards.query import DATASOURCE_UID
from fleetwatch.config import Settings

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
# Keys Grafana adds to a stored dashboard; everything else must equal what fleetwatch sends.
_SERVER_KEYS = ("id", "version")


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    action: str


class GrafanaSync:
    def __init__(self, settings: Settings, grafana: Grafana, *, rotate_secrets: bool = False) -> None:
        self._settings = settings
        self._grafana = grafana
        self._folder_uid = folder_uid(settings.grafana_folder)
        self._rotate_secrets = rotate_secrets
        # Built first: a datasource Grafana could not use fails the sync before any write.
        self._datasource_body = datasource.api_body(settings)

    def run(self) -> list[Change]:
        return [self.folder(), self.datasource(), *self.dashboards()]

    def folder(self) -> Change:
        title = self._settings.grafana_folder
        existing = self._grafana.folder(self._folder_uid)
        if existing is None:
            self._grafana.create_folder(title, self._folder_uid)
            return Change("folder", title, CREATED)
        if existing.get("title") == title:
            return Change("folder", title, UNCHANGED)
        self._grafana.rename_folder(self._folder_uid, title, existing.get("version"))
        return Change("folder", title, UPDATED)

    def datasource(self) -> Change:
        body = self._datasource_body
        name = str(body["name"])
        existing = self._grafana.datasource(DATASOURCE_UID)
        if existing is None:
            self._grafana.create_datasource(body)
            return Change("datasource", name, CREATED)
        if _datasource_matches(existing, body) and not self._rotate_secrets:
            return Change("datasource", name, UNCHANGED)
        self._grafana.update_datasource(DATASOURCE_UID, body)
        return Change("datasource", name, UPDATED)

    def dashboards(self) -> list[Change]:
        return [self._dashboard(model) for model in catalog.dashboard_models()]

    def _dashboard(self, model: dict[str, Any]) -> Change:
        uid = model["uid"]
        existing = self._grafana.dashboard(uid)
        if existing is not None and self._dashboard_matches(existing, model):
            return Change("dashboard", model["title"], UNCHANGED)
        self._grafana.save_dashboard(model, self._folder_uid, "fleetwatch grafana sync")
        return Change("dashboard", model["title"], CREATED if existing is None else UPDATED)

    def _dashboard_matches(self, existing: dict[str, Any], model: dict[str, Any]) -> bool:
        stored = {k: v for k, v in existing.get("dashboard", {}).items() if k not in _SERVER_KEYS}
        return stored == model and existing.get("meta", {}).get("folderUid") == self._folder_uid


def _datasource_matches(existing: dict[str, Any], body: dict[str, Any]) -> bool:
    plain = ("name", "type", "access", "isDefault")
    if any(existing.get(key) != body[key] for key in plain):
        return False
    if not _contains(existing.get("jsonData", {}), body["jsonData"]):
        return False
    # Grafana never returns secrets, only which ones it holds.
    wanted = set(body.get("secureJsonData", {}))
    return wanted <= {k for k, held in existing.get("secureJsonFields", {}).items() if held}


def _contains(actual: Any, wanted: Any) -> bool:
    """``wanted`` is a sub-tree of ``actual`` (Grafana or the plugin may add keys of their own)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(_contains(actual.get(k), v) for k, v in wanted.items())
    return bool(actual == wanted)
