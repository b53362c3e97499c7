"""Alerts pushed as Grafana annotations by ``AnnotationPublisher``: real alerts in real chDB,
pushed to FakeGrafana (tests/test_grafana_fake.py), since no Grafana server can run here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from clickhouse_connect.driver.client import Client
from grafana_client.client import GrafanaServerError
from pydantic import SecretStr

from dashboards.annotation_content import alert_tag
from dashboards.annotations import AnnotationPublisher, annotations_enabled
from detectors.alerts import AlertRow, write_alerts
from detectors.testing import ORIGIN_NS
from fleetwatch.config import Settings
from tests.test_grafana_fake import TOKEN, FakeGrafana


@pytest.fixture
def fake() -> Iterator[FakeGrafana]:
    server = FakeGrafana().start()
    yield server
    server.stop()


def publisher(settings: Settings, ch: Client, fake: FakeGrafana, **extra: object) -> AnnotationPublisher:
    configured = settings.model_copy(
        update={"grafana_url": fake.url, "grafana_token": SecretStr(TOKEN), **extra}
    )
    return AnnotationPublisher(configured, ch)


def alert(
    alert_id: str,
    version: int,
    *,
    status: str = "firing",
    title: str = "ash spreads a rumour",
    agents: tuple[str, ...] = ("ash", "flux"),
    traces: tuple[str, ...] = ("ab" * 16,),
) -> AlertRow:
    return AlertRow(
        alert_id=alert_id,
        version=version,
        detector="propagation",
        severity="high",
        status=status,
        tenant="acme",
        agents=agents,
        principals=(),
        window_start_ns=ORIGIN_NS,
        window_end_ns=ORIGIN_NS + 120 * 10**9,
        first_seen_ns=ORIGIN_NS + 10 * 10**9,
        score=0.8,
        title=title,
        explanation="relayed to 2 agents in 30 s",
        trace_ids=traces,
        span_ids=("cd" * 8,),
    )


def by_alert(fake: FakeGrafana, alert_id: str) -> dict[str, Any]:
    matches = [a for a in fake.annotations.values() if alert_tag(alert_id) in a["tags"]]
    assert len(matches) == 1, matches
    return matches[0]


def test_pushes_each_alert_once_with_tags_times_and_links(
    settings: Settings, ch: Client, fake: FakeGrafana
) -> None:
    write_alerts(ch, [alert("A1", 1), alert("B2", 1, agents=("doug",))])
    write_alerts(ch, [alert("A1", 2)])
    worker = publisher(settings, ch, fake)
    assert worker.run_once() == 2
    note = by_alert(fake, "A1")
    assert note["time"] == ORIGIN_NS // 10**6 + 10_000 and note["timeEnd"] == ORIGIN_NS // 10**6 + 120_000
    assert set(note["tags"]) == {
        "fleetwatch",
        "alert:A1",
        "detector:propagation",
        "severity:high",
        "status:firing",
        "tenant:acme",
        "agent:ash",
        "agent:flux",
    }
    text = str(note["text"])
    assert "version 2" in text and "ash spreads a rumour" in text
    links = [urlsplit(href) for href in _hrefs(text)]
    assert [link.path for link in links] == ["d/fleet-alert-detail", "d/fleet-alert-detail"]
    evidence = parse_qs(links[1].query)
    assert evidence["var-alert"] == [b"A1".hex().upper()]
    assert bytes.fromhex(evidence["var-trace"][0]).decode() == "ab" * 16
    writes = len(fake.writes())
    assert worker.run_once() == 0
    assert len(fake.writes()) == writes


def test_new_version_updates_the_same_annotation(settings: Settings, ch: Client, fake: FakeGrafana) -> None:
    write_alerts(ch, [alert("A1", 1)])
    worker = publisher(settings, ch, fake)
    worker.run_once()
    write_alerts(ch, [alert("A1", 2, status="resolved")])
    fake.requests.clear()
    assert worker.run_once() == 1
    assert len(fake.annotations) == 1
    assert "status:resolved" in by_alert(fake, "A1")["tags"]
    assert fake.writes() == [("PUT", f"/api/annotations/{next(iter(fake.annotations))}")]


def test_lost_ledger_adopts_the_existing_annotation(
    settings: Settings, ch: Client, fake: FakeGrafana
) -> None:
    write_alerts(ch, [alert("A1", 1), alert("B2", 1)])
    worker = publisher(settings, ch, fake)
    worker.run_once()
    ch.command("TRUNCATE TABLE grafana_annotations")  # as if we crashed before recording
    assert worker.run_once() == 2
    assert len(fake.annotations) == 2
    assert not [w for w in fake.writes()[2:] if w[0] == "POST"]


def test_annotation_deleted_in_grafana_is_recreated(
    settings: Settings, ch: Client, fake: FakeGrafana
) -> None:
    write_alerts(ch, [alert("A1", 1)])
    worker = publisher(settings, ch, fake)
    worker.run_once()
    fake.annotations.clear()
    write_alerts(ch, [alert("A1", 2)])
    assert worker.run_once() == 1
    assert "version 2" in str(by_alert(fake, "A1")["text"])


def test_outage_raises_records_nothing_then_catches_up(
    settings: Settings, ch: Client, fake: FakeGrafana
) -> None:
    write_alerts(ch, [alert("A1", 1), alert("B2", 1)])
    worker = publisher(settings, ch, fake)
    fake.outage = True
    with pytest.raises(GrafanaServerError):
        worker.run_once()
    assert ch.query("SELECT count() FROM grafana_annotations").result_rows == [(0,)]
    fake.outage = False
    assert worker.run_once() == 2


def test_refused_version_is_skipped_not_retried_forever(
    settings: Settings, ch: Client, fake: FakeGrafana
) -> None:
    write_alerts(ch, [alert("A1", 1)])
    worker = publisher(settings, ch, fake)
    fake.refuse_next_annotation = True  # Grafana answers 400 for this one
    assert worker.run_once() == 0
    assert worker.run_once() == 0 and fake.annotations == {}
    write_alerts(ch, [alert("A1", 2)])
    assert worker.run_once() == 1


def test_alert_content_is_escaped(settings: Settings, ch: Client, fake: FakeGrafana) -> None:
    write_alerts(ch, [alert("A1", 1, title="<img src=x onerror=alert(1)>", agents=("<b>ash</b>",))])
    publisher(settings, ch, fake).run_once()
    text = str(by_alert(fake, "A1")["text"])
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "&lt;b&gt;ash&lt;/b&gt;" in text


def test_unsafe_alert_ids_get_a_hashed_tag(settings: Settings, ch: Client, fake: FakeGrafana) -> None:
    odd = "loop:ash|flux&x=1 #frag"
    write_alerts(ch, [alert(odd, 1)])
    worker = publisher(settings, ch, fake)
    worker.run_once()
    assert alert_tag(odd).startswith("alert:sha256-")
    ch.command("TRUNCATE TABLE grafana_annotations")
    worker.run_once()  # found again by its tag
    assert len(fake.annotations) == 1


def test_batches_and_drain(settings: Settings, ch: Client, fake: FakeGrafana) -> None:
    write_alerts(ch, [alert(f"A{i}", 1) for i in range(5)])
    worker = publisher(settings, ch, fake, grafana_annotation_batch=2)
    assert worker.run_once() == 2
    assert worker.drain() == 3
    assert len(fake.annotations) == 5


def test_each_grafana_gets_its_own_copy(settings: Settings, ch: Client, fake: FakeGrafana) -> None:
    write_alerts(ch, [alert("A1", 1)])
    publisher(settings, ch, fake).run_once()
    other = FakeGrafana().start()
    try:
        assert publisher(settings, ch, other).run_once() == 1
    finally:
        other.stop()


def test_enabled_only_with_a_grafana_url(settings: Settings, ch: Client) -> None:
    assert not annotations_enabled(settings)
    assert annotations_enabled(settings.model_copy(update={"grafana_url": "http://grafana:3000"}))
    with pytest.raises(ValueError, match="FLEETWATCH_GRAFANA_URL"):
        AnnotationPublisher(settings, ch)


def _hrefs(text: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', text.replace("&amp;", "&"))
