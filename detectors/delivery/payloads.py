"""Request bodies: fleetwatch's own JSON, or the Alertmanager/Grafana webhook shape.

A body is built once, when a message is enqueued, and stored with it, so every retry sends the
same bytes under the same webhook-id. Keys are sorted so the same alert version always
serialises identically.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from detectors.delivery.alerts_feed import AlertVersion
from detectors.delivery.subscriptions import Subscription

# Alertmanager's encoding of "no end time yet" for a firing alert.
_ZERO_TIME = "0001-01-01T00:00:00Z"
_MAX_EVIDENCE_IN_ANNOTATION = 20


def render_body(subscription: Subscription, alert: AlertVersion) -> bytes:
    if subscription.payload_format == "alertmanager":
        document = alertmanager_payload(subscription, alert)
    else:
        document = fleetwatch_payload(alert)
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fleetwatch_payload(alert: AlertVersion) -> dict[str, object]:
    """Standard Webhooks' recommended envelope: ``type``, ``timestamp``, ``data``."""
    return {
        "type": f"alert.{alert.status}",
        "timestamp": rfc3339(alert.updated_at),
        "data": {
            "alert_id": alert.alert_id,
            "version": alert.version,
            "detector": alert.detector,
            "severity": alert.severity,
            "status": alert.status,
            "tenant_id": alert.tenant_id,
            "agents": list(alert.agents),
            "principals": list(alert.principals),
            "window_start": rfc3339(alert.window_start),
            "window_end": rfc3339(alert.window_end),
            "first_seen": rfc3339(alert.first_seen),
            "updated_at": rfc3339(alert.updated_at),
            "score": alert.score,
            "title": alert.title,
            "explanation": alert.explanation,
            "evidence": {
                "trace_ids": list(alert.evidence_trace_ids),
                "span_ids": list(alert.evidence_span_ids),
            },
            "labels": dict(alert.labels),
        },
    }


def alert_fingerprint(alert: AlertVersion) -> str:
    """Stable per incident (not per version), 16 hex digits like Alertmanager's."""
    return hashlib.sha256(f"{alert.tenant_id}\x00{alert.alert_id}".encode()).hexdigest()[:16]


def _labels(alert: AlertVersion) -> dict[str, str]:
    # The detector's own labels first, so the identifying ones below cannot be overridden.
    labels = {str(k): str(v) for k, v in alert.labels.items()}
    labels.update(
        alertname=alert.detector,
        detector=alert.detector,
        severity=alert.severity,
        tenant=alert.tenant_id,
        alert_id=alert.alert_id,
    )
    if alert.agents:
        labels["agents"] = ",".join(alert.agents)
    return labels


def _annotations(alert: AlertVersion) -> dict[str, str]:
    annotations = {
        "summary": alert.title,
        "description": alert.explanation,
        "score": f"{alert.score:g}",
        "alert_version": str(alert.version),
    }
    if alert.evidence_trace_ids:
        shown = alert.evidence_trace_ids[:_MAX_EVIDENCE_IN_ANNOTATION]
        annotations["evidence_trace_ids"] = ",".join(shown)
    return annotations


def alertmanager_payload(subscription: Subscription, alert: AlertVersion) -> dict[str, object]:
    """One alert per message, in the grouped shape Alertmanager and Grafana send (version 4)."""
    labels = _labels(alert)
    annotations = _annotations(alert)
    group_labels = {"alertname": labels["alertname"], "alert_id": alert.alert_id}
    resolved = alert.status == "resolved"
    entry = {
        "status": alert.status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(alert.first_seen),
        "endsAt": rfc3339(alert.updated_at) if resolved else _ZERO_TIME,
        "generatorURL": "",
        "fingerprint": alert_fingerprint(alert),
    }
    matchers = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(group_labels.items()))
    group_key = "{}:{" + matchers + "}"
    return {
        "receiver": subscription.name,
        "status": alert.status,
        "alerts": [entry],
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
    }
