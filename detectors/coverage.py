"""Say once when a detector cannot see what it needs, instead of silently finding nothing.

Every few minutes of event time, per tenant, count how many recent spans carry each attribute
the registered detectors read. A detector whose requirement no span satisfies (and no policy
section stands in for) is marked ``degraded`` in ``detector_status`` and gets one ``info`` row in
``alerts``; when the attributes appear, the status returns to ``ok`` and the info row resolves.

The count reads 15 minutes of spans' attribute maps (9 million spans at 10,000 spans/s: seconds
of ClickHouse time), so it runs with the full windows (detectors/sweep.py, on the sweep thread
when there is one), never inside the live tick.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from clickhouse_connect.driver.client import Client

from detectors.alerts import FIRING, RESOLVED, AlertRow
from detectors.base import SECOND_NS
from detectors.model import Requirement, Severity
from detectors.policy import Policy
from detectors.registry import DetectorRegistry

STATUS_COLUMNS = ("TenantId", "Detector", "Status", "Missing", "Message", "Version")
MIN_SPANS = 200
CHECK_EVERY_NS = 300 * SECOND_NS
LOOKBACK_NS = 900 * SECOND_NS


class CoverageMonitor:
    """Used by one thread at a time: loaded before the first sweep pass, checked by passes."""

    def __init__(self, registry: DetectorRegistry, policy: Policy) -> None:
        self._registry, self._policy = registry, policy
        self._status: dict[tuple[str, str], tuple[str, ...]] = {}
        self._last_check: dict[str, int] = {}

    def load(self, client: Client) -> None:
        rows = client.query(
            "SELECT TenantId, Detector, argMax(Missing, Version) FROM detector_status "
            "GROUP BY TenantId, Detector"
        ).result_rows
        self._status = {(r[0], r[1]): tuple(r[2]) for r in rows}

    def missing(self, tenant: str, detector: str) -> tuple[str, ...]:
        return self._status.get((tenant, detector), ())

    def check(self, client: Client, tenant: str, end_ns: int) -> list[AlertRow]:
        """The info rows to write (``client``: the calling thread's own)."""
        last = self._last_check.get(tenant)
        if last is not None and end_ns - last < CHECK_EVERY_NS:
            return []
        counts = self._counts(client, tenant, end_ns)
        if counts is None:
            return []
        self._last_check[tenant] = end_ns
        alerts: list[AlertRow] = []
        status_rows: list[list[Any]] = []
        for detector in self._registry:
            missing = tuple(r.attributes[0] for r in detector.requirements if not self._met(r, counts))
            previous = self._status.get((tenant, detector.name), ())
            if missing == previous:
                continue
            self._status[(tenant, detector.name)] = missing
            message = _message(detector.name, detector.requirements, missing)
            status = "degraded" if missing else "ok"
            status_rows.append([tenant, detector.name, status, list(missing), message, time.time_ns()])
            # Versions from the wall clock: the same missing set may come back after recovering.
            version = int(time.time()) * 2
            if previous:
                alerts.append(_info_row(tenant, detector.name, previous, version + 1, RESOLVED, "", end_ns))
            if missing:
                alerts.append(_info_row(tenant, detector.name, missing, version, FIRING, message, end_ns))
        if status_rows:
            client.insert("detector_status", status_rows, column_names=list(STATUS_COLUMNS))
        return alerts

    def _counts(self, client: Client, tenant: str, end_ns: int) -> dict[tuple[str, str], int] | None:
        wanted = sorted({(r.scope, a) for d in self._registry for r in d.requirements for a in r.attributes})
        params: dict[str, Any] = {"t": tenant, "s": end_ns - LOOKBACK_NS, "e": end_ns}
        parts = ["count()"]
        for i, (scope, attribute) in enumerate(wanted):
            column = "ResourceAttributes" if scope == "resource" else "SpanAttributes"
            parts.append(f"countIf(mapContains({column}, {{a{i}:String}}))")
            params[f"a{i}"] = attribute
        row = client.query(
            f"SELECT {', '.join(parts)} FROM otel_traces WHERE TenantId = {{t:String}} "
            "AND Timestamp >= fromUnixTimestamp64Nano({s:Int64}) "
            "AND Timestamp < fromUnixTimestamp64Nano({e:Int64})",
            parameters=params,
        ).result_rows[0]
        if int(row[0]) < MIN_SPANS:
            return None
        return {key: int(count) for key, count in zip(wanted, row[1:], strict=True)}

    def _met(self, requirement: Requirement, counts: dict[tuple[str, str], int]) -> bool:
        if requirement.policy_key and getattr(self._policy, requirement.policy_key, None):
            return True
        return any(counts.get((requirement.scope, a), 0) > 0 for a in requirement.attributes)


def _message(detector: str, requirements: tuple[Requirement, ...], missing: tuple[str, ...]) -> str:
    if not missing:
        return f"{detector}: every attribute it reads is present"
    needs = [r for r in requirements if r.attributes[0] in missing]
    details = "; ".join(f"{' or '.join(r.attributes)} ({r.purpose})" for r in needs)
    return f"{detector} cannot see what it needs, so it may miss incidents: no recent span carries {details}"


def _info_row(
    tenant: str, detector: str, missing: tuple[str, ...], version: int, status: str,
    message: str, end_ns: int,
) -> AlertRow:
    digest = hashlib.sha256(f"{tenant}\x1f{detector}\x1fcoverage\x1f{','.join(missing)}".encode())
    title = f"{detector}: missing attributes {', '.join(missing)}"
    return AlertRow(
        digest.hexdigest()[:32], version, detector, Severity.INFO.value, status, tenant, (), (),
        end_ns - LOOKBACK_NS, end_ns, end_ns, 0.0, title, message or title, (), (),
        {"kind": "coverage"},
    )
