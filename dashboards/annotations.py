"""Push alerts to Grafana as annotations: one per alert, updated as new versions arrive.

Idempotent twice over: the ``grafana_annotations`` ledger records each pushed version, and an
alert the ledger does not know is first looked up in Grafana by its ``alert:<id>`` tag, so a
crash between pushing and recording never creates a duplicate.
"""

from __future__ import annotations

import logging

from clickhouse_connect.driver.client import Client
from grafana_client.client import GrafanaClientError

from dashboards import annotation_ledger as ledger
from dashboards.annotation_content import Annotation, alert_tag, annotation_for
from dashboards.grafana_api import Grafana, public_url
from dashboards.uids import ANNOTATION_TAG
from fleetwatch.config import Settings

log = logging.getLogger(__name__)
# Refused for this alert's content (not for who we are or how Grafana is doing): skip the version.
_REFUSED = {400, 413, 422}
REFUSED_ID = 0


def annotations_enabled(settings: Settings) -> bool:
    return settings.grafana_url is not None


class AnnotationPublisher:
    """A service worker: ``run_once()`` pushes pending alert versions and returns how many."""

    def __init__(self, settings: Settings, client: Client, grafana: Grafana | None = None) -> None:
        if settings.grafana_url is None:
            raise ValueError("AnnotationPublisher needs FLEETWATCH_GRAFANA_URL")
        self._client = client
        self._grafana = grafana or Grafana.from_settings(settings)
        self._target = public_url(settings.grafana_url)
        self._batch = settings.grafana_annotation_batch

    def run_once(self) -> int:
        """Push one batch. Grafana being down or refusing us raises, after recording progress."""
        return self._push_batch()[1]

    def drain(self) -> int:
        """Push batches until nothing is pending (for the one-shot CLI)."""
        total = 0
        while True:
            seen, pushed = self._push_batch()
            total += pushed
            if seen < self._batch:
                return total

    def _push_batch(self) -> tuple[int, int]:
        pending = ledger.pending(self._client, self._target, self._batch)
        pushed = 0
        for alert in pending:
            annotation_id = self._push(alert)
            ledger.record(self._client, self._target, alert, annotation_id)
            pushed += annotation_id != REFUSED_ID
        return len(pending), pushed

    def _push(self, alert: ledger.AlertVersion) -> int:
        annotation = annotation_for(alert)
        existing = alert.annotation_id or self._find(alert.alert_id)
        try:
            if existing and self._update(existing, annotation):
                return existing
            return self._create(annotation)
        except GrafanaClientError as error:
            if error.status_code not in _REFUSED:
                raise
            log.warning(
                "Grafana refused the annotation for alert %s version %s (%s); skipping it",
                alert.alert_id,
                alert.version,
                error.status_code,
            )
            return REFUSED_ID

    def _find(self, alert_id: str) -> int:
        found = self._grafana.annotation_ids([ANNOTATION_TAG, alert_tag(alert_id)], limit=1)
        return found[0] if found else 0

    def _update(self, annotation_id: int, annotation: Annotation) -> bool:
        return self._grafana.update_annotation(
            annotation_id, annotation.time_ms, annotation.time_end_ms, annotation.tags, annotation.text
        )

    def _create(self, annotation: Annotation) -> int:
        return self._grafana.create_annotation(
            annotation.time_ms, annotation.time_end_ms, annotation.tags, annotation.text
        )
