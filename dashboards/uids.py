"""Dashboard uids, fixed so links, annotations and re-syncs always find the same dashboards."""

from __future__ import annotations

OVERVIEW = "fleet-overview"
NETWORK = "fleet-network"
ALERTS = "fleet-alerts"
ALERT_DETAIL = "fleet-alert-detail"
AGENT = "fleet-agent"
PROPAGATION = "fleet-propagation"

# Every fleetwatch annotation carries this tag; every dashboard draws annotations with it.
ANNOTATION_TAG = "fleetwatch"
