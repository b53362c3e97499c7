"""The incident tracker: one alert per incident, also when a resolved incident is found again."""

from __future__ import annotations

from detectors.alerts import FIRING, RESOLVED
from detectors.incidents import IncidentTracker
from detectors.model import Candidate, Evidence, Finding, Severity, Window

S = 1_000_000_000


def finding(end_s: int, *spans: str, window_s: int = 60) -> Finding:
    candidate = Candidate("burst:ash", 5.0, "errors", "ash failed", agents=("ash",),
                          evidence=tuple(Evidence("t1", span) for span in spans))
    return Finding("error_burst", Window("default", (end_s - window_s) * S, end_s * S), candidate,
                   Severity.WARNING)


def resolved_after(tracker: IncidentTracker, *findings: Finding) -> None:
    rows = [tracker.apply(f) for f in findings]
    assert [r.status for r in rows if r is not None][:1] == [FIRING]
    [row] = tracker.resolve_stale("default", "error_burst", 1000 * S, 60 * S)
    assert row.status == RESOLVED


def test_a_window_reevaluated_after_resolution_alerts_nothing() -> None:
    tracker = IncidentTracker(update_interval_ns=60 * S)
    resolved_after(tracker, finding(330, "s1", "s2"), finding(360, "s1", "s2"))
    # Late spans nearby make the sweep judge the window ending at 330 again.
    assert tracker.apply(finding(330, "s1", "s2")) is None
    assert not tracker.open


def test_a_live_refind_with_no_new_evidence_alerts_nothing() -> None:
    tracker = IncidentTracker(update_interval_ns=60 * S)
    resolved_after(tracker, finding(360, "s1", "s2"))
    assert tracker.apply(finding(900, "s2")) is None


def test_a_recurrence_with_evidence_of_its_own_is_a_new_incident() -> None:
    tracker = IncidentTracker(update_interval_ns=60 * S)
    resolved_after(tracker, finding(360, "s1", "s2"))
    again = tracker.apply(finding(1500, "s9"))
    assert again is not None and again.status == FIRING and again.version == 1


def test_a_recurrence_without_evidence_still_alerts() -> None:
    tracker = IncidentTracker(update_interval_ns=60 * S)
    resolved_after(tracker, finding(360))
    again = tracker.apply(finding(1500))
    assert again is not None and again.status == FIRING
