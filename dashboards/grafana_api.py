"""The few Grafana HTTP API calls fleetwatch makes, through grafana-client's ``GrafanaApi``.

grafana-client has no type hints; this facade gives its calls types and turns "not found"
into ``None`` / ``False``. Every other error (4xx, 5xx, connection) propagates as grafana-client's
``GrafanaException`` subclasses.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError

from fleetwatch.config import Settings

TIMEOUT_SECONDS = 10.0


class Grafana:
    def __init__(self, api: GrafanaApi) -> None:
        self._api: Any = api  # untyped library: calls go through Any, results are typed here

    @classmethod
    def from_settings(cls, settings: Settings) -> Grafana:
        """Token auth when a token is set, else basic auth from ``user:password@`` in the URL."""
        if settings.grafana_url is None:
            raise ValueError("no Grafana configured: set FLEETWATCH_GRAFANA_URL")
        token = settings.grafana_token.get_secret_value()
        api = GrafanaApi.from_url(settings.grafana_url, credential=token or None, timeout=TIMEOUT_SECONDS)
        return cls(api)

    def folder(self, uid: str) -> dict[str, Any] | None:
        return _unless_missing(lambda: self._api.folder.get_folder(uid))

    def create_folder(self, title: str, uid: str) -> None:
        self._api.folder.create_folder(title, uid=uid)

    def rename_folder(self, uid: str, title: str, version: int | None) -> None:
        self._api.folder.update_folder(uid, title=title, version=version, overwrite=True)

    def datasource(self, uid: str) -> dict[str, Any] | None:
        return _unless_missing(lambda: self._api.datasource.get_datasource_by_uid(uid))

    def create_datasource(self, body: dict[str, Any]) -> None:
        self._api.datasource.create_datasource(body)

    def update_datasource(self, uid: str, body: dict[str, Any]) -> None:
        self._api.datasource.update_datasource_by_uid(uid, body)

    def dashboard(self, uid: str) -> dict[str, Any] | None:
        return _unless_missing(lambda: self._api.dashboard.get_dashboard(uid))

    def save_dashboard(self, model: dict[str, Any], folder_uid: str, message: str) -> None:
        body = {
            "dashboard": {**model, "id": None},
            "folderUid": folder_uid,
            "overwrite": True,
            "message": message,
        }
        self._api.dashboard.update_dashboard(body)

    def annotation_ids(self, tags: list[str], limit: int) -> list[int]:
        found = self._api.annotations.find_annotations(tags=tags, ann_type="annotation", limit=limit)
        return [int(item["id"]) for item in found]

    def create_annotation(self, time_ms: int, time_end_ms: int, tags: list[str], text: str) -> int:
        # No dashboard: an organisation-wide annotation, drawn by every dashboard's tag query.
        reply = self._api.annotations.add_annotation(
            time_from=time_ms, time_to=time_end_ms, tags=tags, text=text
        )
        return int(reply["id"])

    def update_annotation(
        self, annotation_id: int, time_ms: int, time_end_ms: int, tags: list[str], text: str
    ) -> bool:
        """False when the annotation no longer exists (deleted in Grafana)."""
        updated = _unless_missing(
            lambda: self._api.annotations.update_annotation(
                annotation_id, time_from=time_ms, time_to=time_end_ms, tags=tags, text=text
            )
        )
        return updated is not None


def public_url(url: str) -> str:
    """The URL without credentials, safe to log and to key state by."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


def folder_uid(title: str) -> str:
    """A stable Grafana uid (at most 40 of [a-zA-Z0-9_-]) derived from the folder title."""
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", title.strip().lower()).strip("-")
    return (slug or "fleetwatch")[:40]


def _unless_missing(call: Any) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = call()
    except GrafanaClientError as error:
        if error.status_code == 404:
            return None
        raise
    return found
